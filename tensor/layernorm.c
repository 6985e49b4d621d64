/* LayerNorm over the last dim: fused forward (saving mean and rstd per row)
 * and fused backward (dx per row; dweight/dbias over blocks of rows).
 * The forward optionally adds a residual first (post-LN transformers'
 * LN(x + residual)) without a separate add pass.
 *
 * Layout: x contiguous [R, H] (R = all leading dims), weight/bias [H].
 * Row sums are omp simd reductions in double, so they vectorize without
 * -ffast-math. */
#include "tensor/pt_layernorm.h"

#include <math.h>

#define PAR_MIN 32768 /* elements below which the loops stay serial */

#define PT_KERNELS "tensor/layernorm_kernels.inc"
#include "tensor/dtype_kernels.h"

/* weight/bias must be [H] of x's dtype. */
static pt_status check_param(const pt_tensor *x, const pt_tensor *p, const char *what) {
  char s1[96], s2[96];
  int64_t H = x->shape[x->ndim - 1];
  if (p->dtype != x->dtype)
    return pt_error(PT_ERR_DTYPE, "layer_norm: %s is %s but x is %s", what,
                    pt_dtype_name(p->dtype), pt_dtype_name(x->dtype));
  if (p->ndim != 1 || p->shape[0] != H)
    return pt_error(PT_ERR_SHAPE, "layer_norm: %s of shape %s does not match the last dim of x %s",
                    what, pt_shape_str(p, s1, sizeof s1), pt_shape_str(x, s2, sizeof s2));
  return PT_OK;
}

static pt_status check_args(const pt_tensor *x, const pt_tensor *weight, const pt_tensor *bias,
                            double eps) {
  if (!pt_dtype_is_float(x->dtype))
    return pt_error(PT_ERR_DTYPE, "layer_norm: needs F32 or F64, got %s", pt_dtype_name(x->dtype));
  if (x->ndim < 1)
    return pt_error(PT_ERR_SHAPE, "layer_norm: x must have at least one dim, got shape []");
  if (!(eps >= 0))
    return pt_error(PT_ERR_ARG, "layer_norm: eps must be >= 0, got %g", eps);
  if (weight) PT_TRY(check_param(x, weight, "weight"));
  if (bias) PT_TRY(check_param(x, bias, "bias"));
  return PT_OK;
}

/* A contiguous version of an optional tensor (NULL stays NULL); *ok false on failure. */
static pt_tensor *contig_opt(const pt_tensor *t, bool *ok) {
  if (!t) return NULL;
  pt_tensor *c = pt_raw_contiguous(t);
  if (!c) *ok = false;
  return c;
}

pt_tensor *pt_raw_layer_norm(const pt_tensor *x, const pt_tensor *weight, const pt_tensor *bias,
                             double eps, pt_tensor **mean_out, pt_tensor **rstd_out) {
  return pt_raw_add_layer_norm(x, NULL, weight, bias, eps, NULL, mean_out, rstd_out);
}

pt_tensor *pt_raw_add_layer_norm(const pt_tensor *x, const pt_tensor *residual,
                                 const pt_tensor *weight, const pt_tensor *bias, double eps,
                                 pt_tensor **sum_out, pt_tensor **mean_out, pt_tensor **rstd_out) {
  if (sum_out) *sum_out = NULL;
  if (mean_out) *mean_out = NULL;
  if (rstd_out) *rstd_out = NULL;
  if (check_args(x, weight, bias, eps) != PT_OK) return NULL;
  if (residual && (!pt_same_shape(x, residual) || residual->dtype != x->dtype)) {
    char s1[96], s2[96];
    pt_error(PT_ERR_SHAPE, "layer_norm: residual %s %s does not match x %s %s",
             pt_dtype_name(residual->dtype), pt_shape_str(residual, s1, sizeof s1),
             pt_dtype_name(x->dtype), pt_shape_str(x, s2, sizeof s2));
    return NULL;
  }
  bool ok = true;
  pt_tensor *xc = contig_opt(x, &ok), *rc = contig_opt(residual, &ok);
  pt_tensor *wc = contig_opt(weight, &ok), *bc = contig_opt(bias, &ok);
  pt_tensor *y = ok ? pt_empty_like(x) : NULL;
  pt_tensor *sum = y && residual && sum_out ? pt_empty_like(x) : NULL;
  pt_tensor *mean = y && mean_out ? pt_empty(x->dtype, x->ndim - 1, x->shape) : NULL;
  pt_tensor *rstd = y && rstd_out ? pt_empty(x->dtype, x->ndim - 1, x->shape) : NULL;
  if (!y || (residual && sum_out && !sum) || (mean_out && !mean) || (rstd_out && !rstd)) {
    pt_tensor_free(y);
    y = NULL;
    goto done;
  }
  int64_t H = x->shape[x->ndim - 1], R = H ? pt_numel(x) / H : 0;
#define DATA_OR_NULL(t) ((t) ? pt_data(t) : NULL)
  if (x->dtype == PT_F32)
    fwd_f32(pt_data(xc), DATA_OR_NULL(rc), DATA_OR_NULL(wc), DATA_OR_NULL(bc), pt_data(y),
            DATA_OR_NULL(sum), DATA_OR_NULL(mean), DATA_OR_NULL(rstd), R, H, eps);
  else
    fwd_f64(pt_data(xc), DATA_OR_NULL(rc), DATA_OR_NULL(wc), DATA_OR_NULL(bc), pt_data(y),
            DATA_OR_NULL(sum), DATA_OR_NULL(mean), DATA_OR_NULL(rstd), R, H, eps);
#undef DATA_OR_NULL
  if (sum_out) *sum_out = sum, sum = NULL;
  if (mean_out) *mean_out = mean, mean = NULL;
  if (rstd_out) *rstd_out = rstd, rstd = NULL;
done:
  pt_tensor_free(sum);
  pt_tensor_free(mean);
  pt_tensor_free(rstd);
  pt_tensor_free(xc);
  pt_tensor_free(rc);
  pt_tensor_free(wc);
  pt_tensor_free(bc);
  return y;
}

pt_status pt_raw_layer_norm_backward(const pt_tensor *g, const pt_tensor *x,
                                     const pt_tensor *mean, const pt_tensor *rstd,
                                     const pt_tensor *weight, pt_tensor **dx,
                                     pt_tensor **dweight, pt_tensor **dbias) {
  char s1[96], s2[96];
  if (dx) *dx = NULL;
  if (dweight) *dweight = NULL;
  if (dbias) *dbias = NULL;
  PT_TRY(check_args(x, weight, NULL, 0.0));
  int64_t H = x->shape[x->ndim - 1], R = H ? pt_numel(x) / H : 0;
  if (!pt_same_shape(g, x) || g->dtype != x->dtype || pt_numel(mean) != R ||
      pt_numel(rstd) != R || mean->dtype != x->dtype || rstd->dtype != x->dtype)
    return pt_error(PT_ERR_SHAPE, "layer_norm backward: gradient %s / saved statistics do not fit x %s",
                    pt_shape_str(g, s1, sizeof s1), pt_shape_str(x, s2, sizeof s2));
  bool ok = true;
  pt_tensor *gc = contig_opt(g, &ok), *xc = contig_opt(x, &ok), *wc = contig_opt(weight, &ok);
  pt_tensor *mc = contig_opt(mean, &ok), *rc = contig_opt(rstd, &ok);
  pt_tensor *tdx = NULL, *tdw = NULL, *tdb = NULL;
  double *pw = NULL, *pb = NULL;
  /* Blocks of rows for the dweight/dbias partial sums: a function of R only. */
  int64_t rblk = R / 64 > 32 ? R / 64 : 32, nblk = (R + rblk - 1) / rblk;
  if (ok && dx) ok = (tdx = pt_empty_like(x)) != NULL;
  if (ok && dweight) ok = (tdw = pt_empty(x->dtype, 1, &H)) != NULL;
  if (ok && dbias) ok = (tdb = pt_empty(x->dtype, 1, &H)) != NULL;
  size_t pbytes = sizeof(double) * (size_t)(nblk * H > 0 ? nblk * H : 1);
  if (ok && dweight) ok = (pw = pt_alloc(pbytes)) != NULL;
  if (ok && dbias) ok = (pb = pt_alloc(pbytes)) != NULL;
  if (ok) {
    if (x->dtype == PT_F32) {
      if (tdx) bwd_dx_f32(pt_data(gc), pt_data(xc), pt_data(mc), pt_data(rc),
                          wc ? pt_data(wc) : NULL, pt_data(tdx), R, H);
      if (tdw || tdb)
        bwd_dwdb_f32(pt_data(gc), pt_data(xc), pt_data(mc), pt_data(rc),
                     tdw ? pt_data(tdw) : NULL, tdb ? pt_data(tdb) : NULL, pw, pb, R, H, rblk, nblk);
    } else {
      if (tdx) bwd_dx_f64(pt_data(gc), pt_data(xc), pt_data(mc), pt_data(rc),
                          wc ? pt_data(wc) : NULL, pt_data(tdx), R, H);
      if (tdw || tdb)
        bwd_dwdb_f64(pt_data(gc), pt_data(xc), pt_data(mc), pt_data(rc),
                     tdw ? pt_data(tdw) : NULL, tdb ? pt_data(tdb) : NULL, pw, pb, R, H, rblk, nblk);
    }
  }
  pt_free_bytes(pw);
  pt_free_bytes(pb);
  pt_tensor_free(gc);
  pt_tensor_free(xc);
  pt_tensor_free(wc);
  pt_tensor_free(mc);
  pt_tensor_free(rc);
  if (!ok) {
    pt_tensor_free(tdx);
    pt_tensor_free(tdw);
    pt_tensor_free(tdb);
    return pt_error(PT_ERR_NOMEM, "layer_norm backward: out of memory for x %s",
                    pt_shape_str(x, s2, sizeof s2));
  }
  if (dx) *dx = tdx;
  if (dweight) *dweight = tdw;
  if (dbias) *dbias = tdb;
  return PT_OK;
}
