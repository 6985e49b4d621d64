/* The cls task: one label per text or text pair (sequence classification
 * head). Data: a GLUE/SuperGLUE preset (--preset boolq|cb|rte|wic|wsc|sst2|
 * glue-rte|cola) or generic jsonl (--text-fields A[,B] --label-field L);
 * metric accuracy, macro-F1 and MCC (primary accuracy; CoLA: MCC);
 * predictions {"idx", "label"} lines. */
#include <stdlib.h>
#include <string.h>

#include "apps/tasks/cls/cls.h"

static pt_status cls_read(const task_opts *o, const char *path, bool need_labels, task_data *td) {
  data_format fmt;
  PT_TRY(classes_format(o, false, "cls", &fmt));
  cls_fields fields = {0};
  char *buf = NULL;
  if (fmt == FMT_GENERIC_JSONL) {
    if (!o->text_fields || !o->label_field)
      return pt_error(PT_ERR_ARG, "cls: give --preset NAME or --text-fields A[,B] --label-field L");
    PT_TRY(cls_fields_parse(o->text_fields, o->label_field, &fields, &buf));
  }
  cls_set *set = td->examples;
  pt_status st = read_cls(path, fmt, &fields, &(read_opts){.labels_optional = !need_labels}, set);
  free(buf);
  PT_TRY(st);
  td->n_examples = set->n;
  td->labelled = set->has_labels;
  return PT_OK;
}

static void cls_free(void *examples) { cls_set_free(examples); }

static pt_status cls_labels(task_data *td, label_map *map, bool grow) {
  return cls_map_labels(td->examples, map, grow);
}

static pt_status cls_encode(const task_data *td, const pt_tokenizer *tok, const task_opts *o,
                            int64_t i, task_feature *f) {
  const cls_set *set = td->examples;
  const cls_example *x = &set->ex[i];
  f->label = x->label_id;
  pt_status st = classes_encode(tok, o, x->text_a, x->text_b, f);
  if (st != PT_OK)
    return pt_error_context(st, "%s:%lld", td->path, (long long)(x->line ? x->line : i + 1));
  return PT_OK;
}

static pt_status cls_score(const task_data *td, const label_map *map, const task_opts *o,
                           const eval_result *r, task_score *s) {
  const cls_set *set = td->examples;
  int64_t *gold = malloc(sizeof(int64_t) * (size_t)(r->n > 0 ? r->n : 1));
  if (!gold) return pt_error(PT_ERR_NOMEM, "eval: out of memory");
  for (int64_t i = 0; i < r->n; i++) gold[i] = set->ex[i].label_id;
  bool cola = o->preset && !strcmp(o->preset, "cola");
  pt_status st = classes_score(gold, r->pred, r->n, map->n, cola, s);
  free(gold);
  return st;
}

pt_status cls_example_json(const cls_set *set, const int64_t *pred, const label_map *map, int64_t i,
                           json_t **out) {
  if (pred[i] < 0 || pred[i] >= map->n)
    return pt_error(PT_ERR_ARG, "predictions: example %lld has label id %lld, outside [0, %lld)",
                    (long long)i, (long long)pred[i], (long long)map->n);
  return classes_line(set->ex[i].idx, json_string(map->names[pred[i]]), out);
}

static pt_status cls_result_json(const task_data *td, const eval_result *r, const label_map *map,
                                 int64_t i, json_t **out) {
  return cls_example_json(td->examples, r->pred, map, i, out);
}

typedef struct {
  label_map *map;
  bool grow; /* generic jsonl: any label name; a preset: its labels only */
} label_lookup;

static pt_status cls_label_id(const json_t *label, int64_t i, const char *where, void *ctx,
                              int64_t *id) {
  (void)i;
  label_lookup *l = ctx;
  json_t *o = json_pack("{s:O}", "label", (json_t *)label);
  char *name = NULL;
  pt_status st = o ? cls_label_string(o, "label", where, false, &name) : PT_ERR_NOMEM;
  json_decref(o);
  if (st == PT_OK) st = label_map_lookup(l->map, name, l->grow, where, id);
  free(name);
  return st;
}

static void cls_example_at(const task_data *td, int64_t i, int64_t *idx, int64_t *line) {
  const cls_set *set = td->examples;
  *idx = set->ex[i].idx;
  *line = set->ex[i].line;
}

/* {"idx", "label"} lines, matched to the data by idx. */
static pt_status cls_read_predictions(const task_data *td, label_map *map, const task_opts *o,
                                      const char *path, eval_result *r) {
  label_lookup l = {map, !o->preset};
  return classes_read_predictions(td, path, cls_example_at, cls_label_id, &l, &r->pred);
}

static const task_def cls_task;

pt_status write_cls_predictions(const cls_set *set, const int64_t *pred, const label_map *map,
                                const char *out_path) {
  task_data td = {.task = &cls_task, .examples = (void *)set, .n_examples = set->n};
  eval_result r = {.n = set->n, .pred = (int64_t *)pred};
  return task_write_jsonl(&td, &r, map, NULL, out_path);
}

static const task_def cls_task = {
    .name = "cls",
    .data_help =
        "--preset boolq|cb|rte|wic|wsc|sst2|glue-rte|cola, or jsonl with --text-fields "
        "A[,B] --label-field L",
    .head = PT_TASK_SEQUENCE_CLASSIFICATION,
    .max_seq_len = 128,
    .adapter_labels = true,
    .examples_size = sizeof(cls_set),
    .read = cls_read,
    .free_examples = cls_free,
    .preset_labels = classes_preset_labels,
    .map_labels = cls_labels,
    .encode = cls_encode,
    .predict_begin = classes_predict_begin,
    .predict_batch = classes_predict_batch,
    .score = cls_score,
    .write = task_write_jsonl,
    .read_predictions = cls_read_predictions,
    .example_json = cls_result_json,
    .read_inputs = cls_read_inputs,
    .serve_json = cls_serve_json,
    .check_fixture = "superglue/RTE.val.excerpt.jsonl",
    .check_preset = "rte",
    .check_gold_score = 1.0,
    .bad_input =
        "{\"premise\": \"p\", \"hypothesis\": \"h\", \"label\": \"entailment\"}\n"
        "{\"premise\": \"p\", \"hypothesis\": \"h\", \"label\": 3}\n",
    .bad_input_name = "bad.jsonl",
    .bad_error = "bad.jsonl:2: unknown label '3' for rte",
};
TASK_REGISTER(cls_task);
