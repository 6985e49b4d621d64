/* The HTTP side of `ptune serve` on libmicrohttpd (see serve.h): routing,
 * bodies with a size limit, the token, JSON answers and errors, the log
 * line and the metrics of every request. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "apps/serve/request.h"
#include "apps/serve/serve.h"

/* One request, from its first byte to its log line. */
typedef struct {
  double arrival;
  char method[8];
  char path[160];
  const char *route;        /* for the metrics: "predict", "adapters", ... */
  char *body;
  size_t len, cap;
  bool too_large;
  bool answered;            /* a response is queued */
  int status;
  char adapter[ADAPTER_NAME_MAX + 1];
  int64_t rows;
} request;

/* ---- answers ---- */

static enum MHD_Result answer(struct MHD_Connection *c, request *r, int status, const char *type,
                              char *body, const char *const *headers) {
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
  if (!resp) {
    free(body);
    return MHD_NO;
  }
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  for (int i = 0; headers && headers[i]; i += 2)
    MHD_add_response_header(resp, headers[i], headers[i + 1]);
  enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, resp);
  MHD_destroy_response(resp);
  r->status = status;
  r->answered = true;
  return ok;
}

static enum MHD_Result answer_json(struct MHD_Connection *c, request *r, int status, json_t *j,
                                   const char *const *headers) {
  char *text = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(7)) : NULL;
  json_decref(j);
  if (!text) text = strdup("{\"error\":{\"code\":500,\"message\":\"out of memory\"}}");
  if (!text) return MHD_NO;
  size_t n = strlen(text);
  char *line = realloc(text, n + 2); /* one line, as curl users expect */
  if (line) {
    line[n] = '\n';
    line[n + 1] = '\0';
    text = line;
  }
  return answer(c, r, status, "application/json", text, headers);
}

static enum MHD_Result error_with(struct MHD_Connection *c, request *r, int status,
                                  const char *message, const char *const *headers) {
  json_t *j = json_pack("{s:{s:i, s:s}}", "error", "code", status, "message", message);
  return answer_json(c, r, status, j, headers);
}

static enum MHD_Result error(struct MHD_Connection *c, request *r, int status,
                             const char *message) {
  return error_with(c, r, status, message, NULL);
}

/* ---- routes ---- */

static enum MHD_Result predict(serve_server *s, struct MHD_Connection *c, request *r) {
  predict_request pr;
  pt_status st = predict_request_parse(r->body ? r->body : "", r->len, s->cfg.max_inputs, &pr);
  if (st != PT_OK) return error(c, r, st == PT_ERR_ARG ? 413 : 400, pt_error_message());
  snprintf(r->adapter, sizeof r->adapter, "%s", pr.adapter);
  serve_adapter *a = adapters_get(&s->reg, pr.adapter);
  if (!a) {
    char msg[200];
    snprintf(msg, sizeof msg, "no adapter named '%.80s' is loaded (GET /v1/adapters lists them)",
             pr.adapter);
    predict_request_free(&pr);
    return error(c, r, 404, msg);
  }
  serve_job job = {.adapter = a, .arrival = r->arrival};
  double timeout = (double)(pr.timeout_ms >= 0 ? pr.timeout_ms : s->cfg.timeout_ms) / 1000.0;
  job.deadline = r->arrival + timeout;
  st = job_prepare(&job, s->tok, pr.inputs);
  predict_request_free(&pr);
  r->rows = job.rows;
  enum MHD_Result ok;
  if (st != PT_OK) {
    ok = error(c, r, st == PT_ERR_NOMEM ? 500 : 422, pt_error_message());
  } else if (!engine_submit(&s->engine, &job)) {
    static const char *const retry[] = {"Retry-After", "1", NULL};
    ok = error_with(c, r, 503, "the queue is full: retry later", retry);
  } else {
    job_state js = engine_wait(&s->engine, &job);
    json_t *out = NULL;
    if (js == JOB_EXPIRED) {
      char msg[120];
      snprintf(msg, sizeof msg, "the request could not finish within its deadline of %.0f ms",
               timeout * 1000.0);
      ok = error(c, r, 504, msg);
    } else if (js != JOB_DONE) {
      ok = error(c, r, 500, job.message);
    } else if ((st = job_results(&job, &out)) != PT_OK) {
      ok = error(c, r, 500, pt_error_message());
    } else {
      ok = answer_json(c, r, 200, out, NULL);
    }
  }
  job_free(&job);
  adapters_put(&s->reg, a);
  return ok;
}

static enum MHD_Result load(serve_server *s, struct MHD_Connection *c, request *r,
                            const char *name) {
  char *path;
  if (load_request_parse(r->body ? r->body : "", r->len, &path) != PT_OK)
    return error(c, r, 400, pt_error_message());
  json_t *desc;
  pt_status st = adapters_load(&s->reg, name, path, &desc);
  free(path);
  if (st == PT_OK) return answer_json(c, r, 201, desc, NULL);
  return error(c, r, st == PT_ERR_STATE ? 409 : st == PT_ERR_NOMEM ? 500 : 422,
               pt_error_message());
}

static enum MHD_Result unload(serve_server *s, struct MHD_Connection *c, request *r,
                              const char *name) {
  if (adapters_unload(&s->reg, name) != PT_OK) return error(c, r, 404, pt_error_message());
  return answer_json(c, r, 200, json_pack("{s:s}", "unloaded", name), NULL);
}

static enum MHD_Result metrics(serve_server *s, struct MHD_Connection *c, request *r) {
  char *text = metrics_render(&s->metrics, engine_queue_depth(&s->engine),
                              adapters_count(&s->reg));
  if (!text) return error(c, r, 500, "metrics: out of memory");
  return answer(c, r, 200, "text/plain; version=0.0.4; charset=utf-8", text, NULL);
}

/* Whether the request carries the token ("Authorization: Bearer TOKEN"),
 * compared in constant time. */
static bool authorized(const serve_server *s, struct MHD_Connection *c) {
  const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
  if (!s->token || !h || strncmp(h, "Bearer ", 7)) return false;
  const char *got = h + 7;
  size_t n = strlen(s->token), m = strlen(got);
  unsigned char diff = n != m;
  for (size_t i = 0; i < n; i++) diff |= (unsigned char)(s->token[i] ^ (i < m ? got[i] : 0));
  return diff == 0;
}

/* What a path is: its route name, the methods it takes, whether it needs
 * the token, and the adapter name in /v1/adapters/NAME. */
typedef struct {
  const char *route;
  const char *methods; /* "GET", "POST", "POST, DELETE" */
  bool admin;          /* loading/unloading: the token, always */
  const char *name;
} route_info;

static route_info route_of(const char *path) {
  if (!strcmp(path, "/v1/predict")) return (route_info){"predict", "POST", false, NULL};
  if (!strcmp(path, "/v1/adapters")) return (route_info){"adapters", "GET", false, NULL};
  if (!strncmp(path, "/v1/adapters/", 13))
    return (route_info){"adapter", "POST, DELETE", true, path + 13};
  if (!strcmp(path, "/healthz")) return (route_info){"healthz", "GET", false, NULL};
  if (!strcmp(path, "/metrics")) return (route_info){"metrics", "GET", false, NULL};
  return (route_info){"other", NULL, false, NULL};
}

/* Whether `method` is one of `methods` ("POST, DELETE"). */
static bool method_allowed(const char *methods, const char *method) {
  size_t n = strlen(method);
  for (const char *m = methods; *m;) {
    size_t k = strcspn(m, ",");
    if (k == n && !strncmp(m, method, n)) return true;
    m += k;
    while (*m == ',' || *m == ' ') m++;
  }
  return false;
}

/* Checks made before the body is read: draining, route, method, token,
 * declared size. Returns true when it answered. */
static bool screen(serve_server *s, struct MHD_Connection *c, request *r, const route_info *ri,
                   enum MHD_Result *ok) {
  if (__atomic_load_n(&s->draining, __ATOMIC_ACQUIRE)) {
    static const char *const close_hdr[] = {MHD_HTTP_HEADER_CONNECTION, "close", "Retry-After",
                                            "1", NULL};
    *ok = error_with(c, r, 503, "the server is shutting down", close_hdr);
    return true;
  }
  char msg[256];
  if (!ri->methods) {
    snprintf(msg, sizeof msg, "no route %s %.100s (POST /v1/predict, GET /v1/adapters, "
             "POST|DELETE /v1/adapters/NAME, GET /healthz, GET /metrics)", r->method, r->path);
    *ok = error(c, r, 404, msg);
    return true;
  }
  if (!method_allowed(ri->methods, r->method)) {
    const char *const allow[] = {MHD_HTTP_HEADER_ALLOW, ri->methods, NULL};
    snprintf(msg, sizeof msg, "%s takes %s, not %s", r->path, ri->methods, r->method);
    *ok = error_with(c, r, 405, msg, allow);
    return true;
  }
  bool needs_token = ri->admin || (s->token && strcmp(ri->route, "healthz"));
  if (needs_token && !authorized(s, c)) {
    static const char *const challenge[] = {MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer", NULL};
    *ok = error_with(c, r, 401,
                     !s->token ? "loading and unloading adapters needs the server's token "
                                 "(start it with --token-file)"
                               : "missing or wrong token (Authorization: Bearer TOKEN)",
                     challenge);
    return true;
  }
  const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                               MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (cl && strtoll(cl, NULL, 10) > s->cfg.max_body_bytes) {
    snprintf(msg, sizeof msg, "the body of %s bytes is over the limit of %lld", cl,
             (long long)s->cfg.max_body_bytes);
    *ok = error(c, r, 413, msg);
    return true;
  }
  return false;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls) {
  (void)version;
  serve_server *s = cls;
  request *r = *con_cls;
  if (!r) { /* first call: the headers are in */
    if (!(r = calloc(1, sizeof *r))) return MHD_NO;
    *con_cls = r;
    __atomic_add_fetch(&s->inflight, 1, __ATOMIC_ACQ_REL);
    r->arrival = engine_now();
    snprintf(r->method, sizeof r->method, "%s", method);
    snprintf(r->path, sizeof r->path, "%s", url);
    route_info ri = route_of(url);
    r->route = ri.route;
    enum MHD_Result ok;
    if (screen(s, c, r, &ri, &ok)) return ok;
    return MHD_YES;
  }
  if (r->answered) { /* answered early: the rest of the body is dropped */
    *upload_size = 0;
    return MHD_YES;
  }
  if (*upload_size) { /* a piece of the body */
    size_t n = *upload_size;
    *upload_size = 0;
    /* libmicrohttpd takes an answer only once the body is in: a body
     * without a declared length that runs over the limit is dropped as it
     * comes, and answered 413 at its end */
    if (r->too_large || r->len + n > (size_t)s->cfg.max_body_bytes) {
      r->too_large = true;
      return MHD_YES;
    }
    if (r->len + n + 1 > r->cap) {
      size_t cap = r->cap ? r->cap : 4096;
      while (cap < r->len + n + 1) cap *= 2;
      char *grown = realloc(r->body, cap);
      if (!grown) return error(c, r, 500, "out of memory reading the body");
      r->body = grown;
      r->cap = cap;
    }
    memcpy(r->body + r->len, upload_data, n);
    r->len += n;
    r->body[r->len] = '\0';
    return MHD_YES;
  }
  /* the whole request is in */
  if (r->too_large) {
    char msg[128];
    snprintf(msg, sizeof msg, "the body is over the limit of %lld bytes",
             (long long)s->cfg.max_body_bytes);
    return error(c, r, 413, msg);
  }
  route_info ri = route_of(r->path);
  if (!strcmp(ri.route, "predict")) return predict(s, c, r);
  if (!strcmp(ri.route, "adapters"))
    return answer_json(c, r, 200, json_pack("{s:o}", "adapters", adapters_list_json(&s->reg)),
                       NULL);
  if (!strcmp(ri.route, "healthz"))
    return answer_json(c, r, 200,
                       json_pack("{s:s, s:i}", "status", "ok", "adapters",
                                 adapters_count(&s->reg)),
                       NULL);
  if (!strcmp(ri.route, "metrics")) return metrics(s, c, r);
  snprintf(r->adapter, sizeof r->adapter, "%s", ri.name);
  return !strcmp(r->method, "POST") ? load(s, c, r, ri.name) : unload(s, c, r, ri.name);
}

/* The log line and the metrics of a finished request. */
static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)c;
  serve_server *s = cls;
  request *r = *con_cls;
  if (!r) return;
  double seconds = engine_now() - r->arrival;
  int status = r->answered ? r->status : 0; /* 0: the client went away first */
  fprintf(stderr, "%s %s %d adapter=%s rows=%lld %.1f ms%s\n", r->method, r->path, status,
          r->adapter[0] ? r->adapter : "-", (long long)r->rows, seconds * 1000.0,
          toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection closed)");
  metrics_request(&s->metrics, r->route, status, seconds);
  free(r->body);
  free(r);
  *con_cls = NULL;
  __atomic_sub_fetch(&s->inflight, 1, __ATOMIC_ACQ_REL);
}

pt_status http_start(serve_server *s) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_PASSIVE}, *ai = NULL;
  char port[16];
  snprintf(port, sizeof port, "%d", s->cfg.port);
  int rc = getaddrinfo(s->cfg.host, port, &hints, &ai);
  if (rc) return pt_error(PT_ERR_ARG, "--host %s: %s", s->cfg.host, gai_strerror(rc));
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                   MHD_USE_ITC | MHD_USE_ERROR_LOG;
  if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
  s->daemon = MHD_start_daemon(
      flags, (uint16_t)s->cfg.port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_CONNECTION_LIMIT,
      (unsigned)s->cfg.max_connections, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
      MHD_OPTION_END);
  freeaddrinfo(ai);
  if (!s->daemon)
    return pt_error(PT_ERR_IO, "cannot listen on %s:%d (in use, or not an address of this "
                    "machine)", s->cfg.host, s->cfg.port);
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
  s->port = info && info->port ? info->port : s->cfg.port;
  return PT_OK;
}

void http_quiesce(serve_server *s) {
  if (!s->daemon) return;
  MHD_socket fd = MHD_quiesce_daemon(s->daemon);
  if (fd != MHD_INVALID_SOCKET) close(fd);
}

void http_stop(serve_server *s) {
  if (s->daemon) MHD_stop_daemon(s->daemon);
  s->daemon = NULL;
}
