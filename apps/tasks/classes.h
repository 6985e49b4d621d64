/* What the classification tasks (cls, mc) share (classes.c): the GLUE and
 * SuperGLUE data set presets, one class per example read off the logits,
 * accuracy / macro-F1 / MCC as the metrics object, and {"idx", "label"}
 * prediction lines. */
#ifndef APPS_TASKS_CLASSES_H
#define APPS_TASKS_CLASSES_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "apps/tasks/task.h"

typedef enum {
  FMT_GENERIC_JSONL = 0, /* --text-fields A[,B] --label-field L */
  FMT_BOOLQ,             /* SuperGLUE jsonl */
  FMT_CB,
  FMT_RTE,
  FMT_WIC,
  FMT_WSC,
  FMT_COPA,      /* multiple choice: read_mc */
  FMT_GLUE_SST2, /* GLUE tsv */
  FMT_GLUE_RTE,
  FMT_GLUE_COLA,
} data_format;

/* "boolq", "cb", "rte", "wic", "wsc", "copa", "sst2" (or "sst-2"),
 * "glue-rte", "cola", "jsonl"; PT_ERR_ARG listing the names otherwise. */
pt_status data_format_from_name(const char *name, data_format *out);
const char *data_format_name(data_format f);
/* The label order the preset's data sets use (HF datasets' ClassLabel names,
 * which THUDM/P-tuning-v2 inherits); n = 0 for the generic format. Static. */
void data_format_labels(data_format f, const char *const **names, int64_t *n);

/* The data format of `o->preset` for a task that reads multiple choice
 * (COPA) or not: no preset is the generic jsonl (cls) or COPA (mc); a preset
 * of the other kind is PT_ERR_ARG naming both. */
pt_status classes_format(const task_opts *o, bool multiple_choice, const char *task,
                         data_format *fmt);
/* The preset's label order added to `map` (none for the generic format). */
pt_status classes_preset_labels(const task_opts *o, label_map *map);

/* The text (pair) as one more sequence of f, longest-first truncated to
 * o->max_seq_len. */
pt_status classes_encode(const pt_tokenizer *tok, const task_opts *o, const char *text_a,
                         const char *text_b, task_feature *f);

/* Predictions of a class or choice head: the argmax per example. */
pt_status classes_predict_begin(const task_data *td, const label_map *map, eval_result *r);
pt_status classes_predict_batch(const task_data *td, const label_map *map,
                                const task_feature *const *f, int64_t nb,
                                const pt_model_outputs *out, eval_result *r);
/* Accuracy, macro-F1 and MCC of pred against gold over n examples of
 * n_classes classes; primary accuracy, or mcc when mcc_primary (CoLA). */
pt_status classes_score(const int64_t *gold, const int64_t *pred, int64_t n, int64_t n_classes,
                        bool mcc_primary, task_score *s);
/* {"idx": idx, "label": label} in *out (label a new reference, stolen). */
pt_status classes_line(int64_t idx, json_t *label, json_t **out);

/* Reads the {"idx": N, "label": L} lines of `path` as the predictions of
 * td's examples (example_at(td, i, &idx, &line) says example i's idx and
 * line in td->path): label_id(label, i, where, ctx, &id) gives each
 * prediction's id into *pred (caller frees). An idx that is not an
 * example's, one given twice, an example without a line and an idx that
 * the data holds twice are errors naming the files and lines. */
pt_status classes_read_predictions(const task_data *td, const char *path,
                                   void (*example_at)(const task_data *td, int64_t i,
                                                      int64_t *idx, int64_t *line),
                                   pt_status (*label_id)(const json_t *label, int64_t i,
                                                         const char *where, void *ctx,
                                                         int64_t *id),
                                   void *ctx, int64_t **pred);

#endif
