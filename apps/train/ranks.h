/* The ranks of `mpirun -np N ptune train|pretrain` (ranks.c), over dist/:
 * starting them, the checks before anything is written, and the error exit.
 * Without mpirun there is one rank and this adds nothing (no MPI starts).
 *
 * How a step is shared: a step is --grad-accum micro-batches of
 * --batch-size (under mpirun --grad-accum defaults to the number of ranks,
 * and must be a multiple of it); rank r runs micro-batches r·A/N ..
 * (r+1)·A/N - 1 (loop.c). So the data of a step, and the global batch, do
 * not depend on N, and `mpirun -np N` with one micro-batch per rank gives
 * the bits of one process with --grad-accum N. */
#ifndef APPS_TRAIN_RANKS_H
#define APPS_TRAIN_RANKS_H

#include "apps/cli/options.h"
#include "dist/pt_dist.h"

/* Runs `run` as this process's rank: starts the ranks (the thread layout,
 * --step-timeout), checks that every rank has the same command line, build
 * and the files in `files` (the data, the model) and that --grad-accum can
 * be shared, then runs. A failure every rank agreed on is printed once (by
 * rank 0) and the job ends with status 1; a failure of one rank alone
 * ends the job (MPI_Abort) after that rank's line. Returns the exit
 * status. */
int ranks_run(run_args *a, pt_status (*run)(run_args *a), const pt_dist_item *files, int nfiles);

/* pt_dist_agree, remembering that the result is common to every rank (so
 * ranks_run prints it once and ends normally). Every rank must call it at
 * the same points: after setup, after each step, after the outputs. */
pt_status ranks_agree(pt_status local);

/* From here on (the first step) a rank waits at most --step-timeout for
 * another; during start-up at least 300 s. */
void ranks_steps_begin(void);

/* Whether this rank writes the run's outputs (rank 0, or the only rank). */
bool ranks_writer(void);

#endif
