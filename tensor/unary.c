/* Unary elementwise kernels behind pt_unary.h: one forward and one
 * derivative loop per (kind, dtype), generated from per-kind inline
 * functions. <tgmath.h> picks expf/logf/... for float and exp/log/... for
 * double, so F32 stays in float like PyTorch's CPU kernels; the hot F32
 * activations (GELU, sigmoid) are written over pt_expf instead so that
 * their loops vectorize. */
#include "tensor/pt_unary.h"

#include <omp.h>
#include <tgmath.h>

#include "tensor/pt_iter.h"
#include "tensor/pt_vmath.h"

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
  /* x < 0 ? 0 : x keeps NaN as NaN (as torch.relu does) */                                  \
  static inline T f_relu_##S(T x, T q) { (void)q; return x < 0 ? (T)0 : x; }                  \
  static inline T d_relu_##S(T g, T y, T q) { (void)q; return y > 0 ? g : (T)0; }            \
  /* (x^q)' = q·x^(q−1); q = 0 gives 0 everywhere (also at x = 0) */                          \
  static inline T f_pow_##S(T x, T q) { return q == (T)2 ? x * x : pow(x, q); }               \
  static inline T d_pow_##S(T g, T x, T q) {                                                  \
    return q == 0 ? (T)0 : g * q * (q == (T)2 ? x : pow(x, q - (T)1));                         \
  }
UNARY_FUNCS(float, f32)
UNARY_FUNCS(double, f64)

/* sigmoid and the GELUs in double: libm, straight from the definitions. */
static inline double f_sigmoid_f64(double x, double q) { (void)q; return 1.0 / (1.0 + exp(-x)); }
static inline double d_sigmoid_f64(double g, double y, double q) { (void)q; return g * y * (1.0 - y); }
/* gelu = x·Φ(x) with Φ the normal cdf, so gelu' = Φ(x) + x·φ(x) with
 * φ(x) = exp(−x²/2)/√(2π). Φ = ½erfc(−x/√2) avoids the cancellation in
 * ½(1 + erf(x/√2)) for x < 0. */
static inline double f_gelu_f64(double x, double q) { (void)q; return x * 0.5 * erfc(-x * M_SQRT1_2); }
static inline double d_gelu_f64(double g, double x, double q) {
  (void)q;
  double cdf = 0.5 * erfc(-x * M_SQRT1_2);
  double pdf = exp(-0.5 * x * x) * (0.5 * M_2_SQRTPI * M_SQRT1_2);
  return g * (cdf + x * pdf);
}
/* u = k(x + c·x³) with k = √(2/π), c = 0.044715; gelu_tanh = ½x(1 + tanh u),
 * so its derivative is ½(1 + t) + ½x(1 − t²)·k(1 + 3c·x²) with t = tanh u. */
static const double gelu_k = M_SQRT2 * M_2_SQRTPI * 0.5, gelu_c = 0.044715;
static inline double f_gelu_tanh_f64(double x, double q) {
  (void)q;
  return 0.5 * x * (1.0 + tanh(gelu_k * (x + gelu_c * x * x * x)));
}
static inline double d_gelu_tanh_f64(double g, double x, double q) {
  (void)q;
  double t = tanh(gelu_k * (x + gelu_c * x * x * x));
  double du = gelu_k * (1.0 + 3.0 * gelu_c * x * x);
  return g * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du);
}

/* sigmoid and the GELUs in float, written so their loops vectorize: the
 * only transcendental is pt_expf (plain arithmetic, inlined), where libm's
 * erff/tanhf/expf are scalar calls.
 *
 * Φ(x) = ½·erfc(−x/√2) with the erfc of Numerical Recipes (§6.2, Chebyshev
 * fit, fractional error < 1.2e−7 over the whole line): erfc(z) =
 * t·exp(−z² + P(t)), t = 1/(1 + z/2), for z = |x|/√2 ≥ 0, and
 * erfc(−z) = 2 − erfc(z). Because Φ is relatively accurate in the negative
 * tail, gelu(x) = x·Φ(x) is too: within 5 float ulp of the exact value for
 * x ≥ −1, 25 ulp down to −4 and 62 ulp down to −6, where 0.5·x·(1 + erff)
 * (PyTorch's formula) loses everything to cancellation (4,000 ulp at −4,
 * 10^7 at −6); |error| ≤ 4e−7 everywhere (swept at 1/4096 steps over
 * [−12, 12]). z² enters the exponent with its rounding error (an FMA) so
 * the tail keeps its accuracy. */
static inline float half_erfc_f32(float z) {
  float t = 1.0f / (1.0f + 0.5f * z);
  float p = 0.17087277f;
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t - 1.26551223f;
  float zz = z * z, zz_lo = fmaf(z, z, -zz);
  return 0.5f * t * pt_expf(p - zz - zz_lo);
}
static inline float phi_f32(float x) {
  float h = half_erfc_f32(fabsf(x) * (float)M_SQRT1_2);
  return x > 0 ? 1.0f - h : h;
}
static inline float f_gelu_f32(float x, float q) { (void)q; return x * phi_f32(x); }
static inline float d_gelu_f32(float g, float x, float q) {
  (void)q;
  float pdf = pt_expf(-0.5f * x * x) * (float)(0.5 * M_2_SQRTPI * M_SQRT1_2);
  return g * (phi_f32(x) + x * pdf);
}
/* ½(1 + tanh u) = σ(2u), so gelu_tanh = x·σ(2u) (no cancellation for
 * x < 0) and its derivative is σ + 2x·σ(1 − σ)·u' with u' = k(1 + 3c·x²). */
static inline float sigmoid2u_f32(float x) {
  const float k = (float)(M_SQRT2 * M_2_SQRTPI * 0.5), c = 0.044715f;
  return 1.0f / (1.0f + pt_expf(-2.0f * k * (x + c * x * x * x)));
}
static inline float f_gelu_tanh_f32(float x, float q) { (void)q; return x * sigmoid2u_f32(x); }
static inline float d_gelu_tanh_f32(float g, float x, float q) {
  (void)q;
  const float k = (float)(M_SQRT2 * M_2_SQRTPI * 0.5), c = 0.044715f;
  float sg = sigmoid2u_f32(x);
  return g * (sg + 2.0f * x * sg * (1.0f - sg) * k * (1.0f + 3.0f * c * x * x));
}
static inline float f_sigmoid_f32(float x, float q) { (void)q; return 1.0f / (1.0f + pt_expf(-x)); }
static inline float d_sigmoid_f32(float g, float y, float q) { (void)q; return g * y * (1.0f - y); }

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

void pt_gelu_rows(pt_dtype dt, void *x, int64_t rows, int64_t cols, int64_t ld) {
#pragma omp parallel for schedule(static) if (rows * cols >= 65536 && rows > 1 && !omp_in_parallel())
  for (int64_t r = 0; r < rows; r++) {
    if (dt == PT_F64) {
      double *row = (double *)x + r * ld;
      for (int64_t c = 0; c < cols; c++) row[c] = f_gelu_f64(row[c], 0.0);
    } else {
      float *row = (float *)x + r * ld;
      for (int64_t c = 0; c < cols; c++) row[c] = f_gelu_f32(row[c], 0.0f);
    }
  }
}
