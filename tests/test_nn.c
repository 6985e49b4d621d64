/* nn/ extension points for PEFT methods: linear hooks (input and output
 * stages, chained, switchable), the encoder layer's visitor with Hugging
 * Face module paths, and target-module matching as peft does it. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptune.h"
#include "nn/pt_layers.h"
#include "nn/pt_targets.h"

static double max_diff(const pt_tensor *a, const pt_tensor *b) {
  double worst = 0;
  for (int64_t i = 0; i < pt_numel(a); i++) {
    double d = fabs(pt_get(a, i) - pt_get(b, i));
    if (d > worst) worst = d;
  }
  return worst;
}

/* Hooks for the tests: scale the input by 2, add 1 to the output, and
 * record the order in which they ran. */
static char trace[64];

static pt_tensor *double_input(void *ctx, pt_tensor *x, pt_tensor *y) {
  (void)ctx;
  ck_assert_ptr_null(y);
  strcat(trace, "i");
  return pt_scale(x, 2.0);
}

static pt_tensor *add_one(void *ctx, pt_tensor *x, pt_tensor *y) {
  ck_assert_ptr_nonnull(x);
  strcat(trace, (const char *)ctx);
  return pt_add_scalar(y, 1.0);
}

/* y times 10: order matters against add_one */
static pt_tensor *times_ten(void *ctx, pt_tensor *x, pt_tensor *y) {
  (void)ctx;
  (void)x;
  strcat(trace, "t");
  return pt_scale(y, 10.0);
}

START_TEST(linear_hooks_chain_in_stage_order) {
  pt_params ps = {0};
  pt_rng rng;
  pt_rng_init(&rng, 3);
  pt_nn_linear lin;
  ck_assert_int_eq(pt_nn_linear_init(&lin, &ps, "lin", 3, 2, true, &rng, 0.5), PT_OK);
  pt_fill(lin.bias, 0.25);
  pt_tensor *x = pt_randn(&rng, PT_F32, PT_DIMS(4, 3));
  pt_tensor *plain = pt_nn_linear_forward(&lin, x);
  pt_tensor *x2 = pt_scale(x, 2.0);
  pt_tensor *plain2 = pt_nn_linear_forward(&lin, x2);

  bool on = true;
  pt_nn_linear_hook out_a = {PT_NN_HOOK_OUTPUT, add_one, "a", NULL, NULL};
  pt_nn_linear_hook out_t = {PT_NN_HOOK_OUTPUT, times_ten, NULL, &on, NULL};
  pt_nn_linear_hook in = {PT_NN_HOOK_INPUT, double_input, NULL, NULL, NULL};
  /* added out of stage order: the input hook still runs first */
  pt_nn_linear_hook_add(&lin, &out_a);
  pt_nn_linear_hook_add(&lin, &out_t);
  pt_nn_linear_hook_add(&lin, &in);
  trace[0] = '\0';
  pt_tensor *y = pt_nn_linear_forward(&lin, x);
  ck_assert_str_eq(trace, "iat");
  for (int64_t i = 0; i < pt_numel(y); i++)
    ck_assert_double_eq_tol(pt_get(y, i), (pt_get(plain2, i) + 1.0) * 10.0, 1e-5);
  pt_tensor_free(y);

  /* a disabled hook is skipped */
  on = false;
  trace[0] = '\0';
  y = pt_nn_linear_forward(&lin, x);
  ck_assert_str_eq(trace, "ia");
  for (int64_t i = 0; i < pt_numel(y); i++)
    ck_assert_double_eq_tol(pt_get(y, i), pt_get(plain2, i) + 1.0, 1e-6);
  pt_tensor_free(y);

  /* removing the input hook leaves the output chain */
  pt_nn_linear_hook_remove(&lin, &in);
  pt_nn_linear_hook_remove(&lin, &in); /* not linked any more: a no-op */
  on = true;
  trace[0] = '\0';
  y = pt_nn_linear_forward(&lin, x);
  ck_assert_str_eq(trace, "at");
  for (int64_t i = 0; i < pt_numel(y); i++)
    ck_assert_double_eq_tol(pt_get(y, i), (pt_get(plain, i) + 1.0) * 10.0, 1e-5);
  pt_tensor_free(y);
  pt_nn_linear_hook_remove(&lin, &out_a);
  pt_nn_linear_hook_remove(&lin, &out_t);
  ck_assert_ptr_null(lin.hooks);
  y = pt_nn_linear_forward(&lin, x);
  ck_assert_double_eq(max_diff(y, plain), 0.0);
  pt_tensor_free(y);
  pt_tensor *t[] = {x, x2, plain, plain2};
  for (int i = 0; i < 4; i++) pt_tensor_free(t[i]);
  pt_params_free(&ps);
}
END_TEST

/* Gradients flow through both stages into the hooks' own tensors. */
typedef struct {
  pt_tensor *scale; /* [in] */
  pt_tensor *shift; /* [out] */
} scale_shift;

static pt_tensor *scale_input(void *ctx, pt_tensor *x, pt_tensor *y) {
  (void)y;
  return pt_mul(x, ((scale_shift *)ctx)->scale);
}

static pt_tensor *shift_output(void *ctx, pt_tensor *x, pt_tensor *y) {
  (void)x;
  return pt_add(y, ((scale_shift *)ctx)->shift);
}

static pt_nn_linear *grad_lin;

static pt_tensor *hooked_linear(pt_tensor *const *in, int n, void *ctx) {
  (void)n;
  (void)ctx;
  grad_lin->weight = in[0];
  return pt_nn_linear_forward(grad_lin, in[3]);
}

START_TEST(hooked_linear_gradients_check) {
  pt_rng rng;
  pt_rng_init(&rng, 11);
  pt_tensor *w = pt_case_rand(&rng, PT_DIMS(2, 3), true);
  pt_tensor *scale = pt_case_rand(&rng, PT_DIMS(3), true);
  pt_tensor *shift = pt_case_rand(&rng, PT_DIMS(2), true);
  pt_tensor *x = pt_case_rand(&rng, PT_DIMS(4, 3), true);
  scale_shift ss = {scale, shift};
  pt_nn_linear lin = {w, NULL, NULL};
  pt_nn_linear_hook a = {PT_NN_HOOK_INPUT, scale_input, &ss, NULL, NULL};
  pt_nn_linear_hook b = {PT_NN_HOOK_OUTPUT, shift_output, &ss, NULL, NULL};
  pt_nn_linear_hook_add(&lin, &a);
  pt_nn_linear_hook_add(&lin, &b);
  grad_lin = &lin;
  pt_tensor *in[] = {w, scale, shift, x};
  pt_gradcheck_result r;
  ck_assert_int_eq(pt_gradcheck(hooked_linear, NULL, 4, in, NULL, &r), PT_OK);
  ck_assert_msg(r.passed, "%s", r.message);
  ck_assert_int_eq(r.checked, 6 + 3 + 2 + 12);
  for (int i = 0; i < 4; i++) pt_tensor_free(in[i]);
}
END_TEST

static pt_status collect_path(pt_nn_linear *lin, const char *path, void *ctx) {
  char *out = ctx;
  ck_assert_ptr_nonnull(lin->weight);
  strcat(out, path);
  strcat(out, ";");
  return strstr(path, "intermediate") && strstr(out, "STOP") ? PT_ERR_STATE : PT_OK;
}

START_TEST(encoder_layer_visitor_names_modules_as_hf) {
  pt_params ps = {0};
  pt_rng rng;
  pt_rng_init(&rng, 1);
  pt_nn_encoder_config cfg = {8, 2, 16, 1e-12, 0, 0, 0.02};
  pt_nn_encoder_layer layer;
  ck_assert_int_eq(pt_nn_encoder_layer_init(&layer, &ps, "bert.encoder.layer.3", &cfg, &rng), PT_OK);
  char seen[1024] = "";
  ck_assert_int_eq(pt_nn_encoder_layer_visit(&layer, "bert.encoder.layer.3", collect_path, seen),
                   PT_OK);
  ck_assert_str_eq(seen,
                   "bert.encoder.layer.3.attention.self.query;bert.encoder.layer.3.attention.self.key;"
                   "bert.encoder.layer.3.attention.self.value;"
                   "bert.encoder.layer.3.attention.output.dense;"
                   "bert.encoder.layer.3.intermediate.dense;bert.encoder.layer.3.output.dense;");
  /* every visited path names a registered weight */
  char *save = NULL;
  for (char *p = strtok_r(seen, ";", &save); p; p = strtok_r(NULL, ";", &save)) {
    char name[300];
    snprintf(name, sizeof name, "%s.weight", p);
    ck_assert_msg(pt_params_find(&ps, name) != NULL, "%s is not a parameter", name);
  }
  /* a failing visit stops at once and passes its status on */
  char stop[1024] = "STOP;";
  ck_assert_int_eq(pt_nn_encoder_layer_visit(&layer, "x", collect_path, stop), PT_ERR_STATE);
  ck_assert_str_eq(stop, "STOP;x.attention.self.query;x.attention.self.key;x.attention.self.value;"
                         "x.attention.output.dense;x.intermediate.dense;");
  pt_params_free(&ps);
}
END_TEST

static const char *const bert_modules[] = {
    "bert.encoder.layer.0.attention.self.query", "bert.encoder.layer.0.attention.self.key",
    "bert.encoder.layer.0.attention.self.value", "bert.encoder.layer.0.attention.output.dense",
    "bert.encoder.layer.0.intermediate.dense",   "bert.encoder.layer.0.output.dense",
    "bert.encoder.layer.11.attention.self.query", "bert.encoder.layer.11.output.dense",
    "bert.pooler.dense",
};
enum { NMOD = sizeof bert_modules / sizeof bert_modules[0] };

/* Which of bert_modules match, as a string of 0/1. */
static void matches(const pt_nn_targets *t, char *out) {
  for (int i = 0; i < NMOD; i++) out[i] = pt_nn_targets_match(t, bert_modules[i]) ? '1' : '0';
  out[NMOD] = '\0';
}

START_TEST(targets_match_as_peft) {
  pt_nn_targets t = {0};
  char m[NMOD + 1];
  /* a name matches a path equal to it or ending with "." + name: IA3's default
   * "output.dense" is both the attention output and the feed-forward output */
  ck_assert_int_eq(pt_nn_targets_parse("output.dense", "--target-modules", &t), PT_OK);
  ck_assert_ptr_null(t.regex);
  matches(&t, m);
  ck_assert_str_eq(m, "000101010");
  ck_assert_int_eq(pt_nn_targets_parse("query, value", "--target-modules", &t), PT_OK);
  ck_assert_int_eq(t.n, 2);
  matches(&t, m);
  ck_assert_str_eq(m, "101000100");
  /* a suffix must start at a dot: "dense" matches every dense, "ense" none */
  ck_assert_int_eq(pt_nn_targets_parse("dense", "x", &t), PT_OK);
  matches(&t, m);
  ck_assert_str_eq(m, "000111011");
  ck_assert_int_eq(pt_nn_targets_parse("ense", "x", &t), PT_OK);
  matches(&t, m);
  ck_assert_str_eq(m, "000000000");
  /* the whole path is a name too */
  ck_assert_int_eq(pt_nn_targets_parse("bert.pooler.dense", "x", &t), PT_OK);
  matches(&t, m);
  ck_assert_str_eq(m, "000000001");
  /* a regular expression must match the whole path (re.fullmatch) */
  ck_assert_int_eq(pt_nn_targets_parse(".*\\.(query|value)", "x", &t), PT_OK);
  ck_assert_ptr_nonnull(t.regex);
  matches(&t, m);
  ck_assert_str_eq(m, "101000100");
  ck_assert_int_eq(pt_nn_targets_parse("(query|value)", "x", &t), PT_OK);
  matches(&t, m);
  ck_assert_str_eq(m, "000000000");
  /* Python spellings: \d, (?:...), lazy quantifiers */
  ck_assert_int_eq(pt_nn_targets_parse("bert\\.encoder\\.layer\\.\\d\\.(?:attention\\.self\\.key|output\\.dense)", "x", &t),
                   PT_OK);
  matches(&t, m);
  ck_assert_str_eq(m, "010001000");
  ck_assert_int_eq(pt_nn_targets_parse(".*?layer\\.1\\d+?\\..*", "x", &t), PT_OK);
  matches(&t, m);
  ck_assert_str_eq(m, "000000110");
  ck_assert_int_eq(pt_nn_targets_parse(".*[^y]\\.dense", "x", &t), PT_OK);
  matches(&t, m);
  ck_assert_str_eq(m, "000111011");
  char *text = pt_nn_targets_text(&t);
  ck_assert_str_eq(text, ".*[^y]\\.dense");
  free(text);
  pt_nn_targets copy;
  ck_assert_int_eq(pt_nn_targets_copy(&t, &copy), PT_OK);
  matches(&copy, m);
  ck_assert_str_eq(m, "000111011");
  pt_nn_targets_free(&copy);
  /* errors name the source */
  ck_assert_int_eq(pt_nn_targets_parse("(query", "--target-modules", &t), PT_ERR_ARG);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "--target-modules"));
  ck_assert_int_eq(pt_nn_targets_parse("(?i)query", "--target-modules", &t), PT_ERR_ARG);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "(?:"));
  ck_assert_int_eq(pt_nn_targets_parse("[\\d]x", "--target-modules", &t), PT_ERR_ARG);
  ck_assert_int_eq(pt_nn_targets_parse(",", "--target-modules", &t), PT_ERR_ARG);
  ck_assert_int_eq(pt_nn_targets_parse("", "--target-modules", &t), PT_ERR_ARG);
  ck_assert_int_eq(pt_nn_targets_parse("query,,value", "--target-modules", &t), PT_ERR_ARG);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "empty"));
  /* after the failures t still holds the last good targets */
  matches(&t, m);
  ck_assert_str_eq(m, "000111011");
  text = pt_nn_targets_text(&(pt_nn_targets){0});
  ck_assert_str_eq(text, "");
  free(text);
  pt_nn_targets_free(&t);
  matches(&t, m);
  ck_assert_str_eq(m, "000000000");
}
END_TEST

int main(void) {
  Suite *s = suite_create("nn");
  TCase *tc = tcase_create("nn");
  tcase_add_test(tc, linear_hooks_chain_in_stage_order);
  tcase_add_test(tc, hooked_linear_gradients_check);
  tcase_add_test(tc, encoder_layer_visitor_names_modules_as_hf);
  tcase_add_test(tc, targets_match_as_peft);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
