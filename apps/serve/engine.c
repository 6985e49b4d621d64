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

pt_status job_prepare(serve_job *job, const pt_tokenizer *tok, const json_t *inputs) {
  const serve_adapter *a = job->adapter;
  PT_TRY(task_data_from_inputs(a->task, &a->opts, inputs, &job->data));
  PT_TRY(task_data_encode(&job->data, tok, &a->opts));
  const task_data *td = &job->data;
  job->nseq = td->n ? td->f[0].nseq : 0;
  for (int64_t i = 0; i < td->n; i++) {
    const task_feature *f = &td->f[i];
    if (f->nseq != job->nseq)
      return pt_error(PT_ERR_FORMAT, "inputs: the inputs of one request need the same number of "
                      "choices (%d and %d)", job->nseq, f->nseq);
    job->rows += f->nseq;
    for (int k = 0; k < f->nseq; k++)
      if (f->len[k] > job->seq) job->seq = f->len[k];
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

/* What a batch holds while it is formed. */
typedef struct {
  serve_job **jobs;
  int n, cap;
  int64_t rows, seq, positions;
} batch;

static int64_t positions_of(const serve_job *job) {
  return pt_model_positions(&job->adapter->model);
}

/* The batch's cost with `job` added: rows × (longest sequence + longest
 * prefix or prompt). */
static int64_t cost_with(const batch *b, const serve_job *job) {
  int64_t seq = b->seq > job->seq ? b->seq : job->seq;
  int64_t pos = b->positions > positions_of(job) ? b->positions : positions_of(job);
  return (b->rows + job->rows) * (seq + pos);
}

/* Whether job can join: one choice count per adapter's row group, and no
 * more than a quarter of the joined batch's positions wasted on padding
 * compared with running the two apart (short rows are not padded to a long
 * context's length, nor to a long prompt: length bucketing). The oldest
 * job always starts a batch, so a job left out goes first next time. */
static bool fits_group(const batch *b, const serve_job *job) {
  for (int i = 0; i < b->n; i++)
    if (b->jobs[i]->adapter == job->adapter && b->jobs[i]->nseq != job->nseq) return false;
  if (!b->n) return true;
  int64_t apart = b->rows * (b->seq + b->positions) + job->rows * (job->seq + positions_of(job));
  return 4 * cost_with(b, job) <= 5 * apart;
}

static bool batch_add(batch *b, serve_job *job) {
  if (b->n == b->cap) {
    int cap = b->cap ? 2 * b->cap : 64;
    serve_job **grown = realloc(b->jobs, sizeof *grown * (size_t)cap);
    if (!grown) return false;
    b->jobs = grown;
    b->cap = cap;
  }
  b->jobs[b->n++] = job;
  b->rows += job->rows;
  if (job->seq > b->seq) b->seq = job->seq;
  if (positions_of(job) > b->positions) b->positions = positions_of(job);
  return true;
}

/* Takes the jobs of the next batch off the queue (under e->lock); expired
 * ones are dropped on the way. Returns whether any expired. */
static bool take_batch(serve_engine *e, batch *b) {
  double now = engine_now();
  bool expired = false;
  serve_job *prev = NULL;
  for (serve_job *job = e->head, *next; job; job = next) {
    next = job->next;
    if (now >= job->deadline) {
      unlink_job(e, job, prev);
      job->state = JOB_EXPIRED;
      expired = true;
      continue;
    }
    if (!fits_group(b, job)) {
      prev = job;
      continue;
    }
    if (b->n && cost_with(b, job) > e->cfg.max_batch_tokens) break;
    if (!batch_add(b, job)) break;
    unlink_job(e, job, prev);
    job->state = JOB_RUNNING;
  }
  return expired;
}

/* The queued jobs' cost as one batch (under e->lock). */
static int64_t queued_cost(serve_engine *e) {
  batch b = {0};
  int64_t cost = 0;
  for (serve_job *job = e->head; job; job = job->next) {
    cost = cost_with(&b, job);
    b.rows += job->rows;
    if (job->seq > b.seq) b.seq = job->seq;
    if (positions_of(job) > b.positions) b.positions = positions_of(job);
  }
  return cost;
}

/* One group per adapter, in the order the adapters first appear. */
typedef struct {
  serve_adapter *adapter;
  serve_job **jobs;
  int njobs;
  const task_feature **feats;
  int64_t nfeats;
  task_batch tb;
} group;

/* Copies rows [off, off + n) of t (dim 0) into a new tensor, or NULL for
 * a NULL t. */
static pt_tensor *rows_copy(const pt_tensor *t, int64_t off, int64_t n, pt_status *st) {
  if (!t || *st != PT_OK) return NULL;
  pt_tensor *v = pt_raw_narrow(t, 0, off, n);
  pt_tensor *c = v ? pt_raw_clone(v) : NULL;
  pt_tensor_free(v);
  if (!c) *st = pt_error_code();
  return c;
}

/* Runs the batch's jobs as one mixed batch; fills each job's outputs. */
static pt_status run_batch(serve_engine *e, batch *b) {
  group *g = calloc((size_t)b->n, sizeof *g);
  pt_mixed_group *mg = calloc((size_t)b->n, sizeof *mg);
  pt_model_outputs *outs = calloc((size_t)b->n, sizeof *outs);
  serve_job **order = calloc((size_t)b->n, sizeof *order);
  pt_status st = g && mg && outs && order ? PT_OK : pt_error(PT_ERR_NOMEM, "batch: out of memory");
  int ng = 0;
  for (int i = 0; st == PT_OK && i < b->n; i++) {
    int k = 0;
    while (k < ng && g[k].adapter != b->jobs[i]->adapter) k++;
    if (k == ng) g[ng++].adapter = b->jobs[i]->adapter;
    g[k].nfeats += b->jobs[i]->data.n;
    g[k].njobs++;
  }
  /* each group's jobs and features, in arrival order */
  int placed = 0;
  for (int k = 0; st == PT_OK && k < ng; k++) {
    g[k].jobs = order + placed;
    g[k].feats = malloc(sizeof *g[k].feats * (size_t)(g[k].nfeats ? g[k].nfeats : 1));
    if (!g[k].feats) st = pt_error(PT_ERR_NOMEM, "batch: out of memory");
    int64_t nf = 0;
    int nj = 0;
    for (int i = 0; st == PT_OK && i < b->n; i++)
      if (b->jobs[i]->adapter == g[k].adapter) {
        g[k].jobs[nj++] = b->jobs[i];
        for (int64_t f = 0; f < b->jobs[i]->data.n; f++) g[k].feats[nf++] = &b->jobs[i]->data.f[f];
      }
    placed += nj;
    if (st == PT_OK)
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
  int64_t S = 0, P = 0, rows = 0;
  for (int k = 0; st == PT_OK && k < ng; k++) {
    int64_t off = 0;
    for (int j = 0; j < g[k].njobs; j++) {
      serve_job *job = g[k].jobs[j];
      int64_t n = job->data.n;
      job->logits = rows_copy(outs[k].logits, off, n, &st);
      job->start_logits = rows_copy(outs[k].start_logits, off, n, &st);
      job->end_logits = rows_copy(outs[k].end_logits, off, n, &st);
      off += n;
    }
    int64_t gr = g[k].tb.ids->ndim == 3 ? g[k].tb.ids->shape[0] * g[k].tb.ids->shape[1]
                                         : g[k].tb.ids->shape[0];
    int64_t gs = g[k].tb.ids->shape[g[k].tb.ids->ndim - 1];
    rows += gr;
    if (gs > S) S = gs;
    if (pt_model_positions(&g[k].adapter->model) > P) P = pt_model_positions(&g[k].adapter->model);
    metrics_adapter_rows(e->metrics, g[k].adapter->name, gr);
  }
  if (st == PT_OK) metrics_batch(e->metrics, rows, ng, rows * (S + P));
  for (int k = 0; k < ng; k++) {
    pt_model_outputs_free(&outs[k]);
    task_batch_free(&g[k].tb);
    free(g[k].feats);
  }
  free(g);
  free(mg);
  free(outs);
  free(order);
  return st;
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
    b.rows = b.seq = b.positions = 0;
    bool expired = take_batch(e, &b);
    pthread_mutex_unlock(&e->lock);
    if (expired) pthread_cond_broadcast(&e->done);
    pt_status st = b.n ? run_batch(e, &b) : PT_OK;
    pthread_mutex_lock(&e->lock);
    for (int i = 0; i < b.n; i++) {
      b.jobs[i]->state = st == PT_OK ? JOB_DONE : JOB_FAILED;
      if (st != PT_OK) snprintf(b.jobs[i]->message, sizeof b.jobs[i]->message, "%s",
                                pt_error_message());
    }
    pthread_cond_broadcast(&e->done);
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
