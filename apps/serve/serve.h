/* `ptune serve`: an HTTP/1.1 JSON server for many adapters on one backbone.
 *
 *   POST   /v1/predict          {"adapter": NAME, "inputs": [...]} -> results
 *   GET    /v1/adapters         the adapters loaded
 *   POST   /v1/adapters/NAME    {"path": DIR}: load (needs the token)
 *   DELETE /v1/adapters/NAME    unload (needs the token)
 *   GET    /healthz             liveness (never needs the token)
 *   GET    /metrics             Prometheus text
 *
 * HTTP is libmicrohttpd's (http.c): a parser hardened by years of fuzzing
 * and RFC compliance work, one thread per connection, so a request's
 * thread can parse, tokenize and wait for its batch while the batcher
 * (engine.h) runs the model. Requests answer JSON errors {"error":
 * {"code", "message"}} with the status that fits (400, 401, 404, 405, 409,
 * 413, 422, 503 + Retry-After, 504, 500). SIGTERM or SIGINT stops
 * accepting, lets the requests in flight finish and exits 0. One log line
 * per request on stderr: method, path, status, adapter, rows, milliseconds.
 *
 * The model code does not know HTTP: the engine forms mixed batches
 * (models/pt_mixed.h) and the task rows read inputs and write results
 * (apps/tasks/task.h). */
#ifndef APPS_SERVE_SERVE_H
#define APPS_SERVE_SERVE_H

#include <stdbool.h>
#include <stdint.h>

#include "apps/serve/adapters.h"
#include "apps/serve/engine.h"
#include "apps/serve/metrics.h"

typedef struct {
  const char *model;        /* the backbone's directory */
  const char **adapters;    /* "NAME=DIR" each */
  int nadapters;
  const char *host;         /* "127.0.0.1" */
  int port;                 /* 0: any free port (printed) */
  const char *token_file;   /* NULL: no token (loading/unloading refused) */
  int threads;              /* compute threads (0: OpenMP's default) */
  pt_dtype backbone_dtype;  /* PT_F32 (memset's 0) or PT_BF16: the frozen matrices' */
  int64_t max_batch_tokens; /* 16384 */
  double max_wait_ms;       /* 2 */
  int64_t queue_size;       /* 256 */
  int64_t max_body_bytes;   /* 1 MiB */
  int64_t max_inputs;       /* 64 per request */
  int64_t timeout_ms;       /* 30000: a request's deadline */
  int64_t max_connections;  /* 512 */
} serve_config;

/* The defaults above. */
void serve_config_default(serve_config *c);

/* Loads the backbone and adapters, serves until SIGTERM/SIGINT, drains.
 * Returns the process exit code (0 after a clean drain; 1 when it could not
 * start, with one line on stderr). */
int serve_run(const serve_config *c);

/* ---- internal to apps/serve ---- */

typedef struct serve_server {
  serve_config cfg;
  pt_backbone bb;
  bool bb_ok;
  pt_tokenizer *tok;
  pthread_mutex_t compute;
  adapter_registry reg;
  bool reg_ok;
  serve_engine engine;
  serve_metrics metrics;
  char *token;              /* NULL: none */
  struct MHD_Daemon *daemon;
  int port;                 /* bound */
  int inflight;             /* requests between arrival and answer (atomic) */
  bool draining;            /* atomic */
} serve_server;

/* Starts the HTTP daemon on cfg's host and port (http.c). */
pt_status http_start(serve_server *s);
/* Stops accepting connections; requests in flight go on. */
void http_quiesce(serve_server *s);
void http_stop(serve_server *s);

#endif
