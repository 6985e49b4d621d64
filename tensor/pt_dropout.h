/* The inverted-dropout kernel on data (no autograd). The keep/drop decision
 * for element i (flat row-major index over the shape) is a pure function of
 * (seed, base + i) through pt_rng_bits, so the mask does not depend on the
 * thread count, on strides, or on F32 vs F64, and can be regenerated
 * instead of stored: applying the kernel to the output gradient with the
 * same (seed, base) is the backward. */
#ifndef PT_DROPOUT_H
#define PT_DROPOUT_H

#include <stdbool.h>
#include <stdint.h>

#include "tensor/pt_tensor.h"

/* True when element with counter value `i` of `seed` survives dropout with
 * probability p (its uniform draw is >= p). */
bool pt_dropout_keep(uint64_t seed, uint64_t i, double p);

/* What dropout accepts: x of F32 or F64, 0 <= p <= 1 (PT_ERR_DTYPE or
 * PT_ERR_ARG with the message, "dropout: p must be in [0, 1], got 1.5"). */
pt_status pt_dropout_check(const pt_tensor *x, double p);

/* y[i] = keep(i) ? x[i] / (1 − p) : 0 over x's shape (any strides), 0 <= p <= 1
 * (p = 1 gives zeros). Returns a new contiguous tensor (caller owns). */
pt_tensor *pt_raw_dropout(const pt_tensor *x, double p, uint64_t seed, uint64_t base);

#endif
