/* Ranks: starting and ending MPI, the watched wait every collective uses,
 * and the small collectives (agree, bcast, gather), built from point-to-point
 * messages so that a wait always knows which rank it is waiting for. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dist/dist_internal.h"

dist_state dist_g = {.rank = 0, .size = 1, .timeout = 300, .step = -1, .threads = 0};

double dist_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

pt_dist_opts pt_dist_defaults(void) { return (pt_dist_opts){.threads = 0, .step_timeout = 300}; }

int pt_dist_rank(void) { return dist_g.rank; }
int pt_dist_size(void) { return dist_g.size; }
bool pt_dist_mpi_running(void) { return dist_g.mpi; }
bool pt_dist_mpi_built(void) { return PT_HAVE_MPI; }
const char *pt_dist_layout(void) { return dist_g.layout; }
bool pt_dist_oversubscribed(void) { return dist_g.oversubscribed; }
bool pt_dist_broken(void) { return dist_g.broken; }
int pt_dist_threads(void) { return dist_g.threads; }
void pt_dist_set_step(int64_t step) { dist_g.step = step; }
void pt_dist_set_timeout(double seconds) { dist_g.timeout = seconds; }

/* ---- the watchdog ---------------------------------------------------------- */

/* After something arrives, poll without sleeping for this long: the next
 * piece of a large message is usually right behind it. */
#define SPIN_S 0.005

static double last_progress, spin_until;

void dist_wait_begin(void) {
  last_progress = dist_now();
  spin_until = last_progress + SPIN_S;
}

void dist_wait_progress(void) {
  last_progress = dist_now();
  spin_until = last_progress + SPIN_S;
}

pt_status dist_wait_check(int peer, const char *what) {
  if (dist_g.timeout <= 0) return PT_OK;
  double idle = dist_now() - last_progress;
  if (idle < dist_g.timeout) return PT_OK;
  char step[48] = "";
  if (dist_g.step >= 0) snprintf(step, sizeof step, " at step %lld", (long long)dist_g.step);
  dist_g.broken = true;
  return pt_error(PT_ERR_STATE,
                  "mpi: rank %d waited %.0f s%s for rank %d (%s): rank %d is stopped, hung or "
                  "far behind; ending the job (step timeout %.0f s)",
                  dist_g.rank, idle, step, peer, what, peer, dist_g.timeout);
}

/* Nothing arrived: poll again at once while a transfer is likely under way
 * (and this rank has its core to itself), else sleep briefly so a rank
 * sharing the core can run. */
void dist_wait_idle(void) {
  if (!dist_g.oversubscribed && dist_now() < spin_until) return;
  struct timespec ts = {0, dist_g.oversubscribed ? 20000 : 100000};
  nanosleep(&ts, NULL);
}

/* ---- start and end --------------------------------------------------------- */

void dist_layout_settle(const pt_dist_opts *o); /* layout.c */

/* Ranks the environment says a launcher started: 0 when there is no
 * launcher, -1 when there is one but it does not say how many. */
static int launcher_size(void) {
  const char *names[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    const char *v = getenv(names[i]);
    if (v && atoi(v) > 0) return atoi(v);
  }
  return getenv("PMIX_RANK") || getenv("PMI_RANK") ? -1 : 0;
}

static bool initialized;

pt_status pt_dist_init(int *argc, char ***argv, const pt_dist_opts *opts) {
  if (initialized) return pt_error(PT_ERR_STATE, "mpi: pt_dist_init called twice");
  pt_dist_opts o = opts ? *opts : pt_dist_defaults();
  if (o.threads < 0 || !(o.step_timeout >= 0))
    return pt_error(PT_ERR_ARG, "mpi: threads must be >= 0 and the step timeout a number >= 0");
  dist_g.timeout = o.step_timeout;
  int launched = launcher_size();
#if PT_HAVE_MPI
  if (launched != 0) {
    int provided = 0;
    int rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) return pt_error(PT_ERR_STATE, "mpi: MPI_Init_thread failed");
    dist_g.mpi = true;
    MPI_Comm_dup(MPI_COMM_WORLD, &dist_g.comm);
    /* errors come back as return codes and become one-line messages */
    MPI_Comm_set_errhandler(dist_g.comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(dist_g.comm, &dist_g.rank);
    MPI_Comm_size(dist_g.comm, &dist_g.size);
  }
#else
  (void)argc;
  (void)argv;
  if (launched > 1)
    return pt_error(PT_ERR_STATE,
                    "mpi: started by an MPI launcher with %d ranks, but this build has no MPI "
                    "(install libopenmpi-dev and rebuild)",
                    launched);
#endif
  initialized = true;
  dist_layout_settle(&o);
  return PT_OK;
}

pt_status pt_dist_finalize(void) {
  if (!initialized) return PT_OK;
  pt_status st = PT_OK;
#if PT_HAVE_MPI
  if (dist_g.mpi) {
    /* a watched meeting first: MPI_Finalize itself would wait forever for a
     * rank that has stopped */
    st = pt_dist_agree(PT_OK);
    if (st != PT_OK) return st;
    MPI_Comm_free(&dist_g.comm);
    MPI_Finalize();
    dist_g.mpi = false;
  }
#endif
  dist_g.rank = 0;
  dist_g.size = 1;
  initialized = false;
  return st;
}

void pt_dist_abort(int code) {
#if PT_HAVE_MPI
  if (dist_g.mpi) {
    fflush(stdout);
    fflush(stderr);
    MPI_Abort(dist_g.comm, code);
  }
#else
  (void)code;
#endif
}

/* ---- requests -------------------------------------------------------------- */

#if PT_HAVE_MPI
pt_status dist_mpi_error(int rc, const char *what) {
  char msg[MPI_MAX_ERROR_STRING] = "";
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  dist_g.broken = true;
  return pt_error(PT_ERR_IO, "mpi: rank %d: %s failed: %s", dist_g.rank, what, msg);
}

pt_status dist_reqs_add(dist_reqs *r, MPI_Request q, int peer, bool recv) {
  if (r->n == r->cap) {
    int cap = r->cap ? 2 * r->cap : 16;
    MPI_Request *req = realloc(r->req, sizeof *req * (size_t)cap);
    if (req) r->req = req;
    int *p = realloc(r->peer, sizeof *p * (size_t)cap);
    if (p) r->peer = p;
    int *c = realloc(r->count, sizeof *c * (size_t)cap);
    if (c) r->count = c;
    if (!req || !p || !c) {
      MPI_Cancel(&q);
      MPI_Request_free(&q);
      return pt_error(PT_ERR_NOMEM, "mpi: out of memory");
    }
    r->cap = cap;
  }
  r->req[r->n] = q;
  r->peer[r->n] = peer;
  r->count[r->n] = recv ? DIST_RECV_PENDING : DIST_SEND;
  r->n++;
  r->pending++;
  return PT_OK;
}

void dist_reqs_clear(dist_reqs *r) { r->n = r->pending = 0; }

void dist_reqs_free(dist_reqs *r) {
  free(r->req);
  free(r->peer);
  free(r->count);
  memset(r, 0, sizeof *r);
}

pt_status dist_reqs_test(dist_reqs *r, MPI_Datatype elem, bool *done) {
  *done = r->pending == 0;
  if (*done) return PT_OK;
  int idx_buf[64];
  MPI_Status stat_buf[64];
  int *idx = r->n <= 64 ? idx_buf : malloc(sizeof(int) * (size_t)r->n);
  MPI_Status *stat = r->n <= 64 ? stat_buf : malloc(sizeof(MPI_Status) * (size_t)r->n);
  pt_status st = PT_OK;
  if (!idx || !stat) {
    st = pt_error(PT_ERR_NOMEM, "mpi: out of memory");
    goto out;
  }
  int outcount = 0;
  int rc = MPI_Testsome(r->n, r->req, &outcount, idx, stat);
  if (rc != MPI_SUCCESS) {
    st = dist_mpi_error(rc, "a message");
    goto out;
  }
  if (outcount == MPI_UNDEFINED) outcount = 0;
  for (int k = 0; k < outcount; k++) {
    int c = 0;
    if (r->count[idx[k]] == DIST_RECV_PENDING) { /* a send's status says nothing */
      if (MPI_Get_count(&stat[k], elem, &c) != MPI_SUCCESS || c == MPI_UNDEFINED) c = 0;
      r->count[idx[k]] = c;
    }
  }
  r->pending -= outcount;
  if (outcount > 0) dist_wait_progress();
  *done = r->pending == 0;
out:
  if (idx != idx_buf) free(idx);
  if (stat != stat_buf) free(stat);
  return st;
}

int dist_reqs_blocker(const dist_reqs *r) {
  for (int i = 0; i < r->n; i++)
    if (r->req[i] != MPI_REQUEST_NULL && r->count[i] == DIST_RECV_PENDING) return r->peer[i];
  for (int i = 0; i < r->n; i++)
    if (r->req[i] != MPI_REQUEST_NULL) return r->peer[i];
  return -1;
}

pt_status dist_reqs_wait(dist_reqs *r, MPI_Datatype elem, const char *what) {
  dist_wait_begin();
  for (;;) {
    bool done = false;
    PT_TRY(dist_reqs_test(r, elem, &done));
    if (done) return PT_OK;
    PT_TRY(dist_wait_check(dist_reqs_blocker(r), what));
    dist_wait_idle();
  }
}

pt_status dist_post(dist_reqs *r, bool send, void *buf, int count, MPI_Datatype t, int peer,
                      int tag) {
  MPI_Request q;
  int rc = send ? MPI_Isend(buf, count, t, peer, tag, dist_g.comm, &q)
                : MPI_Irecv(buf, count, t, peer, tag, dist_g.comm, &q);
  if (rc != MPI_SUCCESS) return dist_mpi_error(rc, send ? "a send" : "a receive");
  return dist_reqs_add(r, q, peer, !send);
}
#endif

/* ---- small collectives ------------------------------------------------------ */

pt_status pt_dist_bcast(void *buf, size_t n, int root) {
  if (root < 0 || root >= dist_g.size)
    return pt_error(PT_ERR_ARG, "mpi: bcast from rank %d of %d", root, dist_g.size);
  if (dist_g.size == 1 || n == 0) return PT_OK;
#if PT_HAVE_MPI
  dist_reqs r = {0};
  pt_status st = PT_OK;
  for (size_t off = 0; st == PT_OK && off < n; off += (size_t)1 << 30) {
    int len = (int)(n - off < ((size_t)1 << 30) ? n - off : (size_t)1 << 30);
    if (dist_g.rank == root) {
      for (int p = 0; st == PT_OK && p < dist_g.size; p++)
        if (p != root) st = dist_post(&r, true, (char *)buf + off, len, MPI_BYTE, p, DIST_TAG_COLL);
    } else {
      st = dist_post(&r, false, (char *)buf + off, len, MPI_BYTE, root, DIST_TAG_COLL);
    }
  }
  if (st == PT_OK) st = dist_reqs_wait(&r, MPI_BYTE, "broadcast");
  dist_reqs_free(&r);
  return st;
#else
  (void)buf;
  return PT_OK;
#endif
}

pt_status pt_dist_gather(const void *buf, size_t n, void **out, size_t *counts) {
  *out = NULL;
  if (n >= ((size_t)1 << 31))
    return pt_error(PT_ERR_ARG, "mpi: gather of %zu bytes (at most 2 GiB per rank)", n);
  if (dist_g.size == 1) {
    *out = malloc(n ? n : 1);
    if (!*out) return pt_error(PT_ERR_NOMEM, "mpi: out of memory");
    memcpy(*out, buf, n);
    if (counts) counts[0] = n;
    return PT_OK;
  }
#if PT_HAVE_MPI
  int size = dist_g.size;
  uint64_t *len = calloc((size_t)size, sizeof *len);
  dist_reqs r = {0};
  pt_status st = len ? PT_OK : pt_error(PT_ERR_NOMEM, "mpi: out of memory");
  uint64_t mine = n;
  /* sizes first, then the bytes */
  if (st == PT_OK && dist_g.rank != 0) {
    st = dist_post(&r, true, &mine, 1, MPI_UINT64_T, 0, DIST_TAG_COLL);
    if (st == PT_OK && n) st = dist_post(&r, true, (void *)buf, (int)n, MPI_BYTE, 0, DIST_TAG_COLL);
    if (st == PT_OK) st = dist_reqs_wait(&r, MPI_BYTE, "gather");
  } else if (st == PT_OK) {
    len[0] = n;
    for (int p = 1; st == PT_OK && p < size; p++)
      st = dist_post(&r, false, &len[p], 1, MPI_UINT64_T, p, DIST_TAG_COLL);
    if (st == PT_OK) st = dist_reqs_wait(&r, MPI_UINT64_T, "gather");
    size_t total = 0;
    for (int p = 0; st == PT_OK && p < size; p++) {
      if (len[p] >= ((uint64_t)1 << 31))
        st = pt_error(PT_ERR_FORMAT, "mpi: rank %d sends %llu bytes to gather", p,
                      (unsigned long long)len[p]);
      total += (size_t)len[p];
    }
    char *all = st == PT_OK ? malloc(total ? total : 1) : NULL;
    if (st == PT_OK && !all) st = pt_error(PT_ERR_NOMEM, "mpi: out of memory");
    dist_reqs_clear(&r);
    if (st == PT_OK) {
      memcpy(all, buf, n);
      size_t off = n;
      for (int p = 1; st == PT_OK && p < size; p++) {
        if (len[p]) st = dist_post(&r, false, all + off, (int)len[p], MPI_BYTE, p, DIST_TAG_COLL);
        off += (size_t)len[p];
      }
      if (st == PT_OK) st = dist_reqs_wait(&r, MPI_BYTE, "gather");
    }
    if (st == PT_OK) {
      *out = all;
      for (int p = 0; counts && p < size; p++) counts[p] = (size_t)len[p];
    } else {
      free(all);
    }
  }
  dist_reqs_free(&r);
  free(len);
  return st;
#else
  return PT_OK;
#endif
}

/* What pt_dist_agree sends: a status and its message. */
typedef struct {
  int32_t status;
  char message[1020];
} agree_msg;

pt_status pt_dist_agree(pt_status local) {
  if (dist_g.size == 1) return local;
  agree_msg mine = {.status = (int32_t)local};
  if (local != PT_OK) snprintf(mine.message, sizeof mine.message, "%s", pt_error_message());
  void *all = NULL;
  PT_TRY(pt_dist_gather(&mine, sizeof mine, &all, NULL));
  agree_msg verdict = {.status = PT_OK};
  if (dist_g.rank == 0) {
    const agree_msg *m = all;
    for (int p = 0; p < dist_g.size; p++)
      if (m[p].status != PT_OK) {
        verdict.status = m[p].status;
        if (p == 0)
          snprintf(verdict.message, sizeof verdict.message, "%s", m[p].message);
        else
          snprintf(verdict.message, sizeof verdict.message, "rank %d: %.990s", p, m[p].message);
        break;
      }
  }
  free(all);
  PT_TRY(pt_dist_bcast(&verdict, sizeof verdict, 0));
  if (verdict.status == PT_OK) return PT_OK;
  return pt_error((pt_status)verdict.status, "%s", verdict.message);
}
