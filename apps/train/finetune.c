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
#include "models/pt_adapter.h"
#include "models/pt_hf.h"
#include "tensor/pt_file.h"

typedef struct {
  run_args args; /* a copy: max_seq_len may shrink to fit the model */
  const run_args *a;
  pt_tokenizer *tok;
  label_map map;
  task_data train, dev;
  pt_ptv2_model model;
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

/* The adapter's configuration and labels with --init-adapter; else the
 * task's preset labels. *grow: unseen labels of the data may be added. */
static pt_status setup_labels(finetune *t, pt_ptv2_config *cfg, bool *grow) {
  const run_args *a = t->a;
  *cfg = (pt_ptv2_config){a->method, a->task->head, a->pre_seq_len, a->prefix_projection,
                          a->prefix_hidden_size, 0};
  *grow = true;
  if (!a->init_adapter) {
    PT_TRY(task_preset_labels(a->task, &a->task_options, &t->map));
    *grow = t->map.n == 0; /* a preset's label set is fixed too */
    return PT_OK;
  }
  pt_adapter_config ac = {0};
  PT_TRY(pt_adapter_config_read(a->init_adapter, &ac));
  *cfg = ac.cfg;
  *grow = false;
  pt_status st = PT_OK;
  if (cfg->task != a->task->head)
    st = pt_error(PT_ERR_ARG, "%s: adapter is for %s, not --task %s", a->init_adapter,
                  pt_task_name(cfg->task), a->task->name);
  if (st == PT_OK && a->task->adapter_labels)
    st = label_map_set(&t->map, (const char *const *)ac.id2label, ac.nlabels);
  pt_adapter_config_free(&ac);
  return st;
}

/* The model: config.json (dropout as the options say), the backbone's
 * weights unless --random-backbone, the --init-adapter. */
static pt_status setup_model(finetune *t, const pt_ptv2_config *cfg) {
  const run_args *a = t->a;
  pt_bert_config bc;
  PT_TRY(pt_bert_config_load(a->model, &bc));
  PT_TRY(task_fit_max_seq_len(&t->args.task_options, option_given(a, "--max-seq-len"), &bc,
                              cfg->method == PT_METHOD_FINETUNE ? 0 : cfg->pre_seq_len, a->model));
  bool dropout = option_given(a, "--dropout") || a->dropout_hidden_only; /* or a preset's */
  if (dropout) bc.hidden_dropout = a->dropout;
  if (dropout && !a->dropout_hidden_only) bc.attention_dropout = a->dropout;
  PT_TRY(pt_ptv2_model_init(&t->model, &bc, cfg, a->seed));
  t->model_ok = true;
  if (!a->random_backbone)
    PT_TRY(pt_bert_load_weights(&t->model.params, &t->model.bert, a->model, NULL));
  if (!a->init_adapter) return PT_OK;
  pt_adapter_config ac;
  PT_TRY(pt_adapter_config_read(a->init_adapter, &ac));
  pt_status st = pt_adapter_check_base(&ac, &bc, a->init_adapter);
  pt_adapter_config_free(&ac);
  PT_TRY(st);
  return pt_adapter_load_weights(&t->model, a->init_adapter);
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
  for (int i = 0; i < t->model.params.count; i++) {
    pt_tensor *p = t->model.params.items[i];
    if (!pt_requires_grad(p)) continue;
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
  pt_ptv2_config cfg;
  bool grow;
  PT_TRY(setup_labels(t, &cfg, &grow));
  double t0 = seconds_now(); /* reading (train + dev) */
  PT_TRY(task_data_read(a->task, &a->task_options, a->train, true, &t->train));
  if (!t->train.labelled) return pt_error(PT_ERR_FORMAT, "%s: training data has no labels", a->train);
  PT_TRY(task_data_map_labels(&t->train, &t->map, grow));
  if (a->dev) {
    PT_TRY(task_data_read(a->task, &a->task_options, a->dev, true, &t->dev));
    PT_TRY(task_data_map_labels(&t->dev, &t->map, grow));
  }
  if (!a->init_adapter) cfg.num_labels = t->map.n > 0 ? t->map.n : 2;
  if (a->task->adapter_labels && t->map.n < 1) return pt_error(PT_ERR_FORMAT, "%s: no labels", a->train);
  PT_TRY(setup_model(t, &cfg));
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
  if (t->model_ok) pt_ptv2_model_free(&t->model);
  task_data_free(&t->train);
  task_data_free(&t->dev);
  label_map_free(&t->map);
  pt_tokenizer_free(t->tok);
}

/* ---- the loop's hooks -------------------------------------------------------- */

static pt_status save_adapter(finetune *t, const char *dir) {
  return pt_adapter_save(&t->model, dir, (int)t->map.n, (const char *const *)t->map.names);
}

static pt_status save_weights(void *ctx, const char *dir) { return save_adapter(ctx, dir); }

static pt_status load_weights(void *ctx, const char *dir) {
  finetune *t = ctx;
  return pt_adapter_load_weights(&t->model, dir);
}

static pt_status save_named(finetune *t, const char *sub) {
  char dir[4200];
  snprintf(dir, sizeof dir, "%s/%s", t->a->out, sub);
  return save_adapter(t, dir);
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
  pt_ptv2_outputs o;
  st = pt_ptv2_forward(&t->model, &b.b, (pt_nn_mode){true, &s->rng}, false, &o);
  if (st == PT_OK) {
    r->loss = pt_get(o.loss, 0);
    st = pt_backward(o.loss, NULL, false);
    pt_ptv2_outputs_free(&o);
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
  int64_t total = pt_params_numel(&t->model.params, false);
  int64_t trainable = pt_params_numel(&t->model.params, true);
  double pct = 100.0 * (double)trainable / (double)total, step_s = rep->step_seconds - t->t_batch;
  json_t *o = json_object();
  json_object_set_new(o, "task", json_string(a->task->name));
  json_object_set_new(o, "method", json_string(pt_method_name(a->method)));
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
  int64_t total = pt_params_numel(&t->model.params, false);
  int64_t trainable = pt_params_numel(&t->model.params, true);
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
