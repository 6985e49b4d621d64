/* Cross-entropy of class targets under softmax(logits), forward and
 * backward, on data (no autograd). F32 and F64 logits [..., C] (any
 * strides); targets hold class indices of the logits' shape without the
 * last dim. Results are new tensors owned by the caller.
 *
 * torch.nn.functional.cross_entropy semantics (reduction='mean'): per kept
 * row r (target t ≠ ignore_index), with lse = log Σ_c exp(x_c),
 *   loss_r = (1 − ε)·(lse − x_t) + ε·mean_c(lse − x_c)
 * and the loss is Σ loss_r / count over the kept rows (NaN when none). */
#ifndef PT_XENT_H
#define PT_XENT_H

#include "tensor/pt_tensor.h"

/* Checks logits (F32/F64, at least one dim), targets (I64 or I32, logits'
 * shape without the last dim), ε in [0, 1] and every target (in [0, C) or
 * equal to ignore_index; the error names the value and its position).
 * Returns the targets as a new contiguous I64 tensor, or NULL. */
pt_tensor *pt_raw_cross_entropy_targets(const pt_tensor *logits, const pt_tensor *targets,
                                        int64_t ignore_index, double eps);

/* The mean loss as a 0-dim tensor of the logits' dtype. `targets` is what
 * pt_raw_cross_entropy_targets returned. When lse_out is not NULL it
 * receives a new F64 [N] tensor of each row's log-sum-exp (0 for ignored
 * rows); *count_out (if not NULL) the number of kept rows. Rows are
 * processed in parallel; the row losses are added in row order, so the
 * result does not depend on the thread count. */
pt_tensor *pt_raw_cross_entropy(const pt_tensor *logits, const pt_tensor *targets,
                                int64_t ignore_index, double eps, pt_tensor **lse_out,
                                int64_t *count_out);

/* Gradient of `scale`·Σ loss_r with respect to the logits (scale is
 * g / count for the mean): for a kept row
 *   dx_c = scale · (softmax(x)_c − (1 − ε)·[c = t] − ε/C),
 * zero for ignored rows. A new contiguous tensor of the logits' shape. */
pt_tensor *pt_raw_cross_entropy_backward(const pt_tensor *logits, const pt_tensor *targets,
                                         const pt_tensor *lse, int64_t ignore_index, double eps,
                                         double scale);

#endif
