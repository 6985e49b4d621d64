/* autograd/: the tape, per-operand gradient skipping, accumulation, grad
 * modes, graph lifetime. */
#include <check.h>
#include <math.h>
#include <string.h>

#include "ptune.h"

/* y = x·Wᵀ + b with W frozen must run exactly one GEMM in backward (dX),
 * never the dW GEMM; with W trainable it runs two. */
START_TEST(frozen_weight_skips_weight_gemm) {
  pt_rng rng;
  pt_rng_init(&rng, 1);
  pt_tensor *x = pt_randn(&rng, PT_F32, PT_DIMS(4, 3, 8));
  pt_tensor *w = pt_randn(&rng, PT_F32, PT_DIMS(6, 8));
  pt_tensor *b = pt_randn(&rng, PT_F32, PT_DIMS(6));
  pt_set_requires_grad(x, true);
  for (int trainable = 0; trainable <= 1; trainable++) {
    pt_set_requires_grad(w, trainable);
    pt_zero_grad(x);
    pt_zero_grad(w);
    pt_tensor *y = pt_linear(x, w, b);
    pt_node *n = y->grad_fn;
    ck_assert_ptr_nonnull(n);
    /* a frozen W means x is not saved (only dW needs it) */
    ck_assert(trainable ? n->saved[0] != NULL : n->saved[0] == NULL);
    pt_tensor *loss = pt_sum(y, 0, NULL, false);
    uint64_t before = pt_gemm_calls();
    ck_assert_int_eq(pt_backward(loss, NULL, false), PT_OK);
    ck_assert_int_eq(pt_gemm_calls() - before, trainable ? 2 : 1);
    ck_assert_ptr_nonnull(x->grad);
    ck_assert(trainable ? w->grad != NULL : w->grad == NULL);
    ck_assert_ptr_null(b->grad);
    pt_tensor_free(loss);
    pt_tensor_free(y);
  }
  /* dX = ones · W: each row of dx is the column sums of W */
  for (int k = 0; k < 8; k++) {
    double want = 0;
    for (int o = 0; o < 6; o++) want += pt_get(w, o * 8 + k);
    ck_assert_double_eq_tol(pt_get(x->grad, 5 * 8 + k), want, 1e-5);
  }
  pt_tensor_free(x);
  pt_tensor_free(w);
  pt_tensor_free(b);
  ck_assert_int_eq(pt_live_nodes(), 0);
}
END_TEST

START_TEST(gradients_accumulate_across_uses_and_calls) {
  pt_tensor *x = pt_full(PT_F64, PT_DIMS(3), 2.0);
  pt_set_requires_grad(x, true);
  for (int call = 1; call <= 2; call++) {
    pt_tensor *y = pt_mul(x, x); /* x used twice */
    pt_tensor *z = pt_add(y, x);
    pt_tensor *l = pt_sum(z, 0, NULL, false);
    ck_assert_int_eq(pt_backward(l, NULL, false), PT_OK);
    ck_assert_double_eq_tol(pt_get(x->grad, 1), call * (2 * 2.0 + 1), 1e-12);
    pt_tensor_free(y);
    pt_tensor_free(z);
    pt_tensor_free(l);
  }
  pt_tensor_free(x);
}
END_TEST

START_TEST(second_backward_needs_retain_graph) {
  pt_tensor *x = pt_full(PT_F64, PT_DIMS(2), 3.0);
  pt_set_requires_grad(x, true);
  pt_tensor *y = pt_mul(x, x);
  pt_tensor *l = pt_sum(y, 0, NULL, false);
  ck_assert_int_eq(pt_backward(l, NULL, true), PT_OK);
  ck_assert_int_eq(pt_backward(l, NULL, false), PT_OK);
  ck_assert_double_eq_tol(pt_get(x->grad, 0), 12.0, 1e-12);
  ck_assert_int_eq(pt_backward(l, NULL, false), PT_ERR_STATE);
  ck_assert(strstr(pt_error_message(), "retain_graph") != NULL);
  pt_tensor_free(x);
  pt_tensor_free(y);
  pt_tensor_free(l);
}
END_TEST

START_TEST(no_grad_records_nothing) {
  pt_tensor *x = pt_ones(PT_F32, PT_DIMS(2, 2));
  pt_set_requires_grad(x, true);
  pt_no_grad_enter();
  pt_tensor *y = pt_mul(x, x);
  pt_no_grad_exit();
  ck_assert_ptr_null(y->grad_fn);
  ck_assert(!pt_requires_grad(y));
  ck_assert_int_eq(pt_backward(y, NULL, false), PT_ERR_STATE);
  pt_tensor *d = pt_detach(x);
  ck_assert(!pt_requires_grad(d));
  ck_assert_ptr_eq(d->storage, x->storage);
  pt_tensor_free(x);
  pt_tensor_free(y);
  pt_tensor_free(d);
}
END_TEST

START_TEST(null_inputs_propagate_and_errors_name_shapes) {
  pt_tensor *a = pt_ones(PT_F32, PT_DIMS(2, 3));
  pt_tensor *b = pt_ones(PT_F32, PT_DIMS(4, 2));
  pt_tensor *bad = pt_matmul(a, b);
  ck_assert_ptr_null(bad);
  ck_assert_str_eq(pt_error_message(), "matmul: inner dimensions differ: [2,3] x [4,2]");
  ck_assert_ptr_null(pt_add(bad, a)); /* propagates without a new message */
  ck_assert_str_eq(pt_error_message(), "matmul: inner dimensions differ: [2,3] x [4,2]");
  pt_tensor_free(a);
  pt_tensor_free(b);
}
END_TEST

START_TEST(dropping_the_output_frees_the_graph) {
  int64_t allocs = pt_live_allocations();
  pt_tensor *x = pt_ones(PT_F32, PT_DIMS(8, 8));
  pt_set_requires_grad(x, true);
  pt_tensor *h = pt_tensor_ref(x);
  for (int i = 0; i < 1000; i++) { /* a deep chain */
    pt_tensor *n = pt_mul(h, x);
    pt_tensor_free(h);
    h = n;
  }
  ck_assert_int_eq(pt_live_nodes(), 1000);
  pt_tensor_free(h);
  ck_assert_int_eq(pt_live_nodes(), 0);
  pt_tensor_free(x);
  ck_assert_int_eq(pt_live_allocations(), allocs);
}
END_TEST

/* A small model checked along random directions (a few forwards), as a user
 * checks a whole network; and the same check must fail on a wrong model. */
static pt_tensor *small_model(pt_tensor *const *in, int n, void *ctx) {
  (void)n;
  bool wrong = ctx != NULL;
  pt_tensor *h = pt_linear(in[0], in[1], in[2]);
  pt_tensor *a = pt_tanh(h);
  pt_tensor *y = pt_layer_norm(a, in[3], NULL, 1e-5);
  /* wrong: the value is y² but the gradient only y·dy (one factor detached) */
  pt_tensor *d = wrong ? pt_detach(y) : NULL;
  pt_tensor *out = wrong ? pt_mul(y, d) : pt_tensor_ref(y);
  pt_tensor_free(d);
  pt_tensor_free(h);
  pt_tensor_free(a);
  pt_tensor_free(y);
  return out;
}

START_TEST(direction_check_of_a_small_model) {
  pt_rng rng;
  pt_rng_init(&rng, 9);
  pt_tensor *in[4] = {pt_case_rand(&rng, PT_DIMS(3, 5), false), pt_case_rand(&rng, PT_DIMS(4, 5), true),
                      pt_case_rand(&rng, PT_DIMS(4), true), pt_case_rand(&rng, PT_DIMS(4), true)};
  pt_gradcheck_result r;
  ck_assert_int_eq(pt_gradcheck_direction(small_model, NULL, 4, in, 5, NULL, &r), PT_OK);
  ck_assert_msg(r.passed, "%s", r.message);
  ck_assert_int_eq(r.checked, 5);
  ck_assert_ptr_null(in[0]->grad); /* the frozen input */
  ck_assert_int_eq(pt_gradcheck_direction(small_model, (void *)1, 4, in, 5, NULL, &r), PT_OK);
  ck_assert_msg(!r.passed, "a model with a wrong gradient passed: %s", r.message);
  for (int i = 0; i < 4; i++) pt_tensor_free(in[i]);
}
END_TEST

/* pt_backward_hooked announces each leaf once, when no node left to run
 * feeds it: the gradient seen by the hook is already the final one. */
typedef struct {
  pt_tensor *leaf[4];
  double seen[4]; /* the sum of the leaf's gradient when announced */
  int calls[4];
  int order[8], n;
  bool take;      /* the hook takes the gradient over */
  pt_tensor *taken[4];
  int fail_at;    /* announce number that returns an error (0: none) */
} ready_log;

static pt_status on_ready(pt_tensor *leaf, void *ctx) {
  ready_log *l = ctx;
  int i = 0;
  while (i < 4 && l->leaf[i] != leaf) i++;
  ck_assert_int_lt(i, 4);
  l->calls[i]++;
  l->order[l->n++] = i;
  if (l->fail_at && l->n == l->fail_at) return pt_error(PT_ERR_STATE, "hook says no");
  double s = 0;
  for (int64_t j = 0; leaf->grad && j < pt_numel(leaf->grad); j++) s += pt_get(leaf->grad, j);
  l->seen[i] = s;
  if (l->take) {
    l->taken[i] = leaf->grad;
    leaf->grad = NULL;
  }
  return PT_OK;
}

/* x feeds the first node and the third; w only the second; b only the
 * last; u requires grad but is unused. */
static pt_tensor *hook_graph(pt_tensor *x, pt_tensor *w, pt_tensor *b) {
  pt_tensor *h = pt_tanh(x);     /* oldest node: runs last in backward */
  pt_tensor *t = pt_mul(h, w);
  pt_tensor *y = pt_add(t, x);   /* x again */
  pt_tensor *z = pt_mul(y, b);   /* newest but for the sum: runs first */
  pt_tensor *l = pt_sum(z, 0, NULL, false);
  pt_tensor_free(h);
  pt_tensor_free(t);
  pt_tensor_free(y);
  pt_tensor_free(z);
  return l;
}

START_TEST(backward_hook_sees_final_gradients) {
  pt_rng rng;
  pt_rng_init(&rng, 3);
  pt_tensor *x = pt_randn(&rng, PT_F64, PT_DIMS(5));
  pt_tensor *w = pt_randn(&rng, PT_F64, PT_DIMS(5));
  pt_tensor *b = pt_randn(&rng, PT_F64, PT_DIMS(5));
  pt_tensor *u = pt_randn(&rng, PT_F64, PT_DIMS(5));
  pt_tensor *all[4] = {x, w, b, u};
  for (int i = 0; i < 4; i++) pt_set_requires_grad(all[i], true);
  /* the reference: a plain backward */
  pt_tensor *l = hook_graph(x, w, b);
  ck_assert_int_eq(pt_backward(l, NULL, false), PT_OK);
  pt_tensor_free(l);
  pt_tensor *want[3];
  for (int i = 0; i < 3; i++) {
    want[i] = all[i]->grad;
    all[i]->grad = NULL;
  }
  for (int take = 0; take <= 1; take++) {
    ready_log log = {.leaf = {x, w, b, u}, .take = take};
    l = hook_graph(x, w, b);
    ck_assert_int_eq(pt_backward_hooked(l, NULL, false, on_ready, &log), PT_OK);
    pt_tensor_free(l);
    ck_assert_int_eq(log.n, 3);
    ck_assert_int_eq(log.calls[3], 0); /* never reached: never announced */
    /* b's only consumer runs first, x's last consumer runs last */
    ck_assert_int_eq(log.order[0], 2);
    ck_assert_int_eq(log.order[1], 1);
    ck_assert_int_eq(log.order[2], 0);
    for (int i = 0; i < 3; i++) {
      ck_assert_int_eq(log.calls[i], 1);
      pt_tensor *g = take ? log.taken[i] : all[i]->grad;
      ck_assert(take ? all[i]->grad == NULL : log.taken[i] == NULL);
      double s = 0;
      for (int64_t j = 0; j < 5; j++) {
        ck_assert(pt_get(g, j) == pt_get(want[i], j)); /* bit for bit */
        s += pt_get(g, j);
      }
      ck_assert(log.seen[i] == s); /* what the hook saw was final */
      pt_tensor_free(take ? log.taken[i] : NULL);
      pt_zero_grad(all[i]);
    }
  }
  /* a leaf as the root is announced too */
  ready_log log = {.leaf = {u}};
  pt_tensor *s0 = pt_full(PT_F64, PT_DIMS(1), 1.0);
  pt_set_requires_grad(s0, true);
  log.leaf[1] = s0;
  ck_assert_int_eq(pt_backward_hooked(s0, NULL, false, on_ready, &log), PT_OK);
  ck_assert_int_eq(log.calls[1], 1);
  ck_assert(log.seen[1] == 1.0);
  pt_tensor_free(s0);
  /* a hook that fails stops the pass with its own message, frees the graph */
  ready_log bad = {.leaf = {x, w, b, u}, .fail_at = 2};
  l = hook_graph(x, w, b);
  ck_assert_int_eq(pt_backward_hooked(l, NULL, false, on_ready, &bad), PT_ERR_STATE);
  ck_assert_str_eq(pt_error_message(), "hook says no");
  ck_assert_int_eq(bad.n, 2);
  pt_tensor_free(l);
  ck_assert_int_eq(pt_live_nodes(), 0);
  for (int i = 0; i < 3; i++) pt_tensor_free(want[i]);
  for (int i = 0; i < 4; i++) pt_tensor_free(all[i]);
}
END_TEST

int main(void) {
  Suite *s = suite_create("autograd");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, frozen_weight_skips_weight_gemm);
  tcase_add_test(tc, gradients_accumulate_across_uses_and_calls);
  tcase_add_test(tc, second_backward_needs_retain_graph);
  tcase_add_test(tc, no_grad_records_nothing);
  tcase_add_test(tc, null_inputs_propagate_and_errors_name_shapes);
  tcase_add_test(tc, dropping_the_output_frees_the_graph);
  tcase_add_test(tc, direction_check_of_a_small_model);
  tcase_add_test(tc, backward_hook_sees_final_gradients);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
