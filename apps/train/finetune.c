/* The job of `ptune train`: the base model, and for each adapter of the
 * run (one, or one per --task-spec) its label map, task features, method,
 * head and model on the one backbone; the optimizer and schedule; the
 * micro-batches in epoch order (a fixed permutation per epoch from --seed,
 * or file order), dev evaluations (best/ keeps the best adapter), last/,
 * the curves and the result, all run by the loop of loop.c.
 *
 * Multi-task runs (docs/serving.md): every micro-batch holds the next
 * --batch-size rows of each adapter's own epoch order, run in one encoder
 * pass (pt_mixed_forward) whose loss is the sum of the adapters' mean
 * losses, so each adapter's gradient is the one its own run on those rows
 * gives; clipping is per adapter, for the same reason. The epochs are those
 * of the adapter with the most batches (the lead); the others start their
 * next epoch when theirs runs out. With one spec the run is `ptune train`'s
 * bit for bit, in OUT/NAME/. (The adapters of a multi-task run draw their
 * initialization one after the other, after a backbone with every head's
 * parts, so they start elsewhere than their own runs would, unless they
 * start from an --init-adapter.) */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "apps/cli/plot.h"
#include "apps/tasks/task.h"
#include "apps/train/loop.h"
#include "apps/train/ranks.h"
#include "apps/train/task_spec.h"
#include "apps/train/train.h"
#include "autograd/pt_autograd.h"
#include "autograd/pt_ops.h"
#include "models/pt_hf.h"
#include "models/pt_mixed.h"
#include "models/pt_model_io.h"
#include "tensor/pt_file.h"

/* One adapter of the run. */
typedef struct {
  task_spec spec;             /* its name and options: the run's, or its --task-spec's */
  const run_args *a;          /* &spec.args (max_seq_len may shrink to fit the model) */
  char out[4200];             /* its best/ and last/: OUT, or OUT/NAME */
  label_map map;
  task_data train, dev;
  pt_adapter_info init;       /* --init-adapter's description */
  const pt_method *method;    /* --method, or the init adapter's */
  const void *method_opts;
  pt_head_config head;
  int64_t words[4096];        /* the verbalizer's label words */
  pt_model model;
  bool model_ok;
  int64_t *order;             /* its epoch's example order */
  const task_feature **batch; /* a micro-batch's features */
  int64_t epoch, pos;         /* its place in its data (the lead's: the loop state's) */
  bool placed;                /* order holds its epoch's order (place_tasks_at) */
  /* a multi-task run's best evaluation of this adapter */
  bool has_best;
  double best;
} ft_task;

typedef struct {
  const run_args *a; /* the run's options */
  pt_tokenizer *tok;
  pt_backbone bb;
  ft_task *tasks;
  int n, lead;       /* adapters; the one whose epochs are the run's */
  bool multi;        /* --task-spec: OUT/NAME/ per adapter */
  pt_optim *opt;
  int64_t pad_id;
  double t_read, t_tokenize, t_batch, t_eval;
} finetune;

/* The epoch's example order: identity with --no-shuffle, else a
 * Fisher-Yates shuffle driven by (seed, epoch). */
static void epoch_order(const run_args *a, int64_t epoch, int64_t *perm, int64_t n) {
  for (int64_t i = 0; i < n; i++) perm[i] = i;
  if (a->no_shuffle) return;
  pt_rng r;
  pt_rng_init(&r, pt_rng_bits(a->seed, 0x5eed0000ULL + (uint64_t)epoch));
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)pt_rng_below(&r, (uint64_t)i + 1);
    int64_t t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
}

/* ---- setup ------------------------------------------------------------------ */

/* The method, head and labels: --init-adapter's (either layout), else
 * the command line's and the task's preset labels. *grow: unseen labels of
 * the data may be added. */
static pt_status setup_labels(ft_task *t, bool *grow) {
  const run_args *a = t->a;
  t->method = a->method;
  t->method_opts = a->method_opts;
  t->head = (pt_head_config){a->task->head, (pt_head_kind)a->head, 0, NULL, -1};
  *grow = true;
  if (!a->init_adapter) {
    PT_TRY(task_preset_labels(a->task, &a->task_options, &t->map));
    *grow = t->map.n == 0; /* a preset's label set is fixed too */
    return PT_OK;
  }
  PT_TRY(pt_adapter_info_read(a->init_adapter, a->model, &t->init));
  const pt_adapter_info *in = &t->init;
  *grow = false;
  if (in->head.task != a->task->head)
    return pt_error(PT_ERR_ARG, "%s: adapter is for %s, not --task %s", a->init_adapter,
                    pt_task_name(in->head.task), a->task->name);
  t->method = in->method;
  t->method_opts = in->opts;
  t->head = in->head;
  if (a->task->adapter_labels)
    PT_TRY(label_map_set(&t->map, (const char *const *)in->id2label, in->nlabels));
  return PT_OK;
}

/* --label-words: each label's word, one token of the vocabulary. */
static pt_status verbalizer_words(ft_task *t, const pt_tokenizer *tok) {
  const run_args *a = t->a;
  if (!a->label_words)
    return pt_error(PT_ERR_ARG, "--head verbalizer needs --label-words (a word for each of the %lld "
                    "labels, in order)", (long long)t->map.n);
  char *copy = strdup(a->label_words);
  if (!copy) return pt_error(PT_ERR_NOMEM, "train: out of memory");
  int64_t n = 0;
  pt_status st = PT_OK;
  char *save = NULL;
  for (char *w = strtok_r(copy, ",", &save); w && st == PT_OK; w = strtok_r(NULL, ",", &save)) {
    int64_t id = pt_tokenizer_token_id(tok, w);
    if (id < 0)
      st = pt_error(PT_ERR_ARG, "--label-words: '%s' is not one token of %s's vocabulary", w,
                    a->model);
    else if (n == (int64_t)(sizeof t->words / sizeof t->words[0]))
      st = pt_error(PT_ERR_ARG, "--label-words: too many words");
    else
      t->words[n++] = id;
  }
  free(copy);
  PT_TRY(st);
  if (n != t->map.n)
    return pt_error(PT_ERR_ARG, "--label-words: %lld words for %lld labels", (long long)n,
                    (long long)t->map.n);
  t->head.label_words = t->words;
  t->head.mask_token_id = pt_tokenizer_mask_id(tok);
  return PT_OK;
}

/* An adapter's labels and data (read, labels mapped), its head's size. */
static pt_status setup_data(finetune *f, ft_task *t) {
  const run_args *a = t->a;
  label_map_init(&t->map);
  bool grow;
  PT_TRY(setup_labels(t, &grow));
  /* --save-format: refused now rather than after the training it would save */
  pt_status st = pt_adapter_layout_check(t->method, t->head.kind, (pt_adapter_layout)a->save_format);
  if (st != PT_OK) return pt_error_context(st, "--save-format %s", pt_adapter_layout_name(a->save_format));
  PT_TRY(task_data_read(a->task, &a->task_options, a->train, true, &t->train));
  if (!t->train.labelled) return pt_error(PT_ERR_FORMAT, "%s: training data has no labels", a->train);
  PT_TRY(task_data_map_labels(&t->train, &t->map, grow));
  if (a->dev) {
    PT_TRY(task_data_read(a->task, &a->task_options, a->dev, true, &t->dev));
    PT_TRY(task_data_map_labels(&t->dev, &t->map, grow));
  }
  if (!a->init_adapter) t->head.num_labels = t->map.n > 0 ? t->map.n : 2;
  if (a->task->adapter_labels && t->map.n < 1) return pt_error(PT_ERR_FORMAT, "%s: no labels", a->train);
  if (t->head.kind == PT_HEAD_VERBALIZER && !a->init_adapter) PT_TRY(verbalizer_words(t, f->tok));
  t->spec.args.task_options.mask_after_first = t->head.kind == PT_HEAD_VERBALIZER;
  return PT_OK;
}

/* The backbone every adapter shares: config.json (dropout as the options
 * say), its weights unless --random-backbone, the parts every head needs.
 * In a multi-task run it stays as loaded (methods that train its biases
 * train private copies, so every method mixes in a batch). */
static pt_status setup_backbone(finetune *f) {
  const run_args *a = f->a;
  bool dropout = option_given(a, "--dropout") || a->dropout_hidden_only; /* or a preset's */
  pt_backbone_parts parts = {0};
  for (int i = 0; i < f->n; i++) {
    pt_backbone_parts p = pt_backbone_parts_for(f->tasks[i].head.task, f->tasks[i].head.kind);
    parts.pooler |= p.pooler;
    parts.mlm_head |= p.mlm_head;
  }
  PT_TRY(pt_backbone_load(&f->bb, a->model, parts, a->random_backbone, -1, a->seed));
  if (dropout) f->bb.bert.cfg.hidden_dropout = f->bb.bert.enc.hidden_dropout = a->dropout;
  if (dropout && !a->dropout_hidden_only)
    f->bb.bert.cfg.attention_dropout = f->bb.bert.enc.attention_dropout = a->dropout;
  f->bb.shared = f->multi;
  return PT_OK;
}

/* An adapter's model on the backbone: the method and head, the
 * --init-adapter's tensors. */
static pt_status setup_model(finetune *f, ft_task *t) {
  const run_args *a = t->a;
  if (a->init_adapter) PT_TRY(pt_adapter_info_check_base(&t->init, &f->bb.bert.cfg, a->init_adapter));
  /* the stream the backbone's initialization left: ptv2 starts as before
   * the method API; each adapter of a multi-task run draws after the one
   * before it */
  pt_model_config mc = {t->head, f->a->seed, &f->bb.init_rng, f->tok, a->init_adapter != NULL};
  pt_status st = pt_model_new(&t->model, &f->bb, t->method, t->method_opts, &mc);
  if (st != PT_OK && a->init_adapter) /* the options are its file's */
    return pt_error_context(st, "%s/adapter_config.json", a->init_adapter);
  PT_TRY(st);
  t->model_ok = true;
  /* what only the model knows (ptv2's prefix layers), also before training */
  st = pt_model_layout_check(&t->model, (pt_adapter_layout)a->save_format);
  if (st != PT_OK) return pt_error_context(st, "--save-format %s", pt_adapter_layout_name(a->save_format));
  PT_TRY(task_fit_max_seq_len(&t->spec.args.task_options, option_given(a, "--max-seq-len"),
                              &t->model, a->model));
  if (!a->init_adapter) return PT_OK;
  return pt_model_load_tensors(&t->model, a->init_adapter, &t->init);
}

/* The optimizer over every adapter's trainable tensors, in parameter
 * order; a multi-task run's state entries are named NAME/tensor. */
static pt_status setup_optimizer(finetune *f) {
  const run_args *a = f->a;
  if (a->optimizer == PT_OPTIM_SGD) {
    pt_sgd_opts so = {a->lr, a->momentum, 0, a->weight_decay, false};
    f->opt = pt_sgd_new(&so);
  } else {
    pt_adamw_opts ao = pt_adamw_defaults();
    ao.lr = a->lr;
    ao.weight_decay = a->weight_decay;
    f->opt = pt_adamw_new(&ao);
  }
  if (!f->opt) return pt_error_code();
  for (int k = 0; k < f->n; k++) {
    ft_task *t = &f->tasks[k];
    for (int i = 0; i < pt_model_ntrainable(&t->model); i++) {
      pt_tensor *p = pt_model_trainable(&t->model, i);
      char name[4300];
      if (f->multi) snprintf(name, sizeof name, "%s/%s", t->spec.name, p->name ? p->name : "");
      PT_TRY(pt_optim_add_param(f->opt, p, f->multi ? name : NULL,
                                a->hf_no_decay ? pt_decay_hf(p->name, NULL) : true));
    }
  }
  return PT_OK;
}

/* The adapters of the run: the command line's one, or one per --task-spec. */
static pt_status setup_tasks(finetune *f) {
  const run_args *a = f->a;
  f->multi = a->task_specs.n > 0;
  if (f->multi) PT_TRY(task_specs_check(a));
  else PT_TRY(options_require(a, "--task --train"));
  f->n = f->multi ? a->task_specs.n : 1;
  f->tasks = calloc((size_t)f->n, sizeof *f->tasks);
  if (!f->tasks) return pt_error(PT_ERR_NOMEM, "train: out of memory");
  for (int i = 0; i < f->n; i++) {
    ft_task *t = &f->tasks[i];
    if (f->multi) PT_TRY(task_spec_parse(a, a->task_specs.v[i], &t->spec));
    else t->spec.args = *a;
    t->a = &t->spec.args;
    if (f->multi) snprintf(t->out, sizeof t->out, "%s/%s", a->out, t->spec.name);
    else snprintf(t->out, sizeof t->out, "%s", a->out);
  }
  return PT_OK;
}

/* The lead: the adapter with the most batches in an epoch (the first of
 * equals). */
static int64_t batches_per_epoch(const finetune *f, const ft_task *t) {
  return (t->train.n + f->a->batch_size - 1) / f->a->batch_size;
}

/* Model, labels, data and optimizer. */
static pt_status setup(finetune *f) {
  const run_args *a = f->a;
  PT_TRY(setup_tasks(f));
  f->tok = pt_tokenizer_load(a->model);
  if (!f->tok) return pt_error_code();
  f->pad_id = pt_tokenizer_pad_id(f->tok);
  double t0 = seconds_now(); /* reading (train + dev) */
  for (int i = 0; i < f->n; i++) {
    pt_status st = setup_data(f, &f->tasks[i]);
    if (st != PT_OK && f->multi) return pt_error_context(st, "--task-spec %s", f->tasks[i].spec.name);
    PT_TRY(st);
  }
  PT_TRY(setup_backbone(f));
  for (int i = 0; i < f->n; i++) {
    pt_status st = setup_model(f, &f->tasks[i]);
    if (st != PT_OK && f->multi) return pt_error_context(st, "--task-spec %s", f->tasks[i].spec.name);
    PT_TRY(st);
  }
  PT_TRY(backbone_dtype_set(&f->bb, a->backbone_dtype)); /* once every adapter is on it */
  f->t_read = seconds_now() - t0;
  for (int i = 0; i < f->n; i++) {
    ft_task *t = &f->tasks[i];
    t0 = seconds_now();
    PT_TRY(task_data_encode(&t->train, f->tok, &t->a->task_options));
    f->t_tokenize += seconds_now() - t0;
    t0 = seconds_now();
    if (t->a->dev) PT_TRY(task_data_encode(&t->dev, f->tok, &t->a->task_options));
    f->t_eval += seconds_now() - t0;
    if (f->multi && t->train.n < 1) /* it would have no rows in the batches */
      return pt_error(PT_ERR_FORMAT, "--task-spec %s: %s has no training examples", t->spec.name,
                      t->a->train);
    t->order = malloc(sizeof(int64_t) * (size_t)(t->train.n > 0 ? t->train.n : 1));
    t->batch = malloc(sizeof(task_feature *) * (size_t)a->batch_size);
    if (!t->order || !t->batch) return pt_error(PT_ERR_NOMEM, "train: out of memory");
    if (batches_per_epoch(f, t) > batches_per_epoch(f, &f->tasks[f->lead])) f->lead = i;
  }
  return setup_optimizer(f);
}

static void teardown(finetune *f) {
  pt_optim_free(f->opt);
  for (int i = 0; f->tasks && i < f->n; i++) {
    ft_task *t = &f->tasks[i];
    free(t->order);
    free(t->batch);
    if (t->model_ok) pt_model_free(&t->model);
    pt_adapter_info_free(&t->init);
    task_data_free(&t->train);
    task_data_free(&t->dev);
    label_map_free(&t->map);
    if (f->multi) task_spec_free(&t->spec);
  }
  free(f->tasks);
  pt_backbone_free(&f->bb);
  pt_tokenizer_free(f->tok);
}

/* ---- the loop's hooks -------------------------------------------------------- */

static pt_status save_adapter(const ft_task *t, const char *dir, pt_adapter_layout layout) {
  return pt_model_save(&t->model, dir, layout, (int)t->map.n, (const char *const *)t->map.names,
                       t->a->model);
}

/* Checkpoints keep ptune's layout: lossless, what --resume reads back; a
 * multi-task run's adapters in ckpt-N/NAME/. */
static pt_status save_weights(void *ctx, const char *dir) {
  finetune *f = ctx;
  if (!f->multi) return save_adapter(&f->tasks[0], dir, PT_LAYOUT_PTUNE);
  for (int i = 0; i < f->n; i++) {
    char sub[4400];
    snprintf(sub, sizeof sub, "%s/%s", dir, f->tasks[i].spec.name);
    PT_TRY(save_adapter(&f->tasks[i], sub, PT_LAYOUT_PTUNE));
  }
  return PT_OK;
}

static pt_status load_adapter(ft_task *t, const char *dir) {
  pt_adapter_info info;
  PT_TRY(pt_adapter_info_read(dir, t->a->model, &info));
  pt_status st = pt_model_load_tensors(&t->model, dir, &info);
  pt_adapter_info_free(&info);
  return st;
}

static pt_status load_weights(void *ctx, const char *dir) {
  finetune *f = ctx;
  if (!f->multi) return load_adapter(&f->tasks[0], dir);
  for (int i = 0; i < f->n; i++) {
    char sub[4400];
    snprintf(sub, sizeof sub, "%s/%s", dir, f->tasks[i].spec.name);
    PT_TRY(load_adapter(&f->tasks[i], sub));
  }
  return PT_OK;
}

static pt_status save_named(const ft_task *t, const char *sub) {
  char dir[4400];
  snprintf(dir, sizeof dir, "%s/%s", t->out, sub);
  return save_adapter(t, dir, (pt_adapter_layout)t->a->save_format);
}

/* The adapter's next features: another epoch of its own when its data has
 * run out (the lead's epochs are the loop's: next_epoch). */
static int64_t next_features(finetune *f, ft_task *t) {
  if (t->pos >= t->train.n && t != &f->tasks[f->lead]) {
    t->epoch++;
    t->pos = 0;
    epoch_order(t->a, t->epoch, t->order, t->train.n);
  }
  int64_t B = f->a->batch_size, nb = t->train.n - t->pos < B ? t->train.n - t->pos : B;
  for (int64_t i = 0; i < nb; i++) t->batch[i] = &t->train.f[t->order[t->pos + i]];
  return nb;
}

/* The loss of the mixed batch: the sum of the adapters' mean losses (a new
 * reference). */
static pt_tensor *total_loss(const pt_model_outputs *outs, int n) {
  pt_tensor *total = pt_tensor_ref(outs[0].loss);
  for (int k = 1; total && k < n; k++) {
    pt_tensor *sum = pt_add(total, outs[k].loss);
    pt_tensor_free(total);
    total = sum;
  }
  return total;
}

/* Where each adapter is after the micro-batches before the lead's epoch
 * `epoch`, position `pos` (a fresh run, a resumed one, or micro-batch k of
 * a step on whichever rank runs it): the other adapters take one batch of
 * their own order per micro-batch of the lead's. */
static void place_tasks_at(finetune *f, int64_t epoch, int64_t pos) {
  ft_task *lead = &f->tasks[f->lead];
  int64_t B = f->a->batch_size;
  int64_t micro = epoch * batches_per_epoch(f, lead) + (pos + B - 1) / B;
  for (int i = 0; i < f->n; i++) {
    ft_task *t = &f->tasks[i];
    int64_t per = batches_per_epoch(f, t);
    int64_t e = t == lead ? epoch : per ? micro / per : 0;
    t->pos = t == lead ? pos : per ? (micro % per) * B : 0;
    if (e != t->epoch || !t->placed) epoch_order(t->a, e, t->order, t->train.n);
    t->epoch = e;
    t->placed = true;
  }
}

/* Micro-batch k of the step: the k-th batch_size features of each
 * adapter's epoch order from the step's start, forward (one encoder pass)
 * and backward. */
static pt_status micro_batch(train_job *j, train_state *s, int k, pt_rng *rng, micro_result *r,
                             bool *done) {
  finetune *f = j->ctx;
  ft_task *lead = &f->tasks[f->lead];
  int64_t pos = s->pos + (int64_t)k * f->a->batch_size;
  *done = pos >= lead->train.n;
  if (*done) return PT_OK;
  place_tasks_at(f, s->epoch, pos);
  task_batch *tb = calloc((size_t)f->n, sizeof *tb);
  pt_mixed_group *g = calloc((size_t)f->n, sizeof *g);
  pt_model_outputs *outs = calloc((size_t)f->n, sizeof *outs);
  int64_t *nb = calloc((size_t)f->n, sizeof *nb);
  pt_status st = tb && g && outs && nb ? PT_OK : pt_error(PT_ERR_NOMEM, "train: out of memory");
  int made = 0;
  double t0 = seconds_now();
  for (; st == PT_OK && made < f->n; made++) {
    ft_task *t = &f->tasks[made];
    nb[made] = next_features(f, t);
    st = task_batch_make(t->batch, nb[made], t->train.task->head, f->pad_id, true, &tb[made]);
    if (st != PT_OK) break;
    g[made] = (pt_mixed_group){&t->model, tb[made].b};
    r->tokens += tb[made].tokens;
  }
  f->t_batch += seconds_now() - t0;
  if (st == PT_OK) st = pt_mixed_forward(g, f->n, (pt_nn_mode){true, rng}, outs);
  if (st == PT_OK) {
    pt_tensor *loss = total_loss(outs, f->n);
    st = loss ? PT_OK : pt_error_code();
    if (st == PT_OK) {
      r->loss = pt_get(loss, 0);
      st = loop_backward(j, loss);
    }
    pt_tensor_free(loss);
    for (int i = 0; i < f->n; i++) pt_model_outputs_free(&outs[i]);
  }
  for (int i = 0; i < made; i++) task_batch_free(&tb[i]);
  free(tb);
  free(g);
  free(outs);
  free(nb);
  return st;
}

/* Past the step's grad_accum micro-batches (or to the epoch's end). */
static void end_step(train_job *j, train_state *s) {
  finetune *f = j->ctx;
  int64_t left = f->tasks[f->lead].train.n - s->pos, step = j->grad_accum * f->a->batch_size;
  s->pos += left < step ? left : step;
}

/* Each adapter's gradients clipped on their own (what its own run does);
 * *norm: the norm of all of them together. */
static pt_status clip(train_job *j, double max_norm, double *norm) {
  finetune *f = j->ctx;
  double sq = 0;
  for (int i = 0; i < f->n; i++) {
    pt_model *m = &f->tasks[i].model;
    int n = pt_model_ntrainable(m);
    pt_tensor **ps = malloc(sizeof *ps * (size_t)(n ? n : 1));
    if (!ps) return pt_error(PT_ERR_NOMEM, "train: out of memory");
    for (int p = 0; p < n; p++) ps[p] = pt_model_trainable(m, p);
    double one = 0;
    pt_status st = pt_clip_grad_norm(ps, n, max_norm, &one);
    free(ps);
    PT_TRY(st);
    sq += one * one;
  }
  *norm = sqrt(sq);
  return PT_OK;
}

static bool epoch_end(train_job *j, const train_state *s) {
  finetune *f = j->ctx;
  return s->pos >= f->tasks[f->lead].train.n;
}

static void next_epoch(train_job *j, train_state *s) {
  finetune *f = j->ctx;
  ft_task *lead = &f->tasks[f->lead];
  s->epoch++;
  s->pos = 0;
  lead->epoch = s->epoch;
  lead->pos = 0;
  epoch_order(lead->a, s->epoch, lead->order, lead->train.n);
}

/* Adds a multi-task adapter's metrics to `all` as "NAME/key". */
static pt_status add_named(json_t *all, const char *name, json_t *metrics) {
  const char *key;
  json_t *v;
  json_object_foreach(metrics, key, v) {
    char k[4300];
    snprintf(k, sizeof k, "%s/%s", name, key);
    if (json_object_set(all, k, v)) return pt_error(PT_ERR_NOMEM, "train: out of memory");
  }
  return PT_OK;
}

/* One adapter's dev metrics (a new reference) and primary metric; a
 * multi-task adapter keeps its best in OUT/NAME/best. */
static pt_status evaluate_task(finetune *f, ft_task *t, const train_state *s, progress *pg,
                               json_t **metrics, double *primary) {
  eval_result r;
  PT_TRY(task_evaluate_ranks(&t->model, &t->dev, &t->map, &t->a->task_options, f->a->batch_size,
                             f->pad_id, &r)); /* shared out under mpirun */
  *metrics = json_loads(r.json, 0, NULL);
  pt_status st = *metrics ? PT_OK : pt_error(PT_ERR_NOMEM, "train: out of memory");
  if (st == PT_OK) {
    progress_line(pg, "step %lld: %s%sdev %s %.4f  %s", (long long)s->step, t->spec.name,
                  f->multi ? " " : "", r.primary_name, r.primary, r.json);
    *primary = r.primary;
  }
  eval_result_free(&r);
  if (st == PT_OK && f->multi && (!t->has_best || *primary > t->best)) {
    t->has_best = true;
    t->best = *primary;
    if (ranks_writer()) st = save_named(t, "best");
  }
  return st;
}

/* --resume of a multi-task run: each adapter's best so far, from the
 * "NAME/primary" of OUT/metrics.jsonl's evaluations up to the checkpoint. */
static void restore_bests(finetune *f, const train_state *s) {
  char p[4200], line[1 << 16];
  snprintf(p, sizeof p, "%s/metrics.jsonl", f->a->out);
  FILE *in = fopen(p, "r");
  while (in && fgets(line, sizeof line, in)) {
    json_t *j = json_loads(line, 0, NULL), *ev = json_object_get(j, "eval");
    json_t *step = json_object_get(j, "step");
    for (int i = 0; ev && json_is_integer(step) && json_integer_value(step) <= s->step && i < f->n;
         i++) {
      ft_task *t = &f->tasks[i];
      char k[4300];
      snprintf(k, sizeof k, "%s/primary", t->spec.name);
      json_t *v = json_object_get(ev, k);
      if (json_is_number(v) && (!t->has_best || json_number_value(v) > t->best)) {
        t->has_best = true;
        t->best = json_number_value(v);
      }
    }
    json_decref(j);
  }
  if (in) fclose(in);
}

/* The dev metrics: {"eval": {...}} in the line (a multi-task run's as
 * "NAME/key"), the primary metric (a multi-task run's: the mean of its
 * adapters'). */
static pt_status evaluate(train_job *j, const train_state *s, json_t *line, progress *pg,
                          json_t **metrics, double *primary, bool *has_primary) {
  finetune *f = j->ctx;
  if (!f->multi) {
    PT_TRY(evaluate_task(f, &f->tasks[0], s, pg, metrics, primary));
    json_object_set(line, "eval", *metrics);
    *has_primary = true;
    return PT_OK;
  }
  json_t *all = json_object();
  if (!all) return pt_error(PT_ERR_NOMEM, "train: out of memory");
  double sum = 0;
  int n = 0;
  pt_status st = PT_OK;
  for (int i = 0; st == PT_OK && i < f->n; i++) {
    ft_task *t = &f->tasks[i];
    if (!t->a->dev) continue;
    json_t *m = NULL;
    double p = 0;
    st = evaluate_task(f, t, s, pg, &m, &p);
    if (st == PT_OK) st = add_named(all, t->spec.name, m);
    /* what picks its best, also for --resume (restore_bests) */
    char k[4300];
    snprintf(k, sizeof k, "%s/primary", t->spec.name);
    if (st == PT_OK && json_object_set_new(all, k, json_real(p)))
      st = pt_error(PT_ERR_NOMEM, "train: out of memory");
    json_decref(m);
    sum += p;
    n++;
  }
  if (st != PT_OK) {
    json_decref(all);
    return st;
  }
  json_object_set(line, "eval", all);
  *metrics = all;
  *primary = sum / n;
  *has_primary = true;
  return PT_OK;
}

static pt_status save_best(train_job *j) {
  finetune *f = j->ctx;
  return f->multi ? PT_OK : save_named(&f->tasks[0], "best"); /* each adapter's: evaluate_task */
}

/* OUT/curves.svg: the train loss, the learning rate and every dev metric. */
static pt_status draw_curves(train_job *j) {
  static const char *const loss[] = {"loss", NULL}, *const loss_label[] = {"train (logged mean)", NULL};
  static const char *const lr[] = {"lr", NULL}, *const lr_label[] = {"learning rate", NULL};
  const curve_panel panels[] = {{"training loss", "loss", loss, loss_label, NULL},
                                {"learning rate", "lr", lr, lr_label, NULL},
                                {"dev metrics", "", NULL, NULL, "eval"}};
  char metrics[4200], svg[4200];
  snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", j->out);
  snprintf(svg, sizeof svg, "%s/curves.svg", j->out);
  return curves_svg(metrics, svg, panels, j->evaluate ? 3 : 2);
}

/* A multi-task run's adapter in the result: its task, method, best dev
 * metric and trainable parameters. */
static json_t *task_result(const ft_task *t) {
  json_t *o = json_object();
  json_object_set_new(o, "task", json_string(t->a->task->name));
  json_object_set_new(o, "method", json_string(t->method->name));
  json_object_set_new(o, "best_dev", t->has_best ? json_real(t->best) : json_null());
  json_object_set_new(o, "trainable", json_integer(pt_model_numel(&t->model, true)));
  json_object_set_new(o, "out", json_string(t->out));
  return o;
}

/* The run's result: one JSON object, the last line on stdout and the
 * summary line of metrics.jsonl; the "done:" line on stderr says the same. */
static pt_status finish(train_job *j, const loop_report *rep) {
  finetune *f = j->ctx;
  const run_args *a = f->a;
  const train_state *s = rep->state;
  int64_t total = 0, trainable = 0;
  for (int i = 0; i < f->n; i++) {
    ft_task *t = &f->tasks[i];
    PT_TRY(save_named(t, "last"));
    if (!t->a->dev) PT_TRY(save_named(t, "best"));
    trainable += pt_model_numel(&t->model, true);
    /* the backbone once */
    total += i ? pt_model_numel(&t->model, true) : pt_model_numel(&t->model, false);
  }
  double pct = 100.0 * (double)trainable / (double)total, step_s = rep->step_seconds - f->t_batch;
  const ft_task *t0 = &f->tasks[0];
  json_t *o = json_object();
  if (f->multi) {
    json_t *tasks = json_object();
    for (int i = 0; i < f->n; i++)
      json_object_set_new(tasks, f->tasks[i].spec.name, task_result(&f->tasks[i]));
    json_object_set_new(o, "tasks", tasks);
  } else {
    json_object_set_new(o, "task", json_string(a->task->name));
    json_object_set_new(o, "method", json_string(t0->method->name));
  }
  json_object_set_new(o, "steps", json_integer(s->step));
  json_object_set_new(o, "time_s", json_rounded(rep->seconds, 3));
  json_object_set_new(o, "best_dev", s->has_best ? json_real(s->best) : json_null());
  json_object_set_new(o, "best_step", json_integer(s->best_step));
  json_object_set_new(o, "dev", rep->best ? json_deep_copy(rep->best) : json_null());
  json_object_set_new(o, "trainable", json_integer(trainable));
  json_object_set_new(o, "parameters", json_integer(total));
  json_object_set_new(o, "trainable_pct", json_rounded(pct, 6));
  json_object_set_new(o, "read_s", json_rounded(f->t_read, 4));
  json_object_set_new(o, "tokenize_s", json_rounded(f->t_tokenize, 4));
  json_object_set_new(o, "batch_s", json_rounded(f->t_batch, 4));
  json_object_set_new(o, "step_s", json_rounded(step_s, 4));
  json_object_set_new(o, "eval_s", json_rounded(f->t_eval + rep->eval_seconds, 4));
  json_object_set_new(o, "skipped_steps", json_integer(s->skipped));
  char *result = json_dumps(o, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
  json_t *line = json_pack("{s:O}", "summary", o);
  char *summary = line ? json_dumps(line, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9)) : NULL;
  json_decref(line);
  json_decref(o);
  pt_status st = result && summary ? PT_OK : pt_error(PT_ERR_NOMEM, "train: out of memory");
  if (st == PT_OK) metrics_log_printf(rep->log, "%s\n", summary);
  char best[32] = "null";
  if (s->has_best) snprintf(best, sizeof best, "%.9g", s->best);
  if (st == PT_OK && !a->quiet)
    fprintf(stderr,
            "done: %.1f s, %lld steps, best dev %s (step %lld), trainable %lld of %lld parameters "
            "(%.4f%%); train data: read %.3f s, tokenize %.3f s, batching %.3f s; steps %.3f s\n",
            rep->seconds, (long long)s->step, best, (long long)s->best_step, (long long)trainable,
            (long long)total, pct, f->t_read, f->t_tokenize, f->t_batch, step_s);
  if (st == PT_OK) { /* for scripts: the last line */
    printf("%s\n", result);
    fflush(stdout);
  }
  free(result);
  free(summary);
  return st;
}

/* ---- the run ------------------------------------------------------------------ */

/* The loop's job over a set-up finetune. */
static train_job job_of(finetune *f) {
  const run_args *a = f->a;
  int64_t nbatches = batches_per_epoch(f, &f->tasks[f->lead]);
  int64_t per_epoch = (nbatches + a->grad_accum - 1) / a->grad_accum;
  int64_t total = a->max_steps > 0 ? a->max_steps : a->epochs * per_epoch;
  pt_schedule sched = {a->schedule, a->lr, 0, total, a->gamma, per_epoch};
  sched.warmup_steps = a->warmup < 1 ? (int64_t)ceil(a->warmup * (double)total) : (int64_t)a->warmup;
  bool dev = false;
  for (int i = 0; i < f->n; i++) dev |= f->tasks[i].a->dev != NULL;
  return (train_job){
      .name = "train",
      .weights = "adapter",
      .out = a->out,
      .opt = f->opt,
      .sched = sched,
      .grad_accum = a->grad_accum,
      .log_every = a->log_every,
      .eval_every = a->eval_every,
      .save_every = a->save_every,
      .stop_after = a->stop_after,
      .max_grad_norm = a->max_grad_norm,
      .on_nonfinite = a->on_nonfinite,
      .quiet = a->quiet,
      .resume = a->resume,
      .log_first_step = true,
      .weights_io = {save_weights, load_weights, f},
      .ctx = f,
      .micro_batch = micro_batch,
      .end_step = end_step,
      .clip = f->multi ? clip : NULL,
      .epoch_end = epoch_end,
      .next_epoch = next_epoch,
      .evaluate = dev ? evaluate : NULL,
      .save_best = save_best,
      .draw_curves = draw_curves,
      .finish = finish,
  };
}

static pt_status run(finetune *f) {
  const run_args *a = f->a;
  pt_status st = setup(f);
  if (st == PT_OK && ranks_writer()) st = pt_mkdirs(a->out);
  PT_TRY(ranks_agree(st)); /* a rank that failed alone must not leave the others waiting */
  train_job j = job_of(f);
  train_state s = {0};
  pt_rng_init(&s.rng, pt_rng_bits(a->seed, 0xd20b0000ULL));
  if (a->resume) {
    st = loop_resume(&j, &s);
    if (st == PT_OK && s.pos > f->tasks[f->lead].train.n)
      st = pt_error(PT_ERR_FORMAT, "%s: checkpoint is past the data", a->out);
    PT_TRY(ranks_agree(st));
    if (f->multi) restore_bests(f, &s);
  }
  place_tasks_at(f, s.epoch, s.pos);
  for (int i = 0; i < f->n && !a->quiet; i++) {
    const ft_task *t = &f->tasks[i];
    int64_t total = pt_model_numel(&t->model, false), trainable = pt_model_numel(&t->model, true);
    fprintf(stderr,
            "train: %s%s%lld examples, %lld features, %lld steps (%lld per epoch), trainable %lld of "
            "%lld parameters (%.4f%%)\n",
            t->spec.name, f->multi ? ": " : "", (long long)t->train.n_examples,
            (long long)t->train.n, (long long)j.sched.total_steps,
            (long long)j.sched.steps_per_epoch, (long long)trainable, (long long)total,
            100.0 * (double)trainable / (double)total);
  }
  return train_loop(&j, &s);
}

pt_status train_run(const run_args *a) {
  if (a->resume && !checkpoint_exists(a->out))
    return ranks_agree(
        pt_error(PT_ERR_IO, "%s/checkpoint.json: no checkpoint to resume from", a->out));
  finetune f = {.a = a};
  pt_status st = run(&f);
  teardown(&f);
  return st;
}
