/* Gradient checking: compare backward against central differences.
 *
 * The output y = fn(inputs) is reduced to L = Σ w·y with a fixed random
 * weighting w (a plain sum would make softmax or LayerNorm checks vacuous:
 * their sum has zero gradient). For every element x of every input that
 * requires grad, numeric = (L(x+eps) − L(x−eps)) / 2eps, and the check asks
 * |analytic − numeric| ≤ atol + rtol·|numeric|. Inputs that do not require
 * grad must receive no gradient. Run it in F64.
 *
 * pt_gradcheck_direction checks a whole model with a few forwards: one
 * random direction d over all inputs, comparing Σ grad·d with the
 * directional difference quotient. */
#ifndef PT_GRADCHECK_H
#define PT_GRADCHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "tensor/pt_tensor.h"

/* Builds the output from the inputs (borrowed). Returns a new tensor. */
typedef pt_tensor *(*pt_gradcheck_fn)(pt_tensor *const *inputs, int n, void *ctx);

typedef struct {
  double eps;    /* finite-difference step; default 1e-6 */
  double atol;   /* default 1e-7 */
  double rtol;   /* default 1e-5 */
  uint64_t seed; /* seed of the output weighting / direction; default 1 */
} pt_gradcheck_opts;

typedef struct {
  bool passed;
  int64_t checked;      /* elements (or directions) compared */
  double max_abs_err;   /* largest |analytic − numeric| */
  double worst_ratio;   /* largest |a − n| / (atol + rtol|n|): ≤ 1 passes */
  int worst_input;      /* input index of the worst element */
  int64_t worst_index;  /* its flat row-major index */
  double worst_analytic, worst_numeric;
  char message[256];    /* one line: what failed, or a summary */
} pt_gradcheck_result;

/* opts may be NULL for defaults. Returns PT_OK when the check ran (see
 * result->passed for the verdict), an error status when it could not run
 * (fn failed, inputs not F64, ...). */
pt_status pt_gradcheck(pt_gradcheck_fn fn, void *ctx, int n, pt_tensor *const *inputs,
                       const pt_gradcheck_opts *opts, pt_gradcheck_result *result);

pt_status pt_gradcheck_direction(pt_gradcheck_fn fn, void *ctx, int n,
                                 pt_tensor *const *inputs, int ndirections,
                                 const pt_gradcheck_opts *opts, pt_gradcheck_result *result);

#endif
