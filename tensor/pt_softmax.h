/* Softmax and log-softmax along one dim, forward and backward, on data (no
 * autograd). F32 and F64. Results are new contiguous tensors owned by the
 * caller; inputs are borrowed and may have any strides.
 *
 * The tensor is seen as [outer, D, inner] around the softmax dim (D). The
 * last dim (inner == 1) is the fast path: one OpenMP loop over rows, each
 * row max-subtracted. Other dims walk D with a stride of `inner`, the inner
 * loop running over contiguous columns. Row sums accumulate in double. */
#ifndef PT_SOFTMAX_H
#define PT_SOFTMAX_H

#include <stdbool.h>

#include "tensor/pt_tensor.h"

/* y = softmax(x) along `dim` (negative counts from the end); with `log`,
 * y = log_softmax(x) = x − max − log Σ exp(x − max). `op` names the caller
 * in error messages. */
pt_tensor *pt_raw_softmax(const pt_tensor *x, int dim, bool log, const char *op);

/* Gradient of the input given the forward output y and the output gradient
 * g (same shape):
 *   softmax:     dx = y · (g − Σ_D g·y)
 *   log_softmax: dx = g − exp(y) · Σ_D g */
pt_tensor *pt_raw_softmax_backward(const pt_tensor *y, const pt_tensor *g, int dim, bool log);

#endif
