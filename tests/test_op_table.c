/* The op table: every registered op passes its gradient check, and every op
 * definition linked into the library has a case (an op without one fails). */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "autograd/pt_autograd.h"
#include "autograd/pt_op_table.h"

START_TEST(every_op_def_has_a_case) {
  int ndefs;
  const pt_op_def *const *defs = pt_op_defs(&ndefs);
  ck_assert_int_gt(ndefs, 0);
  for (int i = 0; i < ndefs; i++)
    ck_assert_msg(pt_op_case_find(defs[i]->name) != NULL, "op '%s' has no gradcheck case",
                  defs[i]->name);
}
END_TEST

START_TEST(every_case_names_an_op) {
  int ncases, ndefs;
  const pt_op_case *cases = pt_op_cases(&ncases);
  const pt_op_def *const *defs = pt_op_defs(&ndefs);
  for (int c = 0; c < ncases; c++) {
    bool found = false;
    for (int d = 0; d < ndefs && !found; d++) found = !strcmp(defs[d]->name, cases[c].name);
    ck_assert_msg(found, "case '%s' names no op definition", cases[c].name);
  }
}
END_TEST

START_TEST(every_case_passes) {
  int ncases;
  const pt_op_case *cases = pt_op_cases(&ncases);
  ck_assert_int_gt(ncases, 0);
  for (int i = 0; i < ncases; i++) {
    pt_gradcheck_result r;
    pt_status st = pt_op_case_run(&cases[i], 7, &r);
    ck_assert_msg(st == PT_OK, "%s: %s", cases[i].name, pt_error_message());
    ck_assert_msg(r.passed, "%s: %s", cases[i].name, r.message);
    ck_assert_int_gt(r.checked, 0);
  }
}
END_TEST

/* The checker itself must be able to fail: a deliberately wrong backward. */
static pt_status wrong_backward(pt_node *n, const pt_tensor *g, pt_tensor **gin) {
  (void)n;
  gin[0] = pt_raw_clone(g); /* claims d(2x)/dx = 1 */
  return PT_OK;
}
/* Not registered in the op table on purpose. */
static const pt_op_def op_wrong_double = {"test_wrong_double", wrong_backward};

static pt_tensor *wrong_double(pt_tensor *const *in, int n, void *ctx) {
  (void)n;
  (void)ctx;
  pt_tensor *out = pt_raw_clone(in[0]);
  for (int64_t i = 0; i < pt_numel(out); i++) pt_set(out, i, 2 * pt_get(out, i));
  pt_status st;
  pt_node *node = pt_node_new(&op_wrong_double, 1, in, &st);
  return pt_node_finish(node, st, out);
}

START_TEST(checker_catches_a_wrong_gradient) {
  pt_rng rng;
  pt_rng_init(&rng, 3);
  pt_tensor *x = pt_case_rand(&rng, PT_DIMS(3, 2), true);
  pt_gradcheck_result r;
  ck_assert_int_eq(pt_gradcheck(wrong_double, NULL, 1, &x, NULL, &r), PT_OK);
  ck_assert(!r.passed);
  ck_assert_double_gt(r.max_abs_err, 0.4);
  pt_tensor_free(x);
}
END_TEST

START_TEST(checker_rejects_f32_inputs) {
  pt_tensor *x = pt_ones(PT_F32, PT_DIMS(2));
  pt_set_requires_grad(x, true);
  pt_gradcheck_result r;
  ck_assert_int_eq(pt_gradcheck(wrong_double, NULL, 1, &x, NULL, &r), PT_ERR_DTYPE);
  pt_tensor_free(x);
}
END_TEST

int main(void) {
  Suite *s = suite_create("op_table");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, every_op_def_has_a_case);
  tcase_add_test(tc, every_case_names_an_op);
  tcase_add_test(tc, every_case_passes);
  tcase_add_test(tc, checker_catches_a_wrong_gradient);
  tcase_add_test(tc, checker_rejects_f32_inputs);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
