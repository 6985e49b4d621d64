/* Server counters and their Prometheus text (see metrics.h). */
#include "apps/serve/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct metrics_count {
  char key[96]; /* "route\tcode" or the adapter's name */
  uint64_t n;
  metrics_count *next;
};

static const double latency_le[METRICS_LATENCY_BUCKETS - 1] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
static const double rows_le[METRICS_ROWS_BUCKETS - 1] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
static const double adapters_le[METRICS_ADAPTER_BUCKETS - 1] = {1, 2, 4, 8, 16, 32};

void serve_metrics_init(serve_metrics *m) {
  memset(m, 0, sizeof *m);
  pthread_mutex_init(&m->lock, NULL);
}

static void counts_free(metrics_count *c) {
  while (c) {
    metrics_count *next = c->next;
    free(c);
    c = next;
  }
}

void serve_metrics_free(serve_metrics *m) {
  counts_free(m->requests);
  counts_free(m->rows);
  pthread_mutex_destroy(&m->lock);
}

/* Adds n to the counter `key` of *list (created at the end; under the lock). */
static void count_add(metrics_count **list, const char *key, uint64_t n) {
  metrics_count **at = list;
  for (; *at; at = &(*at)->next)
    if (!strcmp((*at)->key, key)) {
      (*at)->n += n;
      return;
    }
  metrics_count *c = calloc(1, sizeof *c);
  if (!c) return; /* a lost count, not a failed request */
  snprintf(c->key, sizeof c->key, "%s", key);
  c->n = n;
  *at = c;
}

static void observe(uint64_t *buckets, const double *le, int nle, double v) {
  int b = 0;
  while (b < nle && v > le[b]) b++;
  buckets[b]++;
}

void metrics_request(serve_metrics *m, const char *route, int code, double seconds) {
  char key[96];
  snprintf(key, sizeof key, "%s\t%d", route, code);
  pthread_mutex_lock(&m->lock);
  count_add(&m->requests, key, 1);
  observe(m->latency, latency_le, METRICS_LATENCY_BUCKETS - 1, seconds);
  m->latency_sum += seconds;
  m->latency_count++;
  pthread_mutex_unlock(&m->lock);
}

void metrics_batch(serve_metrics *m, int64_t rows, int64_t adapters, int64_t tokens) {
  pthread_mutex_lock(&m->lock);
  observe(m->batch_rows, rows_le, METRICS_ROWS_BUCKETS - 1, (double)rows);
  observe(m->batch_adapters, adapters_le, METRICS_ADAPTER_BUCKETS - 1, (double)adapters);
  m->batch_rows_sum += (double)rows;
  m->batch_adapters_sum += (double)adapters;
  m->batches++;
  m->batch_tokens += (uint64_t)tokens;
  pthread_mutex_unlock(&m->lock);
}

void metrics_adapter_rows(serve_metrics *m, const char *adapter, int64_t rows) {
  pthread_mutex_lock(&m->lock);
  count_add(&m->rows, adapter, (uint64_t)rows);
  pthread_mutex_unlock(&m->lock);
}

int64_t metrics_rss_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long long size = 0, resident = 0;
  int got = f ? fscanf(f, "%lld %lld", &size, &resident) : 0;
  if (f) fclose(f);
  return got == 2 ? resident * (int64_t)sysconf(_SC_PAGESIZE) : 0;
}

/* A growable text. */
typedef struct {
  char *p;
  size_t n, cap;
  int failed;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...) {
  if (t->failed) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(t->p ? t->p + t->n : NULL, t->p ? t->cap - t->n : 0, fmt, ap);
    va_end(ap);
    if (k < 0) {
      t->failed = 1;
      return;
    }
    if (t->p && t->n + (size_t)k < t->cap) {
      t->n += (size_t)k;
      return;
    }
    size_t cap = t->cap ? 2 * t->cap : 4096;
    while (cap < t->n + (size_t)k + 1) cap *= 2;
    char *np = realloc(t->p, cap);
    if (!np) {
      t->failed = 1;
      return;
    }
    t->p = np;
    t->cap = cap;
  }
}

/* A label value with Prometheus' escapes (backslash, quote, newline). */
static void put_label(text *t, const char *v) {
  for (; *v; v++) {
    if (*v == '\\' || *v == '"') put(t, "\\%c", *v);
    else if (*v == '\n') put(t, "\\n");
    else put(t, "%c", *v);
  }
}

static void put_histogram(text *t, const char *name, const char *help, const uint64_t *buckets,
                          const double *le, int nle, double sum, uint64_t count) {
  put(t, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
  uint64_t cum = 0;
  for (int b = 0; b < nle; b++) {
    cum += buckets[b];
    put(t, "%s_bucket{le=\"%g\"} %llu\n", name, le[b], (unsigned long long)cum);
  }
  cum += buckets[nle];
  put(t, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9g\n%s_count %llu\n", name,
      (unsigned long long)cum, name, sum, name, (unsigned long long)count);
}

char *metrics_render(serve_metrics *m, int64_t queue_depth, int64_t adapters_loaded) {
  text t = {0};
  pthread_mutex_lock(&m->lock);
  put(&t, "# HELP ptune_requests_total Requests answered, by route and status code.\n"
          "# TYPE ptune_requests_total counter\n");
  for (const metrics_count *c = m->requests; c; c = c->next) {
    const char *tab = strchr(c->key, '\t');
    put(&t, "ptune_requests_total{route=\"%.*s\",code=\"%s\"} %llu\n", (int)(tab - c->key),
        c->key, tab + 1, (unsigned long long)c->n);
  }
  put_histogram(&t, "ptune_request_duration_seconds",
                "Seconds from a request's arrival to its answer.", m->latency, latency_le,
                METRICS_LATENCY_BUCKETS - 1, m->latency_sum, m->latency_count);
  put_histogram(&t, "ptune_batch_rows", "Encoder rows per encoder pass run.", m->batch_rows, rows_le,
                METRICS_ROWS_BUCKETS - 1, m->batch_rows_sum, m->batches);
  put_histogram(&t, "ptune_batch_adapters", "Adapters (row groups) per encoder pass run.",
                m->batch_adapters, adapters_le, METRICS_ADAPTER_BUCKETS - 1,
                m->batch_adapters_sum, m->batches);
  put(&t, "# HELP ptune_batch_tokens_total Positions computed by the encoder, padding included.\n"
          "# TYPE ptune_batch_tokens_total counter\nptune_batch_tokens_total %llu\n",
      (unsigned long long)m->batch_tokens);
  put(&t, "# HELP ptune_adapter_rows_total Encoder rows run, by adapter.\n"
          "# TYPE ptune_adapter_rows_total counter\n");
  for (const metrics_count *c = m->rows; c; c = c->next) {
    put(&t, "ptune_adapter_rows_total{adapter=\"");
    put_label(&t, c->key);
    put(&t, "\"} %llu\n", (unsigned long long)c->n);
  }
  pthread_mutex_unlock(&m->lock);
  put(&t, "# HELP ptune_queue_depth Requests waiting for a batch.\n"
          "# TYPE ptune_queue_depth gauge\nptune_queue_depth %lld\n", (long long)queue_depth);
  put(&t, "# HELP ptune_adapters_loaded Adapters being served.\n"
          "# TYPE ptune_adapters_loaded gauge\nptune_adapters_loaded %lld\n",
      (long long)adapters_loaded);
  put(&t, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
          "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %lld\n",
      (long long)metrics_rss_bytes());
  if (t.failed) {
    free(t.p);
    return NULL;
  }
  return t.p;
}
