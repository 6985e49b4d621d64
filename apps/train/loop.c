/* The training loop of `ptune train` and `ptune pretrain` (see loop.h).
 *
 * Determinism: data order, dropout masks and initialization are functions
 * of the seed (counter-based RNG), and every kernel is deterministic for a
 * given thread count, so the same seed and threads give bit-identical
 * weights, also across a --resume: the checkpoint holds the RNG state and
 * the data position, and a resumed run rewrites the metrics lines after
 * its checkpoint's step. */
#include "apps/train/loop.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/cli/metrics_log.h"
#include "apps/train/ranks.h"
#include "tensor/pt_file.h"

/* What one run of the loop keeps besides the state. */
typedef struct {
  train_job *j;
  train_state *s;
  metrics_log log;
  progress pg;
  int64_t last_ckpt; /* the step of the last checkpoint written or resumed from; -1: none */
  json_t *best;      /* the best evaluation's metrics (owned), or NULL */
  bool evaluated_last;
  double t_start, step_seconds, eval_seconds;
  /* the current metrics-line window */
  double loss_sum, metric_sum, window_seconds;
  int64_t losses, window_tokens;
} loop;

/* ---- one optimizer step ---------------------------------------------------- */

/* The gradients of the step's n micro-batches, summed (over the ranks too)
 * by pt_dist_grads_finish, made their mean (loss / grad_accum does the same
 * in PyTorch). */
static void sum_micro_batches(pt_optim *o, int64_t n) {
  if (n < 2) return;
  for (int i = 0; i < pt_optim_param_count(o); i++) {
    pt_tensor *g = pt_optim_param(o, i)->grad;
    for (int64_t k = 0; g && k < pt_numel(g); k++) pt_set(g, k, pt_get(g, k) / n);
  }
}

/* The one-line error of --on-nonfinite stop. */
static pt_status nonfinite_error(const loop *l, double loss, double gnorm) {
  bool bad_loss = !isfinite(loss);
  double v = bad_loss ? loss : gnorm;
  const char *what = isnan(v) ? "NaN" : v > 0 ? "Inf" : "-Inf";
  char ck[4300] = "none";
  if (l->last_ckpt >= 0) snprintf(ck, sizeof ck, "%s/ckpt-%lld", l->j->out, (long long)l->last_ckpt);
  return pt_error(PT_ERR_NUMERIC, "%s: step %lld: the %s is %s; the %s was not updated (last "
                  "checkpoint: %s)",
                  l->j->name, (long long)l->s->step + 1, bad_loss ? "loss" : "gradient norm", what,
                  l->j->weights, ck);
}

pt_status loop_backward(train_job *j, pt_tensor *loss) {
  return pt_dist_grads_backward(j->grads, loss, j->last_micro);
}

/* Micro-batch k's dropout stream: the step's own for k = 0 (so one
 * micro-batch per step draws as it always did), for k > 0 a stream keyed
 * by the step's state and k. The same on any rank: after the step every
 * rank's s->rng is rank 0's, where micro-batch 0 ran. */
static pt_rng micro_rng(const pt_rng *step_rng, int k) {
  pt_rng r = *step_rng;
  if (k > 0)
    pt_rng_init(&r, pt_rng_bits(pt_rng_bits(step_rng->seed ^ 0x6d6963726f626174ULL,
                                             step_rng->counter),
                                (uint64_t)k));
  return r;
}

/* Micro-batches, their mean gradient, clipping, the non-finite check and the
 * update: s->step advances by one (also for a skipped update). */
static pt_status step(loop *l, micro_result *mean, double *gnorm, bool *skipped) {
  train_job *j = l->j;
  train_state *s = l->s;
  *mean = (micro_result){0};
  int size = pt_dist_size(), per = (int)j->grad_accum / size, first = pt_dist_rank() * per;
  double sums[3] = {0, 0, 0}; /* loss, metric, tokens of this rank's micro-batches */
  pt_dist_set_step(s->step + 1);
  const pt_rng at_start = s->rng; /* micro-batch 0 moves s->rng on */
  for (int k = first; k < first + per; k++) {
    micro_result r = {0};
    bool done = false;
    pt_rng rng = micro_rng(&at_start, k);
    j->last_micro = k == first + per - 1;
    PT_TRY(j->micro_batch(j, s, k, k == 0 ? &s->rng : &rng, &r, &done));
    if (done) break;
    sums[0] += r.loss;
    sums[1] += r.metric;
    sums[2] += (double)r.tokens;
  }
  int64_t n = 0;
  PT_TRY(pt_dist_grads_finish(j->grads, &n));
  if (size > 1) { /* in rank order, as the gradients */
    PT_TRY(pt_dist_sum_f64(sums, 3));
    PT_TRY(pt_dist_bcast(&s->rng, sizeof s->rng, 0));
  }
  if (j->end_step) j->end_step(j, s);
  mean->loss = sums[0];
  mean->metric = sums[1];
  mean->tokens = (int64_t)sums[2];
  sum_micro_batches(j->opt, n);
  /* the norm is needed for the finiteness check even without clipping (an
   * infinite max_norm never scales) */
  double max_norm = j->max_grad_norm > 0 ? j->max_grad_norm : INFINITY;
  PT_TRY(j->clip ? j->clip(j, max_norm, gnorm) : pt_optim_clip_grad_norm(j->opt, max_norm, gnorm));
  mean->loss /= n ? n : 1;
  mean->metric /= n ? n : 1;
  *skipped = !isfinite(mean->loss) || !isfinite(*gnorm);
  if (*skipped) {
    pt_optim_zero_grad(j->opt);
    if (j->on_nonfinite != NONFINITE_SKIP) return nonfinite_error(l, mean->loss, *gnorm);
    s->step++;
    s->skipped++;
    return PT_OK;
  }
  pt_optim_set_lr(j->opt, pt_schedule_lr(&j->sched, s->step));
  pt_status st = pt_optim_step(j->opt);
  pt_optim_zero_grad(j->opt);
  s->step++;
  return st;
}

/* ---- metrics lines, evaluation, checkpoints ---------------------------------- */

/* A metrics line with "step" (and "epoch" for jobs with epochs). */
static json_t *new_line(const loop *l) {
  json_t *o = json_object();
  json_object_set_new(o, "step", json_integer(l->s->step));
  if (l->j->epoch_end) json_object_set_new(o, "epoch", json_integer(l->s->epoch));
  return o;
}

/* Writes o (consumed) as one metrics line. */
static void log_line(loop *l, json_t *o) {
  if (!ranks_writer()) {
    json_decref(o);
    return;
  }
  char *txt = o ? json_dumps(o, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9)) : NULL;
  json_decref(o);
  if (txt) metrics_log_printf(&l->log, "%s\n", txt);
  free(txt);
}

/* A number, or null when it is not finite (JSON has no NaN). */
static json_t *number(double v) { return isfinite(v) ? json_real(v) : json_null(); }

json_t *json_rounded(double x, int digits) {
  double f = pow(10, digits);
  return number(round(x * f) / f);
}

/* The step's line: the window's mean loss (null when every step of it was
 * skipped), the step's lr and gradient norm, tokens and tokens/s. */
static void log_step(loop *l, double gnorm, bool skipped) {
  json_t *o = new_line(l);
  json_object_set_new(o, "loss", l->losses ? number(l->loss_sum / (double)l->losses) : json_null());
  if (l->j->step_metric)
    json_object_set_new(o, l->j->step_metric,
                        l->losses ? number(l->metric_sum / (double)l->losses) : json_null());
  json_object_set_new(o, "lr", json_real(pt_optim_get_lr(l->j->opt)));
  json_object_set_new(o, "grad_norm", number(gnorm));
  json_object_set_new(o, "tokens", json_integer(l->s->tokens));
  json_object_set_new(o, "tokens_per_s",
                      json_real(l->window_seconds > 0 ? (double)l->window_tokens / l->window_seconds : 0));
  if (skipped) json_object_set_new(o, "skipped", json_true());
  log_line(l, o);
  l->loss_sum = l->metric_sum = l->window_seconds = 0;
  l->losses = l->window_tokens = 0;
}

/* The job's evaluation as a metrics line; a better primary metric becomes
 * the best (the job saves what it keeps of it). */
static pt_status evaluate(loop *l) {
  train_job *j = l->j;
  if (!j->evaluate) return PT_OK;
  double t0 = seconds_now();
  json_t *line = new_line(l), *metrics = NULL;
  double primary = 0;
  bool has_primary = false;
  pt_status st = j->evaluate(j, l->s, line, &l->pg, &metrics, &primary, &has_primary);
  l->eval_seconds += seconds_now() - t0;
  l->evaluated_last = true;
  if (st != PT_OK) {
    json_decref(line);
    json_decref(metrics);
    return st;
  }
  log_line(l, line);
  train_state *s = l->s;
  if (has_primary && (!s->has_best || primary > s->best)) {
    s->has_best = true;
    s->best = primary;
    s->best_step = s->step;
    json_decref(l->best);
    l->best = json_incref(metrics);
    if (j->save_best && ranks_writer()) st = j->save_best(j);
  }
  json_decref(metrics);
  return st;
}

static pt_status save_checkpoint(loop *l) {
  if (ranks_writer())
    PT_TRY(checkpoint_save(l->j->out, &l->j->weights_io, l->j->opt, l->s, l->j->config));
  l->last_ckpt = l->s->step;
  return PT_OK;
}

/* ---- the loop -------------------------------------------------------------- */

pt_status loop_resume(train_job *j, train_state *s) {
  if (!checkpoint_exists(j->out))
    return pt_error(PT_ERR_IO, "%s/checkpoint.json: no checkpoint to resume from", j->out);
  return checkpoint_load(j->out, &j->weights_io, j->opt, s, j->config);
}

/* After each step: its line, evaluation, the next epoch, a checkpoint;
 * *stop at --stop-after. */
static pt_status after_step(loop *l, const micro_result *r, double gnorm, bool skipped,
                            double seconds, bool *stop) {
  train_job *j = l->j;
  train_state *s = l->s;
  int64_t total = j->sched.total_steps;
  s->tokens += r->tokens;
  s->train_seconds += seconds;
  l->step_seconds += seconds;
  l->window_seconds += seconds;
  l->window_tokens += r->tokens;
  l->pg.tokens += r->tokens;
  if (!skipped) {
    l->loss_sum += r->loss;
    l->metric_sum += r->metric;
    l->losses++;
  }
  l->evaluated_last = false;
  bool log = skipped || s->step % j->log_every == 0 || s->step == total ||
             (j->log_first_step && s->step == 1);
  progress_update(&l->pg, s->step, r->loss, pt_optim_get_lr(j->opt), log);
  if (log) log_step(l, gnorm, skipped);
  bool epoch_end = j->epoch_end && j->epoch_end(j, s);
  if ((j->eval_every > 0 && s->step % j->eval_every == 0) || (j->eval_every == 0 && epoch_end) ||
      s->step == total)
    PT_TRY(evaluate(l));
  if (epoch_end) j->next_epoch(j, s);
  *stop = j->stop_after > 0 && s->step >= j->stop_after && s->step < total;
  bool periodic = j->save_every > 0 && s->step % j->save_every == 0;
  if ((periodic && (s->step < total || j->checkpoint_at_end)) ||
      (j->checkpoint_at_end && (*stop || s->step == total)))
    PT_TRY(save_checkpoint(l));
  return PT_OK;
}

static pt_status run(loop *l) {
  train_job *j = l->j;
  train_state *s = l->s;
  if (j->eval_first && s->step == 0) PT_TRY(ranks_agree(evaluate(l)));
  while (s->step < j->sched.total_steps) {
    double t0 = seconds_now(), gnorm = 0;
    micro_result r;
    bool skipped = false, stop = false;
    pt_status st = step(l, &r, &gnorm, &skipped);
    if (st == PT_OK) st = after_step(l, &r, gnorm, skipped, seconds_now() - t0, &stop);
    PT_TRY(ranks_agree(st)); /* every rank goes on, or none */
    if (stop) return PT_OK;
  }
  progress_done(&l->pg);
  if (!l->evaluated_last) PT_TRY(ranks_agree(evaluate(l)));
  if (!ranks_writer()) return ranks_agree(PT_OK);
  pt_status st = PT_OK;
  if (j->draw_curves && !l->log.failed) st = j->draw_curves(j); /* the log is what they show */
  loop_report rep = {s,          seconds_now() - l->t_start, l->step_seconds, l->eval_seconds,
                     l->best, &l->log};
  if (st == PT_OK) st = j->finish(j, &rep);
  return ranks_agree(st);
}

/* The step's gradient sum over the optimizer's tensors: in buckets of
 * dist/'s default size with several ranks (P-Tuning v2's fit in one: one
 * sum per step), in place with one. */
static pt_status new_grads(train_job *j) {
  int n = pt_optim_param_count(j->opt);
  pt_tensor **p = malloc(sizeof *p * (size_t)(n > 0 ? n : 1));
  if (!p) return pt_error(PT_ERR_NOMEM, "%s: out of memory", j->name);
  for (int i = 0; i < n; i++) p[i] = pt_optim_param(j->opt, i);
  j->grads = pt_dist_grads_new(p, n, 0);
  free(p);
  return j->grads ? PT_OK : pt_error_code();
}

pt_status train_loop(train_job *j, train_state *s) {
  loop l = {.j = j, .s = s, .last_ckpt = j->resume ? s->step : -1, .t_start = seconds_now()};
  if (j->sched.total_steps < 1) return pt_error(PT_ERR_ARG, "%s: nothing to do (0 steps)", j->name);
  if (j->log_every < 1) j->log_every = 1;
  s->total = j->sched.total_steps;
  char p[4200];
  snprintf(p, sizeof p, "%s/metrics.jsonl", j->out);
  bool writer = ranks_writer();
  pt_status st = writer ? metrics_log_open(&l.log, p, j->resume ? s->step : -1) : PT_OK;
  if (st == PT_OK && writer && j->resume && j->draw_curves && !l.log.failed) st = j->draw_curves(j);
  if (st == PT_OK && j->grad_accum % pt_dist_size())
    st = pt_error(PT_ERR_ARG, "%s: %lld micro-batches per step on %d ranks", j->name,
                  (long long)j->grad_accum, pt_dist_size());
  if (st == PT_OK) st = new_grads(j);
  st = ranks_agree(st);
  ranks_steps_begin();
  progress_init(&l.pg, stderr, j->sched.total_steps, s->step, j->quiet);
  if (st == PT_OK) st = run(&l);
  progress_done(&l.pg);
  if (writer) metrics_log_close(&l.log);
  pt_dist_grads_free(j->grads);
  j->grads = NULL;
  json_decref(l.best);
  return st;
}
