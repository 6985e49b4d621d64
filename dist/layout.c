/* Threads per rank. mpirun -np 2 binds each rank to one core, and libgomp
 * then starts one thread: right. With --bind-to none or --oversubscribe
 * every rank sees every core and libgomp would start that many busy-waiting
 * threads in each rank (measured here: 2 ranks x 2 spinning threads on 2
 * cores ran about 20x slower). So the ranks of a host compare the cores
 * they may run on: disjoint sets keep one thread per core given; shared
 * cores are shared out; more threads than cores is reported, and waits then
 * sleep instead of spinning. */
#define _GNU_SOURCE
#include <omp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dist/dist_internal.h"

static void settle_alone(const pt_dist_opts *o) {
  if (o->threads > 0) omp_set_num_threads(o->threads);
  dist_g.threads = omp_get_max_threads();
  snprintf(dist_g.layout, sizeof dist_g.layout, "1 process, %d thread%s", dist_g.threads,
           dist_g.threads == 1 ? "" : "s");
}

#if PT_HAVE_MPI
/* What one rank tells the others of its host. */
typedef struct {
  cpu_set_t cpus;
  int32_t threads; /* what it would run */
  int32_t chosen;  /* threads fixed by the user (--threads, OMP_NUM_THREADS) */
} rank_cpus;

/* The threads a rank runs: its own choice, else the cores bound to it, else
 * an equal share of the host's cores (at least one). */
static int threads_of(const rank_cpus *r, bool bound, int cores, int nlocal) {
  if (r->chosen) return r->threads;
  if (bound) return CPU_COUNT(&r->cpus);
  return cores / nlocal > 0 ? cores / nlocal : 1;
}

static void settle_mpi(const pt_dist_opts *o) {
  rank_cpus me = {0};
  if (sched_getaffinity(0, sizeof me.cpus, &me.cpus) != 0) {
    CPU_ZERO(&me.cpus);
    for (long c = 0; c < sysconf(_SC_NPROCESSORS_ONLN) && c < CPU_SETSIZE; c++) CPU_SET(c, &me.cpus);
  }
  me.chosen = o->threads > 0 || getenv("OMP_NUM_THREADS");
  me.threads = o->threads > 0 ? o->threads : omp_get_max_threads();
  MPI_Comm host;
  int nlocal = 1, hosts = 1;
  rank_cpus *all = NULL;
  if (MPI_Comm_split_type(dist_g.comm, MPI_COMM_TYPE_SHARED, dist_g.rank, MPI_INFO_NULL, &host) ==
      MPI_SUCCESS) {
    MPI_Comm_size(host, &nlocal);
    int local_rank = 0, first = 0;
    MPI_Comm_rank(host, &local_rank);
    first = local_rank == 0;
    MPI_Allreduce(&first, &hosts, 1, MPI_INT, MPI_SUM, dist_g.comm);
    all = calloc((size_t)nlocal, sizeof *all);
    if (all) MPI_Allgather(&me, sizeof me, MPI_BYTE, all, sizeof me, MPI_BYTE, host);
    MPI_Comm_free(&host);
  }
  cpu_set_t uni;
  CPU_ZERO(&uni);
  int sum_cpus = 0;
  bool chosen = me.chosen;
  for (int r = 0; all && r < nlocal; r++) {
    CPU_OR(&uni, &uni, &all[r].cpus);
    sum_cpus += CPU_COUNT(&all[r].cpus);
  }
  int cores = all ? CPU_COUNT(&uni) : CPU_COUNT(&me.cpus);
  bool bound = all && sum_cpus == cores; /* no two ranks share a core */
  int threads = threads_of(&me, bound, cores, nlocal);
  int total = all ? 0 : threads; /* threads on this host once every rank has chosen */
  for (int r = 0; all && r < nlocal; r++) total += threads_of(&all[r], bound, cores, nlocal);
  free(all);
  omp_set_num_threads(threads);
  dist_g.threads = threads;
  dist_g.oversubscribed = total > cores;
  char hostname[64] = "?";
  gethostname(hostname, sizeof hostname - 1);
  char where[160];
  snprintf(where, sizeof where, "%d rank%s on %d host%s; on %s: %d rank%s, %d core%s", dist_g.size,
           dist_g.size == 1 ? "" : "s", hosts, hosts == 1 ? "" : "s", hostname, nlocal,
           nlocal == 1 ? "" : "s", cores, cores == 1 ? "" : "s");
  if (dist_g.oversubscribed)
    snprintf(dist_g.layout, sizeof dist_g.layout,
             "%s: oversubscribed (%d threads in all%s); waits sleep instead of spinning, so "
             "steps are slower than with one rank per core",
             where, total, chosen ? ", as --threads/OMP_NUM_THREADS ask" : ", 1 per rank");
  else
    snprintf(dist_g.layout, sizeof dist_g.layout, "%s, %d thread%s per rank (%s)", where, threads,
             threads == 1 ? "" : "s",
             chosen ? "as --threads/OMP_NUM_THREADS ask"
                    : bound ? "the cores mpirun bound it to" : "ranks not bound: cores shared out");
}
#endif

void dist_layout_settle(const pt_dist_opts *o) {
#if PT_HAVE_MPI
  if (dist_g.mpi) {
    settle_mpi(o);
    return;
  }
#endif
  settle_alone(o);
}
