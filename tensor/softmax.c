/* Softmax / log-softmax kernels along one dim, forward and backward.
 *
 * Layout: the (contiguous) tensor is [outer, D, inner] around the softmax
 * dim. inner == 1 is the last-dim fast path (rows of D contiguous floats);
 * otherwise each task takes one outer slice and a block of up to BLK inner
 * columns, walking D with stride `inner` so the innermost loop runs over
 * contiguous columns. Max-subtracted; sums accumulate in double (omp simd
 * reductions, so they vectorize without -ffast-math); F32 uses the
 * vectorizable pt_expf. */
#include "tensor/pt_softmax.h"

#include <math.h>

#include "tensor/pt_vmath.h"

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

#define PT_KERNELS "tensor/softmax_kernels.inc"
#include "tensor/dtype_kernels.h"

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
