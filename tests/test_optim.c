/* optim/: AdamW and SGD against PyTorch, schedules, gradient clipping, and
 * the optimizer state round trip. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "optim/pt_optim.h"
#include "ptune.h"

/* The gradients of tests/tools/optim_reference.py: exact in float. */
static pt_tensor *ref_grad(int t, int n, int ndim, const int64_t *shape) {
  pt_tensor *g = pt_empty(PT_F32, ndim, shape);
  for (int k = 0; k < n; k++) pt_set(g, k, ((k * 7 + t * 3) % 11 - 5) / 8.0);
  return g;
}

static pt_tensor *ref_init(int n, int off, int ndim, const int64_t *shape) {
  pt_tensor *p = pt_empty(PT_F32, ndim, shape);
  for (int k = 0; k < n; k++) pt_set(p, k, (k - off) / 4.0);
  pt_set_requires_grad(p, true);
  return p;
}

static void set_grad(pt_tensor *p, pt_tensor *g) {
  pt_tensor_free(p->grad);
  p->grad = g;
}

static void assert_close(const pt_tensor *t, const double *want, int n, double tol) {
  for (int k = 0; k < n; k++) {
    double got = pt_get(t, k), w = want[k];
    ck_assert_msg(fabs(got - w) <= tol * (1 + fabs(w)), "element %d: got %.9g, want %.9g", k, got, w);
  }
}

/* Values from tests/tools/optim_reference.py (torch.optim.AdamW, PyTorch
 * 1.13, float32): w [2,3] with weight_decay 0.1, b [3] in a group with
 * weight_decay 0 and no gradient at the second step. */
START_TEST(adamw_matches_torch) {
  pt_tensor *w = ref_init(6, 2, PT_DIMS(2, 3));
  pt_tensor *b = ref_init(3, 1, PT_DIMS(3));
  pt_tensor_set_name(w, "dense.weight");
  pt_tensor_set_name(b, "dense.bias");
  pt_adamw_opts o = pt_adamw_defaults();
  o.lr = 0.01;
  o.weight_decay = 0.1;
  pt_optim *opt = pt_adamw_new(&o);
  ck_assert_int_eq(pt_optim_add_params(opt, 2, (pt_tensor *[]){w, b}, pt_decay_hf, NULL), PT_OK);
  ck_assert(pt_optim_param_decays(opt, 0));
  ck_assert(!pt_optim_param_decays(opt, 1));
  for (int t = 0; t < 3; t++) {
    set_grad(w, ref_grad(t, 6, PT_DIMS(2, 3)));
    set_grad(b, t == 1 ? NULL : ref_grad(t + 5, 3, PT_DIMS(3)));
    ck_assert_int_eq(pt_optim_step(opt), PT_OK);
  }
  static const double want_w[] = {-0.473883033, -0.271853089, 0.00806739833,
                                  0.235877395,  0.479230493,  0.763567448};
  static const double want_b[] = {-0.245983556, 0.0151102589, 0.242477015};
  assert_close(w, want_w, 6, 2e-6);
  assert_close(b, want_b, 3, 2e-6);
  ck_assert_int_eq(pt_optim_steps(opt), 3);
  pt_optim_zero_grad(opt);
  ck_assert_ptr_null(w->grad);
  pt_optim_free(opt);
  pt_tensor_free(w);
  pt_tensor_free(b);
}
END_TEST

/* Hand-computed: at step 1 the bias corrections make m̂ = g and v̂ = g², so
 * p ← p·(1 − lr·wd) − lr·g/(|g| + eps). In F64 this is exact to rounding. */
START_TEST(adamw_first_step_by_hand) {
  pt_tensor *p = pt_from_buffer(PT_F64, PT_DIMS(3), (double[]){1.0, -2.0, 0.5});
  pt_set_requires_grad(p, true);
  set_grad(p, pt_from_buffer(PT_F64, PT_DIMS(3), (double[]){0.3, -4.0, 0.0}));
  pt_optim *opt = pt_adamw_new(&(pt_adamw_opts){.lr = 0.1, .beta1 = 0.9, .beta2 = 0.999,
                                                .eps = 1e-8, .weight_decay = 0.5});
  ck_assert_int_eq(pt_optim_add_param(opt, p, "p", true), PT_OK);
  ck_assert_int_eq(pt_optim_step(opt), PT_OK);
  double decay = 1 - 0.1 * 0.5;
  ck_assert_double_eq_tol(pt_get(p, 0), 1.0 * decay - 0.1 * 0.3 / (0.3 + 1e-8), 1e-12);
  ck_assert_double_eq_tol(pt_get(p, 1), -2.0 * decay + 0.1 * 4.0 / (4.0 + 1e-8), 1e-12);
  ck_assert_double_eq_tol(pt_get(p, 2), 0.5 * decay, 1e-12); /* zero gradient: decay only */
  pt_optim_free(opt);
  pt_tensor_free(p);
}
END_TEST

static void run_sgd(const pt_sgd_opts *o, const double *want) {
  pt_tensor *w = ref_init(6, 2, PT_DIMS(6));
  pt_optim *opt = pt_sgd_new(o);
  ck_assert_ptr_nonnull(opt);
  ck_assert_int_eq(pt_optim_add_param(opt, w, "w", true), PT_OK);
  for (int t = 0; t < 3; t++) {
    set_grad(w, ref_grad(t, 6, PT_DIMS(6)));
    ck_assert_int_eq(pt_optim_step(opt), PT_OK);
  }
  assert_close(w, want, 6, 2e-6);
  pt_optim_free(opt);
  pt_tensor_free(w);
}

/* Values from tests/tools/optim_reference.py (torch.optim.SGD, float32). */
START_TEST(sgd_matches_torch) {
  static const double nesterov[] = {-0.23777841, -0.431608319, -0.0431121588,
                                    0.135186538, 0.412804127,  0.801300228};
  run_sgd(&(pt_sgd_opts){.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true},
          nesterov);
  static const double damp[] = {-0.411562473, -0.308624983, 0.00331249996,
                                0.199062496,  0.469749987,  0.781687498};
  run_sgd(&(pt_sgd_opts){.lr = 0.05, .momentum = 0.8, .dampening = 0.25}, damp);
  /* plain SGD by hand: p − lr·g */
  pt_tensor *p = pt_full(PT_F64, PT_DIMS(2), 1.0);
  pt_set_requires_grad(p, true);
  set_grad(p, pt_from_buffer(PT_F64, PT_DIMS(2), (double[]){0.5, -1.0}));
  pt_optim *opt = pt_sgd_new(&(pt_sgd_opts){.lr = 0.1});
  pt_optim_add_param(opt, p, NULL, true);
  ck_assert_int_eq(pt_optim_step(opt), PT_OK);
  ck_assert_double_eq_tol(pt_get(p, 0), 0.95, 1e-15);
  ck_assert_double_eq_tol(pt_get(p, 1), 1.1, 1e-15);
  ck_assert_int_eq(pt_optim_state_count(opt), 2); /* steps + step.param0, no buffer */
  ck_assert_str_eq(pt_optim_state_name(opt, 1), "sgd.step.param0");
  pt_optim_free(opt);
  pt_tensor_free(p);
}
END_TEST

START_TEST(bad_options_are_errors) {
  ck_assert_ptr_null(pt_sgd_new(&(pt_sgd_opts){.lr = 0.1, .nesterov = true}));
  ck_assert(strstr(pt_error_message(), "Nesterov") != NULL);
  ck_assert_ptr_null(pt_adamw_new(&(pt_adamw_opts){.lr = 0.1, .beta1 = 1.0, .beta2 = 0.9}));
  ck_assert(strstr(pt_error_message(), "adamw") != NULL);
  pt_optim *opt = pt_adamw_new(NULL);
  pt_tensor *a = pt_zeros(PT_F32, PT_DIMS(2, 3));
  pt_tensor *t = pt_raw_transpose(a, 0, 1);
  ck_assert_int_eq(pt_optim_add_param(opt, t, "t", true), PT_ERR_ARG);
  ck_assert_int_eq(pt_optim_add_param(opt, a, "a", true), PT_OK);
  ck_assert_int_eq(pt_optim_add_param(opt, a, "a", true), PT_ERR_ARG); /* duplicate name */
  ck_assert_int_eq(pt_optim_param_count(opt), 1);
  set_grad(a, pt_zeros(PT_F32, PT_DIMS(3, 2)));
  ck_assert_int_eq(pt_optim_step(opt), PT_ERR_SHAPE);
  pt_optim_free(opt);
  pt_tensor_free(t);
  pt_tensor_free(a);
}
END_TEST

START_TEST(schedules) {
  pt_schedule lin = {.kind = PT_SCHED_LINEAR, .base_lr = 1.0, .warmup_steps = 10, .total_steps = 110};
  ck_assert_double_eq_tol(pt_schedule_lr(&lin, 0), 0.0, 1e-15);
  ck_assert_double_eq_tol(pt_schedule_lr(&lin, 5), 0.5, 1e-15);
  ck_assert_double_eq_tol(pt_schedule_lr(&lin, 10), 1.0, 1e-15);
  ck_assert_double_eq_tol(pt_schedule_lr(&lin, 60), 0.5, 1e-15);
  ck_assert_double_eq_tol(pt_schedule_lr(&lin, 110), 0.0, 1e-15);
  ck_assert_double_eq_tol(pt_schedule_lr(&lin, 500), 0.0, 1e-15);
  pt_schedule c = {.kind = PT_SCHED_CONSTANT, .base_lr = 3e-4};
  ck_assert_double_eq_tol(pt_schedule_lr(&c, 0), 3e-4, 1e-18);
  ck_assert_double_eq_tol(pt_schedule_lr(&c, 12345), 3e-4, 1e-18);
  pt_schedule e = {.kind = PT_SCHED_EXPONENTIAL, .base_lr = 0.02, .gamma = 0.95, .steps_per_epoch = 100};
  ck_assert_double_eq_tol(pt_schedule_lr(&e, 99), 0.02, 1e-15);
  ck_assert_double_eq_tol(pt_schedule_lr(&e, 100), 0.019, 1e-15);
  ck_assert_double_eq_tol(pt_schedule_lr(&e, 250), 0.02 * 0.95 * 0.95, 1e-15);
  pt_sched_kind k;
  ck_assert_int_eq(pt_sched_kind_from_name("linear", &k), PT_OK);
  ck_assert_int_eq(k, PT_SCHED_LINEAR);
  ck_assert_int_eq(pt_sched_kind_from_name("cosine", &k), PT_ERR_ARG);
  ck_assert_str_eq(pt_sched_kind_name(PT_SCHED_EXPONENTIAL), "exponential");
}
END_TEST

/* Gradients (3, 4) and (12): global norm 13. */
START_TEST(clip_grad_norm) {
  pt_tensor *a = pt_zeros(PT_F32, PT_DIMS(2));
  pt_tensor *b = pt_zeros(PT_F64, PT_DIMS(1));
  pt_tensor *c = pt_zeros(PT_F32, PT_DIMS(4)); /* no gradient: ignored */
  set_grad(a, pt_from_buffer(PT_F32, PT_DIMS(2), (float[]){3, 4}));
  set_grad(b, pt_from_buffer(PT_F64, PT_DIMS(1), (double[]){12}));
  pt_tensor *ps[] = {a, b, c};
  double norm = 0;
  ck_assert_int_eq(pt_clip_grad_norm(ps, 3, 100.0, &norm), PT_OK); /* no clipping */
  ck_assert_double_eq_tol(norm, 13.0, 1e-12);
  ck_assert_double_eq_tol(pt_get(a->grad, 1), 4.0, 1e-12);
  ck_assert_int_eq(pt_clip_grad_norm(ps, 3, 1.0, &norm), PT_OK);
  ck_assert_double_eq_tol(norm, 13.0, 1e-12);
  double coef = 1.0 / (13.0 + 1e-6); /* torch's 1e-6 */
  ck_assert_double_eq_tol(pt_get(a->grad, 0), 3 * coef, 1e-7);
  ck_assert_double_eq_tol(pt_get(b->grad, 0), 12 * coef, 1e-15);
  ck_assert_ptr_null(c->grad);
  /* a large gradient goes through the parallel, chunked sum */
  pt_tensor *big = pt_zeros(PT_F32, PT_DIMS(300000));
  set_grad(big, pt_full(PT_F32, PT_DIMS(300000), 0.5));
  ck_assert_int_eq(pt_clip_grad_norm(&big, 1, 1e9, &norm), PT_OK);
  ck_assert_double_eq_tol(norm, 0.5 * sqrt(300000.0), 1e-9);
  pt_tensor_free(big);
  pt_tensor_free(a);
  pt_tensor_free(b);
  pt_tensor_free(c);
}
END_TEST

/* Two steps, save every state tensor and the parameters, continue; a fresh
 * optimizer restored from the copies must produce bit-identical parameters.
 * The AdamW state goes through a safetensors file. */
static void round_trip(bool adamw) {
  enum { N = 40000 }; /* large enough for the parallel update path */
  pt_rng rng;
  pt_rng_init(&rng, 7);
  pt_tensor *w = pt_randn(&rng, PT_F32, PT_DIMS(N));
  pt_tensor *b = pt_randn(&rng, PT_F32, PT_DIMS(5));
  pt_tensor_set_name(w, "w");
  pt_tensor_set_name(b, "b.bias");
  pt_tensor *grads[4][2];
  for (int t = 0; t < 4; t++) {
    grads[t][0] = pt_randn(&rng, PT_F32, PT_DIMS(N));
    grads[t][1] = pt_randn(&rng, PT_F32, PT_DIMS(5));
  }
  pt_adamw_opts ao = {.lr = 0.01, .beta1 = 0.9, .beta2 = 0.99, .eps = 1e-8, .weight_decay = 0.1};
  pt_sgd_opts so = {.lr = 0.05, .momentum = 0.9, .nesterov = true, .weight_decay = 0.01};
#define NEW_OPT() (adamw ? pt_adamw_new(&ao) : pt_sgd_new(&so))
  pt_optim *opt = NEW_OPT();
  ck_assert_int_eq(pt_optim_add_params(opt, 2, (pt_tensor *[]){w, b}, pt_decay_hf, NULL), PT_OK);
  for (int t = 0; t < 2; t++) {
    set_grad(w, pt_raw_clone(grads[t][0]));
    set_grad(b, pt_raw_clone(grads[t][1]));
    ck_assert_int_eq(pt_optim_step(opt), PT_OK);
  }
  /* the checkpoint */
  int ns = pt_optim_state_count(opt);
  ck_assert_int_eq(ns, adamw ? 7 : 5);
  ck_assert_str_eq(pt_optim_state_name(opt, 0), adamw ? "adamw.steps" : "sgd.steps");
  if (adamw) ck_assert_str_eq(pt_optim_state_name(opt, 2), "adamw.m.w");
  pt_tensor *saved[8];
  if (adamw) {
    /* through a safetensors file, as a checkpoint would go */
    const char *names[8];
    const pt_tensor *tensors[8];
    for (int i = 0; i < ns; i++) {
      names[i] = pt_optim_state_name(opt, i);
      tensors[i] = pt_optim_state_tensor(opt, i);
    }
    char path[64];
    snprintf(path, sizeof path, "test_optim_state_%ld.safetensors", (long)getpid());
    ck_assert_int_eq(pt_safetensors_write(path, ns, names, tensors, 0, NULL, NULL), PT_OK);
    pt_safetensors *f;
    ck_assert_int_eq(pt_safetensors_open(path, &f), PT_OK);
    for (int i = 0; i < ns; i++) ck_assert_ptr_nonnull(saved[i] = pt_safetensors_get(f, names[i]));
    pt_safetensors_close(f);
    remove(path);
  } else {
    for (int i = 0; i < ns; i++) saved[i] = pt_raw_clone(pt_optim_state_tensor(opt, i));
  }
  pt_tensor *w2 = pt_raw_clone(w), *b2 = pt_raw_clone(b);
  pt_tensor_set_name(w2, "w");
  pt_tensor_set_name(b2, "b.bias");
  pt_set_requires_grad(w2, true);
  pt_set_requires_grad(b2, true);
  for (int t = 2; t < 4; t++) {
    set_grad(w, pt_raw_clone(grads[t][0]));
    set_grad(b, pt_raw_clone(grads[t][1]));
    ck_assert_int_eq(pt_optim_step(opt), PT_OK);
  }
  /* resume */
  pt_optim *opt2 = NEW_OPT();
  ck_assert_int_eq(pt_optim_add_params(opt2, 2, (pt_tensor *[]){w2, b2}, pt_decay_hf, NULL), PT_OK);
  for (int i = 0; i < ns; i++)
    ck_assert_int_eq(pt_optim_state_set(opt2, pt_optim_state_name(opt, i), saved[i]), PT_OK);
  ck_assert_int_eq(pt_optim_steps(opt2), 2);
  ck_assert_int_eq(pt_optim_state_set(opt2, "nope", saved[0]), PT_ERR_ARG);
  ck_assert_int_eq(pt_optim_state_set(opt2, pt_optim_state_name(opt, 1), saved[2]), PT_ERR_SHAPE);
  for (int t = 2; t < 4; t++) {
    set_grad(w2, pt_raw_clone(grads[t][0]));
    set_grad(b2, pt_raw_clone(grads[t][1]));
    ck_assert_int_eq(pt_optim_step(opt2), PT_OK);
  }
  ck_assert_int_eq(memcmp(pt_data(w), pt_data(w2), sizeof(float) * N), 0);
  ck_assert_int_eq(memcmp(pt_data(b), pt_data(b2), sizeof(float) * 5), 0);
  pt_optim_free(opt);
  pt_optim_free(opt2);
  for (int i = 0; i < ns; i++) pt_tensor_free(saved[i]);
  for (int t = 0; t < 4; t++) {
    pt_tensor_free(grads[t][0]);
    pt_tensor_free(grads[t][1]);
  }
  pt_tensor *all[] = {w, b, w2, b2};
  for (int i = 0; i < 4; i++) pt_tensor_free(all[i]);
#undef NEW_OPT
}

START_TEST(state_round_trip_adamw) { round_trip(true); }
END_TEST

START_TEST(state_round_trip_sgd) { round_trip(false); }
END_TEST

/* The optimizer keeps references: parameters outlive their creator. */
START_TEST(optimizer_owns_references) {
  int64_t before = pt_live_allocations();
  pt_tensor *p = pt_ones(PT_F32, PT_DIMS(4));
  pt_set_requires_grad(p, true);
  pt_optim *opt = pt_adamw_new(NULL);
  pt_optim_add_param(opt, p, "p", true);
  pt_tensor_free(p); /* the optimizer still holds it */
  set_grad(pt_optim_param(opt, 0), pt_ones(PT_F32, PT_DIMS(4)));
  ck_assert_int_eq(pt_optim_step(opt), PT_OK);
  ck_assert_double_lt(pt_get(pt_optim_param(opt, 0), 0), 1.0);
  pt_optim_zero_grad(opt);
  pt_optim_free(opt);
  ck_assert_int_eq(pt_live_allocations(), before);
}
END_TEST

int main(void) {
  Suite *s = suite_create("optim");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, adamw_matches_torch);
  tcase_add_test(tc, adamw_first_step_by_hand);
  tcase_add_test(tc, sgd_matches_torch);
  tcase_add_test(tc, bad_options_are_errors);
  tcase_add_test(tc, schedules);
  tcase_add_test(tc, clip_grad_norm);
  tcase_add_test(tc, state_round_trip_adamw);
  tcase_add_test(tc, state_round_trip_sgd);
  tcase_add_test(tc, optimizer_owns_references);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
