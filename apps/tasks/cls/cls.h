/* The cls task: GLUE/SuperGLUE and generic jsonl classification readers
 * (read.c) and the task row with its prediction file (task.c). */
#ifndef APPS_TASKS_CLS_CLS_H
#define APPS_TASKS_CLS_CLS_H

#include <stdbool.h>
#include <stdint.h>

#include "apps/tasks/classes.h"
#include "apps/tasks/lines.h"

typedef struct {
  char *text_a;
  char *text_b;  /* NULL for single-text tasks */
  char *label;   /* label as a string: JSON true/false -> "True"/"False",
                    integers in decimal; NULL when unlabelled */
  int64_t label_id; /* filled by cls_map_labels, else -1 */
  int64_t idx;      /* the file's idx/index field, else the position */
  int64_t line;     /* 1-based line; 0 for JSON arrays */
} cls_example;

typedef struct {
  cls_example *ex;
  int64_t n;
  char *path;
  bool has_labels;
} cls_set;

void cls_set_free(cls_set *set);

/* The fields of the generic jsonl format (ignored by the presets). */
typedef struct {
  const char *text_a, *text_b; /* text_b may be NULL */
  const char *label;
} cls_fields;

/* Reads a classification file. Texts per preset (as THUDM/P-tuning-v2 builds
 * them, template 0): BoolQ question / passage; CB and RTE premise /
 * hypothesis; WiC "<sentence1> <sentence2> Does <word> have the same meaning
 * in both sentences?" alone; WSC "<span2_text>: <text>" / span1_text;
 * SST-2 sentence; GLUE RTE sentence1 / sentence2; CoLA sentence. */
pt_status read_cls(const char *path, data_format fmt, const cls_fields *fields,
                      const read_opts *opts, cls_set *out);
/* Field `key` of o as a label name: strings as they are, true/false as
 * "True"/"False" (HF ClassLabel names), integers in decimal; into *out (the
 * caller frees it; NULL when absent and optional). */
pt_status cls_label_string(const json_t *o, const char *key, const char *where, bool optional,
                           char **out);
/* Sets every label_id from `map` (grow: add unseen labels; else an unseen
 * label is an error naming label, file and line). */
pt_status cls_map_labels(cls_set *set, label_map *map, bool grow);
/* Parses --text-fields "A[,B]" and --label-field L into `out`; the strings in
 * `out` point into `spec_buf`, a copy of `text_fields` the caller frees. */
pt_status cls_fields_parse(const char *text_fields, const char *label_field,
                              cls_fields *out, char **spec_buf);

/* One JSON line per example: {"idx": N, "label": "<map name of pred[i]>"}. */
pt_status write_cls_predictions(const cls_set *set, const int64_t *pred,
                                   const label_map *map, const char *out_path);
/* Example i's prediction line {"idx": N, "label": "<name>"} in *out;
 * PT_ERR_ARG when pred[i] is not a label id. */
pt_status cls_example_json(const cls_set *set, const int64_t *pred, const label_map *map,
                           int64_t i, json_t **out);

/* Serving (serve.c): the examples of a request's inputs (a text, [text,
 * text_pair] or {"text", "text_pair"}) and example i's result (the
 * prediction line with "probabilities": {label: p}). */
pt_status cls_read_inputs(const task_opts *o, const json_t *inputs, task_data *td);
pt_status cls_serve_json(const task_data *td, const eval_result *r, const label_map *map,
                         int64_t i, json_t **out);

#endif
