/* Private to dist/: the process-wide state, the watched wait, and the
 * ordered sum that the public collectives and the gradient buckets share. */
#ifndef PT_DIST_INTERNAL_H
#define PT_DIST_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dist/pt_dist.h"

#if PT_HAVE_MPI
#include <mpi.h>
#endif

/* Tags: one per kind of traffic, so concurrent operations never match each
 * other's messages. Messages of one tag between two ranks arrive in the
 * order they were sent, which is what orders successive operations. */
enum {
  DIST_TAG_COLL = 1,   /* bcast, gather, agree */
  DIST_TAG_SUM = 2,    /* pt_dist_sum_*: 2 (scatter) and 3 (gather) */
  DIST_TAG_BUCKET = 8  /* bucket b: 8 + 2b and 9 + 2b */
};

typedef struct {
  bool mpi; /* MPI_Init done by pt_dist_init */
  int rank, size;
  double timeout;
  int64_t step;
  bool oversubscribed;
  bool broken; /* a collective failed: see pt_dist_broken */
  int threads;
  char layout[400];
#if PT_HAVE_MPI
  MPI_Comm comm;
#endif
} dist_state;

extern dist_state dist_g;

double dist_now(void);

#if PT_HAVE_MPI
/* An MPI return code as a pt_status with `what` and MPI's own text. */
pt_status dist_mpi_error(int rc, const char *what);

/* A set of outstanding requests, each with the rank on its other end. */
typedef struct {
  MPI_Request *req;
  int *peer;
  int *count; /* a receive's element count once complete; DIST_SEND for sends */
  int n, cap, pending;
} dist_reqs;

enum { DIST_SEND = -1, DIST_RECV_PENDING = -2 };

pt_status dist_reqs_add(dist_reqs *r, MPI_Request q, int peer, bool recv);
/* Posts a nonblocking send or receive on the job's communicator and adds it. */
pt_status dist_post(dist_reqs *r, bool send, void *buf, int count, MPI_Datatype t, int peer,
                    int tag);
void dist_reqs_clear(dist_reqs *r);
void dist_reqs_free(dist_reqs *r);
/* Tests without blocking; true in *done when none is pending. `elem` is the
 * MPI type receives count in. Updates the watchdog's last-progress time. */
pt_status dist_reqs_test(dist_reqs *r, MPI_Datatype elem, bool *done);
/* The rank an unfinished wait is held up by: one that owes us a message,
 * else one that has not taken ours (-1: none). */
int dist_reqs_blocker(const dist_reqs *r);
#endif

/* The watchdog: call dist_wait_begin() when a blocking wait starts, and
 * dist_wait_check(peer, what) on each idle poll; it fails once nothing has
 * arrived for the timeout, naming `peer` (a rank still owing a message).
 * dist_wait_idle() yields or spins as the layout allows. */
void dist_wait_begin(void);
void dist_wait_progress(void);
pt_status dist_wait_check(int peer, const char *what);
void dist_wait_idle(void);

#if PT_HAVE_MPI
/* Blocks until every request of r completes (watched). */
pt_status dist_reqs_wait(dist_reqs *r, MPI_Datatype elem, const char *what);
#endif

/* ---- the ordered sum ------------------------------------------------------ */

typedef enum { DIST_F32, DIST_F64 } dist_dtype;

/* An in-place sum of buf[0..n) over ranks in rank order, split into a
 * reduce-scatter and an all-gather that progress without blocking, so
 * several can be in flight during backward. */
typedef struct {
  void *buf;
  int64_t n;
  dist_dtype dt;
  int tag;
  int phase;         /* 0 idle, 1 scatter, 2 gather, 3 done */
  bool contributes;  /* this rank adds its buffer (else it only receives) */
  void *slots;       /* size x (slice of this rank) elements: what each rank sent */
  int64_t slot_cap;
  double t_start, t_done;
#if PT_HAVE_MPI
  dist_reqs reqs;
#endif
} dist_sum;

/* Starts the sum of s->buf (n, dt, tag set by the caller). A rank that does
 * not contribute still takes part and receives the result. */
pt_status dist_sum_start(dist_sum *s, bool contributes);
/* Advances it without blocking; *done once the result is in buf. */
pt_status dist_sum_progress(dist_sum *s, bool *done);
/* Blocks (watched) until done. */
pt_status dist_sum_wait(dist_sum *s, const char *what);
void dist_sum_free(dist_sum *s);

/* out = out + x, element by element: one rounding per addition, so a
 * sequence of these is exactly the left-to-right sum. */
void dist_add(dist_dtype dt, void *out, const void *x, int64_t n);

/* The slice [lo, hi) of n elements that rank r adds up. */
void dist_slice(int64_t n, int size, int r, int64_t *lo, int64_t *hi);

#endif
