/* Differentiable pointwise ops: scalar arithmetic, activations, dropout,
 * selection. Conventions as in pt_ops.h (new reference or NULL). */
#ifndef PT_OPS_POINTWISE_H
#define PT_OPS_POINTWISE_H

#include <stdbool.h>

#include "tensor/pt_rng.h"
#include "tensor/pt_tensor.h"

pt_tensor *pt_neg(pt_tensor *x);
pt_tensor *pt_scale(pt_tensor *x, double s);      /* x * s */
pt_tensor *pt_add_scalar(pt_tensor *x, double s); /* x + s */
pt_tensor *pt_pow_scalar(pt_tensor *x, double p); /* x ^ p */
pt_tensor *pt_exp(pt_tensor *x);
pt_tensor *pt_log(pt_tensor *x);
pt_tensor *pt_sqrt(pt_tensor *x);
pt_tensor *pt_rsqrt(pt_tensor *x);
pt_tensor *pt_tanh(pt_tensor *x);
pt_tensor *pt_sigmoid(pt_tensor *x);
pt_tensor *pt_relu(pt_tensor *x);
pt_tensor *pt_gelu(pt_tensor *x);      /* exact: x·Φ(x) with erf (PyTorch's default) */
pt_tensor *pt_gelu_tanh(pt_tensor *x); /* tanh approximation */

/* Inverted dropout: in training, zeroes each element with probability p
 * (drawn from `rng`, which advances by numel) and scales the rest by
 * 1/(1-p); outside training (or p == 0) returns a new reference to x. */
pt_tensor *pt_dropout(pt_tensor *x, double p, bool training, pt_rng *rng);

/* cond ? a : b elementwise, broadcasting all three; cond is any dtype
 * (non-zero = true) and gets no gradient. */
pt_tensor *pt_where(pt_tensor *cond, pt_tensor *a, pt_tensor *b);
/* x with `value` where mask is non-zero (mask broadcasts to x). */
pt_tensor *pt_masked_fill(pt_tensor *x, pt_tensor *mask, double value);

#endif
