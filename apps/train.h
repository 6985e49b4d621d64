/* The pieces behind `ptune train`, `eval`, `predict` and `inspect`: command
 * options (args.c), task data turned into encoded features (features.c),
 * features collated into padded batches (batch.c), evaluation and
 * predictions (evaluate.c), checkpoints (checkpoint.c), progress output
 * (progress.c) and the training loop (trainer.c).
 *
 * Ownership: every struct here is caller-owned and released with its *_free
 * function (which also accepts a zeroed struct). Errors are pt_status with a
 * one-line message naming the file and the problem. */
#ifndef PT_APPS_TRAIN_H
#define PT_APPS_TRAIN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "apps/squad.h"
#include "apps/task_data.h"
#include "models/pt_ptv2.h"
#include "models/pt_tokenizer.h"
#include "optim/pt_optim.h"

/* ---- options (args.c) ------------------------------------------------------ */

typedef enum { PT_APP_NER = 0, PT_APP_QA, PT_APP_CLS, PT_APP_MC, PT_APP_SRL } pt_app_task;

const char *pt_app_task_name(pt_app_task t);
/* The model head a task uses. */
pt_task_kind pt_app_task_kind(pt_app_task t);

typedef enum { PT_CMD_TRAIN = 1, PT_CMD_EVAL = 2, PT_CMD_PREDICT = 4, PT_CMD_INSPECT = 8 } pt_cmd_kind;

typedef struct {
  pt_cmd_kind cmd;
  bool help;
  pt_app_task task;
  bool task_set;
  const char *model, *train, *dev, *out, *adapter, *data, *output, *init_adapter;
  const char *preset, *text_fields, *label_field;
  pt_peft_method method;
  int64_t pre_seq_len;
  bool prefix_projection;
  int64_t prefix_hidden_size;
  int64_t epochs, max_steps, batch_size, grad_accum;
  double lr;
  pt_optim_kind optimizer;
  double weight_decay, warmup, momentum, max_grad_norm, gamma;
  const char *on_nonfinite; /* --on-nonfinite: NULL or "stop" (end the run) or "skip" */
  bool hf_no_decay;
  pt_sched_kind schedule;
  double dropout;
  bool dropout_set, dropout_hidden_only; /* --hparams sets only the hidden one */
  int64_t max_seq_len, doc_stride;
  /* qa post-processing (HF run_qa's n_best_size, max_answer_length,
   * null_score_diff_threshold): 20, 30, 0.0 */
  int64_t n_best, max_answer_len;
  double null_threshold;
  bool max_seq_len_set; /* given on the command line (else a default that may shrink) */
  uint64_t seed;
  bool no_shuffle, resume;
  bool random_backbone; /* train: skip loading the backbone weights (keep the HF init) */
  int64_t eval_every, save_every, log_every, threads, stop_after;
  bool quiet;
  const char *hparams;
} pt_run_args;

/* Parses argv (argv[0] is the command name) for `cmd` into *a, with the
 * defaults filled first. An unknown option, a missing or malformed value, or
 * an option the command does not take is PT_ERR_ARG with a one-line message.
 * --help sets a->help and returns PT_OK. */
pt_status pt_run_args_parse(pt_cmd_kind cmd, int argc, char **argv, pt_run_args *a);
/* Fills *a with THUDM/P-tuning-v2's run-script hyperparameters for `name`
 * (hparams.c); PT_ERR_ARG listing the names for an unknown one. */
pt_status pt_hparams_apply(const char *name, pt_run_args *a);
/* Makes prefix P + max_seq_len fit the model's position table: a default
 * length shrinks to fit, a length given with --max-seq-len that does not fit
 * is PT_ERR_ARG naming the model's config.json. */
pt_status pt_fit_max_seq_len(pt_run_args *a, const pt_bert_config *bc, int64_t P);
/* The options of `cmd`, one per line, for --help. */
void pt_run_args_usage(pt_cmd_kind cmd, FILE *f);

/* ---- task data and features (features.c) ----------------------------------- */

#define PT_FEAT_MAX_SEQ 8 /* sequences per feature: 1, or the choices of mc */

/* One model input: nseq token sequences (mc: one per choice) with labels. */
typedef struct {
  int nseq;
  int64_t len[PT_FEAT_MAX_SEQ];
  int64_t *ids[PT_FEAT_MAX_SEQ], *types[PT_FEAT_MAX_SEQ];
  int64_t *tok_labels; /* ner/srl: len[0] label ids, -100 off first sub-tokens */
  int64_t *word_of;    /* ner/srl: len[0] word indices, -1 off first sub-tokens */
  int64_t label;       /* cls/mc label id; -1 when unlabelled */
  int64_t start, end;  /* qa targets */
  int64_t example;     /* the example (qa: the window in pt_task_data.qa) */
} pt_feature;

typedef struct {
  pt_app_task task;
  const char *path;
  pt_sentence_set ner;
  pt_srl_set srl;
  pt_cls_set cls;
  pt_mc_set mc;
  pt_squad_set squad;
  pt_qa_features qa; /* the windows (qa) */
  pt_feature *f;
  int64_t n;
  int64_t n_examples;
  bool labelled;
} pt_task_data;

/* Reads `path` for the task of `a` (labels optional when !need_labels). */
pt_status pt_task_data_read(const pt_run_args *a, const char *path, bool need_labels,
                            pt_task_data *td);
/* Label ids from `map`: grow adds unseen labels (training without an
 * adapter), otherwise an unseen label is an error naming file and line. */
pt_status pt_task_data_map_labels(pt_task_data *td, pt_label_map *map, bool grow);
/* The preset label order of the data (cls presets, conll2003 NER when the
 * tags fit it), or an empty map; added to `map` first. */
pt_status pt_task_data_preset_labels(const pt_run_args *a, pt_label_map *map);
/* Encodes every example into td->f. */
pt_status pt_task_data_encode(pt_task_data *td, const pt_tokenizer *tok, const pt_run_args *a);
void pt_task_data_free(pt_task_data *td);

/* ---- batches (batch.c) --------------------------------------------------- */

typedef struct {
  pt_tensor *ids, *mask, *types, *labels, *starts, *ends;
  pt_ptv2_batch b;
  int64_t tokens; /* non-padding tokens */
} pt_batch;

/* Collates feats[0..n) padded to the longest sequence among them
 * ([n, S], or [n, C, S] for mc). with_labels false leaves labels NULL. */
pt_status pt_batch_make(const pt_feature *const *feats, int64_t n, pt_app_task task,
                        int64_t pad_id, bool with_labels, pt_batch *out);
void pt_batch_free(pt_batch *b);

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
} pt_eval_result;

/* Runs the model over td (eval mode, no grad) and scores it when labelled. */
pt_status pt_evaluate(const pt_ptv2_model *m, const pt_task_data *td, const pt_label_map *map,
                      const pt_run_args *a, int64_t pad_id, pt_eval_result *out);
void pt_eval_result_free(pt_eval_result *r);

/* ---- checkpoints (checkpoint.c) ---------------------------------------- */

typedef struct {
  int64_t step, epoch, pos; /* optimizer steps done; data position */
  pt_rng rng;               /* dropout stream */
  double best;
  int64_t best_step;
  bool has_best;
  int64_t skipped; /* updates skipped under --on-nonfinite skip */
} pt_train_state;

/* Writes OUT/ckpt-<step>/ (adapter, optimizer state) and then, atomically,
 * OUT/checkpoint.json pointing at it; the previous checkpoint directory is
 * removed afterwards. */
pt_status pt_checkpoint_save(const char *out, const pt_ptv2_model *m, const pt_optim *o,
                             const pt_label_map *map, const pt_train_state *s);
/* Restores adapter weights, optimizer state and *s from OUT's checkpoint.
 * PT_ERR_IO when there is none. */
pt_status pt_checkpoint_load(const char *out, pt_ptv2_model *m, pt_optim *o, pt_train_state *s);
bool pt_checkpoint_exists(const char *out);

/* ---- metrics log (metrics_log.c) --------------------------------------- */

/* OUT/metrics.jsonl. A failed write warns once (pt_warn) and later lines are
 * dropped; training is not stopped for it. */
typedef struct {
  FILE *f;
  char path[4200];
  bool failed;
} pt_metrics_log;

/* Opens PATH fresh (resume_step < 0) or, for a resumed run, keeps the lines
 * up to resume_step and appends. Close with pt_metrics_log_close. */
pt_status pt_metrics_log_open(pt_metrics_log *l, const char *path, int64_t resume_step);
/* Writes one line (fmt includes the newline) and flushes it. */
void pt_metrics_log_printf(pt_metrics_log *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void pt_metrics_log_close(pt_metrics_log *l);

/* ---- progress (progress.c) --------------------------------------------- */

typedef struct {
  FILE *f;
  bool tty, quiet;
  int64_t total;
  double t0, last_draw;
  int64_t start_step;
  int64_t tokens;
} pt_progress;

void pt_progress_init(pt_progress *p, FILE *f, int64_t total, int64_t start_step, bool quiet);
/* Redraws the bar (tty) or prints a line (log == true, otherwise). */
void pt_progress_update(pt_progress *p, int64_t step, double loss, double lr, bool log);
void pt_progress_line(pt_progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pt_progress_done(pt_progress *p);
double pt_now(void);

/* ---- inference setup (infer.c) ------------------------------------------- */

typedef struct {
  pt_ptv2_model model;
  bool model_ok;
  pt_tokenizer *tok;
  pt_label_map map; /* the adapter's id2label */
  pt_task_data data;
} pt_infer;

/* Loads --model with --adapter, the adapter's labels, and --data (labels
 * required for eval, optional for predict), encoded. */
pt_status pt_infer_setup(const pt_run_args *a, bool need_labels, pt_infer *in);
void pt_infer_free(pt_infer *in);

/* ---- the loop (trainer.c) ------------------------------------------------ */

/* Builds the model (base + optional --init-adapter), trains and writes
 * OUT/metrics.jsonl, OUT/best, OUT/last and checkpoints. */
pt_status pt_train_run(const pt_run_args *a);

#endif
