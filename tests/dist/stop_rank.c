/* A job in which one rank stops (SIGSTOP) before a sum: the others must
 * end it within the step timeout with one line naming that rank and the
 * step (run by watchdog.sh under mpirun). Usage: stop_rank TIMEOUT_S RANK */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "ptune.h"

int main(int argc, char **argv) {
  pt_dist_opts o = pt_dist_defaults();
  o.step_timeout = argc > 1 ? atof(argv[1]) : 2;
  int stopper = argc > 2 ? atoi(argv[2]) : 1;
  if (pt_dist_init(&argc, &argv, &o) != PT_OK) {
    fprintf(stderr, "%s\n", pt_error_message());
    return 1;
  }
  float x[4] = {1, 2, 3, 4};
  for (int step = 0; step < 3; step++) {
    pt_dist_set_step(step);
    if (step == 2 && pt_dist_rank() == stopper) raise(SIGSTOP);
    if (pt_dist_sum_f32(x, 4) != PT_OK) {
      fprintf(stderr, "ptune: %s\n", pt_error_message());
      pt_dist_abort(3);
      return 3;
    }
  }
  return pt_dist_finalize() == PT_OK ? 0 : 1;
}
