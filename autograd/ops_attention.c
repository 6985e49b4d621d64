/* attention: scaled dot-product attention with optional prefix keys/values
 * (the kernels are in tensor/attention.c; this file records the node).
 *
 * Forward was scores = scale·q·[prefix_k ; k]ᵀ + mask, probs = softmax,
 * D = dropout(probs), out = D·[prefix_v ; v]. So the gradients are
 *   dv = D[:, P:]ᵀ·g, dprefix_v = D[:, :P]ᵀ·g          (need only probs)
 *   dscores = scale · softmax'(dropout'(g·[prefix_v ; v]ᵀ))
 *   dq = dscores·[prefix_k ; k], dk = dscores[:, P:]ᵀ·q, dprefix_k = dscores[:, :P]ᵀ·q.
 * Saved, each only when a needed gradient reads it: saved[0] probs (the
 * softmax before dropout, [B,NH,S,P+T]), [1] q (for dk, dprefix_k), [2] k
 * and [4] prefix_k (for dq), [3] v and [5] prefix_v (for dq, dk, dprefix_k).
 * The dropout mask is not saved: iarg[1], iarg[2] keep the rng seed and the
 * first counter value, from which the kernel regenerates it. Gradients
 * are built in their inputs' memory layouts (iarg[3]: pt_attn_layout_code
 * per input, 8 bits each), so q/k/v permuted from [B, S, NH, HD] get
 * gradients whose permute back is contiguous. iarg[0] = P,
 * farg[0] = scale, farg[1] = dropout p (0 outside training). Gradients of
 * the mask are not computed. */
#include "autograd/autograd_internal.h"
#include "autograd/pt_autograd.h"
#include "autograd/pt_op_table.h"
#include "autograd/pt_ops_index.h"
#include "tensor/pt_attention.h"

static pt_attn_params params_of(const pt_node *n) {
  pt_attn_params prm = {.scale = n->farg[0],
                        .dropout_p = n->farg[1],
                        .seed = (uint64_t)n->iarg[1],
                        .base = (uint64_t)n->iarg[2]};
  return prm;
}

static pt_status attention_backward(pt_node *n, const pt_tensor *g, pt_tensor **gin) {
  pt_attn_params prm = params_of(n);
  pt_tensor *grads[5];
  int layout[5];
  for (int i = 0; i < 5; i++) layout[i] = (int)(n->iarg[3] >> (8 * i)) & 0xFF;
  /* needs_grad order = inputs order: q, k, v, prefix_k, prefix_v */
  PT_TRY(pt_raw_attention_backward(g, n->saved[1], n->saved[2], n->saved[3], n->saved[4],
                                   n->saved[5], n->saved[0], n->iarg[0], &prm, n->needs_grad,
                                   layout, grads));
  for (int i = 0; i < 5; i++) gin[i] = grads[i];
  return PT_OK;
}

PT_OP_DEFINE(op_attention, "attention", attention_backward);

pt_tensor *pt_attention(pt_tensor *q, pt_tensor *k, pt_tensor *v, pt_tensor *prefix_k,
                        pt_tensor *prefix_v, pt_tensor *mask, double scale, double dropout_p,
                        bool training, pt_rng *rng) {
  if (!q || !k || !v) return NULL;
  if (!(dropout_p >= 0.0 && dropout_p <= 1.0)) {
    pt_error(PT_ERR_ARG, "attention: dropout p must be in [0, 1], got %g", dropout_p);
    return NULL;
  }
  bool drop = training && dropout_p > 0.0;
  if (drop && !rng) {
    pt_error(PT_ERR_ARG, "attention: training with dropout p = %g needs an rng", dropout_p);
    return NULL;
  }
  pt_tensor *ins[5] = {q, k, v, prefix_k, prefix_v};
  pt_attn_params prm = {.scale = scale, .dropout_p = drop ? dropout_p : 0.0};
  if (drop && q->ndim == 4 && k->ndim == 4 && (!prefix_k || prefix_k->ndim == 4)) {
    /* one counter value per element of the [B, NH, S, P+T] probabilities */
    int64_t L = k->shape[2] + (prefix_k ? prefix_k->shape[2] : 0);
    prm.seed = rng->seed;
    prm.base = pt_rng_take(rng, (uint64_t)(q->shape[0] * q->shape[1] * q->shape[2] * L));
  }
  bool record = pt_needs_node(5, ins);
  pt_tensor *probs = NULL;
  pt_tensor *out = pt_raw_attention(q, k, v, prefix_k, prefix_v, mask, &prm, record ? &probs : NULL);
  if (!out) return NULL;
  pt_status st = PT_OK;
  pt_node *n = record ? pt_node_new(&op_attention, 5, ins, &st) : NULL;
  if (n) {
    int64_t P = prefix_k ? prefix_k->shape[2] : 0;
    bool dq = n->needs_grad[0], dk = n->needs_grad[1], dpk = n->needs_grad[3];
    bool scores = dq || dk || dpk;
    n->iarg[0] = P;
    n->iarg[1] = (int64_t)prm.seed;
    n->iarg[2] = (int64_t)prm.base;
    for (int i = 0; i < 5; i++) /* each gradient mirrors its input's layout */
      n->iarg[3] |= (int64_t)pt_attn_layout_code(ins[i]) << (8 * i);
    n->farg[0] = scale;
    n->farg[1] = prm.dropout_p;
    st = pt_node_save(n, 0, probs);
    if (st == PT_OK && (dk || dpk)) st = pt_node_save(n, 1, q);
    if (st == PT_OK && dq) st = pt_node_save(n, 2, k);
    if (st == PT_OK && scores) st = pt_node_save(n, 3, v);
    if (st == PT_OK && dq && P) st = pt_node_save(n, 4, prefix_k);
    if (st == PT_OK && scores && P) st = pt_node_save(n, 5, prefix_v);
  }
  pt_tensor_free(probs);
  return pt_node_finish(n, st, out);
}

/* ---- gradient-check cases: B 2, NH 2, S 3, T 4, P 2, HD 4, scale 1/2.
 *   0: q, k, v only; q a transposed view
 *   1: q and k permuted from [B, S, NH, HD] (row-major, ld NH·HD, read in
 *      place) and a [B, 1, 1, T] mask with -1e9 (masked keys)
 *   2: prefix keys/values and a [B, 1, S, P+T] mask with -1e9 entries
 *   3: as 2 with dropout p = 0.2 in training (fixed seed each call)
 *   4: as 2 with k and v frozen (only q and the prefix get gradients) ---- */

static pt_tensor *permuted_leaf(pt_rng *rng, int64_t b, int64_t s, int64_t nh, int64_t hd) {
  pt_tensor *base = pt_case_rand(rng, PT_DIMS(b, s, nh, hd), false);
  pt_tensor *t = base ? pt_raw_permute(base, (const int[]){0, 2, 1, 3}) : NULL;
  pt_tensor_free(base);
  if (t) pt_set_requires_grad(t, true);
  return t;
}

static pt_tensor *key_mask(int64_t S, int64_t P, int64_t T) {
  int64_t L = P + T;
  pt_tensor *m = pt_zeros(PT_F64, 4, PT_SHAPE(2, 1, S, L));
  if (!m) return NULL;
  for (int64_t b = 0; b < 2; b++)
    for (int64_t s = 0; s < S; s++) {
      pt_set(m, (b * S + s) * L + L - 1, -1e9);                  /* last key: padding */
      if (b == 1) pt_set(m, (b * S + s) * L + P + (s % T), -1e9); /* one more per row */
    }
  return m;
}

static int attention_inputs(pt_rng *rng, int variant, pt_tensor **in) {
  const int64_t B = 2, NH = 2, S = 3, T = 4, P = 2, HD = 4;
  if (variant == 0) {
    in[0] = pt_case_rand_strided(rng, PT_DIMS(B, NH, S, HD), true);
    in[1] = pt_case_rand(rng, PT_DIMS(B, NH, T, HD), true);
    in[2] = pt_case_rand(rng, PT_DIMS(B, NH, T, HD), true);
    return 3;
  }
  if (variant == 1) {
    in[0] = permuted_leaf(rng, B, S, NH, HD);
    in[1] = permuted_leaf(rng, B, T, NH, HD);
    in[2] = pt_case_rand(rng, PT_DIMS(B, NH, T, HD), true);
    pt_tensor *m = key_mask(1, 0, T);
    in[3] = m ? pt_raw_view(m, 4, PT_SHAPE(B, 1, 1, T)) : NULL;
    pt_tensor_free(m);
    return 4;
  }
  bool frozen = variant == 4;
  in[0] = pt_case_rand(rng, PT_DIMS(B, NH, S, HD), true);
  in[1] = pt_case_rand(rng, PT_DIMS(B, NH, T, HD), !frozen);
  in[2] = pt_case_rand_strided(rng, PT_DIMS(B, NH, T, HD), !frozen);
  in[3] = pt_case_rand(rng, PT_DIMS(B, NH, P, HD), true);
  in[4] = pt_case_rand(rng, PT_DIMS(B, NH, P, HD), true);
  in[5] = key_mask(S, P, T);
  return 6;
}

static pt_tensor *attention_fn(pt_tensor *const *in, int n, void *ctx) {
  int variant = *(const int *)ctx;
  pt_rng rng;
  pt_rng_init(&rng, 4321u);
  bool prefix = n == 6;
  pt_tensor *mask = n == 4 ? in[3] : n == 6 ? in[5] : NULL;
  return pt_attention(in[0], in[1], in[2], prefix ? in[3] : NULL, prefix ? in[4] : NULL, mask, 0.5,
                      variant == 3 ? 0.2 : 0.0, variant == 3, &rng);
}

const pt_op_case pt_op_cases_attention[] = {
    {"attention", attention_inputs, attention_fn, 5, 0, 0},
    {0},
};
