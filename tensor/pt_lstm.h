/* One LSTM layer in one direction, on data (no autograd), as one layer and
 * direction of torch.nn.LSTM(batch_first=True) with h_0 = c_0 = 0:
 *   gates_t = x_t·W_ihᵀ + b_ih + h_{t-1}·W_hhᵀ + b_hh   (4H, order i, f, g, o)
 *   i, f, o = σ(·), g = tanh(·)
 *   c_t = f ⊙ c_{t-1} + i ⊙ g,   h_t = o ⊙ tanh(c_t)
 * reverse runs t = T−1 … 0 (the backward half of a bidirectional LSTM).
 * Shapes: x [B, T, I], w_ih [4H, I], w_hh [4H, H], b_ih and b_hh [4H] or
 * NULL, h [B, T, H]. F32 or F64 (all the same dtype), any strides. The
 * arithmetic runs in double; results are rounded to x's dtype. Sizes are
 * those of prompt encoders (tens of positions), so plain loops serve. */
#ifndef PT_LSTM_H
#define PT_LSTM_H

#include <stdbool.h>

#include "tensor/pt_tensor.h"

/* Returns h (new, contiguous, x's dtype). When gates_out and cells_out are
 * not NULL they receive new F64 tensors for the backward: the activated
 * gates [B, T, 4H] and the cell states [B, T, H]. */
pt_tensor *pt_raw_lstm(const pt_tensor *x, const pt_tensor *w_ih, const pt_tensor *w_hh,
                       const pt_tensor *b_ih, const pt_tensor *b_hh, bool reverse,
                       pt_tensor **gates_out, pt_tensor **cells_out);

/* Backpropagation through time given dh = dL/dh [B, T, H], x, w_hh, the
 * output h and the saved gates and cells. grads[0..4] (x, w_ih, w_hh, b_ih,
 * b_hh) receive new tensors (each input's dtype) where needs[i] is set and
 * are left NULL otherwise. */
pt_status pt_raw_lstm_backward(const pt_tensor *dh, const pt_tensor *x, const pt_tensor *w_ih,
                               const pt_tensor *w_hh, const pt_tensor *h, const pt_tensor *gates,
                               const pt_tensor *cells, bool reverse, const bool needs[5],
                               pt_tensor **grads);

#endif
