/* where: one loop per (cond dtype, value dtype), all over pt_iter_run. */
#include "tensor/pt_where.h"

#include "tensor/pt_iter.h"

/* Layout: ptrs {out, cond, a, b}, all of the broadcast shape; C is how cond
 * is stored, TRUE(c) its truth test. */
#define WHERE_LOOP(NAME, T, C, TRUE)                                                   \
  static void NAME(int64_t n, void **p, const int64_t *s, void *ctx) {                \
    (void)ctx;                                                                         \
    T *o = p[0];                                                                       \
    const C *c = p[1];                                                                 \
    const T *a = p[2], *b = p[3];                                                      \
    if (s[0] == 1 && s[1] == 1 && s[2] == 1 && s[3] == 1)                              \
      for (int64_t i = 0; i < n; i++) o[i] = TRUE(c[i]) ? a[i] : b[i];                 \
    else                                                                               \
      for (int64_t i = 0; i < n; i++)                                                  \
        o[i * s[0]] = TRUE(c[i * s[1]]) ? a[i * s[2]] : b[i * s[3]];                   \
  }
#define NONZERO(v) ((v) != 0)
#define HALF_NONZERO(v) (((v)&0x7fffu) != 0) /* F16 and BF16: any bit but the sign */
#define WHERE_LOOPS(T, S)                                       \
  WHERE_LOOP(where_f32_##S, T, float, NONZERO)                  \
  WHERE_LOOP(where_f64_##S, T, double, NONZERO)                 \
  WHERE_LOOP(where_i32_##S, T, int32_t, NONZERO)                \
  WHERE_LOOP(where_i64_##S, T, int64_t, NONZERO)                \
  WHERE_LOOP(where_half_##S, T, uint16_t, HALF_NONZERO)
WHERE_LOOPS(float, vf32)
WHERE_LOOPS(double, vf64)

static pt_iter_fn where_loop(pt_dtype cond, pt_dtype val) {
  bool f64 = val == PT_F64;
  switch (cond) {
    case PT_F32: return f64 ? where_f32_vf64 : where_f32_vf32;
    case PT_F64: return f64 ? where_f64_vf64 : where_f64_vf32;
    case PT_I32: return f64 ? where_i32_vf64 : where_i32_vf32;
    case PT_I64: return f64 ? where_i64_vf64 : where_i64_vf32;
    default: return f64 ? where_half_vf64 : where_half_vf32;
  }
}

pt_tensor *pt_raw_where(const pt_tensor *cond, const pt_tensor *a, const pt_tensor *b,
                        const char *op) {
  if (!op) op = "where";
  if (a->dtype != b->dtype || !pt_dtype_is_float(a->dtype)) {
    pt_error(PT_ERR_DTYPE, "%s: values of dtypes %s and %s (need matching F32 or F64)", op,
             pt_dtype_name(a->dtype), pt_dtype_name(b->dtype));
    return NULL;
  }
  if ((unsigned)cond->dtype >= PT_DTYPE_COUNT) {
    pt_error(PT_ERR_DTYPE, "%s: condition has an unknown dtype", op);
    return NULL;
  }
  int nab, nd;
  int64_t sab[PT_MAX_DIMS], shape[PT_MAX_DIMS];
  if (pt_broadcast_shape(op, a->ndim, a->shape, b->ndim, b->shape, &nab, sab) != PT_OK ||
      pt_broadcast_shape(op, cond->ndim, cond->shape, nab, sab, &nd, shape) != PT_OK)
    return NULL;
  pt_tensor *out = pt_empty(a->dtype, nd, shape);
  pt_tensor *ce = pt_raw_expand(cond, nd, shape);
  pt_tensor *ae = pt_raw_expand(a, nd, shape);
  pt_tensor *be = pt_raw_expand(b, nd, shape);
  if (out && ce && ae && be) {
    pt_tensor *ops[4] = {out, ce, ae, be};
    pt_iter_run(4, ops, where_loop(cond->dtype, a->dtype), NULL);
  } else {
    pt_tensor_free(out);
    out = NULL;
  }
  pt_tensor_free(ce);
  pt_tensor_free(ae);
  pt_tensor_free(be);
  return out;
}
