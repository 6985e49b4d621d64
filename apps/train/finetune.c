/* The training loop of `ptune train`: base model (+ --init-adapter), label
 * map, features, optimizer and schedule; then optimizer steps over batches in
 * epoch order (a fixed permutation per epoch from --seed, or file order), with
 * metrics lines, dev evaluations (OUT/best keeps the best adapter),
 * checkpoints every --save-every steps, and OUT/last at the end.
 * A NaN/Inf loss or gradient norm stops the run before that update (the
 * checkpoints stay as they were), or with --on-nonfinite skip drops it.
 *
 * Determinism: data order, dropout masks and initialization are functions of
 * the seed (counter-based RNG), and every kernel is deterministic for a given
 * thread count, so the same seed and threads give bit-identical adapters,
 * also across a --resume. */
#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "apps/cli/metrics_log.h"
#include "apps/cli/progress.h"
#include "apps/tasks/task.h"
#include "apps/train/checkpoint.h"
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
  metrics_log metrics;
  int64_t pad_id;
  double t_read, t_tokenize, t_batch, t_step, t_eval;
  char *best_json; /* the best dev evaluation's metrics object (owned; NULL before one,
                    * or after a --resume until a better one) */
  int64_t last_ckpt; /* step of the last checkpoint written or resumed from; -1: none */
} trainer;

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

/* Model, labels and data. */
static pt_status setup(trainer *t) {
  const run_args *a = t->a;
  label_map_init(&t->map);
  t->tok = pt_tokenizer_load(a->model);
  if (!t->tok) return pt_error_code();
  t->pad_id = pt_tokenizer_pad_id(t->tok);
  pt_ptv2_config cfg = {a->method, a->task->head, a->pre_seq_len,
                        a->prefix_projection, a->prefix_hidden_size, 0};
  pt_adapter_config ac = {0};
  bool grow = true;
  if (a->init_adapter) {
    PT_TRY(pt_adapter_config_read(a->init_adapter, &ac));
    cfg = ac.cfg;
    pt_status st = PT_OK;
    if (cfg.task != a->task->head)
      st = pt_error(PT_ERR_ARG, "%s: adapter is for %s, not --task %s", a->init_adapter,
                    pt_task_name(cfg.task), a->task->name);
    if (st == PT_OK && a->task->adapter_labels)
      st = label_map_set(&t->map, (const char *const *)ac.id2label, ac.nlabels);
    pt_adapter_config_free(&ac);
    PT_TRY(st);
    grow = false;
  } else {
    PT_TRY(task_preset_labels(a->task, &a->task_options, &t->map));
    grow = t->map.n == 0; /* a preset's label set is fixed too */
  }
  double t0 = seconds_now(); /* reading (train + dev) */
  PT_TRY(task_data_read(a->task, &a->task_options, a->train, true, &t->train));
  if (!t->train.labelled) return pt_error(PT_ERR_FORMAT, "%s: training data has no labels", a->train);
  PT_TRY(task_data_map_labels(&t->train, &t->map, grow));
  if (a->dev) {
    PT_TRY(task_data_read(a->task, &a->task_options, a->dev, true, &t->dev));
    PT_TRY(task_data_map_labels(&t->dev, &t->map, grow));
  }
  if (!a->init_adapter) cfg.num_labels = t->map.n > 0 ? t->map.n : 2;
  if (a->task->adapter_labels && t->map.n < 1)
    return pt_error(PT_ERR_FORMAT, "%s: no labels", a->train);
  pt_bert_config bc;
  PT_TRY(pt_bert_config_load(a->model, &bc));
  PT_TRY(task_fit_max_seq_len(&t->args.task_options, a->max_seq_len_set, &bc,
                              cfg.method == PT_METHOD_FINETUNE ? 0 : cfg.pre_seq_len, a->model));
  if (a->dropout_set) bc.hidden_dropout = a->dropout;
  if (a->dropout_set && !a->dropout_hidden_only) bc.attention_dropout = a->dropout;
  PT_TRY(pt_ptv2_model_init(&t->model, &bc, &cfg, a->seed));
  t->model_ok = true;
  if (!a->random_backbone) PT_TRY(pt_bert_load_weights(&t->model.params, &t->model.bert, a->model, NULL));
  if (a->init_adapter) {
    PT_TRY(pt_adapter_config_read(a->init_adapter, &ac));
    pt_status st = pt_adapter_check_base(&ac, &bc, a->init_adapter);
    pt_adapter_config_free(&ac);
    PT_TRY(st);
    PT_TRY(pt_adapter_load_weights(&t->model, a->init_adapter));
  }
  t->t_read = seconds_now() - t0;
  t0 = seconds_now();
  PT_TRY(task_data_encode(&t->train, t->tok, &a->task_options));
  t->t_tokenize = seconds_now() - t0;
  t0 = seconds_now();
  if (a->dev) PT_TRY(task_data_encode(&t->dev, t->tok, &a->task_options));
  t->t_eval += seconds_now() - t0;
  /* Optimizer over the trainable tensors, in parameter order. */
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

static void teardown(trainer *t) {
  metrics_log_close(&t->metrics);
  free(t->best_json);
  pt_optim_free(t->opt);
  if (t->model_ok) pt_ptv2_model_free(&t->model);
  task_data_free(&t->train);
  task_data_free(&t->dev);
  label_map_free(&t->map);
  pt_tokenizer_free(t->tok);
}

static pt_status save_adapter(trainer *t, const char *sub) {
  char dir[4200];
  snprintf(dir, sizeof dir, "%s/%s", t->a->out, sub);
  return pt_adapter_save(&t->model, dir, (int)t->map.n, (const char *const *)t->map.names);
}

/* Evaluates on dev, logs it, keeps the best adapter. */
static pt_status dev_eval(trainer *t, train_state *s, progress *pg) {
  if (!t->a->dev) return PT_OK;
  double t0 = seconds_now();
  eval_result r;
  PT_TRY(task_evaluate(&t->model, &t->dev, &t->map, &t->a->task_options, t->a->batch_size,
                       t->pad_id, &r));
  t->t_eval += seconds_now() - t0;
  metrics_log_printf(&t->metrics, "{\"step\": %lld, \"epoch\": %lld, \"eval\": %s}\n",
                        (long long)s->step, (long long)s->epoch, r.json);
  progress_line(pg, "step %lld: dev %s %.4f  %s", (long long)s->step, r.primary_name,
                   r.primary, r.json);
  pt_status st = PT_OK;
  if (!s->has_best || r.primary > s->best) {
    s->has_best = true;
    s->best = r.primary;
    s->best_step = s->step;
    free(t->best_json);
    t->best_json = strdup(r.json);
    st = save_adapter(t, "best");
  }
  eval_result_free(&r);
  return st;
}

/* A NaN/Inf loss or gradient norm at `step`: the one-line error of the
 * default --on-nonfinite stop. */
static pt_status nonfinite_error(const trainer *t, int64_t step, double loss, double gnorm) {
  bool bad_loss = !isfinite(loss);
  double v = bad_loss ? loss : gnorm;
  const char *what = isnan(v) ? "NaN" : v > 0 ? "Inf" : "-Inf";
  char ck[4300] = "none";
  if (t->last_ckpt >= 0) snprintf(ck, sizeof ck, "%s/ckpt-%lld", t->a->out, (long long)t->last_ckpt);
  return pt_error(PT_ERR_NUMERIC,
                  "train: step %lld: the %s is %s; the adapter was not updated (last checkpoint: "
                  "%s)",
                  (long long)step, bad_loss ? "loss" : "gradient norm", what, ck);
}

/* One optimizer step over up to grad_accum batches; returns the mean loss.
 * A NaN/Inf loss or gradient norm applies no update: an error, or with
 * --on-nonfinite skip the gradients are dropped and *skipped is set. */
static pt_status train_step(trainer *t, train_state *s, const int64_t *perm, pt_rng *drop,
                            const pt_schedule *sched, double *loss_out, int64_t *tokens,
                            bool *skipped) {
  const run_args *a = t->a;
  const task_data *td = &t->train;
  const task_feature **fb = malloc(sizeof(task_feature *) * (size_t)a->batch_size);
  if (!fb) return pt_error(PT_ERR_NOMEM, "train: out of memory");
  pt_status st = PT_OK;
  double loss = 0;
  int nmicro = 0;
  for (int64_t k = 0; st == PT_OK && k < a->grad_accum && s->pos < td->n; k++) {
    int64_t nb = td->n - s->pos < a->batch_size ? td->n - s->pos : a->batch_size;
    for (int64_t i = 0; i < nb; i++) fb[i] = &td->f[perm[s->pos + i]];
    double t0 = seconds_now();
    task_batch b;
    st = task_batch_make(fb, nb, td->task->head, t->pad_id, true, &b);
    double t1 = seconds_now();
    t->t_batch += t1 - t0;
    if (st != PT_OK) break;
    *tokens += b.tokens;
    pt_nn_mode mode = {true, drop};
    pt_ptv2_outputs o;
    st = pt_ptv2_forward(&t->model, &b.b, mode, false, &o);
    if (st == PT_OK) {
      loss += pt_get(o.loss, 0);
      st = pt_backward(o.loss, NULL, false);
      pt_ptv2_outputs_free(&o);
    }
    task_batch_free(&b);
    t->t_step += seconds_now() - t1;
    s->pos += nb;
    nmicro++;
  }
  free(fb);
  if (st != PT_OK) return st;
  double t1 = seconds_now();
  if (nmicro > 1) /* the mean over the micro-batches, as loss / grad_accum does */
    for (int i = 0; i < pt_optim_param_count(t->opt); i++) {
      pt_tensor *g = pt_optim_param(t->opt, i)->grad;
      for (int64_t j = 0; g && j < pt_numel(g); j++) pt_set(g, j, pt_get(g, j) / nmicro);
    }
  /* the global norm is needed for the finiteness check even without clipping
   * (an infinite max_norm never scales) */
  double gnorm = 0;
  PT_TRY(pt_optim_clip_grad_norm(t->opt, a->max_grad_norm > 0 ? a->max_grad_norm : INFINITY,
                                 &gnorm));
  *loss_out = loss / (nmicro ? nmicro : 1);
  *skipped = !isfinite(*loss_out) || !isfinite(gnorm);
  if (*skipped) {
    pt_optim_zero_grad(t->opt);
    t->t_step += seconds_now() - t1;
    if (!a->on_nonfinite || strcmp(a->on_nonfinite, "skip"))
      return nonfinite_error(t, s->step + 1, *loss_out, gnorm);
    s->step++;
    return PT_OK;
  }
  pt_optim_set_lr(t->opt, pt_schedule_lr(sched, s->step));
  st = pt_optim_step(t->opt);
  pt_optim_zero_grad(t->opt);
  t->t_step += seconds_now() - t1;
  s->step++;
  return st;
}

static pt_status loop(trainer *t) {
  const run_args *a = t->a;
  int64_t nf = t->train.n;
  int64_t nbatches = (nf + a->batch_size - 1) / a->batch_size;
  int64_t per_epoch = (nbatches + a->grad_accum - 1) / a->grad_accum;
  int64_t total = a->max_steps > 0 ? a->max_steps : a->epochs * per_epoch;
  if (total < 1) return pt_error(PT_ERR_ARG, "train: nothing to do (0 steps)");
  pt_schedule sched = {a->schedule, a->lr, 0, total, a->gamma, per_epoch};
  sched.warmup_steps = a->warmup < 1 ? (int64_t)ceil(a->warmup * (double)total) : (int64_t)a->warmup;
  train_state s = {0};
  pt_rng_init(&s.rng, pt_rng_bits(a->seed, 0xd20b0000ULL));
  PT_TRY(pt_mkdirs(a->out));
  if (a->resume) {
    PT_TRY(checkpoint_load(a->out, &t->model, t->opt, &s));
    t->last_ckpt = s.step;
    if (s.pos > nf) return pt_error(PT_ERR_FORMAT, "%s: checkpoint is past the data", a->out);
  }
  char p[4200];
  snprintf(p, sizeof p, "%s/metrics.jsonl", a->out);
  PT_TRY(metrics_log_open(&t->metrics, p, a->resume ? s.step : -1));
  int64_t *perm = malloc(sizeof(int64_t) * (size_t)nf);
  if (!perm) return pt_error(PT_ERR_NOMEM, "train: out of memory");
  epoch_order(a, s.epoch, perm, nf);
  int64_t total_params = pt_params_numel(&t->model.params, false);
  int64_t trainable = pt_params_numel(&t->model.params, true);
  progress pg;
  progress_init(&pg, stderr, total, s.step, a->quiet);
  progress_line(&pg, "train: %lld examples, %lld features, %lld steps (%lld per epoch), "
                        "trainable %lld of %lld parameters (%.4f%%)",
                   (long long)t->train.n_examples, (long long)nf, (long long)total,
                   (long long)per_epoch, (long long)trainable, (long long)total_params,
                   100.0 * (double)trainable / (double)total_params);
  double t_start = seconds_now(), loss_acc = 0;
  int64_t loss_n = 0, tok_win = 0;
  double t_win = seconds_now();
  pt_status st = PT_OK;
  bool evaluated_last = false, stopped = false;
  while (st == PT_OK && s.step < total) {
    double loss = 0;
    int64_t tokens = 0;
    bool skipped = false;
    st = train_step(t, &s, perm, &s.rng, &sched, &loss, &tokens, &skipped);
    if (st != PT_OK) break;
    pg.tokens += tokens;
    tok_win += tokens;
    if (skipped) {
      s.skipped++;
    } else {
      loss_acc += loss;
      loss_n++;
    }
    evaluated_last = false;
    bool log = skipped || s.step % a->log_every == 0 || s.step == total || s.step == 1;
    double lr = pt_optim_get_lr(t->opt);
    progress_update(&pg, s.step, loss, lr, log);
    if (log) {
      double now = seconds_now();
      char mean[32] = "null"; /* JSON has no NaN: a window of skipped steps has no loss */
      if (loss_n) snprintf(mean, sizeof mean, "%.9g", loss_acc / (double)loss_n);
      metrics_log_printf(&t->metrics,
              "{\"step\": %lld, \"epoch\": %lld, \"loss\": %s, \"lr\": %.9g, "
              "\"tokens_per_s\": %.1f%s}\n",
              (long long)s.step, (long long)s.epoch, mean, lr,
              now > t_win ? (double)tok_win / (now - t_win) : 0.0,
              skipped ? ", \"skipped\": true" : "");
      loss_acc = 0, loss_n = 0, tok_win = 0, t_win = now;
    }
    bool epoch_end = s.pos >= nf;
    if ((a->eval_every > 0 && s.step % a->eval_every == 0) ||
        (a->eval_every == 0 && epoch_end)) {
      st = dev_eval(t, &s, &pg);
      evaluated_last = true;
    }
    if (st == PT_OK && epoch_end) {
      s.epoch++;
      s.pos = 0;
      epoch_order(a, s.epoch, perm, nf);
    }
    if (st == PT_OK && a->save_every > 0 && s.step % a->save_every == 0 && s.step < total) {
      st = checkpoint_save(a->out, &t->model, t->opt, &t->map, &s);
      if (st == PT_OK) t->last_ckpt = s.step;
    }
    if (st == PT_OK && a->stop_after > 0 && s.step >= a->stop_after && s.step < total) {
      stopped = true;
      break;
    }
  }
  free(perm);
  progress_done(&pg);
  if (st != PT_OK || stopped) return st;
  if (!evaluated_last) st = dev_eval(t, &s, &pg);
  if (st == PT_OK) st = save_adapter(t, "last");
  if (st == PT_OK && !a->dev) st = save_adapter(t, "best");
  double el = seconds_now() - t_start;
  char best[64] = "null";
  if (s.has_best) snprintf(best, sizeof best, "%.9g", s.best);
  if (st == PT_OK) {
    metrics_log_printf(&t->metrics,
            "{\"summary\": {\"time_s\": %.3f, \"steps\": %lld, \"best_dev\": %s, \"best_step\": "
            "%lld, \"trainable\": %lld, \"parameters\": %lld, \"trainable_pct\": %.6f, "
            "\"read_s\": %.4f, \"tokenize_s\": %.4f, \"batch_s\": %.4f, \"step_s\": %.4f, "
            "\"eval_s\": %.4f, \"skipped_steps\": %lld}}\n",
            el, (long long)s.step, best, (long long)s.best_step, (long long)trainable,
            (long long)total_params, 100.0 * (double)trainable / (double)total_params,
            t->t_read, t->t_tokenize, t->t_batch, t->t_step, t->t_eval, (long long)s.skipped);
    if (!a->quiet)
      fprintf(stderr,
              "done: %.1f s, %lld steps, best dev %s (step %lld), trainable %lld of %lld "
              "parameters (%.4f%%); train data: read %.3f s, tokenize %.3f s, batching %.3f s; "
              "steps %.3f s\n",
              el, (long long)s.step, best, (long long)s.best_step, (long long)trainable,
              (long long)total_params, 100.0 * (double)trainable / (double)total_params,
              t->t_read, t->t_tokenize, t->t_batch, t->t_step);
    /* the run's result as one JSON line on stdout, for scripts: the last line */
    printf("{\"task\": \"%s\", \"method\": \"%s\", \"steps\": %lld, \"time_s\": %.1f, "
           "\"best_dev\": %s, \"best_step\": %lld, \"dev\": %s, \"trainable\": %lld, "
           "\"parameters\": %lld, \"trainable_pct\": %.4f, \"skipped_steps\": %lld}\n",
           a->task->name, pt_method_name(a->method), (long long)s.step, el, best,
           (long long)s.best_step, t->best_json ? t->best_json : "null", (long long)trainable,
           (long long)total_params, 100.0 * (double)trainable / (double)total_params,
           (long long)s.skipped);
    fflush(stdout);
  }
  return st;
}

pt_status train_run(const run_args *a) {
  if (a->threads > 0) omp_set_num_threads((int)a->threads);
  if (a->resume && !checkpoint_exists(a->out))
    return pt_error(PT_ERR_IO, "%s/checkpoint.json: no checkpoint to resume from", a->out);
  trainer t = {.args = *a, .last_ckpt = -1};
  t.a = &t.args;
  pt_status st = setup(&t);
  if (st == PT_OK) st = loop(&t);
  teardown(&t);
  return st;
}
