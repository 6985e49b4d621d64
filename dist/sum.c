/* The ordered sum: rank r owns slice r of the buffer. Reduce-scatter: every
 * rank sends slice r of its buffer to rank r, which adds the slices up in
 * rank order, ((s0 + s1) + s2) + ...; all-gather: rank r sends the summed
 * slice to everyone. Each rank sends and receives 2 (N-1)/N of the buffer
 * (a ring allreduce moves as much) in N-1 messages per phase, and the
 * additions happen in an order no MPI algorithm choice can change.
 *
 * Messages are cut into pieces of 1 MiB so that a watched wait sees
 * progress on a large bucket, and a rank that does not contribute sends
 * empty pieces, which the owner of a slice leaves out of the sum. */
#include <stdlib.h>
#include <string.h>

#include "dist/dist_internal.h"

#define PIECE_BYTES ((int64_t)1 << 20)

void dist_slice(int64_t n, int size, int r, int64_t *lo, int64_t *hi) {
  *lo = n * r / size;
  *hi = n * (r + 1) / size;
}

static size_t elem_size(dist_dtype dt) { return dt == DIST_F32 ? sizeof(float) : sizeof(double); }

void dist_add(dist_dtype dt, void *out, const void *x, int64_t n) {
  if (dt == DIST_F32) {
    float *o = out;
    const float *a = x;
    for (int64_t i = 0; i < n; i++) o[i] = o[i] + a[i];
  } else {
    double *o = out;
    const double *a = x;
    for (int64_t i = 0; i < n; i++) o[i] = o[i] + a[i];
  }
}

void dist_sum_free(dist_sum *s) {
  free(s->slots);
  s->slots = NULL;
  s->slot_cap = 0;
#if PT_HAVE_MPI
  dist_reqs_free(&s->reqs);
#endif
}

#if PT_HAVE_MPI
static MPI_Datatype mpi_type(dist_dtype dt) { return dt == DIST_F32 ? MPI_FLOAT : MPI_DOUBLE; }

/* Posts the pieces of [lo, hi) of `base` to or from `peer`; `empty` sends
 * the same number of pieces with no elements. */
static pt_status post_pieces(dist_sum *s, bool send, char *base, int64_t lo, int64_t hi, int peer,
                             int tag, bool empty) {
  size_t es = elem_size(s->dt);
  int64_t piece = PIECE_BYTES / (int64_t)es;
  for (int64_t a = lo; a < hi; a += piece) {
    int len = (int)(hi - a < piece ? hi - a : piece);
    PT_TRY(dist_post(&s->reqs, send, base + (size_t)a * es, empty ? 0 : len, mpi_type(s->dt),
                     peer, tag));
  }
  return PT_OK;
}
#endif

pt_status dist_sum_start(dist_sum *s, bool contributes) {
  s->contributes = contributes;
  s->t_start = dist_now();
  int size = dist_g.size, me = dist_g.rank;
  if (size == 1) {
    if (!contributes) memset(s->buf, 0, (size_t)s->n * elem_size(s->dt));
    s->phase = 3;
    s->t_done = s->t_start;
    return PT_OK;
  }
#if PT_HAVE_MPI
  size_t es = elem_size(s->dt);
  int64_t lo, hi;
  dist_slice(s->n, size, me, &lo, &hi);
  int64_t m = hi - lo;
  if (s->slot_cap < m * size) {
    free(s->slots);
    s->slots = malloc((size_t)(m * size) * es + 1);
    if (!s->slots) {
      s->slot_cap = 0;
      return pt_error(PT_ERR_NOMEM, "mpi: out of memory for a sum of %lld elements",
                      (long long)s->n);
    }
    s->slot_cap = m * size;
  }
  dist_reqs_clear(&s->reqs);
  char *slots = s->slots, *buf = s->buf;
  for (int r = 0; r < size; r++)
    if (r != me) PT_TRY(post_pieces(s, false, slots + (size_t)(r * m) * es, 0, m, r, s->tag, false));
  for (int r = 0; r < size; r++) {
    if (r == me) continue;
    int64_t rlo, rhi;
    dist_slice(s->n, size, r, &rlo, &rhi);
    PT_TRY(post_pieces(s, true, buf, rlo, rhi, r, s->tag, !contributes));
  }
  /* our own contribution to our slice, kept aside: the sum is written over it */
  if (contributes && m > 0) memcpy(slots + (size_t)(me * m) * es, buf + (size_t)lo * es, (size_t)m * es);
  s->phase = 1;
  return PT_OK;
#else
  (void)me;
  return pt_error(PT_ERR_STATE, "mpi: no MPI in this build");
#endif
}

#if PT_HAVE_MPI
/* All slices of our part have arrived: add them up in rank order (ranks
 * that sent empty pieces left out), then send the sum to everyone. */
static pt_status fold_and_gather(dist_sum *s) {
  int size = dist_g.size, me = dist_g.rank;
  size_t es = elem_size(s->dt);
  int64_t lo, hi;
  dist_slice(s->n, size, me, &lo, &hi);
  int64_t m = hi - lo;
  bool *from = calloc((size_t)size, sizeof *from);
  if (!from) return pt_error(PT_ERR_NOMEM, "mpi: out of memory");
  /* a rank contributed when its first piece carried elements; requests were
   * posted receives first, in rank order, one run of pieces per rank */
  int64_t piece = PIECE_BYTES / (int64_t)es, npieces = (m + piece - 1) / piece;
  for (int r = 0, k = 0; r < size; r++) {
    if (r == me) {
      from[r] = s->contributes;
      continue;
    }
    if (npieces > 0) from[r] = s->reqs.count[k] > 0;
    k += (int)npieces;
  }
  char *out = (char *)s->buf + (size_t)lo * es, *slots = s->slots;
  bool first = true;
  for (int r = 0; r < size; r++) {
    if (!from[r]) continue;
    const char *x = slots + (size_t)(r * m) * es;
    if (m == 0) break;
    if (first)
      memcpy(out, x, (size_t)m * es);
    else
      dist_add(s->dt, out, x, m);
    first = false;
  }
  if (first && m > 0) memset(out, 0, (size_t)m * es); /* nobody contributed */
  free(from);
  dist_reqs_clear(&s->reqs);
  for (int r = 0; r < size; r++) {
    if (r == me) continue;
    int64_t rlo, rhi;
    dist_slice(s->n, size, r, &rlo, &rhi);
    PT_TRY(post_pieces(s, false, s->buf, rlo, rhi, r, s->tag + 1, false));
  }
  for (int r = 0; r < size; r++)
    if (r != me) PT_TRY(post_pieces(s, true, s->buf, lo, hi, r, s->tag + 1, false));
  s->phase = 2;
  return PT_OK;
}
#endif

pt_status dist_sum_progress(dist_sum *s, bool *done) {
  *done = s->phase == 3;
  if (*done || s->phase == 0) return PT_OK;
#if PT_HAVE_MPI
  bool all = false;
  PT_TRY(dist_reqs_test(&s->reqs, mpi_type(s->dt), &all));
  if (!all) return PT_OK;
  if (s->phase == 1) {
    PT_TRY(fold_and_gather(s));
    PT_TRY(dist_reqs_test(&s->reqs, mpi_type(s->dt), &all));
    if (!all) return PT_OK;
  }
  s->phase = 3;
  s->t_done = dist_now();
  *done = true;
#endif
  return PT_OK;
}

pt_status dist_sum_wait(dist_sum *s, const char *what) {
  dist_wait_begin();
  for (;;) {
    bool done = false;
    PT_TRY(dist_sum_progress(s, &done));
    if (done) return PT_OK;
#if PT_HAVE_MPI
    PT_TRY(dist_wait_check(dist_reqs_blocker(&s->reqs), what));
#else
    (void)what; /* one rank: done at once */
#endif
    dist_wait_idle();
  }
}

static pt_status sum_blocking(void *x, int64_t n, dist_dtype dt) {
  if (n < 0) return pt_error(PT_ERR_ARG, "mpi: sum of %lld elements", (long long)n);
  if (dist_g.size == 1 || n == 0) return PT_OK;
  dist_sum s = {.buf = x, .n = n, .dt = dt, .tag = DIST_TAG_SUM};
  pt_status st = dist_sum_start(&s, true);
  if (st == PT_OK) st = dist_sum_wait(&s, "sum");
  dist_sum_free(&s);
  return st;
}

pt_status pt_dist_sum_f32(float *x, int64_t n) { return sum_blocking(x, n, DIST_F32); }
pt_status pt_dist_sum_f64(double *x, int64_t n) { return sum_blocking(x, n, DIST_F64); }
