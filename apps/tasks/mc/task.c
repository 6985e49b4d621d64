/* The mc task: one choice among a few continuations (multiple-choice head:
 * each choice is a sequence, the head scores them). Data: SuperGLUE COPA
 * (--preset copa); metric accuracy; predictions {"idx", "label": choice}
 * lines. */
#include <stdlib.h>

#include "apps/tasks/mc/mc.h"
#include "nn/pt_json.h"

static pt_status mc_read(const task_opts *o, const char *path, bool need_labels, task_data *td) {
  data_format fmt;
  PT_TRY(classes_format(o, true, "mc", &fmt));
  mc_set *set = td->examples;
  PT_TRY(read_mc(path, fmt, &(read_opts){.labels_optional = !need_labels}, set));
  td->n_examples = set->n;
  td->labelled = set->has_labels;
  return PT_OK;
}

static void mc_free(void *examples) { mc_set_free(examples); }

static pt_status mc_encode(const task_data *td, const pt_tokenizer *tok, const task_opts *o,
                           int64_t i, task_feature *f) {
  const mc_set *set = td->examples;
  const mc_example *x = &set->ex[i];
  if (x->n_choices > FEATURE_MAX_SEQ || x->n_choices < 1)
    return pt_error(PT_ERR_FORMAT, "%s:%lld: %lld choices (at most %d)", td->path,
                    (long long)x->line, (long long)x->n_choices, FEATURE_MAX_SEQ);
  f->label = x->label;
  for (int64_t c = 0; c < x->n_choices; c++) {
    pt_status st = classes_encode(tok, o, x->context, x->choices[c], f);
    if (st != PT_OK) return pt_error_context(st, "%s:%lld", td->path, (long long)x->line);
  }
  return PT_OK;
}

static pt_status mc_score(const task_data *td, const label_map *map, const task_opts *o,
                          const eval_result *r, task_score *s) {
  (void)map;
  (void)o;
  const mc_set *set = td->examples;
  int64_t *gold = malloc(sizeof(int64_t) * (size_t)(r->n > 0 ? r->n : 1)), nc = 2;
  if (!gold) return pt_error(PT_ERR_NOMEM, "eval: out of memory");
  for (int64_t i = 0; i < r->n; i++) {
    gold[i] = set->ex[i].label;
    if (set->ex[i].n_choices > nc) nc = set->ex[i].n_choices;
  }
  pt_status st = classes_score(gold, r->pred, r->n, nc, false, s);
  free(gold);
  return st;
}

pt_status mc_example_json(const mc_set *set, const int64_t *pred, int64_t i, json_t **out) {
  if (pred[i] < 0 || pred[i] >= set->ex[i].n_choices)
    return pt_error(PT_ERR_ARG, "predictions: example %lld picks choice %lld of %lld", (long long)i,
                    (long long)pred[i], (long long)set->ex[i].n_choices);
  return classes_line(set->ex[i].idx, json_integer(pred[i]), out);
}

static pt_status mc_result_json(const task_data *td, const eval_result *r, const label_map *map,
                                int64_t i, json_t **out) {
  (void)map;
  return mc_example_json(td->examples, r->pred, i, out);
}

static pt_status mc_choice(const json_t *label, int64_t i, const char *where, void *ctx,
                           int64_t *id) {
  const mc_set *set = ctx;
  if (!json_is_integer(label))
    return pt_error(PT_ERR_FORMAT, "%s: 'label' must be the chosen choice's index, got %s", where,
                    pt_json_type_name(label));
  *id = json_integer_value(label);
  if (*id < 0 || *id >= set->ex[i].n_choices)
    return pt_error(PT_ERR_FORMAT, "%s: label %lld is not a choice of idx %lld (%lld choices)",
                    where, (long long)*id, (long long)set->ex[i].idx,
                    (long long)set->ex[i].n_choices);
  return PT_OK;
}

static void mc_example_at(const task_data *td, int64_t i, int64_t *idx, int64_t *line) {
  const mc_set *set = td->examples;
  *idx = set->ex[i].idx;
  *line = set->ex[i].line;
}

/* {"idx", "label": choice} lines, matched to the data by idx. */
static pt_status mc_read_predictions(const task_data *td, label_map *map, const task_opts *o,
                                     const char *path, eval_result *r) {
  (void)map;
  (void)o;
  return classes_read_predictions(td, path, mc_example_at, mc_choice, (void *)td->examples,
                                  &r->pred);
}

static const task_def mc_task;

pt_status write_mc_predictions(const mc_set *set, const int64_t *pred, const char *out_path) {
  task_data td = {.task = &mc_task, .examples = (void *)set, .n_examples = set->n};
  eval_result r = {.n = set->n, .pred = (int64_t *)pred};
  return task_write_jsonl(&td, &r, NULL, NULL, out_path);
}

static const task_def mc_task = {
    .name = "mc",
    .data_help = "--preset copa (SuperGLUE COPA jsonl)",
    .head = PT_TASK_MULTIPLE_CHOICE,
    .max_seq_len = 128,
    .examples_size = sizeof(mc_set),
    .read = mc_read,
    .free_examples = mc_free,
    .encode = mc_encode,
    .predict_begin = classes_predict_begin,
    .predict_batch = classes_predict_batch,
    .score = mc_score,
    .write = task_write_jsonl,
    .read_predictions = mc_read_predictions,
    .example_json = mc_result_json,
    .read_inputs = mc_read_inputs,
    .serve_json = mc_serve_json,
    .check_fixture = "superglue/COPA.val.excerpt.jsonl",
    .check_preset = "copa",
    .check_gold_score = 1.0,
    .bad_input =
        "{\"premise\": \"p\", \"choice1\": \"a\", \"choice2\": \"b\", \"question\": "
        "\"cause\", \"label\": 0}\n{\"premise\": \"p\", \"choice1\": \"a\", \"choice2\": "
        "\"b\", \"question\": \"why\", \"label\": 0}\n",
    .bad_input_name = "bad.jsonl",
    .bad_error = "bad.jsonl:2: 'question' must be \"cause\" or \"effect\"",
};
TASK_REGISTER(mc_task);
