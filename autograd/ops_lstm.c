/* lstm: one LSTM layer in one direction (the kernels and the backward's
 * derivation are in tensor/lstm.c).
 *
 * Saved: 0 x, 1 w_ih, 2 w_hh, 3 h (the output), 4 the activated gates
 * [B, T, 4H] and 5 the cell states [B, T, H] (both F64); iarg[0] = reverse.
 * Backward runs once through the steps in reverse order and computes only
 * the gradients that are needed; b_ih and b_hh receive the same gradient. */
#include "autograd/autograd_internal.h"
#include "autograd/pt_autograd.h"
#include "autograd/pt_op_table.h"
#include "autograd/pt_ops_rnn.h"
#include "tensor/pt_lstm.h"

static pt_status lstm_backward(pt_node *n, const pt_tensor *g, pt_tensor **gin) {
  return pt_raw_lstm_backward(g, n->saved[0], n->saved[1], n->saved[2], n->saved[3], n->saved[4],
                              n->saved[5], n->iarg[0] != 0, n->needs_grad, gin);
}

PT_OP_DEFINE(op_lstm, "lstm", lstm_backward);

pt_tensor *pt_lstm(pt_tensor *x, pt_tensor *w_ih, pt_tensor *w_hh, pt_tensor *b_ih,
                   pt_tensor *b_hh, bool reverse) {
  if (!x || !w_ih || !w_hh) return NULL;
  pt_tensor *in[5] = {x, w_ih, w_hh, b_ih, b_hh};
  bool record = pt_needs_node(5, in);
  pt_tensor *gates = NULL, *cells = NULL;
  pt_tensor *out = pt_raw_lstm(x, w_ih, w_hh, b_ih, b_hh, reverse, record ? &gates : NULL,
                               record ? &cells : NULL);
  pt_status st = PT_OK;
  pt_node *n = out && record ? pt_node_new(&op_lstm, 5, in, &st) : NULL;
  if (n) {
    n->iarg[0] = reverse;
    const pt_tensor *keep[6] = {x, w_ih, w_hh, out, gates, cells};
    for (int i = 0; i < 6 && st == PT_OK; i++) st = pt_node_save(n, i, keep[i]);
  }
  pt_tensor_free(gates);
  pt_tensor_free(cells);
  return pt_node_finish(n, st, out);
}

/* ---- gradient-check cases: B 2, T 3, I 3, H 2 (4H = 8).
 *   0: forward in time, both biases
 *   1: reverse, x a transposed view, w_hh strided
 *   2: no biases, w_ih frozen (x, w_hh get gradients)
 *   3: one step (T 1), B 1 ----
 * Weights are spread to [-1.5, 1.5) so the gates leave σ's linear middle. */

static int lstm_inputs(pt_rng *rng, int variant, pt_tensor **in) {
  const int64_t B = variant == 3 ? 1 : 2, T = variant == 3 ? 1 : 3, I = 3, H = 2;
  if (variant == 1) {
    pt_tensor *base = pt_case_rand(rng, PT_DIMS(B, I, T), false);
    in[0] = base ? pt_raw_transpose(base, 1, 2) : NULL;
    pt_tensor_free(base);
    if (in[0]) pt_set_requires_grad(in[0], true);
  } else {
    in[0] = pt_case_rand(rng, PT_DIMS(B, T, I), true);
  }
  in[1] = pt_case_rand(rng, PT_DIMS(4 * H, I), variant != 2);
  in[2] = variant == 1 ? pt_case_rand_strided(rng, PT_DIMS(4 * H, H), true)
                       : pt_case_rand(rng, PT_DIMS(4 * H, H), true);
  for (int i = 1; i <= 2; i++)
    for (int64_t k = 0; in[i] && k < pt_numel(in[i]); k++) pt_set(in[i], k, 1.5 * pt_get(in[i], k));
  if (variant == 2) return 3;
  in[3] = pt_case_rand(rng, PT_DIMS(4 * H), true);
  in[4] = pt_case_rand(rng, PT_DIMS(4 * H), true);
  return 5;
}

PT_CASE_FN(lstm_fn,
           pt_lstm(in[0], in[1], in[2], n > 3 ? in[3] : NULL, n > 4 ? in[4] : NULL, variant == 1))

const pt_op_case pt_op_cases_lstm[] = {
    {"lstm", lstm_inputs, lstm_fn, 4, 0, 0},
    {0},
};
