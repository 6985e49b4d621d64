/* Cross-entropy with ignore_index and label smoothing: target checks,
 * the fused forward (row max, log-sum-exp, smoothing term) and backward.
 *
 * Layout: logits made contiguous [N, C] (N = all leading dims), targets a
 * contiguous I64 [N]; one OpenMP loop over rows, inner loops vectorized
 * (pt_expf for F32, sums as omp simd reductions in double). */
#include "tensor/pt_xent.h"

#include <math.h>

#include "tensor/pt_vmath.h"

#define PAR_MIN 32768
#define CE_CHUNK 256 /* logits per exp buffer */

#define PT_KERNELS "tensor/xent_kernels.inc"
#include "tensor/dtype_kernels.h"

pt_tensor *pt_raw_cross_entropy_targets(const pt_tensor *logits, const pt_tensor *targets,
                                        int64_t ignore_index, double eps) {
  char s1[96], s2[96];
  if (!pt_dtype_is_float(logits->dtype)) {
    pt_error(PT_ERR_DTYPE, "cross_entropy: logits must be F32 or F64, got %s",
             pt_dtype_name(logits->dtype));
    return NULL;
  }
  if (targets->dtype != PT_I64 && targets->dtype != PT_I32) {
    pt_error(PT_ERR_DTYPE, "cross_entropy: targets must be I64 or I32 class indices, got %s",
             pt_dtype_name(targets->dtype));
    return NULL;
  }
  bool fit = logits->ndim >= 1 && targets->ndim == logits->ndim - 1;
  for (int d = 0; fit && d < targets->ndim; d++) fit = targets->shape[d] == logits->shape[d];
  if (!fit) {
    pt_error(PT_ERR_SHAPE,
             "cross_entropy: targets of shape %s do not match logits of shape %s "
             "(targets take the logits' shape without the last dim)",
             pt_shape_str(targets, s1, sizeof s1), pt_shape_str(logits, s2, sizeof s2));
    return NULL;
  }
  if (!(eps >= 0.0 && eps <= 1.0)) {
    pt_error(PT_ERR_ARG, "cross_entropy: label_smoothing must be in [0, 1], got %g", eps);
    return NULL;
  }
  pt_tensor *t = pt_to_dtype(targets, PT_I64);
  if (!t) return NULL;
  int64_t C = logits->shape[logits->ndim - 1], N = pt_numel(t);
  const int64_t *tv = pt_data(t);
  for (int64_t i = 0; i < N; i++) {
    if (tv[i] == ignore_index || (tv[i] >= 0 && tv[i] < C)) continue;
    int64_t pos[PT_MAX_DIMS], rest = i;
    for (int d = targets->ndim - 1; d >= 0; d--) {
      pos[d] = rest % targets->shape[d];
      rest /= targets->shape[d];
    }
    pt_error(PT_ERR_ARG,
             "cross_entropy: target %lld at position %s is out of range for %lld classes "
             "(logits %s, ignore_index %lld)",
             (long long)tv[i], pt_dims_str(targets->ndim, pos, s1, sizeof s1), (long long)C,
             pt_shape_str(logits, s2, sizeof s2), (long long)ignore_index);
    pt_tensor_free(t);
    return NULL;
  }
  return t;
}

/* logits [..., C] and I64 targets [N] agree (pt_raw_cross_entropy_targets). */
static bool rows_fit(const pt_tensor *logits, const pt_tensor *targets, int64_t *N,
                     int64_t *C) {
  if (!pt_dtype_is_float(logits->dtype) || logits->ndim < 1 || targets->dtype != PT_I64 ||
      !pt_is_contiguous(targets)) {
    pt_error(PT_ERR_ARG, "cross_entropy: targets must come from pt_raw_cross_entropy_targets");
    return false;
  }
  *C = logits->shape[logits->ndim - 1];
  *N = pt_numel(targets);
  if (*N * *C != pt_numel(logits)) {
    char s1[96], s2[96];
    pt_error(PT_ERR_SHAPE, "cross_entropy: %lld targets for logits of shape %s (%s)",
             (long long)*N, pt_shape_str(logits, s1, sizeof s1),
             pt_shape_str(targets, s2, sizeof s2));
    return false;
  }
  return true;
}

pt_tensor *pt_raw_cross_entropy(const pt_tensor *logits, const pt_tensor *targets,
                                int64_t ignore_index, double eps, pt_tensor **lse_out,
                                int64_t *count_out) {
  if (lse_out) *lse_out = NULL;
  int64_t N, C;
  if (!rows_fit(logits, targets, &N, &C)) return NULL;
  pt_tensor *x = pt_raw_contiguous(logits);
  pt_tensor *lse = x ? pt_empty(PT_F64, 1, &N) : NULL;
  pt_tensor *loss = lse ? pt_empty(PT_F64, 1, &N) : NULL;
  pt_tensor *out = loss ? pt_empty(logits->dtype, 0, NULL) : NULL;
  if (out) {
    if (x->dtype == PT_F32)
      ce_fwd_f32(pt_data(x), pt_data(targets), N, C, ignore_index, eps, pt_data(lse), pt_data(loss));
    else
      ce_fwd_f64(pt_data(x), pt_data(targets), N, C, ignore_index, eps, pt_data(lse), pt_data(loss));
    const int64_t *tv = pt_data(targets);
    const double *lv = pt_data(loss);
    double total = 0;
    int64_t count = 0;
    for (int64_t r = 0; r < N; r++) /* row order: independent of the thread count */
      if (tv[r] != ignore_index) {
        total += lv[r];
        count++;
      }
    pt_set(out, 0, count ? total / (double)count : NAN);
    if (count_out) *count_out = count;
    if (lse_out) *lse_out = lse, lse = NULL;
  }
  pt_tensor_free(x);
  pt_tensor_free(lse);
  pt_tensor_free(loss);
  return out;
}

pt_tensor *pt_raw_cross_entropy_backward(const pt_tensor *logits, const pt_tensor *targets,
                                         const pt_tensor *lse, int64_t ignore_index, double eps,
                                         double scale) {
  int64_t N, C;
  if (!rows_fit(logits, targets, &N, &C)) return NULL;
  if (lse->dtype != PT_F64 || pt_numel(lse) != N || !pt_is_contiguous(lse)) {
    pt_error(PT_ERR_ARG, "cross_entropy backward: lse must be the F64 [%lld] from the forward",
             (long long)N);
    return NULL;
  }
  pt_tensor *x = pt_raw_contiguous(logits);
  pt_tensor *dx = x ? pt_empty_like(x) : NULL;
  if (dx) {
    if (x->dtype == PT_F32)
      ce_bwd_f32(pt_data(x), pt_data(targets), pt_data(lse), pt_data(dx), N, C, ignore_index,
                 eps, scale);
    else
      ce_bwd_f64(pt_data(x), pt_data(targets), pt_data(lse), pt_data(dx), N, C, ignore_index,
                 eps, scale);
  }
  pt_tensor_free(x);
  return dx;
}
