/* The OpenMP thread count fitted to the cores other processes leave free.
 *
 * ptune's parallel loops, OpenBLAS and oneDNN all run on libgomp's one
 * pool, and split their work evenly across its threads. When another
 * process keeps a core busy, the thread that shares that core runs at a
 * fraction of the speed and every other thread waits for it at the end of
 * each region, spinning (libgomp's default) through the time it could have
 * given away: a BERT-base step ran at 0.6-0.7x of PyTorch's speed on a
 * 2-core machine with one core taken. With adaptive threads on, ptune
 * samples how much CPU time the other processes took on the cores it may
 * run on (/proc/stat minus its own CPU time, at most every 250 ms, from the
 * serial code between GEMMs) and uses one thread per free core, at least
 * one and at most the count it started with (OMP_NUM_THREADS or the cores).
 * A count set with omp_set_num_threads while on becomes the new ceiling.
 * No effect where /proc/stat cannot be read.
 *
 * Process-wide and off by default, so results stay bit-for-bit independent
 * of the machine's load. The `ptune` command leaves it off too: it bounds
 * libgomp's spinning instead (GOMP_SPINCOUNT, apps/main.c), which removed
 * the slowdown without changing the thread count; see docs/performance.md. */
#ifndef PT_THREADS_H
#define PT_THREADS_H

#include <stdbool.h>

void pt_set_adaptive_threads(bool on);
bool pt_adaptive_threads(void);
/* Takes a sample and adjusts the count when one is due; cheap otherwise
 * (one clock read). Call from serial code only (pt_gemm_run does). */
void pt_threads_adapt(void);
/* Thread-count changes made so far, and the last measured load of other
 * processes in cores (-1 before the first sample); for benchmarks. */
int pt_threads_changes(void);
double pt_threads_other_load(void);

#endif
