/* Differentiable gathers, joins and attention. Conventions as in pt_ops.h
 * (new reference or NULL). */
#ifndef PT_OPS_INDEX_H
#define PT_OPS_INDEX_H

#include <stdbool.h>

#include "tensor/pt_rng.h"
#include "tensor/pt_tensor.h"

/* Rows of weight [V, H] at ids (I64 or I32, any shape) -> [ids..., H].
 * Backward scatter-adds into weight; row padding_idx (if >= 0) gets no
 * gradient. An id outside [0, V) is an error naming it. */
pt_tensor *pt_embedding(pt_tensor *weight, const pt_tensor *ids, int64_t padding_idx);

/* x's slices at `index` (1-D I64/I32) along dim. */
pt_tensor *pt_index_select(pt_tensor *x, int dim, const pt_tensor *index);

/* Joins n tensors along dim (all other dims equal). */
pt_tensor *pt_concat(int n, pt_tensor *const *xs, int dim);
/* Splits x along dim into pieces of `sizes` (n of them, summing to the dim);
 * out[i] receives a new reference each. On failure nothing is returned. */
pt_status pt_split(pt_tensor *x, int dim, int n, const int64_t *sizes, pt_tensor **out);
/* n nearly equal chunks (PyTorch torch.chunk sizes). */
pt_status pt_chunk(pt_tensor *x, int n, int dim, pt_tensor **out);

/* Scaled dot-product attention.
 *   q [B, NH, S, HD]; k, v [B, NH, T, HD]
 *   prefix_k, prefix_v [B, NH, P, HD] or NULL: keys/values become
 *     [prefix ; k] and [prefix ; v] without materializing the concatenation
 *   mask: additive, broadcastable to [B, NH, S, P+T], or NULL
 *   scores = q·keysᵀ · scale + mask -> softmax -> dropout(p, training) -> ·values
 * Returns [B, NH, S, HD]. Gradients flow to q, k, v, prefix_k, prefix_v
 * (not to the mask). */
pt_tensor *pt_attention(pt_tensor *q, pt_tensor *k, pt_tensor *v, pt_tensor *prefix_k,
                        pt_tensor *prefix_v, pt_tensor *mask, double scale, double dropout_p,
                        bool training, pt_rng *rng);

#endif
