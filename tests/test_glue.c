/* apps/tasks/cls/read.c and apps/metrics/classification.c: every SuperGLUE/GLUE preset read
 * from committed excerpts, the generic jsonl reader, bad input, and
 * accuracy / macro-F1 / MCC on hand-computed cases. */
#include <check.h>
#include <math.h>
#include <string.h>

#include "apps/tasks/cls/cls.h"
#include "apps/tasks/mc/mc.h"
#include "apps/metrics/metrics.h"
#include "task_test_util.h"

#define TOL 1e-12

static void read_ok(const char *rel, const char *fmt_name, cls_set *set) {
  data_format fmt;
  ck_assert_int_eq(data_format_from_name(fmt_name, &fmt), PT_OK);
  pt_status s = read_cls(fixture(rel), fmt, NULL, NULL, set);
  ck_assert_msg(s == PT_OK, "%s", pt_error_message());
  ck_assert(set->has_labels);
}

START_TEST(superglue_presets) {
  cls_set set;
  read_ok("superglue/BoolQ.val.excerpt.jsonl", "boolq", &set);
  ck_assert_int_eq(set.n, 3);
  ck_assert_str_eq(set.ex[0].text_a, "does ethanol take more energy make that produces");
  ck_assert(strncmp(set.ex[0].text_b, "Ethanol fuel -- All biomass", 27) == 0);
  ck_assert_str_eq(set.ex[0].label, "False");
  ck_assert_str_eq(set.ex[1].label, "True");
  ck_assert_int_eq(set.ex[2].idx, 2);
  ck_assert_int_eq(set.ex[2].line, 3);
  /* the preset label order fixes the ids */
  label_map map;
  label_map_init(&map);
  const char *const *names;
  int64_t n;
  data_format_labels(FMT_BOOLQ, &names, &n);
  ck_assert_int_eq(label_map_set(&map, names, n), PT_OK);
  ck_assert_int_eq(cls_map_labels(&set, &map, false), PT_OK);
  ck_assert_int_eq(set.ex[0].label_id, 0);
  ck_assert_int_eq(set.ex[1].label_id, 1);
  cls_set_free(&set);

  read_ok("superglue/CB.val.excerpt.jsonl", "cb", &set);
  ck_assert_str_eq(set.ex[0].text_b, "Valence was helping");
  ck_assert_str_eq(set.ex[1].label, "neutral");
  data_format_labels(FMT_CB, &names, &n);
  ck_assert_int_eq(label_map_set(&map, names, n), PT_OK);
  ck_assert_int_eq(cls_map_labels(&set, &map, false), PT_OK);
  ck_assert_int_eq(set.ex[0].label_id, 1); /* contradiction */
  ck_assert_int_eq(set.ex[1].label_id, 2); /* neutral */
  cls_set_free(&set);

  read_ok("superglue/RTE.val.excerpt.jsonl", "rte", &set);
  ck_assert_str_eq(set.ex[0].text_b, "Christopher Reeve had an accident.");
  ck_assert_str_eq(set.ex[0].label, "not_entailment");
  cls_set_free(&set);

  read_ok("superglue/WiC.val.excerpt.jsonl", "wic", &set);
  ck_assert_str_eq(set.ex[0].text_a,
                   "An emerging professional class. Apologizing for losing your temper, even though "
                   "you were badly provoked, showed real class. Does class have the same meaning in "
                   "both sentences?");
  ck_assert_ptr_null(set.ex[0].text_b);
  ck_assert_str_eq(set.ex[0].label, "False");
  cls_set_free(&set);

  read_ok("superglue/WSC.val.excerpt.jsonl", "wsc", &set);
  ck_assert(strncmp(set.ex[0].text_a, "him: Bernard , who had not told", 31) == 0);
  ck_assert_str_eq(set.ex[0].text_b, "anyone");
  ck_assert_str_eq(set.ex[1].text_b, "Mr. Moncrieff");
  ck_assert_str_eq(set.ex[1].label, "True");
  cls_set_free(&set);
  label_map_free(&map);
}
END_TEST

START_TEST(copa_multiple_choice) {
  mc_set set;
  ck_assert_int_eq(read_mc(fixture("superglue/COPA.val.excerpt.jsonl"), FMT_COPA, NULL, &set), PT_OK);
  ck_assert_int_eq(set.n, 3);
  ck_assert_str_eq(set.ex[0].context, "The man turned on the faucet. so");
  ck_assert_int_eq(set.ex[0].n_choices, 2);
  ck_assert_str_eq(set.ex[0].choices[1], "Water flowed from the spout.");
  ck_assert_int_eq(set.ex[0].label, 1);
  ck_assert_int_eq(set.ex[2].label, 0);
  mc_set_free(&set);
  const char *p = tmp_file("copa.jsonl",
                           "{\"premise\": \"I fell.\", \"choice1\": \"A\", \"choice2\": \"B\", "
                           "\"question\": \"cause\", \"idx\": 7, \"label\": 0}\n", -1);
  ck_assert_int_eq(read_mc(p, FMT_COPA, NULL, &set), PT_OK);
  ck_assert_str_eq(set.ex[0].context, "I fell. because");
  ck_assert_int_eq(set.ex[0].idx, 7);
  mc_set_free(&set);
  p = tmp_file("copa2.jsonl",
               "{\"premise\": \"I fell.\", \"choice1\": \"A\", \"choice2\": \"B\", "
               "\"question\": \"cause\", \"label\": 2}\n", -1);
  ck_assert_int_eq(read_mc(p, FMT_COPA, NULL, &set), PT_ERR_FORMAT);
  expect_msg(p, ":1: label 2 is not a choice (0 or 1)");
  p = tmp_file("copa3.jsonl",
               "{\"premise\": \"I fell.\", \"choice1\": \"A\", \"choice2\": \"B\", "
               "\"question\": \"why\", \"label\": 1}\n", -1);
  ck_assert_int_eq(read_mc(p, FMT_COPA, NULL, &set), PT_ERR_FORMAT);
  expect_msg(p, ":1: 'question' must be \"cause\" or \"effect\", got \"why\"");
  p = tmp_file("copa4.jsonl", "{\"premise\": \"I fell.\", \"choice1\": \"A\", \"question\": \"cause\"}\n", -1);
  ck_assert_int_eq(read_mc(p, FMT_COPA, NULL, &set), PT_ERR_FORMAT);
  expect_msg(p, ":1: 'choice2' is missing");
  tmp_cleanup();
}
END_TEST

START_TEST(glue_tsv_presets) {
  cls_set set;
  read_ok("glue/SST-2.dev.excerpt.tsv", "sst2", &set);
  ck_assert_int_eq(set.n, 3); /* the header is not an example */
  ck_assert_str_eq(set.ex[0].text_a, "it 's a charming and often affecting journey . ");
  ck_assert_str_eq(set.ex[0].label, "1");
  ck_assert_str_eq(set.ex[1].label, "0");
  ck_assert_int_eq(set.ex[1].line, 3);
  cls_set_free(&set);

  read_ok("glue/RTE.dev.excerpt.tsv", "glue-rte", &set);
  ck_assert_int_eq(set.n, 3);
  ck_assert_str_eq(set.ex[0].text_b, "Christopher Reeve had an accident.");
  ck_assert_str_eq(set.ex[1].label, "entailment");
  ck_assert_int_eq(set.ex[2].idx, 2);
  cls_set_free(&set);

  read_ok("glue/CoLA.dev.excerpt.tsv", "cola", &set);
  ck_assert_int_eq(set.n, 4); /* no header */
  ck_assert_str_eq(set.ex[0].text_a, "The sailors rode the breeze clear of the rocks.");
  ck_assert_str_eq(set.ex[3].label, "1");
  ck_assert_ptr_null(set.ex[3].text_b);
  cls_set_free(&set);
}
END_TEST

START_TEST(generic_jsonl_fields) {
  cls_fields f;
  char *buf;
  ck_assert_int_eq(cls_fields_parse("q,ctx", "answer", &f, &buf), PT_OK);
  ck_assert_str_eq(f.text_a, "q");
  ck_assert_str_eq(f.text_b, "ctx");
  const char *p = tmp_file("gen.jsonl",
                           "{\"q\": \"a?\", \"ctx\": \"b\", \"answer\": 3}\n"
                           "{\"q\": \"c?\", \"ctx\": \"d\", \"answer\": 1, \"idx\": 9}\n", -1);
  cls_set set;
  ck_assert_int_eq(read_cls(p, FMT_GENERIC_JSONL, &f, NULL, &set), PT_OK);
  ck_assert_str_eq(set.ex[0].label, "3");
  ck_assert_int_eq(set.ex[0].idx, 0);
  ck_assert_int_eq(set.ex[1].idx, 9);
  label_map map;
  label_map_init(&map);
  ck_assert_int_eq(cls_map_labels(&set, &map, true), PT_OK); /* built from training data */
  ck_assert_int_eq(map.n, 2);
  ck_assert_int_eq(set.ex[1].label_id, 1);
  cls_set_free(&set);
  /* a dev file with a label the training data did not have */
  p = tmp_file("gen_dev.jsonl", "{\"q\": \"a?\", \"ctx\": \"b\", \"answer\": 3}\n"
                                "\n{\"q\": \"a?\", \"ctx\": \"b\", \"answer\": 4}\n", -1);
  ck_assert_int_eq(read_cls(p, FMT_GENERIC_JSONL, &f, NULL, &set), PT_OK);
  ck_assert_int_eq(cls_map_labels(&set, &map, false), PT_ERR_FORMAT);
  expect_msg(p, ":3: unknown label '4' (the label set is: 3, 1)");
  cls_set_free(&set);
  label_map_free(&map);
  /* a missing field, a wrong type */
  p = tmp_file("gen_bad.jsonl", "{\"q\": \"a?\", \"ctx\": \"b\", \"answer\": 1}\n{\"q\": \"a?\", \"ctx\": \"b\"}\n", -1);
  ck_assert_int_eq(read_cls(p, FMT_GENERIC_JSONL, &f, NULL, &set), PT_ERR_FORMAT);
  expect_msg(p, ":2: 'answer' is missing");
  ck_assert_ptr_null(set.ex);
  p = tmp_file("gen_bad2.jsonl", "{\"q\": 5, \"ctx\": \"b\", \"answer\": 1}\n", -1);
  ck_assert_int_eq(read_cls(p, FMT_GENERIC_JSONL, &f, NULL, &set), PT_ERR_FORMAT);
  expect_msg(p, ":1: 'q' must be a string, got an integer");
  p = tmp_file("gen_bad3.jsonl", "{\"q\": \"x\", \"ctx\": \"b\", \"answer\": 1.5}\n", -1);
  ck_assert_int_eq(read_cls(p, FMT_GENERIC_JSONL, &f, NULL, &set), PT_ERR_FORMAT);
  expect_msg(p, ":1: 'answer' must be a string, boolean or integer, got a number");
  /* unlabelled data for predict */
  read_opts opts = {.labels_optional = true};
  p = tmp_file("gen_test.jsonl", "{\"q\": \"x\", \"ctx\": \"b\"}\n", -1);
  ck_assert_int_eq(read_cls(p, FMT_GENERIC_JSONL, &f, &opts, &set), PT_OK);
  ck_assert(!set.has_labels);
  ck_assert_ptr_null(set.ex[0].label);
  cls_set_free(&set);
  free(buf);
  ck_assert_int_eq(cls_fields_parse("a,b,c", "l", &f, &buf), PT_ERR_ARG);
  ck_assert_int_eq(cls_fields_parse("", "l", &f, &buf), PT_ERR_ARG);
  ck_assert_int_eq(cls_fields_parse("a", "l", &f, &buf), PT_OK);
  ck_assert_ptr_null(f.text_b);
  free(buf);
  tmp_cleanup();
}
END_TEST

START_TEST(cls_and_mc_predictions_files) {
  cls_set set;
  read_ok("superglue/CB.val.excerpt.jsonl", "cb", &set);
  label_map map;
  label_map_init(&map);
  const char *const *names;
  int64_t n;
  data_format_labels(FMT_CB, &names, &n);
  ck_assert_int_eq(label_map_set(&map, names, n), PT_OK);
  const int64_t pred[] = {2, 0, 1};
  char out[600];
  snprintf(out, sizeof out, "%s", tmp_file("pred.jsonl", "", 0));
  ck_assert_int_eq(write_cls_predictions(&set, pred, &map, out), PT_OK);
  char buf[512] = "";
  FILE *f = fopen(out, "rb");
  ck_assert_ptr_nonnull(f);
  buf[fread(buf, 1, sizeof buf - 1, f)] = '\0';
  fclose(f);
  ck_assert_str_eq(buf, "{\"idx\":0,\"label\":\"neutral\"}\n{\"idx\":1,\"label\":\"entailment\"}\n"
                        "{\"idx\":2,\"label\":\"contradiction\"}\n");
  const int64_t bad[] = {0, 3, 0};
  ck_assert_int_eq(write_cls_predictions(&set, bad, &map, out), PT_ERR_ARG);
  cls_set_free(&set);
  label_map_free(&map);
  mc_set mc;
  ck_assert_int_eq(read_mc(fixture("superglue/COPA.val.excerpt.jsonl"), FMT_COPA, NULL, &mc), PT_OK);
  const int64_t choice[] = {1, 0, 0};
  ck_assert_int_eq(write_mc_predictions(&mc, choice, out), PT_OK);
  f = fopen(out, "rb");
  buf[fread(buf, 1, sizeof buf - 1, f)] = '\0';
  fclose(f);
  ck_assert_str_eq(buf, "{\"idx\":0,\"label\":1}\n{\"idx\":1,\"label\":0}\n{\"idx\":2,\"label\":0}\n");
  mc_set_free(&mc);
  tmp_cleanup();
}
END_TEST

static void cls_fails(const char *name, const char *fmt_name, const char *text, const char *rest) {
  data_format fmt;
  ck_assert_int_eq(data_format_from_name(fmt_name, &fmt), PT_OK);
  const char *p = tmp_file(name, text, -1);
  cls_set set;
  ck_assert_int_ne(read_cls(p, fmt, NULL, NULL, &set), PT_OK);
  expect_msg(p, rest);
  ck_assert_ptr_null(set.ex);
}

START_TEST(bad_cls_input_is_reported_by_line) {
  cls_fails("val.jsonl", "cb", "{\"premise\": \"a\", \"hypothesis\": \"b\", \"label\": \"neutral\"}\n"
            "{\"premise\": \"a\", \"hypothesis\": \"b\", \"label\": \"maybe\"}\n",
            ":2: unknown label 'maybe' for cb (expected entailment, contradiction, neutral)");
  cls_fails("val2.jsonl", "rte", "{\"premise\": \"a\", \"hypothesis\": \"b\"}\n", ":1: 'label' is missing");
  cls_fails("val3.jsonl", "boolq", "{\"question\": \"a\", \"passage\": \"b\", \"label\": true}\n{oops\n",
            ":2: invalid JSON at column 5: string or '}' expected near 'oops'");
  cls_fails("val4.jsonl", "wsc", "{\"text\": \"a b\", \"target\": {\"span1_text\": \"a\"}, \"label\": false}\n",
            ":1: 'span2_text' is missing");
  cls_fails("empty.jsonl", "rte", "", ": no examples found (empty file?)");
  cls_fails("dev.tsv", "sst2", "sentence\tlabel\ngood\t1\nbad\n", ":3: expected 2 tab-separated columns, got 1");
  cls_fails("dev2.tsv", "sst2", "good\t1\n", ":1: expected a header naming the 'sentence' columns, got 'good'");
  cls_fails("dev3.tsv", "sst2", "sentence\tlabel\ngood\t2\n",
            ":2: unknown label '2' for sst2 (expected 0, 1)");
  cls_fails("dev4.tsv", "glue-rte", "index\tsentence1\tsentence2\tlabel\nx\ta\tb\tentailment\n",
            ":2: index 'x' is not an integer");
  cls_fails("dev5.tsv", "cola", "gj04\t1\t\tok\ngj04\t\t\tno label\n", ":2: the label is empty");
  cls_fails("dev6.tsv", "cola", "", ": no examples found (empty file?)");
  data_format fmt;
  ck_assert_int_eq(data_format_from_name("mnli", &fmt), PT_ERR_ARG);
  cls_set set;
  ck_assert_int_eq(read_cls(fixture("superglue/COPA.val.excerpt.jsonl"), FMT_COPA, NULL, NULL, &set),
                   PT_ERR_ARG);
  ck_assert_int_eq(read_cls("/nonexistent.jsonl", FMT_RTE, NULL, NULL, &set), PT_ERR_IO);
  tmp_cleanup();
}
END_TEST

START_TEST(accuracy_macro_f1_mcc) {
  cls_scores s;
  /* gold 0 0 1 1, pred 0 1 1 1: acc 3/4; F1 class 0 = 2*1/(2+1) = 2/3,
   * class 1 = 2*2/(2+3) = 4/5, macro 11/15; MCC = (3*4 - (1*2+3*2)) /
   * sqrt((16-10)(16-8)) = 4/sqrt(48) */
  const int64_t g1[] = {0, 0, 1, 1}, p1[] = {0, 1, 1, 1};
  ck_assert_int_eq(cls_metrics(g1, p1, 4, 2, &s), PT_OK);
  ck_assert_double_eq_tol(s.accuracy, 0.75, TOL);
  ck_assert_double_eq_tol(s.macro_f1, 11.0 / 15.0, TOL);
  ck_assert_double_eq_tol(s.mcc, 4.0 / sqrt(48.0), TOL);
  /* sklearn's docstring: matthews_corrcoef([+1, +1, +1, -1], [+1, -1, +1, +1]) = -0.33... */
  const int64_t g2[] = {1, 1, 1, 0}, p2[] = {1, 0, 1, 1};
  ck_assert_int_eq(cls_metrics(g2, p2, 4, 2, &s), PT_OK);
  ck_assert_double_eq_tol(s.mcc, -1.0 / 3.0, TOL);
  /* three classes, class 2 never seen: macro over classes 0 and 1 only */
  ck_assert_int_eq(cls_metrics(g1, p1, 4, 3, &s), PT_OK);
  ck_assert_double_eq_tol(s.macro_f1, 11.0 / 15.0, TOL);
  /* multiclass: gold 0 1 2 0 1 2, pred 0 2 1 0 0 2: correct 3 (0, 0, 2),
   * t = (2,2,2), p = (3,1,2); MCC = (3*6 - (6+2+4)) / sqrt((36-14)(36-12)) =
   * 6 / sqrt(528); F1: c0 2*2/5, c1 0, c2 2*1/4 -> macro (0.8+0+0.5)/3 */
  const int64_t g3[] = {0, 1, 2, 0, 1, 2}, p3[] = {0, 2, 1, 0, 0, 2};
  ck_assert_int_eq(cls_metrics(g3, p3, 6, 3, &s), PT_OK);
  ck_assert_int_eq(s.correct, 3);
  ck_assert_double_eq_tol(s.mcc, 6.0 / sqrt(528.0), TOL);
  ck_assert_double_eq_tol(s.macro_f1, 1.3 / 3.0, TOL);
  /* a constant prediction: MCC undefined -> 0 */
  const int64_t p4[] = {1, 1, 1, 1};
  ck_assert_int_eq(cls_metrics(g1, p4, 4, 2, &s), PT_OK);
  ck_assert_double_eq_tol(s.mcc, 0.0, TOL);
  ck_assert_double_eq_tol(s.accuracy, 0.5, TOL);
  /* perfect */
  ck_assert_int_eq(cls_metrics(g3, g3, 6, 3, &s), PT_OK);
  ck_assert_double_eq_tol(s.mcc, 1.0, TOL);
  ck_assert_double_eq_tol(s.macro_f1, 1.0, TOL);
  /* bad input */
  const int64_t bad[] = {0, 5, 0, 0};
  ck_assert_int_eq(cls_metrics(g1, bad, 4, 2, &s), PT_ERR_ARG);
  ck_assert_str_eq(pt_error_message(),
                   "cls metrics: example 1 has gold 0 / predicted 5, outside [0, 2)");
  ck_assert_int_eq(cls_metrics(g1, p1, 0, 2, &s), PT_ERR_ARG);
}
END_TEST

int main(void) {
  Suite *s = suite_create("glue");
  TCase *tc = tcase_create("readers");
  tcase_add_test(tc, superglue_presets);
  tcase_add_test(tc, copa_multiple_choice);
  tcase_add_test(tc, glue_tsv_presets);
  tcase_add_test(tc, generic_jsonl_fields);
  tcase_add_test(tc, bad_cls_input_is_reported_by_line);
  tcase_add_test(tc, cls_and_mc_predictions_files);
  suite_add_tcase(s, tc);
  TCase *m = tcase_create("metrics");
  tcase_add_test(m, accuracy_macro_f1_mcc);
  suite_add_tcase(s, m);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
