/* Differentiable normalizations, reductions with selection, and losses.
 * Conventions as in pt_ops.h (new reference or NULL). */
#ifndef PT_OPS_NORM_H
#define PT_OPS_NORM_H

#include <stdbool.h>

#include "tensor/pt_tensor.h"

/* Max over one dim (values only; the gradient goes to the first maximal
 * element). */
pt_tensor *pt_max(pt_tensor *x, int dim, bool keepdim);
/* Variance over dims with `correction` (0: population, 1: sample). */
pt_tensor *pt_var(pt_tensor *x, int ndims, const int *dims, int correction, bool keepdim);

pt_tensor *pt_softmax(pt_tensor *x, int dim);
pt_tensor *pt_log_softmax(pt_tensor *x, int dim);

/* LayerNorm over the last dim: (x − mean)/sqrt(var + eps)·weight + bias;
 * weight and bias [H] may be NULL. Fused forward and backward. */
pt_tensor *pt_layer_norm(pt_tensor *x, pt_tensor *weight, pt_tensor *bias, double eps);

/* Cross-entropy of logits [..., C] against class indices (I64 or I32,
 * logits' shape without the last dim). Targets equal to ignore_index are
 * skipped; the result is the mean over the rest (a 0-dim tensor; NaN when
 * every target is ignored, as in PyTorch). label_smoothing in [0, 1)
 * follows torch.nn.functional.cross_entropy. A target outside [0, C) that
 * is not ignore_index is an error. */
pt_tensor *pt_cross_entropy(pt_tensor *logits, const pt_tensor *targets, int64_t ignore_index,
                            double label_smoothing);

#endif
