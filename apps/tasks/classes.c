/* What cls and mc share: the GLUE and SuperGLUE data set presets (names,
 * label orders), a text (pair) encoded with longest-first truncation, the
 * argmax class or choice per example, accuracy / macro-F1 / MCC as the
 * metrics object, and {"idx", "label"} prediction lines. */
#include "apps/tasks/classes.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "apps/metrics/metrics.h"

static const struct {
  const char *name;
  data_format fmt;
} format_names[] = {
    {"jsonl", FMT_GENERIC_JSONL}, {"boolq", FMT_BOOLQ},     {"cb", FMT_CB},
    {"rte", FMT_RTE},             {"wic", FMT_WIC},         {"wsc", FMT_WSC},
    {"copa", FMT_COPA},           {"sst2", FMT_GLUE_SST2},  {"sst-2", FMT_GLUE_SST2},
    {"glue-rte", FMT_GLUE_RTE},   {"cola", FMT_GLUE_COLA},
};
#define N_FORMATS ((int)(sizeof format_names / sizeof format_names[0]))

pt_status data_format_from_name(const char *name, data_format *out) {
  for (int i = 0; i < N_FORMATS; i++)
    if (strcasecmp(name, format_names[i].name) == 0) {
      *out = format_names[i].fmt;
      return PT_OK;
    }
  return pt_error(PT_ERR_ARG,
                  "unknown data format '%s' (expected boolq, cb, rte, wic, wsc, copa, sst2, "
                  "glue-rte, cola or jsonl)", name);
}

const char *data_format_name(data_format f) {
  for (int i = 0; i < N_FORMATS; i++)
    if (format_names[i].fmt == f) return format_names[i].name;
  return "?";
}

static const char *const bool_labels[] = {"False", "True"};
static const char *const cb_labels[] = {"entailment", "contradiction", "neutral"};
static const char *const rte_labels[] = {"entailment", "not_entailment"};
static const char *const binary_labels[] = {"0", "1"};

void data_format_labels(data_format f, const char *const **names, int64_t *n) {
  switch (f) {
    case FMT_BOOLQ:
    case FMT_WIC:
    case FMT_WSC: *names = bool_labels, *n = 2; return;
    case FMT_CB: *names = cb_labels, *n = 3; return;
    case FMT_RTE:
    case FMT_GLUE_RTE: *names = rte_labels, *n = 2; return;
    case FMT_COPA:
    case FMT_GLUE_SST2:
    case FMT_GLUE_COLA: *names = binary_labels, *n = 2; return;
    case FMT_GENERIC_JSONL: break;
  }
  *names = NULL;
  *n = 0;
}

pt_status classes_format(const task_opts *o, bool multiple_choice, const char *task,
                         data_format *fmt) {
  if (!o->preset) {
    *fmt = multiple_choice ? FMT_COPA : FMT_GENERIC_JSONL;
    return PT_OK;
  }
  PT_TRY(data_format_from_name(o->preset, fmt));
  if (multiple_choice != (*fmt == FMT_COPA))
    return pt_error(PT_ERR_ARG, "--preset %s does not fit --task %s", o->preset, task);
  return PT_OK;
}

pt_status classes_preset_labels(const task_opts *o, label_map *map) {
  if (!o->preset) return PT_OK;
  data_format fmt;
  PT_TRY(data_format_from_name(o->preset, &fmt));
  const char *const *names;
  int64_t n;
  data_format_labels(fmt, &names, &n);
  for (int64_t i = 0; i < n; i++) PT_TRY(label_map_add(map, names[i], NULL));
  return PT_OK;
}

pt_status classes_encode(const pt_tokenizer *tok, const task_opts *o, const char *text_a,
                         const char *text_b, task_feature *f) {
  pt_encode_opts eo = {.max_length = o->max_seq_len, .truncation = PT_TRUNC_LONGEST_FIRST};
  pt_encoding e = {0};
  pt_status st = pt_tokenizer_encode(tok, text_a, strlen(text_a), text_b,
                                     text_b ? strlen(text_b) : 0, &eo, &e);
  if (st == PT_OK) st = feature_add_sequence(f, &e);
  pt_encoding_free(&e);
  return st;
}

pt_status classes_predict_begin(const task_data *td, const label_map *map, eval_result *r) {
  (void)td;
  (void)map;
  r->pred = calloc((size_t)(r->n > 0 ? r->n : 1), sizeof(int64_t));
  return r->pred ? PT_OK : pt_error(PT_ERR_NOMEM, "eval: out of memory");
}

pt_status classes_predict_batch(const task_data *td, const label_map *map,
                                const task_feature *const *f, int64_t nb,
                                const pt_ptv2_outputs *out, eval_result *r) {
  (void)td;
  (void)map;
  const pt_tensor *lg = out->logits; /* [nb, C] */
  for (int64_t i = 0; i < nb; i++)
    r->pred[f[i]->example] = logits_argmax(lg, i * lg->shape[1], lg->shape[1]);
  return PT_OK;
}

pt_status classes_score(const int64_t *gold, const int64_t *pred, int64_t n, int64_t n_classes,
                        bool mcc_primary, task_score *s) {
  cls_scores c;
  PT_TRY(cls_metrics(gold, pred, n, n_classes, &c));
  s->metrics = json_pack("{s:s, s:f, s:f, s:f, s:I, s:I}", "task", "", "accuracy", c.accuracy,
                         "macro_f1", c.macro_f1, "mcc", c.mcc, "correct", (json_int_t)c.correct,
                         "total", (json_int_t)c.n);
  s->primary = mcc_primary ? c.mcc : c.accuracy;
  s->primary_name = mcc_primary ? "mcc" : "accuracy";
  return PT_OK;
}

pt_status classes_line(int64_t idx, json_t *label, json_t **out) {
  *out = json_pack("{s:I, s:o}", "idx", (json_int_t)idx, "label", label);
  return *out ? PT_OK : pt_error(PT_ERR_NOMEM, "predictions: out of memory");
}
