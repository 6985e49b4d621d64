/* The one option table of the `ptune` commands and its parser: a row names
 * an option (and an alias), its kind, where its value goes in run_args and
 * the commands that take it ("|"-separated). Defaults are not in the rows:
 * each command gives its own as arguments, which this parser reads first,
 * so one row serves commands with different defaults and --help shows
 * each command's. */
#include "apps/cli/options.h"

#include "models/pt_model_io.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
  OPT_STR,    /* a string */
  OPT_INT,    /* an integer >= min */
  OPT_U64,    /* a non-negative integer to 2^64 - 1 (seeds) */
  OPT_NUM,    /* a finite number >= 0 */
  OPT_REAL,   /* any finite number */
  OPT_FLAG,   /* no value: true */
  OPT_LIST,   /* one or more values, up to the next --option (repeatable) */
  OPT_CHOICE, /* one of the row's choices, stored as its int value */
  OPT_TASK,   /* a task of the task table */
  OPT_METHOD, /* a PEFT method */
} option_kind;

typedef struct {
  const char *name;
  int value;
} option_choice;

typedef struct {
  const char *name, *alias; /* alias: another spelling, or NULL */
  option_kind kind;
  size_t off;                   /* where the value goes in run_args */
  const char *commands;         /* "train|eval": the commands that take it */
  const char *help;             /* "N: what it is" (the default is added per command) */
  int64_t min;                  /* OPT_INT: the smallest value */
  const option_choice *choices; /* OPT_CHOICE, ending with a NULL name */
} option;

static const option_choice optimizers[] = {{"adamw", PT_OPTIM_ADAMW}, {"sgd", PT_OPTIM_SGD}, {0}};
static const option_choice schedules[] = {{"constant", PT_SCHED_CONSTANT},
                                          {"linear", PT_SCHED_LINEAR},
                                          {"exp", PT_SCHED_EXPONENTIAL},
                                          {"exponential", PT_SCHED_EXPONENTIAL},
                                          {0}};
static const option_choice nonfinite[] = {{"stop", NONFINITE_STOP}, {"skip", NONFINITE_SKIP}, {0}};
static const option_choice bias_inits[] = {{"unigram", 0}, {"zero", 1}, {0}};
static const option_choice position_inits[] = {{"sinusoid", 0}, {"normal", 1}, {0}};
static const option_choice attention_inits[] = {{"offset", 0}, {"normal", 1}, {0}};
static const option_choice save_dtypes[] = {
    {"f32", PT_F32}, {"f16", PT_F16}, {"bf16", PT_BF16}, {0}};
static const option_choice backbone_dtypes[] = {{"f32", PT_F32}, {"bf16", PT_BF16}, {0}};
static const option_choice truncations[] = {{"longest_first", PT_TRUNC_LONGEST_FIRST},
                                            {"only_first", PT_TRUNC_ONLY_FIRST},
                                            {"only_second", PT_TRUNC_ONLY_SECOND},
                                            {0}};
static const option_choice ner_modes[] = {
    {"default", NER_MODE_DEFAULT}, {"strict", NER_MODE_STRICT}, {0}};
static const option_choice schemes_ner[] = {{"IOB2", TAG_SCHEME_IOB2},
                                            {"IOBES", TAG_SCHEME_IOBES},
                                            {"BILOU", TAG_SCHEME_BILOU},
                                            {0}};
static const option_choice heads[] = {
    {"linear", PT_HEAD_LINEAR}, {"verbalizer", PT_HEAD_VERBALIZER}, {0}};
static const option_choice save_formats[] = {
    {"ptune", PT_LAYOUT_PTUNE}, {"peft", PT_LAYOUT_PEFT}, {"both", PT_LAYOUT_BOTH}, {0}};
static const option_choice bench_modes[] = {
    {"ptv2", 0}, {"full", 1}, {"infer", 2}, {"mlm", 3}, {0}};

#define OFF(f) offsetof(run_args, f)
#define TASKS "train|eval|predict"
#define TASK_DATA TASKS "|score" /* the options of reading a task's data */
#define TRAIN_LOOP "train|pretrain"

static const option options[] = {
    /* task, model and data */
    {"--task", NULL, OPT_TASK, OFF(task), TASK_DATA "|inspect", NULL /* the task names */, 0, NULL},
    {"--model", NULL, OPT_STR, OFF(model), TASKS "|inspect|merge",
     "DIR: config.json, model.safetensors, vocab", 0, NULL},
    {"--model", NULL, OPT_STR, OFF(model), "fill-mask",
     "DIR: a bert model directory with its MLM head", 0, NULL},
    {"--model", NULL, OPT_STR, OFF(model), "tokenize",
     "DIR: vocab.txt (BERT), vocab.json + merges.txt (RoBERTa) or tokenizer.json", 0, NULL},
    {"--train", NULL, OPT_STR, OFF(train), "train", "FILE: training data", 0, NULL},
    {"--dev", NULL, OPT_STR, OFF(dev), "train",
     "FILE: evaluated every --eval-every steps and per epoch", 0, NULL},
    {"--out", NULL, OPT_STR, OFF(out), "merge",
     "DIR: the merged model (config.json, model.safetensors, the tokenizer files)", 0, NULL},
    {"--out", NULL, OPT_STR, OFF(out), "train",
     "DIR: metrics.jsonl, curves.svg, best/, last/, checkpoints", 0, NULL},
    {"--out", NULL, OPT_STR, OFF(out), "pretrain",
     "DIR: model directory (config.json, model.safetensors, vocab.txt), metrics.jsonl,\n"
     "loss.svg, summary.json, checkpoints",
     0, NULL},
    {"--adapter", NULL, OPT_STR, OFF(adapter), "eval|predict|inspect|merge",
     "DIR: a trained adapter (ptune's layout or peft's)", 0, NULL},
    {"--data", NULL, OPT_STR, OFF(data), "eval|predict|score",
     "FILE: the data to score or label (score: the gold; ner may leave it out: the gold is the\n"
     "predictions file's column before the last)",
     0, NULL},
    {"--predictions", NULL, OPT_STR, OFF(predictions), "score",
     "FILE: as ptune predict writes it (ner: CoNLL, the last column predicted; qa: {id:\n"
     "answer}; cls/mc/srl: jsonl)",
     0, NULL},
    {"--na-prob-output", NULL, OPT_STR, OFF(task_options.na_prob_output), "predict",
     "FILE: qa SQuAD 2.0: also write the no-answer scores {id: score} (evaluate-v2.0.py's -n)",
     0, NULL},
    {"--na-prob", NULL, OPT_STR, OFF(task_options.na_prob_file), "score",
     "FILE: qa SQuAD 2.0: the predictions' no-answer scores; adds best_exact/best_f1 and\n"
     "their thresholds",
     0, NULL},
    {"--na-prob-thresh", NULL, OPT_REAL, OFF(task_options.na_prob_thresh), "score",
     "F: qa: a no-answer score above F counts as answering nothing (as evaluate-v2.0.py)", 0,
     NULL},
    {"--ner-mode", NULL, OPT_CHOICE, OFF(task_options.ner_mode), "eval|score",
     "default|strict: seqeval's default (conlleval's) entities, or strict mode in --scheme", 0,
     ner_modes},
    {"--scheme", NULL, OPT_CHOICE, OFF(task_options.scheme), "eval|score",
     "IOB2|IOBES|BILOU: the tagging scheme of --ner-mode strict", 0, schemes_ner},
    {"--output", NULL, OPT_STR, OFF(output), "predict", "FILE: predictions", 0, NULL},
    {"--output", NULL, OPT_STR, OFF(output), "tokenize", "FILE: jsonl output ('-' or none: stdout)",
     0, NULL},
    {"--preset", NULL, OPT_STR, OFF(task_options.preset), TASK_DATA,
     "cls/mc data set: boolq cb rte wic wsc copa sst2 glue-rte cola (ner: conll2003)", 0, NULL},
    {"--text-fields", NULL, OPT_STR, OFF(task_options.text_fields), TASK_DATA,
     "A[,B]: generic cls jsonl text fields", 0, NULL},
    {"--label-field", NULL, OPT_STR, OFF(task_options.label_field), TASK_DATA,
     "L: generic cls jsonl label field", 0, NULL},
    {"--max-seq-len", NULL, OPT_INT, OFF(task_options.max_seq_len), TASKS,
     "N: tokens per sequence (default 128; qa 384)", 4, NULL},
    {"--max-seq-len", NULL, OPT_INT, OFF(task_options.max_seq_len), "pretrain",
     "N: tokens per sequence ([CLS] + N - 2 wordpieces + [SEP])", 4, NULL},
    {"--doc-stride", NULL, OPT_INT, OFF(task_options.doc_stride), TASKS, "N: qa window overlap", 0,
     NULL},
    {"--n-best", NULL, OPT_INT, OFF(task_options.n_best), TASKS,
     "N: qa start/end candidates per window", 1, NULL},
    {"--max-answer-len", NULL, OPT_INT, OFF(task_options.max_answer_len), TASKS,
     "N: qa longest answer in tokens", 1, NULL},
    {"--null-threshold", NULL, OPT_REAL, OFF(task_options.null_threshold), TASKS,
     "F: SQuAD 2.0: answer nothing when the null score beats the best span by more", 0, NULL},
    {"--random-backbone", NULL, OPT_FLAG, OFF(random_backbone), "train",
     "HF-initialize the backbone from config.json (--seed) instead of loading its weights:"
     " the baseline that shows what pretraining buys",
     0, NULL},
    {"--hparams", NULL, OPT_STR, OFF(hparams), "train",
     "NAME: THUDM's run-script settings (boolq copa rte wic wsc conll03 conll04 conll05 squad);"
     " other options override them",
     0, NULL},
    /* the PEFT method */
    {"--method", NULL, OPT_METHOD, OFF(method), "train|inspect",
     "NAME: the PEFT method (ptune methods lists them with their options, which this command\n"
     "takes too: --method lora --lora-r 16)",
     0, NULL},
    {"--head", NULL, OPT_CHOICE, OFF(head), "train|inspect",
     "linear|verbalizer: cls: a classifier on the pooled [CLS], or the label words scored by\n"
     "the model's masked-LM head at a [MASK] put after [CLS]",
     0, heads},
    {"--label-words", NULL, OPT_STR, OFF(label_words), "train",
     "W1,W2,...: the verbalizer's word for each label, in the labels' order (one token each)",
     0, NULL},
    {"--save-format", NULL, OPT_CHOICE, OFF(save_format), "train",
     "ptune|peft|both: best/ and last/ in ptune's layout (resumable), peft's, or both\n"
     "(peft's in best/peft)",
     0, save_formats},
    {"--prefix", NULL, OPT_INT, OFF(bench_prefix), "bench model", "N: prefix length", 0, NULL},
    {"--init-adapter", NULL, OPT_STR, OFF(init_adapter), "train",
     "DIR: start from this adapter, ptune's layout or peft's (its method, options and\n"
     "id2label)",
     0, NULL},
    {"--task-spec", NULL, OPT_LIST, OFF(task_specs), "train",
     "NAME:KEY=VALUE,...: multi-task training: one adapter per spec (repeatable), its rows in\n"
     "every batch; KEYs are this command's options of one adapter (task, train, dev, method and\n"
     "its options, head, label-words, init-adapter, save-format, the task's options), e.g.\n"
     "ner:task=ner,train=F,method=lora,lora-r=8; OUT/NAME/ gets best/ and last/ (docs/serving.md)",
     0, NULL},
    /* the training loop */
    {"--epochs", NULL, OPT_INT, OFF(epochs), "train", "N", 0, NULL},
    {"--max-steps", "--steps", OPT_INT, OFF(max_steps), TRAIN_LOOP,
     "N: optimizer steps (train: overrides --epochs)", 0, NULL},
    {"--minutes", NULL, OPT_NUM, OFF(minutes), "pretrain",
     "M: instead of --max-steps, the steps that fit (timed on the first steps)", 0, NULL},
    {"--batch-size", NULL, OPT_INT, OFF(batch_size), TASKS "|pretrain", "N", 1, NULL},
    {"--batch", NULL, OPT_INT, OFF(batch_size), "bench model", "N", 1, NULL},
    {"--grad-accum", NULL, OPT_INT, OFF(grad_accum), TRAIN_LOOP, "N: micro-batches per optimizer step",
     1, NULL},
    {"--step-timeout", NULL, OPT_NUM, OFF(step_timeout), TRAIN_LOOP,
     "S: under mpirun, a rank that waits S seconds for another ends the job naming it and the "
     "step (0: wait forever)", 0, NULL},
    {"--lr", NULL, OPT_NUM, OFF(lr), TRAIN_LOOP, "F", 0, NULL},
    {"--optimizer", NULL, OPT_CHOICE, OFF(optimizer), "train", "adamw|sgd", 0, optimizers},
    {"--weight-decay", NULL, OPT_NUM, OFF(weight_decay), TRAIN_LOOP, "F", 0, NULL},
    {"--hf-no-decay", NULL, OPT_FLAG, OFF(hf_no_decay), "train",
     "no weight decay on biases and LayerNorm", 0, NULL},
    {"--momentum", NULL, OPT_NUM, OFF(momentum), "train", "F: SGD momentum", 0, NULL},
    {"--max-grad-norm", "--clip", OPT_NUM, OFF(max_grad_norm), TRAIN_LOOP,
     "F: clip the global gradient norm (0: off)", 0, NULL},
    {"--on-nonfinite", NULL, OPT_CHOICE, OFF(on_nonfinite), TRAIN_LOOP,
     "stop|skip: a NaN/Inf loss or gradient norm ends the run or skips that update", 0, nonfinite},
    {"--warmup", NULL, OPT_NUM, OFF(warmup), "train",
     "F: warmup, a share of the steps if < 1, else steps", 0, NULL},
    {"--warmup-frac", NULL, OPT_NUM, OFF(warmup_frac), "pretrain", "F: warmup share of the steps",
     0, NULL},
    {"--schedule", NULL, OPT_CHOICE, OFF(schedule), "train", "constant|linear|exp", 0, schedules},
    {"--gamma", NULL, OPT_NUM, OFF(gamma), "train", "F: exp schedule factor per epoch", 0, NULL},
    {"--dropout", NULL, OPT_NUM, OFF(dropout), "train",
     "F: overrides the model's hidden/attention dropout", 0, NULL},
    {"--dropout", NULL, OPT_NUM, OFF(dropout), "pretrain",
     "F: hidden and attention dropout while pretraining", 0, NULL},
    {"--seed", NULL, OPT_U64, OFF(seed), TRAIN_LOOP "|gradcheck", "N", 0, NULL},
    {"--no-shuffle", NULL, OPT_FLAG, OFF(no_shuffle), "train", "keep the file order", 0, NULL},
    {"--eval-every", NULL, OPT_INT, OFF(eval_every), "train", "N steps (0: once per epoch)", 0,
     NULL},
    {"--eval-every", NULL, OPT_INT, OFF(eval_every), "pretrain",
     "N steps between held-out evaluations (0: a tenth of the steps)", 0, NULL},
    {"--save-every", NULL, OPT_INT, OFF(save_every), TRAIN_LOOP, "N steps between checkpoints", 0,
     NULL},
    {"--log-every", NULL, OPT_INT, OFF(log_every), TRAIN_LOOP, "N steps between metrics lines", 0,
     NULL},
    {"--threads", NULL, OPT_INT, OFF(threads), TASKS "|pretrain|fill-mask|serve",
     "N OpenMP threads (default: all)", 0, NULL},
    {"--backbone-dtype", NULL, OPT_CHOICE, OFF(backbone_dtype), TASKS "|serve|bench model",
     "f32|bf16: how the frozen backbone matrices are kept; bf16 halves their memory and\n"
     "runs their GEMMs with bf16 inputs and f32 accumulation (what trains stays f32; a\n"
     "method that trains backbone matrices, as finetune, needs f32)",
     0, backbone_dtypes},
    {"--resume", NULL, OPT_FLAG, OFF(resume), TRAIN_LOOP, "continue from OUT's last checkpoint", 0,
     NULL},
    {"--stop-after", NULL, OPT_INT, OFF(stop_after), TRAIN_LOOP,
     "N: stop after step N as if killed (testing)", 0, NULL},
    {"--quiet", NULL, OPT_FLAG, OFF(quiet), TRAIN_LOOP, "no progress output", 0, NULL},
    /* pretrain */
    {"--corpus", NULL, OPT_LIST, OFF(corpus), "pretrain",
     "PATH...: text files or directories (their *.txt files, recursively)", 0, NULL},
    {"--vocab", NULL, OPT_STR, OFF(vocab), "pretrain",
     "FILE: WordPiece vocab.txt (e.g. bert-base-uncased's), or its directory", 0, NULL},
    {"--layers", NULL, OPT_INT, OFF(layers), "pretrain|bench model", "N", 1, NULL},
    {"--hidden", NULL, OPT_INT, OFF(hidden), "pretrain|bench model", "N", 1, NULL},
    {"--heads", NULL, OPT_INT, OFF(heads), "pretrain", "N", 1, NULL},
    {"--intermediate", NULL, OPT_INT, OFF(intermediate), "pretrain", "N", 1, NULL},
    {"--max-position", NULL, OPT_INT, OFF(max_position), "pretrain",
     "N: position embeddings (default: --max-seq-len)", 0, NULL},
    {"--heldout-frac", NULL, OPT_NUM, OFF(heldout_frac), "pretrain",
     "F: sequences held out for the held-out MLM loss and accuracy", 0, NULL},
    {"--eval-seed", NULL, OPT_U64, OFF(eval_seed), "pretrain", "N: the held-out set's masking", 0,
     NULL},
    {"--mask-prob", NULL, OPT_NUM, OFF(mask_prob), "pretrain", "F: the share of tokens masked", 0,
     NULL},
    {"--whole-word-mask", NULL, OPT_FLAG, OFF(whole_word_mask), "pretrain",
     "mask all pieces of a word together", 0, NULL},
    {"--bias-init", NULL, OPT_CHOICE, OFF(bias_init), "pretrain",
     "unigram|zero: decoder bias start: the log unigram frequencies of the training\n"
     "tokens (skips the first plateau) or zeros",
     0, bias_inits},
    {"--position-init", NULL, OPT_CHOICE, OFF(position_init), "pretrain",
     "sinusoid|normal: position table start: sin/cos waves of HF's RMS (offsets are\n"
     "linear maps) or HF's N(0, 0.02)",
     0, position_inits},
    {"--attention-init", NULL, OPT_CHOICE, OFF(attention_init), "pretrain",
     "offset|normal: query/key start: heads attending to the tokens at offsets -1, +1,\n"
     "-2, +2, ... (needs the sinusoid table and an even head size) or HF's N(0, 0.02),\n"
     "which leaves small models on the unigram plateau much longer",
     0, attention_inits},
    {"--save-dtype", NULL, OPT_CHOICE, OFF(save_dtype), "pretrain",
     "f32|f16|bf16: precision of the saved model.safetensors (training and checkpoints\n"
     "are always F32)",
     0, save_dtypes},
    /* fill-mask and tokenize */
    {"TEXT", NULL, OPT_LIST, OFF(texts), "fill-mask",
     "...: texts with [MASK] (the tokenizer's mask token); '-' reads one per line from stdin", 0,
     NULL},
    {"--top-k", NULL, OPT_INT, OFF(top_k), "fill-mask", "N: guesses per [MASK]", 1, NULL},
    {"--json", NULL, OPT_FLAG, OFF(json), "fill-mask",
     "one line per text: {\"text\", \"masks\": [[{\"token\", \"token_str\", \"score\"}, ...]]}", 0,
     NULL},
    {"--json", NULL, OPT_FLAG, OFF(json), "bench ops|bench model", "one JSON line per result", 0,
     NULL},
    {"--input", NULL, OPT_STR, OFF(input), "tokenize",
     "FILE: jsonl with \"text\" and optional \"text_pair\"", 0, NULL},
    {"--max-length", NULL, OPT_INT, OFF(max_length), "tokenize",
     "N: truncate (longest_first unless --truncation) to N tokens", 1, NULL},
    {"--truncation", NULL, OPT_CHOICE, OFF(truncation), "tokenize",
     "longest_first|only_first|only_second", 0, truncations},
    {"--padding", NULL, OPT_FLAG, OFF(padding), "tokenize", "pad to --max-length", 0, NULL},
    {"--offsets", NULL, OPT_FLAG, OFF(offsets), "tokenize",
     "add \"offsets\": [[start, end], ...] in code points", 0, NULL},
    {"--no-special-tokens", NULL, OPT_FLAG, OFF(no_special_tokens), "tokenize",
     "no [CLS]/[SEP] (<s>/</s>)", 0, NULL},
    /* serve */
    {"--model", NULL, OPT_STR, OFF(model), "serve",
     "DIR: the backbone (config.json, weights, tokenizer) every adapter shares", 0, NULL},
    {"--adapter", NULL, OPT_LIST, OFF(serve_adapters), "serve",
     "NAME=DIR...: adapters to serve (ptune's or peft's layout; repeatable)", 0, NULL},
    {"--host", NULL, OPT_STR, OFF(host), "serve", "ADDR: the address to listen on (default 127.0.0.1)", 0,
     NULL},
    {"--port", NULL, OPT_INT, OFF(port), "serve", "N: the port (0: any free one, printed)", 0,
     NULL},
    {"--token-file", NULL, OPT_STR, OFF(token_file), "serve",
     "F: clients send 'Authorization: Bearer <first line of F>' (every route but\n"
     "/healthz); loading and unloading adapters always need it",
     0, NULL},
    {"--max-batch-tokens", NULL, OPT_INT, OFF(max_batch_tokens), "serve",
     "N: rows x (sequence + prefix or prompt) taken into one batch, and in one encoder pass, "
     "at most", 1, NULL},
    {"--max-wait-ms", NULL, OPT_NUM, OFF(max_wait_ms), "serve",
     "F: how long a request waits for others to join its batch", 0, NULL},
    {"--queue-size", NULL, OPT_INT, OFF(queue_size), "serve",
     "N: requests waiting at most; more get 503", 1, NULL},
    {"--max-body-bytes", NULL, OPT_INT, OFF(max_body_bytes), "serve",
     "N: larger request bodies get 413", 64, NULL},
    {"--max-inputs", NULL, OPT_INT, OFF(max_inputs), "serve", "N: inputs per request at most",
     1, NULL},
    {"--timeout-ms", NULL, OPT_INT, OFF(timeout_ms), "serve",
     "N: a request's deadline; one still waiting then gets 504", 1, NULL},
    {"--max-connections", NULL, OPT_INT, OFF(max_connections), "serve",
     "N: open connections at most", 1, NULL},
    /* gradcheck and bench */
    {"--op", NULL, OPT_LIST, OFF(ops), "gradcheck", "NAME...: only these ops", 0, NULL},
    {"--list", NULL, OPT_FLAG, OFF(list), "gradcheck", "print the op names", 0, NULL},
    {"--quick", NULL, OPT_FLAG, OFF(quick), "bench ops", "small shapes (a smoke test)", 0, NULL},
    {"--reps", NULL, OPT_INT, OFF(reps), "bench ops", "N: timed runs per figure (1..101)", 1, NULL},
    {"--mode", NULL, OPT_CHOICE, OFF(bench_mode), "bench model", "ptv2|full|infer|mlm", 0,
     bench_modes},
    {"--seq", NULL, OPT_INT, OFF(task_options.max_seq_len), "bench model", "N: sequence length", 1,
     NULL},
    {"--steps", NULL, OPT_INT, OFF(timed_steps), "bench model", "N: timed steps", 0, NULL},
    {"--warmup", NULL, OPT_INT, OFF(warmup_steps), "bench model", "N: untimed steps first", 0,
     NULL},
};
#define N_OPTIONS ((int)(sizeof options / sizeof options[0]))
_Static_assert(N_OPTIONS <= OPTION_ROWS_MAX, "run_args.given has a bit per option row");
_Static_assert(sizeof(pt_optim_kind) == sizeof(int) && sizeof(pt_sched_kind) == sizeof(int) &&
                   sizeof(pt_dtype) == sizeof(int) && sizeof(nonfinite_policy) == sizeof(int) &&
                   sizeof(tag_scheme) == sizeof(int),
               "choices are stored as int");

/* Whether `list` ("a|b c|d") names `command`. */
static bool names(const char *list, const char *command) {
  size_t n = strlen(command);
  for (const char *p = list; p; p = strchr(p, '|')) {
    if (*p == '|') p++;
    if (!strncmp(p, command, n) && (p[n] == '|' || p[n] == '\0')) return true;
  }
  return false;
}

/* The row `name` (or alias) of `command`, or NULL. */
static const option *find(const char *command, const char *name) {
  for (int i = 0; i < N_OPTIONS; i++)
    if (names(options[i].commands, command) &&
        (!strcmp(options[i].name, name) || (options[i].alias && !strcmp(options[i].alias, name))))
      return &options[i];
  return NULL;
}

/* The positional-argument row of `command`, or NULL. */
static const option *positional(const char *command) {
  for (int i = 0; i < N_OPTIONS; i++)
    if (names(options[i].commands, command) && options[i].name[0] != '-') return &options[i];
  return NULL;
}

static bool is_option(const char *arg) { return arg[0] == '-' && arg[1] == '-'; }

/* An integer; also an integral number such as 1e3. */
static pt_status parse_int(const char *opt, const char *v, int64_t *out) {
  char *end;
  errno = 0;
  long long x = strtoll(v, &end, 10);
  if (!errno && end != v && !*end) {
    *out = x;
    return PT_OK;
  }
  errno = 0;
  double d = strtod(v, &end);
  if (errno || end == v || *end || !isfinite(d) || d != floor(d) || fabs(d) > 9e18)
    return pt_error(PT_ERR_ARG, "%s: '%s' is not an integer", opt, v);
  *out = (int64_t)d;
  return PT_OK;
}

static pt_status parse_choice(const option *o, const char *v, int *out) {
  char list[256] = "";
  for (const option_choice *c = o->choices; c->name; c++) {
    if (!strcmp(c->name, v)) {
      *out = c->value;
      return PT_OK;
    }
    strncat(list, c == o->choices ? "" : c[1].name ? ", " : " or ", sizeof list - strlen(list) - 1);
    strncat(list, c->name, sizeof list - strlen(list) - 1);
  }
  return pt_error(PT_ERR_ARG, "%s: unknown value '%s' (%s)", o->name, v, list);
}

static pt_status set_method(run_args *a, const char *name);

static pt_status parse_value(const option *o, const char *v, run_args *a) {
  char *dst = (char *)a + o->off;
  switch (o->kind) {
    case OPT_STR: *(const char **)dst = v; return PT_OK;
    case OPT_INT: {
      int64_t x = 0;
      PT_TRY(parse_int(o->name, v, &x));
      if (x < 0) return pt_error(PT_ERR_ARG, "%s: must not be negative, got %s", o->name, v);
      if (x < o->min)
        return pt_error(PT_ERR_ARG, "%s must be at least %lld", o->name, (long long)o->min);
      *(int64_t *)dst = x;
      return PT_OK;
    }
    case OPT_U64: {
      char *end;
      errno = 0;
      unsigned long long x = strtoull(v, &end, 10);
      if (errno || end == v || *end || v[0] == '-')
        return pt_error(PT_ERR_ARG, "%s: '%s' is not a non-negative integer", o->name, v);
      *(uint64_t *)dst = x;
      return PT_OK;
    }
    case OPT_NUM:
    case OPT_REAL: {
      char *end;
      errno = 0;
      double x = strtod(v, &end);
      if (errno || end == v || *end || !isfinite(x))
        return pt_error(PT_ERR_ARG, "%s: '%s' is not a number", o->name, v);
      if (o->kind == OPT_NUM && x < 0)
        return pt_error(PT_ERR_ARG, "%s: '%s' is not a non-negative number", o->name, v);
      *(double *)dst = x;
      return PT_OK;
    }
    case OPT_CHOICE: return parse_choice(o, v, (int *)dst);
    case OPT_TASK: {
      if ((a->task = task_find(v))) return PT_OK;
      char all[256];
      task_names(all, sizeof all, ", ", " or ");
      return pt_error(PT_ERR_ARG, "--task: unknown task '%s' (%s)", v, all);
    }
    case OPT_METHOD: return set_method(a, v);
    case OPT_LIST: {
      option_list *l = (option_list *)dst;
      if (l->n == OPTION_LIST_MAX)
        return pt_error(PT_ERR_ARG, "%s: more than %d values", o->name, OPTION_LIST_MAX);
      l->v[l->n++] = v;
      return PT_OK;
    }
    case OPT_FLAG: *(bool *)dst = true; return PT_OK;
  }
  return PT_OK;
}

/* --method NAME: the method and its options at their defaults (options of
 * another method given before are dropped). */
static pt_status set_method(run_args *a, const char *name) {
  const pt_method *me = pt_method_find(name);
  if (!me) return pt_error_context(PT_ERR_ARG, "--method");
  if (me == a->method) return PT_OK;
  run_args_free(a);
  void *opts = calloc(1, me->opts_size ? me->opts_size : 1);
  if (!opts) return pt_error(PT_ERR_NOMEM, "--method: out of memory");
  pt_status st = pt_options_init(me->options, opts);
  if (st != PT_OK) {
    free(opts);
    return st;
  }
  a->method = me;
  a->method_opts = opts;
  return PT_OK;
}

void run_args_free(run_args *a) {
  if (a->method && a->method_opts) pt_options_free(a->method->options, a->method_opts);
  free(a->method_opts);
  a->method_opts = NULL;
  a->method = NULL;
}

pt_status run_args_method_option(run_args *a, const char *flag, const char *value) {
  const pt_option *o = a->method ? pt_option_find_flag(a->method->options, flag) : NULL;
  if (!o)
    return pt_error(PT_ERR_ARG, "--%s is not an option of method %s", flag,
                    a->method ? a->method->name : "(none)");
  return pt_option_set_text(o, a->method_opts, value);
}

/* args[i] names an option of the method: its value (a bool takes "true"
 * or "false" when one follows, else it is set). Returns how many extra
 * args it read, or -1 with the error set; NULL *o: not the method's. */
static int method_arg(run_args *a, int n, char **args, int i, const pt_option **o) {
  *o = a->method ? pt_option_find_flag(a->method->options, args[i] + 2) : NULL;
  if (!*o) return 0;
  const char *v = i + 1 < n ? args[i + 1] : NULL;
  bool has_value = v && !(v[0] == '-' && v[1] == '-');
  if ((*o)->type == PT_OPT_BOOL && has_value && strcmp(v, "true") && strcmp(v, "false"))
    has_value = false;
  if (!has_value && (*o)->type != PT_OPT_BOOL) {
    pt_error(PT_ERR_ARG, "%s needs a value", args[i]);
    return -1;
  }
  if (pt_option_set_text(*o, a->method_opts, has_value ? v : "true") != PT_OK) return -1;
  return has_value ? 1 : 0;
}

static void mark(run_args *a, const option *o) {
  int i = (int)(o - options);
  a->given[i / 64] |= 1ULL << (i % 64);
}

bool option_given(const run_args *a, const char *name) {
  for (int i = 0; i < N_OPTIONS; i++)
    if (!strcmp(options[i].name, name) && names(options[i].commands, a->command) &&
        (a->given[i / 64] >> (i % 64) & 1))
      return true;
  return false;
}

bool option_run_wide(const char *command, const char *name) {
  static const char *const own[] = {"--task", "--train",      "--dev",          "--method",
                                    "--head", "--label-words", "--init-adapter", "--save-format"};
  const option *o = find(command, name);
  if (!o) return false; /* a method's option, or unknown */
  for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
    if (!strcmp(o->name, own[i])) return false;
  /* how its data is read and scored: the task's options */
  return o->off < offsetof(run_args, task_options) ||
         o->off >= offsetof(run_args, task_options) + sizeof(task_opts);
}

void option_mark_given(run_args *a, const char *name) {
  const option *o = find(a->command, name);
  if (o) mark(a, o);
}

/* Parses args[0..n) into a (from_user: the command line, whose rows count as
 * given). */
static pt_status parse_args(run_args *a, int n, char **args, bool from_user) {
  const option *pos = positional(a->command);
  for (int i = 0; i < n; i++) {
    const char *arg = args[i];
    if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
      a->help = true;
      return PT_OK;
    }
    const option *o = is_option(arg) ? find(a->command, arg) : pos;
    if (!o && is_option(arg) && find(a->command, "--method")) { /* the method's own options */
      const pt_option *mo;
      int used = method_arg(a, n, args, i, &mo);
      if (used < 0) return pt_error_code();
      if (mo) {
        i += used;
        continue;
      }
      return pt_error(PT_ERR_ARG, "unknown option '%s' (see --help; method %s's options: ptune "
                      "methods)", arg, a->method ? a->method->name : "?");
    }
    if (!o) return pt_error(PT_ERR_ARG, "unknown option '%s' (see --help)", arg);
    if (from_user) mark(a, o);
    if (o == pos && !is_option(arg)) {
      PT_TRY(parse_value(o, arg, a));
    } else if (o->kind == OPT_FLAG) {
      PT_TRY(parse_value(o, NULL, a));
    } else if (o->kind == OPT_LIST) {
      if (i + 1 >= n || is_option(args[i + 1]))
        return pt_error(PT_ERR_ARG, "%s needs a value", arg);
      while (i + 1 < n && !is_option(args[i + 1])) PT_TRY(parse_value(o, args[++i], a));
    } else {
      if (i + 1 >= n) return pt_error(PT_ERR_ARG, "%s needs a value", arg);
      PT_TRY(parse_value(o, args[++i], a));
    }
  }
  return PT_OK;
}

/* Splits a defaults string into words (in a copy the caller frees). */
static pt_status split(const char *defaults, char **copy, char **words, int cap, int *n) {
  *n = 0;
  *copy = strdup(defaults ? defaults : "");
  if (!*copy) return pt_error(PT_ERR_NOMEM, "options: out of memory");
  char *save = NULL;
  for (char *w = strtok_r(*copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
    if (*n == cap) return pt_error(PT_ERR_ARG, "options: more than %d words of defaults", cap);
    words[(*n)++] = w;
  }
  return PT_OK;
}

/* The defaults are parsed from a copy that is freed again: strings in a
 * must not point into it, so string defaults are not allowed. */
static pt_status parse_defaults(run_args *a, const char *defaults) {
  char *copy, *words[128];
  int n;
  pt_status st = split(defaults, &copy, words, 128, &n);
  for (int i = 0; st == PT_OK && i < n; i++)
    if (is_option(words[i])) {
      const option *o = find(a->command, words[i]);
      if (o && (o->kind == OPT_STR || o->kind == OPT_LIST))
        st = pt_error(PT_ERR_ARG, "%s: a string default (%s)", a->command, words[i]);
    }
  if (st == PT_OK) st = parse_args(a, n, words, false);
  free(copy);
  return st;
}

/* What a row's kind cannot say: limits that depend on other options. */
static pt_status check(const run_args *a) {
  if (find(a->command, "--label-words") && a->label_words && a->head != PT_HEAD_VERBALIZER)
    return pt_error(PT_ERR_ARG, "--label-words goes with --head verbalizer");
  if (find(a->command, "--head") && a->head == PT_HEAD_VERBALIZER && a->task &&
      a->task->head != PT_TASK_SEQUENCE_CLASSIFICATION)
    return pt_error(PT_ERR_ARG, "--head verbalizer is for sequence classification (cls), not --task "
                    "%s", a->task->name);
  for (int i = 0; i < 2; i++) {
    const char *ner_only = i ? "--scheme" : "--ner-mode";
    if (a->task && strcmp(a->task->name, "ner") && option_given(a, ner_only))
      return pt_error(PT_ERR_ARG, "%s: only --task ner scores entities, not --task %s", ner_only,
                      a->task->name);
  }
  if (find(a->command, "--dropout") && a->dropout >= 1)
    return pt_error(PT_ERR_ARG, "--dropout: must be below 1, got %g", a->dropout);
  if (find(a->command, "--warmup-frac") && a->warmup_frac > 1)
    return pt_error(PT_ERR_ARG, "--warmup-frac: must be at most 1, got %g", a->warmup_frac);
  return PT_OK;
}

pt_status run_args_parse_with(const char *command, const char *defaults, const char *required,
                              int argc, char **argv, run_args *a) {
  memset(a, 0, sizeof *a);
  a->command = command;
  a->argc = argc;
  a->argv = argv;
  a->save_format = PT_LAYOUT_PTUNE;
  pt_status st = parse_defaults(a, defaults);
  /* the method first (ptv2 unless named), so its options parse wherever they stand */
  if (st == PT_OK && find(command, "--method")) {
    const char *name = "ptv2";
    for (int i = 1; i + 1 < argc; i++)
      if (!strcmp(argv[i], "--method")) name = argv[i + 1];
    st = set_method(a, name);
  }
  for (int i = 1; st == PT_OK && i + 1 < argc; i++) /* the preset next, so options override it */
    if (!strcmp(argv[i], "--hparams") && find(command, "--hparams"))
      st = hparams_apply(argv[i + 1], a);
  if (st == PT_OK) st = parse_args(a, argc - 1, argv + 1, true);
  if (st != PT_OK) {
    run_args_free(a);
    return st;
  }
  if (a->help) return PT_OK;
  /* a --dropout of the command line sets both dropouts, a preset's only the hidden one */
  if (option_given(a, "--dropout")) a->dropout_hidden_only = false;
  /* the task's sequence length unless given (a default may shrink to fit the model) */
  if (a->task && !option_given(a, "--max-seq-len"))
    a->task_options.max_seq_len = a->task->max_seq_len;
  st = check(a);
  if (st == PT_OK) st = options_require(a, required);
  if (st != PT_OK) run_args_free(a);
  return st;
}

pt_status options_require(const run_args *a, const char *required) {
  char *copy, *words[32];
  int n;
  pt_status st = split(required, &copy, words, 32, &n);
  for (int i = 0; st == PT_OK && i < n; i++) {
    const option *o = find(a->command, words[i]);
    if (!o || a->given[(o - options) / 64] >> ((o - options) % 64) & 1) continue;
    if (o->kind == OPT_TASK) {
      char all[256];
      task_names(all, sizeof all, ", ", " or ");
      st = pt_error(PT_ERR_ARG, "--task is required (%s)", all);
    } else {
      st = pt_error(PT_ERR_ARG, "%s is required (see --help)", o->name);
    }
  }
  free(copy);
  return st;
}

/* The default of row o in `defaults` ("--lr 0.01 ..."), or NULL. */
static const char *default_of(const option *o, const char *defaults, char *buf, size_t cap) {
  size_t n = strlen(o->name);
  for (const char *p = defaults ? strstr(defaults, o->name) : NULL; p; p = strstr(p + 1, o->name)) {
    if ((p != defaults && p[-1] != ' ') || p[n] != ' ') continue;
    const char *v = p + n + 1, *end = strchr(v, ' ');
    snprintf(buf, cap, "%.*s", (int)(end ? end - v : (ptrdiff_t)strlen(v)), v);
    return buf;
  }
  return NULL;
}

void options_usage(const char *command, const char *defaults, FILE *f) {
  char tasks[256], name[64], def[64];
  task_names(tasks, sizeof tasks, "|", "|");
  for (int i = 0; i < N_OPTIONS; i++) {
    const option *o = &options[i];
    if (!names(o->commands, command)) continue;
    snprintf(name, sizeof name, "%s%s%s", o->name, o->alias ? ", " : "", o->alias ? o->alias : "");
    fprintf(f, "  %-22s ", name);
    for (const char *h = o->help ? o->help : tasks; *h; h++) {
      fputc(*h, f);
      if (*h == '\n') fprintf(f, "  %-22s ", "");
    }
    if (default_of(o, defaults, def, sizeof def)) fprintf(f, " (default %s)", def);
    fputc('\n', f);
  }
  fprintf(f, "  %-22s %s\n", "--help", "this text");
}

void options_usage_method(const pt_method *me, FILE *f) {
  fprintf(f, "\noptions of --method %s (%s):\n", me->name, me->summary);
  pt_options_usage(me->options, f);
}
