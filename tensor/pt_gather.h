/* Gathers and scatter-adds of rows and slices on data (no autograd): the
 * kernels behind embedding and index_select. F32/F64 data, I64/I32 ids.
 * Inputs are borrowed and may have any strides; results are new contiguous
 * tensors owned by the caller. */
#ifndef PT_GATHER_H
#define PT_GATHER_H

#include "tensor/pt_tensor.h"

/* PT_OK when `ids` is an I64/I32 tensor whose every value lies in
 * [0, limit); otherwise an error from `op` naming the first bad id and where
 * it sits ("embedding: id 7 at position 3 is outside [0, 5)"). */
pt_status pt_raw_check_ids(const pt_tensor *ids, int64_t limit, const char *op);

/* out[ids..., H] = weight[ids[...], :] for weight [V, H]. Ids are checked. */
pt_tensor *pt_raw_embedding(const pt_tensor *weight, const pt_tensor *ids);

/* The reverse: a new zero [V, H] tensor (g's dtype) with every row g[i, :]
 * of g [ids..., H] added into row ids[i] (repeated ids accumulate). Row
 * padding_idx (if >= 0) stays zero. Ids must already be valid. */
pt_tensor *pt_raw_embedding_backward(const pt_tensor *g, const pt_tensor *ids, int64_t V,
                                     int64_t padding_idx);

/* x's slices at `index` (1-D I64/I32, checked) along dim: the result has
 * x's shape with dim of size numel(index). */
pt_tensor *pt_raw_index_select(const pt_tensor *x, int dim, const pt_tensor *index);

/* The reverse: a new zero tensor of `ndim/shape` (g's dtype) with slice i of
 * g along dim added into slice index[i] (repeats accumulate). */
pt_tensor *pt_raw_index_add(const pt_tensor *g, int dim, const pt_tensor *index, int ndim,
                            const int64_t *shape);

#endif
