/* Scaled dot-product attention on data (no autograd), with optional prefix
 * keys/values read in place (P-Tuning v2: keys = [prefix_k ; k] along the
 * sequence dim, never materialized). F32/F64.
 *
 * Shapes: q [B, NH, S, HD]; k, v [B, NH, T, HD]; prefix_k, prefix_v
 * [B, NH, P, HD] or NULL; mask additive, broadcastable to [B, NH, S, P+T];
 * L = P+T keys. Inputs are borrowed and may have any strides: a matrix
 * whose last two dims are row- or column-major (e.g. q from a permuted
 * [B, S, NH, HD] tensor) goes to BLAS in place, others are copied once.
 *
 * Per (b, h), one single-threaded GEMM per operand inside an OpenMP loop
 * over B·NH:
 *   scores[:, :P] = scale·q·prefix_kᵀ, scores[:, P:] = scale·q·kᵀ  (one
 *   [S, L] buffer), + mask, softmax over L, dropout, then
 *   out = probs[:, :P]·prefix_v + probs[:, P:]·v. */
#ifndef PT_ATTENTION_H
#define PT_ATTENTION_H

#include <stdbool.h>
#include <stdint.h>

#include "tensor/pt_tensor.h"

typedef struct {
  double scale;
  /* Dropout on the probabilities (0: none). Element (b,h,s,j) is kept when
   * pt_dropout_keep(seed, base + flat index over [B, NH, S, L]) holds: the
   * same mask pt_raw_dropout(probs, p, seed, base) draws, so backward
   * regenerates it from (seed, base) instead of storing it. */
  double dropout_p;
  uint64_t seed, base;
} pt_attn_params;

/* The order of t's 4 dims from the largest stride to the smallest, packed
 * 2 bits per dim (outermost first), when the last dim has stride 1;
 * PT_ATTN_LAYOUT_CONTIGUOUS otherwise. q permuted from a [B, S, NH, HD]
 * tensor gives the order 0, 2, 1, 3. Results built in an input's layout
 * let the permute + reshape that follows attention (and the view + permute
 * before it, in backward) be free views instead of copies. */
#define PT_ATTN_LAYOUT_CONTIGUOUS 0xE4 /* 0, 1, 2, 3 */
int pt_attn_layout_code(const pt_tensor *t);

/* Returns out [B, NH, S, HD] (new), dense in q's layout: for q permuted
 * from [B, S, NH, HD], out is a permuted view of a contiguous
 * [B, S, NH, HD] buffer, so permuting it back is contiguous. When `probs` is not NULL it
 * receives a new contiguous [B, NH, S, L] tensor holding the softmax (before
 * dropout), which is what backward needs; with probs NULL the scores live in
 * per-thread scratch and nothing of size B·NH·S·L is allocated (inference).
 * Errors name "attention" and the shapes. */
pt_tensor *pt_raw_attention(const pt_tensor *q, const pt_tensor *k, const pt_tensor *v,
                            const pt_tensor *prefix_k, const pt_tensor *prefix_v,
                            const pt_tensor *mask, const pt_attn_params *prm, pt_tensor **probs);

/* Gradients of attention given the output gradient g [B, NH, S, HD] and the
 * forward's probs [B, NH, S, P+T]. `need` lists, in the order q, k, v,
 * prefix_k, prefix_v, which gradients to compute; grads[i] receives a new
 * tensor for each (others are left NULL), dense in the dim order layout[i]
 * (pt_attn_layout_code of that input at forward time; layout NULL: all
 * contiguous). P is the prefix length
 * (0: none). What must be passed (others may be NULL):
 *   dq: k (and prefix_k);  dk, dprefix_k: q;  dq/dk/dprefix_k: v (and
 *   prefix_v);  dv, dprefix_v: only probs.
 * Does not accumulate across calls: every grads[i] is fresh. */
pt_status pt_raw_attention_backward(const pt_tensor *g, const pt_tensor *q, const pt_tensor *k,
                                    const pt_tensor *v, const pt_tensor *prefix_k,
                                    const pt_tensor *prefix_v, const pt_tensor *probs, int64_t P,
                                    const pt_attn_params *prm, const bool need[5],
                                    const int *layout, pt_tensor *grads[5]);

#endif
