/* Global-norm gradient clipping (torch.nn.utils.clip_grad_norm_, norm 2). */
#include <math.h>

#include "optim/optim_internal.h"
#include "tensor/pt_elementwise.h"

/* Elements per partial sum: sums are taken per fixed chunk and added in
 * order, so the norm is the same for any thread count. */
#define CLIP_CHUNK 16384

/* Σ x² of a contiguous run in double, deterministic. */
static double sum_squares(const pt_tensor *g) {
  int64_t n = pt_numel(g);
  int64_t nchunks = (n + CLIP_CHUNK - 1) / CLIP_CHUNK;
  double total = 0;
  const bool f32 = g->dtype == PT_F32;
  const void *data = pt_data(g);
  double partial_buf[64];
  double *partial = nchunks <= 64 ? partial_buf : pt_alloc(sizeof(double) * (size_t)nchunks);
  if (!partial) return NAN;
#pragma omp parallel for schedule(static) if (n >= PT_OPTIM_PAR_MIN)
  for (int64_t c = 0; c < nchunks; c++) {
    int64_t lo = c * CLIP_CHUNK, hi = lo + CLIP_CHUNK < n ? lo + CLIP_CHUNK : n;
    double s = 0;
    if (f32) {
      const float *x = (const float *)data;
      for (int64_t i = lo; i < hi; i++) s += (double)x[i] * x[i];
    } else {
      const double *x = (const double *)data;
      for (int64_t i = lo; i < hi; i++) s += x[i] * x[i];
    }
    partial[c] = s;
  }
  for (int64_t c = 0; c < nchunks; c++) total += partial[c];
  if (partial != partial_buf) pt_free_bytes(partial);
  return total;
}

pt_status pt_clip_grad_norm(pt_tensor *const *params, int n, double max_norm, double *norm) {
  double ss = 0;
  for (int i = 0; i < n; i++) {
    if (!params[i] || !params[i]->grad) continue;
    pt_tensor *g = params[i]->grad;
    if (!pt_dtype_is_float(g->dtype))
      return pt_error(PT_ERR_DTYPE, "clip_grad_norm: gradient of dtype %s", pt_dtype_name(g->dtype));
    pt_tensor *c = pt_raw_contiguous(g);
    if (!c) return pt_error_code();
    ss += sum_squares(c);
    pt_tensor_free(c);
  }
  double total = sqrt(ss);
  if (norm) *norm = total;
  double coef = max_norm / (total + 1e-6);
  if (!(coef < 1.0)) return PT_OK; /* torch clamps the coefficient at 1 */
  for (int i = 0; i < n; i++) {
    if (!params[i] || !params[i]->grad) continue;
    pt_tensor *g = params[i]->grad;
    if (pt_is_contiguous(g)) {
      int64_t m = pt_numel(g);
      if (g->dtype == PT_F32) {
        float *x = pt_data(g), f = (float)coef;
#pragma omp parallel for simd schedule(static) if (m >= PT_OPTIM_PAR_MIN)
        for (int64_t k = 0; k < m; k++) x[k] *= f;
      } else {
        double *x = pt_data(g);
#pragma omp parallel for simd schedule(static) if (m >= PT_OPTIM_PAR_MIN)
        for (int64_t k = 0; k < m; k++) x[k] *= coef;
      }
    } else {
      pt_tensor *scaled = pt_raw_affine(g, coef, 0.0);
      pt_status st = scaled ? pt_copy_into(g, scaled) : pt_error_code();
      pt_tensor_free(scaled);
      PT_TRY(st);
    }
  }
  return PT_OK;
}

pt_status pt_optim_clip_grad_norm(pt_optim *o, double max_norm, double *norm) {
  pt_tensor *ps_buf[64] = {0};
  pt_tensor **ps = o->count <= 64 ? ps_buf : pt_alloc(sizeof(pt_tensor *) * (size_t)o->count);
  if (!ps) return pt_error(PT_ERR_NOMEM, "clip_grad_norm: out of memory");
  for (int i = 0; i < o->count; i++) ps[i] = o->slots[i].param;
  pt_status st = pt_clip_grad_norm(ps, o->count, max_norm, norm);
  if (ps != ps_buf) pt_free_bytes(ps);
  return st;
}
