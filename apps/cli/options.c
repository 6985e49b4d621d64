/* Command-line options of `ptune train`, `eval`, `predict` and `inspect`:
 * one table says which command takes which option and where it goes. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "apps/cli/options.h"

/* K_DBL: a finite number >= 0; K_REAL: any finite number */
typedef enum {
  K_STR, K_INT, K_DBL, K_REAL, K_FLAG, K_TASK, K_METHOD, K_OPTIM, K_SCHED, K_NER_MODE, K_SCHEME
} kind;

#define T CMD_TRAIN
#define E CMD_EVAL
#define P CMD_PREDICT
#define I CMD_INSPECT
#define S CMD_SCORE
#define OFF(f) offsetof(run_args, f)

typedef struct {
  const char *name;
  kind k;
  size_t off;
  int cmds;
  const char *help;
} option;

static const option options[] = {
    {"--task", K_TASK, OFF(task), T | E | P | I | S, NULL /* the task names */},
    {"--model", K_STR, OFF(model), T | E | P | I, "DIR: config.json, model.safetensors, vocab"},
    {"--train", K_STR, OFF(train), T, "FILE: training data"},
    {"--dev", K_STR, OFF(dev), T, "FILE: evaluated every --eval-every steps and per epoch"},
    {"--out", K_STR, OFF(out), T, "DIR: metrics.jsonl, best/, last/, checkpoints"},
    {"--adapter", K_STR, OFF(adapter), E | P | I, "DIR: a trained adapter"},
    {"--data", K_STR, OFF(data), E | P | S,
     "FILE: the data to score or label (score: the gold; ner may leave it out: the gold is the"
     " predictions file's column before the last)"},
    {"--output", K_STR, OFF(output), P, "FILE: predictions"},
    {"--predictions", K_STR, OFF(predictions), S,
     "FILE: as ptune predict writes it (ner: CoNLL, the last column predicted; qa: {id: answer};"
     " cls/mc/srl: jsonl)"},
    {"--na-prob-output", K_STR, OFF(task_options.na_prob_output), P,
     "FILE: qa SQuAD 2.0: also write the no-answer scores {id: score} (evaluate-v2.0.py's -n)"},
    {"--na-prob", K_STR, OFF(task_options.na_prob_file), S,
     "FILE: qa SQuAD 2.0: the predictions' no-answer scores; adds best_exact/best_f1 and their"
     " thresholds"},
    {"--na-prob-thresh", K_REAL, OFF(task_options.na_prob_thresh), S,
     "F: qa: a no-answer score above F counts as answering nothing (default 1.0, as"
     " evaluate-v2.0.py)"},
    {"--ner-mode", K_NER_MODE, OFF(task_options.ner_mode), E | S,
     "default|strict: seqeval's default (conlleval's) entities, or strict mode in --scheme"},
    {"--scheme", K_SCHEME, OFF(task_options.scheme), E | S,
     "IOB2|IOBES|BILOU: the tagging scheme of --ner-mode strict (default IOB2)"},
    {"--preset", K_STR, OFF(task_options.preset), T | E | P | S,
     "cls/mc data set: boolq cb rte wic wsc copa sst2 glue-rte cola"},
    {"--text-fields", K_STR, OFF(task_options.text_fields), T | E | P | S, "A[,B]: generic cls jsonl text fields"},
    {"--label-field", K_STR, OFF(task_options.label_field), T | E | P | S, "L: generic cls jsonl label field"},
    {"--method", K_METHOD, OFF(method), T | I, "ptv2|prompt|finetune (default ptv2)"},
    {"--pre-seq-len", K_INT, OFF(pre_seq_len), T | I, "N: prefix length (default 16)"},
    {"--prefix-projection", K_FLAG, OFF(prefix_projection), T | I, "reparameterize the prefix"},
    {"--prefix-hidden-size", K_INT, OFF(prefix_hidden_size), T | I, "N (default 512)"},
    {"--init-adapter", K_STR, OFF(init_adapter), T,
     "DIR: start from this adapter (its config and id2label)"},
    {"--random-backbone", K_FLAG, OFF(random_backbone), T,
     "HF-initialize the backbone from config.json (--seed) instead of loading its weights:"
     " the baseline that shows what pretraining buys"},
    {"--hparams", K_STR, OFF(hparams), T,
     "NAME: THUDM's run-script settings (boolq copa rte wic wsc conll03 conll04 conll05 squad);"
     " other options override them"},
    {"--epochs", K_INT, OFF(epochs), T, "N (default 3)"},
    {"--max-steps", K_INT, OFF(max_steps), T, "N: optimizer steps (overrides --epochs)"},
    {"--batch-size", K_INT, OFF(batch_size), T | E | P, "N (default 8)"},
    {"--grad-accum", K_INT, OFF(grad_accum), T, "N: batches per optimizer step (default 1)"},
    {"--lr", K_DBL, OFF(lr), T, "F (default 0.01)"},
    {"--optimizer", K_OPTIM, OFF(optimizer), T, "adamw|sgd (default adamw)"},
    {"--weight-decay", K_DBL, OFF(weight_decay), T, "F (default 0)"},
    {"--hf-no-decay", K_FLAG, OFF(hf_no_decay), T, "no weight decay on biases and LayerNorm"},
    {"--momentum", K_DBL, OFF(momentum), T, "F: SGD momentum (default 0)"},
    {"--max-grad-norm", K_DBL, OFF(max_grad_norm), T, "F: clip the global norm (0: off)"},
    {"--on-nonfinite", K_STR, OFF(on_nonfinite), T,
     "stop|skip: a NaN/Inf loss or gradient norm ends the run (default) or skips that update"},
    {"--warmup", K_DBL, OFF(warmup), T, "F: warmup, a share of the steps if < 1, else steps"},
    {"--schedule", K_SCHED, OFF(schedule), T, "constant|linear|exp (default constant)"},
    {"--gamma", K_DBL, OFF(gamma), T, "F: exp schedule factor per epoch (default 0.95)"},
    {"--dropout", K_DBL, OFF(dropout), T, "F: overrides the model's hidden/attention dropout"},
    {"--max-seq-len", K_INT, OFF(task_options.max_seq_len), T | E | P, "N (default 128; qa 384)"},
    {"--doc-stride", K_INT, OFF(task_options.doc_stride), T | E | P, "N: qa window overlap (default 128)"},
    {"--n-best", K_INT, OFF(task_options.n_best), T | E | P, "N: qa start/end candidates per window (default 20)"},
    {"--max-answer-len", K_INT, OFF(task_options.max_answer_len), T | E | P,
     "N: qa longest answer in tokens (default 30)"},
    {"--null-threshold", K_REAL, OFF(task_options.null_threshold), T | E | P,
     "F: SQuAD 2.0: answer nothing when the null score beats the best span by more (default 0)"},
    {"--seed", K_INT, OFF(seed), T, "N (default 42)"},
    {"--no-shuffle", K_FLAG, OFF(no_shuffle), T, "keep the file order"},
    {"--eval-every", K_INT, OFF(eval_every), T, "N steps (default 0: once per epoch)"},
    {"--save-every", K_INT, OFF(save_every), T, "N steps between checkpoints (default 200)"},
    {"--log-every", K_INT, OFF(log_every), T, "N steps between metrics lines (default 10)"},
    {"--threads", K_INT, OFF(threads), T | E | P, "N OpenMP threads (default: all)"},
    {"--resume", K_FLAG, OFF(resume), T, "continue from OUT's last checkpoint"},
    {"--stop-after", K_INT, OFF(stop_after), T, "N: stop after step N as if killed (testing)"},
    {"--quiet", K_FLAG, OFF(quiet), T, "no progress output"},
};

void run_args_usage(cmd_kind cmd, FILE *f) {
  char names[256];
  task_names(names, sizeof names, "|", "|");
  for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
    if (options[i].cmds & (int)cmd)
      fprintf(f, "  %-22s %s\n", options[i].name, options[i].help ? options[i].help : names);
  fprintf(f, "  %-22s %s\n", "--help", "this text");
}

static void defaults(cmd_kind cmd, run_args *a) {
  memset(a, 0, sizeof *a);
  a->cmd = cmd;
  a->method = PT_METHOD_PTV2;
  a->pre_seq_len = 16;
  a->prefix_hidden_size = 512;
  a->epochs = 3;
  a->batch_size = 8;
  a->grad_accum = 1;
  a->lr = 0.01;
  a->optimizer = PT_OPTIM_ADAMW;
  a->schedule = PT_SCHED_CONSTANT;
  a->gamma = 0.95;
  a->task_options.doc_stride = 128;
  a->task_options.n_best = 20;
  a->task_options.max_answer_len = 30;
  a->task_options.na_prob_thresh = 1.0;
  a->seed = 42;
  a->save_every = 200;
  a->log_every = 10;
}

static pt_status parse_int(const char *opt, const char *v, int64_t *out) {
  char *end;
  errno = 0;
  long long x = strtoll(v, &end, 10);
  if (errno || end == v || *end) return pt_error(PT_ERR_ARG, "%s: '%s' is not an integer", opt, v);
  *out = x;
  return PT_OK;
}

static pt_status parse_value(const option *o, const char *v, run_args *a) {
  char *dst = (char *)a + o->off;
  switch (o->k) {
    case K_STR: *(const char **)dst = v; return PT_OK;
    case K_INT: {
      int64_t x = 0;
      PT_TRY(parse_int(o->name, v, &x));
      if (x < 0) return pt_error(PT_ERR_ARG, "%s: must not be negative, got %s", o->name, v);
      if (o->off == OFF(seed)) a->seed = (uint64_t)x;
      else *(int64_t *)dst = x;
      return PT_OK;
    }
    case K_REAL:
    case K_DBL: {
      char *end;
      errno = 0;
      double x = strtod(v, &end);
      if (errno || end == v || *end || !isfinite(x))
        return pt_error(PT_ERR_ARG, "%s: '%s' is not a number", o->name, v);
      if (o->k == K_DBL && x < 0)
        return pt_error(PT_ERR_ARG, "%s: '%s' is not a non-negative number", o->name, v);
      *(double *)dst = x;
      if (o->off == OFF(dropout)) {
        if (x >= 1) return pt_error(PT_ERR_ARG, "--dropout: must be below 1, got %s", v);
        a->dropout_set = true;
        a->dropout_hidden_only = false;
      }
      return PT_OK;
    }
    case K_TASK: {
      if ((a->task = task_find(v))) return PT_OK;
      char names[256];
      task_names(names, sizeof names, ", ", " or ");
      return pt_error(PT_ERR_ARG, "--task: unknown task '%s' (%s)", v, names);
    }
    case K_METHOD: return pt_method_parse(v, &a->method);
    case K_OPTIM:
      if (!strcmp(v, "adamw")) a->optimizer = PT_OPTIM_ADAMW;
      else if (!strcmp(v, "sgd")) a->optimizer = PT_OPTIM_SGD;
      else return pt_error(PT_ERR_ARG, "--optimizer: unknown optimizer '%s' (adamw or sgd)", v);
      return PT_OK;
    case K_SCHED:
      if (!strcmp(v, "exp")) a->schedule = PT_SCHED_EXPONENTIAL;
      else if (pt_sched_kind_from_name(v, &a->schedule) != PT_OK)
        return pt_error(PT_ERR_ARG, "--schedule: unknown schedule '%s' (constant, linear or exp)",
                        v);
      return PT_OK;
    case K_NER_MODE:
      if (!strcmp(v, "default")) a->task_options.ner_mode = NER_MODE_DEFAULT;
      else if (!strcmp(v, "strict")) a->task_options.ner_mode = NER_MODE_STRICT;
      else return pt_error(PT_ERR_ARG, "--ner-mode: wants default or strict, got '%s'", v);
      return PT_OK;
    case K_SCHEME:
      if (tag_scheme_from_name(v, &a->task_options.scheme) != PT_OK)
        return pt_error(PT_ERR_ARG, "--scheme: wants IOB2, IOBES or BILOU, got '%s'", v);
      return PT_OK;
    case K_FLAG: break;
  }
  return PT_OK;
}

pt_status run_args_parse(cmd_kind cmd, int argc, char **argv, run_args *a) {
  defaults(cmd, a);
  bool seq_len_set = false;
  for (int i = 1; i + 1 < argc; i++) /* the preset first, so options override it */
    if (!strcmp(argv[i], "--hparams") && (cmd & CMD_TRAIN)) {
      PT_TRY(hparams_apply(argv[i + 1], a));
      seq_len_set = true;
    }
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
      a->help = true;
      return PT_OK;
    }
    const option *o = NULL;
    for (size_t j = 0; j < sizeof options / sizeof options[0]; j++)
      if (!strcmp(arg, options[j].name)) o = &options[j];
    if (!o || !(o->cmds & (int)cmd))
      return pt_error(PT_ERR_ARG, "unknown option '%s' (see --help)", arg);
    if (o->k == K_FLAG) {
      *(bool *)((char *)a + o->off) = true;
      continue;
    }
    if (i + 1 >= argc) return pt_error(PT_ERR_ARG, "%s needs a value", arg);
    if (o->off == OFF(task_options.max_seq_len)) seq_len_set = true;
    PT_TRY(parse_value(o, argv[++i], a));
  }
  a->max_seq_len_set = seq_len_set;
  if (!seq_len_set) a->task_options.max_seq_len = a->task ? a->task->max_seq_len : 128;

  if (a->batch_size < 1) return pt_error(PT_ERR_ARG, "--batch-size must be at least 1");
  if (a->grad_accum < 1) return pt_error(PT_ERR_ARG, "--grad-accum must be at least 1");
  if (a->task_options.max_seq_len < 4) return pt_error(PT_ERR_ARG, "--max-seq-len must be at least 4");
  if ((a->method == PT_METHOD_PTV2 || a->method == PT_METHOD_PROMPT) && a->pre_seq_len < 1)
    return pt_error(PT_ERR_ARG, "--pre-seq-len must be at least 1");
  if (a->prefix_hidden_size < 1)
    return pt_error(PT_ERR_ARG, "--prefix-hidden-size must be at least 1");
  if (a->task_options.n_best < 1) return pt_error(PT_ERR_ARG, "--n-best must be at least 1");
  if (a->task_options.max_answer_len < 1) return pt_error(PT_ERR_ARG, "--max-answer-len must be at least 1");
  if (a->on_nonfinite && strcmp(a->on_nonfinite, "stop") && strcmp(a->on_nonfinite, "skip"))
    return pt_error(PT_ERR_ARG, "--on-nonfinite: wants stop or skip, got '%s'", a->on_nonfinite);
  /* Required options per command. */
  struct {
    const char *opt;
    const char *val;
    int cmds;
  } req[] = {{"--model", a->model, T | E | P | I}, {"--train", a->train, T},
             {"--out", a->out, T},                 {"--adapter", a->adapter, E | P},
             {"--data", a->data, E | P},           {"--output", a->output, P},
             {"--predictions", a->predictions, S}};
  for (size_t j = 0; j < sizeof req / sizeof req[0]; j++)
    if ((req[j].cmds & (int)cmd) && !req[j].val)
      return pt_error(PT_ERR_ARG, "%s is required (see --help)", req[j].opt);
  if (!a->task && cmd != CMD_INSPECT) {
    char names[256];
    task_names(names, sizeof names, ", ", " or ");
    return pt_error(PT_ERR_ARG, "--task is required (%s)", names);
  }
  return PT_OK;
}
