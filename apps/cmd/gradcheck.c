/* `ptune gradcheck [--op NAME ...] [--seed N] [--list]`: runs the gradient
 * check of every registered op (or the named ones) and ends with "N passed,
 * M failed". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/cmd/commands.h"
#include "autograd/pt_op_table.h"

static int gradcheck(run_args *a) {
  const char *const *only = a->ops.v;
  int nonly = a->ops.n;
  uint64_t seed = a->seed;
  int ncases;
  const pt_op_case *cases = pt_op_cases(&ncases);
  if (a->list) {
    for (int i = 0; i < ncases; i++) printf("%s\n", cases[i].name);
    return 0;
  }
  for (int k = 0; k < nonly; k++)
    if (!pt_op_case_find(only[k])) {
      fprintf(stderr, "ptune gradcheck: no op named '%s' (see --list)\n", only[k]);
      return 2;
    }
  int passed = 0, failed = 0;
  for (int i = 0; i < ncases; i++) {
    const pt_op_case *c = &cases[i];
    bool wanted = nonly == 0;
    for (int k = 0; k < nonly; k++) wanted |= !strcmp(only[k], c->name);
    if (!wanted) continue;
    pt_gradcheck_result r;
    pt_status st = pt_op_case_run(c, seed, &r);
    if (st != PT_OK) {
      printf("FAIL %-22s error: %s\n", c->name, pt_error_message());
      failed++;
    } else {
      printf("%s %-22s %d variants, %lld elements, max |a-n| %.2e %s\n", r.passed ? "ok  " : "FAIL",
             c->name, c->nvariants, (long long)r.checked, r.max_abs_err, r.passed ? "" : r.message);
      r.passed ? passed++ : failed++;
    }
  }
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}

static const command gradcheck_command = {
    .name = "gradcheck",
    .summary = "check every op's gradient against finite differences",
    .usage =
        "gradcheck [--op NAME ...] [--seed N] [--list]\n"
        "Checks every registered differentiable op's backward against central\n"
        "differences in F64 (random shapes, broadcasting and strided inputs).",
    .defaults = "--seed 1",
    .run = gradcheck,
};
COMMAND_REGISTER(gradcheck_command);
