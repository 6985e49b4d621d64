/* The options of `ptune train`, `eval`, `predict` and `inspect`: one table
 * (options.c) says which command takes which option and where it goes; the
 * help text is generated from it. THUDM's run-script presets (hparams.c).
 *
 * Errors are pt_status with a one-line message naming the option. */
#ifndef APPS_CLI_OPTIONS_H
#define APPS_CLI_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "apps/tasks/task.h"
#include "models/pt_bert.h"
#include "models/pt_ptv2.h"
#include "optim/pt_optim.h"

typedef enum { CMD_TRAIN = 1, CMD_EVAL = 2, CMD_PREDICT = 4, CMD_INSPECT = 8, CMD_SCORE = 16 } cmd_kind;

typedef struct run_args {
  cmd_kind cmd;
  bool help;
  const task_def *task; /* --task (NULL until given) */
  task_opts task_options; /* --preset, --max-seq-len, --doc-stride, ... */
  const char *model, *train, *dev, *out, *adapter, *data, *output, *init_adapter;
  const char *predictions; /* score: the predictions file */
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
  bool max_seq_len_set; /* given on the command line (else a default that may shrink) */
  uint64_t seed;
  bool no_shuffle, resume;
  bool random_backbone; /* train: skip loading the backbone weights (keep the HF init) */
  int64_t eval_every, save_every, log_every, threads, stop_after;
  bool quiet;
  const char *hparams;
} run_args;

/* Parses argv (argv[0] is the command name) for `cmd` into *a, with the
 * defaults filled first. An unknown option, a missing or malformed value, or
 * an option the command does not take is PT_ERR_ARG with a one-line message.
 * --help sets a->help and returns PT_OK. */
pt_status run_args_parse(cmd_kind cmd, int argc, char **argv, run_args *a);
/* Fills *a with THUDM/P-tuning-v2's run-script hyperparameters for `name`
 * (hparams.c); PT_ERR_ARG listing the names for an unknown one. */
pt_status hparams_apply(const char *name, run_args *a);
/* The options of `cmd`, one per line, for --help. */
void run_args_usage(cmd_kind cmd, FILE *f);

#endif
