/* Unary elementwise kernels behind pt_unary.h: one forward and one
 * derivative loop per (kind, dtype), generated from per-kind inline
 * functions. <tgmath.h> picks expf/erff/... for float and exp/erf/... for
 * double, so F32 stays in float like PyTorch's CPU kernels. */
#include "tensor/pt_unary.h"

#include <tgmath.h>

#include "tensor/pt_iter.h"

/* f(x, q) and g·f'(v, q) for each kind; v is y or x as
 * pt_unary_grad_uses_output says, q the pow exponent. */
#define UNARY_FUNCS(T, S)                                                                     \
  static inline T f_exp_##S(T x, T q) { (void)q; return exp(x); }                            \
  static inline T d_exp_##S(T g, T y, T q) { (void)q; return g * y; }                         \
  static inline T f_log_##S(T x, T q) { (void)q; return log(x); }                             \
  static inline T d_log_##S(T g, T x, T q) { (void)q; return g / x; }                         \
  static inline T f_sqrt_##S(T x, T q) { (void)q; return sqrt(x); }                           \
  static inline T d_sqrt_##S(T g, T y, T q) { (void)q; return g / ((T)2 * y); }              \
  static inline T f_rsqrt_##S(T x, T q) { (void)q; return (T)1 / sqrt(x); }                   \
  static inline T d_rsqrt_##S(T g, T y, T q) { (void)q; return (T)-0.5 * g * y * y * y; }     \
  static inline T f_tanh_##S(T x, T q) { (void)q; return tanh(x); }                           \
  static inline T d_tanh_##S(T g, T y, T q) { (void)q; return g * ((T)1 - y * y); }          \
  static inline T f_sigmoid_##S(T x, T q) { (void)q; return (T)1 / ((T)1 + exp(-x)); }        \
  static inline T d_sigmoid_##S(T g, T y, T q) { (void)q; return g * y * ((T)1 - y); }       \
  /* x < 0 ? 0 : x keeps NaN as NaN (as torch.relu does) */                                  \
  static inline T f_relu_##S(T x, T q) { (void)q; return x < 0 ? (T)0 : x; }                  \
  static inline T d_relu_##S(T g, T y, T q) { (void)q; return y > 0 ? g : (T)0; }            \
  /* gelu = x·Φ(x), so gelu' = Φ(x) + x·φ(x) with φ(x) = exp(−x²/2)/√(2π) */                 \
  static inline T f_gelu_##S(T x, T q) {                                                      \
    (void)q;                                                                                  \
    return x * (T)0.5 * ((T)1 + erf(x * (T)M_SQRT1_2));                                       \
  }                                                                                           \
  static inline T d_gelu_##S(T g, T x, T q) {                                                 \
    (void)q;                                                                                  \
    T cdf = (T)0.5 * ((T)1 + erf(x * (T)M_SQRT1_2));                                          \
    T pdf = exp((T)-0.5 * x * x) * (T)(0.5 * M_2_SQRTPI * M_SQRT1_2);                         \
    return g * (cdf + x * pdf);                                                               \
  }                                                                                           \
  /* u = k(x + c·x³), gelu_tanh = ½x(1 + tanh u), so its derivative is                      \
   * ½(1 + t) + ½x(1 − t²)·k(1 + 3c·x²) with t = tanh u */                                   \
  static inline T f_gelu_tanh_##S(T x, T q) {                                                 \
    (void)q;                                                                                  \
    T u = (T)(M_SQRT2 * M_2_SQRTPI * 0.5) * (x + (T)0.044715 * x * x * x);                    \
    return (T)0.5 * x * ((T)1 + tanh(u));                                                     \
  }                                                                                           \
  static inline T d_gelu_tanh_##S(T g, T x, T q) {                                            \
    (void)q;                                                                                  \
    const T k = (T)(M_SQRT2 * M_2_SQRTPI * 0.5), c = (T)0.044715;                             \
    T t = tanh(k * (x + c * x * x * x));                                                      \
    T du = k * ((T)1 + (T)3 * c * x * x);                                                     \
    return g * ((T)0.5 * ((T)1 + t) + (T)0.5 * x * ((T)1 - t * t) * du);                      \
  }                                                                                           \
  /* (x^q)' = q·x^(q−1); q = 0 gives 0 everywhere (also at x = 0) */                          \
  static inline T f_pow_##S(T x, T q) { return q == (T)2 ? x * x : pow(x, q); }               \
  static inline T d_pow_##S(T g, T x, T q) {                                                  \
    return q == 0 ? (T)0 : g * q * (q == (T)2 ? x : pow(x, q - (T)1));                         \
  }
UNARY_FUNCS(float, f32)
UNARY_FUNCS(double, f64)

/* Forward loop: ptrs {y, x}. Unit steps (contiguous runs) get their own
 * loop so gcc vectorizes what it can (relu, pow 2, the arithmetic around
 * the libm calls). */
#define FWD_LOOP(K, T, S)                                                          \
  static void fwd_##K##_##S(int64_t n, void **p, const int64_t *s, void *ctx) {    \
    const T q = (T)(*(const double *)ctx);                                         \
    T *y = p[0];                                                                   \
    const T *x = p[1];                                                             \
    if (s[0] == 1 && s[1] == 1)                                                    \
      for (int64_t i = 0; i < n; i++) y[i] = f_##K##_##S(x[i], q);                 \
    else                                                                           \
      for (int64_t i = 0; i < n; i++) y[i * s[0]] = f_##K##_##S(x[i * s[1]], q);   \
  }
/* Derivative loop: ptrs {dx, g, saved}. */
#define BWD_LOOP(K, T, S)                                                                  \
  static void bwd_##K##_##S(int64_t n, void **p, const int64_t *s, void *ctx) {            \
    const T q = (T)(*(const double *)ctx);                                                 \
    T *dx = p[0];                                                                          \
    const T *g = p[1], *v = p[2];                                                          \
    if (s[0] == 1 && s[1] == 1 && s[2] == 1)                                               \
      for (int64_t i = 0; i < n; i++) dx[i] = d_##K##_##S(g[i], v[i], q);                  \
    else                                                                                   \
      for (int64_t i = 0; i < n; i++) dx[i * s[0]] = d_##K##_##S(g[i * s[1]], v[i * s[2]], q); \
  }
#define LOOPS(K) FWD_LOOP(K, float, f32) FWD_LOOP(K, double, f64) BWD_LOOP(K, float, f32) BWD_LOOP(K, double, f64)
LOOPS(exp)
LOOPS(log)
LOOPS(sqrt)
LOOPS(rsqrt)
LOOPS(tanh)
LOOPS(sigmoid)
LOOPS(relu)
LOOPS(gelu)
LOOPS(gelu_tanh)
LOOPS(pow)

typedef struct {
  const char *name;
  bool uses_output;
  pt_iter_fn fwd[2], bwd[2]; /* [F32, F64] */
} unary_info;

#define INFO(K, OUT) {#K, OUT, {fwd_##K##_f32, fwd_##K##_f64}, {bwd_##K##_f32, bwd_##K##_f64}}
static const unary_info infos[PT_UN_COUNT] = {
    [PT_UN_EXP] = INFO(exp, true),        [PT_UN_LOG] = INFO(log, false),
    [PT_UN_SQRT] = INFO(sqrt, true),      [PT_UN_RSQRT] = INFO(rsqrt, true),
    [PT_UN_TANH] = INFO(tanh, true),      [PT_UN_SIGMOID] = INFO(sigmoid, true),
    [PT_UN_RELU] = INFO(relu, true),      [PT_UN_GELU] = INFO(gelu, false),
    [PT_UN_GELU_TANH] = INFO(gelu_tanh, false), [PT_UN_POW] = INFO(pow, false),
};

const char *pt_unary_name(pt_unary_kind kind) {
  return (unsigned)kind < PT_UN_COUNT ? infos[kind].name : "unary";
}

bool pt_unary_grad_uses_output(pt_unary_kind kind) {
  return (unsigned)kind < PT_UN_COUNT && infos[kind].uses_output;
}

pt_tensor *pt_raw_unary(pt_unary_kind kind, const pt_tensor *x, double param, const char *op) {
  if (!op) op = pt_unary_name(kind);
  if ((unsigned)kind >= PT_UN_COUNT) {
    pt_error(PT_ERR_ARG, "%s: unknown unary kind %d", op, (int)kind);
    return NULL;
  }
  if (!pt_dtype_is_float(x->dtype)) {
    pt_error(PT_ERR_DTYPE, "%s: needs F32 or F64, got %s", op, pt_dtype_name(x->dtype));
    return NULL;
  }
  pt_tensor *y = pt_empty_like(x);
  if (!y) return NULL;
  pt_tensor *ops[2] = {y, (pt_tensor *)x};
  pt_iter_run(2, ops, infos[kind].fwd[x->dtype == PT_F64], &param);
  return y;
}

pt_tensor *pt_raw_unary_backward(pt_unary_kind kind, const pt_tensor *g, const pt_tensor *saved,
                                 double param) {
  const char *op = pt_unary_name(kind);
  if ((unsigned)kind >= PT_UN_COUNT) {
    pt_error(PT_ERR_ARG, "%s backward: unknown unary kind %d", op, (int)kind);
    return NULL;
  }
  if (g->dtype != saved->dtype || !pt_dtype_is_float(g->dtype)) {
    pt_error(PT_ERR_DTYPE, "%s backward: dtypes %s and %s (need matching F32 or F64)", op,
             pt_dtype_name(g->dtype), pt_dtype_name(saved->dtype));
    return NULL;
  }
  if (!pt_same_shape(g, saved)) {
    char a[96], b[96];
    pt_error(PT_ERR_SHAPE, "%s backward: gradient of shape %s for a tensor of shape %s", op,
             pt_shape_str(g, a, sizeof a), pt_shape_str(saved, b, sizeof b));
    return NULL;
  }
  pt_tensor *dx = pt_empty(g->dtype, g->ndim, g->shape);
  if (!dx) return NULL;
  pt_tensor *ops[3] = {dx, (pt_tensor *)g, (pt_tensor *)saved};
  pt_iter_run(3, ops, infos[kind].bwd[g->dtype == PT_F64], &param);
  return dx;
}
