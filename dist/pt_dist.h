/* Data parallelism over MPI (Open MPI): ranks, sums in a fixed order,
 * gradient buckets sent while backward runs, a start-up agreement check and a
 * watchdog on every wait.
 *
 * A program started by `mpirun -np N` runs as N ranks. Each computes its
 * share of a step (its micro-batches); the trainable gradients are summed
 * across ranks before the optimizer step, and since every rank then holds
 * the same sum, every rank takes the same optimizer step. What this layer
 * adds to MPI_Allreduce:
 *
 *  - Sums run in rank order, ((x0 + x1) + x2) + ..., whatever algorithm MPI
 *    would have picked (Open MPI's allreduce gives different bits for N >= 3
 *    depending on coll_tuned_allreduce_algorithm). Micro-batches folded the
 *    same way inside one process (pt_dist_grads with several backward calls)
 *    give the same bits: `-np N` equals N accumulation steps of one process.
 *    The sum is a reduce-scatter (rank r adds up slice r of everyone's
 *    buffer, in rank order) followed by an all-gather of the slices: each
 *    rank sends and receives 2 (N-1)/N of the buffer, as a ring allreduce.
 *  - Every wait is watched: a rank that receives nothing for `step_timeout`
 *    seconds (another rank stopped, hung, killed off a network) fails with
 *    one line naming the rank it waits for and the step, instead of
 *    spinning forever.
 *  - pt_dist_check_same compares options, data and model files and the
 *    build across ranks before anything is written.
 *  - Threads: each rank runs as many OpenMP threads as the cores it was
 *    given; ranks sharing cores (mpirun --bind-to none, --oversubscribe) are
 *    detected and given a share each (pt_dist_layout says what was found).
 *
 * Without MPI (a build without Open MPI, or a program not started by an MPI
 * launcher) there is one rank, MPI is never initialized, and every call
 * below works locally: the same code runs either way.
 *
 * Collectives (everything that takes no rank argument and talks to other
 * ranks) must be called by every rank in the same order. Errors are
 * pt_status with a one-line message; a failed collective may leave other
 * ranks waiting, so a program that gets one should end the job with
 * pt_dist_abort. */
#ifndef PT_DIST_H
#define PT_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autograd/pt_autograd.h"
#include "tensor/pt_tensor.h"

typedef struct {
  /* OpenMP threads per rank; 0: the cores this rank may run on, shared out
   * when ranks on one host share cores. OMP_NUM_THREADS in the environment
   * counts as a choice too. */
  int threads;
  /* Seconds a rank waits without receiving anything before it fails naming
   * the rank it waits for; 0 waits forever. Default 300: longer than any
   * legitimate imbalance (a checkpoint written by rank 0), short enough
   * that a stopped rank does not hold a cluster for long. */
  double step_timeout;
} pt_dist_opts;

pt_dist_opts pt_dist_defaults(void);

/* Starts MPI when the program was started by an MPI launcher (Open MPI's
 * mpirun, or a PMI/PMIx launcher), and settles the thread layout. Without a
 * launcher: one rank, no MPI, threads as opts ask. Under a launcher in a
 * build without MPI: PT_ERR_STATE unless the launcher started one rank.
 * opts NULL means pt_dist_defaults(). Call once, before other threads
 * exist; argc/argv may be NULL. */
pt_status pt_dist_init(int *argc, char ***argv, const pt_dist_opts *opts);

/* Waits (watched) until every rank gets here, then shuts MPI down. The
 * normal end of a run on every rank. */
pt_status pt_dist_finalize(void);

/* Ends every rank of the job with exit status `code` (MPI_Abort): the error
 * exit when other ranks may be waiting for this one. Without MPI it
 * returns and the program exits as it would anyway. */
void pt_dist_abort(int code);

int pt_dist_rank(void); /* 0 .. size-1; 0 without MPI */
int pt_dist_size(void); /* 1 without MPI */
/* True when MPI was built in and is running (even with one rank). */
bool pt_dist_mpi_running(void);
/* True when this build has MPI support. */
bool pt_dist_mpi_built(void);

/* The thread layout found by pt_dist_init, one line, e.g.
 * "2 ranks on 1 host, 1 thread each (bound to 1 core each)" or
 * "3 ranks share 2 cores on host h: oversubscribed; 1 thread each, waits
 * yield the core". Static storage. */
const char *pt_dist_layout(void);
bool pt_dist_oversubscribed(void);
/* Threads per rank chosen by pt_dist_init (what omp_get_max_threads gives
 * after it). */
int pt_dist_threads(void);

/* True once a collective has failed on this rank (the watchdog ran out, an
 * MPI call failed): the ranks can no longer agree on anything, and
 * pt_dist_finalize would wait for the lost rank; end with pt_dist_abort. */
bool pt_dist_broken(void);

/* The step named by the watchdog's message (the training loop sets it). */
void pt_dist_set_step(int64_t step);
void pt_dist_set_timeout(double seconds);

/* ---- collectives ---------------------------------------------------------- */

/* Every rank passes its own status; all get PT_OK when every rank passed
 * PT_OK, else the status and message of the lowest failing rank, prefixed
 * "rank R: " when R is not 0. After it, all ranks agree on success, so a
 * failed run can still end with pt_dist_finalize. */
pt_status pt_dist_agree(pt_status local);

/* Copies n bytes of `buf` on rank `root` into `buf` on every rank. */
pt_status pt_dist_bcast(void *buf, size_t n, int root);

/* Rank 0 receives every rank's bytes: *out (NULL elsewhere) is their
 * concatenation in rank order (caller frees with free()), counts[r] (an
 * array of pt_dist_size() entries, may be NULL) the bytes of rank r. */
pt_status pt_dist_gather(const void *buf, size_t n, void **out, size_t *counts);

/* x (n elements, the same n on every rank) becomes the sum over ranks, added
 * in rank order: bit-identical on every rank and for any MPI algorithm. */
pt_status pt_dist_sum_f32(float *x, int64_t n);
pt_status pt_dist_sum_f64(double *x, int64_t n);

/* One thing the ranks must agree on: the bytes data[0..n), or the contents
 * of the file (or of every regular file in the directory, with its name)
 * at `path`. `name` names it in the message, e.g. "--train". */
typedef struct {
  const char *name;
  const char *path; /* NULL: data/n */
  const void *data;
  size_t n;
} pt_dist_item;

/* Hashes every item and the running program's files (the executable and
 * the library holding this function), and compares them with rank 0's.
 * PT_ERR_STATE on every rank when some rank differs: "ranks disagree: rank
 * 1's --train (data/train.json) differs from rank 0's" (the lowest such
 * rank, the first such item). A path that cannot be read on some rank is
 * reported as such. With one rank: PT_OK without reading anything. */
pt_status pt_dist_check_same(const pt_dist_item *items, int n);

/* 64-bit hash of bytes (not cryptographic; for the agreement check), and of
 * a file or directory as pt_dist_check_same reads it (PT_ERR_IO naming the
 * path when it cannot be read). */
uint64_t pt_dist_hash(uint64_t h, const void *data, size_t n);
pt_status pt_dist_hash_path(const char *path, uint64_t *h);

/* ---- gradient buckets -------------------------------------------------------
 *
 * Sums the gradients of a set of F32 parameters over every micro-batch of
 * every rank, in a fixed order, and leaves the sum in each parameter's
 * ->grad (PyTorch's DistributedDataParallel reducer, for CPUs and MPI).
 *
 * Parameters are packed, in reverse order (backward finishes the last
 * layers first), into buckets of about `bucket_bytes`. Each micro-batch's
 * backward goes through pt_dist_grads_backward: as each parameter's
 * gradient becomes final (pt_backward_hooked) it is moved into its bucket
 * slot (the first micro-batch copies, later ones add), and in the last
 * local micro-batch a bucket is sent as soon as all its gradients are in,
 * while backward goes on with the layers below. pt_dist_grads_finish waits
 * for the rest.
 *
 * The order of additions is fixed: rank r's contribution is the left-to-
 * right sum of its micro-batches, the result the left-to-right sum of the
 * contributions in rank order. So G micro-batches on one rank give the same
 * bits as one micro-batch on each of G ranks. A parameter that gets no
 * gradient in some micro-batch counts as a zero there; one that gets none
 * anywhere ends with ->grad NULL (the optimizer skips it, as without this).
 * A rank with no micro-batch in a step calls pt_dist_grads_finish alone and
 * contributes nothing (not zeros).
 *
 * With one rank nothing is sent and there are no buckets: the gradients stay
 * where backward puts them and later micro-batches are added into them in
 * the same order (no copy, no second gradient-sized buffer). */
typedef struct pt_dist_grads pt_dist_grads;

/* params: borrowed, must outlive the buckets; F32, contiguous, distinct.
 * bucket_bytes 0: 25 MiB (DDP's default). NULL with a message on error. */
pt_dist_grads *pt_dist_grads_new(pt_tensor *const *params, int n, size_t bucket_bytes);
void pt_dist_grads_free(pt_dist_grads *g);

/* Backward of one local micro-batch from `loss` (as pt_backward(loss, NULL,
 * false)); `last`: this is the rank's last micro-batch of the step, so
 * buckets are sent as they fill. Leaves requiring grad that are not among
 * the params keep their gradients as pt_backward leaves them. */
pt_status pt_dist_grads_backward(pt_dist_grads *g, pt_tensor *loss, bool last);

/* Sends what is not sent yet, waits for every bucket, and sets each param's
 * ->grad to its summed gradient (with several ranks a view into the bucket:
 * valid until the next pt_dist_grads_backward; pt_optim_zero_grad /
 * pt_zero_grad drop it).
 * *micro (may be NULL) receives the number of micro-batches summed over all
 * ranks, for a mean. Resets for the next step. */
pt_status pt_dist_grads_finish(pt_dist_grads *g, int64_t *micro);

typedef struct {
  int buckets;        /* 0 with one rank */
  size_t bytes;       /* gradient bytes summed per step (4 per element) */
  int64_t steps;      /* pt_dist_grads_finish calls */
  double wait_s;      /* time blocked in pt_dist_grads_finish, all steps */
  double comm_s;      /* time from a step's first bucket sent to its last
                       * bucket summed, all steps (overlaps backward) */
  double pack_s;      /* moving gradients into buckets, all steps */
  int64_t sent_early; /* buckets sent while backward was still running */
} pt_dist_grads_stats;
pt_dist_grads_stats pt_dist_grads_get_stats(const pt_dist_grads *g);

#endif
