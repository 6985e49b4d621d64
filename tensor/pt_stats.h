/* Selection and spread reductions on data (no autograd): max over one dim
 * (with the index of the first maximum) and variance over dims. F32/F64,
 * any strides. Results are new contiguous tensors owned by the caller. */
#ifndef PT_STATS_H
#define PT_STATS_H

#include <stdbool.h>

#include "tensor/pt_tensor.h"

/* Max of x over `dim` (negative counts from the end). keepdim keeps the dim
 * as 1. When `indices` is not NULL it receives a new I64 tensor of the
 * result's shape holding the position of the first maximal element along
 * dim (a NaN counts as the maximum, as in PyTorch). `op` names the caller
 * in error messages. An empty dim is an error. */
pt_tensor *pt_raw_max_dim(const pt_tensor *x, int dim, bool keepdim, pt_tensor **indices,
                          const char *op);

/* The reverse of pt_raw_max_dim's selection: a new zero tensor of
 * `ndim/shape` (g's dtype) with g[..] written at the position indices[..]
 * along `dim`. g and indices have the keepdim shape (dim of size 1) or the
 * reduced shape (dim removed). */
pt_tensor *pt_raw_scatter_dim(const pt_tensor *g, const pt_tensor *indices, int dim, int ndim,
                              const int64_t *shape);

/* Variance over `ndims` dims (ndims == 0: all) with Bessel-style
 * `correction`: Σ(x − mean)² / (N − correction), two passes in double.
 * N − correction <= 0 gives NaN or Inf as in PyTorch (0/0 = NaN). */
pt_tensor *pt_raw_var(const pt_tensor *x, int ndims, const int *dims, int correction,
                      bool keepdim);

#endif
