/* `ptune serve` from start to drain (see serve.h). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apps/serve/serve.h"
#include "apps/tasks/lines.h"
#include "apps/tasks/task.h"

void serve_config_default(serve_config *c) {
  memset(c, 0, sizeof *c);
  c->host = "127.0.0.1";
  c->port = 8080;
  c->max_batch_tokens = 16384;
  c->max_wait_ms = 2;
  c->queue_size = 256;
  c->max_body_bytes = 1 << 20;
  c->max_inputs = 64;
  c->timeout_ms = 30000;
  c->max_connections = 512;
}

static pt_status check_config(const serve_config *c) {
  if (!c->model) return pt_error(PT_ERR_ARG, "--model DIR is required");
  if (c->port < 0 || c->port > 65535)
    return pt_error(PT_ERR_ARG, "--port must be in [0, 65535], got %d", c->port);
  if (c->max_batch_tokens < 1 || c->queue_size < 1 || c->max_body_bytes < 64 ||
      c->max_inputs < 1 || c->timeout_ms < 1 || c->max_connections < 1 || c->threads < 0 ||
      !(c->max_wait_ms >= 0))
    return pt_error(PT_ERR_ARG, "serve: a limit out of range (see ptune serve --help)");
  return PT_OK;
}

/* The token: the file's first line, trimmed; at least 16 characters. */
static pt_status read_token(const char *path, char **out) {
  *out = NULL;
  line_reader lr;
  PT_TRY(lines_open(&lr, path));
  size_t len = 0;
  bool eof = false;
  pt_status st = lines_next(&lr, &len, &eof);
  while (st == PT_OK && !eof && len && (lr.buf[len - 1] == ' ' || lr.buf[len - 1] == '\t')) len--;
  if (st == PT_OK && (eof || len < 16))
    st = pt_error(PT_ERR_FORMAT, "%s: the token must be one line of at least 16 characters", path);
  if (st == PT_OK && !(*out = strndup(lr.buf, len))) st = pt_error(PT_ERR_NOMEM, "out of memory");
  lines_close(&lr);
  return st;
}

/* "NAME=DIR" -> loaded. */
static pt_status load_initial(serve_server *s, const char *spec) {
  const char *eq = strchr(spec, '=');
  if (!eq || eq == spec || !eq[1])
    return pt_error(PT_ERR_ARG, "--adapter '%s': expected NAME=DIR", spec);
  char name[ADAPTER_NAME_MAX + 2];
  size_t n = (size_t)(eq - spec);
  if (n > ADAPTER_NAME_MAX) n = ADAPTER_NAME_MAX + 1; /* too long: refused by the name check */
  memcpy(name, spec, n);
  name[n] = '\0';
  json_t *desc = NULL;
  pt_status st = adapters_load(&s->reg, name, eq + 1, &desc);
  if (st == PT_OK) {
    const char *task = json_string_value(json_object_get(desc, "task"));
    const char *method = json_string_value(json_object_get(desc, "method"));
    fprintf(stderr, "ptune serve: adapter %s: %s %s from %s\n", name, method, task, eq + 1);
  }
  json_decref(desc);
  return st;
}

static pt_status start(serve_server *s) {
  PT_TRY(check_config(&s->cfg));
  if (s->cfg.token_file) PT_TRY(read_token(s->cfg.token_file, &s->token));
  /* every part a head may read: the pooler (cls, mc) and, when the
   * checkpoint has it, the masked-LM head (verbalizers) */
  pt_status st = pt_backbone_load(&s->bb, s->cfg.model, (pt_backbone_parts){true, true}, false,
                                  -1, 0);
  if (st != PT_OK)
    st = pt_backbone_load(&s->bb, s->cfg.model, (pt_backbone_parts){true, false}, false, -1, 0);
  PT_TRY(st);
  s->bb_ok = true;
  PT_TRY(backbone_dtype_set(&s->bb, s->cfg.backbone_dtype)); /* before any adapter attaches */
  if (!(s->tok = pt_tokenizer_load(s->cfg.model))) return pt_error_code();
  adapters_init(&s->reg, &s->bb, s->cfg.model, &s->compute);
  s->reg_ok = true;
  for (int i = 0; i < s->cfg.nadapters; i++) PT_TRY(load_initial(s, s->cfg.adapters[i]));
  engine_config ec = {s->cfg.max_batch_tokens, s->cfg.max_wait_ms, s->cfg.queue_size,
                      s->cfg.threads};
  int64_t pad = pt_tokenizer_pad_id(s->tok);
  PT_TRY(engine_start(&s->engine, &ec, &s->compute, pad < 0 ? 0 : pad, &s->metrics));
  return http_start(s);
}

/* SIGTERM and SIGINT may land on any thread (OpenMP's pool exists before
 * the command runs): the handler only writes the signal's number into a
 * pipe that serve_run waits on. */
static int stop_pipe[2] = {-1, -1};

static void on_stop_signal(int sig) {
  unsigned char b = (unsigned char)sig;
  ssize_t n = write(stop_pipe[1], &b, 1);
  (void)n; /* a full pipe already holds a stop */
}

static pt_status catch_stop_signals(void) {
  if (pipe(stop_pipe)) return pt_error(PT_ERR_IO, "serve: pipe: %s", strerror(errno));
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  return PT_OK;
}

/* Blocks until SIGTERM or SIGINT; returns which. */
static int wait_stop_signal(void) {
  unsigned char b = 0;
  while (read(stop_pipe[0], &b, 1) < 0 && errno == EINTR) {
  }
  return b;
}

int serve_run(const serve_config *c) {
  if (catch_stop_signals() != PT_OK) {
    fprintf(stderr, "ptune serve: %s\n", pt_error_message());
    return 1;
  }

  serve_server *s = calloc(1, sizeof *s);
  if (!s) {
    fprintf(stderr, "ptune serve: out of memory\n");
    return 1;
  }
  s->cfg = *c;
  pthread_mutex_init(&s->compute, NULL);
  serve_metrics_init(&s->metrics);
  pt_status st = start(s);
  int code = 0;
  if (st != PT_OK) {
    fprintf(stderr, "ptune serve: %s\n", pt_error_message());
    code = 1;
  } else {
    fprintf(stderr, "ptune serve: listening on http://%s:%d (%d adapters; SIGTERM or Ctrl-C "
            "stops)\n", s->cfg.host, s->port, adapters_count(&s->reg));
    int sig = wait_stop_signal();
    fprintf(stderr, "ptune serve: %s: finishing %d requests in flight\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM",
            __atomic_load_n(&s->inflight, __ATOMIC_ACQUIRE));
    __atomic_store_n(&s->draining, true, __ATOMIC_RELEASE);
    http_quiesce(s);
    struct timespec tick = {0, 10 * 1000 * 1000};
    while (__atomic_load_n(&s->inflight, __ATOMIC_ACQUIRE) > 0) nanosleep(&tick, NULL);
  }
  http_stop(s);
  engine_stop(&s->engine);
  if (s->reg_ok) adapters_free(&s->reg);
  if (s->bb_ok) pt_backbone_free(&s->bb);
  pt_tokenizer_free(s->tok);
  free(s->token);
  serve_metrics_free(&s->metrics);
  pthread_mutex_destroy(&s->compute);
  free(s);
  if (code == 0) fprintf(stderr, "ptune serve: stopped\n");
  return code;
}
