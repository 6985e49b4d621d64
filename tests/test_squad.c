/* The qa task: apps/tasks/qa/read.c on committed excerpts and on broken files,
 * apps/tasks/qa/evaluate.c (the official v1.1/v2.0 evaluators) on hand-computed
 * cases, apps/tasks/qa/postprocess.c on synthetic logits whose best span is known,
 * and apps/tasks/qa/features.c windows with the real bert-base-uncased and
 * roberta-base vocabularies. Reads only tests/fixtures and temp files. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "apps/tasks/qa/squad.h"
#include "task_test_util.h"

#define TOL 1e-12

/* ---- the evaluator ------------------------------------------------------- */

static void expect_norm(const char *in, const char *want) {
  char *n = squad_normalize(in);
  ck_assert_ptr_nonnull(n);
  ck_assert_msg(strcmp(n, want) == 0, "normalize('%s') = '%s', want '%s'", in, n, want);
  free(n);
}

START_TEST(normalize_answer) {
  expect_norm("The  Cat!", "cat");
  ck_assert_double_eq(squad_exact("cat", "The  Cat!"), 1.0);
  ck_assert_double_eq(squad_exact("cat", "cats"), 0.0);
  expect_norm("an apple a day", "apple day");
  expect_norm("Theatre and Anthem", "theatre and anthem"); /* whole words only */
  expect_norm("(a) an, the.", "");                         /* punctuation first */
  expect_norm("the_cat", "thecat");                        /* '_' is punctuation */
  expect_norm("  Denver\tBroncos\n", "denver broncos");
  expect_norm("Sch\xc3\xb6n \xc3\x80 \xc2\xa0la  carte", "sch\xc3\xb6n \xc3\xa0 la carte"); /* NBSP splits */
  expect_norm("\xe2\x80\x9cquoted\xe2\x80\x9d", "\xe2\x80\x9cquoted\xe2\x80\x9d"); /* not string.punctuation */
  expect_norm("caf\xc3\xa9 the", "caf\xc3\xa9");           /* \b after a non-ASCII letter */
  expect_norm("\xc3\xa9the", "\xc3\xa9the");               /* no \b between é and t */
  expect_norm("\xc4\xb0", "i\xcc\x87");                    /* str.lower: İ -> i + U+0307 */
  expect_norm("\xce\x9f\xce\x94\xce\x9f\xce\xa3 \xce\xa3", /* ΟΔΟΣ Σ -> οδος σ */
              "\xce\xbf\xce\xb4\xce\xbf\xcf\x82 \xcf\x83");
  expect_norm("", "");
}
END_TEST

START_TEST(token_f1) {
  /* gold cat sat on mat / pred cat on mat mat: overlap 3 of 4 and 4 */
  ck_assert_double_eq_tol(squad_f1("the cat sat on the mat", "cat on a mat mat", false), 0.75,
                          TOL);
  /* Counter overlap: "mat mat" against one "mat" counts once */
  ck_assert_double_eq_tol(squad_f1("mat", "mat mat", false), 2 * 0.5 * 1 / 1.5, TOL);
  /* P = 2/3, R = 1 */
  ck_assert_double_eq_tol(squad_f1("Denver Broncos", "the Denver Broncos won", true), 0.8, TOL);
  ck_assert_double_eq(squad_f1("Denver", "Carolina", true), 0.0);
  /* empty sides: v1 scores 0 (no overlap), v2 scores 1 when both are empty */
  ck_assert_double_eq(squad_f1("", "", false), 0.0);
  ck_assert_double_eq(squad_f1("", "", true), 1.0);
  ck_assert_double_eq(squad_f1("the", "", true), 1.0);
  ck_assert_double_eq(squad_f1("", "an answer", true), 0.0);
  ck_assert_double_eq(squad_exact("", "the"), 1.0);
}
END_TEST

static const char *v1_json =
    "{\"version\": \"1.1\", \"data\": [{\"title\": \"T\", \"paragraphs\": [{"
    "\"context\": \"The Denver Broncos played in Santa Clara, California.\", \"qas\": ["
    "{\"id\": \"q1\", \"question\": \"Who?\", \"answers\": [{\"text\": \"Denver Broncos\", "
    "\"answer_start\": 4}, {\"text\": \"Broncos\", \"answer_start\": 11}]},"
    "{\"id\": \"q2\", \"question\": \"Where?\", \"answers\": [{\"text\": \"Santa Clara, "
    "California\", \"answer_start\": 29}]},"
    "{\"id\": \"q3\", \"question\": \"What?\", \"answers\": [{\"text\": \"played\", "
    "\"answer_start\": 19}]}]}]}]}";

START_TEST(evaluate_v1) {
  squad_set set;
  pt_status s = read_squad(tmp_file("v1.json", v1_json, -1), NULL, &set);
  ck_assert_msg(s == PT_OK, "%s", pt_error_message());
  ck_assert(!set.v2);
  /* q1: max over golds (EM 1 via "Broncos"); q2: P 1, R 2/3 -> F1 0.8;
   * q3: no prediction, scores 0 and counts */
  const char *preds[] = {"Broncos", "Santa Clara", NULL};
  squad_scores sc;
  ck_assert_int_eq(squad_evaluate(&set, preds, NULL, NULL, 1.0, &sc), PT_OK);
  ck_assert_int_eq(sc.total, 3);
  ck_assert_int_eq(sc.missing, 1);
  ck_assert_double_eq_tol(sc.exact, 100.0 / 3, 1e-9);
  ck_assert_double_eq_tol(sc.f1, 100.0 * 1.8 / 3, 1e-9);
  ck_assert(!sc.has_best);
  char *js = squad_scores_json(&sc, false);
  ck_assert_str_eq(js, "{\"exact_match\": 33.333333333333336, \"f1\": 60.0}");
  free(js);
  squad_set_free(&set);
  tmp_cleanup();
}
END_TEST

START_TEST(python_float_repr) {
  /* numbers as Python's repr (json.dumps) writes them */
  static const struct { double x; const char *s; } cases[] = {
      {100.0, "100.0"}, {1e5, "100000.0"}, {1e16, "1e+16"}, {1.5e16, "1.5e+16"},
      {1e-5, "1e-05"}, {0.0001, "0.0001"}, {123456789012345.6, "123456789012345.6"},
      {0.30000000000000004, "0.30000000000000004"}, {2.5e-7, "2.5e-07"}, {0.0, "0.0"},
      {-3.0, "-3.0"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    squad_scores sc = {.exact = cases[i].x, .f1 = 1.0};
    char *js = squad_scores_json(&sc, false);
    char want[128];
    snprintf(want, sizeof want, "{\"exact_match\": %s, \"f1\": 1.0}", cases[i].s);
    ck_assert_str_eq(js, want);
    free(js);
  }
}
END_TEST

static const char *v2_json =
    "{\"version\": \"v2.0\", \"data\": [{\"title\": \"T\", \"paragraphs\": [{"
    "\"context\": \"The Denver Broncos saw the black cat.\", \"qas\": ["
    "{\"id\": \"a\", \"question\": \"Who?\", \"answers\": [{\"text\": \"Denver Broncos\", "
    "\"answer_start\": 4}], \"is_impossible\": false},"
    "{\"id\": \"b\", \"question\": \"What?\", \"answers\": [{\"text\": \"cat\", \"answer_start\": "
    "33}, {\"text\": \"the black cat\", \"answer_start\": 23}], \"is_impossible\": false},"
    "{\"id\": \"c\", \"question\": \"Why?\", \"answers\": [], \"is_impossible\": true,"
    " \"plausible_answers\": [{\"text\": \"black\", \"answer_start\": 27}]},"
    "{\"id\": \"d\", \"question\": \"When?\", \"answers\": [], \"is_impossible\": true}]}]}]}";

START_TEST(evaluate_v2) {
  squad_set set;
  pt_status s = read_squad(tmp_file("v2.json", v2_json, -1), NULL, &set);
  ck_assert_msg(s == PT_OK, "%s", pt_error_message());
  ck_assert(set.v2);
  ck_assert_int_eq(set.qs[2].n_plausible, 1);
  ck_assert(set.qs[2].is_impossible);
  /* a: EM 0 F1 0.8; b: EM 1 ("black cat" = "the black cat"); c: "" on a
   * no-answer question is right; d: an answer to a no-answer question */
  const char *preds[] = {"the Denver Broncos won", "black cat", "", "something"};
  squad_scores sc;
  ck_assert_int_eq(squad_evaluate(&set, preds, NULL, NULL, 1.0, &sc), PT_OK);
  ck_assert_int_eq(sc.total, 4);
  ck_assert_double_eq_tol(sc.exact, 50.0, TOL);
  ck_assert_double_eq_tol(sc.f1, 70.0, TOL);
  ck_assert_int_eq(sc.has_ans_total, 2);
  ck_assert_double_eq_tol(sc.has_ans_exact, 50.0, TOL);
  ck_assert_double_eq_tol(sc.has_ans_f1, 90.0, TOL);
  ck_assert_int_eq(sc.no_ans_total, 2);
  ck_assert_double_eq_tol(sc.no_ans_exact, 50.0, TOL);
  ck_assert_double_eq_tol(sc.no_ans_f1, 50.0, TOL);
  ck_assert(!sc.has_best);

  /* best thresholds: sorted by na_prob b(0.1) a(0.3) d(0.6) c(0.9), start at
   * 2 no-answer questions: EM 2 -> 3 (b) -> 3 -> 2 -> 2, best 3 at 0.1;
   * F1 2 -> 3 -> 3.8 (a) -> 2.8 -> 2.8, best 3.8 at 0.3 */
  const double na[] = {0.3, 0.1, 0.9, 0.6};
  ck_assert_int_eq(squad_evaluate(&set, preds, na, NULL, 1.0, &sc), PT_OK);
  ck_assert(sc.has_best);
  ck_assert_double_eq_tol(sc.exact, 50.0, TOL); /* no na_prob above 1.0 */
  ck_assert_double_eq_tol(sc.best_exact, 75.0, TOL);
  ck_assert_double_eq_tol(sc.best_exact_thresh, 0.1, TOL);
  ck_assert_double_eq_tol(sc.best_f1, 95.0, TOL);
  ck_assert_double_eq_tol(sc.best_f1_thresh, 0.3, TOL);
  char *js = squad_scores_json(&sc, true);
  ck_assert_str_eq(js, "{\"exact\": 50.0, \"f1\": 70.0, \"total\": 4, \"HasAns_exact\": 50.0, "
                       "\"HasAns_f1\": 90.0, \"HasAns_total\": 2, \"NoAns_exact\": 50.0, "
                       "\"NoAns_f1\": 50.0, \"NoAns_total\": 2, \"best_exact\": 75.0, "
                       "\"best_exact_thresh\": 0.1, \"best_f1\": 95.0, \"best_f1_thresh\": 0.3}");
  free(js);
  /* na_prob_thresh 0.5: c and d count as predicted no-answer */
  ck_assert_int_eq(squad_evaluate(&set, preds, na, NULL, 0.5, &sc), PT_OK);
  ck_assert_double_eq_tol(sc.exact, 75.0, TOL);
  ck_assert_double_eq_tol(sc.f1, 95.0, TOL);
  ck_assert_double_eq_tol(sc.no_ans_exact, 100.0, TOL);

  /* ties: evaluate-v2.0.py sorts the na_prob file's ids stably by score,
   * so tied questions are walked in the file's order. All four at 0.5:
   * file order a b c d: EM 2 -> 2 (a) -> 3 (b, best at 0.5) -> 3 -> 2;
   * F1 2 -> 2.8 -> 3.8 (best) -> 3.8 -> 2.8. File order d c b a: EM 2 -> 1
   * (d) -> 1 -> 2 -> 2, never above the start: best 50 at 0.0; F1 1 -> 1 ->
   * 2 -> 2.8 (a, best at 0.5) */
  const double tie[] = {0.5, 0.5, 0.5, 0.5};
  const char *abcd = tmp_file("na_abcd.json", "{\"a\": 0.5, \"b\": 0.5, \"c\": 0.5, \"d\": 0.5}", -1);
  const char *dcba = tmp_file("na_dcba.json", "{\"d\": 0.5, \"c\": 0.5, \"b\": 0.5, \"a\": 0.5}", -1);
  double *na_file;
  int64_t *order;
  ck_assert_int_eq(read_squad_scores(abcd, &set, &na_file, &order), PT_OK);
  ck_assert_int_eq(squad_evaluate(&set, preds, na_file, order, 1.0, &sc), PT_OK);
  ck_assert_double_eq_tol(sc.best_exact, 75.0, TOL);
  ck_assert_double_eq_tol(sc.best_exact_thresh, 0.5, TOL);
  ck_assert_double_eq_tol(sc.best_f1, 95.0, TOL);
  ck_assert_double_eq_tol(sc.best_f1_thresh, 0.5, TOL);
  free(na_file);
  free(order);
  ck_assert_int_eq(squad_evaluate(&set, preds, tie, NULL, 1.0, &sc), PT_OK); /* question order */
  ck_assert_double_eq_tol(sc.best_exact, 75.0, TOL);
  ck_assert_int_eq(read_squad_scores(dcba, &set, &na_file, &order), PT_OK);
  ck_assert_int_eq(squad_evaluate(&set, preds, na_file, order, 1.0, &sc), PT_OK);
  ck_assert_double_eq_tol(sc.best_exact, 50.0, TOL);
  ck_assert_double_eq_tol(sc.best_exact_thresh, 0.0, TOL);
  ck_assert_double_eq_tol(sc.best_f1, 70.0, TOL);
  ck_assert_double_eq_tol(sc.best_f1_thresh, 0.5, TOL);
  free(na_file);
  free(order);

  /* the official v2 script fails on a missing prediction; so do we */
  const char *missing[] = {"x", NULL, "", ""};
  ck_assert_int_eq(squad_evaluate(&set, missing, NULL, NULL, 1.0, &sc), PT_ERR_ARG);
  ck_assert_str_eq(pt_error_message(), "squad evaluate: no prediction for question id 'b'");
  squad_set_free(&set);
  tmp_cleanup();
}
END_TEST

START_TEST(prediction_files) {
  squad_set set;
  ck_assert_int_eq(read_squad(tmp_file("v2.json", v2_json, -1), NULL, &set), PT_OK);
  const char *answers[] = {"Denver Broncos", "caf\xc3\xa9 \"cat\"", "", "x"};
  const char *pp = tmp_file("predictions.json", "", 0);
  ck_assert_int_eq(write_squad_predictions(&set, answers, pp), PT_OK);
  /* HF's json.dumps(indent=4) layout, ASCII escapes */
  FILE *f = fopen(pp, "rb");
  char buf[512] = {0};
  ck_assert_uint_gt(fread(buf, 1, sizeof buf - 1, f), 0);
  fclose(f);
  ck_assert_str_eq(buf, "{\n    \"a\": \"Denver Broncos\",\n    \"b\": \"caf\\u00e9 \\\"cat\\\"\",\n"
                        "    \"c\": \"\",\n    \"d\": \"x\"\n}\n");
  char **preds;
  ck_assert_int_eq(read_squad_predictions(pp, &set, &preds), PT_OK);
  for (int i = 0; i < 4; i++) ck_assert_str_eq(preds[i], answers[i]);
  squad_predictions_free(preds, set.n);
  /* an id that is not a question, a question without an answer and a
   * number are errors naming the id */
  const char *p2 = tmp_file("p2.json", "{\"a\": \"x\", \"zz\": \"q\", \"b\": \"cat\"}", -1);
  ck_assert_int_eq(read_squad_predictions(p2, &set, &preds), PT_ERR_FORMAT);
  ck_assert_ptr_null(preds);
  char want[1024];
  snprintf(want, sizeof want, ": id 'zz' is not a question of %s", set.path);
  expect_msg(p2, want);
  const char *p5 = tmp_file("p5.json", "{\"a\": \"x\", \"b\": \"cat\", \"d\": \"\"}", -1);
  ck_assert_int_eq(read_squad_predictions(p5, &set, &preds), PT_ERR_FORMAT);
  snprintf(want, sizeof want, ": no entry for question id 'c' of %s", set.path);
  expect_msg(p5, want);
  const char *p3 = tmp_file("p3.json", "{\"a\": 3, \"b\": \"\", \"c\": \"\", \"d\": \"\"}", -1);
  ck_assert_int_eq(read_squad_predictions(p3, &set, &preds), PT_ERR_FORMAT);
  expect_msg(p3, ": the answer to 'a' must be a string, got an integer");
  /* scores round trip; a missing id is an error */
  const double sc[] = {0.25, -1.5, 3.0, 0.1};
  const char *ps = tmp_file("null_odds.json", "", 0);
  ck_assert_int_eq(write_squad_scores(&set, sc, ps), PT_OK);
  double *na;
  int64_t *order;
  ck_assert_int_eq(read_squad_scores(ps, &set, &na, &order), PT_OK);
  for (int i = 0; i < 4; i++) ck_assert(na[i] == sc[i] && order[i] == i);
  free(na);
  free(order);
  /* the file's order of the ids, for the ties of the threshold search */
  const char *p6 = tmp_file("na6.json", "{\"c\": 0, \"a\": 0.5, \"d\": 1, \"b\": 0}", -1);
  ck_assert_int_eq(read_squad_scores(p6, &set, &na, &order), PT_OK);
  const int64_t want_order[] = {1, 3, 0, 2};
  for (int i = 0; i < 4; i++) ck_assert_int_eq(order[i], want_order[i]);
  free(na);
  free(order);
  const char *p4 = tmp_file("na.json", "{\"a\": 0.5, \"b\": 1, \"c\": 0}", -1);
  ck_assert_int_eq(read_squad_scores(p4, &set, &na, NULL), PT_ERR_FORMAT);
  snprintf(want, sizeof want, ": no entry for question id 'd' of %s", set.path);
  expect_msg(p4, want);
  const char *p7 = tmp_file("na7.json", "{\"a\": 0.5, \"b\": 1, \"c\": 0, \"d\": \"x\"}", -1);
  ck_assert_int_eq(read_squad_scores(p7, &set, &na, NULL), PT_ERR_FORMAT);
  expect_msg(p7, ": the score of 'd' must be a number, got a string");
  squad_set_free(&set);
  tmp_cleanup();
}
END_TEST

/* tests/fixtures/squad_v2_scores.json (tests/tools/squad_v2_reference.py):
 * 40 prediction and no-answer files for the dev-v2.0 excerpt, the scores
 * mostly tied and the ids shuffled (in 19 cases the order alone moves a
 * best score or threshold), with evaluate-v2.0.py's metrics for each; ptune
 * score (task_score_file) on the files written out must print them. */
START_TEST(score_matches_the_reference_on_ties) {
  char path[4096];
  const char *fx = getenv("PT_FIXTURES");
  snprintf(path, sizeof path, "%s/squad_v2_scores.json", fx ? fx : "tests/fixtures");
  json_error_t e;
  json_t *root = json_load_file(path, 0, &e);
  ck_assert_msg(root != NULL, "%s: %s", path, e.text);
  char data[4096];
  snprintf(data, sizeof data, "%s", fixture("squad/dev-v2.0.excerpt.json"));
  const json_t *cases = json_object_get(root, "cases");
  ck_assert_int_eq(json_array_size(cases), 40);
  size_t c;
  const json_t *k;
  json_array_foreach(cases, c, k) {
    /* the predictions and the no-answer scores, the latter in the case's order */
    char *preds = json_dumps(json_object_get(k, "predictions"), JSON_PRESERVE_ORDER);
    json_t *na = json_object();
    size_t i;
    const json_t *pair;
    json_array_foreach(json_object_get(k, "na_probs"), i, pair)
      json_object_set(na, json_string_value(json_array_get(pair, 0)), json_array_get(pair, 1));
    char *nas = json_dumps(na, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(na);
    task_opts o = {.na_prob_file = tmp_file("na.json", nas, -1),
                   .na_prob_thresh = json_number_value(json_object_get(k, "na_prob_thresh"))};
    char *line = NULL;
    ck_assert_msg(task_score_file(task_find("qa"), &o, data, tmp_file("pred.json", preds, -1),
                                  &line) == PT_OK,
                  "case %zu: %s", c, pt_error_message());
    json_t *got = json_loads(line, 0, &e);
    ck_assert_ptr_nonnull(got);
    const char *key;
    const json_t *want;
    json_object_foreach((json_t *)json_object_get(k, "expected"), key, want) {
      const json_t *g = json_object_get(got, key);
      ck_assert_msg(json_is_number(g), "case %zu: no %s", c, key);
      /* the metrics line has 10 significant digits */
      ck_assert_msg(fabs(json_number_value(g) - json_number_value(want)) <=
                        1e-9 * fmax(1.0, fabs(json_number_value(want))),
                    "case %zu: %s %.17g, evaluate-v2.0.py %.17g", c, key, json_number_value(g),
                    json_number_value(want));
    }
    json_decref(got);
    free(line);
    free(preds);
    free(nas);
    tmp_cleanup();
  }
  json_decref(root);
}
END_TEST

/* ---- the reader ------------------------------------------------------------ */

START_TEST(read_excerpts) {
  squad_set set;
  pt_status s = read_squad(fixture("squad/dev-v1.1.excerpt.json"), NULL, &set);
  ck_assert_msg(s == PT_OK, "%s", pt_error_message());
  ck_assert_str_eq(set.version, "1.1");
  ck_assert(!set.v2);
  ck_assert_int_eq(set.n_articles, 2);
  ck_assert_int_eq(set.n_paras, 3);
  ck_assert_int_eq(set.n, 40);
  ck_assert_str_eq(set.titles[1], "Warsaw");
  const squad_question *q = &set.qs[0];
  ck_assert_str_eq(q->id, "56be4db0acb8001400a502ec");
  ck_assert_str_eq(q->question, "Which NFL team represented the AFC at Super Bowl 50?");
  ck_assert_int_eq(q->n_answers, 3);
  ck_assert_str_eq(q->answers[0].text, "Denver Broncos");
  ck_assert_int_eq(q->answers[0].start, 177);
  ck_assert_int_eq(set.qs[30].para, 1);
  ck_assert_int_eq(set.qs[30].article, 1);
  ck_assert_int_eq(set.qs[39].para_in_article, 1);
  ck_assert_int_eq(set.qs[39].qa_in_para, 4);
  /* "24–10": an en dash, so code points and bytes differ after it */
  const squad_paragraph *p = &set.paras[0];
  ck_assert_int_eq(p->n_chars, 775);
  ck_assert_int_eq((int64_t)p->len, 775 + 2);
  /* gold answers predicted back score 100 */
  const char *preds[40];
  for (int i = 0; i < 40; i++) preds[i] = set.qs[i].answers[set.qs[i].n_answers - 1].text;
  squad_scores sc;
  ck_assert_int_eq(squad_evaluate(&set, preds, NULL, NULL, 1.0, &sc), PT_OK);
  ck_assert_double_eq_tol(sc.exact, 100.0, TOL);
  ck_assert_double_eq_tol(sc.f1, 100.0, TOL);
  squad_set_free(&set);
  squad_set_free(&set); /* harmless */

  s = read_squad(fixture("squad/dev-v2.0.excerpt.json"), NULL, &set);
  ck_assert_msg(s == PT_OK, "%s", pt_error_message());
  ck_assert(set.v2);
  ck_assert_str_eq(set.version, "v2.0");
  ck_assert_int_eq(set.n, 17);
  int64_t imp = 0;
  for (int64_t i = 0; i < set.n; i++) {
    imp += set.qs[i].is_impossible;
    if (set.qs[i].is_impossible) {
      ck_assert_int_eq(set.qs[i].n_answers, 0);
      ck_assert_int_gt(set.qs[i].n_plausible, 0);
    }
  }
  ck_assert_int_eq(imp, 9);
  squad_set_free(&set);
}
END_TEST

/* A one-question file around `qa` (a JSON object's members) and `ctx`. */
static const char *one_q(const char *name, const char *ctx, const char *qa) {
  static char buf[2048];
  snprintf(buf, sizeof buf,
           "{\"version\": \"1.1\", \"data\": [{\"title\": \"T\", \"paragraphs\": [{\"context\": "
           "\"%s\", \"qas\": [%s]}]}]}",
           ctx, qa);
  return tmp_file(name, buf, -1);
}

static void expect_bad(const char *path, const char *rest) {
  squad_set set;
  ck_assert_int_eq(read_squad(path, NULL, &set), PT_ERR_FORMAT);
  expect_msg(path, rest);
  ck_assert_int_eq(set.n, 0);
  ck_assert_ptr_null(set.qs);
}

START_TEST(bad_input_is_reported) {
  const char *ctx = "Warsaw is the capital of Poland.";
  const char *p;
  p = one_q("outside.json", ctx,
            "{\"id\": \"x\", \"question\": \"q\", \"answers\": [{\"text\": \"Poland\", "
            "\"answer_start\": 912}]}");
  expect_bad(p, ": data[0].paragraphs[0].qas[0].answers[0]: answer_start 912 is outside the "
                "context (length 32)");
  p = one_q("negative.json", ctx,
            "{\"id\": \"x\", \"question\": \"q\", \"answers\": [{\"text\": \"W\", "
            "\"answer_start\": -1}]}");
  expect_bad(p, ": data[0].paragraphs[0].qas[0].answers[0]: answer_start -1 is outside the "
                "context (length 32)");
  p = one_q("past.json", ctx,
            "{\"id\": \"x\", \"question\": \"q\", \"answers\": [{\"text\": \"Poland. And\", "
            "\"answer_start\": 25}]}");
  expect_bad(p, ": data[0].paragraphs[0].qas[0].answers[0]: answer 'Poland. And' at answer_start "
                "25 runs past the end of the context (length 32)");
  p = one_q("mismatch.json", ctx,
            "{\"id\": \"x\", \"question\": \"q\", \"answers\": [{\"text\": \"Poland\", "
            "\"answer_start\": 24}]}");
  expect_bad(p, ": data[0].paragraphs[0].qas[0].answers[0]: answer text 'Poland' does not match "
                "the context at answer_start 24 (' Polan')");
  p = one_q("noid.json", ctx,
            "{\"question\": \"q\", \"answers\": [{\"text\": \"Warsaw\", \"answer_start\": 0}]}");
  expect_bad(p, ": data[0].paragraphs[0].qas[0]: missing 'id'");
  p = one_q("emptyid.json", ctx,
            "{\"id\": \"\", \"question\": \"q\", \"answers\": [{\"text\": \"Warsaw\", "
            "\"answer_start\": 0}]}");
  expect_bad(p, ": data[0].paragraphs[0].qas[0]: empty 'id'");
  p = one_q("dup.json", ctx,
            "{\"id\": \"x\", \"question\": \"q\", \"answers\": [{\"text\": \"Warsaw\", "
            "\"answer_start\": 0}]}, {\"id\": \"x\", \"question\": \"q2\", \"answers\": "
            "[{\"text\": \"Poland\", \"answer_start\": 25}]}");
  expect_bad(p, ": data[0].paragraphs[0].qas[1]: duplicate id 'x' (first at "
                "data[0].paragraphs[0].qas[0])");
  p = one_q("idtype.json", ctx, "{\"id\": 7, \"question\": \"q\", \"answers\": []}");
  expect_bad(p, ": data[0].paragraphs[0].qas[0]: 'id' must be a string, got an integer");
  p = one_q("starttype.json", ctx,
            "{\"id\": \"x\", \"question\": \"q\", \"answers\": [{\"text\": \"Warsaw\", "
            "\"answer_start\": \"0\"}]}");
  expect_bad(p, ": data[0].paragraphs[0].qas[0].answers[0]: 'answer_start' must be an integer, "
                "got a string");
  p = one_q("answerstype.json", ctx, "{\"id\": \"x\", \"question\": \"q\", \"answers\": {}}");
  expect_bad(p, ": data[0].paragraphs[0].qas[0]: 'answers' must be an array, got an object");
  p = one_q("noanswers.json", ctx, "{\"id\": \"x\", \"question\": \"q\", \"answers\": []}");
  expect_bad(p, ": data[0].paragraphs[0].qas[0]: no answers and is_impossible is not true");
  p = one_q("impossible.json", ctx,
            "{\"id\": \"x\", \"question\": \"q\", \"is_impossible\": true, \"answers\": "
            "[{\"text\": \"Warsaw\", \"answer_start\": 0}]}");
  expect_bad(p, ": data[0].paragraphs[0].qas[0]: is_impossible is true but it has 1 answer(s)");
  p = one_q("imptype.json", ctx,
            "{\"id\": \"x\", \"question\": \"q\", \"is_impossible\": 1, \"answers\": []}");
  expect_bad(p, ": data[0].paragraphs[0].qas[0]: 'is_impossible' must be true or false, got an "
                "integer");
  p = tmp_file("noctx.json", "{\"data\": [{\"paragraphs\": [{\"qas\": []}]}]}", -1);
  expect_bad(p, ": data[0].paragraphs[0]: missing 'context'");
  p = tmp_file("paras.json", "{\"data\": [{\"title\": \"T\", \"paragraphs\": 3}]}", -1);
  expect_bad(p, ": data[0]: 'paragraphs' must be an array, got an integer");
  p = tmp_file("nodata.json", "{\"version\": \"1.1\"}", -1);
  expect_bad(p, ": missing 'data' (a SQuAD file is {\"version\", \"data\": [...]})");
  p = tmp_file("empty.json", "{\"version\": \"1.1\", \"data\": []}", -1);
  expect_bad(p, ": no questions");
  p = tmp_file("array.json", "[1, 2]", -1);
  squad_set set;
  ck_assert_int_eq(read_squad(p, NULL, &set), PT_ERR_FORMAT);
  ck_assert(strncmp(pt_error_message(), p, strlen(p)) == 0);
  p = tmp_file("broken.json", "{\"data\": [\n{\"title\": }]}", -1);
  ck_assert_int_eq(read_squad(p, NULL, &set), PT_ERR_FORMAT);
  char want[600];
  snprintf(want, sizeof want, "%s:2:", p);
  ck_assert_msg(strncmp(pt_error_message(), want, strlen(want)) == 0, "%s", pt_error_message());
  ck_assert_int_eq(read_squad("/nonexistent/dev.json", NULL, &set), PT_ERR_IO);

  /* predict data may come without answers */
  p = one_q("unlabelled.json", ctx, "{\"id\": \"x\", \"question\": \"q\"}");
  read_opts opts = {.labels_optional = true};
  ck_assert_int_eq(read_squad(p, &opts, &set), PT_OK);
  ck_assert_int_eq(set.n, 1);
  ck_assert_int_eq(set.qs[0].n_answers, 0);
  squad_set_free(&set);
  tmp_cleanup();
}
END_TEST

/* Truncated and byte-flipped copies of an excerpt: each is read or refused
 * with a message naming the file, never a crash (ASan build). */
START_TEST(mutated_files_fail_cleanly) {
  FILE *f = fopen(fixture("squad/dev-v2.0.excerpt.json"), "rb");
  ck_assert_ptr_nonnull(f);
  static char orig[16384], buf[16384];
  size_t n = fread(orig, 1, sizeof orig, f);
  fclose(f);
  ck_assert_uint_gt(n, 1000);
  char path[] = "/tmp/pt_squad_mut_XXXXXX";
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  close(fd);
  unsigned rng = 12345;
  int ok = 0, failed = 0;
  for (int t = 0; t < 300; t++) {
    memcpy(buf, orig, n);
    size_t len = n;
    rng = rng * 1103515245u + 12345u;
    if (t < 100) {
      len = (rng >> 8) % n; /* truncated */
    } else {
      for (int k = 0; k < 1 + t % 4; k++) { /* flipped bytes */
        rng = rng * 1103515245u + 12345u;
        buf[(rng >> 8) % n] = "0123456789\"{}[],: -ax\\"[(rng >> 20) % 23];
      }
    }
    f = fopen(path, "wb");
    ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
    fclose(f);
    squad_set set;
    if (read_squad(path, NULL, &set) == PT_OK) {
      ok++;
      squad_set_free(&set);
    } else {
      failed++;
      ck_assert(strncmp(pt_error_message(), path, strlen(path)) == 0);
      ck_assert(strchr(pt_error_message(), '\n') == NULL);
    }
  }
  unlink(path);
  ck_assert_int_ge(failed, 100);
  ck_assert_int_eq(ok + failed, 300);
}
END_TEST

/* ---- post-processing ---------------------------------------------------------- */

/* One window over "alpha bravo charlie delta": [CLS] q q [SEP] alpha bravo
 * charlie delta [SEP] [PAD]. */
static const char *ctx4 = "alpha bravo charlie delta";
static const int64_t offs4[20] = {-1, -1, -1, -1, -1, -1, -1, -1, 0,  5,
                                  6,  11, 12, 19, 20, 25, -1, -1, -1, -1};
static const uint8_t isctx4[10] = {0, 0, 0, 0, 1, 1, 1, 1, 0, 0};

static qa_window win4(const float *s, const float *e) {
  return (qa_window){.n = 10, .start_logits = s, .end_logits = e, .offsets = offs4,
                        .is_context = isctx4};
}

static void expect_answer(const qa_window *w, int64_t nw, const qa_post_opts *o,
                          const char *want) {
  qa_answer a;
  pt_status s = qa_best_answer(ctx4, strlen(ctx4), w, nw, o, &a);
  ck_assert_msg(s == PT_OK, "%s", pt_error_message());
  ck_assert_str_eq(a.text, want);
  qa_answer_free(&a);
}

START_TEST(postprocess_spans) {
  qa_post_opts o = qa_post_opts_default(false);
  /* the highest start (10) and end (9) are question tokens: skipped */
  const float s1[10] = {0, 10, 0, 0, 1, 5, 0, 0, 0, 0};
  const float e1[10] = {0, 0, 9, 0, 0, 0, 4, 1, 0, 0};
  qa_window w = win4(s1, e1);
  qa_answer a;
  ck_assert_int_eq(qa_best_answer(ctx4, strlen(ctx4), &w, 1, &o, &a), PT_OK);
  ck_assert_str_eq(a.text, "bravo charlie");
  ck_assert_int_eq(a.char_start, 6);
  ck_assert_int_eq(a.char_end, 19);
  ck_assert(a.score == 9.0f);
  qa_answer_free(&a);
  /* end before start (delta .. alpha, 16) is skipped; next: charlie .. delta */
  const float s2[10] = {0, 0, 0, 0, 0, 0, 3, 8, 0, 0};
  const float e2[10] = {0, 0, 0, 0, 8, 0, 0, 2, 0, 0};
  w = win4(s2, e2);
  expect_answer(&w, 1, &o, "delta"); /* 8 + 2 = 10 beats alpha..alpha 0 + 8 */
  /* too long: alpha .. delta is 4 tokens */
  const float s3[10] = {0, 0, 0, 0, 9, 1, 0, -5, 0, 0};
  const float e3[10] = {0, 0, 0, 0, -5, 2, 1, 9, 0, 0};
  w = win4(s3, e3);
  expect_answer(&w, 1, &o, "alpha bravo charlie delta"); /* 9 + 9 */
  o.max_answer_len = 2; /* alpha..bravo 9 + 2 beats charlie..delta 0 + 9 */
  expect_answer(&w, 1, &o, "alpha bravo");
  o.max_answer_len = 30;
  /* n_best 1: only the top start (a question token) is tried: HF answers "empty" */
  o.n_best = 1;
  w = win4(s1, e1);
  expect_answer(&w, 1, &o, "empty");
  o.n_best = 20;
  /* two windows: the best span of the second wins; text from its offsets */
  const float s4[10] = {0, 0, 0, 0, 0, 0, 0, 12, 0, 0};
  const float e4[10] = {0, 0, 0, 0, 0, 0, 0, 12, 0, 0};
  qa_window ws[2] = {win4(s1, e1), win4(s4, e4)};
  expect_answer(ws, 2, &o, "delta");
  /* a non-finite logit is an error */
  const float bad[10] = {0, 0, 0, 0, 0, 0, 0, 1.0f / 0.0f, 0, 0};
  w = win4(bad, e1);
  ck_assert_int_eq(qa_best_answer(ctx4, strlen(ctx4), &w, 1, &o, &a), PT_ERR_NUMERIC);
}
END_TEST

START_TEST(postprocess_null_answer) {
  qa_post_opts o = qa_post_opts_default(true);
  /* best span bravo..charlie = 9; null = 2 + 2 = 4; diff -5 -> answer */
  float s[10] = {2, 10, 0, 0, 1, 5, 0, 0, 0, 0};
  float e[10] = {2, 0, 9, 0, 0, 0, 4, 1, 0, 0};
  qa_window w = win4(s, e);
  qa_answer a;
  ck_assert_int_eq(qa_best_answer(ctx4, strlen(ctx4), &w, 1, &o, &a), PT_OK);
  ck_assert_str_eq(a.text, "bravo charlie");
  ck_assert(a.null_score == 4.0f);
  ck_assert(a.score_diff == -5.0f);
  qa_answer_free(&a);
  /* null 6 + 6 = 12 > 9: diff 3 > 0 -> "" */
  s[0] = e[0] = 6;
  ck_assert_int_eq(qa_best_answer(ctx4, strlen(ctx4), &w, 1, &o, &a), PT_OK);
  ck_assert_str_eq(a.text, "");
  ck_assert(a.score_diff == 3.0f);
  qa_answer_free(&a);
  /* a threshold of 5 keeps the span */
  o.null_threshold = 5.0;
  expect_answer(&w, 1, &o, "bravo charlie");
  o.null_threshold = 0.0;
  /* the null score is the minimum over windows: a second window with a
   * low [CLS] score makes the span win again (null 1 + 1 = 2 < 9) */
  float s2[10] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  float e2[10] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  qa_window ws[2] = {w, win4(s2, e2)};
  ck_assert_int_eq(qa_best_answer(ctx4, strlen(ctx4), ws, 2, &o, &a), PT_OK);
  ck_assert_str_eq(a.text, "bravo charlie");
  ck_assert(a.null_score == 2.0f);
  qa_answer_free(&a);
  /* no valid span at all: HF's "empty" (scores 0) against the null score */
  o.n_best = 1;
  s[1] = 20;
  e[2] = 20;
  ck_assert_int_eq(qa_best_answer(ctx4, strlen(ctx4), &w, 1, &o, &a), PT_OK);
  ck_assert_str_eq(a.text, ""); /* null 12 - 0 > 0 */
  qa_answer_free(&a);
  s[0] = e[0] = -1;
  expect_answer(&w, 1, &o, "empty"); /* null -2 - 0 <= 0 */
}
END_TEST

/* ---- windows -------------------------------------------------------------------- */

static pt_tokenizer *load_vocab(const char *name) {
  char dir[4096];
  const char *root = getenv("PT_FIXTURES");
  snprintf(dir, sizeof dir, "%s/vocab/%s", root ? root : "tests/fixtures", name);
  pt_tokenizer *tok = pt_tokenizer_load(dir);
  ck_assert_msg(tok != NULL, "%s", pt_error_message());
  return tok;
}

/* Code points of a UTF-8 string. */
static int64_t n_chars(const char *s) {
  int64_t n = 0;
  for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
  return n;
}

START_TEST(windows_bert) {
  pt_tokenizer *tok = load_vocab("bert-base-uncased");
  squad_set set;
  ck_assert_int_eq(read_squad(fixture("squad/dev-v1.1.excerpt.json"), NULL, &set), PT_OK);
  int64_t cls = pt_tokenizer_cls_id(tok), sep = pt_tokenizer_sep_id(tok);
  /* defaults: every excerpt context fits one 384-token window */
  qa_feature_opts o = qa_feature_opts_default();
  qa_features fs = {0};
  for (int64_t i = 0; i < set.n; i++)
    ck_assert_int_eq(qa_question_features(tok, &set, i, &o, &fs), PT_OK);
  ck_assert_int_eq(fs.n, set.n);
  for (int64_t k = 0; k < fs.n; k++) {
    const qa_feature *f = &fs.f[k];
    const squad_question *q = &set.qs[f->question];
    const squad_paragraph *p = &set.paras[q->para];
    ck_assert_int_eq(f->n, 384);
    ck_assert_int_eq(f->ids[0], cls);
    ck_assert_int_eq(f->ids[f->ctx_first - 1], sep);
    ck_assert_int_eq(f->ids[f->ctx_last + 1], sep);
    ck_assert_int_eq(f->type_ids[f->ctx_first], 1);
    ck_assert_int_eq(f->type_ids[f->ctx_first - 1], 0);
    ck_assert_int_eq(f->attention_mask[f->ctx_last + 1], 1);
    ck_assert_int_eq(f->attention_mask[f->ctx_last + 2], 0);
    ck_assert_int_eq(f->offsets[2 * f->ctx_last + 1], p->n_chars - (p->context[p->len - 1] == ' '));
    /* the target span covers the first answer and nothing less would */
    int64_t a0 = q->answers[0].start, a1 = a0 + n_chars(q->answers[0].text);
    ck_assert_int_gt(f->start_pos, 0);
    ck_assert_int_le(f->offsets[2 * f->start_pos], a0);
    ck_assert_int_ge(f->offsets[2 * f->end_pos + 1], a1);
    if (f->is_context[f->start_pos + 1]) ck_assert_int_gt(f->offsets[2 * (f->start_pos + 1)], a0);
    ck_assert_int_lt(f->offsets[2 * (f->end_pos - 1) + 1], a1);
  }
  /* Super Bowl q0: "Denver Broncos" = tokens denver, broncos */
  const qa_feature *f0 = &fs.f[0];
  ck_assert_int_eq(f0->end_pos - f0->start_pos, 1);
  ck_assert_str_eq(pt_tokenizer_id_to_token(tok, f0->ids[f0->start_pos]), "denver");
  ck_assert_str_eq(pt_tokenizer_id_to_token(tok, f0->ids[f0->end_pos]), "broncos");
  qa_features_free(&fs);

  /* small windows over the long Warsaw paragraph (question 39): consecutive
   * windows start room - stride context tokens apart, so they share exactly
   * doc_stride tokens, and the last one reaches the end */
  o = (qa_feature_opts){.max_seq_len = 64, .doc_stride = 16, .pad_to_max_length = false};
  ck_assert_int_eq(qa_question_features(tok, &set, 39, &o, &fs), PT_OK);
  ck_assert_int_gt(fs.n, 5);
  int64_t room = fs.f[0].ctx_last - fs.f[0].ctx_first + 1;
  ck_assert_int_eq(fs.f[0].n, 64);
  ck_assert_int_eq(room, 64 - fs.f[0].ctx_first - 1);
  int64_t found = 0;
  for (int64_t k = 0; k + 1 < fs.n; k++) {
    const qa_feature *a = &fs.f[k], *b = &fs.f[k + 1];
    int64_t shift = room - o.doc_stride;
    for (int64_t t = 0; t < o.doc_stride; t++) {
      ck_assert_int_eq(b->ids[b->ctx_first + t], a->ids[a->ctx_first + shift + t]);
      ck_assert_int_eq(b->offsets[2 * (b->ctx_first + t)], a->offsets[2 * (a->ctx_first + shift + t)]);
    }
  }
  for (int64_t k = 0; k < fs.n; k++) found += fs.f[k].start_pos > 0;
  ck_assert_int_ge(found, 1);
  const qa_feature *last = &fs.f[fs.n - 1];
  ck_assert_int_le(last->n, 64);
  ck_assert_int_eq(last->offsets[2 * last->ctx_last + 1], set.paras[2].n_chars);
  ck_assert_int_eq(last->ids[last->n - 1], sep);
  qa_features_free(&fs);

  /* a stride as large as the room, and a question that does not fit */
  o = (qa_feature_opts){.max_seq_len = 64, .doc_stride = 60, .pad_to_max_length = true};
  ck_assert_int_eq(qa_question_features(tok, &set, 39, &o, &fs), PT_ERR_ARG);
  ck_assert(strstr(pt_error_message(), "doc_stride 60 must be less than") != NULL);
  o.max_seq_len = 8;
  o.doc_stride = 2;
  ck_assert_int_eq(qa_question_features(tok, &set, 39, &o, &fs), PT_ERR_ARG);
  ck_assert(strstr(pt_error_message(), "of max_seq_len 8 tokens") != NULL);
  ck_assert_int_eq(fs.n, 0);
  qa_features_free(&fs);
  squad_set_free(&set);
  pt_tokenizer_free(tok);
}
END_TEST

START_TEST(windows_targets_edge_cases) {
  pt_tokenizer *tok = load_vocab("bert-base-uncased");
  const char *json =
      "{\"version\": \"v2.0\", \"data\": [{\"title\": \"T\", \"paragraphs\": [{"
      "\"context\": \"one two three four five six seven eight\", \"qas\": ["
      "{\"id\": \"a\", \"question\": \"  which?\", \"answers\": [{\"text\": \"six seven\", "
      "\"answer_start\": 24}]},"
      "{\"id\": \"b\", \"question\": \"last?\", \"answers\": [{\"text\": \"eight\", "
      "\"answer_start\": 34}]},"
      "{\"id\": \"c\", \"question\": \"none?\", \"answers\": [], \"is_impossible\": true}]}]}]}";
  squad_set set;
  pt_status s = read_squad(tmp_file("edge.json", json, -1), NULL, &set);
  ck_assert_msg(s == PT_OK, "%s", pt_error_message());
  /* [CLS] which ? [SEP] one ... eight [SEP]: room 4 with max 9, stride 2:
   * windows one..four, three..six, five..eight */
  qa_feature_opts o = {.max_seq_len = 9, .doc_stride = 2, .pad_to_max_length = true};
  qa_features fs = {0};
  ck_assert_int_eq(qa_question_features(tok, &set, 0, &o, &fs), PT_OK);
  ck_assert_int_eq(fs.n, 3);
  ck_assert_str_eq(pt_tokenizer_id_to_token(tok, fs.f[0].ids[1]), "which"); /* lstripped */
  ck_assert_int_eq(fs.f[0].ctx_first, 4);
  ck_assert_int_eq(fs.f[1].offsets[8], 8);  /* "three" */
  ck_assert_int_eq(fs.f[2].offsets[8], 19); /* "five" */
  /* "six seven" is whole only in the last window (five six seven eight) */
  ck_assert_int_eq(fs.f[0].start_pos, 0);
  ck_assert_int_eq(fs.f[1].start_pos, 0); /* three four five six: seven outside */
  ck_assert_int_eq(fs.f[1].end_pos, 0);
  ck_assert_int_eq(fs.f[2].start_pos, 5);
  ck_assert_int_eq(fs.f[2].end_pos, 6);
  qa_features_free(&fs);
  /* the answer in the window's last context token: HF's start loop runs on
   * through [SEP] and padding (offsets (0,0)) to the last position */
  o.max_seq_len = 16;
  ck_assert_int_eq(qa_question_features(tok, &set, 1, &o, &fs), PT_OK);
  ck_assert_int_eq(fs.n, 1);
  ck_assert_int_eq(fs.f[0].ctx_last, 11);
  ck_assert_int_eq(fs.f[0].start_pos, 15);
  ck_assert_int_eq(fs.f[0].end_pos, 11);
  qa_features_free(&fs);
  /* no answer: [CLS] */
  ck_assert_int_eq(qa_question_features(tok, &set, 2, &o, &fs), PT_OK);
  ck_assert_int_eq(fs.f[0].start_pos, 0);
  ck_assert_int_eq(fs.f[0].end_pos, 0);
  ck_assert_int_eq(fs.f[0].ids[15], pt_tokenizer_pad_id(tok));
  ck_assert_int_eq(fs.f[0].offsets[30], -1);
  qa_features_free(&fs);
  squad_set_free(&set);
  pt_tokenizer_free(tok);
  tmp_cleanup();
}
END_TEST

/* Windows -> logits peaking at each window's training targets -> answers
 * -> evaluator: the pipeline recovers every gold answer that token
 * boundaries allow ("golden" is one WordPiece, the gold is "gold"). */
static void oracle(pt_tokenizer *tok, const char *rel, const qa_feature_opts *o,
                   double *em, int64_t *n_windows) {
  squad_set set;
  ck_assert_int_eq(read_squad(fixture(rel), NULL, &set), PT_OK);
  char **answers = calloc((size_t)set.n, sizeof *answers);
  *n_windows = 0;
  for (int64_t i = 0; i < set.n; i++) {
    qa_features fs = {0};
    ck_assert_int_eq(qa_question_features(tok, &set, i, o, &fs), PT_OK);
    *n_windows += fs.n;
    qa_window *w = calloc((size_t)fs.n, sizeof *w);
    float *logits = calloc((size_t)fs.n * 2 * (size_t)o->max_seq_len, sizeof *logits);
    for (int64_t k = 0; k < fs.n; k++) {
      float *sl = logits + 2 * k * o->max_seq_len, *el = sl + o->max_seq_len;
      sl[fs.f[k].start_pos] += 5;
      el[fs.f[k].end_pos] += 5;
      w[k] = qa_feature_window(&fs.f[k], sl, el);
    }
    qa_post_opts po = qa_post_opts_default(set.v2);
    qa_answer a;
    const squad_paragraph *p = &set.paras[set.qs[i].para];
    ck_assert_int_eq(qa_best_answer(p->context, p->len, w, fs.n, &po, &a), PT_OK);
    answers[i] = a.text;
    free(logits);
    free(w);
    qa_features_free(&fs);
  }
  squad_scores sc;
  ck_assert_int_eq(squad_evaluate(&set, (const char *const *)answers, NULL, NULL, 1.0, &sc), PT_OK);
  *em = sc.exact;
  squad_predictions_free(answers, set.n);
  squad_set_free(&set);
}

START_TEST(windows_to_answers) {
  pt_tokenizer *tok = load_vocab("bert-base-uncased");
  qa_feature_opts o = qa_feature_opts_default();
  double em;
  int64_t nw;
  oracle(tok, "squad/dev-v1.1.excerpt.json", &o, &em, &nw);
  ck_assert_int_eq(nw, 40);
  ck_assert_double_eq_tol(em, 100.0 * 39 / 40, 1e-9);
  o = (qa_feature_opts){.max_seq_len = 96, .doc_stride = 32, .pad_to_max_length = true};
  oracle(tok, "squad/dev-v1.1.excerpt.json", &o, &em, &nw);
  ck_assert_int_gt(nw, 40);
  ck_assert_double_eq_tol(em, 100.0 * 39 / 40, 1e-9);
  oracle(tok, "squad/dev-v2.0.excerpt.json", &o, &em, &nw);
  ck_assert_int_gt(nw, 17);
  ck_assert_double_eq_tol(em, 100.0, 1e-9);
  pt_tokenizer_free(tok);
}
END_TEST

START_TEST(windows_roberta) {
  pt_tokenizer *tok = load_vocab("roberta-base");
  squad_set set;
  ck_assert_int_eq(read_squad(fixture("squad/dev-v2.0.excerpt.json"), NULL, &set), PT_OK);
  qa_feature_opts o = qa_feature_opts_default();
  qa_features fs = {0};
  ck_assert_int_eq(qa_question_features(tok, &set, 0, &o, &fs), PT_OK);
  ck_assert_int_eq(fs.n, 1);
  const qa_feature *f = &fs.f[0];
  /* <s> q </s></s> context </s> <pad>..., token types all 0 */
  int64_t bos = pt_tokenizer_cls_id(tok), eos = pt_tokenizer_sep_id(tok);
  ck_assert_int_eq(f->ids[0], bos);
  ck_assert_int_eq(f->ids[f->ctx_first - 1], eos);
  ck_assert_int_eq(f->ids[f->ctx_first - 2], eos);
  ck_assert_int_eq(f->ids[f->ctx_last + 1], eos);
  ck_assert_int_eq(f->ids[f->ctx_last + 2], pt_tokenizer_pad_id(tok));
  for (int64_t i = 0; i < f->n; i++) ck_assert_int_eq(f->type_ids[i], 0);
  /* "In what country is Normandy located?" -> "France" */
  const squad_question *q = &set.qs[0];
  ck_assert_str_eq(q->answers[0].text, "France");
  ck_assert_int_eq(f->start_pos, f->end_pos);
  ck_assert_int_eq(f->offsets[2 * f->start_pos], q->answers[0].start);
  /* logits peaking on the target span give back the gold answer */
  float *sl = calloc((size_t)f->n, sizeof *sl), *el = calloc((size_t)f->n, sizeof *el);
  sl[f->start_pos] = el[f->end_pos] = 5;
  qa_window win = qa_feature_window(f, sl, el);
  qa_post_opts po = qa_post_opts_default(true);
  qa_answer ans;
  const squad_paragraph *p = &set.paras[q->para];
  ck_assert_int_eq(qa_best_answer(p->context, p->len, &win, 1, &po, &ans), PT_OK);
  ck_assert_str_eq(ans.text, "France");
  qa_answer_free(&ans);
  free(sl);
  free(el);
  /* an unanswerable question targets position 0 */
  int64_t imp = -1;
  for (int64_t i = 0; i < set.n && imp < 0; i++)
    if (set.qs[i].is_impossible) imp = i;
  ck_assert_int_eq(qa_question_features(tok, &set, imp, &o, &fs), PT_OK);
  ck_assert_int_eq(fs.n, 2);
  ck_assert_int_eq(fs.f[1].start_pos, 0);
  ck_assert_int_eq(fs.f[1].end_pos, 0);
  qa_features_free(&fs);
  squad_set_free(&set);
  pt_tokenizer_free(tok);
}
END_TEST

int main(void) {
  Suite *s = suite_create("squad");
  TCase *m = tcase_create("evaluator");
  tcase_add_test(m, normalize_answer);
  tcase_add_test(m, token_f1);
  tcase_add_test(m, evaluate_v1);
  tcase_add_test(m, python_float_repr);
  tcase_add_test(m, evaluate_v2);
  tcase_add_test(m, prediction_files);
  tcase_add_test(m, score_matches_the_reference_on_ties);
  suite_add_tcase(s, m);
  TCase *r = tcase_create("reader");
  tcase_add_test(r, read_excerpts);
  tcase_add_test(r, bad_input_is_reported);
  tcase_add_test(r, mutated_files_fail_cleanly);
  suite_add_tcase(s, r);
  TCase *p = tcase_create("postprocess");
  tcase_add_test(p, postprocess_spans);
  tcase_add_test(p, postprocess_null_answer);
  suite_add_tcase(s, p);
  TCase *w = tcase_create("windows");
  tcase_add_test(w, windows_bert);
  tcase_add_test(w, windows_targets_edge_cases);
  tcase_add_test(w, windows_roberta);
  tcase_add_test(w, windows_to_answers);
  suite_add_tcase(s, w);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
