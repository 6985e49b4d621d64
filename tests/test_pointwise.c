/* Pointwise ops: values against libm and hand-computed references (F32 and
 * F64, contiguous, strided and large/parallel inputs), dropout statistics
 * and determinism, where/masked_fill broadcasting, and error messages.
 * Gradients are checked numerically by the op table suite; the backward
 * tests here pin a few exact values. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "ptune.h"
#include "tensor/pt_unary.h"

static pt_tensor *vec(pt_dtype dt, int64_t n, const double *v) {
  pt_tensor *t = pt_empty(dt, PT_DIMS(n));
  for (int64_t i = 0; i < n; i++) pt_set(t, i, v[i]);
  return t;
}

/* PyTorch (torch.nn.functional.gelu, float64) at these points. */
START_TEST(gelu_matches_pytorch_values) {
  const double x[] = {1.0, -1.0, 0.5, -3.0, 0.0};
  const double exact[] = {0.8413447460685429, -0.15865525393145707, 0.34573123063700656,
                          -0.00404969409489031, 0.0};
  const double approx[] = {0.8411919906082768, -0.15880800939172324, 0.34571400982514394,
                           -0.0036373920817729943, 0.0};
  for (int f64 = 0; f64 <= 1; f64++) {
    pt_dtype dt = f64 ? PT_F64 : PT_F32;
    double tol = f64 ? 1e-15 : 1e-7;
    pt_tensor *t = vec(dt, 5, x);
    pt_tensor *g = pt_gelu(t), *gt = pt_gelu_tanh(t);
    ck_assert_ptr_nonnull(g);
    ck_assert_ptr_nonnull(gt);
    ck_assert_int_eq(g->dtype, dt);
    for (int i = 0; i < 5; i++) {
      ck_assert_double_eq_tol(pt_get(g, i), exact[i], tol);
      ck_assert_double_eq_tol(pt_get(gt, i), approx[i], tol);
    }
    pt_tensor_free(t);
    pt_tensor_free(g);
    pt_tensor_free(gt);
  }
}
END_TEST

typedef pt_tensor *(*unary_op)(pt_tensor *);

static double ref_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static double ref_rsqrt(double x) { return 1.0 / sqrt(x); }
static double ref_relu(double x) { return x < 0 ? 0 : x; }

START_TEST(unary_values_match_libm) {
  struct {
    unary_op op;
    double (*ref)(double);
    bool positive;
  } cases[] = {
      {pt_exp, exp, false},   {pt_log, log, true},           {pt_sqrt, sqrt, true},
      {pt_rsqrt, ref_rsqrt, true}, {pt_tanh, tanh, false},   {pt_sigmoid, ref_sigmoid, false},
      {pt_relu, ref_relu, false},
  };
  const double xs[] = {-2.5, -0.7, -1e-3, 0.25, 1.0, 3.5, 12.0};
  const double ps[] = {0.1, 0.7, 1e-3, 0.25, 1.0, 3.5, 12.0};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
    for (int f64 = 0; f64 <= 1; f64++) {
      const double *in = cases[c].positive ? ps : xs;
      pt_tensor *t = vec(f64 ? PT_F64 : PT_F32, 7, in);
      pt_tensor *y = cases[c].op(t);
      ck_assert_ptr_nonnull(y);
      for (int i = 0; i < 7; i++) {
        double xi = pt_get(t, i), want = cases[c].ref(xi);
        double tol = (f64 ? 1e-15 : 3e-7) * (1 + fabs(want));
        ck_assert_msg(fabs(pt_get(y, i) - want) <= tol, "case %zu f64=%d x=%g: got %.17g want %.17g",
                      c, f64, xi, pt_get(y, i), want);
      }
      pt_tensor_free(t);
      pt_tensor_free(y);
    }
}
END_TEST

START_TEST(scalar_ops_values) {
  const double x[] = {-2.0, 0.5, 3.0};
  pt_tensor *t = vec(PT_F64, 3, x);
  pt_tensor *n = pt_neg(t), *s = pt_scale(t, 2.5), *a = pt_add_scalar(t, -1.25);
  pt_tensor *p = pt_pow_scalar(t, 2.0), *p3 = pt_pow_scalar(t, 3.0);
  for (int i = 0; i < 3; i++) {
    ck_assert_double_eq(pt_get(n, i), -x[i]);
    ck_assert_double_eq(pt_get(s, i), 2.5 * x[i]);
    ck_assert_double_eq(pt_get(a, i), x[i] - 1.25);
    ck_assert_double_eq(pt_get(p, i), x[i] * x[i]);
    ck_assert_double_eq_tol(pt_get(p3, i), x[i] * x[i] * x[i], 1e-14);
  }
  pt_tensor *pos = pt_full(PT_F32, PT_DIMS(2), 4.0);
  pt_tensor *half = pt_pow_scalar(pos, 0.5), *m15 = pt_pow_scalar(pos, -1.5);
  ck_assert_double_eq_tol(pt_get(half, 1), 2.0, 1e-7);
  ck_assert_double_eq_tol(pt_get(m15, 0), 0.125, 1e-8);
  pt_tensor *objs[] = {t, n, s, a, p, p3, pos, half, m15};
  for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) pt_tensor_free(objs[i]);
}
END_TEST

/* The vectorized F32 sigmoid and GELUs (forward and backward) against the
 * F64 kernels over a dense sweep: relative error ≤ 1e-5 down to x = −6
 * (where 0.5·x·(1 + erff) would have lost every digit) and absolute error
 * ≤ 1e-6 everywhere. */
START_TEST(f32_activations_track_f64) {
  const int64_t n = 14 * 512 + 1; /* [-6, 8] in steps of 1/512 */
  pt_tensor *x64 = pt_empty(PT_F64, PT_DIMS(n));
  for (int64_t i = 0; i < n; i++) pt_set(x64, i, (double)(float)(-6.0 + (double)i / 512));
  pt_tensor *x32 = pt_to_dtype(x64, PT_F32);
  pt_tensor *g64 = pt_full(PT_F64, PT_DIMS(n), 1.0), *g32 = pt_full(PT_F32, PT_DIMS(n), 1.0);
  pt_unary_kind kinds[] = {PT_UN_GELU, PT_UN_GELU_TANH, PT_UN_SIGMOID};
  for (int k = 0; k < 3; k++) {
    pt_tensor *y64 = pt_raw_unary(kinds[k], x64, 0, NULL), *y32 = pt_raw_unary(kinds[k], x32, 0, NULL);
    bool out = pt_unary_grad_uses_output(kinds[k]);
    pt_tensor *d64 = pt_raw_unary_backward(kinds[k], g64, out ? y64 : x64, 0);
    pt_tensor *d32 = pt_raw_unary_backward(kinds[k], g32, out ? y32 : x32, 0);
    for (int64_t i = 0; i < n; i++) {
      double want = pt_get(y64, i), got = pt_get(y32, i);
      ck_assert_msg(fabs(got - want) <= 1e-5 * fabs(want) && fabs(got - want) <= 1e-6,
                    "%s(%g): %.9g, want %.9g", pt_unary_name(kinds[k]), pt_get(x64, i), got, want);
      double dw = pt_get(d64, i), dg = pt_get(d32, i);
      ck_assert_msg(fabs(dg - dw) <= 1e-5 * fabs(dw) + 1e-7, "%s'(%g): %.9g, want %.9g",
                    pt_unary_name(kinds[k]), pt_get(x64, i), dg, dw);
    }
    pt_tensor_free(y64);
    pt_tensor_free(y32);
    pt_tensor_free(d64);
    pt_tensor_free(d32);
  }
  pt_tensor_free(x64);
  pt_tensor_free(x32);
  pt_tensor_free(g64);
  pt_tensor_free(g32);
}
END_TEST

/* A transposed view and a large (parallel) F32 tensor give the same values
 * as element-by-element evaluation. */
START_TEST(strided_and_large_inputs) {
  pt_rng rng;
  pt_rng_init(&rng, 5);
  pt_tensor *base = pt_randn(&rng, PT_F32, PT_DIMS(300, 700)); /* 210,000: several threads */
  pt_tensor *tv = pt_raw_transpose(base, 0, 1);
  unary_op ops[] = {pt_gelu, pt_tanh, pt_sigmoid, pt_relu, pt_gelu_tanh};
  for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
    pt_tensor *y = ops[k](base), *yt = ops[k](tv);
    ck_assert(pt_is_contiguous(yt));
    ck_assert_int_eq(yt->shape[0], 700);
    for (int64_t i = 0; i < 300; i += 37)
      for (int64_t j = 0; j < 700; j += 53) {
        float want = (float)pt_get(y, i * 700 + j);
        ck_assert_float_eq((float)pt_get(yt, j * 300 + i), want);
        /* the same element computed alone (a 0-dim tensor: the serial path) */
        pt_tensor *one = pt_scalar(PT_F32, pt_get(base, i * 700 + j));
        pt_tensor *y1 = ops[k](one);
        ck_assert_float_eq_tol((float)pt_get(y1, 0), want, 1e-6f * (1 + fabsf(want)));
        pt_tensor_free(one);
        pt_tensor_free(y1);
      }
    pt_tensor_free(y);
    pt_tensor_free(yt);
  }
  pt_tensor_free(tv);
  pt_tensor_free(base);
}
END_TEST

/* d gelu(1)/dx = Φ(1) + φ(1); relu passes g only where x > 0; pow 0 has
 * zero gradient even at x = 0. */
START_TEST(backward_values) {
  const double x[] = {1.0, -0.5, 2.0};
  pt_tensor *t = vec(PT_F64, 3, x);
  pt_set_requires_grad(t, true);
  pt_tensor *g = pt_gelu(t);
  pt_tensor *l = pt_sum(g, 0, NULL, false);
  ck_assert_int_eq(pt_backward(l, NULL, false), PT_OK);
  ck_assert_double_eq_tol(pt_get(t->grad, 0), 0.8413447460685429 + 0.24197072451914337, 1e-15);
  pt_tensor_free(g);
  pt_tensor_free(l);
  pt_zero_grad(t);

  pt_tensor *r = pt_relu(t);
  l = pt_sum(r, 0, NULL, false);
  ck_assert_int_eq(pt_backward(l, NULL, false), PT_OK);
  ck_assert_double_eq(pt_get(t->grad, 0), 1.0);
  ck_assert_double_eq(pt_get(t->grad, 1), 0.0);
  ck_assert_double_eq(pt_get(t->grad, 2), 1.0);
  pt_tensor_free(r);
  pt_tensor_free(l);
  pt_zero_grad(t);

  pt_tensor *z = pt_zeros(PT_F64, PT_DIMS(2));
  pt_set_requires_grad(z, true);
  pt_tensor *p0 = pt_pow_scalar(z, 0.0);
  ck_assert_double_eq(pt_get(p0, 0), 1.0);
  l = pt_sum(p0, 0, NULL, false);
  ck_assert_int_eq(pt_backward(l, NULL, false), PT_OK);
  ck_assert_double_eq(pt_get(z->grad, 0), 0.0);
  ck_assert(!isnan(pt_get(z->grad, 1)));
  pt_tensor_free(p0);
  pt_tensor_free(l);
  pt_tensor_free(z);
  pt_tensor_free(t);
  ck_assert_int_eq(pt_live_nodes(), 0);
}
END_TEST

/* ---- dropout ---- */

static const int64_t DN = 200000;

START_TEST(dropout_statistics_and_scale) {
  for (int f64 = 0; f64 <= 1; f64++) {
    pt_tensor *x = pt_ones(f64 ? PT_F64 : PT_F32, PT_DIMS(400, 500));
    pt_rng rng;
    pt_rng_init(&rng, 42);
    const double p = 0.3;
    pt_tensor *y = pt_dropout(x, p, true, &rng);
    ck_assert_ptr_nonnull(y);
    ck_assert_uint_eq(rng.counter, (uint64_t)DN); /* the rng advanced by numel */
    int64_t zeros = 0;
    double scale = f64 ? 1.0 / (1.0 - p) : (double)(float)(1.0 / (1.0 - p));
    for (int64_t i = 0; i < DN; i++) {
      double v = pt_get(y, i);
      if (v == 0.0)
        zeros++;
      else
        ck_assert_double_eq(v, scale);
    }
    /* binomial sd = sqrt(n p (1-p)) ≈ 205: allow 5 sd */
    ck_assert_int_gt(zeros, (int64_t)(p * DN) - 1025);
    ck_assert_int_lt(zeros, (int64_t)(p * DN) + 1025);
    pt_tensor_free(x);
    pt_tensor_free(y);
  }
}
END_TEST

START_TEST(dropout_same_seed_same_mask_any_threads) {
  pt_tensor *x = pt_ones(PT_F32, PT_DIMS(400, 500));
  pt_tensor *x64 = pt_ones(PT_F64, PT_DIMS(400, 500));
  int saved_threads = omp_get_max_threads();
  pt_rng r1, r2, r3, r4;
  pt_rng_init(&r1, 7);
  pt_rng_init(&r2, 7);
  pt_rng_init(&r3, 8);
  pt_rng_init(&r4, 7);
  omp_set_num_threads(1);
  pt_tensor *a = pt_dropout(x, 0.1, true, &r1);
  omp_set_num_threads(saved_threads > 1 ? saved_threads : 2);
  pt_tensor *b = pt_dropout(x, 0.1, true, &r2);
  pt_tensor *c = pt_dropout(x, 0.1, true, &r3);
  pt_tensor *d = pt_dropout(x64, 0.1, true, &r4);
  omp_set_num_threads(saved_threads);
  int64_t differ = 0;
  for (int64_t i = 0; i < DN; i++) {
    ck_assert((pt_get(a, i) == 0) == (pt_get(b, i) == 0));
    ck_assert((pt_get(a, i) == 0) == (pt_get(d, i) == 0)); /* F32 and F64 share the mask */
    differ += (pt_get(a, i) == 0) != (pt_get(c, i) == 0);
  }
  ck_assert_int_gt(differ, 1000); /* another seed, another mask */
  /* the stream continues: a second draw from the same rng differs */
  pt_tensor *e = pt_dropout(x, 0.1, true, &r2);
  int64_t differ2 = 0;
  for (int64_t i = 0; i < DN; i++) differ2 += (pt_get(b, i) == 0) != (pt_get(e, i) == 0);
  ck_assert_int_gt(differ2, 1000);
  pt_tensor *objs[] = {x, x64, a, b, c, d, e};
  for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) pt_tensor_free(objs[i]);
}
END_TEST

/* The mask follows the logical (row-major) index: a transposed view gets
 * the same mask as its contiguous copy. */
START_TEST(dropout_strided_input) {
  pt_rng rng;
  pt_rng_init(&rng, 3);
  pt_tensor *base = pt_randn(&rng, PT_F64, PT_DIMS(30, 40));
  pt_tensor *tv = pt_raw_transpose(base, 0, 1);
  pt_tensor *tc = pt_raw_clone(tv);
  pt_rng r1, r2;
  pt_rng_init(&r1, 11);
  pt_rng_init(&r2, 11);
  pt_tensor *a = pt_dropout(tv, 0.5, true, &r1), *b = pt_dropout(tc, 0.5, true, &r2);
  for (int64_t i = 0; i < 1200; i++) ck_assert_double_eq(pt_get(a, i), pt_get(b, i));
  pt_tensor *objs[] = {base, tv, tc, a, b};
  for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) pt_tensor_free(objs[i]);
}
END_TEST

START_TEST(dropout_eval_p0_p1_and_errors) {
  pt_rng rng;
  pt_rng_init(&rng, 1);
  const double v[] = {1.5, -2.0, 0.25, 4.0};
  pt_tensor *x = vec(PT_F32, 4, v);
  pt_tensor *ev = pt_dropout(x, 0.5, false, &rng); /* eval: the input itself */
  pt_tensor *p0 = pt_dropout(x, 0.0, true, &rng);  /* p = 0: identity */
  ck_assert_uint_eq(rng.counter, 0);
  for (int i = 0; i < 4; i++) {
    ck_assert_double_eq(pt_get(ev, i), v[i]);
    ck_assert_double_eq(pt_get(p0, i), v[i]);
  }
  pt_tensor *p1 = pt_dropout(x, 1.0, true, &rng); /* p = 1: all zero, no inf/NaN */
  for (int i = 0; i < 4; i++) ck_assert_double_eq(pt_get(p1, i), 0.0);
  ck_assert_ptr_null(pt_dropout(x, 1.5, true, &rng));
  ck_assert_str_eq(pt_error_message(), "dropout: p must be in [0, 1], got 1.5");
  ck_assert_ptr_null(pt_dropout(x, 0.2, true, NULL));
  ck_assert(strncmp(pt_error_message(), "dropout:", 8) == 0);
  pt_tensor *ids = pt_zeros(PT_I64, PT_DIMS(3));
  ck_assert_ptr_null(pt_dropout(ids, 0.2, true, &rng));
  ck_assert_str_eq(pt_error_message(), "dropout: needs F32 or F64, got I64");
  ck_assert_ptr_null(pt_dropout(NULL, 0.2, true, &rng));
  pt_tensor *objs[] = {x, ev, p0, p1, ids};
  for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) pt_tensor_free(objs[i]);
}
END_TEST

/* backward regenerates the mask: d sum(dropout(x)) / dx = mask / (1 − p),
 * which for x = 1 is the output itself. */
START_TEST(dropout_backward_uses_the_forward_mask) {
  pt_tensor *x = pt_ones(PT_F64, PT_DIMS(50, 40));
  pt_set_requires_grad(x, true);
  pt_rng rng;
  pt_rng_init(&rng, 99);
  pt_tensor *y = pt_dropout(x, 0.25, true, &rng);
  pt_node *n = y->grad_fn;
  ck_assert_ptr_nonnull(n);
  for (int i = 0; i < PT_NODE_MAX_SAVED; i++) ck_assert_ptr_null(n->saved[i]); /* no mask kept */
  pt_tensor *l = pt_sum(y, 0, NULL, false);
  ck_assert_int_eq(pt_backward(l, NULL, false), PT_OK);
  for (int64_t i = 0; i < 2000; i++) ck_assert_double_eq(pt_get(x->grad, i), pt_get(y, i));
  pt_tensor_free(l);
  pt_tensor_free(y);
  pt_tensor_free(x);
  ck_assert_int_eq(pt_live_nodes(), 0);
}
END_TEST

/* ---- where and masked_fill ---- */

START_TEST(where_broadcasts) {
  /* cond [3,1] (I32), a [2,3,4], b 0-dim */
  pt_tensor *cond = pt_zeros(PT_I32, PT_DIMS(3, 1));
  pt_set(cond, 0, 1);
  pt_set(cond, 2, -5);
  pt_tensor *a = pt_arange(PT_F64, 0, 24, 1);
  pt_tensor *a3 = pt_raw_view(a, PT_DIMS(2, 3, 4));
  pt_set_requires_grad(a3, true);
  pt_tensor *b = pt_scalar(PT_F64, -1.0);
  pt_set_requires_grad(b, true);
  pt_tensor *y = pt_where(cond, a3, b);
  ck_assert_ptr_nonnull(y);
  ck_assert_int_eq(y->ndim, 3);
  for (int64_t i = 0; i < 24; i++) {
    int64_t row = (i / 4) % 3;
    ck_assert_double_eq(pt_get(y, i), row == 1 ? -1.0 : (double)i);
  }
  /* gradients: a gets 1 where cond holds; b (broadcast) sums the rest */
  pt_tensor *l = pt_sum(y, 0, NULL, false);
  ck_assert_int_eq(pt_backward(l, NULL, false), PT_OK);
  ck_assert_double_eq(pt_get(b->grad, 0), 8.0);
  for (int64_t i = 0; i < 24; i++)
    ck_assert_double_eq(pt_get(a3->grad, i), (i / 4) % 3 == 1 ? 0.0 : 1.0);
  /* an F32 condition: -0.0 is false, NaN true */
  const double cv[] = {-0.0, NAN, 2.0};
  pt_tensor *cf = vec(PT_F32, 3, cv);
  pt_tensor *one = pt_ones(PT_F64, PT_DIMS(3)), *zero = pt_zeros(PT_F64, PT_DIMS(1));
  pt_tensor *w = pt_where(cf, one, zero);
  ck_assert_double_eq(pt_get(w, 0), 0.0);
  ck_assert_double_eq(pt_get(w, 1), 1.0);
  ck_assert_double_eq(pt_get(w, 2), 1.0);
  /* F16 and BF16 conditions: only the sign bit set (-0) is false */
  pt_tensor *objs2[4];
  for (int h = 0; h < 2; h++) {
    const double hv[] = {-0.0, 0.0, 1.5};
    pt_tensor *ch = vec(h ? PT_BF16 : PT_F16, 3, hv);
    pt_tensor *wh = pt_where(ch, one, zero);
    ck_assert_ptr_nonnull(wh);
    ck_assert_double_eq(pt_get(wh, 0), 0.0);
    ck_assert_double_eq(pt_get(wh, 1), 0.0);
    ck_assert_double_eq(pt_get(wh, 2), 1.0);
    objs2[2 * h] = ch;
    objs2[2 * h + 1] = wh;
  }
  for (int i = 0; i < 4; i++) pt_tensor_free(objs2[i]);
  pt_tensor *objs[] = {cond, a, a3, b, y, l, cf, one, zero, w};
  for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) pt_tensor_free(objs[i]);
  ck_assert_int_eq(pt_live_nodes(), 0);
}
END_TEST

START_TEST(masked_fill_broadcasts) {
  /* an attention-style mask [B,1,1,S] over scores [B,NH,S,S] */
  pt_tensor *scores = pt_zeros(PT_F32, PT_DIMS(2, 3, 4, 4));
  pt_set_requires_grad(scores, true);
  pt_tensor *mask = pt_zeros(PT_I64, PT_DIMS(2, 1, 1, 4));
  pt_set(mask, 3, 1); /* batch 0, key 3 */
  pt_set(mask, 4, 1); /* batch 1, key 0 */
  pt_tensor *y = pt_masked_fill(scores, mask, -1e4);
  ck_assert_ptr_nonnull(y);
  ck_assert(pt_same_shape(y, scores));
  for (int64_t i = 0; i < 96; i++) {
    int64_t bidx = i / 48, key = i % 4;
    bool masked = (bidx == 0 && key == 3) || (bidx == 1 && key == 0);
    ck_assert_double_eq(pt_get(y, i), masked ? -1e4 : 0.0);
  }
  pt_tensor *l = pt_sum(y, 0, NULL, false);
  ck_assert_int_eq(pt_backward(l, NULL, false), PT_OK);
  ck_assert_double_eq(pt_get(scores->grad, 3), 0.0);
  ck_assert_double_eq(pt_get(scores->grad, 2), 1.0);
  /* a mask larger than x does not fit */
  pt_tensor *big = pt_zeros(PT_I64, PT_DIMS(5, 2, 3, 4, 4));
  ck_assert_ptr_null(pt_masked_fill(scores, big, 0.0));
  ck_assert_str_eq(pt_error_message(),
                   "masked_fill: mask of shape [5,2,3,4,4] does not broadcast to the input's shape "
                   "[2,3,4,4]");
  pt_tensor *objs[] = {scores, mask, y, l, big};
  for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) pt_tensor_free(objs[i]);
}
END_TEST

START_TEST(errors_name_the_op) {
  pt_tensor *a = pt_ones(PT_F32, PT_DIMS(2, 3));
  pt_tensor *b = pt_ones(PT_F64, PT_DIMS(2, 3));
  pt_tensor *c = pt_ones(PT_F32, PT_DIMS(4));
  pt_tensor *ids = pt_zeros(PT_I64, PT_DIMS(2, 3));
  ck_assert_ptr_null(pt_where(ids, a, b));
  ck_assert_str_eq(pt_error_message(),
                   "where: values of dtypes F32 and F64 (need matching F32 or F64)");
  ck_assert_ptr_null(pt_where(ids, a, c));
  ck_assert_str_eq(pt_error_message(), "where: shapes [2,3] and [4] do not broadcast");
  ck_assert_ptr_null(pt_gelu(ids));
  ck_assert_str_eq(pt_error_message(), "gelu: needs F32 or F64, got I64");
  ck_assert_ptr_null(pt_pow_scalar(ids, 2.0));
  ck_assert_str_eq(pt_error_message(), "pow_scalar: needs F32 or F64, got I64");
  ck_assert_ptr_null(pt_scale(ids, 2.0));
  ck_assert_str_eq(pt_error_message(), "scale: needs F32 or F64, got I64");
  ck_assert_ptr_null(pt_masked_fill(ids, a, 1.0));
  ck_assert_str_eq(pt_error_message(), "masked_fill: needs F32 or F64, got I64");
  /* NULL in, NULL out, message untouched */
  pt_error_clear();
  ck_assert_ptr_null(pt_tanh(NULL));
  ck_assert_ptr_null(pt_where(ids, NULL, a));
  ck_assert_ptr_null(pt_masked_fill(a, NULL, 0.0));
  ck_assert_str_eq(pt_error_message(), "");
  pt_tensor *objs[] = {a, b, c, ids};
  for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) pt_tensor_free(objs[i]);
}
END_TEST

/* Under no_grad nothing is recorded; with a frozen input neither. */
START_TEST(no_grad_and_frozen_record_nothing) {
  pt_tensor *x = pt_ones(PT_F32, PT_DIMS(3));
  pt_set_requires_grad(x, true);
  pt_no_grad_enter();
  pt_tensor *y = pt_gelu(x);
  pt_no_grad_exit();
  ck_assert_ptr_null(y->grad_fn);
  pt_tensor *f = pt_ones(PT_F32, PT_DIMS(3));
  pt_tensor *z = pt_sigmoid(f);
  ck_assert_ptr_null(z->grad_fn);
  ck_assert_int_eq(pt_live_nodes(), 0);
  pt_tensor_free(x);
  pt_tensor_free(y);
  pt_tensor_free(f);
  pt_tensor_free(z);
}
END_TEST

int main(void) {
  Suite *s = suite_create("pointwise");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, gelu_matches_pytorch_values);
  tcase_add_test(tc, unary_values_match_libm);
  tcase_add_test(tc, scalar_ops_values);
  tcase_add_test(tc, f32_activations_track_f64);
  tcase_add_test(tc, strided_and_large_inputs);
  tcase_add_test(tc, backward_values);
  tcase_add_test(tc, dropout_statistics_and_scale);
  tcase_add_test(tc, dropout_same_seed_same_mask_any_threads);
  tcase_add_test(tc, dropout_strided_input);
  tcase_add_test(tc, dropout_eval_p0_p1_and_errors);
  tcase_add_test(tc, dropout_backward_uses_the_forward_mask);
  tcase_add_test(tc, where_broadcasts);
  tcase_add_test(tc, masked_fill_broadcasts);
  tcase_add_test(tc, errors_name_the_op);
  tcase_add_test(tc, no_grad_and_frozen_record_nothing);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
