/* Differentiable normalizations, reductions with selection, and losses.
 * Conventions as in pt_ops.h (new reference or NULL; a NULL input returns
 * NULL at once). F32 and F64; inputs may be strided views. Raw kernels live
 * in tensor/pt_softmax.h, tensor/pt_layernorm.h and tensor/pt_stats.h. */
#ifndef PT_OPS_NORM_H
#define PT_OPS_NORM_H

#include <stdbool.h>

#include "tensor/pt_tensor.h"

/* Max over one dim (values only; the gradient goes to the first maximal
 * element; a NaN counts as the maximum, as in torch.max). Negative dims
 * count from the end; an empty dim is an error. Saves only the indices. */
pt_tensor *pt_max(pt_tensor *x, int dim, bool keepdim);
/* Variance over dims (ndims == 0: all) with `correction` (0: population,
 * 1: sample): Σ(x − mean)² / (N − correction), as torch.var; N − correction
 * ≤ 0 divides by 0 (Inf or NaN). */
pt_tensor *pt_var(pt_tensor *x, int ndims, const int *dims, int correction, bool keepdim);

/* Softmax / log-softmax along any dim (max-subtracted, so logits of ±1000
 * are fine; −inf entries get probability 0, an all −inf row gives NaN as
 * in PyTorch). The last dim is the fast path; other dims run a strided
 * kernel without a transposed copy. Only the output is saved. */
pt_tensor *pt_softmax(pt_tensor *x, int dim);
pt_tensor *pt_log_softmax(pt_tensor *x, int dim);

/* LayerNorm over the last dim: (x − mean)/sqrt(var + eps)·weight + bias
 * with the biased variance, as torch.nn.LayerNorm; weight and bias [H] (x's
 * dtype) may be NULL. Fused forward (mean and rstd saved per row) and
 * backward; dweight/dbias are computed only for a weight/bias that
 * requires grad, and x is not saved when only the bias trains. */
pt_tensor *pt_layer_norm(pt_tensor *x, pt_tensor *weight, pt_tensor *bias, double eps);
/* pt_layer_norm(x + residual, ...) as one op (residual: x's shape and
 * dtype, no broadcasting): the post-LN transformer's residual join without
 * a separate add pass, and without storing the sum unless the backward
 * needs it. x and residual both receive d(sum). */
pt_tensor *pt_add_layer_norm(pt_tensor *x, pt_tensor *residual, pt_tensor *weight,
                             pt_tensor *bias, double eps);

/* Cross-entropy of logits [..., C] against class indices (I64 or I32,
 * logits' shape without the last dim; never differentiated). Targets equal
 * to ignore_index are skipped; the result is the mean over the rest (a
 * 0-dim tensor; NaN when every target is ignored, as in PyTorch).
 * label_smoothing ε in [0, 1] follows torch.nn.functional.cross_entropy:
 * loss = (1 − ε)·nll + ε·mean_c(−log p_c), both averaged over the kept
 * rows. A target outside [0, C) that is not ignore_index is an error naming
 * the value and its position. */
pt_tensor *pt_cross_entropy(pt_tensor *logits, const pt_tensor *targets, int64_t ignore_index,
                            double label_smoothing);

#endif
