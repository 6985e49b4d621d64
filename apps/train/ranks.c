/* Starting the ranks of a training job, the agreement check and the error
 * exit (ranks.h). */
#include "apps/train/ranks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/cmd/commands.h"

static bool agreed_failure; /* the last ranks_agree gave an error */
/* --step-timeout, for the steps; start-up waits at least START_TIMEOUT:
 * every rank reads, hashes and loads its files then, and a slower disk or
 * a busier core may legitimately keep a rank late by more than a step */
#define START_TIMEOUT 300.0
static double step_timeout = -1;

void ranks_steps_begin(void) {
  if (step_timeout >= 0) pt_dist_set_timeout(step_timeout);
}

pt_status ranks_agree(pt_status local) {
  pt_status st = pt_dist_agree(local);
  agreed_failure = st != PT_OK;
  return st;
}

bool ranks_writer(void) { return pt_dist_rank() == 0; }

/* The command line as bytes (each argument and its NUL): what every rank
 * must have been given. */
static char *command_line(const run_args *a, size_t *n) {
  size_t len = 0;
  for (int i = 0; i < a->argc; i++) len += strlen(a->argv[i]) + 1;
  char *s = malloc(len ? len : 1), *p = s;
  for (int i = 0; s && i < a->argc; i++) p = stpcpy(p, a->argv[i]) + 1;
  *n = len;
  return s;
}

/* Under mpirun: --grad-accum (one micro-batch per rank unless given) must
 * share out evenly. The options agree, so every rank decides the same. */
static pt_status share_steps(run_args *a, int size) {
  if (!option_given(a, "--grad-accum")) {
    a->grad_accum = size;
    return PT_OK;
  }
  if (a->grad_accum % size == 0) return PT_OK;
  return pt_error(PT_ERR_ARG,
                  "--grad-accum %lld: the micro-batches of a step cannot be shared by %d ranks; "
                  "give a multiple of %d, or leave it out (one micro-batch per rank)",
                  (long long)a->grad_accum, size, size);
}

static pt_status start(run_args *a, const pt_dist_item *files, int nfiles) {
  size_t n = 0;
  char *line = command_line(a, &n);
  if (!line) return pt_error(PT_ERR_NOMEM, "%s: out of memory", a->command);
  pt_dist_item items[40] = {{"command line", NULL, line, n}};
  int k = 1;
  for (int i = 0; i < nfiles && k < (int)(sizeof items / sizeof items[0]); i++)
    if (files[i].path) items[k++] = files[i];
  pt_status st = pt_dist_check_same(items, k);
  free(line);
  if (st == PT_OK && pt_dist_size() > 1) st = share_steps(a, pt_dist_size());
  return st;
}

int ranks_run(run_args *a, pt_status (*run)(run_args *a), const pt_dist_item *files, int nfiles) {
  pt_dist_opts o = pt_dist_defaults();
  o.threads = (int)a->threads;
  step_timeout = a->step_timeout;
  o.step_timeout = a->step_timeout > 0 && a->step_timeout < START_TIMEOUT ? START_TIMEOUT
                                                                          : a->step_timeout;
  pt_status st = pt_dist_init(NULL, NULL, &o);
  if (st != PT_OK) return command_exit(a, st);
  int rank = pt_dist_rank(), size = pt_dist_size();
  if (size > 1 && rank != 0) { /* rank 0 alone reports: the others run the same on the same files */
    a->quiet = true;
    pt_warn_set_handler(NULL, NULL);
  }
  st = start(a, files, nfiles); /* collective: its result is common */
  agreed_failure = st != PT_OK;
  if (st == PT_OK && size > 1 && !a->quiet)
    fprintf(stderr, "%s: %s; %lld micro-batches of %lld per step\n", a->command, pt_dist_layout(),
            (long long)a->grad_accum, (long long)a->batch_size);
  if (st == PT_OK) st = run(a);
  if (st != PT_OK && size > 1 && (!agreed_failure || pt_dist_broken())) {
    /* this rank alone failed, or lost another: the others may be waiting */
    if (rank == 0 || pt_dist_broken()) /* the watchdog's line names its rank */
      fprintf(stderr, "ptune %s: %s\n", a->command, pt_error_message());
    else
      fprintf(stderr, "ptune %s: rank %d: %s\n", a->command, rank, pt_error_message());
    fflush(stderr);
    pt_dist_abort(1);
  }
  int rc = st == PT_OK ? 0 : rank == 0 ? command_exit(a, st) : 1;
  if (pt_dist_finalize() != PT_OK && rc == 0) rc = command_exit(a, pt_error_code());
  return rc;
}
