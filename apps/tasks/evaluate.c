/* Evaluation of any task row: the model over the features in eval mode (no
 * dropout, no graph), the row's predictions read off each batch, and, for
 * labelled data, its metric as one JSON object {"task": NAME, <metrics>,
 * "examples": N}. */
#include <stdlib.h>
#include <string.h>

#include "apps/tasks/lines.h"
#include "apps/tasks/task.h"
#include "autograd/pt_autograd.h"

void eval_result_free(eval_result *r) {
  free(r->json);
  if (r->tags)
    for (int64_t i = 0; i < r->n; i++) free(r->tags[i]);
  free(r->tags);
  free(r->pred);
  if (r->answers)
    for (int64_t i = 0; i < r->n; i++) free(r->answers[i]);
  free(r->answers);
  free(r->null_diff);
  free(r->na_order);
  for (int64_t w = 0; r->start_logits && r->start_logits[w]; w++) free(r->start_logits[w]);
  for (int64_t w = 0; r->end_logits && r->end_logits[w]; w++) free(r->end_logits[w]);
  free(r->start_logits);
  free(r->end_logits);
  if (r->probs)
    for (int64_t i = 0; i < r->n; i++) free(r->probs[i]);
  free(r->probs);
  free(r->spans);
  free(r->span_scores);
  memset(r, 0, sizeof *r);
}

int64_t logits_argmax(const pt_tensor *t, int64_t off, int64_t n) {
  int64_t best = 0;
  double bv = pt_get(t, off);
  for (int64_t c = 1; c < n; c++) {
    double v = pt_get(t, off + c);
    if (v > bv) bv = v, best = c;
  }
  return best;
}

/* The metrics object (labelled data) with "task" first and "examples" last. */
pt_status task_score_predictions(const task_data *td, const label_map *map, const task_opts *o,
                                 eval_result *r) {
  task_score s = {0};
  if (td->labelled) {
    PT_TRY(td->task->score(td, map, o, r, &s));
    if (!s.metrics) return pt_error(PT_ERR_NOMEM, "eval: out of memory");
    r->primary = s.primary;
    r->primary_name = s.primary_name;
  } else {
    s.metrics = json_object();
  }
  json_t *j = s.metrics;
  json_object_set_new(j, "task", json_string(td->task->name));
  json_object_set_new(j, "examples", json_integer(r->n));
  r->json = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
  json_decref(j);
  return r->json ? PT_OK : pt_error(PT_ERR_NOMEM, "eval: out of memory");
}

pt_status task_forward_batch(pt_model *m, const task_data *td, int64_t first, int64_t nb,
                             int64_t pad_id, const task_feature **fb, pt_model_outputs *po) {
  for (int64_t k = 0; k < nb; k++) fb[k] = &td->f[first + k];
  task_batch b;
  PT_TRY(task_batch_make(fb, nb, td->task->head, pad_id, false, &b));
  pt_no_grad_enter();
  pt_status st = pt_model_forward(m, &b.b, (pt_nn_mode){false, NULL}, false, po);
  pt_no_grad_exit();
  task_batch_free(&b);
  return st;
}

pt_status task_evaluate(pt_model *m, const task_data *td, const label_map *map,
                        const task_opts *o, int64_t batch_size, int64_t pad_id, eval_result *out) {
  memset(out, 0, sizeof *out);
  const task_def *t = td->task;
  out->n = td->n_examples;
  pt_status st = t->predict_begin(td, map, out);
  const task_feature **fb = malloc(sizeof(task_feature *) * (size_t)batch_size);
  if (st == PT_OK && !fb) st = pt_error(PT_ERR_NOMEM, "eval: out of memory");
  for (int64_t i = 0; st == PT_OK && i < td->n; i += batch_size) {
    int64_t nb = td->n - i < batch_size ? td->n - i : batch_size;
    pt_model_outputs po = {0};
    st = task_forward_batch(m, td, i, nb, pad_id, fb, &po);
    if (st == PT_OK) st = t->predict_batch(td, map, fb, nb, &po, out);
    pt_model_outputs_free(&po);
  }
  if (st == PT_OK && t->predict_end) st = t->predict_end(td, o, out);
  if (st == PT_OK) st = task_score_predictions(td, map, o, out);
  free(fb);
  if (st != PT_OK) eval_result_free(out);
  return st;
}

pt_status task_write_predictions(const task_data *td, const eval_result *r, const label_map *map,
                                 const task_opts *o, const char *path) {
  return td->task->write(td, r, map, o, path);
}

typedef struct {
  const task_data *td;
  const eval_result *r;
  const label_map *map;
} prediction_lines;

static pt_status line_of(int64_t i, const void *ctx, json_t **out) {
  const prediction_lines *p = ctx;
  return p->td->task->example_json(p->td, p->r, p->map, i, out);
}

pt_status task_write_jsonl(const task_data *td, const eval_result *r, const label_map *map,
                           const task_opts *o, const char *path) {
  (void)o;
  prediction_lines p = {td, r, map};
  return jsonl_write(path, td->n_examples, line_of, &p);
}
