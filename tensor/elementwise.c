/* Broadcasting binary kernels and in-place accumulation. */
#include "tensor/pt_elementwise.h"

#include "tensor/pt_iter.h"

static const char *binary_name(pt_binary_kind k) {
  switch (k) {
    case PT_BIN_ADD: return "add";
    case PT_BIN_SUB: return "sub";
    case PT_BIN_MUL: return "mul";
    case PT_BIN_DIV: return "div";
  }
  return "binary";
}

/* Inner loops: one per (kind, dtype). The contiguous case has unit steps,
 * which the compiler specializes and vectorizes. */
#define BINARY_LOOP(NAME, T, EXPR)                                              \
  static void NAME(int64_t n, void **p, const int64_t *s, void *ctx) {          \
    (void)ctx;                                                                  \
    const T *a = p[1], *b = p[2];                                               \
    T *o = p[0];                                                                \
    if (s[0] == 1 && s[1] == 1 && s[2] == 1) {                                  \
      for (int64_t i = 0; i < n; i++) { T x = a[i], y = b[i]; o[i] = (EXPR); }  \
    } else {                                                                    \
      for (int64_t i = 0; i < n; i++) {                                         \
        T x = a[i * s[1]], y = b[i * s[2]];                                     \
        o[i * s[0]] = (EXPR);                                                   \
      }                                                                         \
    }                                                                           \
  }
BINARY_LOOP(add_f32, float, x + y)
BINARY_LOOP(sub_f32, float, x - y)
BINARY_LOOP(mul_f32, float, x * y)
BINARY_LOOP(div_f32, float, x / y)
BINARY_LOOP(add_f64, double, x + y)
BINARY_LOOP(sub_f64, double, x - y)
BINARY_LOOP(mul_f64, double, x * y)
BINARY_LOOP(div_f64, double, x / y)

static pt_iter_fn binary_loop(pt_binary_kind k, pt_dtype dt) {
  static const pt_iter_fn f32[] = {add_f32, sub_f32, mul_f32, div_f32};
  static const pt_iter_fn f64[] = {add_f64, sub_f64, mul_f64, div_f64};
  return dt == PT_F32 ? f32[k] : f64[k];
}

pt_tensor *pt_raw_binary(pt_binary_kind kind, const pt_tensor *a, const pt_tensor *b) {
  const char *op = binary_name(kind);
  if (a->dtype != b->dtype || !pt_dtype_is_float(a->dtype)) {
    pt_error(PT_ERR_DTYPE, "%s: dtypes %s and %s (need matching F32 or F64)", op,
             pt_dtype_name(a->dtype), pt_dtype_name(b->dtype));
    return NULL;
  }
  int nd;
  int64_t shape[PT_MAX_DIMS];
  if (pt_broadcast_shape(op, a->ndim, a->shape, b->ndim, b->shape, &nd, shape) != PT_OK)
    return NULL;
  pt_tensor *out = pt_empty(a->dtype, nd, shape);
  pt_tensor *ae = pt_raw_expand(a, nd, shape);
  pt_tensor *be = pt_raw_expand(b, nd, shape);
  if (out && ae && be) {
    pt_tensor *ops[3] = {out, ae, be};
    pt_iter_run(3, ops, binary_loop(kind, a->dtype), NULL);
  } else {
    pt_tensor_free(out);
    out = NULL;
  }
  pt_tensor_free(ae);
  pt_tensor_free(be);
  return out;
}

#define AXPY_LOOP(NAME, T)                                                  \
  static void NAME(int64_t n, void **p, const int64_t *s, void *ctx) {      \
    T alpha = (T)(*(const double *)ctx);                                    \
    T *d = p[0];                                                            \
    const T *x = p[1];                                                      \
    if (s[0] == 1 && s[1] == 1)                                             \
      for (int64_t i = 0; i < n; i++) d[i] += alpha * x[i];                 \
    else                                                                    \
      for (int64_t i = 0; i < n; i++) d[i * s[0]] += alpha * x[i * s[1]];   \
  }
AXPY_LOOP(axpy_f32, float)
AXPY_LOOP(axpy_f64, double)

pt_status pt_raw_axpy_into(pt_tensor *dst, double alpha, const pt_tensor *src) {
  if (dst->dtype != src->dtype || !pt_dtype_is_float(dst->dtype))
    return pt_error(PT_ERR_DTYPE, "axpy: dtypes %s and %s", pt_dtype_name(dst->dtype),
                    pt_dtype_name(src->dtype));
  pt_tensor *se = pt_raw_expand(src, dst->ndim, dst->shape);
  if (!se) return pt_error_code();
  pt_tensor *ops[2] = {dst, se};
  pt_iter_run(2, ops, dst->dtype == PT_F32 ? axpy_f32 : axpy_f64, &alpha);
  pt_tensor_free(se);
  return PT_OK;
}

typedef struct {
  double alpha, beta;
} affine_ctx;

#define AFFINE_LOOP(NAME, T)                                                  \
  static void NAME(int64_t n, void **p, const int64_t *s, void *ctx) {        \
    const affine_ctx *c = ctx;                                                \
    T al = (T)c->alpha, be = (T)c->beta;                                      \
    T *o = p[0];                                                              \
    const T *x = p[1];                                                        \
    if (s[0] == 1 && s[1] == 1)                                               \
      for (int64_t i = 0; i < n; i++) o[i] = al * x[i] + be;                  \
    else                                                                      \
      for (int64_t i = 0; i < n; i++) o[i * s[0]] = al * x[i * s[1]] + be;    \
  }
AFFINE_LOOP(affine_f32, float)
AFFINE_LOOP(affine_f64, double)

pt_tensor *pt_raw_affine(const pt_tensor *x, double alpha, double beta) {
  if (!pt_dtype_is_float(x->dtype)) {
    pt_error(PT_ERR_DTYPE, "affine: needs F32 or F64, got %s", pt_dtype_name(x->dtype));
    return NULL;
  }
  pt_tensor *out = pt_empty_like(x);
  if (!out) return NULL;
  affine_ctx c = {alpha, beta};
  pt_tensor *ops[2] = {out, (pt_tensor *)x};
  pt_iter_run(2, ops, x->dtype == PT_F32 ? affine_f32 : affine_f64, &c);
  return out;
}
