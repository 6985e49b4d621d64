/* LayerNorm over the last dim, fused forward and backward, on data (no
 * autograd). F32 and F64; x may have any strides (it is made contiguous).
 * Matches torch.nn.LayerNorm: biased variance, eps inside the sqrt:
 *   y = (x − mean) · rstd · weight + bias,   rstd = 1 / sqrt(var + eps).
 * Row statistics accumulate in double (two passes over the row). Rows run
 * in parallel with OpenMP. */
#ifndef PT_LAYERNORM_H
#define PT_LAYERNORM_H

#include <stdbool.h>

#include "tensor/pt_tensor.h"

/* x [..., H]; weight and bias [H] or NULL (then 1 and 0). Returns y (new,
 * contiguous, x's shape). When mean_out / rstd_out are not NULL they
 * receive new tensors of shape x.shape[:-1] (x's dtype) holding each row's
 * mean and 1/sqrt(var + eps), for the backward. */
pt_tensor *pt_raw_layer_norm(const pt_tensor *x, const pt_tensor *weight, const pt_tensor *bias,
                             double eps, pt_tensor **mean_out, pt_tensor **rstd_out);

/* LayerNorm of x + residual (same shape and dtype; residual NULL: plain
 * pt_raw_layer_norm) in one pass over the rows, without materializing the
 * sum unless sum_out is not NULL: then *sum_out receives it (new, x's
 * shape), as the backward's x. With a NULL residual *sum_out is set to
 * NULL. mean_out / rstd_out as above. */
pt_tensor *pt_raw_add_layer_norm(const pt_tensor *x, const pt_tensor *residual,
                                 const pt_tensor *weight, const pt_tensor *bias, double eps,
                                 pt_tensor **sum_out, pt_tensor **mean_out, pt_tensor **rstd_out);

/* Backward of pt_raw_layer_norm given g = dL/dy (x's shape), x, the saved
 * mean and rstd, and weight (NULL when the forward had none). Each of dx,
 * dweight, dbias is computed only when its pointer is not NULL, and is then
 * a new tensor the caller owns (dweight/dbias of shape [H]). With
 * xhat = (x − mean)·rstd and gw = g·weight:
 *   dx      = rstd · (gw − mean_H(gw) − xhat · mean_H(gw · xhat))
 *   dweight = Σ_rows g · xhat,   dbias = Σ_rows g
 * The row sums for dweight/dbias are taken over fixed blocks of rows and
 * added in block order, so results do not depend on the thread count. */
pt_status pt_raw_layer_norm_backward(const pt_tensor *g, const pt_tensor *x,
                                     const pt_tensor *mean, const pt_tensor *rstd,
                                     const pt_tensor *weight, pt_tensor **dx,
                                     pt_tensor **dweight, pt_tensor **dbias);

#endif
