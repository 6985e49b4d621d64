/* Softmax / log-softmax kernels along one dim, forward and backward.
 *
 * Layout: the (contiguous) tensor is [outer, D, inner] around the softmax
 * dim. inner == 1 is the last-dim fast path (rows of D contiguous floats);
 * otherwise each task takes one outer slice and a block of up to BLK inner
 * columns, walking D with stride `inner` so the innermost loop runs over
 * contiguous columns. Max-subtracted; sums accumulate in double. */
#include "tensor/pt_softmax.h"

#include <math.h>

#define PAR_MIN 32768 /* elements below which the loops stay serial */
#define BLK 256       /* inner columns per task on the strided path */

/* Splits t's shape around `d` into outer, D, inner. */
static void split_dims(const pt_tensor *t, int d, int64_t *outer, int64_t *D, int64_t *inner) {
  *outer = 1;
  *D = 1;
  *inner = 1;
  for (int k = 0; k < t->ndim; k++) {
    if (k < d) *outer *= t->shape[k];
    else if (k == d) *D = t->shape[k];
    else *inner *= t->shape[k];
  }
}

#define DEFINE_SOFTMAX(T, SFX, EXP)                                                         \
  /* rows of D contiguous elements: y = softmax(x) or log_softmax(x) */                    \
  static void fwd_rows_##SFX(const T *x, T *y, int64_t rows, int64_t D, bool lg) {         \
    _Pragma("omp parallel for if (rows * D > PAR_MIN) schedule(static)")                  \
    for (int64_t r = 0; r < rows; r++) {                                                   \
      const T *xr = x + r * D;                                                             \
      T *yr = y + r * D;                                                                   \
      T m = -INFINITY;                                                                     \
      for (int64_t j = 0; j < D; j++) m = xr[j] > m ? xr[j] : m;                           \
      double s = 0;                                                                        \
      for (int64_t j = 0; j < D; j++) {                                                    \
        T e = EXP(xr[j] - m);                                                              \
        yr[j] = e;                                                                         \
        s += e;                                                                            \
      }                                                                                    \
      if (lg) { /* (x − max) − log Σ, as PyTorch: exact for the max */               \
        T ls = (T)log(s);                                                                  \
        for (int64_t j = 0; j < D; j++) yr[j] = (xr[j] - m) - ls;                          \
      } else {                                                                             \
        T inv = (T)(1.0 / s);                                                              \
        for (int64_t j = 0; j < D; j++) yr[j] *= inv;                                      \
      }                                                                                    \
    }                                                                                      \
  }                                                                                        \
  /* [outer, D, inner], inner > 1: blocks of columns, D walked with stride inner */        \
  static void fwd_cols_##SFX(const T *x, T *y, int64_t outer, int64_t D, int64_t inner,    \
                             bool lg) {                                                    \
    int64_t nblk = (inner + BLK - 1) / BLK;                                                \
    _Pragma("omp parallel for if (outer * D * inner > PAR_MIN) schedule(static)")         \
    for (int64_t task = 0; task < outer * nblk; task++) {                                  \
      int64_t o = task / nblk, i0 = (task % nblk) * BLK;                                   \
      int64_t w = inner - i0 < BLK ? inner - i0 : BLK;                                     \
      const T *xb = x + o * D * inner + i0;                                                \
      T *yb = y + o * D * inner + i0;                                                      \
      T m[BLK];                                                                            \
      double s[BLK];                                                                       \
      for (int64_t i = 0; i < w; i++) {                                                    \
        m[i] = -INFINITY;                                                                  \
        s[i] = 0;                                                                          \
      }                                                                                    \
      for (int64_t j = 0; j < D; j++)                                                      \
        for (int64_t i = 0; i < w; i++) m[i] = xb[j * inner + i] > m[i] ? xb[j * inner + i] : m[i]; \
      for (int64_t j = 0; j < D; j++)                                                      \
        for (int64_t i = 0; i < w; i++) {                                                  \
          T e = EXP(xb[j * inner + i] - m[i]);                                             \
          yb[j * inner + i] = e;                                                           \
          s[i] += e;                                                                       \
        }                                                                                  \
      if (lg) {                                                                            \
        T ls[BLK];                                                                         \
        for (int64_t i = 0; i < w; i++) ls[i] = (T)log(s[i]);                              \
        for (int64_t j = 0; j < D; j++)                                                    \
          for (int64_t i = 0; i < w; i++)                                                  \
            yb[j * inner + i] = (xb[j * inner + i] - m[i]) - ls[i];                        \
      } else {                                                                             \
        for (int64_t i = 0; i < w; i++) m[i] = (T)(1.0 / s[i]);                            \
        for (int64_t j = 0; j < D; j++)                                                    \
          for (int64_t i = 0; i < w; i++) yb[j * inner + i] *= m[i];                       \
      }                                                                                    \
    }                                                                                      \
  }                                                                                        \
  /* backward over [outer, D, inner] (inner may be 1):                                     \
   *   softmax: dx = y·(g − Σ g·y);  log_softmax: dx = g − exp(y)·Σ g */                  \
  static void bwd_##SFX(const T *y, const T *g, T *dx, int64_t outer, int64_t D,           \
                        int64_t inner, bool lg) {                                          \
    int64_t nblk = (inner + BLK - 1) / BLK;                                                \
    _Pragma("omp parallel for if (outer * D * inner > PAR_MIN) schedule(static)")         \
    for (int64_t task = 0; task < outer * nblk; task++) {                                  \
      int64_t o = task / nblk, i0 = (task % nblk) * BLK;                                   \
      int64_t w = inner - i0 < BLK ? inner - i0 : BLK;                                     \
      int64_t base = o * D * inner + i0;                                                   \
      const T *yb = y + base, *gb = g + base;                                              \
      T *db = dx + base;                                                                   \
      if (inner == 1) { /* contiguous row */                                               \
        double acc = 0;                                                                    \
        if (lg) {                                                                          \
          for (int64_t j = 0; j < D; j++) acc += gb[j];                                    \
          T a = (T)acc;                                                                    \
          for (int64_t j = 0; j < D; j++) db[j] = gb[j] - EXP(yb[j]) * a;                  \
        } else {                                                                           \
          for (int64_t j = 0; j < D; j++) acc += (double)gb[j] * yb[j];                    \
          T a = (T)acc;                                                                    \
          for (int64_t j = 0; j < D; j++) db[j] = yb[j] * (gb[j] - a);                     \
        }                                                                                  \
        continue;                                                                          \
      }                                                                                    \
      double acc[BLK];                                                                     \
      T a[BLK];                                                                            \
      for (int64_t i = 0; i < w; i++) acc[i] = 0;                                          \
      for (int64_t j = 0; j < D; j++)                                                      \
        for (int64_t i = 0; i < w; i++)                                                    \
          acc[i] += lg ? (double)gb[j * inner + i] : (double)gb[j * inner + i] * yb[j * inner + i]; \
      for (int64_t i = 0; i < w; i++) a[i] = (T)acc[i];                                    \
      for (int64_t j = 0; j < D; j++)                                                      \
        for (int64_t i = 0; i < w; i++) {                                                  \
          int64_t k = j * inner + i;                                                       \
          db[k] = lg ? gb[k] - EXP(yb[k]) * a[i] : yb[k] * (gb[k] - a[i]);                 \
        }                                                                                  \
    }                                                                                      \
  }

DEFINE_SOFTMAX(float, f32, expf)
DEFINE_SOFTMAX(double, f64, exp)

/* Normalizes dim; a 0-dim tensor takes dim 0 or -1 as a single element. */
static int softmax_dim(const pt_tensor *x, int dim, const char *op) {
  if (x->ndim == 0 && (dim == 0 || dim == -1)) return 0;
  return pt_dim_index(x, dim, op);
}

pt_tensor *pt_raw_softmax(const pt_tensor *x, int dim, bool lg, const char *op) {
  if (!op) op = lg ? "log_softmax" : "softmax";
  if (!pt_dtype_is_float(x->dtype)) {
    pt_error(PT_ERR_DTYPE, "%s: needs F32 or F64, got %s", op, pt_dtype_name(x->dtype));
    return NULL;
  }
  int d = softmax_dim(x, dim, op);
  if (d < 0) return NULL;
  pt_tensor *xc = pt_raw_contiguous(x);
  pt_tensor *y = xc ? pt_empty_like(xc) : NULL;
  if (!y) {
    pt_tensor_free(xc);
    return NULL;
  }
  int64_t outer, D, inner;
  split_dims(xc, d, &outer, &D, &inner);
  if (x->dtype == PT_F32) {
    if (inner == 1) fwd_rows_f32(pt_data(xc), pt_data(y), outer, D, lg);
    else fwd_cols_f32(pt_data(xc), pt_data(y), outer, D, inner, lg);
  } else {
    if (inner == 1) fwd_rows_f64(pt_data(xc), pt_data(y), outer, D, lg);
    else fwd_cols_f64(pt_data(xc), pt_data(y), outer, D, inner, lg);
  }
  pt_tensor_free(xc);
  return y;
}

pt_tensor *pt_raw_softmax_backward(const pt_tensor *y, const pt_tensor *g, int dim, bool lg) {
  const char *op = lg ? "log_softmax backward" : "softmax backward";
  char s1[96], s2[96];
  if (!pt_same_shape(y, g) || y->dtype != g->dtype || !pt_dtype_is_float(y->dtype)) {
    pt_error(PT_ERR_SHAPE, "%s: output %s %s and gradient %s %s differ", op,
             pt_shape_str(y, s1, sizeof s1), pt_dtype_name(y->dtype),
             pt_shape_str(g, s2, sizeof s2), pt_dtype_name(g->dtype));
    return NULL;
  }
  int d = softmax_dim(y, dim, op);
  if (d < 0) return NULL;
  pt_tensor *yc = pt_raw_contiguous(y);
  pt_tensor *gc = yc ? pt_raw_contiguous(g) : NULL;
  pt_tensor *dx = gc ? pt_empty_like(yc) : NULL;
  if (dx) {
    int64_t outer, D, inner;
    split_dims(yc, d, &outer, &D, &inner);
    if (y->dtype == PT_F32) bwd_f32(pt_data(yc), pt_data(gc), pt_data(dx), outer, D, inner, lg);
    else bwd_f64(pt_data(yc), pt_data(gc), pt_data(dx), outer, D, inner, lg);
  }
  pt_tensor_free(yc);
  pt_tensor_free(gc);
  return dx;
}
