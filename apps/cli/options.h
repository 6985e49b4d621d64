/* The options of every `ptune` command: one table (options.c), each row an
 * option with its kind, where its value goes in run_args and the commands
 * that take it. One parser reads a command's defaults (given as arguments
 * by the command, apps/cmd/) and then its command line; --help is generated
 * from the same rows. Adding an option to some commands is one row.
 *
 * Errors are pt_status with a one-line message naming the option. */
#ifndef APPS_CLI_OPTIONS_H
#define APPS_CLI_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "apps/tasks/task.h"
#include "models/pt_method.h"
#include "optim/pt_optim.h"

#define OPTION_LIST_MAX 256 /* values of one repeatable option (--corpus, --op, texts) */
#define OPTION_ROWS_MAX 256 /* rows of the table (a static assertion in options.c) */

/* Several values of one option, pointing into argv. */
typedef struct {
  const char *v[OPTION_LIST_MAX];
  int n;
} option_list;

typedef enum { NONFINITE_STOP = 0, NONFINITE_SKIP } nonfinite_policy;

/* Every command's options. Fields a command does not take keep its
 * defaults (zero unless the command's defaults say otherwise). */
typedef struct run_args {
  const char *command; /* the command's name */
  int argc;            /* the command line parsed (argv[0] the command's name), borrowed: */
  char **argv;         /* what train re-parses for each --task-spec */
  bool help;
  /* task, model and data */
  const task_def *task;   /* --task (NULL until given) */
  task_opts task_options; /* --preset, --max-seq-len, --doc-stride, ... */
  const char *model, *train, *dev, *out, *adapter, *data, *output, *init_adapter, *hparams;
  const char *predictions; /* score: the predictions file */
  bool random_backbone; /* train: the HF init from config.json instead of the weights */
  option_list task_specs; /* train --task-spec NAME:KEY=VALUE,... (apps/train/task_spec.h) */
  /* the PEFT method: --method NAME (ptv2 unless given) and its options,
   * parsed from the method's own option table (models/pt_method.h) */
  const pt_method *method;
  void *method_opts; /* owned: run_args_free */
  int head;          /* --head: pt_head_kind */
  const char *label_words; /* --label-words W1,W2,...: the verbalizer's, in label order */
  int save_format;   /* --save-format: pt_adapter_layout */
  int64_t bench_prefix; /* bench model --prefix */
  /* the training loop */
  int64_t epochs, max_steps, batch_size, grad_accum;
  double minutes; /* pretrain: a time budget instead of --max-steps */
  double step_timeout; /* under mpirun: seconds a rank waits for another (0: forever) */
  double lr;
  pt_optim_kind optimizer;
  double weight_decay, warmup, warmup_frac, momentum, max_grad_norm, gamma;
  nonfinite_policy on_nonfinite;
  bool hf_no_decay;
  pt_sched_kind schedule;
  double dropout;
  bool dropout_hidden_only; /* --hparams sets only the hidden one */
  uint64_t seed;
  bool no_shuffle, resume, quiet;
  int64_t eval_every, save_every, log_every, threads, stop_after;
  pt_dtype backbone_dtype; /* --backbone-dtype: the frozen matrices' (PT_F32 or PT_BF16) */
  /* pretrain: corpus, masking, model shape, starting points */
  option_list corpus;
  const char *vocab;
  int64_t layers, hidden, heads, intermediate, max_position;
  double heldout_frac, mask_prob;
  uint64_t eval_seed;
  bool whole_word_mask;
  int bias_init;      /* 0 unigram, 1 zero */
  int position_init;  /* 0 sinusoid, 1 normal */
  int attention_init; /* 0 offset, 1 normal */
  pt_dtype save_dtype;
  /* fill-mask, tokenize */
  option_list texts; /* the positional arguments */
  int64_t top_k;
  bool json;
  const char *input;
  int64_t max_length;
  int truncation; /* pt_truncation */
  bool padding, offsets, no_special_tokens;
  /* serve */
  option_list serve_adapters; /* NAME=DIR each */
  const char *host, *token_file;
  int64_t port, max_batch_tokens, queue_size, max_body_bytes, max_inputs, timeout_ms,
      max_connections;
  double max_wait_ms;
  /* gradcheck, bench */
  option_list ops;
  bool list, quick;
  int64_t reps;
  int bench_mode; /* 0 ptv2, 1 full, 2 infer, 3 mlm */
  int64_t timed_steps, warmup_steps;
  /* which rows the command line gave (bit i: row i) */
  uint64_t given[OPTION_ROWS_MAX / 64];
} run_args;

/* Fills *a for `command`: zeros, then `defaults` (arguments, e.g. "--lr
 * 0.01 --epochs 3"), then the --hparams preset if argv names one, then argv
 * (argv[0] is the command's name), and checks that the options in
 * `required` (space separated) were given. An unknown option, a missing or
 * malformed value, an option the command does not take or a missing
 * required one is PT_ERR_ARG with a one-line message; --help (or -h) sets
 * a->help and stops. */
pt_status run_args_parse_with(const char *command, const char *defaults, const char *required,
                              int argc, char **argv, run_args *a);
/* Releases what parsing allocated (the method's options). */
void run_args_free(run_args *a);
/* Sets an option of the method (flag without "--", e.g. "pre-seq-len") from
 * text, as the command line would. */
pt_status run_args_method_option(run_args *a, const char *flag, const char *value);
/* Whether the command line (or --hparams) gave `name`. */
bool option_given(const run_args *a, const char *name);
/* Whether `name` is a row of `command` that belongs to the whole run, not
 * to one adapter of it (one adapter's: its task, data, method, head, saving
 * and the task's options, which a train --task-spec may set); false for a
 * method's option and an unknown name. */
bool option_run_wide(const char *command, const char *name);
/* Marks `name` as given (a preset counts as the command line). */
void option_mark_given(run_args *a, const char *name);
/* The options of a method, for --help and `ptune methods`. */
void options_usage_method(const pt_method *me, FILE *f);
/* The options of `command`, one per line with `defaults` shown, for --help. */
void options_usage(const char *command, const char *defaults, FILE *f);
/* The options named in `required` (space separated) that the command line
 * did not give: PT_ERR_ARG "--x is required (see --help)". */
pt_status options_require(const run_args *a, const char *required);

/* Fills *a with THUDM/P-tuning-v2's run-script hyperparameters for `name`
 * (hparams.c); PT_ERR_ARG listing the names for an unknown one. */
pt_status hparams_apply(const char *name, run_args *a);

#endif
