/* The table of differentiable ops and their gradient-check cases.
 *
 * Every differentiable op registers a case here (its file's family array is
 * declared in autograd/autograd_internal.h and listed in op_table.c). `ptune gradcheck` and the Check suite walk the table; an op
 * without a case fails the suite (tests/test_op_table.c compares the table
 * with the op definitions). */
#ifndef PT_OP_TABLE_H
#define PT_OP_TABLE_H

#include "autograd/pt_gradcheck.h"
#include "tensor/pt_rng.h"

#define PT_CASE_MAX_INPUTS 6

typedef struct pt_op_case {
  const char *name; /* the op's name, as in its pt_op_def */
  /* Fills inputs[] with new F64 tensors (index tensors as I64) for shape
   * variant `variant` (0 .. nvariants-1: plain, broadcasting, non-contiguous
   * views, ...) and returns how many; -1 on failure. The caller frees them. */
  int (*make_inputs)(pt_rng *rng, int variant, pt_tensor **inputs);
  pt_gradcheck_fn fn; /* its ctx points at the variant number (an int) */
  int nvariants;
  double atol, rtol; /* 0: the gradcheck defaults */
} pt_op_case;

/* Defines the gradient-check function of a case,
 *   static pt_tensor *NAME(pt_tensor *const *in, int n, void *ctx),
 * that returns EXPR; EXPR sees the inputs `in`, their count `n` and the
 * shape variant `variant` (what ctx points at). For example
 *   PT_CASE_FN(add_fn, pt_add(in[0], in[1]))
 *   PT_CASE_FN(max_fn, pt_max(in[0], 1, variant == 1)) */
#define PT_CASE_FN(NAME, EXPR)                                   \
  static pt_tensor *NAME(pt_tensor *const *in, int n, void *ctx) { \
    const int variant = *(const int *)ctx;                       \
    (void)in, (void)n, (void)variant;                            \
    return EXPR;                                                 \
  }

/* All registered cases, in one array listed once (thread-safe); *count
 * receives how many. NULL and 0, PT_ERR_NOMEM recorded, if that listing ran
 * out of memory. */
const pt_op_case *pt_op_cases(int *count);
/* The case named `name`, or NULL. */
const pt_op_case *pt_op_case_find(const char *name);

/* Runs every variant of one case; the result is the worst variant's. */
pt_status pt_op_case_run(const pt_op_case *c, uint64_t seed, pt_gradcheck_result *result);

/* Helpers for case writers. New F64 leaves with values in [-1, 1):
 * case_rand makes a contiguous tensor; case_rand_strided makes a permuted
 * view (last two dims swapped) of a fresh tensor, so kernels meet
 * non-contiguous inputs. requires_grad marks the leaf. */
pt_tensor *pt_case_rand(pt_rng *rng, int ndim, const int64_t *shape, bool requires_grad);
pt_tensor *pt_case_rand_strided(pt_rng *rng, int ndim, const int64_t *shape, bool requires_grad);

#endif
