/* Reductions on data (no autograd). F32/F64. Results are new contiguous
 * tensors owned by the caller. */
#ifndef PT_REDUCE_H
#define PT_REDUCE_H

#include <stdbool.h>

#include "tensor/pt_tensor.h"

/* Sum over `ndims` dims (negative dims count from the end; ndims == 0 sums
 * everything into a 0-dim tensor). keepdim keeps the reduced dims as 1. */
pt_tensor *pt_raw_sum(const pt_tensor *t, int ndims, const int *dims, bool keepdim);

/* The reverse of broadcasting: sums `t` down to `shape` (which must
 * broadcast to t's shape). Returns a new reference to t itself when the
 * shapes already agree. */
pt_tensor *pt_raw_sum_to_shape(const pt_tensor *t, int ndim, const int64_t *shape);

/* Marks the reduced dims of `t` in `mask` (true = reduced), normalizing
 * negative dims; PT_ERR_ARG naming `op` on a bad or repeated dim. */
pt_status pt_reduce_dims_mask(const pt_tensor *t, int ndims, const int *dims,
                              const char *op, bool *mask);

#endif
