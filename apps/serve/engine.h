/* The server's engine: requests become jobs in a bounded queue; one batcher
 * thread forms mixed batches from them (dynamic batching across requests
 * and adapters, models/pt_mixed.h) and runs them on the backbone.
 *
 * A job is one predict request: its adapter (a reference the job's owner
 * holds), its examples and features (encoded by the request's own thread),
 * and, when done, its rows of the model's outputs (copies the job owns:
 * [features, ...], positions up to the job's longest sequence).
 *
 * Batching: the batcher takes queued jobs in arrival order while their
 * cost, Σ rows × (sequence + prefix or prompt), stays within
 * max_batch_tokens (the oldest job always goes), waiting up to max_wait_ms
 * after the oldest job's arrival for more to come while the batch is not
 * full. It then runs the batch's features (a row; a multiple-choice
 * example's choices), of every job and adapter, sorted by width (sequence
 * + prompt) as encoder passes of rows of about one width: a pass takes the
 * widest features left and every other that keeps its padding within a
 * tenth of its work (length bucketing per row, not per request) and itself
 * within max_batch_tokens; within a pass the rows of one adapter form one
 * row group (models/pt_mixed.h), and one adapter's multiple-choice rows
 * share a choice count. A job is answered as soon as its last feature's
 * pass has run. A job whose deadline passes before it is taken is dropped
 * (the request answers 504).
 *
 * Threads: engine_submit and engine_wait run on the requests' threads, the
 * batcher on its own (OpenMP inside the model code); the queue has one lock,
 * the backbone another (`compute`, shared with the adapter registry).
 *
 * Ownership: serve_engine is caller-owned (engine_start / engine_stop); a
 * job is the submitter's (job_free after engine_wait returned). */
#ifndef APPS_SERVE_ENGINE_H
#define APPS_SERVE_ENGINE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "apps/serve/adapters.h"
#include "apps/serve/metrics.h"
#include "apps/tasks/task.h"

typedef enum {
  JOB_NEW = 0,
  JOB_QUEUED,
  JOB_RUNNING,
  JOB_DONE,    /* outputs filled */
  JOB_FAILED,  /* the batch failed: message says why */
  JOB_EXPIRED  /* its deadline passed before it ran */
} job_state;

typedef struct serve_job {
  serve_adapter *adapter;    /* borrowed: the submitter holds a reference */
  task_data data;            /* examples and features */
  int64_t rows, seq;         /* encoder rows (features × choices), longest sequence */
  int64_t cost;              /* Σ rows × (sequence + the adapter's prefix or prompt) */
  int nseq;                  /* sequences per feature (choices) */
  double arrival, deadline;  /* monotonic seconds */
  job_state state;
  pt_tensor *logits, *start_logits, *end_logits; /* its rows of the outputs (owned) */
  char message[256];         /* JOB_FAILED */
  struct serve_job *next;    /* in the queue */
} serve_job;

typedef struct {
  int64_t max_batch_tokens;
  double max_wait_ms;
  int64_t queue_size;        /* jobs waiting at most */
  int threads;               /* OpenMP threads of the batches (0: OpenMP's default) */
} engine_config;

typedef struct {
  engine_config cfg;
  pthread_mutex_t lock;      /* the queue, job states */
  pthread_cond_t work;       /* the batcher waits on it */
  pthread_cond_t done;       /* submitters wait on it */
  serve_job *head, *tail;
  int64_t queued;
  bool stopping;
  pthread_t thread;
  bool started;
  pthread_mutex_t *compute;  /* borrowed */
  int64_t pad_id;
  serve_metrics *metrics;    /* borrowed */
} serve_engine;

/* Monotonic seconds. */
double engine_now(void);

pt_status engine_start(serve_engine *e, const engine_config *cfg, pthread_mutex_t *compute,
                       int64_t pad_id, serve_metrics *metrics);
/* Lets the batcher finish the queued jobs, then joins it. */
void engine_stop(serve_engine *e);

/* Reads the request's inputs and encodes them for job->adapter (on the
 * caller's thread): PT_ERR_FORMAT (and the like) when an input does not fit
 * the adapter's task. */
pt_status job_prepare(serve_job *job, const pt_tokenizer *tok, const json_t *inputs);
/* Queues the job: false when the queue is full (the job stays the
 * caller's, unqueued). */
bool engine_submit(serve_engine *e, serve_job *job);
/* Waits until the job is done, failed or expired; a job still queued at its
 * deadline is taken out and expires. Returns the final state. */
job_state engine_wait(serve_engine *e, serve_job *job);
/* The job's results: {"adapter", "task", "results": [serve_json per
 * example]} (a new reference) after JOB_DONE. */
pt_status job_results(const serve_job *job, json_t **out);
void job_free(serve_job *job);

/* Jobs waiting in the queue. */
int64_t engine_queue_depth(serve_engine *e);

#endif
