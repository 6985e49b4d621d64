/* Differentiable recurrent layers. Conventions as in pt_ops.h (new
 * reference or NULL; a NULL input returns NULL at once). Kernels:
 * tensor/pt_lstm.h. */
#ifndef PT_OPS_RNN_H
#define PT_OPS_RNN_H

#include <stdbool.h>

#include "tensor/pt_tensor.h"

/* One layer and direction of torch.nn.LSTM(batch_first=True) from zero
 * states: x [B, T, I], w_ih [4H, I], w_hh [4H, H], b_ih and b_hh [4H] (or
 * NULL); gate order i, f, g, o; reverse runs the steps from T−1 down to 0.
 * Returns the hidden states [B, T, H]. A bidirectional or stacked LSTM is
 * built from it: concat the two directions' outputs along the last dim and
 * feed them to the next layer (models/methods/p_tuning.c). */
pt_tensor *pt_lstm(pt_tensor *x, pt_tensor *w_ih, pt_tensor *w_hh, pt_tensor *b_ih,
                   pt_tensor *b_hh, bool reverse);

#endif
