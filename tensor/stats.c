/* max over one dim (values + first-max indices), its scatter-back, and
 * variance over dims.
 *
 * Layout: max views the contiguous input as [outer, D, inner] around the
 * dim; var moves the reduced dims last (a permuted contiguous copy when
 * needed) and reduces rows of N contiguous elements. */
#include "tensor/pt_stats.h"

#include <math.h>

#include "tensor/pt_reduce.h"

#define PAR_MIN 32768

static void split_dims(const pt_tensor *t, int d, int64_t *outer, int64_t *D, int64_t *inner) {
  *outer = *D = *inner = 1;
  for (int k = 0; k < t->ndim; k++) {
    if (k < d) *outer *= t->shape[k];
    else if (k == d) *D = t->shape[k];
    else *inner *= t->shape[k];
  }
}

/* The shape of a reduction over dim d: kept as 1 or removed. */
static int reduced_shape(int ndim, const int64_t *shape, int d, bool keepdim, int64_t *out) {
  int n = 0;
  for (int k = 0; k < ndim; k++) {
    if (k != d) out[n++] = shape[k];
    else if (keepdim) out[n++] = 1;
  }
  return n;
}

/* [outer, D, inner] -> [outer, inner]: first maximum along D (NaN wins). */
#define DEFINE_MAX(T, SFX)                                                                 \
  static void max_##SFX(const T *x, T *val, int64_t *idx, int64_t outer, int64_t D,        \
                        int64_t inner) {                                                   \
    _Pragma("omp parallel for if (outer * D * inner > PAR_MIN) schedule(static)")         \
    for (int64_t p = 0; p < outer * inner; p++) {                                          \
      int64_t o = p / inner, i = p % inner;                                                \
      const T *xp = x + o * D * inner + i;                                                 \
      T best = xp[0];                                                                      \
      int64_t at = 0;                                                                      \
      for (int64_t j = 1; j < D && !isnan(best); j++) {                                    \
        T v = xp[j * inner];                                                               \
        if (v > best || isnan(v)) {                                                        \
          best = v;                                                                        \
          at = j;                                                                          \
        }                                                                                  \
      }                                                                                    \
      val[p] = best;                                                                       \
      if (idx) idx[p] = at;                                                                \
    }                                                                                      \
  }

DEFINE_MAX(float, f32)
DEFINE_MAX(double, f64)

pt_tensor *pt_raw_max_dim(const pt_tensor *x, int dim, bool keepdim, pt_tensor **indices,
                          const char *op) {
  char s[96];
  if (!op) op = "max";
  if (indices) *indices = NULL;
  if (!pt_dtype_is_float(x->dtype)) {
    pt_error(PT_ERR_DTYPE, "%s: needs F32 or F64, got %s", op, pt_dtype_name(x->dtype));
    return NULL;
  }
  int d = pt_dim_index(x, dim, op);
  if (d < 0) return NULL;
  if (x->shape[d] == 0) {
    pt_error(PT_ERR_SHAPE, "%s: dim %d of a tensor of shape %s is empty", op, dim,
             pt_shape_str(x, s, sizeof s));
    return NULL;
  }
  int64_t oshape[PT_MAX_DIMS];
  int on = reduced_shape(x->ndim, x->shape, d, keepdim, oshape);
  pt_tensor *xc = pt_raw_contiguous(x);
  pt_tensor *val = xc ? pt_empty(x->dtype, on, oshape) : NULL;
  pt_tensor *idx = val && indices ? pt_empty(PT_I64, on, oshape) : NULL;
  if (!val || (indices && !idx)) {
    pt_tensor_free(xc);
    pt_tensor_free(val);
    return NULL;
  }
  int64_t outer, D, inner;
  split_dims(xc, d, &outer, &D, &inner);
  if (x->dtype == PT_F32) max_f32(pt_data(xc), pt_data(val), idx ? pt_data(idx) : NULL, outer, D, inner);
  else max_f64(pt_data(xc), pt_data(val), idx ? pt_data(idx) : NULL, outer, D, inner);
  pt_tensor_free(xc);
  if (indices) *indices = idx;
  return val;
}

pt_tensor *pt_raw_scatter_dim(const pt_tensor *g, const pt_tensor *indices, int dim, int ndim,
                              const int64_t *shape) {
  char s1[96], s2[96];
  int64_t total = 1;
  for (int k = 0; k < ndim; k++) total *= shape[k];
  if (dim < 0 || dim >= ndim || indices->dtype != PT_I64 || !pt_same_shape(g, indices) ||
      pt_numel(g) * shape[dim] != total) {
    pt_error(PT_ERR_SHAPE, "scatter_dim: gradient %s does not fit %s along dim %d",
             pt_shape_str(g, s1, sizeof s1), pt_dims_str(ndim, shape, s2, sizeof s2), dim);
    return NULL;
  }
  pt_tensor *out = pt_zeros(g->dtype, ndim, shape);
  pt_tensor *gc = out ? pt_raw_contiguous(g) : NULL;
  pt_tensor *ic = gc ? pt_raw_contiguous(indices) : NULL;
  if (!ic) {
    pt_tensor_free(out);
    pt_tensor_free(gc);
    return NULL;
  }
  int64_t outer, D, inner;
  split_dims(out, dim, &outer, &D, &inner);
  const int64_t *ix = pt_data(ic);
  bool bad = false;
  for (int64_t p = 0; p < outer * inner; p++) {
    int64_t o = p / inner, i = p % inner, j = ix[p];
    if (j < 0 || j >= D) {
      bad = true;
      break;
    }
    int64_t at = (o * D + j) * inner + i;
    if (g->dtype == PT_F32) ((float *)pt_data(out))[at] = ((const float *)pt_data(gc))[p];
    else ((double *)pt_data(out))[at] = ((const double *)pt_data(gc))[p];
  }
  pt_tensor_free(gc);
  pt_tensor_free(ic);
  if (bad) {
    pt_tensor_free(out);
    pt_error(PT_ERR_ARG, "scatter_dim: an index is outside [0, %lld)", (long long)D);
    return NULL;
  }
  return out;
}

/* rows of n contiguous elements -> Σ(x − mean)² / denom, two passes in double. */
#define DEFINE_VAR(T, SFX)                                                                 \
  static void var_##SFX(const T *x, T *out, int64_t rows, int64_t n, double denom) {       \
    _Pragma("omp parallel for if (rows * n > PAR_MIN) schedule(static)")                  \
    for (int64_t r = 0; r < rows; r++) {                                                   \
      const T *xr = x + r * n;                                                             \
      double s = 0;                                                                        \
      _Pragma("omp simd reduction(+ : s)")                                                 \
      for (int64_t j = 0; j < n; j++) s += xr[j];                                          \
      double mu = n ? s / (double)n : NAN, v = 0;                                          \
      _Pragma("omp simd reduction(+ : v)")                                                 \
      for (int64_t j = 0; j < n; j++) {                                                    \
        double d = (double)xr[j] - mu;                                                     \
        v += d * d;                                                                        \
      }                                                                                    \
      out[r] = (T)(v / denom);                                                             \
    }                                                                                      \
  }

DEFINE_VAR(float, f32)
DEFINE_VAR(double, f64)

pt_tensor *pt_raw_var(const pt_tensor *x, int ndims, const int *dims, int correction,
                      bool keepdim) {
  if (!pt_dtype_is_float(x->dtype)) {
    pt_error(PT_ERR_DTYPE, "var: needs F32 or F64, got %s", pt_dtype_name(x->dtype));
    return NULL;
  }
  if (correction < 0) {
    pt_error(PT_ERR_ARG, "var: correction must be >= 0, got %d", correction);
    return NULL;
  }
  bool mask[PT_MAX_DIMS];
  if (pt_reduce_dims_mask(x, ndims, dims, "var", mask) != PT_OK) return NULL;
  int perm[PT_MAX_DIMS], np = 0, nout = 0;
  int64_t out_shape[PT_MAX_DIMS], keep_shape[PT_MAX_DIMS], rows = 1, n = 1;
  for (int d = 0; d < x->ndim; d++) {
    keep_shape[d] = mask[d] ? 1 : x->shape[d];
    if (!mask[d]) {
      perm[np++] = d;
      out_shape[nout++] = x->shape[d];
      rows *= x->shape[d];
    }
  }
  for (int d = 0; d < x->ndim; d++)
    if (mask[d]) {
      perm[np++] = d;
      n *= x->shape[d];
    }
  pt_tensor *p = pt_raw_permute(x, perm);
  pt_tensor *pc = p ? pt_raw_contiguous(p) : NULL;
  pt_tensor_free(p);
  pt_tensor *out = pc ? (keepdim ? pt_empty(x->dtype, x->ndim, keep_shape)
                                 : pt_empty(x->dtype, nout, out_shape))
                      : NULL;
  if (out) {
    double denom = n - correction > 0 ? (double)(n - correction) : 0.0;
    if (x->dtype == PT_F32) var_f32(pt_data(pc), pt_data(out), rows, n, denom);
    else var_f64(pt_data(pc), pt_data(out), rows, n, denom);
  }
  pt_tensor_free(pc);
  return out;
}
