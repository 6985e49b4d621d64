/* The qa task: an answer span in a context (question-answering head over
 * Hugging Face run_qa's sliding windows, one feature per window). Data:
 * SQuAD 1.1/2.0 JSON; metric the official evaluator's exact match and F1
 * (primary F1), with SQuAD 2.0's best no-answer thresholds; predictions
 * {"id": "answer"} as the evaluator reads them and, for SQuAD 2.0, the
 * no-answer scores {"id": score_diff} (HF's null_odds.json, the
 * evaluator's --na-prob-file). */
#include <stdlib.h>
#include <string.h>

#include "apps/tasks/qa/squad.h"

static pt_status qa_read(const task_opts *o, const char *path, bool need_labels, task_data *td) {
  qa_data *d = td->examples;
  PT_TRY(read_squad(path, &(read_opts){.labels_optional = !need_labels}, &d->set));
  if ((o->na_prob_output || o->na_prob_file) && !d->set.v2)
    return pt_error(PT_ERR_ARG, "%s: %s: SQuAD 1.1 data has no unanswerable questions, so no "
                    "no-answer scores", path, o->na_prob_output ? "--na-prob-output" : "--na-prob");
  td->n_examples = d->set.n;
  td->labelled = true;
  for (int64_t i = 0; i < d->set.n; i++)
    if (d->set.qs[i].n_answers == 0 && !d->set.qs[i].is_impossible) td->labelled = false;
  return PT_OK;
}

static void qa_free(void *examples) {
  qa_data *d = examples;
  squad_set_free(&d->set);
  qa_features_free(&d->windows);
}

static pt_status qa_windows(task_data *td, const pt_tokenizer *tok, const task_opts *o,
                            int64_t *n) {
  qa_data *d = td->examples;
  qa_feature_opts qo = {o->max_seq_len, o->doc_stride, false};
  for (int64_t q = 0; q < d->set.n; q++) {
    pt_status st = qa_question_features(tok, &d->set, q, &qo, &d->windows);
    if (st != PT_OK) return pt_error_context(st, "%s: question %s", td->path, d->set.qs[q].id);
  }
  *n = d->windows.n;
  return PT_OK;
}

static pt_status qa_encode(const task_data *td, const pt_tokenizer *tok, const task_opts *o,
                           int64_t i, task_feature *f) {
  (void)tok;
  (void)o;
  const qa_data *d = td->examples;
  const qa_feature *w = &d->windows.f[i];
  pt_encoding e = {.n = w->n, .ids = w->ids, .type_ids = w->type_ids};
  f->start = w->start_pos;
  f->end = w->end_pos;
  return feature_add_sequence(f, &e);
}

static pt_status qa_predict_begin(const task_data *td, const label_map *map, eval_result *r) {
  (void)map;
  size_t n = (size_t)(r->n > 0 ? r->n : 1), nw = (size_t)td->n + 1;
  r->answers = calloc(n, sizeof(char *));
  r->null_diff = calloc(n, sizeof(double));
  r->start_logits = calloc(nw, sizeof(float *));
  r->end_logits = calloc(nw, sizeof(float *));
  r->spans = calloc(2 * n, sizeof(int64_t));
  r->span_scores = calloc(n, sizeof(double));
  if (!r->answers || !r->null_diff || !r->start_logits || !r->end_logits || !r->spans ||
      !r->span_scores)
    return pt_error(PT_ERR_NOMEM, "eval: out of memory");
  return PT_OK;
}

/* Keeps each window's start and end logits until all windows are in. */
static pt_status qa_predict_batch(const task_data *td, const label_map *map,
                                  const task_feature *const *f, int64_t nb,
                                  const pt_model_outputs *out, eval_result *r) {
  (void)td;
  (void)map;
  int64_t S = out->start_logits->shape[1];
  for (int64_t i = 0; i < nb; i++) {
    int64_t w = f[i]->example, n = f[i]->len[0];
    r->start_logits[w] = malloc(sizeof(float) * (size_t)n);
    r->end_logits[w] = malloc(sizeof(float) * (size_t)n);
    if (!r->start_logits[w] || !r->end_logits[w])
      return pt_error(PT_ERR_NOMEM, "eval: out of memory");
    for (int64_t t = 0; t < n; t++) {
      r->start_logits[w][t] = (float)pt_get(out->start_logits, i * S + t);
      r->end_logits[w][t] = (float)pt_get(out->end_logits, i * S + t);
    }
  }
  return PT_OK;
}

/* Each question's answer from its windows (HF's postprocess_qa_predictions). */
static pt_status qa_predict_end(const task_data *td, const task_opts *o, eval_result *r) {
  const qa_data *d = td->examples;
  const squad_set *set = &d->set;
  qa_post_opts po = qa_post_opts_default(set->v2);
  po.n_best = o->n_best;
  po.max_answer_len = o->max_answer_len;
  po.null_threshold = o->null_threshold;
  /* the official script's threshold on these scores (1.0), raised to
   * --null-threshold so it never overrules the answers chosen with it */
  r->na_thresh = o->null_threshold > 1.0 ? o->null_threshold : 1.0;
  qa_window *wins = malloc(sizeof(qa_window) * (size_t)(d->windows.n + 1));
  if (!wins) return pt_error(PT_ERR_NOMEM, "eval: out of memory");
  pt_status st = PT_OK;
  int64_t w = 0;
  for (int64_t q = 0; st == PT_OK && q < set->n; q++) {
    int64_t nw = 0;
    while (w < d->windows.n && d->windows.f[w].question == q) {
      wins[nw] = qa_feature_window(&d->windows.f[w], r->start_logits[w], r->end_logits[w]);
      nw++, w++;
    }
    const squad_paragraph *para = &set->paras[set->qs[q].para];
    qa_answer ans = {0};
    st = qa_best_answer(para->context, para->len, wins, nw, &po, &ans);
    if (st == PT_OK) {
      r->answers[q] = ans.text;
      ans.text = NULL;
      r->null_diff[q] = ans.score_diff;
      r->spans[2 * q] = ans.char_start;
      r->spans[2 * q + 1] = ans.char_end;
      r->span_scores[q] = ans.score;
    }
    qa_answer_free(&ans);
  }
  free(wins);
  return st;
}

static pt_status qa_score(const task_data *td, const label_map *map, const task_opts *o,
                          const eval_result *r, task_score *s) {
  (void)map;
  (void)o;
  const qa_data *d = td->examples;
  squad_scores sc;
  /* SQuAD 2.0: the no-answer scores give the best thresholds */
  const double *na = d->set.v2 ? r->null_diff : NULL;
  PT_TRY(squad_evaluate(&d->set, (const char *const *)r->answers, na, r->na_order, r->na_thresh,
                        &sc));
  char *txt = squad_scores_json(&sc, d->set.v2);
  s->metrics = txt ? json_loads(txt, 0, NULL) : NULL;
  free(txt);
  if (!s->metrics) return pt_error(PT_ERR_NOMEM, "eval: out of memory");
  s->primary = sc.f1;
  s->primary_name = "f1";
  return PT_OK;
}

static pt_status qa_write(const task_data *td, const eval_result *r, const label_map *map,
                          const task_opts *o, const char *path) {
  (void)map;
  const qa_data *d = td->examples;
  if (o && o->na_prob_output) {
    if (!d->set.v2 || !r->null_diff)
      return pt_error(PT_ERR_ARG, "--na-prob-output: %s has no no-answer scores (SQuAD 1.1)",
                      td->path);
    PT_TRY(write_squad_scores(&d->set, r->null_diff, o->na_prob_output));
  }
  return write_squad_predictions(&d->set, (const char *const *)r->answers, path);
}

/* {"id": "answer"} and, with o->na_prob_file, {"id": score}. */
static pt_status qa_read_predictions(const task_data *td, label_map *map, const task_opts *o,
                                     const char *path, eval_result *r) {
  (void)map;
  const qa_data *d = td->examples;
  PT_TRY(read_squad_predictions(path, &d->set, &r->answers));
  if (o->na_prob_file) {
    PT_TRY(read_squad_scores(o->na_prob_file, &d->set, &r->null_diff, &r->na_order));
    r->na_thresh = o->na_prob_thresh;
  }
  return PT_OK;
}

pt_status qa_result_json(const task_data *td, const eval_result *r, const label_map *map,
                         int64_t i, json_t **out) {
  (void)map;
  const qa_data *d = td->examples;
  *out = json_pack("{s:s, s:s}", "id", d->set.qs[i].id, "answer", r->answers[i]);
  return *out ? PT_OK : pt_error(PT_ERR_NOMEM, "predictions: out of memory");
}

static const task_def qa_task = {
    .name = "qa",
    .data_help = "SQuAD 1.1/2.0 JSON (--doc-stride, --n-best, --max-answer-len, --null-threshold)",
    .head = PT_TASK_QUESTION_ANSWERING,
    .max_seq_len = 384,
    .examples_size = sizeof(qa_data),
    .read = qa_read,
    .free_examples = qa_free,
    .count_features = qa_windows,
    .encode = qa_encode,
    .predict_begin = qa_predict_begin,
    .predict_batch = qa_predict_batch,
    .predict_end = qa_predict_end,
    .score = qa_score,
    .write = qa_write,
    .read_predictions = qa_read_predictions,
    .example_json = qa_result_json,
    .read_inputs = qa_read_inputs,
    .serve_json = qa_serve_json,
    .check_fixture = "squad/dev-v1.1.excerpt.json",
    /* 39 of the 40 questions exactly; the gold answer "gold" is part of the
     * word piece "golden", so the best span reads "golden" (F1 0) */
    .check_gold_score = 97.5,
    .bad_input =
        "{\"version\": \"1.1\", \"data\": [{\"title\": \"t\", \"paragraphs\": [{\"context\": "
        "\"short\", \"qas\": [{\"id\": \"q1\", \"question\": \"what?\", \"answers\": "
        "[{\"text\": \"short\", \"answer_start\": 40}]}]}]}]}\n",
    .bad_input_name = "bad.json",
    .bad_error = "answer_start 40 is outside the context (length 5)",
};
TASK_REGISTER(qa_task);
