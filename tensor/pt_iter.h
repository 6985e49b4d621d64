/* Walking several same-shape tensors (any strides, broadcast views included)
 * in row-major order, one inner run at a time. Kernels write their inner
 * loop once; the walker handles strides, and fully contiguous operands are
 * visited as one flat run split across OpenMP threads. */
#ifndef PT_ITER_H
#define PT_ITER_H

#include "tensor/pt_tensor.h"

#define PT_ITER_MAX 4

/* One inner run: `n` elements; ptrs[k] points at operand k's first element,
 * steps[k] is operand k's stride in elements along the run. */
typedef void (*pt_iter_fn)(int64_t n, void **ptrs, const int64_t *steps, void *ctx);

/* Visits every element of `ts[0]`'s shape; all operands must have that shape
 * (use pt_raw_expand for broadcasting). Runs in parallel when the work is
 * large, so `fn` must only write to the element it is given. */
void pt_iter_run(int nops, pt_tensor *const *ts, pt_iter_fn fn, void *ctx);

#endif
