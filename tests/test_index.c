/* embedding, index_select, concat, split, chunk and attention: attention
 * against the same computation composed from matmul, scale, add, softmax,
 * dropout and matmul ops (values and gradients, F32, 1e-5) and against
 * torch 1.13 numbers with a prefix and a masked key, prefix
 * attention against attention over explicitly concatenated keys/values,
 * per-operand skipping (frozen k/v run no dK/dV GEMM), the padding row's
 * zero gradient, torch.chunk sizes and error messages. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ptune.h"
#include "autograd/pt_ops_pointwise.h"
#include "tensor/pt_attention.h"

enum { B = 2, NH = 3, S = 5, T = 7, P = 4, HD = 8 };

static double max_abs_diff(const pt_tensor *a, const pt_tensor *b) {
  ck_assert_ptr_nonnull(a);
  ck_assert_ptr_nonnull(b);
  ck_assert(pt_same_shape(a, b));
  double m = 0;
  for (int64_t i = 0; i < pt_numel(a); i++) {
    double d = fabs(pt_get(a, i) - pt_get(b, i));
    if (!(d <= m)) m = d; /* NaN propagates */
  }
  return m;
}

/* A leaf [B, NH, R, HD] that requires grad; `permuted` builds it as a
 * [B, R, NH, HD] tensor viewed as [B, NH, R, HD] (how q/k/v come out of a
 * linear layer), so the kernels see head-interleaved strides. */
static pt_tensor *leaf(pt_rng *rng, int64_t R, bool permuted, bool grad) {
  pt_tensor *t;
  if (permuted) {
    pt_tensor *base = pt_randn(rng, PT_F32, PT_DIMS(B, R, NH, HD));
    t = pt_raw_permute(base, (const int[]){0, 2, 1, 3});
    pt_tensor_free(base);
  } else {
    t = pt_randn(rng, PT_F32, PT_DIMS(B, NH, R, HD));
  }
  ck_assert_ptr_nonnull(t);
  if (grad) ck_assert_int_eq(pt_set_requires_grad(t, true), PT_OK);
  return t;
}

/* [B, 1, 1, L]: batch 1 masks its last two keys with -1e9 */
static pt_tensor *key_mask(int64_t L) {
  pt_tensor *m = pt_zeros(PT_F32, PT_DIMS(B, 1, 1, L));
  pt_set(m, 2 * L - 1, -1e9);
  pt_set(m, 2 * L - 2, -1e9);
  return m;
}

/* softmax(q·kᵀ·scale + mask) (dropout) · v from separate ops */
static pt_tensor *composed(pt_tensor *q, pt_tensor *k, pt_tensor *v, pt_tensor *mask, double scale,
                           double p, pt_rng *rng) {
  pt_tensor *s = pt_matmul_t(q, k, false, true);
  pt_tensor *s2 = pt_scale(s, scale);
  pt_tensor *s3 = mask ? pt_add(s2, mask) : pt_tensor_ref(s2);
  pt_tensor *pr = pt_softmax(s3, -1);
  pt_tensor *d = pt_dropout(pr, p, p > 0, rng);
  pt_tensor *o = pt_matmul(d, v);
  pt_tensor_free(s);
  pt_tensor_free(s2);
  pt_tensor_free(s3);
  pt_tensor_free(pr);
  pt_tensor_free(d);
  ck_assert_ptr_nonnull(o);
  return o;
}

/* Backward of Σ w·out with a fixed weighting w, after clearing the grads. */
static void backprop(pt_tensor *out, pt_tensor *const *leaves, int n) {
  for (int i = 0; i < n; i++) pt_zero_grad(leaves[i]);
  pt_rng r;
  pt_rng_init(&r, 99);
  pt_tensor *w = pt_randn(&r, out->dtype, out->ndim, out->shape);
  ck_assert_msg(pt_backward(out, w, false) == PT_OK, "%s", pt_error_message());
  pt_tensor_free(w);
}

static pt_tensor *grad_copy(const pt_tensor *t) {
  ck_assert_ptr_nonnull(t->grad);
  return pt_raw_clone(t->grad);
}

static void check_against_composed(double p) {
  pt_rng rng;
  pt_rng_init(&rng, 5);
  pt_tensor *q = leaf(&rng, S, true, true), *k = leaf(&rng, T, true, true);
  pt_tensor *v = leaf(&rng, T, false, true), *mask = key_mask(T);
  pt_tensor *leaves[3] = {q, k, v};
  double scale = 1.0 / sqrt(HD);
  pt_rng r1, r2;
  pt_rng_init(&r1, 77);
  pt_rng_init(&r2, 77);
  pt_tensor *ref = composed(q, k, v, mask, scale, p, &r1);
  backprop(ref, leaves, 3);
  pt_tensor *gref[3];
  for (int i = 0; i < 3; i++) gref[i] = grad_copy(leaves[i]);
  pt_tensor *out = pt_attention(q, k, v, NULL, NULL, mask, scale, p, p > 0, &r2);
  ck_assert_ptr_nonnull(out);
  ck_assert_uint_eq(r1.counter, r2.counter); /* same draws: same dropout mask */
  /* out is built in q's layout: permuted back to [B, S, NH, HD] it is
   * contiguous, so the reshape to [B, S, H] that follows is a view */
  pt_tensor *ot = pt_raw_permute(out, (const int[]){0, 2, 1, 3});
  ck_assert(pt_is_contiguous(ot));
  pt_tensor_free(ot);
  ck_assert_double_le(max_abs_diff(out, ref), 1e-5);
  backprop(out, leaves, 3);
  for (int i = 0; i < 3; i++) {
    double d = max_abs_diff(leaves[i]->grad, gref[i]);
    ck_assert_msg(d <= 1e-5, "gradient %d differs by %g (p = %g)", i, d, p);
    pt_tensor_free(gref[i]);
  }
  /* masked keys get no attention: their value rows get zero gradient */
  for (int64_t h = 0; h < NH; h++)
    for (int64_t j = T - 2; j < T; j++)
      for (int64_t d = 0; d < HD; d++)
        ck_assert_double_eq(pt_get(v->grad, ((NH + h) * T + j) * HD + d), 0.0);
  pt_tensor_free(out);
  pt_tensor_free(ref);
  pt_tensor_free(mask);
  for (int i = 0; i < 3; i++) pt_tensor_free(leaves[i]);
}

/* torch 1.13 (tests/tools/attention_reference.py): B 1, NH 2, S 3, T 4,
 * P 2, HD 4, inputs sin(0.37 i + c), the last token key masked with -1e9,
 * L = Σ cos(0.11 i)·out, all in float64. */
static const double torch_out[24] = {
    0.5834525864307488, 0.6691768668637856, 0.6643311976174032, 0.5695714172920371,
    0.6621284649006871, 0.6900988472816196, 0.6246675880830262, 0.47469050128552326,
    0.342212222159738, 0.1934432317502113, 0.018492607406517148, -0.15896090459690632,
    -0.46429676082039745, -0.5334430807944364, -0.5303903822775666, -0.45555183369319086,
    0.10060538202000949, 0.14971556941492614, 0.17856245683701877, 0.18324175340057347,
    0.5694192430444047, 0.6002724512078318, 0.5498815991056464, 0.42506685217570617
};
static const double torch_dq[24] = {
    0.03530491217257847, 0.12337582090716659, 0.19474839106410977, 0.2397626800965282,
    0.03437688262462081, 0.09091599496040295, 0.13515005388450735, 0.16109218703290756,
    0.2055376351565755, 0.3260343981005083, 0.4024039347580406, 0.42430998660826735,
    0.04997137023999567, 0.037667000470420826, 0.02026457889106175, 0.00011944162423451268,
    -0.18393340712912273, -0.25185827512028747, -0.28569530709450114, -0.2808648195107468,
    -0.2817904976199022, -0.3416597721903332, -0.35528699939324915, -0.3208277979549486
};
static const double torch_dk[32] = {
    0.024041239673769067, 0.014157423883537513, 0.002357467186146961, -0.00976156163551007,
    0.03950723750922084, 0.011747016160977907, -0.01760310871690938, -0.04457073540987904,
    -0.11901962140618462, -0.048982915281549286, 0.027683398637200374, 0.1006028944190987, 0.0,
    0.0, 0.0, 0.0, 0.032104683462425, 0.0030231320399915582, -0.026467586121901233,
    -0.05237604066725411, -0.2152613201167735, -0.27627247814128064, -0.2998914523021492,
    -0.2829215252483223, 0.07381542957744458, 0.09981960936307738, 0.11231367329637378,
    0.10960660843626571, 0.0, 0.0, 0.0, 0.0
};
static const double torch_dv[32] = {
    0.5148764173578839, 0.49304202390789953, 0.46524783506645273, 0.43182982154300487,
    0.5644869851704168, 0.5349886102337073, 0.4990233977879268, 0.4570260882750533,
    0.37820929357274125, 0.3357078095564231, 0.28914835530784333, 0.23909373238833795, 0.0, 0.0,
    0.0, 0.0, -0.16977821001910817, -0.22939508132065617, -0.28623906982076885,
    -0.33962305652295566, -0.40779811698547447, -0.4931113534031114, -0.5724639563879304,
    -0.6448967272212882, -0.04329058464557374, -0.08110560558195337, -0.11794023784773279,
    -0.15334923162448102, 0.0, 0.0, 0.0, 0.0
};
static const double torch_dpk[16] = {
    0.07889007439405847, 0.085076727109448, 0.07974864392354272, 0.0636269559003868,
    -0.02341893017086379, -0.061998251872414076, -0.09218640102998055, -0.10989755327409623,
    0.040475519488074554, 0.0720075542788671, 0.09379370440072264, 0.10288531663809847,
    0.06886568758882938, 0.10142218245934462, 0.12025166072695395, 0.12280564084121219
};
static const double torch_dpv[16] = {
    0.5796815717428349, 0.5558517912123735, 0.5253029831285477, 0.4884044154985542,
    0.5046485395746667, 0.4755802456873866, 0.4407632309627773, 0.4006183566537104,
    0.03565130649268249, -0.014917929801176493, -0.06530684108222118, -0.11490633606274875,
    0.056813100661620895, -0.009597412638187662, -0.07589191429428757, -0.14126904935864049
};

static pt_tensor *pattern(pt_dtype dt, int64_t r, double c) {
  pt_tensor *t = pt_empty(dt, 4, PT_SHAPE(1, 2, r, 4));
  for (int64_t i = 0; i < pt_numel(t); i++) pt_set(t, i, sin(0.37 * (double)i + c));
  pt_set_requires_grad(t, true);
  return t;
}

static void check_values(const pt_tensor *t, const double *want, double tol, const char *what) {
  ck_assert_ptr_nonnull(t);
  for (int64_t i = 0; i < pt_numel(t); i++)
    ck_assert_msg(fabs(pt_get(t, i) - want[i]) <= tol, "%s[%lld] = %.17g, torch %.17g", what,
                  (long long)i, pt_get(t, i), want[i]);
}

START_TEST(attention_matches_torch) {
  for (int f64 = 0; f64 < 2; f64++) {
    pt_dtype dt = f64 ? PT_F64 : PT_F32;
    double tol = f64 ? 1e-12 : 1e-5;
    pt_tensor *q = pattern(dt, 3, 0.1), *k = pattern(dt, 4, 0.2), *v = pattern(dt, 4, 0.3);
    pt_tensor *pk = pattern(dt, 2, 0.4), *pv = pattern(dt, 2, 0.5);
    pt_tensor *mask = pt_zeros(dt, PT_DIMS(1, 1, 1, 6));
    pt_set(mask, 5, -1e9);
    pt_tensor *out = pt_attention(q, k, v, pk, pv, mask, 0.5, 0.1, false, NULL);
    check_values(out, torch_out, tol, "out");
    pt_tensor *w = pt_empty(dt, out->ndim, out->shape);
    for (int64_t i = 0; i < pt_numel(w); i++) pt_set(w, i, cos(0.11 * (double)i));
    ck_assert_int_eq(pt_backward(out, w, false), PT_OK);
    check_values(q->grad, torch_dq, tol, "dq");
    check_values(k->grad, torch_dk, tol, "dk");
    check_values(v->grad, torch_dv, tol, "dv");
    check_values(pk->grad, torch_dpk, tol, "dprefix_k");
    check_values(pv->grad, torch_dpv, tol, "dprefix_v");
    pt_tensor *t[] = {q, k, v, pk, pv, mask, out, w};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) pt_tensor_free(t[i]);
  }
}
END_TEST

START_TEST(attention_equals_composed_ops) { check_against_composed(0.0); }
END_TEST

START_TEST(attention_with_dropout_equals_composed_ops) { check_against_composed(0.2); }
END_TEST

START_TEST(prefix_attention_equals_concatenated_keys) {
  pt_rng rng;
  pt_rng_init(&rng, 6);
  pt_tensor *q = leaf(&rng, S, true, true), *k = leaf(&rng, T, true, true);
  pt_tensor *v = leaf(&rng, T, true, true), *pk = leaf(&rng, P, false, true);
  pt_tensor *pv = leaf(&rng, P, false, true), *mask = key_mask(P + T);
  pt_tensor *leaves[5] = {q, k, v, pk, pv};
  for (int drop = 0; drop < 2; drop++) {
    double p = drop ? 0.2 : 0.0;
    pt_rng r1, r2;
    pt_rng_init(&r1, 31);
    pt_rng_init(&r2, 31);
    pt_tensor *kk = pt_concat(2, (pt_tensor *[]){pk, k}, 2);
    pt_tensor *vv = pt_concat(2, (pt_tensor *[]){pv, v}, 2);
    pt_tensor *ref = pt_attention(q, kk, vv, NULL, NULL, mask, 0.3, p, drop, &r1);
    ck_assert_ptr_nonnull(ref);
    backprop(ref, leaves, 5);
    pt_tensor *gref[5];
    for (int i = 0; i < 5; i++) gref[i] = grad_copy(leaves[i]);
    pt_tensor *out = pt_attention(q, k, v, pk, pv, mask, 0.3, p, drop, &r2);
    ck_assert_double_le(max_abs_diff(out, ref), 1e-5);
    backprop(out, leaves, 5);
    for (int i = 0; i < 5; i++) {
      double d = max_abs_diff(leaves[i]->grad, gref[i]);
      ck_assert_msg(d <= 1e-5, "gradient %d differs by %g (p = %g)", i, d, p);
      pt_tensor_free(gref[i]);
    }
    /* and against the composed ops over the concatenation */
    if (!drop) {
      pt_tensor *c = composed(q, kk, vv, mask, 0.3, 0.0, NULL);
      ck_assert_double_le(max_abs_diff(out, c), 1e-5);
      pt_tensor_free(c);
    }
    pt_tensor_free(kk);
    pt_tensor_free(vv);
    pt_tensor_free(ref);
    pt_tensor_free(out);
  }
  pt_tensor_free(mask);
  for (int i = 0; i < 5; i++) pt_tensor_free(leaves[i]);
}
END_TEST

START_TEST(inference_path_matches_training_path) {
  /* without a node the scores live in per-thread scratch: same numbers */
  pt_rng rng;
  pt_rng_init(&rng, 8);
  pt_tensor *q = leaf(&rng, S, true, true), *k = leaf(&rng, T, false, false);
  pt_tensor *v = leaf(&rng, T, false, false), *pk = leaf(&rng, P, false, false);
  pt_tensor *pv = leaf(&rng, P, false, false), *mask = key_mask(P + T);
  pt_rng r1, r2;
  pt_rng_init(&r1, 3);
  pt_rng_init(&r2, 3);
  pt_tensor *a = pt_attention(q, k, v, pk, pv, mask, 0.35, 0.1, true, &r1);
  ck_assert_ptr_nonnull(a->grad_fn);
  pt_no_grad_enter();
  pt_tensor *b = pt_attention(q, k, v, pk, pv, mask, 0.35, 0.1, true, &r2);
  pt_no_grad_exit();
  ck_assert_ptr_null(b->grad_fn);
  ck_assert_double_eq(max_abs_diff(a, b), 0.0);
  /* eval mode (training false) draws nothing and drops nothing */
  pt_tensor *c = pt_attention(q, k, v, pk, pv, mask, 0.35, 0.1, false, &r2);
  ck_assert_uint_eq(r2.counter, r1.counter);
  ck_assert_double_gt(max_abs_diff(a, c), 1e-3);
  pt_tensor *t[] = {a, b, c, q, k, v, pk, pv, mask};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) pt_tensor_free(t[i]);
}
END_TEST

START_TEST(frozen_keys_and_values_skip_their_gemms) {
  pt_rng rng;
  pt_rng_init(&rng, 9);
  pt_tensor *q = leaf(&rng, S, true, true), *k = leaf(&rng, T, true, false);
  pt_tensor *v = leaf(&rng, T, true, false);
  pt_tensor *out = pt_attention(q, k, v, NULL, NULL, NULL, 0.5, 0.0, false, NULL);
  pt_node *n = out->grad_fn;
  ck_assert_ptr_nonnull(n);
  ck_assert(n->needs_grad[0] && !n->needs_grad[1] && !n->needs_grad[2]);
  ck_assert_ptr_null(n->saved[1]); /* q is only read by dk */
  ck_assert_ptr_nonnull(n->saved[2]);
  uint64_t before = pt_gemm_calls();
  pt_rng r;
  pt_rng_init(&r, 1);
  pt_tensor *w = pt_randn(&r, PT_F32, out->ndim, out->shape);
  ck_assert_int_eq(pt_backward(out, w, false), PT_OK);
  /* per (b, h): dprobs = g·vᵀ and dq = dscores·k; no dk, no dv */
  ck_assert_uint_eq(pt_gemm_calls() - before, 2 * B * NH);
  ck_assert_ptr_nonnull(q->grad);
  ck_assert_ptr_null(k->grad);
  ck_assert_ptr_null(v->grad);
  pt_tensor *t[] = {out, w, q, k, v};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) pt_tensor_free(t[i]);
}
END_TEST

START_TEST(gradients_mirror_input_layouts) {
  pt_rng rng;
  pt_rng_init(&rng, 15);
  pt_tensor *q = leaf(&rng, S, true, false), *k = leaf(&rng, T, false, false);
  pt_tensor *v = leaf(&rng, T, true, false);
  pt_attn_params prm = {.scale = 0.5};
  pt_tensor *probs;
  pt_tensor *out = pt_raw_attention(q, k, v, NULL, NULL, NULL, &prm, &probs);
  ck_assert_ptr_nonnull(probs);
  ck_assert(pt_is_contiguous(probs));
  pt_tensor *g = pt_randn(&rng, PT_F32, PT_DIMS(B, NH, S, HD));
  const bool need[5] = {true, true, true, false, false};
  const int layout[5] = {pt_attn_layout_code(q), pt_attn_layout_code(k), pt_attn_layout_code(v),
                         PT_ATTN_LAYOUT_CONTIGUOUS, PT_ATTN_LAYOUT_CONTIGUOUS};
  ck_assert_int_eq(layout[0], 0 | 2 << 2 | 1 << 4 | 3 << 6);
  ck_assert_int_eq(layout[1], PT_ATTN_LAYOUT_CONTIGUOUS);
  pt_tensor *gl[5], *gc[5];
  ck_assert_int_eq(pt_raw_attention_backward(g, q, k, v, NULL, NULL, probs, 0, &prm, need, layout, gl), PT_OK);
  ck_assert_int_eq(pt_raw_attention_backward(g, q, k, v, NULL, NULL, probs, 0, &prm, need, NULL, gc), PT_OK);
  for (int i = 0; i < 3; i++) {
    ck_assert_double_eq(max_abs_diff(gl[i], gc[i]), 0.0);
    ck_assert(pt_is_contiguous(gc[i]));
  }
  ck_assert(!pt_is_contiguous(gl[0]) && pt_is_contiguous(gl[1]) && !pt_is_contiguous(gl[2]));
  pt_tensor *back = pt_raw_permute(gl[0], (const int[]){0, 2, 1, 3});
  ck_assert(pt_is_contiguous(back));
  ck_assert_ptr_null(gl[3]);
  pt_tensor *t[] = {q, k, v, out, probs, g, back, gl[0], gl[1], gl[2], gc[0], gc[1], gc[2]};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) pt_tensor_free(t[i]);
}
END_TEST

START_TEST(attention_errors) {
  pt_rng rng;
  pt_rng_init(&rng, 10);
  pt_tensor *q = leaf(&rng, S, false, false), *k = leaf(&rng, T, false, false);
  pt_tensor *v = leaf(&rng, T, false, false), *pk = leaf(&rng, P, false, false);
  pt_tensor *bad = pt_randn(&rng, PT_F32, PT_DIMS(B, NH, T, HD + 1));
  ck_assert_ptr_null(pt_attention(q, bad, v, NULL, NULL, NULL, 1, 0, false, NULL));
  ck_assert_str_eq(pt_error_message(),
                   "attention: k [2,3,7,9] and v [2,3,7,8] must be [B, NH, T, HD] for q [2,3,5,8]");
  ck_assert_ptr_null(pt_attention(q, k, v, pk, NULL, NULL, 1, 0, false, NULL));
  ck_assert(strstr(pt_error_message(), "attention: prefix_k [2,3,4,8] and prefix_v NULL") != NULL);
  pt_tensor *m = pt_zeros(PT_F32, PT_DIMS(B, 1, 1, T + 1));
  ck_assert_ptr_null(pt_attention(q, k, v, NULL, NULL, m, 1, 0, false, NULL));
  ck_assert_str_eq(pt_error_message(),
                   "attention: mask [2,1,1,8] does not broadcast to [B, NH, S, P+T] = [2,3,5,7]");
  ck_assert_ptr_null(pt_attention(q, k, v, NULL, NULL, NULL, 1, 0.5, true, NULL));
  ck_assert(strstr(pt_error_message(), "needs an rng") != NULL);
  ck_assert_ptr_null(pt_attention(q, k, v, NULL, NULL, NULL, 1, 1.5, true, &rng));
  ck_assert(strstr(pt_error_message(), "dropout p must be in [0, 1]") != NULL);
  pt_tensor *t[] = {q, k, v, pk, bad, m};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) pt_tensor_free(t[i]);
}
END_TEST

START_TEST(shared_prefix_and_unreadable_strides) {
  /* P-Tuning v2 shares one prefix across the batch: a [1, NH, P, HD] leaf
   * expanded to [B, NH, P, HD] (batch stride 0) is read in place and its
   * gradient sums over the batch. q broadcast along HD (last stride 0) is
   * not BLAS-readable and takes the copy path. */
  pt_rng rng;
  pt_rng_init(&rng, 13);
  pt_tensor *pk1 = pt_randn(&rng, PT_F32, PT_DIMS(1, NH, P, HD));
  pt_tensor *pv1 = pt_randn(&rng, PT_F32, PT_DIMS(1, NH, P, HD));
  pt_set_requires_grad(pk1, true);
  pt_set_requires_grad(pv1, true);
  pt_tensor *q0 = pt_randn(&rng, PT_F32, PT_DIMS(B, NH, S, 1));
  pt_tensor *q = pt_raw_expand(q0, 4, PT_SHAPE(B, NH, S, HD));
  pt_tensor *qc = pt_raw_clone(q);
  pt_tensor *k = leaf(&rng, T, true, false), *v = leaf(&rng, T, true, false);
  pt_tensor *pk = pt_expand(pk1, 4, PT_SHAPE(B, NH, P, HD));
  pt_tensor *pv = pt_expand(pv1, 4, PT_SHAPE(B, NH, P, HD));
  ck_assert_int_eq(pk->strides[0], 0);
  pt_tensor *out = pt_attention(q, k, v, pk, pv, NULL, 0.4, 0, false, NULL);
  pt_tensor *leaves[2] = {pk1, pv1};
  backprop(out, leaves, 2);
  pt_tensor *g0 = grad_copy(pk1), *g1 = grad_copy(pv1);
  /* reference: contiguous q and per-batch copies of the prefix, concatenated */
  pt_tensor *pk2 = pt_expand(pk1, 4, PT_SHAPE(B, NH, P, HD));
  pt_tensor *pv2 = pt_expand(pv1, 4, PT_SHAPE(B, NH, P, HD));
  pt_tensor *kk = pt_concat(2, (pt_tensor *[]){pk2, k}, 2); /* concat copies the views */
  pt_tensor *vv = pt_concat(2, (pt_tensor *[]){pv2, v}, 2);
  pt_tensor *ref = composed(qc, kk, vv, NULL, 0.4, 0, NULL);
  ck_assert_double_le(max_abs_diff(out, ref), 1e-5);
  backprop(ref, leaves, 2);
  ck_assert_double_le(max_abs_diff(g0, pk1->grad), 1e-5);
  ck_assert_double_le(max_abs_diff(g1, pv1->grad), 1e-5);
  pt_tensor *t[] = {pk1, pv1, q0, q, qc, k, v, pk, pv, out, g0, g1, pk2, pv2, kk, vv, ref};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) pt_tensor_free(t[i]);
}
END_TEST

START_TEST(embedding_large_backward_matches_serial_sum) {
  /* large enough for the column-parallel scatter-add; ids repeat a lot */
  enum { V = 50, H = 160, N = 600 };
  pt_rng rng;
  pt_rng_init(&rng, 14);
  pt_tensor *w = pt_randn(&rng, PT_F32, PT_DIMS(V, H));
  pt_set_requires_grad(w, true);
  int64_t idv[N];
  for (int i = 0; i < N; i++) idv[i] = (int64_t)pt_rng_below(&rng, V);
  idv[7] = 3; /* the padding id occurs */
  pt_tensor *ids = pt_from_buffer(PT_I64, 2, PT_SHAPE(N / 20, 20), idv);
  pt_tensor *e = pt_embedding(w, ids, 3);
  pt_tensor *g = pt_randn(&rng, PT_F32, e->ndim, e->shape);
  ck_assert_int_eq(pt_backward(e, g, false), PT_OK);
  double *want = calloc((size_t)V * H, sizeof(double));
  for (int i = 0; i < N; i++)
    if (idv[i] != 3)
      for (int h = 0; h < H; h++) want[idv[i] * H + h] += pt_get(g, (int64_t)i * H + h);
  for (int64_t i = 0; i < (int64_t)V * H; i++)
    ck_assert_double_eq_tol(pt_get(w->grad, i), want[i], 1e-4);
  for (int h = 0; h < H; h++) ck_assert_double_eq(pt_get(w->grad, 3 * H + h), 0.0);
  free(want);
  pt_tensor *t[] = {w, ids, e, g};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) pt_tensor_free(t[i]);
}
END_TEST

START_TEST(embedding_gathers_rows_and_skips_the_padding_row) {
  for (int dt = 0; dt < 2; dt++) {
    pt_rng rng;
    pt_rng_init(&rng, 11);
    pt_tensor *w = pt_randn(&rng, dt ? PT_F64 : PT_F32, PT_DIMS(5, 3));
    pt_set_requires_grad(w, true);
    const int32_t idv[6] = {1, 0, 1, 4, 0, 2};
    pt_tensor *ids = pt_from_buffer(PT_I32, 2, PT_SHAPE(2, 3), idv);
    pt_tensor *e = pt_embedding(w, ids, 0);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->ndim, 3);
    ck_assert_int_eq(e->shape[2], 3);
    for (int i = 0; i < 6; i++)
      for (int h = 0; h < 3; h++) ck_assert_double_eq(pt_get(e, i * 3 + h), pt_get(w, idv[i] * 3 + h));
    pt_tensor *g = pt_randn(&rng, w->dtype, e->ndim, e->shape);
    ck_assert_int_eq(pt_backward(e, g, false), PT_OK);
    for (int h = 0; h < 3; h++) {
      ck_assert_double_eq(pt_get(w->grad, 0 * 3 + h), 0.0); /* padding: exactly zero */
      ck_assert_double_eq(pt_get(w->grad, 3 * 3 + h), 0.0); /* unused row */
      /* id 1 at positions 0 and 2: the two gradient rows summed */
      ck_assert_double_eq_tol(pt_get(w->grad, 1 * 3 + h), pt_get(g, 0 * 3 + h) + pt_get(g, 2 * 3 + h),
                              1e-6);
      ck_assert_double_eq_tol(pt_get(w->grad, 4 * 3 + h), pt_get(g, 3 * 3 + h), 1e-12);
    }
    pt_tensor *t[] = {w, ids, e, g};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) pt_tensor_free(t[i]);
  }
}
END_TEST

START_TEST(bad_ids_are_named) {
  pt_tensor *w = pt_zeros(PT_F32, PT_DIMS(5, 3));
  pt_tensor *ids = pt_from_buffer(PT_I64, 1, PT_SHAPE(3), (const int64_t[]){1, 7, 2});
  ck_assert_ptr_null(pt_embedding(w, ids, -1));
  ck_assert_str_eq(pt_error_message(), "embedding: id 7 at position 1 of ids [3] is outside [0, 5)");
  pt_set(ids, 1, -2);
  ck_assert_ptr_null(pt_embedding(w, ids, -1));
  ck_assert(strstr(pt_error_message(), "embedding: id -2 at position 1") != NULL);
  pt_set(ids, 1, 3);
  ck_assert_ptr_null(pt_embedding(w, ids, 5));
  ck_assert(strstr(pt_error_message(), "embedding: padding_idx 5 is outside [0, 5)") != NULL);
  pt_tensor *fids = pt_zeros(PT_F32, PT_DIMS(3));
  ck_assert_ptr_null(pt_embedding(w, fids, -1));
  ck_assert(strstr(pt_error_message(), "embedding: ids must be I64 or I32, got F32") != NULL);
  pt_tensor *idx = pt_from_buffer(PT_I64, 1, PT_SHAPE(2), (const int64_t[]){0, 3});
  ck_assert_ptr_null(pt_index_select(w, 1, idx));
  ck_assert(strstr(pt_error_message(), "index_select: id 3 at position 1") != NULL);
  pt_tensor *t[] = {w, ids, fids, idx};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) pt_tensor_free(t[i]);
}
END_TEST

START_TEST(index_select_picks_slices) {
  pt_tensor *x = pt_arange(PT_F64, 0, 12, 1);
  pt_tensor *x2 = pt_raw_view(x, 2, PT_SHAPE(3, 4));
  pt_tensor *idx = pt_from_buffer(PT_I64, 1, PT_SHAPE(3), (const int64_t[]){3, 0, 3});
  pt_tensor *y = pt_index_select(x2, -1, idx);
  ck_assert_ptr_nonnull(y);
  ck_assert_int_eq(y->shape[0], 3);
  ck_assert_int_eq(y->shape[1], 3);
  const double want[9] = {3, 0, 3, 7, 4, 7, 11, 8, 11};
  for (int i = 0; i < 9; i++) ck_assert_double_eq(pt_get(y, i), want[i]);
  pt_tensor *t[] = {x, x2, idx, y};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) pt_tensor_free(t[i]);
}
END_TEST

static void expect_chunks(int64_t len, int n, int want_pieces, const int64_t *want) {
  pt_tensor *x = pt_arange(PT_F32, 0, (double)len, 1);
  pt_tensor *out[16];
  ck_assert_int_eq(pt_chunk(x, n, 0, out), PT_OK);
  int64_t off = 0;
  for (int i = 0; i < n; i++) {
    if (i >= want_pieces) {
      ck_assert_ptr_null(out[i]);
      continue;
    }
    ck_assert_ptr_nonnull(out[i]);
    ck_assert_int_eq(out[i]->shape[0], want[i]);
    for (int64_t j = 0; j < want[i]; j++) ck_assert_double_eq(pt_get(out[i], j), (double)(off + j));
    off += want[i];
    pt_tensor_free(out[i]);
  }
  ck_assert_int_eq(off, len);
  pt_tensor_free(x);
}

START_TEST(chunk_sizes_match_torch) {
  expect_chunks(10, 3, 3, (const int64_t[]){4, 4, 2});
  expect_chunks(6, 4, 3, (const int64_t[]){2, 2, 2}); /* torch.chunk gives 3 pieces */
  expect_chunks(5, 5, 5, (const int64_t[]){1, 1, 1, 1, 1});
  expect_chunks(2, 4, 2, (const int64_t[]){1, 1});
  expect_chunks(0, 3, 3, (const int64_t[]){0, 0, 0});
  expect_chunks(7, 1, 1, (const int64_t[]){7});
}
END_TEST

START_TEST(split_and_concat_round_trip_with_gradients) {
  pt_rng rng;
  pt_rng_init(&rng, 12);
  pt_tensor *x = pt_randn(&rng, PT_F64, PT_DIMS(3, 9));
  pt_set_requires_grad(x, true);
  pt_tensor *pieces[3];
  ck_assert_int_eq(pt_split(x, 1, 3, (const int64_t[]){2, 0, 7}, pieces), PT_OK);
  ck_assert_int_eq(pieces[2]->shape[1], 7);
  /* joined back in another order, then weighted: the gradient lands on the
   * right columns */
  pt_tensor *j = pt_concat(3, (pt_tensor *[]){pieces[2], pieces[1], pieces[0]}, -1);
  ck_assert_int_eq(j->shape[1], 9);
  for (int r = 0; r < 3; r++) {
    ck_assert_double_eq(pt_get(j, r * 9 + 0), pt_get(x, r * 9 + 2));
    ck_assert_double_eq(pt_get(j, r * 9 + 7), pt_get(x, r * 9 + 0));
  }
  pt_tensor *w = pt_arange(PT_F64, 0, 27, 1);
  pt_tensor *w2 = pt_raw_view(w, 2, PT_SHAPE(3, 9));
  ck_assert_int_eq(pt_backward(j, w2, false), PT_OK);
  for (int r = 0; r < 3; r++) {
    ck_assert_double_eq(pt_get(x->grad, r * 9 + 2), r * 9 + 0);
    ck_assert_double_eq(pt_get(x->grad, r * 9 + 0), r * 9 + 7);
    ck_assert_double_eq(pt_get(x->grad, r * 9 + 1), r * 9 + 8);
  }
  /* more inputs than one node holds */
  pt_tensor *many[9];
  for (int i = 0; i < 9; i++) many[i] = pieces[0];
  pt_tensor *m = pt_concat(9, many, 1);
  ck_assert_int_eq(m->shape[1], 18);
  ck_assert_double_eq(pt_get(m, 17), pt_get(x, 1));
  pt_tensor *t[] = {x, pieces[0], pieces[1], pieces[2], j, w, w2, m};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) pt_tensor_free(t[i]);
}
END_TEST

START_TEST(join_errors) {
  pt_tensor *a = pt_zeros(PT_F32, PT_DIMS(2, 3)), *b = pt_zeros(PT_F32, PT_DIMS(3, 3));
  pt_tensor *out[4];
  ck_assert_ptr_null(pt_concat(2, (pt_tensor *[]){a, b}, 1));
  ck_assert_str_eq(pt_error_message(),
                   "concat: tensor 1 [3,3] F32 does not fit tensor 0 [2,3] F32 along dim 1");
  ck_assert_int_eq(pt_split(a, 1, 2, (const int64_t[]){1, 1}, out), PT_ERR_SHAPE);
  ck_assert_str_eq(pt_error_message(), "split: 2 sizes summing to 2 do not cover dim 1 of [2,3]");
  ck_assert_int_eq(pt_chunk(a, 0, 0, out), PT_ERR_ARG);
  ck_assert(strstr(pt_error_message(), "chunk: number of chunks must be at least 1") != NULL);
  ck_assert_int_ne(pt_chunk(a, 2, 5, out), PT_OK);
  ck_assert(strstr(pt_error_message(), "chunk") != NULL);
  pt_tensor_free(a);
  pt_tensor_free(b);
}
END_TEST

int main(void) {
  Suite *s = suite_create("index");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, attention_matches_torch);
  tcase_add_test(tc, attention_equals_composed_ops);
  tcase_add_test(tc, attention_with_dropout_equals_composed_ops);
  tcase_add_test(tc, prefix_attention_equals_concatenated_keys);
  tcase_add_test(tc, inference_path_matches_training_path);
  tcase_add_test(tc, frozen_keys_and_values_skip_their_gemms);
  tcase_add_test(tc, gradients_mirror_input_layouts);
  tcase_add_test(tc, attention_errors);
  tcase_add_test(tc, shared_prefix_and_unreadable_strides);
  tcase_add_test(tc, embedding_large_backward_matches_serial_sum);
  tcase_add_test(tc, embedding_gathers_rows_and_skips_the_padding_row);
  tcase_add_test(tc, bad_ids_are_named);
  tcase_add_test(tc, index_select_picks_slices);
  tcase_add_test(tc, chunk_sizes_match_torch);
  tcase_add_test(tc, split_and_concat_round_trip_with_gradients);
  tcase_add_test(tc, join_errors);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
