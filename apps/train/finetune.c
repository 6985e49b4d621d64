/* The job of `ptune train`: the base model (+ --init-adapter), the label
 * map, the task's features, the optimizer and schedule; the micro-batches in
 * epoch order (a fixed permutation per epoch from --seed, or file order),
 * dev evaluations (OUT/best keeps the best adapter), OUT/last, the curves
 * and the result, all run by the loop of loop.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "apps/cli/plot.h"
#include "apps/tasks/task.h"
#include "apps/train/loop.h"
#include "apps/train/train.h"
#include "autograd/pt_autograd.h"
#include "models/pt_hf.h"
#include "models/pt_model_io.h"
#include "tensor/pt_file.h"

typedef struct {
  run_args args; /* a copy: max_seq_len may shrink to fit the model */
  const run_args *a;
  pt_tokenizer *tok;
  label_map map;
  task_data train, dev;
  pt_adapter_info init;       /* --init-adapter's description */
  const pt_method *method;    /* --method, or the init adapter's */
  const void *method_opts;
  pt_head_config head;
  int64_t words[4096];        /* the verbalizer's label words */
  pt_backbone bb;
  pt_model model;
  bool model_ok;
  pt_optim *opt;
  int64_t pad_id;
  int64_t *order;             /* the epoch's example order */
  const task_feature **batch; /* a micro-batch's features */
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
static pt_status setup_labels(finetune *t, bool *grow) {
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
static pt_status verbalizer_words(finetune *t) {
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
    int64_t id = pt_tokenizer_token_id(t->tok, w);
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
  t->head.mask_token_id = pt_tokenizer_mask_id(t->tok);
  return PT_OK;
}

/* The model: config.json (dropout as the options say), the backbone's
 * weights unless --random-backbone, the method and head, the
 * --init-adapter's tensors. */
static pt_status setup_model(finetune *t) {
  const run_args *a = t->a;
  bool dropout = option_given(a, "--dropout") || a->dropout_hidden_only; /* or a preset's */
  PT_TRY(pt_backbone_load(&t->bb, a->model, pt_backbone_parts_for(t->head.task, t->head.kind),
                          a->random_backbone, -1, a->seed));
  if (dropout) t->bb.bert.cfg.hidden_dropout = t->bb.bert.enc.hidden_dropout = a->dropout;
  if (dropout && !a->dropout_hidden_only)
    t->bb.bert.cfg.attention_dropout = t->bb.bert.enc.attention_dropout = a->dropout;
  if (a->init_adapter) PT_TRY(pt_adapter_info_check_base(&t->init, &t->bb.bert.cfg, a->init_adapter));
  /* the stream the backbone's initialization left: ptv2 starts as before the method API */
  pt_model_config mc = {t->head, a->seed, &t->bb.init_rng, t->tok, a->init_adapter != NULL};
  PT_TRY(pt_model_new(&t->model, &t->bb, t->method, t->method_opts, &mc));
  t->model_ok = true;
  PT_TRY(task_fit_max_seq_len(&t->args.task_options, option_given(a, "--max-seq-len"), &t->model,
                              a->model));
  if (!a->init_adapter) return PT_OK;
  return pt_model_load_tensors(&t->model, a->init_adapter, &t->init);
}

/* The optimizer over the trainable tensors, in parameter order. */
static pt_status setup_optimizer(finetune *t) {
  const run_args *a = t->a;
  if (a->optimizer == PT_OPTIM_SGD) {
    pt_sgd_opts so = {a->lr, a->momentum, 0, a->weight_decay, false};
    t->opt = pt_sgd_new(&so);
  } else {
    pt_adamw_opts ao = pt_adamw_defaults();
    ao.lr = a->lr;
    ao.weight_decay = a->weight_decay;
    t->opt = pt_adamw_new(&ao);
  }
  if (!t->opt) return pt_error_code();
  for (int i = 0; i < pt_model_ntrainable(&t->model); i++) {
    pt_tensor *p = pt_model_trainable(&t->model, i);
    PT_TRY(pt_optim_add_param(t->opt, p, NULL, a->hf_no_decay ? pt_decay_hf(p->name, NULL) : true));
  }
  return PT_OK;
}

/* Model, labels, data and optimizer. */
static pt_status setup(finetune *t) {
  const run_args *a = t->a;
  label_map_init(&t->map);
  t->tok = pt_tokenizer_load(a->model);
  if (!t->tok) return pt_error_code();
  t->pad_id = pt_tokenizer_pad_id(t->tok);
  bool grow;
  PT_TRY(setup_labels(t, &grow));
  double t0 = seconds_now(); /* reading (train + dev) */
  PT_TRY(task_data_read(a->task, &a->task_options, a->train, true, &t->train));
  if (!t->train.labelled) return pt_error(PT_ERR_FORMAT, "%s: training data has no labels", a->train);
  PT_TRY(task_data_map_labels(&t->train, &t->map, grow));
  if (a->dev) {
    PT_TRY(task_data_read(a->task, &a->task_options, a->dev, true, &t->dev));
    PT_TRY(task_data_map_labels(&t->dev, &t->map, grow));
  }
  if (!a->init_adapter) t->head.num_labels = t->map.n > 0 ? t->map.n : 2;
  if (a->task->adapter_labels && t->map.n < 1) return pt_error(PT_ERR_FORMAT, "%s: no labels", a->train);
  if (t->head.kind == PT_HEAD_VERBALIZER && !a->init_adapter) PT_TRY(verbalizer_words(t));
  t->args.task_options.mask_after_first = t->head.kind == PT_HEAD_VERBALIZER;
  PT_TRY(setup_model(t));
  t->t_read = seconds_now() - t0;
  t0 = seconds_now();
  PT_TRY(task_data_encode(&t->train, t->tok, &a->task_options));
  t->t_tokenize = seconds_now() - t0;
  t0 = seconds_now();
  if (a->dev) PT_TRY(task_data_encode(&t->dev, t->tok, &a->task_options));
  t->t_eval += seconds_now() - t0;
  t->order = malloc(sizeof(int64_t) * (size_t)(t->train.n > 0 ? t->train.n : 1));
  t->batch = malloc(sizeof(task_feature *) * (size_t)a->batch_size);
  if (!t->order || !t->batch) return pt_error(PT_ERR_NOMEM, "train: out of memory");
  return setup_optimizer(t);
}

static void teardown(finetune *t) {
  free(t->order);
  free(t->batch);
  pt_optim_free(t->opt);
  if (t->model_ok) pt_model_free(&t->model);
  pt_backbone_free(&t->bb);
  pt_adapter_info_free(&t->init);
  task_data_free(&t->train);
  task_data_free(&t->dev);
  label_map_free(&t->map);
  pt_tokenizer_free(t->tok);
}

/* ---- the loop's hooks -------------------------------------------------------- */

static pt_status save_adapter(finetune *t, const char *dir, pt_adapter_layout layout) {
  return pt_model_save(&t->model, dir, layout, (int)t->map.n, (const char *const *)t->map.names,
                       t->a->model);
}

/* Checkpoints keep ptune's layout: lossless, what --resume reads back. */
static pt_status save_weights(void *ctx, const char *dir) {
  return save_adapter(ctx, dir, PT_LAYOUT_PTUNE);
}

static pt_status load_weights(void *ctx, const char *dir) {
  finetune *t = ctx;
  pt_adapter_info info;
  PT_TRY(pt_adapter_info_read(dir, t->a->model, &info));
  pt_status st = pt_model_load_tensors(&t->model, dir, &info);
  pt_adapter_info_free(&info);
  return st;
}

static pt_status save_named(finetune *t, const char *sub) {
  char dir[4200];
  snprintf(dir, sizeof dir, "%s/%s", t->a->out, sub);
  return save_adapter(t, dir, (pt_adapter_layout)t->a->save_format);
}

/* The next batch_size features of the epoch's order, forward and backward. */
static pt_status micro_batch(train_job *j, train_state *s, int k, micro_result *r, bool *done) {
  (void)k;
  finetune *t = j->ctx;
  const task_data *td = &t->train;
  *done = s->pos >= td->n;
  if (*done) return PT_OK;
  int64_t B = t->a->batch_size, nb = td->n - s->pos < B ? td->n - s->pos : B;
  for (int64_t i = 0; i < nb; i++) t->batch[i] = &td->f[t->order[s->pos + i]];
  double t0 = seconds_now();
  task_batch b;
  pt_status st = task_batch_make(t->batch, nb, td->task->head, t->pad_id, true, &b);
  t->t_batch += seconds_now() - t0;
  PT_TRY(st);
  r->tokens = b.tokens;
  pt_model_outputs o;
  st = pt_model_forward(&t->model, &b.b, (pt_nn_mode){true, &s->rng}, false, &o);
  if (st == PT_OK) {
    r->loss = pt_get(o.loss, 0);
    st = pt_backward(o.loss, NULL, false);
    pt_model_outputs_free(&o);
  }
  task_batch_free(&b);
  s->pos += nb;
  return st;
}

static bool epoch_end(train_job *j, const train_state *s) {
  finetune *t = j->ctx;
  return s->pos >= t->train.n;
}

static void next_epoch(train_job *j, train_state *s) {
  finetune *t = j->ctx;
  s->epoch++;
  s->pos = 0;
  epoch_order(t->a, s->epoch, t->order, t->train.n);
}

/* The dev metrics: {"eval": {...}} in the line, the primary metric. */
static pt_status evaluate(train_job *j, const train_state *s, json_t *line, progress *pg,
                          json_t **metrics, double *primary, bool *has_primary) {
  finetune *t = j->ctx;
  eval_result r;
  PT_TRY(task_evaluate(&t->model, &t->dev, &t->map, &t->a->task_options, t->a->batch_size, t->pad_id,
                       &r));
  *metrics = json_loads(r.json, 0, NULL);
  pt_status st = *metrics ? PT_OK : pt_error(PT_ERR_NOMEM, "train: out of memory");
  if (st == PT_OK) {
    json_object_set(line, "eval", *metrics);
    progress_line(pg, "step %lld: dev %s %.4f  %s", (long long)s->step, r.primary_name, r.primary,
                  r.json);
    *primary = r.primary;
    *has_primary = true;
  }
  eval_result_free(&r);
  return st;
}

static pt_status save_best(train_job *j) { return save_named(j->ctx, "best"); }

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

/* The run's result: one JSON object, the last line on stdout and the
 * summary line of metrics.jsonl; the "done:" line on stderr says the same. */
static pt_status finish(train_job *j, const loop_report *rep) {
  finetune *t = j->ctx;
  const run_args *a = t->a;
  const train_state *s = rep->state;
  PT_TRY(save_named(t, "last"));
  if (!a->dev) PT_TRY(save_named(t, "best"));
  int64_t total = pt_model_numel(&t->model, false);
  int64_t trainable = pt_model_numel(&t->model, true);
  double pct = 100.0 * (double)trainable / (double)total, step_s = rep->step_seconds - t->t_batch;
  json_t *o = json_object();
  json_object_set_new(o, "task", json_string(a->task->name));
  json_object_set_new(o, "method", json_string(t->method->name));
  json_object_set_new(o, "steps", json_integer(s->step));
  json_object_set_new(o, "time_s", json_rounded(rep->seconds, 3));
  json_object_set_new(o, "best_dev", s->has_best ? json_real(s->best) : json_null());
  json_object_set_new(o, "best_step", json_integer(s->best_step));
  json_object_set_new(o, "dev", rep->best ? json_deep_copy(rep->best) : json_null());
  json_object_set_new(o, "trainable", json_integer(trainable));
  json_object_set_new(o, "parameters", json_integer(total));
  json_object_set_new(o, "trainable_pct", json_rounded(pct, 6));
  json_object_set_new(o, "read_s", json_rounded(t->t_read, 4));
  json_object_set_new(o, "tokenize_s", json_rounded(t->t_tokenize, 4));
  json_object_set_new(o, "batch_s", json_rounded(t->t_batch, 4));
  json_object_set_new(o, "step_s", json_rounded(step_s, 4));
  json_object_set_new(o, "eval_s", json_rounded(t->t_eval + rep->eval_seconds, 4));
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
            (long long)total, pct, t->t_read, t->t_tokenize, t->t_batch, step_s);
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
static train_job job_of(finetune *t) {
  const run_args *a = t->a;
  int64_t nbatches = (t->train.n + a->batch_size - 1) / a->batch_size;
  int64_t per_epoch = (nbatches + a->grad_accum - 1) / a->grad_accum;
  int64_t total = a->max_steps > 0 ? a->max_steps : a->epochs * per_epoch;
  pt_schedule sched = {a->schedule, a->lr, 0, total, a->gamma, per_epoch};
  sched.warmup_steps = a->warmup < 1 ? (int64_t)ceil(a->warmup * (double)total) : (int64_t)a->warmup;
  return (train_job){
      .name = "train",
      .weights = "adapter",
      .out = a->out,
      .opt = t->opt,
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
      .weights_io = {save_weights, load_weights, t},
      .ctx = t,
      .micro_batch = micro_batch,
      .epoch_end = epoch_end,
      .next_epoch = next_epoch,
      .evaluate = a->dev ? evaluate : NULL,
      .save_best = save_best,
      .draw_curves = draw_curves,
      .finish = finish,
  };
}

static pt_status run(finetune *t) {
  const run_args *a = t->a;
  PT_TRY(setup(t));
  train_job j = job_of(t);
  train_state s = {0};
  pt_rng_init(&s.rng, pt_rng_bits(a->seed, 0xd20b0000ULL));
  PT_TRY(pt_mkdirs(a->out));
  if (a->resume) {
    PT_TRY(loop_resume(&j, &s));
    if (s.pos > t->train.n) return pt_error(PT_ERR_FORMAT, "%s: checkpoint is past the data", a->out);
  }
  epoch_order(a, s.epoch, t->order, t->train.n);
  int64_t total = pt_model_numel(&t->model, false);
  int64_t trainable = pt_model_numel(&t->model, true);
  if (!a->quiet)
    fprintf(stderr,
            "train: %lld examples, %lld features, %lld steps (%lld per epoch), trainable %lld of "
            "%lld parameters (%.4f%%)\n",
            (long long)t->train.n_examples, (long long)t->train.n, (long long)j.sched.total_steps,
            (long long)j.sched.steps_per_epoch, (long long)trainable, (long long)total,
            100.0 * (double)trainable / (double)total);
  return train_loop(&j, &s);
}

pt_status train_run(const run_args *a) {
  if (a->resume && !checkpoint_exists(a->out))
    return pt_error(PT_ERR_IO, "%s/checkpoint.json: no checkpoint to resume from", a->out);
  finetune t = {.args = *a};
  t.a = &t.args;
  pt_status st = run(&t);
  teardown(&t);
  return st;
}
