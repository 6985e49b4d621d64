/* The task layer: task data read and encoded into features (features.c),
 * features collated into padded batches (batch.c), evaluation and
 * predictions (evaluate.c), and the model + adapter + data setup that eval
 * and predict share (infer.c).
 *
 * Ownership: every struct here is caller-owned and released with its *_free
 * function (which also accepts a zeroed struct). Errors are pt_status with a
 * one-line message naming the file and the problem. */
#ifndef APPS_TASKS_TASK_H
#define APPS_TASKS_TASK_H

#include <stdbool.h>
#include <stdint.h>

#include "apps/tasks/data.h"
#include "apps/tasks/qa/squad.h"
#include "models/pt_ptv2.h"
#include "models/pt_tokenizer.h"

typedef enum { TASK_NER = 0, TASK_QA, TASK_CLS, TASK_MC, TASK_SRL } app_task;

const char *app_task_name(app_task t);
/* The model head a task uses. */
pt_task_kind app_task_head(app_task t);


/* the command-line options (apps/cli/options.h) */
typedef struct run_args run_args;

#define FEATURE_MAX_SEQ 8 /* sequences per feature: 1, or the choices of mc */

/* One model input: nseq token sequences (mc: one per choice) with labels. */
typedef struct {
  int nseq;
  int64_t len[FEATURE_MAX_SEQ];
  int64_t *ids[FEATURE_MAX_SEQ], *types[FEATURE_MAX_SEQ];
  int64_t *tok_labels; /* ner/srl: len[0] label ids, -100 off first sub-tokens */
  int64_t *word_of;    /* ner/srl: len[0] word indices, -1 off first sub-tokens */
  int64_t label;       /* cls/mc label id; -1 when unlabelled */
  int64_t start, end;  /* qa targets */
  int64_t example;     /* the example (qa: the window in task_data.qa) */
} task_feature;

typedef struct {
  app_task task;
  const char *path;
  sentence_set ner;
  srl_set srl;
  cls_set cls;
  mc_set mc;
  squad_set squad;
  qa_features qa; /* the windows (qa) */
  task_feature *f;
  int64_t n;
  int64_t n_examples;
  bool labelled;
} task_data;

/* Reads `path` for the task of `a` (labels optional when !need_labels). */
pt_status task_data_read(const run_args *a, const char *path, bool need_labels,
                            task_data *td);
/* Label ids from `map`: grow adds unseen labels (training without an
 * adapter), otherwise an unseen label is an error naming file and line. */
pt_status task_data_map_labels(task_data *td, label_map *map, bool grow);
/* The preset label order of the data (cls presets, conll2003 NER when the
 * tags fit it), or an empty map; added to `map` first. */
pt_status task_data_preset_labels(const run_args *a, label_map *map);
/* Encodes every example into td->f. */
pt_status task_data_encode(task_data *td, const pt_tokenizer *tok, const run_args *a);
void task_data_free(task_data *td);

/* ---- batches (batch.c) --------------------------------------------------- */

typedef struct {
  pt_tensor *ids, *mask, *types, *labels, *starts, *ends;
  pt_ptv2_batch b;
  int64_t tokens; /* non-padding tokens */
} task_batch;

/* Collates feats[0..n) padded to the longest sequence among them
 * ([n, S], or [n, C, S] for mc). with_labels false leaves labels NULL. */
pt_status task_batch_make(const task_feature *const *feats, int64_t n, app_task task,
                        int64_t pad_id, bool with_labels, task_batch *out);
void task_batch_free(task_batch *b);

/* ---- evaluation (evaluate.c) ------------------------------------------- */

typedef struct {
  char *json;      /* the metrics as one JSON object (owned) */
  double primary;  /* the metric that picks the best adapter (higher is better) */
  const char *primary_name;
  /* predictions, one per example */
  char ***tags;    /* ner/srl: per sentence, label names (borrowed from the map) */
  int64_t *pred;   /* cls/mc: class / choice */
  char **answers;  /* qa (owned) */
  double *null_diff; /* qa v2: score_diff per question */
  int64_t n;
} eval_result;

/* Runs the model over td (eval mode, no grad) and scores it when labelled. */
pt_status task_evaluate(const pt_ptv2_model *m, const task_data *td, const label_map *map,
                      const run_args *a, int64_t pad_id, eval_result *out);
void eval_result_free(eval_result *r);

/* ---- inference setup (infer.c) ------------------------------------------- */

typedef struct {
  pt_ptv2_model model;
  bool model_ok;
  pt_tokenizer *tok;
  label_map map; /* the adapter's id2label */
  task_data data;
} infer_session;

/* Loads --model with --adapter, the adapter's labels, and --data (labels
 * required for eval, optional for predict), encoded. */
pt_status infer_setup(const run_args *a, bool need_labels, infer_session *in);
void infer_free(infer_session *in);

#endif
