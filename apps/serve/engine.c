/* The server's queue and batcher (see engine.h). */
#include "apps/serve/engine.h"

#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autograd/pt_autograd.h"
#include "models/pt_mixed.h"

double engine_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* An absolute CLOCK_MONOTONIC time for pthread_cond_timedwait. */
static struct timespec at_time(double t) {
  struct timespec ts;
  ts.tv_sec = (time_t)t;
  ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
  if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
  return ts;
}

/* ---- jobs ---- */

/* A feature's longest sequence (of its choices). */
static int64_t feature_len(const task_feature *f) {
  int64_t len = 0;
  for (int k = 0; k < f->nseq; k++)
    if (f->len[k] > len) len = f->len[k];
  return len;
}

pt_status job_prepare(serve_job *job, const pt_tokenizer *tok, const json_t *inputs) {
  const serve_adapter *a = job->adapter;
  PT_TRY(task_data_from_inputs(a->task, &a->opts, inputs, &job->data));
  PT_TRY(task_data_encode(&job->data, tok, &a->opts));
  const task_data *td = &job->data;
  int64_t pos = pt_model_positions(&a->model);
  job->nseq = td->n ? td->f[0].nseq : 0;
  for (int64_t i = 0; i < td->n; i++) {
    const task_feature *f = &td->f[i];
    if (f->nseq != job->nseq)
      return pt_error(PT_ERR_FORMAT, "inputs: the inputs of one request need the same number of "
                      "choices (%d and %d)", job->nseq, f->nseq);
    int64_t len = feature_len(f);
    job->rows += f->nseq;
    job->cost += f->nseq * (len + pos);
    if (len > job->seq) job->seq = len;
  }
  return PT_OK;
}

void job_free(serve_job *job) {
  task_data_free(&job->data);
  pt_tensor_free(job->logits);
  pt_tensor_free(job->start_logits);
  pt_tensor_free(job->end_logits);
  memset(job, 0, sizeof *job);
}

pt_status job_results(const serve_job *job, json_t **out) {
  *out = NULL;
  const serve_adapter *a = job->adapter;
  const task_def *t = a->task;
  const task_data *td = &job->data;
  eval_result r = {.n = td->n_examples};
  const task_feature **fb = malloc(sizeof *fb * (size_t)(td->n ? td->n : 1));
  pt_status st = fb ? t->predict_begin(td, &a->map, &r) : pt_error(PT_ERR_NOMEM, "out of memory");
  for (int64_t i = 0; fb && i < td->n; i++) fb[i] = &td->f[i];
  pt_model_outputs po = {.logits = job->logits, .start_logits = job->start_logits,
                        .end_logits = job->end_logits};
  if (st == PT_OK) st = t->predict_batch(td, &a->map, fb, td->n, &po, &r);
  if (st == PT_OK && t->predict_end) st = t->predict_end(td, &a->opts, &r);
  json_t *results = st == PT_OK ? json_array() : NULL;
  for (int64_t i = 0; results && st == PT_OK && i < td->n_examples; i++) {
    json_t *one;
    st = t->serve_json(td, &r, &a->map, i, &one);
    if (st == PT_OK) json_array_append_new(results, one);
  }
  eval_result_free(&r);
  free(fb);
  if (st == PT_OK && results)
    *out = json_pack("{s:s, s:s, s:o}", "adapter", a->name, "task", t->name, "results", results);
  else
    json_decref(results);
  if (st == PT_OK && !*out) st = pt_error(PT_ERR_NOMEM, "results: out of memory");
  return st;
}

/* ---- the queue (under e->lock) ---- */

static void unlink_job(serve_engine *e, serve_job *job, serve_job *prev) {
  if (prev) prev->next = job->next;
  else e->head = job->next;
  if (e->tail == job) e->tail = prev;
  job->next = NULL;
  e->queued--;
}

bool engine_submit(serve_engine *e, serve_job *job) {
  pthread_mutex_lock(&e->lock);
  bool ok = !e->stopping && e->queued < e->cfg.queue_size;
  if (ok) {
    job->state = JOB_QUEUED;
    job->next = NULL;
    if (e->tail) e->tail->next = job;
    else e->head = job;
    e->tail = job;
    e->queued++;
    pthread_cond_signal(&e->work);
  }
  pthread_mutex_unlock(&e->lock);
  return ok;
}

job_state engine_wait(serve_engine *e, serve_job *job) {
  pthread_mutex_lock(&e->lock);
  while (job->state == JOB_QUEUED || job->state == JOB_RUNNING) {
    if (job->state == JOB_QUEUED && engine_now() >= job->deadline) {
      serve_job *prev = NULL;
      for (serve_job *j = e->head; j && j != job; j = j->next) prev = j;
      unlink_job(e, job, prev);
      job->state = JOB_EXPIRED;
      break;
    }
    /* a running job finishes whatever its deadline */
    struct timespec ts = at_time(job->state == JOB_QUEUED ? job->deadline : engine_now() + 1.0);
    pthread_cond_timedwait(&e->done, &e->lock, &ts);
  }
  job_state s = job->state;
  pthread_mutex_unlock(&e->lock);
  return s;
}

int64_t engine_queue_depth(serve_engine *e) {
  pthread_mutex_lock(&e->lock);
  int64_t n = e->queued;
  pthread_mutex_unlock(&e->lock);
  return n;
}

/* ---- batches ---- */

/* What a batch holds while it is taken off the queue. */
typedef struct {
  serve_job **jobs;
  int n, cap;
  int64_t cost;
} batch;

static bool batch_add(batch *b, serve_job *job) {
  if (b->n == b->cap) {
    int cap = b->cap ? 2 * b->cap : 64;
    serve_job **grown = realloc(b->jobs, sizeof *grown * (size_t)cap);
    if (!grown) return false;
    b->jobs = grown;
    b->cap = cap;
  }
  b->jobs[b->n++] = job;
  b->cost += job->cost;
  return true;
}

/* Takes the jobs of the next batch off the queue in arrival order while
 * their cost stays within max_batch_tokens (the oldest job always goes);
 * expired ones are dropped on the way (under e->lock). Returns whether any
 * expired. */
static bool take_batch(serve_engine *e, batch *b) {
  double now = engine_now();
  bool expired = false;
  for (serve_job *job = e->head, *next; job; job = next) {
    next = job->next;
    if (now >= job->deadline) {
      unlink_job(e, job, NULL);
      job->state = JOB_EXPIRED;
      expired = true;
      continue;
    }
    if (b->n && b->cost + job->cost > e->cfg.max_batch_tokens) break;
    if (!batch_add(b, job)) break;
    unlink_job(e, job, NULL);
    job->state = JOB_RUNNING;
  }
  return expired;
}

/* The queued jobs' cost (under e->lock). */
static int64_t queued_cost(serve_engine *e) {
  int64_t cost = 0;
  for (serve_job *job = e->head; job; job = job->next) cost += job->cost;
  return cost;
}

/* One feature of a job (a row; a multiple-choice example's choices) on its
 * way through the encoder. */
typedef struct {
  serve_job *job;
  int slot;                   /* the job's index in the batch */
  int64_t index;              /* in job->data.f */
  int64_t rows, len;          /* its rows, their longest sequence */
  int64_t prompt, positions;  /* its adapter's prompt, prefix or prompt */
} unit;

/* Widest first (sequence + prompt: what a row costs every layer), then by
 * adapter, so that a pass holds rows of one length and few adapters. */
static int unit_order(const void *pa, const void *pb) {
  const unit *a = pa, *b = pb;
  int64_t wa = a->len + a->prompt, wb = b->len + b->prompt;
  if (wa != wb) return wa > wb ? -1 : 1;
  if (a->job->adapter != b->job->adapter) return a->job->adapter < b->job->adapter ? -1 : 1;
  return a->slot != b->slot ? (a->slot < b->slot ? -1 : 1) : (a->index < b->index ? -1 : 1);
}

/* One encoder pass: each row padded to the pass's width, the longest
 * row's prompt + sequence (models/pt_mixed.h). */
typedef struct {
  int64_t rows, width;
  int64_t extent;             /* the longest len + prefix or prompt (memory) */
  int64_t real;               /* Σ rows × (len + prompt): the unpadded work */
} pass;

static int64_t pass_padded(const pass *p) { return p->rows * p->width; }

static pass pass_with(const pass *p, const unit *u) {
  pass q = *p;
  q.rows += u->rows;
  if (u->len + u->prompt > q.width) q.width = u->len + u->prompt;
  if (u->len + u->positions > q.extent) q.extent = u->len + u->positions;
  q.real += u->rows * (u->len + u->prompt);
  return q;
}

/* Padding a pass may add: a tenth of its work. Below PASS_SMALL padded
 * positions a pass takes rows whatever they waste, since a pass has a
 * fixed cost of its own; above PASS_LARGE it takes no more: its products
 * are as fast per row already, and a rare larger pass would only raise the
 * heap's high-water mark (the process's RSS) for good. */
#define PASS_WASTE 1.1
#define PASS_SMALL 512
#define PASS_LARGE 4096

/* Picks the units of the next pass from the undone ones (sorted): the
 * first, then each that keeps padding within PASS_WASTE and the pass within
 * max_batch_tokens, and whose adapter's group it fits (one choice count a
 * group). Marks them taken; returns how many. */
static int64_t pick_pass(const serve_engine *e, const unit *u, int64_t n, bool *taken,
                         int64_t *picked) {
  pass p = {0};
  int64_t np = 0;
  for (int64_t i = 0; i < n; i++) {
    if (taken[i]) continue;
    if (np) {
      pass q = pass_with(&p, &u[i]);
      if (q.rows * q.extent > e->cfg.max_batch_tokens || pass_padded(&q) > PASS_LARGE) continue;
      if (pass_padded(&q) > PASS_SMALL && (double)pass_padded(&q) > PASS_WASTE * (double)q.real)
        continue;
      bool clash = false;
      for (int64_t k = 0; k < np && !clash; k++) {
        const serve_job *o = u[picked[k]].job;
        clash = o->adapter == u[i].job->adapter && o->nseq != u[i].job->nseq;
      }
      if (clash) continue;
    }
    p = pass_with(&p, &u[i]);
    picked[np++] = i;
    taken[i] = true;
  }
  return np;
}

/* Whether output `which` (0 logits, 1 start, 2 end) of an adapter's head
 * has a position along dim 1: the token and span heads' do. */
static bool has_positions(const serve_adapter *a, int which) {
  pt_task_kind head = a->task->head;
  return which > 0 || head == PT_TASK_TOKEN_CLASSIFICATION || head == PT_TASK_QUESTION_ANSWERING;
}

/* Copies row `row` of a pass's output into the job's output (created on
 * first use, zeros: [features, ...] with the job's longest sequence where
 * the output has positions); positions past the pass's or the job's length
 * are nobody's. */
static pt_status copy_row(serve_job *job, int which, const pt_tensor *src, int64_t row,
                          int64_t index) {
  pt_tensor **dst = which == 0 ? &job->logits : which == 1 ? &job->start_logits
                                                           : &job->end_logits;
  if (!src) return PT_OK;
  bool seq = has_positions(job->adapter, which) && src->ndim >= 2;
  if (!*dst) {
    int64_t shape[PT_MAX_DIMS];
    memcpy(shape, src->shape, sizeof(int64_t) * (size_t)src->ndim);
    shape[0] = job->data.n;
    if (seq) shape[1] = job->seq;
    if (!(*dst = pt_zeros(src->dtype, src->ndim, shape))) return pt_error_code();
  }
  int64_t len = !seq ? 0 : src->shape[1] < job->seq ? src->shape[1] : job->seq;
  pt_tensor *s0 = pt_raw_narrow(src, 0, row, 1), *d0 = pt_raw_narrow(*dst, 0, index, 1);
  pt_tensor *s1 = seq && s0 ? pt_raw_narrow(s0, 1, 0, len) : NULL;
  pt_tensor *d1 = seq && d0 ? pt_raw_narrow(d0, 1, 0, len) : NULL;
  pt_status st = s0 && d0 && (!seq || (s1 && d1)) ? pt_copy_into(seq ? d1 : d0, seq ? s1 : s0)
                                                  : pt_error_code();
  pt_tensor *t[] = {s0, d0, s1, d1};
  for (int i = 0; i < 4; i++) pt_tensor_free(t[i]);
  return st;
}

/* One group per adapter of a pass, in the order the adapters first appear. */
typedef struct {
  serve_adapter *adapter;
  const task_feature **feats;
  const unit **units;
  int64_t n;
  task_batch tb;
} group;

/* Runs one pass (units u[picked[0..np)]) as one mixed batch and copies
 * each unit's outputs into its job. */
static pt_status run_pass(serve_engine *e, const unit *u, const int64_t *picked, int64_t np) {
  group *g = calloc((size_t)np, sizeof *g);
  pt_mixed_group *mg = calloc((size_t)np, sizeof *mg);
  pt_model_outputs *outs = calloc((size_t)np, sizeof *outs);
  const task_feature **feats = malloc(sizeof *feats * (size_t)np);
  const unit **units = malloc(sizeof *units * (size_t)np);
  pt_status st = g && mg && outs && feats && units ? PT_OK
                                                   : pt_error(PT_ERR_NOMEM, "batch: out of memory");
  int ng = 0;
  for (int64_t i = 0; st == PT_OK && i < np; i++) {
    int k = 0;
    while (k < ng && g[k].adapter != u[picked[i]].job->adapter) k++;
    if (k == ng) g[ng++].adapter = u[picked[i]].job->adapter;
    g[k].n++;
  }
  int64_t placed = 0;
  for (int k = 0; st == PT_OK && k < ng; k++) {
    g[k].feats = feats + placed;
    g[k].units = units + placed;
    int64_t nf = 0;
    for (int64_t i = 0; i < np; i++) {
      const unit *x = &u[picked[i]];
      if (x->job->adapter != g[k].adapter) continue;
      g[k].units[nf] = x;
      g[k].feats[nf++] = &x->job->data.f[x->index];
    }
    placed += nf;
    st = task_batch_make(g[k].feats, nf, g[k].adapter->task->head, e->pad_id, false, &g[k].tb);
    if (st == PT_OK)
      mg[k] = (pt_mixed_group){&g[k].adapter->model,
                               {g[k].tb.ids, g[k].tb.mask, g[k].tb.types, NULL, NULL, NULL}};
  }
  if (st == PT_OK) {
    pthread_mutex_lock(e->compute);
    st = pt_mixed_forward(mg, ng, (pt_nn_mode){false, NULL}, outs);
    pthread_mutex_unlock(e->compute);
  }
  int64_t width = 0, rows = 0;
  for (int k = 0; st == PT_OK && k < ng; k++) {
    for (int64_t i = 0; st == PT_OK && i < g[k].n; i++) {
      const unit *x = g[k].units[i];
      const pt_tensor *o[3] = {outs[k].logits, outs[k].start_logits, outs[k].end_logits};
      for (int w = 0; st == PT_OK && w < 3; w++) st = copy_row(x->job, w, o[w], i, x->index);
    }
    const pt_tensor *ids = g[k].tb.ids;
    int64_t gr = ids->ndim == 3 ? ids->shape[0] * ids->shape[1] : ids->shape[0];
    int64_t gw = ids->shape[ids->ndim - 1] + pt_model_prompt_positions(&g[k].adapter->model);
    rows += gr;
    if (gw > width) width = gw;
    metrics_adapter_rows(e->metrics, g[k].adapter->name, gr);
  }
  if (st == PT_OK) metrics_batch(e->metrics, rows, ng, rows * width);
  for (int k = 0; k < ng; k++) {
    pt_model_outputs_free(&outs[k]);
    task_batch_free(&g[k].tb);
  }
  free(g);
  free(mg);
  free(outs);
  free(feats);
  free(units);
  return st;
}

/* Ends the batch's jobs that have no unit left to run (all of them after a
 * failure; all of them when `left` is NULL), waking their submitters;
 * left[i] becomes -1 for an ended job, which from then on is its
 * submitter's again (b->jobs[i] may be gone). */
static void finish_jobs(serve_engine *e, batch *b, int64_t *left, pt_status st) {
  pthread_mutex_lock(&e->lock);
  bool any = false;
  for (int i = 0; i < b->n; i++) {
    serve_job *job = b->jobs[i];
    if (left && (left[i] < 0 || (st == PT_OK && left[i]))) continue;
    if (left) left[i] = -1;
    job->state = st == PT_OK ? JOB_DONE : JOB_FAILED;
    if (st != PT_OK) snprintf(job->message, sizeof job->message, "%s", pt_error_message());
    any = true;
  }
  pthread_mutex_unlock(&e->lock);
  if (any) pthread_cond_broadcast(&e->done);
}

/* Runs the batch: its jobs' features sorted by length into encoder passes
 * (several adapters a pass), each job answered after its last pass. */
static void run_batch(serve_engine *e, batch *b) {
  int64_t n = 0;
  for (int i = 0; i < b->n; i++) n += b->jobs[i]->data.n;
  unit *u = malloc(sizeof *u * (size_t)(n ? n : 1));
  bool *taken = calloc((size_t)(n ? n : 1), sizeof *taken);
  int64_t *picked = malloc(sizeof *picked * (size_t)(n ? n : 1));
  int64_t *left = calloc((size_t)b->n, sizeof *left);
  if (!u || !taken || !picked || !left) {
    finish_jobs(e, b, NULL, pt_error(PT_ERR_NOMEM, "batch: out of memory"));
    free(u), free(taken), free(picked), free(left);
    return;
  }
  int64_t k = 0;
  for (int i = 0; i < b->n; i++) {
    serve_job *job = b->jobs[i];
    const pt_model *m = &job->adapter->model;
    for (int64_t f = 0; f < job->data.n; f++) {
      const task_feature *tf = &job->data.f[f];
      u[k++] = (unit){job, i, f, tf->nseq, feature_len(tf), pt_model_prompt_positions(m),
                      pt_model_positions(m)};
    }
    left[i] = job->data.n;
  }
  qsort(u, (size_t)n, sizeof *u, unit_order);
  finish_jobs(e, b, left, PT_OK); /* jobs without features */
  pt_status st = PT_OK;
  for (int64_t done = 0; st == PT_OK && done < n;) {
    int64_t np = pick_pass(e, u, n, taken, picked);
    st = run_pass(e, u, picked, np);
    done += np;
    for (int64_t i = 0; i < np; i++) left[u[picked[i]].slot]--;
    finish_jobs(e, b, left, st);
  }
  free(u);
  free(taken);
  free(picked);
  free(left);
}

static void *batcher(void *arg) {
  serve_engine *e = arg;
  if (e->cfg.threads > 0) omp_set_num_threads(e->cfg.threads);
  pt_no_grad_enter();
  batch b = {0};
  pthread_mutex_lock(&e->lock);
  for (;;) {
    while (!e->head && !e->stopping) pthread_cond_wait(&e->work, &e->lock);
    if (!e->head) break; /* stopping with nothing left */
    /* wait a little for company while the batch is not full */
    double until = e->head->arrival + e->cfg.max_wait_ms / 1000.0;
    while (e->head && !e->stopping && engine_now() < until &&
           queued_cost(e) < e->cfg.max_batch_tokens) {
      struct timespec ts = at_time(until);
      pthread_cond_timedwait(&e->work, &e->lock, &ts);
    }
    b.n = 0;
    b.cost = 0;
    bool expired = take_batch(e, &b);
    pthread_mutex_unlock(&e->lock);
    if (expired) pthread_cond_broadcast(&e->done);
    if (b.n) run_batch(e, &b);
    pthread_mutex_lock(&e->lock);
  }
  pthread_mutex_unlock(&e->lock);
  free(b.jobs);
  pt_no_grad_exit();
  return NULL;
}

pt_status engine_start(serve_engine *e, const engine_config *cfg, pthread_mutex_t *compute,
                       int64_t pad_id, serve_metrics *metrics) {
  memset(e, 0, sizeof *e);
  e->cfg = *cfg;
  e->compute = compute;
  e->pad_id = pad_id;
  e->metrics = metrics;
  pthread_mutex_init(&e->lock, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&e->work, &ca);
  pthread_cond_init(&e->done, &ca);
  pthread_condattr_destroy(&ca);
  int rc = pthread_create(&e->thread, NULL, batcher, e);
  if (rc) return pt_error(PT_ERR_STATE, "serve: cannot start the batcher thread: %s", strerror(rc));
  e->started = true;
  return PT_OK;
}

void engine_stop(serve_engine *e) {
  if (!e->compute) return; /* never started */
  if (e->started) {
    pthread_mutex_lock(&e->lock);
    e->stopping = true;
    pthread_cond_signal(&e->work);
    pthread_mutex_unlock(&e->lock);
    pthread_join(e->thread, NULL);
  }
  pthread_cond_destroy(&e->work);
  pthread_cond_destroy(&e->done);
  pthread_mutex_destroy(&e->lock);
  memset(e, 0, sizeof *e);
}
