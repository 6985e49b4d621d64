/* The server's counters, rendered in Prometheus' text exposition format
 * (version 0.0.4) by GET /metrics:
 *   ptune_requests_total{route, code}       requests answered, by route and status
 *   ptune_request_duration_seconds          latency histogram of every request
 *   ptune_batch_rows, ptune_batch_adapters  histograms of the batches run
 *   ptune_batch_tokens_total                positions computed (padding included)
 *   ptune_queue_depth                       requests waiting for a batch (gauge)
 *   ptune_adapter_rows_total{adapter}       encoder rows run per adapter
 *   ptune_adapters_loaded                   adapters being served (gauge)
 *   process_resident_memory_bytes           RSS (from /proc/self/statm)
 * Every function is thread-safe. Ownership: serve_metrics is caller-owned
 * (serve_metrics_init / _free). */
#ifndef APPS_SERVE_METRICS_H
#define APPS_SERVE_METRICS_H

#include <pthread.h>
#include <stdint.h>

#define METRICS_LATENCY_BUCKETS 14
#define METRICS_ROWS_BUCKETS 11
#define METRICS_ADAPTER_BUCKETS 7

typedef struct metrics_count metrics_count;

typedef struct {
  pthread_mutex_t lock;
  metrics_count *requests;   /* by (route, code) */
  metrics_count *rows;       /* by adapter name */
  uint64_t latency[METRICS_LATENCY_BUCKETS];
  double latency_sum;
  uint64_t latency_count;
  uint64_t batch_rows[METRICS_ROWS_BUCKETS];
  uint64_t batch_adapters[METRICS_ADAPTER_BUCKETS];
  double batch_rows_sum, batch_adapters_sum;
  uint64_t batches;
  uint64_t batch_tokens;
} serve_metrics;

void serve_metrics_init(serve_metrics *m);
void serve_metrics_free(serve_metrics *m);

/* One answered request: its route ("predict", "adapters", "healthz", ...),
 * status code and seconds from arrival to answer. */
void metrics_request(serve_metrics *m, const char *route, int code, double seconds);
/* One batch run: rows, adapters (groups) and positions computed. */
void metrics_batch(serve_metrics *m, int64_t rows, int64_t adapters, int64_t tokens);
/* Rows run for one adapter. */
void metrics_adapter_rows(serve_metrics *m, const char *adapter, int64_t rows);

/* The exposition text (a new string, free()); the gauges are passed in. */
char *metrics_render(serve_metrics *m, int64_t queue_depth, int64_t adapters_loaded);

/* This process's resident set in bytes (0 when unknown). */
int64_t metrics_rss_bytes(void);

#endif
