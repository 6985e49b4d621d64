/* The task table, walked as test_op_table walks the ops: every registered
 * task row is complete, reads its labelled fixture and encodes it with the
 * bert-base-uncased vocabulary, scores predictions made from its own gold
 * labels as its row says (the metric's best, or the known ceiling of the
 * tokenization) and all-zero logits as less than that, gives each
 * example's result as JSON, writes its prediction file and reads it back
 * (`ptune score`'s path) to the same metrics line, and fails on its broken
 * input with a one-line message naming the file. A row without its check
 * case fails the suite. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/tasks/task.h"
#include "task_test_util.h"

static pt_tokenizer *tokenizer(void) {
  char dir[4096];
  const char *fx = getenv("PT_FIXTURES");
  snprintf(dir, sizeof dir, "%s/vocab/bert-base-uncased", fx ? fx : "tests/fixtures");
  pt_tokenizer *tok = pt_tokenizer_load(dir);
  ck_assert_msg(tok != NULL, "%s", pt_error_message());
  return tok;
}

static task_opts check_opts(const task_def *t) {
  return (task_opts){.preset = t->check_preset,
                     .max_seq_len = t->max_seq_len > 256 ? t->max_seq_len : 256,
                     .doc_stride = 128,
                     .n_best = 20,
                     .max_answer_len = 30};
}

START_TEST(every_row_is_complete) {
  int n;
  const task_def *const *rows = task_table(&n);
  ck_assert_int_gt(n, 0);
  for (int i = 0; i < n; i++) {
    const task_def *t = rows[i];
    ck_assert_msg(t->name && t->name[0], "row %d has no name", i);
    ck_assert_msg(task_find(t->name) == t, "%s: not found by name (given twice?)", t->name);
    ck_assert_msg(t->data_help && t->max_seq_len >= 4, "%s: no data help or max_seq_len", t->name);
    ck_assert_msg(t->read && t->free_examples && t->encode, "%s: no reader or features", t->name);
    ck_assert_msg(t->predict_begin && t->predict_batch && t->score, "%s: no predictions or metric",
                  t->name);
    ck_assert_msg(t->write && t->example_json, "%s: no prediction writer", t->name);
    ck_assert_msg(t->read_predictions, "%s: no prediction reader (ptune score)", t->name);
    ck_assert_msg(t->check_fixture, "%s: no check fixture", t->name);
    ck_assert_msg(t->check_gold_score > 0, "%s: no gold score for the metric test", t->name);
    ck_assert_msg(t->bad_input && t->bad_input_name && t->bad_error, "%s: no bad-input case",
                  t->name);
    ck_assert_msg(!t->adapter_labels || t->map_labels, "%s: adapter labels but no label map",
                  t->name);
  }
  char names[256];
  task_names(names, sizeof names, ", ", " or ");
  for (int i = 0; i < n; i++) ck_assert_ptr_nonnull(strstr(names, rows[i]->name));
}
END_TEST

/* Model outputs for one feature: the gold label's logit 1 and the others 0
 * (oracle), or all 0. */
static void fake_outputs(const task_def *t, const task_feature *f, int64_t n_labels, bool oracle,
                         pt_model_outputs *o) {
  memset(o, 0, sizeof *o);
  int64_t S = f->len[0];
  switch (t->head) {
    case PT_TASK_TOKEN_CLASSIFICATION:
      o->logits = pt_zeros(PT_F32, 3, PT_SHAPE(1, S, n_labels));
      for (int64_t s = 0; oracle && s < S; s++)
        if (f->tok_labels[s] >= 0) pt_set(o->logits, s * n_labels + f->tok_labels[s], 1);
      break;
    case PT_TASK_SEQUENCE_CLASSIFICATION:
      o->logits = pt_zeros(PT_F32, 2, PT_SHAPE(1, n_labels));
      if (oracle) pt_set(o->logits, f->label, 1);
      break;
    case PT_TASK_MULTIPLE_CHOICE:
      o->logits = pt_zeros(PT_F32, 2, PT_SHAPE(1, f->nseq));
      if (oracle) pt_set(o->logits, f->label, 1);
      break;
    case PT_TASK_QUESTION_ANSWERING:
      o->start_logits = pt_zeros(PT_F32, 2, PT_SHAPE(1, S));
      o->end_logits = pt_zeros(PT_F32, 2, PT_SHAPE(1, S));
      if (oracle) {
        pt_set(o->start_logits, f->start, 1);
        pt_set(o->end_logits, f->end, 1);
      }
      break;
  }
}

/* The row's predictions and primary score from fake outputs. */
static double fake_eval(const task_def *t, const task_data *td, const label_map *map,
                        const task_opts *o, bool oracle, eval_result *r) {
  memset(r, 0, sizeof *r);
  r->n = td->n_examples;
  ck_assert_msg(t->predict_begin(td, map, r) == PT_OK, "%s: %s", t->name, pt_error_message());
  for (int64_t i = 0; i < td->n; i++) {
    pt_model_outputs out;
    fake_outputs(t, &td->f[i], map->n, oracle, &out);
    const task_feature *f = &td->f[i];
    ck_assert_msg(t->predict_batch(td, map, &f, 1, &out, r) == PT_OK, "%s: %s", t->name,
                  pt_error_message());
    pt_model_outputs_free(&out);
  }
  if (t->predict_end)
    ck_assert_msg(t->predict_end(td, o, r) == PT_OK, "%s: %s", t->name, pt_error_message());
  task_score s = {0};
  ck_assert_msg(t->score(td, map, o, r, &s) == PT_OK, "%s: %s", t->name, pt_error_message());
  ck_assert_msg(s.metrics && json_is_object(s.metrics), "%s: no metrics object", t->name);
  ck_assert_ptr_nonnull(s.primary_name);
  ck_assert_ptr_nonnull(json_object_get(s.metrics, s.primary_name));
  json_decref(s.metrics);
  return s.primary;
}

START_TEST(every_task_reads_scores_and_writes_its_fixture) {
  int n;
  const task_def *const *rows = task_table(&n);
  pt_tokenizer *tok = tokenizer();
  for (int i = 0; i < n; i++) {
    const task_def *t = rows[i];
    task_opts o = check_opts(t);
    task_data td;
    ck_assert_msg(task_data_read(t, &o, fixture(t->check_fixture), true, &td) == PT_OK, "%s: %s",
                  t->name, pt_error_message());
    ck_assert_msg(td.labelled && td.n_examples > 0, "%s: fixture without labelled examples",
                  t->name);
    label_map map;
    label_map_init(&map);
    ck_assert_int_eq(task_preset_labels(t, &o, &map), PT_OK);
    ck_assert_msg(task_data_map_labels(&td, &map, map.n == 0) == PT_OK, "%s: %s", t->name,
                  pt_error_message());
    ck_assert_msg(!t->adapter_labels || map.n > 0, "%s: no labels", t->name);
    ck_assert_msg(task_data_encode(&td, tok, &o) == PT_OK, "%s: %s", t->name, pt_error_message());
    ck_assert_int_ge(td.n, td.n_examples);
    /* the metric: perfect on the gold labels, lower on all-zero logits */
    eval_result r;
    double best = fake_eval(t, &td, &map, &o, true, &r);
    ck_assert_msg(best == t->check_gold_score, "%s: gold predictions score %.17g, not %g", t->name,
                  best, t->check_gold_score);
    /* every example's result as JSON, and the prediction file */
    for (int64_t k = 0; k < td.n_examples; k++) {
      json_t *j = NULL;
      ck_assert_msg(t->example_json(&td, &r, &map, k, &j) == PT_OK, "%s: %s", t->name,
                    pt_error_message());
      ck_assert_msg(json_is_object(j) && json_object_size(j) > 0, "%s: example %lld", t->name,
                    (long long)k);
      json_decref(j);
    }
    const char *out = tmp_file("predictions", "", 0);
    ck_assert_msg(task_write_predictions(&td, &r, &map, &o, out) == PT_OK, "%s: %s", t->name,
                  pt_error_message());
    FILE *f = fopen(out, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_msg(fgetc(f) != EOF, "%s: empty prediction file", t->name);
    fclose(f);
    /* the file read back scores as the predictions did: ptune score */
    ck_assert_int_eq(task_score_predictions(&td, &map, &o, &r), PT_OK);
    eval_result back = {.n = td.n_examples};
    ck_assert_msg(t->read_predictions(&td, &map, &o, out, &back) == PT_OK, "%s: %s", t->name,
                  pt_error_message());
    ck_assert_int_eq(task_score_predictions(&td, &map, &o, &back), PT_OK);
    ck_assert_str_eq(back.json, r.json);
    eval_result_free(&back);
    char *line = NULL;
    ck_assert_msg(task_score_file(t, &o, fixture(t->check_fixture), out, &line) == PT_OK, "%s: %s",
                  t->name, pt_error_message());
    ck_assert_str_eq(line, r.json);
    free(line);
    eval_result_free(&r);
    double zero = fake_eval(t, &td, &map, &o, false, &r);
    ck_assert_msg(zero < best, "%s: all-zero logits score %g, as well as the gold labels", t->name,
                  zero);
    eval_result_free(&r);
    label_map_free(&map);
    task_data_free(&td);
    tmp_cleanup();
  }
  pt_tokenizer_free(tok);
}
END_TEST

START_TEST(every_task_rejects_its_bad_input) {
  int n;
  const task_def *const *rows = task_table(&n);
  for (int i = 0; i < n; i++) {
    const task_def *t = rows[i];
    task_opts o = check_opts(t);
    const char *path = tmp_file(t->bad_input_name, t->bad_input, -1);
    task_data td;
    ck_assert_msg(task_data_read(t, &o, path, true, &td) != PT_OK, "%s: broken input read",
                  t->name);
    const char *msg = pt_error_message();
    ck_assert_msg(strstr(msg, path) != NULL, "%s: the message does not name the file: %s", t->name,
                  msg);
    ck_assert_msg(strstr(msg, t->bad_error) != NULL, "%s: '%s' does not say '%s'", t->name, msg,
                  t->bad_error);
    ck_assert_msg(!strchr(msg, '\n'), "%s: more than one line", t->name);
    task_data_free(&td); /* harmless on a failed read */
    tmp_cleanup();
  }
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("tasks");
  TCase *tc = tcase_create("tasks");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, every_row_is_complete);
  tcase_add_test(tc, every_task_reads_scores_and_writes_its_fixture);
  tcase_add_test(tc, every_task_rejects_its_bad_input);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
