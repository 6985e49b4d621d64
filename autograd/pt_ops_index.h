/* Differentiable gathers, joins and attention. Conventions as in pt_ops.h:
 * tensors returned are new references (caller frees), arguments are
 * borrowed, NULL means failure with the reason in pt_error_message(), and a
 * NULL tensor argument returns NULL at once. Kernels: tensor/pt_gather.h and
 * tensor/pt_attention.h. */
#ifndef PT_OPS_INDEX_H
#define PT_OPS_INDEX_H

#include <stdbool.h>

#include "tensor/pt_rng.h"
#include "tensor/pt_tensor.h"

/* Rows of weight [V, H] (F32/F64) at ids (I64 or I32, any shape, any
 * strides; never differentiated) -> [ids..., H]. Backward scatter-adds into
 * a zero [V, H] (repeated ids sum); row padding_idx (if >= 0; -1 for none)
 * gets exactly zero gradient, as in PyTorch. An id outside [0, V) is an
 * error naming the id and its position. */
pt_tensor *pt_embedding(pt_tensor *weight, const pt_tensor *ids, int64_t padding_idx);

/* x's slices at `index` (1-D I64/I32, values checked) along dim
 * (negative counts from the end): x's shape with dim of size numel(index).
 * Backward adds each gradient slice into its source slice. */
pt_tensor *pt_index_select(pt_tensor *x, int dim, const pt_tensor *index);

/* Joins n >= 1 tensors (same dtype, all other dims equal, any strides)
 * along dim into a new contiguous tensor. Backward hands each input its
 * slice of the gradient (a view, no copy). */
pt_tensor *pt_concat(int n, pt_tensor *const *xs, int dim);
/* Splits x along dim into pieces of `sizes` (n of them, each >= 0, summing
 * to the dim); out[i] receives a new reference each: a differentiable
 * narrow view sharing x's storage (no copy). On failure nothing is returned
 * (out[] holds no references). */
pt_status pt_split(pt_tensor *x, int dim, int n, const int64_t *sizes, pt_tensor **out);
/* torch.chunk: pieces of ceil(len / n) along dim, the last one smaller
 * (10 into 3: 4, 4, 2). Like torch.chunk this can give fewer than n pieces
 * (6 into 4: 2, 2, 2); out[] must have n slots and the slots past the last
 * piece are set to NULL. A dim of length 0 gives n empty pieces. Pieces are
 * narrow views as in pt_split. */
pt_status pt_chunk(pt_tensor *x, int n, int dim, pt_tensor **out);

/* Scaled dot-product attention.
 *   q [B, NH, S, HD]; k, v [B, NH, T, HD]
 *   prefix_k, prefix_v [B, NH, P, HD] or NULL: keys/values become
 *     [prefix ; k] and [prefix ; v] without materializing the concatenation
 *   mask: additive, broadcastable to [B, NH, S, P+T], or NULL
 *   scores = q·keysᵀ · scale + mask -> softmax -> dropout(p, training) -> ·values
 * Returns [B, NH, S, HD]. Gradients flow to q, k, v, prefix_k, prefix_v
 * (not to the mask); only those that require grad are computed, and the
 * node keeps only what they read (probs always; q for dk/dprefix_k; k,
 * prefix_k for dq; v, prefix_v for any of dq, dk, dprefix_k).
 * Inputs may be strided views (q/k/v permuted from [B, S, NH, HD] are read
 * in place). The mask may be of another float dtype (converted once).
 * Dropout, when training with dropout_p > 0, draws B·NH·S·(P+T) counter
 * values from rng (the same mask pt_dropout would draw on the probs) and
 * backward regenerates it: the rng is not touched otherwise, and may be
 * NULL then. Without a recorded node (no grad needed, or pt_no_grad) no
 * [B, NH, S, P+T] buffer is kept: scores live in per-thread scratch. */
pt_tensor *pt_attention(pt_tensor *q, pt_tensor *k, pt_tensor *v, pt_tensor *prefix_k,
                        pt_tensor *prefix_v, pt_tensor *mask, double scale, double dropout_p,
                        bool training, pt_rng *rng);

#endif
