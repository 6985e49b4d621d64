/* What cls and mc share: the GLUE and SuperGLUE data set presets (names,
 * label orders), a text (pair) encoded with longest-first truncation, the
 * argmax class or choice per example, accuracy / macro-F1 / MCC as the
 * metrics object, and {"idx", "label"} prediction lines. */
#include "apps/tasks/classes.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "apps/metrics/metrics.h"
#include "apps/tasks/lines.h"
#include "nn/pt_json.h"

static const struct {
  const char *name;
  data_format fmt;
} format_names[] = {
    {"jsonl", FMT_GENERIC_JSONL},
    {"boolq", FMT_BOOLQ},
    {"cb", FMT_CB},
    {"rte", FMT_RTE},
    {"wic", FMT_WIC},
    {"wsc", FMT_WSC},
    {"copa", FMT_COPA},
    {"sst2", FMT_GLUE_SST2},
    {"sst-2", FMT_GLUE_SST2},
    {"glue-rte", FMT_GLUE_RTE},
    {"cola", FMT_GLUE_COLA},
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
                  "glue-rte, cola or jsonl)",
                  name);
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

/* [MASK] at position 1 of f's last sequence (type id 0), after [CLS]. */
static pt_status insert_mask(const pt_tokenizer *tok, task_feature *f) {
  int64_t mask = pt_tokenizer_mask_id(tok);
  if (mask < 0) return pt_error(PT_ERR_ARG, "the verbalizer needs a [MASK] token in the vocabulary");
  int k = f->nseq - 1;
  int64_t n = f->len[k];
  int64_t *ids = realloc(f->ids[k], sizeof(int64_t) * (size_t)(n + 1));
  if (ids) f->ids[k] = ids;
  int64_t *types = ids ? realloc(f->types[k], sizeof(int64_t) * (size_t)(n + 1)) : NULL;
  if (types) f->types[k] = types;
  if (!ids || !types) return pt_error(PT_ERR_NOMEM, "features: out of memory");
  memmove(ids + 2, ids + 1, sizeof(int64_t) * (size_t)(n - 1));
  memmove(types + 2, types + 1, sizeof(int64_t) * (size_t)(n - 1));
  ids[1] = mask;
  types[1] = 0;
  f->len[k] = n + 1;
  return PT_OK;
}

pt_status classes_encode(const pt_tokenizer *tok, const task_opts *o, const char *text_a,
                         const char *text_b, task_feature *f) {
  int64_t room = o->max_seq_len - (o->mask_after_first ? 1 : 0);
  pt_encode_opts eo = {.max_length = room, .truncation = PT_TRUNC_LONGEST_FIRST};
  pt_encoding e = {0};
  pt_status st = pt_tokenizer_encode(tok, text_a, strlen(text_a), text_b,
                                     text_b ? strlen(text_b) : 0, &eo, &e);
  if (st == PT_OK) st = feature_add_sequence(f, &e);
  if (st == PT_OK && o->mask_after_first) st = insert_mask(tok, f);
  pt_encoding_free(&e);
  return st;
}

pt_status classes_predict_begin(const task_data *td, const label_map *map, eval_result *r) {
  (void)td;
  (void)map;
  r->pred = calloc((size_t)(r->n > 0 ? r->n : 1), sizeof(int64_t));
  r->probs = calloc((size_t)(r->n > 0 ? r->n : 1), sizeof(float *));
  return r->pred && r->probs ? PT_OK : pt_error(PT_ERR_NOMEM, "eval: out of memory");
}

/* The softmax of t's n elements from flat offset off, computed in double: a
 * new array of n floats (NULL when out of memory). */
static float *softmax_of(const pt_tensor *t, int64_t off, int64_t n) {
  float *p = malloc(sizeof(float) * (size_t)n);
  if (!p) return NULL;
  double mx = pt_get(t, off), sum = 0;
  for (int64_t c = 1; c < n; c++) mx = fmax(mx, pt_get(t, off + c));
  for (int64_t c = 0; c < n; c++) sum += exp(pt_get(t, off + c) - mx);
  for (int64_t c = 0; c < n; c++) p[c] = (float)(exp(pt_get(t, off + c) - mx) / sum);
  return p;
}

pt_status classes_predict_batch(const task_data *td, const label_map *map,
                                const task_feature *const *f, int64_t nb,
                                const pt_model_outputs *out, eval_result *r) {
  (void)td;
  (void)map;
  const pt_tensor *lg = out->logits; /* [nb, C] */
  int64_t C = lg->shape[1];
  for (int64_t i = 0; i < nb; i++) {
    int64_t e = f[i]->example;
    r->pred[e] = logits_argmax(lg, i * C, C);
    free(r->probs[e]);
    if (!(r->probs[e] = softmax_of(lg, i * C, C)))
      return pt_error(PT_ERR_NOMEM, "eval: out of memory");
  }
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

typedef struct {
  int64_t idx, example;
} idx_entry;

static int cmp_idx(const void *a, const void *b) {
  const idx_entry *x = a, *y = b;
  if (x->idx != y->idx) return x->idx < y->idx ? -1 : 1;
  return (x->example > y->example) - (x->example < y->example);
}

typedef struct {
  const task_data *td;
  idx_entry *by_idx; /* sorted by idx */
  int64_t n;
  int64_t *pred, *seen_at; /* per example: the id, the predictions line (0: none yet) */
  pt_status (*label_id)(const json_t *, int64_t, const char *, void *, int64_t *);
  void *ctx;
} prediction_reading;

static pt_status prediction_line(const json_t *o, const char *where, int64_t lineno, void *ctx) {
  prediction_reading *r = ctx;
  int64_t idx;
  PT_TRY(pt_json_int(o, where, "idx", &idx));
  const json_t *label = json_object_get(o, "label");
  if (!label) return pt_error(PT_ERR_FORMAT, "%s: 'label' is missing", where);
  idx_entry key = {idx, -1}, *hit = NULL;
  int64_t lo = 0, hi = r->n; /* the first entry with this idx */
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (cmp_idx(&r->by_idx[mid], &key) < 0) lo = mid + 1;
    else hi = mid;
  }
  if (lo < r->n && r->by_idx[lo].idx == idx) hit = &r->by_idx[lo];
  if (!hit)
    return pt_error(PT_ERR_FORMAT, "%s: idx %lld is not an example of %s", where, (long long)idx,
                    r->td->path);
  int64_t i = hit->example;
  if (r->seen_at[i])
    return pt_error(PT_ERR_FORMAT, "%s: idx %lld again (first on line %lld)", where,
                    (long long)idx, (long long)r->seen_at[i]);
  r->seen_at[i] = lineno;
  return r->label_id(label, i, where, r->ctx, &r->pred[i]);
}

pt_status classes_read_predictions(const task_data *td, const char *path,
                                   void (*example_at)(const task_data *td, int64_t i,
                                                      int64_t *idx, int64_t *line),
                                   pt_status (*label_id)(const json_t *label, int64_t i,
                                                         const char *where, void *ctx,
                                                         int64_t *id),
                                   void *ctx, int64_t **pred) {
  *pred = NULL;
  int64_t n = td->n_examples;
  size_t cap = (size_t)(n > 0 ? n : 1);
  int64_t *line = malloc(cap * sizeof(int64_t)), *idx = malloc(cap * sizeof(int64_t));
  prediction_reading r = {td, malloc(cap * sizeof(idx_entry)), n,
                          calloc(cap, sizeof(int64_t)), calloc(cap, sizeof(int64_t)), label_id,
                          ctx};
  pt_status st = line && idx && r.by_idx && r.pred && r.seen_at
                     ? PT_OK
                     : pt_error(PT_ERR_NOMEM, "%s: out of memory", path);
  for (int64_t i = 0; st == PT_OK && i < n; i++) {
    example_at(td, i, &idx[i], &line[i]);
    r.by_idx[i] = (idx_entry){idx[i], i};
  }
  if (st == PT_OK && n > 1) qsort(r.by_idx, (size_t)n, sizeof *r.by_idx, cmp_idx);
  char where[512], second[512];
  for (int64_t k = 1; st == PT_OK && k < n; k++)
    if (r.by_idx[k].idx == r.by_idx[k - 1].idx) {
      int64_t e0 = r.by_idx[k - 1].example, e1 = r.by_idx[k].example;
      st = pt_error(PT_ERR_FORMAT, "idx %lld is given twice (%s and %s), so predictions cannot "
                    "be matched to it", (long long)r.by_idx[k].idx,
                    task_where(where, sizeof where, td->path, line[e0], e0),
                    task_where(second, sizeof second, td->path, line[e1], e1));
    }
  if (st == PT_OK) st = jsonl_each(path, prediction_line, &r);
  for (int64_t i = 0; st == PT_OK && i < n; i++)
    if (!r.seen_at[i])
      st = pt_error(PT_ERR_FORMAT, "%s: no prediction for idx %lld (%s)", path,
                    (long long)idx[i], task_where(where, sizeof where, td->path, line[i], i));
  free(line);
  free(idx);
  free(r.by_idx);
  free(r.seen_at);
  if (st != PT_OK) {
    free(r.pred);
    return st;
  }
  *pred = r.pred;
  return PT_OK;
}
