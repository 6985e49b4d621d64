/* The task table: every task (ner, srl, cls, mc, qa) is one row, a
 * task_def defined in its own folder (apps/tasks/<name>/task.c) and
 * registered with TASK_REGISTER, as ops register with PT_OP_DEFINE. A row
 * says how to read the task's data, turn examples into model inputs
 * (features), read predictions off the model's outputs, score them, write
 * them to a file and give one example's result as JSON. The code in this
 * folder (data.c, batch.c, evaluate.c, infer.c) runs any row and knows no
 * task by name, so a new task is one folder and one row; tests/test_tasks.c
 * walks the table and fails for a row without its check case.
 *
 * Nothing here reads the command line: task_opts holds what a task needs,
 * so a server can run a task's features and format its results too.
 *
 * Ownership: every struct here is caller-owned and released with its *_free
 * function (which also accepts a zeroed struct). Errors are pt_status with a
 * one-line message naming the file and the problem. */
#ifndef APPS_TASKS_TASK_H
#define APPS_TASKS_TASK_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "apps/metrics/metrics.h"
#include "apps/tasks/labels.h"
#include "models/pt_model_io.h"
#include "models/pt_tokenizer.h"

/* What a task reads besides its data file (the command line's --preset,
 * --max-seq-len, ...). */
typedef struct {
  const char *preset;                    /* cls/mc data set, or ner label preset; NULL */
  const char *text_fields, *label_field; /* generic cls jsonl: "A[,B]" and "L" */
  int64_t max_seq_len;                   /* tokens per sequence */
  int64_t doc_stride;                    /* qa: overlap of the windows (HF run_qa: 128) */
  int64_t n_best, max_answer_len;        /* qa post-processing (20, 30) */
  double null_threshold;                 /* qa SQuAD 2.0 (0) */
  /* ner metric: seqeval's default mode (0) or strict mode (1) in `scheme` */
  int ner_mode;
  tag_scheme scheme;
  /* ner: the data file is a predictions file, its gold the column before
   * the last (as conlleval reads it) */
  bool gold_in_predictions;
  const char *na_prob_output; /* qa predict: also write the no-answer scores */
  const char *na_prob_file;   /* qa score: the predictions' no-answer scores */
  double na_prob_thresh;      /* qa score: evaluate-v2.0.py's --na-prob-thresh (1.0) */
  /* cls with a verbalizer head: a [MASK] (the tokenizer's) right after the
   * first token ([CLS]), where the masked-LM head scores the label words */
  bool mask_after_first;
} task_opts;

enum { NER_MODE_DEFAULT = 0, NER_MODE_STRICT = 1 };

#define FEATURE_MAX_SEQ 8 /* sequences per feature: 1, or the choices of mc */

/* One model input: nseq token sequences (mc: one per choice) with labels. */
typedef struct {
  int nseq;
  int64_t len[FEATURE_MAX_SEQ];
  int64_t *ids[FEATURE_MAX_SEQ], *types[FEATURE_MAX_SEQ];
  int64_t *tok_labels; /* token heads: len[0] label ids, -100 off first sub-tokens */
  int64_t *word_of;    /* token heads: len[0] word indices, -1 off first sub-tokens */
  int64_t label;       /* class/choice heads: label id; -1 when unlabelled */
  int64_t start, end;  /* qa targets */
  int64_t example;     /* the example (qa: the window) */
} task_feature;

typedef struct task_def task_def;

/* A data file of one task, read and encoded. */
typedef struct {
  const task_def *task;
  const char *path;   /* borrowed */
  void *examples;     /* the task's own set (owned; freed by task->free_examples) */
  int64_t n_examples;
  bool labelled;
  task_feature *f;    /* features, one per example (qa: per window) */
  int64_t n;
} task_data;

/* Predictions over a task_data, one per example, and their scores. Which
 * prediction arrays are filled depends on the model head. */
typedef struct {
  char *json;      /* the metrics as one JSON object (owned) */
  double primary;  /* the metric that picks the best adapter (higher is better) */
  const char *primary_name;
  int64_t n;       /* examples */
  char ***tags;    /* token heads: per example, label names per word (borrowed from the map) */
  int64_t *pred;   /* class and choice heads: the class / choice */
  char **answers;  /* qa: the answer text (owned) */
  double *null_diff; /* qa v2: score_diff per question, the no-answer scores */
  int64_t *na_order; /* qa: each question's place in its no-answer file (ties
                        sort in that order); NULL: question order */
  double na_thresh;  /* qa: the no-answer threshold applied to null_diff */
  float **start_logits, **end_logits; /* qa: per window, until the answers are chosen */
  float **probs;     /* class and choice heads: per example, the softmax over its classes or
                        choices (owned) */
  int64_t *spans;    /* qa: per question, the answer's code-point span in its context
                        (start, end: 2 each) */
  double *span_scores; /* qa: per question, the answer's start + end logit */
} eval_result;

/* A task's scores: the metrics object (new reference) and the primary one. */
typedef struct {
  json_t *metrics;
  double primary;
  const char *primary_name;
} task_score;

struct task_def {
  const char *name;        /* --task NAME */
  const char *data_help;   /* the data formats it reads, for --help */
  pt_task_kind head;       /* the model head it trains */
  int64_t max_seq_len;     /* the default --max-seq-len */
  bool adapter_labels;     /* the label names are stored in the adapter (id2label) */
  bool predictions_hold_gold; /* its predictions file has a gold column: score needs no data */

  /* Reads `path` into td->examples (examples_size zeroed bytes, allocated
   * before), n_examples and labelled (labels may be missing when
   * !need_labels); a failed read leaves the examples empty. */
  size_t examples_size;
  pt_status (*read)(const task_opts *o, const char *path, bool need_labels, task_data *td);
  /* Frees what read put into the examples (not the block itself). */
  void (*free_examples)(void *examples);
  /* The data set's fixed label order from o->preset (added to `map`); NULL
   * when the task has none. */
  pt_status (*preset_labels)(const task_opts *o, label_map *map);
  /* Label names -> ids (grow: add unseen ones, else an unseen one is an
   * error naming file and line); NULL when labels are not names. */
  pt_status (*map_labels)(task_data *td, label_map *map, bool grow);
  /* How many features the examples make (NULL: one each); may prepare them
   * (qa: its windows). */
  pt_status (*count_features)(task_data *td, const pt_tokenizer *tok, const task_opts *o,
                              int64_t *n);
  /* Feature i (thread-safe: features encode in parallel). */
  pt_status (*encode)(const task_data *td, const pt_tokenizer *tok, const task_opts *o,
                      int64_t i, task_feature *f);
  /* Predictions: set up r for td's examples, read one batch of outputs,
   * finish (NULL: nothing to finish; qa chooses its answers here). */
  pt_status (*predict_begin)(const task_data *td, const label_map *map, eval_result *r);
  pt_status (*predict_batch)(const task_data *td, const label_map *map,
                             const task_feature *const *f, int64_t nb, const pt_model_outputs *out,
                             eval_result *r);
  pt_status (*predict_end)(const task_data *td, const task_opts *o, eval_result *r);
  /* The metric on labelled data. */
  pt_status (*score)(const task_data *td, const label_map *map, const task_opts *o,
                     const eval_result *r, task_score *s);
  /* The prediction file of `ptune predict`, written atomically (and the
   * files that go with it that o names). */
  pt_status (*write)(const task_data *td, const eval_result *r, const label_map *map,
                     const task_opts *o, const char *path);
  /* Reads a prediction file of td's examples in the format `write` makes
   * (and the files that go with it that o names) into r (n set, arrays
   * NULL), as the model's predictions would be: a missing, extra or
   * misaligned prediction, or a label outside `map`, is an error naming
   * the file and the line or id. Labels that are names are added to `map`
   * when the task takes any (the tags of ner and srl, generic cls labels). */
  pt_status (*read_predictions)(const task_data *td, label_map *map, const task_opts *o,
                                const char *path, eval_result *r);
  /* Example i's result as a JSON object in *out (a new reference), e.g. for
   * a server; an error when a prediction is out of range. */
  pt_status (*example_json)(const task_data *td, const eval_result *r, const label_map *map,
                            int64_t i, json_t **out);

  /* Serving (`ptune serve`), NULL for a task that is not served: */
  /* Reads td->examples from a request's JSON array of task-shaped inputs
   * (inputs.c says which); an input that does not fit is PT_ERR_FORMAT
   * naming "inputs[i]" and what it should be. */
  pt_status (*read_inputs)(const task_opts *o, const json_t *inputs, task_data *td);
  /* Example i's result for a client: example_json's object with the
   * scores added (class probabilities, entities with their character
   * spans, the answer's span and score, the choices' probabilities). */
  pt_status (*serve_json)(const task_data *td, const eval_result *r, const label_map *map,
                          int64_t i, json_t **out);

  /* The row's check case, run by tests/test_tasks.c: a labelled fixture
   * (under tests/fixtures/data) read with `check_preset`, on which the gold
   * labels score check_gold_score (the metric's best value, or less where
   * the tokens cannot express a gold answer), and a broken file whose
   * reading must fail with a message containing `bad_error`. */
  const char *check_fixture, *check_preset;
  double check_gold_score;
  const char *bad_input, *bad_input_name, *bad_error;
};

/* Registers a task row in the linker section the table is read from. */
#define TASK_REGISTER(var)                                                    \
  static const task_def *const var##_registered                              \
      __attribute__((used, section("app_tasks"), aligned(sizeof(void *)))) = &var

/* Every registered row, in link order (tasks/meson.build); *n receives how
 * many. */
const task_def *const *task_table(int *n);
/* The row named `name`, or NULL. */
const task_def *task_find(const char *name);
/* The task names joined: "ner, qa, cls, mc or srl" (sep ", ", last " or "). */
void task_names(char *buf, size_t cap, const char *sep, const char *last);

/* ---- data (data.c) ---------------------------------------------------------- */

/* td from a request's inputs (task_def.read_inputs; td->path is "inputs");
 * "no inputs" is an error. */
pt_status task_data_from_inputs(const task_def *t, const task_opts *o, const json_t *inputs,
                                task_data *td);
/* Reads `path` with task t; "no examples" is an error. */
pt_status task_data_read(const task_def *t, const task_opts *o, const char *path,
                         bool need_labels, task_data *td);
/* Label ids from `map` (see task_def.map_labels); a no-op for unlabelled data
 * and for tasks whose labels are not names. */
pt_status task_data_map_labels(task_data *td, label_map *map, bool grow);
/* The preset label order (see task_def.preset_labels), added to `map`. */
pt_status task_preset_labels(const task_def *t, const task_opts *o, label_map *map);
/* Encodes every example into td->f. */
pt_status task_data_encode(task_data *td, const pt_tokenizer *tok, const task_opts *o);
void task_data_free(task_data *td);
/* Appends e's ids and type ids to f as its next sequence (copies). */
pt_status feature_add_sequence(task_feature *f, const pt_encoding *e);

/* ---- batches (batch.c) ------------------------------------------------------- */

typedef struct {
  pt_tensor *ids, *mask, *types, *labels, *starts, *ends;
  pt_model_batch b;
  int64_t tokens; /* non-padding tokens */
} task_batch;

/* Collates feats[0..n) padded to the longest sequence among them ([n, S],
 * or [n, C, S] for the multiple-choice head), with the labels of `head`
 * (none when !with_labels). */
pt_status task_batch_make(const task_feature *const *feats, int64_t n, pt_task_kind head,
                          int64_t pad_id, bool with_labels, task_batch *out);
void task_batch_free(task_batch *b);

/* ---- evaluation (evaluate.c) --------------------------------------------- */

/* Runs the model over td in batches of batch_size (eval mode, no grad),
 * reads the predictions and scores them when td is labelled. */
pt_status task_evaluate(pt_model *m, const task_data *td, const label_map *map,
                        const task_opts *o, int64_t batch_size, int64_t pad_id,
                        eval_result *out);
void eval_result_free(eval_result *r);
/* Under `mpirun` (every rank calls it, with the same arguments): the
 * batches shared out over the ranks (batch b on rank b mod N), their
 * outputs gathered on rank 0 and read there in batch order, the scores
 * (r->json, r->primary, r->primary_name; no per-example predictions)
 * sent back to every rank. The same scores as task_evaluate's when the
 * ranks' kernels give one process's bits (the same thread count). With one
 * rank it is task_evaluate. (evaluate_ranks.c) */
pt_status task_evaluate_ranks(pt_model *m, const task_data *td, const label_map *map,
                              const task_opts *o, int64_t batch_size, int64_t pad_id,
                              eval_result *out);
/* The model over td's features [first, first + nb) in eval mode, no grad
 * (fb: room for nb feature pointers, filled); *po as pt_model_forward's. */
pt_status task_forward_batch(pt_model *m, const task_data *td, int64_t first, int64_t nb,
                             int64_t pad_id, const task_feature **fb, pt_model_outputs *po);
/* The index of the largest of t's n elements from flat offset off (the
 * first on ties). */
int64_t logits_argmax(const pt_tensor *t, int64_t off, int64_t n);
/* A prediction file of one task_def.example_json line per example: the
 * `write` of the tasks whose predictions are JSON Lines. */
pt_status task_write_jsonl(const task_data *td, const eval_result *r, const label_map *map,
                           const task_opts *o, const char *path);
/* Writes r as the task's prediction file (task_def.write). */
pt_status task_write_predictions(const task_data *td, const eval_result *r, const label_map *map,
                                 const task_opts *o, const char *path);
/* Scores the predictions in r (labelled data) into r->json, r->primary and
 * r->primary_name: {"task": NAME, <metrics>, "examples": N}; for unlabelled
 * data {"task", "examples"} only. task_evaluate ends with it. */
pt_status task_score_predictions(const task_data *td, const label_map *map, const task_opts *o,
                                 eval_result *r);

/* ---- scoring a predictions file (score.c) ---------------------------------------- */

/* `ptune score`: reads the labelled data file `data` (NULL for ner with
 * o->gold_in_predictions: the gold is the predictions file's) and the
 * predictions file `predictions` of task t, and scores them as
 * task_evaluate would have: *json receives the same metrics line (the
 * caller frees it). */
pt_status task_score_file(const task_def *t, const task_opts *o, const char *data,
                          const char *predictions, char **json);

/* ---- eval and predict setup (infer.c) ------------------------------------------- */

typedef struct {
  pt_backbone bb;
  pt_model model;
  bool model_ok;
  pt_adapter_info info; /* what the adapter says: method, options, head, labels */
  pt_tokenizer *tok;
  label_map map; /* the adapter's id2label */
  task_data data;
  task_opts opts; /* max_seq_len shrunk to fit the model */
} infer_session;

/* Loads the model directory with the adapter (ptune's layout or peft's:
 * the method and its options come from the adapter) and its labels, checks
 * that the adapter is for task t, stores the backbone's frozen matrices in
 * `backbone_dtype` (backbone_dtype_set), and reads `data` (labels required
 * when need_labels) and encodes it. */
pt_status infer_setup(const task_def *t, const task_opts *o, bool max_seq_len_given,
                      const char *model, const char *adapter, const char *data,
                      bool need_labels, pt_dtype backbone_dtype, infer_session *in);
void infer_free(infer_session *in);
/* task_evaluate over the session's data and model. */
pt_status infer_evaluate(infer_session *in, int64_t batch_size, eval_result *r);

/* --backbone-dtype: stores bb's frozen matrices in dt (PT_F32: left as
 * loaded; PT_BF16: pt_backbone_set_weight_dtype). Call after the models on bb
 * exist: a method that trains backbone matrices (finetune) is refused for
 * bf16 with a one-line PT_ERR_ARG naming the option, as ptune keeps no f32
 * master copy of a bf16 weight. */
pt_status backbone_dtype_set(pt_backbone *bb, pt_dtype dt);

/* Makes the positions m's method takes (a prefix or a prompt) plus
 * o->max_seq_len fit the model's position table: a default length (!given)
 * shrinks to fit, a given one that does not fit is PT_ERR_ARG naming the
 * model's config.json and the method's option. */
pt_status task_fit_max_seq_len(task_opts *o, bool given, const pt_model *m,
                               const char *model_dir);

#endif
