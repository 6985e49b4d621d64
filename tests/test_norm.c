/* softmax, log_softmax, layer_norm, cross_entropy, max, var: values against
 * PyTorch, numerical stability, normalization properties, gradients that
 * per-operand skipping must leave out, and error messages.
 *
 * Reference numbers marked "torch 1.13" were produced with Debian's
 * /usr/bin/python3 and python3-torch 1.13 (torch.nn.functional.softmax /
 * log_softmax / layer_norm / cross_entropy, torch.var, torch.max) on the
 * inputs written next to them, printed with repr() (17 significant digits)
 * for F64 or "%.9g" for F32. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "ptune.h"
#include "tensor/pt_softmax.h"
#include "tensor/pt_vmath.h"

#define ASSERT_CLOSE(a, b, tol) ck_assert_double_eq_tol((a), (b), (tol))

static pt_tensor *from_f64(pt_dtype dt, int ndim, const int64_t *shape, const double *v) {
  pt_tensor *t = pt_from_buffer(PT_F64, ndim, shape, v);
  if (dt == PT_F64) return t;
  pt_tensor *c = pt_to_dtype(t, dt);
  pt_tensor_free(t);
  return c;
}

/* x[r, j] = 3·sin(0.37·(r·H + j)) + r, as float32 (the torch script builds
 * the same values in double and converts them). */
static pt_tensor *sin_pattern(int64_t R, int64_t H, double scale) {
  pt_tensor *x = pt_empty(PT_F32, PT_DIMS(R, H));
  for (int64_t r = 0; r < R; r++)
    for (int64_t j = 0; j < H; j++) {
      float v = (float)(sin(0.37 * (double)(r * H + j)) * 3.0 + (double)r);
      pt_set(x, r * H + j, (double)(float)(v * (float)scale));
    }
  return x;
}

/* ---- softmax / log_softmax ---- */

START_TEST(softmax_matches_torch) {
  /* torch 1.13: F.softmax(x, -1) and F.log_softmax(x, 0) of
   * x = [[1, 2, 3, 4], [-1, 0.5, 0, 2]] in float64 */
  static const double x[] = {1, 2, 3, 4, -1, 0.5, 0, 2};
  static const double sm_last[] = {0.03205860328008499, 0.08714431874203257,
                                   0.23688281808991016, 0.6439142598879724,
                                   0.035353793408748876, 0.15844470951497974,
                                   0.09610157419009724, 0.7100999228861743};
  static const double lsm_first[] = {-0.1269280110429726, -0.20141327798275246,
                                     -0.048587351573741965, -0.1269280110429726,
                                     -2.1269280110429727, -1.7014132779827524,
                                     -3.048587351573742, -2.1269280110429727};
  for (int f32 = 0; f32 <= 1; f32++) {
    pt_dtype dt = f32 ? PT_F32 : PT_F64;
    double tol = f32 ? 1e-6 : 1e-14;
    pt_tensor *t = from_f64(dt, PT_DIMS(2, 4), x);
    pt_tensor *s = pt_softmax(t, -1);
    pt_tensor *l = pt_log_softmax(t, 0);
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(s->dtype, dt);
    for (int i = 0; i < 8; i++) {
      ASSERT_CLOSE(pt_get(s, i), sm_last[i], tol);
      ASSERT_CLOSE(pt_get(l, i), lsm_first[i], tol);
    }
    pt_tensor_free(t);
    pt_tensor_free(s);
    pt_tensor_free(l);
  }
}
END_TEST

/* Rows of huge logits (±1000 and an offset of 1000) sum to 1 and stay
 * finite; a row big enough for the OpenMP path agrees with F64. */
START_TEST(softmax_rows_sum_to_one_and_are_stable) {
  pt_rng rng;
  pt_rng_init(&rng, 7);
  pt_tensor *x = pt_rand_uniform(&rng, PT_F32, PT_DIMS(64, 1000), -1000.0, 1000.0);
  for (int64_t i = 0; i < 1000; i++) pt_set(x, i, 1000.0); /* row 0: all equal, large */
  pt_tensor *s = pt_softmax(x, -1);
  pt_tensor *x64 = pt_to_dtype(x, PT_F64);
  pt_tensor *s64 = pt_softmax(x64, 1);
  for (int64_t r = 0; r < 64; r++) {
    double sum = 0;
    for (int64_t j = 0; j < 1000; j++) {
      double v = pt_get(s, r * 1000 + j);
      ck_assert(isfinite(v) && v >= 0 && v <= 1);
      ASSERT_CLOSE(v, pt_get(s64, r * 1000 + j), 1e-6);
      sum += v;
    }
    ASSERT_CLOSE(sum, 1.0, 1e-5);
  }
  ASSERT_CLOSE(pt_get(s, 17), 1e-3, 1e-9); /* uniform row */
  /* over dim 0 (the strided kernel: 1000 columns = 3 full blocks + a partial
   * one), forward and the log_softmax backward, F32 against F64 */
  pt_tensor *c32 = pt_softmax(x, 0), *c64 = pt_softmax(x64, 0);
  pt_tensor *l32 = pt_raw_softmax(x, 0, true, NULL), *l64 = pt_raw_softmax(x64, 0, true, NULL);
  pt_tensor *g32 = pt_rand_uniform(&rng, PT_F32, PT_DIMS(64, 1000), -1.0, 1.0);
  pt_tensor *g64 = pt_to_dtype(g32, PT_F64);
  pt_tensor *d32 = pt_raw_softmax_backward(l32, g32, 0, true);
  pt_tensor *d64 = pt_raw_softmax_backward(l64, g64, 0, true);
  for (int64_t i = 0; i < 64 * 1000; i += 7) {
    ASSERT_CLOSE(pt_get(c32, i), pt_get(c64, i), 1e-6);
    ASSERT_CLOSE(pt_get(d32, i), pt_get(d64, i), 2e-5);
  }
  pt_tensor *more[] = {c32, c64, l32, l64, g32, g64, d32, d64};
  for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) pt_tensor_free(more[i]);
  pt_tensor_free(x);
  pt_tensor_free(s);
  pt_tensor_free(x64);
  pt_tensor_free(s64);
}
END_TEST

START_TEST(log_softmax_of_large_inputs_is_finite) {
  static const double x[] = {1000, 0, -1000, 1000};
  pt_tensor *t = from_f64(PT_F32, PT_DIMS(4), x);
  pt_tensor *l = pt_log_softmax(t, 0);
  /* log(2) shared by the two maxima */
  ASSERT_CLOSE(pt_get(l, 0), -log(2.0), 1e-6);
  ASSERT_CLOSE(pt_get(l, 1), -1000 - log(2.0), 1e-3);
  ASSERT_CLOSE(pt_get(l, 2), -2000 - log(2.0), 1e-3);
  pt_tensor_free(t);
  pt_tensor_free(l);
  /* torch 1.13: F.log_softmax(x*300, -1)[2] with x the sin pattern [3,16] float32 */
  static const double want[] = {-1495.06628, -1211.30933, -885.055603, -560.462036,
                                -281.460815, -85.8134766, 0,           -35.6347656,
                                -187.894775, -436.172485, -746.864441, -1077.92017,
                                -1384.53271, -1625.20361, -1767.35901, -1791.75891};
  pt_tensor *p = sin_pattern(3, 16, 300.0);
  pt_tensor *lp = pt_log_softmax(p, -1);
  for (int j = 0; j < 16; j++) {
    double v = pt_get(lp, 32 + j);
    ck_assert(isfinite(v));
    ASSERT_CLOSE(v, want[j], 1e-6 * fabs(want[j]) + 2e-4);
  }
  pt_tensor_free(p);
  pt_tensor_free(lp);
}
END_TEST

/* Softmax over a middle dim of a strided (permuted) view equals softmax of
 * a contiguous copy with that dim moved last; forward and backward. */
START_TEST(softmax_middle_dim_of_strided_view) {
  pt_rng rng;
  pt_rng_init(&rng, 3);
  pt_tensor *base = pt_randn(&rng, PT_F64, PT_DIMS(3, 6, 5));
  pt_tensor *v = pt_raw_transpose(base, 1, 2); /* [3,5,6], not contiguous */
  ck_assert(!pt_is_contiguous(v));
  pt_set_requires_grad(base, true);
  pt_tensor *vt = pt_transpose(base, 1, 2);
  pt_tensor *s = pt_softmax(vt, 1); /* over the 5 */
  /* reference: base [3,6,5] softmax over its last dim is the same numbers */
  pt_tensor *ref = pt_softmax(base, -1);
  for (int64_t a = 0; a < 3; a++)
    for (int64_t i = 0; i < 5; i++)
      for (int64_t j = 0; j < 6; j++)
        ASSERT_CLOSE(pt_get(s, (a * 5 + i) * 6 + j), pt_get(ref, (a * 6 + j) * 5 + i), 1e-14);
  /* Σ softmax · w has a gradient that sums to 0 along the softmax dim */
  pt_tensor *w = pt_randn(&rng, PT_F64, PT_DIMS(3, 5, 6));
  pt_tensor *p = pt_mul(s, w);
  pt_tensor *l = pt_sum(p, 0, NULL, false);
  ck_assert_int_eq(pt_backward(l, NULL, false), PT_OK);
  for (int64_t a = 0; a < 3; a++)
    for (int64_t j = 0; j < 6; j++) {
      double sum = 0;
      for (int64_t i = 0; i < 5; i++) sum += pt_get(base->grad, (a * 6 + j) * 5 + i);
      ASSERT_CLOSE(sum, 0.0, 1e-12);
    }
  pt_tensor *objs[] = {base, v, vt, s, ref, w, p, l};
  for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) pt_tensor_free(objs[i]);
  ck_assert_int_eq(pt_live_nodes(), 0);
}
END_TEST

/* pt_expf (the vectorizable exp the F32 kernels use) stays within 2 ulp of
 * the correctly rounded exp over the float range, and handles ±inf/NaN. */
START_TEST(vectorized_exp_is_accurate) {
  int64_t worst = 0;
  for (float x = -87.0f; x < 88.5f; x += 0.0137f) {
    float ref = (float)exp((double)x), got = pt_expf(x);
    int32_t a, b;
    memcpy(&a, &ref, 4);
    memcpy(&b, &got, 4);
    int64_t ulp = a > b ? (int64_t)a - b : (int64_t)b - a;
    if (ulp > worst) worst = ulp;
  }
  ck_assert_int_le(worst, 2);
  ck_assert_double_eq(pt_expf(0.0f), 1.0);
  ck_assert_double_eq(pt_expf(-INFINITY), 0.0);
  ck_assert(isinf(pt_expf(INFINITY)) && pt_expf(INFINITY) > 0);
  ck_assert(isnan(pt_expf(NAN)));
  ck_assert(pt_expf(-100.0f) >= 0.0f && pt_expf(-100.0f) < 1e-43f);
}
END_TEST

/* Masked logits (-inf, as attention masks use) get probability 0; a row
 * that is all -inf is NaN, as in PyTorch. */
START_TEST(softmax_masked_rows) {
  static const double x[] = {0, -INFINITY, 1, -INFINITY, -INFINITY, -INFINITY};
  pt_tensor *t = from_f64(PT_F32, PT_DIMS(2, 3), x);
  pt_tensor *s = pt_softmax(t, -1);
  ck_assert_double_eq(pt_get(s, 1), 0.0);
  ASSERT_CLOSE(pt_get(s, 0), 1.0 / (1.0 + exp(1.0)), 1e-7);
  ASSERT_CLOSE(pt_get(s, 2), exp(1.0) / (1.0 + exp(1.0)), 1e-7);
  for (int i = 3; i < 6; i++) ck_assert(isnan(pt_get(s, i)));
  pt_tensor_free(t);
  pt_tensor_free(s);
}
END_TEST

START_TEST(softmax_errors) {
  pt_tensor *x = pt_zeros(PT_F32, PT_DIMS(2, 3));
  ck_assert_ptr_null(pt_softmax(x, 3));
  ck_assert(strstr(pt_error_message(), "softmax") != NULL);
  ck_assert(strstr(pt_error_message(), "[2,3]") != NULL);
  ck_assert_ptr_null(pt_log_softmax(x, -3));
  ck_assert(strstr(pt_error_message(), "log_softmax") != NULL);
  pt_tensor *i = pt_zeros(PT_I64, PT_DIMS(2, 3));
  ck_assert_ptr_null(pt_softmax(i, 0));
  ck_assert(strstr(pt_error_message(), "I64") != NULL);
  pt_error_clear();
  ck_assert_ptr_null(pt_softmax(NULL, 0));
  ck_assert_str_eq(pt_error_message(), ""); /* a NULL input leaves the message alone */
  pt_tensor_free(x);
  pt_tensor_free(i);
}
END_TEST

/* ---- layer_norm ---- */

START_TEST(layer_norm_matches_torch) {
  /* torch 1.13: F.layer_norm(x, (4,), w, b, 1e-5) in float64 */
  static const double x[] = {1, 2, 4, 7, 0.5, -0.5, 3, 1};
  static const double w[] = {1, 0.5, -2, 3}, b[] = {0, 1, 0.5, -1};
  static const double want[] = {-1.0910884120486357, 0.6726734763854092, 0.06356463518054589,
                                3.5825713306042695,  -0.39223106341341424, 0.41165340487987867,
                                -2.637848507307314,  -1.0};
  pt_tensor *tx = from_f64(PT_F64, PT_DIMS(2, 4), x);
  pt_tensor *tw = from_f64(PT_F64, PT_DIMS(4), w);
  pt_tensor *tb = from_f64(PT_F64, PT_DIMS(4), b);
  pt_tensor *y = pt_layer_norm(tx, tw, tb, 1e-5);
  for (int i = 0; i < 8; i++) ASSERT_CLOSE(pt_get(y, i), want[i], 1e-14);
  pt_tensor_free(tx);
  pt_tensor_free(tw);
  pt_tensor_free(tb);
  pt_tensor_free(y);
  /* torch 1.13, float32: F.layer_norm(x, (16,), w, b, 1e-12)[1] with x the
   * sin pattern [3,16], w[j] = 0.5 + 0.1j, b[j] = 0.01j − 0.05 */
  static const double want32[] = {-0.329645425, -0.0688809082, 0.293203354, 0.701011598,
                                  1.07990992,   1.34903598,    1.43632412,  1.29316056,
                                  0.906020641,  0.302830279,   -0.447424412, -1.24224436,
                                  -1.95954192,  -2.47605181,   -2.68748116, -2.5272007};
  pt_tensor *p = sin_pattern(3, 16, 1.0);
  pt_tensor *pw = pt_empty(PT_F32, PT_DIMS(16)), *pb = pt_empty(PT_F32, PT_DIMS(16));
  for (int j = 0; j < 16; j++) {
    pt_set(pw, j, (float)(0.5 + 0.1 * j));
    pt_set(pb, j, (float)(0.01 * j - 0.05));
  }
  pt_tensor *py = pt_layer_norm(p, pw, pb, 1e-12);
  for (int j = 0; j < 16; j++) ASSERT_CLOSE(pt_get(py, 16 + j), want32[j], 1e-6);
  pt_tensor_free(p);
  pt_tensor_free(pw);
  pt_tensor_free(pb);
  pt_tensor_free(py);
}
END_TEST

/* Before the affine map every row has mean 0 and (biased) variance 1, even
 * for rows far from 0; F32 agrees with F64 on a size that runs in parallel,
 * backward included (dx, dweight, dbias). */
START_TEST(layer_norm_normalizes_rows) {
  pt_rng rng;
  pt_rng_init(&rng, 11);
  int64_t R = 96, H = 768;
  pt_tensor *x = pt_randn(&rng, PT_F32, PT_DIMS(R, H));
  for (int64_t i = 0; i < R * H; i++) pt_set(x, i, 100.0 + 10.0 * pt_get(x, i) + (double)(i / H));
  pt_tensor *y = pt_layer_norm(x, NULL, NULL, 1e-5);
  for (int64_t r = 0; r < R; r++) {
    double s = 0, s2 = 0;
    for (int64_t j = 0; j < H; j++) s += pt_get(y, r * H + j);
    double mean = s / (double)H;
    for (int64_t j = 0; j < H; j++) s2 += pow(pt_get(y, r * H + j) - mean, 2);
    ASSERT_CLOSE(mean, 0.0, 1e-5);
    ASSERT_CLOSE(s2 / (double)H, 1.0, 1e-4); /* eps/var ≈ 1e-7 */
  }
  /* F32 vs F64, forward and backward with weight and bias trainable */
  pt_tensor *w = pt_randn(&rng, PT_F32, PT_DIMS(H)), *b = pt_randn(&rng, PT_F32, PT_DIMS(H));
  pt_tensor *g = pt_randn(&rng, PT_F32, PT_DIMS(R, H));
  pt_tensor *t32[3] = {x, w, b}, *t64[3];
  for (int i = 0; i < 3; i++) {
    t64[i] = pt_to_dtype(t32[i], PT_F64);
    pt_set_requires_grad(t32[i], true);
    pt_set_requires_grad(t64[i], true);
  }
  pt_tensor *g64 = pt_to_dtype(g, PT_F64);
  pt_tensor *y32 = pt_layer_norm(x, w, b, 1e-5), *y64 = pt_layer_norm(t64[0], t64[1], t64[2], 1e-5);
  ck_assert_int_eq(pt_backward(y32, g, false), PT_OK);
  ck_assert_int_eq(pt_backward(y64, g64, false), PT_OK);
  for (int64_t i = 0; i < R * H; i += 37) {
    ASSERT_CLOSE(pt_get(y32, i), pt_get(y64, i), 2e-5);
    ASSERT_CLOSE(pt_get(x->grad, i), pt_get(t64[0]->grad, i), 1e-5);
  }
  for (int64_t j = 0; j < H; j++) {
    double dw = pt_get(t64[1]->grad, j), db = pt_get(t64[2]->grad, j);
    ASSERT_CLOSE(pt_get(w->grad, j), dw, 1e-5 * (1 + fabs(dw)));
    ASSERT_CLOSE(pt_get(b->grad, j), db, 1e-5 * (1 + fabs(db)));
  }
  pt_tensor *objs[] = {x, y, w, b, g, g64, y32, y64, t64[0], t64[1], t64[2]};
  for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) pt_tensor_free(objs[i]);
  ck_assert_int_eq(pt_live_nodes(), 0);
}
END_TEST

/* Per-operand skipping: a frozen weight gets no gradient and is not saved
 * unless dx needs it; with only the bias trainable nothing is saved. */
START_TEST(layer_norm_frozen_weight) {
  pt_rng rng;
  pt_rng_init(&rng, 5);
  pt_tensor *x = pt_randn(&rng, PT_F32, PT_DIMS(4, 8));
  pt_tensor *w = pt_randn(&rng, PT_F32, PT_DIMS(8)), *b = pt_randn(&rng, PT_F32, PT_DIMS(8));
  pt_set_requires_grad(b, true);
  pt_tensor *y = pt_layer_norm(x, w, b, 1e-5);
  pt_node *n = y->grad_fn;
  ck_assert_ptr_nonnull(n);
  for (int i = 0; i < PT_NODE_MAX_SAVED; i++) ck_assert_ptr_null(n->saved[i]);
  pt_tensor *l = pt_sum(y, 0, NULL, false);
  ck_assert_int_eq(pt_backward(l, NULL, false), PT_OK);
  for (int j = 0; j < 8; j++) ASSERT_CLOSE(pt_get(b->grad, j), 4.0, 1e-6);
  ck_assert_ptr_null(w->grad);
  pt_tensor_free(y);
  pt_tensor_free(l);
  /* x trainable, weight frozen: weight saved (dx needs it), no weight grad */
  pt_set_requires_grad(x, true);
  y = pt_layer_norm(x, w, b, 1e-5);
  ck_assert_ptr_nonnull(((pt_node *)y->grad_fn)->saved[3]);
  pt_tensor *g = pt_randn(&rng, PT_F32, PT_DIMS(4, 8));
  ck_assert_int_eq(pt_backward(y, g, false), PT_OK);
  ck_assert_ptr_nonnull(x->grad);
  ck_assert_ptr_null(w->grad);
  /* dx of each row sums to 0 (the mean is removed) */
  for (int r = 0; r < 4; r++) {
    double s = 0;
    for (int j = 0; j < 8; j++) s += pt_get(x->grad, r * 8 + j);
    ASSERT_CLOSE(s, 0.0, 1e-5);
  }
  pt_tensor *objs[] = {x, w, b, y, g};
  for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) pt_tensor_free(objs[i]);
  ck_assert_int_eq(pt_live_nodes(), 0);
}
END_TEST

START_TEST(layer_norm_errors) {
  pt_tensor *x = pt_zeros(PT_F32, PT_DIMS(2, 3, 4));
  pt_tensor *w5 = pt_ones(PT_F32, PT_DIMS(5)), *w64 = pt_ones(PT_F64, PT_DIMS(4));
  ck_assert_ptr_null(pt_layer_norm(x, w5, NULL, 1e-5));
  ck_assert(strstr(pt_error_message(), "layer_norm: weight of shape [5]") != NULL);
  ck_assert(strstr(pt_error_message(), "[2,3,4]") != NULL);
  ck_assert_ptr_null(pt_layer_norm(x, NULL, w64, 1e-5));
  ck_assert(strstr(pt_error_message(), "bias is F64") != NULL);
  ck_assert_ptr_null(pt_layer_norm(x, NULL, NULL, -1.0));
  ck_assert(strstr(pt_error_message(), "eps") != NULL);
  /* a constant row normalizes to 0 (var 0, eps keeps it finite) */
  pt_tensor *y = pt_layer_norm(x, NULL, NULL, 1e-5);
  ck_assert_double_eq(pt_get(y, 5), 0.0);
  pt_tensor_free(y);
  pt_tensor_free(x);
  pt_tensor_free(w5);
  pt_tensor_free(w64);
}
END_TEST

/* LN(x + residual) as one op equals the add followed by layer_norm, bit for
 * bit in the forward (the same float sum is normalized) and in every
 * gradient; the no-grad path (the sum written into the output and
 * normalized in place) gives the same values; a mismatched residual is
 * refused naming both shapes. */
START_TEST(add_layer_norm_matches_add_then_layer_norm) {
  pt_rng rng;
  pt_rng_init(&rng, 21);
  int64_t R = 64, H = 96;
  pt_tensor *x = pt_randn(&rng, PT_F32, PT_DIMS(R, H)), *res = pt_randn(&rng, PT_F32, PT_DIMS(R, H));
  pt_tensor *w = pt_randn(&rng, PT_F32, PT_DIMS(H)), *b = pt_randn(&rng, PT_F32, PT_DIMS(H));
  pt_tensor *g = pt_randn(&rng, PT_F32, PT_DIMS(R, H));
  pt_tensor *in[4] = {x, res, w, b}, *grads[2][4];
  pt_tensor *ys[2];
  for (int fused = 0; fused < 2; fused++) {
    for (int i = 0; i < 4; i++) {
      pt_zero_grad(in[i]);
      pt_set_requires_grad(in[i], true);
    }
    pt_tensor *sum = fused ? NULL : pt_add(x, res);
    ys[fused] = fused ? pt_add_layer_norm(x, res, w, b, 1e-12) : pt_layer_norm(sum, w, b, 1e-12);
    pt_tensor_free(sum);
    ck_assert_int_eq(pt_backward(ys[fused], g, false), PT_OK);
    for (int i = 0; i < 4; i++) grads[fused][i] = pt_tensor_ref(in[i]->grad);
  }
  for (int64_t i = 0; i < R * H; i++) ck_assert_float_eq(pt_get(ys[0], i), pt_get(ys[1], i));
  for (int k = 0; k < 4; k++)
    for (int64_t i = 0; i < pt_numel(grads[0][k]); i++)
      ck_assert_float_eq(pt_get(grads[0][k], i), pt_get(grads[1][k], i));
  pt_no_grad_enter();
  pt_tensor *yn = pt_add_layer_norm(x, res, w, b, 1e-12);
  pt_no_grad_exit();
  ck_assert_ptr_null(yn->grad_fn);
  for (int64_t i = 0; i < R * H; i++) ck_assert_float_eq(pt_get(yn, i), pt_get(ys[0], i));
  pt_tensor *short_res = pt_zeros(PT_F32, PT_DIMS(R, H - 1));
  ck_assert_ptr_null(pt_add_layer_norm(x, short_res, w, b, 1e-12));
  ck_assert(strstr(pt_error_message(), "residual F32 [64,95] does not match x F32 [64,96]") != NULL);
  pt_tensor *objs[] = {x, res, w, b, g, ys[0], ys[1], yn, short_res};
  for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) pt_tensor_free(objs[i]);
  for (int f = 0; f < 2; f++)
    for (int k = 0; k < 4; k++) pt_tensor_free(grads[f][k]);
  ck_assert_int_eq(pt_live_nodes(), 0);
}
END_TEST

/* ---- cross_entropy ---- */

/* torch 1.13, float64: logits [[2,1,0.1],[0.5,2.5,-1],[1,1,3],[0,-2,1]],
 * targets [0,-100,2,1]: F.cross_entropy = 1.335195666422635; with
 * label_smoothing=0.1: 1.356306777533746 (and its gradient below); targets
 * [0,1,2,1] with label_smoothing=0.1: 1.1013579682642147. */
static const double ce_logits[] = {2, 1, 0.1, 0.5, 2.5, -1, 1, 1, 3, 0, -2, 1};

START_TEST(cross_entropy_matches_torch) {
  static const double grad_ls[] = {-0.09144406481578846, 0.06969987912379352, 0.021744185691994957,
                                   0.0, 0.0, 0.0,
                                   0.024391215195289136, 0.024391215195289136, -0.048782430390578294,
                                   0.07538770900302859, -0.2994047687913312, 0.2240170597883026};
  for (int f32 = 0; f32 <= 1; f32++) {
    double tol = f32 ? 1e-6 : 1e-14;
    pt_tensor *lg = from_f64(f32 ? PT_F32 : PT_F64, PT_DIMS(4, 3), ce_logits);
    pt_set_requires_grad(lg, true);
    int64_t tv[] = {0, -100, 2, 1};
    int32_t tv32[] = {0, -100, 2, 1};
    pt_tensor *t = pt_from_buffer(PT_I64, PT_DIMS(4), tv);
    pt_tensor *t32 = pt_from_buffer(PT_I32, PT_DIMS(4), tv32);
    pt_tensor *l = pt_cross_entropy(lg, t, -100, 0.0);
    ck_assert_int_eq(l->ndim, 0);
    ASSERT_CLOSE(pt_get(l, 0), 1.335195666422635, tol);
    pt_tensor *l32 = pt_cross_entropy(lg, t32, -100, 0.0);
    ASSERT_CLOSE(pt_get(l32, 0), 1.335195666422635, tol);
    pt_tensor *ls = pt_cross_entropy(lg, t, -100, 0.1);
    ASSERT_CLOSE(pt_get(ls, 0), 1.356306777533746, tol);
    ck_assert_int_eq(pt_backward(ls, NULL, false), PT_OK);
    for (int i = 0; i < 12; i++) ASSERT_CLOSE(pt_get(lg->grad, i), grad_ls[i], tol);
    tv[1] = 1;
    pt_tensor *t2 = pt_from_buffer(PT_I64, PT_DIMS(4), tv);
    pt_tensor *l2 = pt_cross_entropy(lg, t2, -100, 0.1);
    ASSERT_CLOSE(pt_get(l2, 0), 1.1013579682642147, tol);
    pt_tensor *objs[] = {lg, t, t32, l, l32, ls, t2, l2};
    for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) pt_tensor_free(objs[i]);
  }
  ck_assert_int_eq(pt_live_nodes(), 0);
}
END_TEST

START_TEST(cross_entropy_all_ignored_is_nan) {
  pt_tensor *lg = from_f64(PT_F32, PT_DIMS(2, 2, 3), ce_logits);
  pt_set_requires_grad(lg, true);
  int64_t tv[] = {-1, -1, -1, -1};
  pt_tensor *t = pt_from_buffer(PT_I64, PT_DIMS(2, 2), tv);
  pt_tensor *l = pt_cross_entropy(lg, t, -1, 0.1);
  ck_assert_ptr_nonnull(l);
  ck_assert(isnan(pt_get(l, 0)));
  ck_assert_int_eq(pt_backward(l, NULL, false), PT_OK);
  for (int i = 0; i < 12; i++) ck_assert_double_eq(pt_get(lg->grad, i), 0.0);
  /* one kept row: the loss is that row's alone */
  tv[2] = 2;
  pt_tensor *t1 = pt_from_buffer(PT_I64, PT_DIMS(2, 2), tv);
  pt_tensor *l1 = pt_cross_entropy(lg, t1, -1, 0.0);
  double lse = log(exp(1.0) + exp(1.0) + exp(3.0));
  ASSERT_CLOSE(pt_get(l1, 0), lse - 3.0, 1e-6);
  pt_tensor *objs[] = {lg, t, l, t1, l1};
  for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) pt_tensor_free(objs[i]);
}
END_TEST

START_TEST(cross_entropy_errors) {
  pt_tensor *lg = from_f64(PT_F32, PT_DIMS(2, 2, 3), ce_logits);
  int64_t tv[] = {0, 2, 7, -100};
  pt_tensor *t = pt_from_buffer(PT_I64, PT_DIMS(2, 2), tv);
  ck_assert_ptr_null(pt_cross_entropy(lg, t, -100, 0.0));
  ck_assert(strstr(pt_error_message(), "target 7 at position [1,0]") != NULL);
  ck_assert(strstr(pt_error_message(), "3 classes") != NULL);
  tv[2] = -1; /* negative and not ignore_index */
  pt_tensor *tn = pt_from_buffer(PT_I64, PT_DIMS(2, 2), tv);
  ck_assert_ptr_null(pt_cross_entropy(lg, tn, -100, 0.0));
  ck_assert(strstr(pt_error_message(), "target -1 at position [1,0]") != NULL);
  pt_tensor *tbad = pt_from_buffer(PT_I64, PT_DIMS(4), tv);
  ck_assert_ptr_null(pt_cross_entropy(lg, tbad, -100, 0.0));
  ck_assert(strstr(pt_error_message(), "targets of shape [4] do not match logits of shape [2,2,3]") != NULL);
  pt_tensor *tf = pt_zeros(PT_F32, PT_DIMS(2, 2));
  ck_assert_ptr_null(pt_cross_entropy(lg, tf, -100, 0.0));
  ck_assert(strstr(pt_error_message(), "I64 or I32") != NULL);
  tv[2] = 1;
  pt_tensor *tok = pt_from_buffer(PT_I64, PT_DIMS(2, 2), tv);
  ck_assert_ptr_null(pt_cross_entropy(lg, tok, -100, 1.5));
  ck_assert(strstr(pt_error_message(), "label_smoothing") != NULL);
  pt_error_clear();
  ck_assert_ptr_null(pt_cross_entropy(NULL, tok, -100, 0.0));
  ck_assert_str_eq(pt_error_message(), "");
  pt_tensor *objs[] = {lg, t, tn, tbad, tf, tok};
  for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) pt_tensor_free(objs[i]);
}
END_TEST

/* Results do not depend on the thread count: the LayerNorm dweight/dbias
 * block sums and the cross-entropy row sum are added in a fixed order. */
START_TEST(results_do_not_depend_on_thread_count) {
  pt_rng rng;
  pt_rng_init(&rng, 21);
  pt_tensor *x = pt_randn(&rng, PT_F32, PT_DIMS(300, 257));
  pt_tensor *w = pt_randn(&rng, PT_F32, PT_DIMS(257)), *b = pt_randn(&rng, PT_F32, PT_DIMS(257));
  pt_tensor *g = pt_randn(&rng, PT_F32, PT_DIMS(300, 257));
  pt_tensor *t = pt_empty(PT_I64, PT_DIMS(300));
  for (int64_t i = 0; i < 300; i++) pt_set(t, i, i % 7 == 3 ? -100 : (double)((i * 31) % 257));
  pt_set_requires_grad(w, true);
  pt_set_requires_grad(b, true);
  pt_set_requires_grad(x, true);
  double first[4] = {0};
  int max_threads = omp_get_max_threads();
  for (int threads = 1; threads <= 2; threads++) {
    omp_set_num_threads(threads);
    pt_zero_grad(w);
    pt_zero_grad(b);
    pt_zero_grad(x);
    pt_tensor *y = pt_layer_norm(x, w, b, 1e-5);
    ck_assert_int_eq(pt_backward(y, g, false), PT_OK);
    pt_tensor *l = pt_cross_entropy(x, t, -100, 0.1);
    double now[4] = {pt_get(w->grad, 100), pt_get(b->grad, 256), pt_get(l, 0), 0};
    for (int64_t j = 0; j < 257; j++) now[3] += pt_get(w->grad, j) * (double)(j + 1);
    for (int k = 0; k < 4; k++) {
      if (threads == 1) first[k] = now[k];
      else ck_assert_double_eq(now[k], first[k]); /* bit for bit */
    }
    pt_tensor_free(y);
    pt_tensor_free(l);
  }
  omp_set_num_threads(max_threads);
  pt_tensor *objs[] = {x, w, b, g, t};
  for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) pt_tensor_free(objs[i]);
}
END_TEST

/* ---- max and var ---- */

START_TEST(max_values_and_first_max_gradient) {
  /* torch 1.13: torch.max(x, 1) = values [5, 7], indices [1, 0] */
  static const double x[] = {1, 5, 5, 2, 7, -1, 7, 0};
  pt_tensor *t = from_f64(PT_F32, PT_DIMS(2, 4), x);
  pt_set_requires_grad(t, true);
  pt_tensor *m = pt_max(t, 1, false);
  ck_assert_int_eq(m->ndim, 1);
  ck_assert_double_eq(pt_get(m, 0), 5.0);
  ck_assert_double_eq(pt_get(m, 1), 7.0);
  pt_tensor *l = pt_sum(m, 0, NULL, false);
  ck_assert_int_eq(pt_backward(l, NULL, false), PT_OK);
  static const double want[] = {0, 1, 0, 0, 1, 0, 0, 0}; /* the first of the ties */
  for (int i = 0; i < 8; i++) ck_assert_double_eq(pt_get(t->grad, i), want[i]);
  pt_tensor *mk = pt_max(t, 0, true);
  ck_assert_int_eq(mk->ndim, 2);
  ck_assert_int_eq(mk->shape[0], 1);
  ck_assert_double_eq(pt_get(mk, 3), 2.0);
  /* NaN is the maximum (torch.max gives nan) */
  static const double xn[] = {1, NAN, 3};
  pt_tensor *tn = from_f64(PT_F64, PT_DIMS(3), xn);
  pt_tensor *mn = pt_max(tn, 0, false);
  ck_assert(isnan(pt_get(mn, 0)));
  /* errors */
  ck_assert_ptr_null(pt_max(t, 2, false));
  ck_assert(strstr(pt_error_message(), "max") != NULL);
  pt_tensor *e = pt_zeros(PT_F32, PT_DIMS(2, 0));
  ck_assert_ptr_null(pt_max(e, 1, false));
  ck_assert(strstr(pt_error_message(), "empty") != NULL);
  pt_tensor *objs[] = {t, m, l, mk, tn, mn, e};
  for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) pt_tensor_free(objs[i]);
}
END_TEST

START_TEST(var_matches_torch) {
  /* torch 1.13: torch.var(x, dim=(1,), correction=1) = [2.333333333333333,
   * 4.083333333333333]; torch.var(x, dim=(0,1), correction=0) = 2.701388888888889 */
  static const double x[] = {1, 2, 4, 3, -1, 0.5};
  for (int f32 = 0; f32 <= 1; f32++) {
    double tol = f32 ? 1e-6 : 1e-14;
    pt_tensor *t = from_f64(f32 ? PT_F32 : PT_F64, PT_DIMS(2, 3), x);
    pt_tensor *v = pt_var(t, 1, (const int[]){1}, 1, false);
    ASSERT_CLOSE(pt_get(v, 0), 2.333333333333333, tol);
    ASSERT_CLOSE(pt_get(v, 1), 4.083333333333333, tol);
    pt_tensor *va = pt_var(t, 2, (const int[]){0, 1}, 0, true);
    ck_assert_int_eq(va->ndim, 2);
    ASSERT_CLOSE(pt_get(va, 0), 2.701388888888889, tol);
    /* N − correction = 0: Σ(x − mean)² / 0 */
    pt_tensor *v1 = pt_var(t, 1, (const int[]){0}, 2, false);
    ck_assert(isinf(pt_get(v1, 0)) || isnan(pt_get(v1, 0)));
    pt_tensor_free(t);
    pt_tensor_free(v);
    pt_tensor_free(va);
    pt_tensor_free(v1);
  }
  pt_tensor *t = pt_zeros(PT_F32, PT_DIMS(2, 3));
  ck_assert_ptr_null(pt_var(t, 2, (const int[]){1, 1}, 1, false));
  ck_assert(strstr(pt_error_message(), "var: dim 1 given twice") != NULL);
  pt_tensor_free(t);
}
END_TEST

int main(void) {
  Suite *s = suite_create("norm");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, softmax_matches_torch);
  tcase_add_test(tc, softmax_rows_sum_to_one_and_are_stable);
  tcase_add_test(tc, log_softmax_of_large_inputs_is_finite);
  tcase_add_test(tc, softmax_middle_dim_of_strided_view);
  tcase_add_test(tc, vectorized_exp_is_accurate);
  tcase_add_test(tc, softmax_masked_rows);
  tcase_add_test(tc, softmax_errors);
  tcase_add_test(tc, layer_norm_matches_torch);
  tcase_add_test(tc, layer_norm_normalizes_rows);
  tcase_add_test(tc, layer_norm_frozen_weight);
  tcase_add_test(tc, layer_norm_errors);
  tcase_add_test(tc, add_layer_norm_matches_add_then_layer_norm);
  tcase_add_test(tc, cross_entropy_matches_torch);
  tcase_add_test(tc, cross_entropy_all_ignored_is_nan);
  tcase_add_test(tc, cross_entropy_errors);
  tcase_add_test(tc, results_do_not_depend_on_thread_count);
  tcase_add_test(tc, max_values_and_first_max_gradient);
  tcase_add_test(tc, var_matches_torch);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
