/* dropout: inverted dropout with a regenerated mask.
 *
 * Forward was y = x · m / (1 − p) with m[i] = keep(seed, base + i), so the
 * gradient is dx = g · m / (1 − p): the same kernel applied to g.
 *
 * The node saves the rng seed and the first counter value (two integers)
 * rather than the mask. A mask costs a tensor the size of the activation
 * (there is no 1-byte dtype; as F32 it would double dropout's activation
 * memory, and BERT runs dropout on every [B,S,H] hidden state and every
 * [B,NH,S,S] attention map), and backward would have to read it back from
 * memory; regenerating costs one 64-bit hash per element, which the
 * counter-based pt_rng makes exact and thread-count independent. */
#include "autograd/autograd_internal.h"
#include "autograd/pt_autograd.h"
#include "autograd/pt_op_table.h"
#include "autograd/pt_ops_pointwise.h"
#include "tensor/pt_dropout.h"

/* iarg[0] = seed, iarg[1] = first counter value (both as bits), farg[0] = p. */
static pt_status dropout_backward(pt_node *n, const pt_tensor *g, pt_tensor **gin) {
  gin[0] = pt_raw_dropout(g, n->farg[0], (uint64_t)n->iarg[0], (uint64_t)n->iarg[1]);
  return gin[0] ? PT_OK : pt_error_code();
}

PT_OP_DEFINE(op_dropout, "dropout", dropout_backward);

pt_tensor *pt_dropout(pt_tensor *x, double p, bool training, pt_rng *rng) {
  if (!x || pt_dropout_check(x, p) != PT_OK) return NULL;
  if (!training || p == 0.0) return pt_tensor_ref(x);
  if (!rng) {
    pt_error(PT_ERR_ARG, "dropout: training with p = %g needs an rng", p);
    return NULL;
  }
  uint64_t base = pt_rng_take(rng, (uint64_t)pt_numel(x));
  pt_tensor *y = pt_raw_dropout(x, p, rng->seed, base);
  if (!y) return NULL;
  pt_status st;
  pt_node *n = pt_node_new(&op_dropout, 1, &x, &st);
  if (n) {
    n->iarg[0] = (int64_t)rng->seed;
    n->iarg[1] = (int64_t)base;
    n->farg[0] = p;
  }
  return pt_node_finish(n, st, y);
}

/* ---- gradient-check case: p = 0.3 in training. The case function builds
 * its own rng from a fixed seed on every call, so each forward of the check
 * draws the same mask and the function is differentiable in x. Variant 0:
 * contiguous [4,5]; 1: a transposed view [3,4,5]. ---- */

static int dropout_inputs(pt_rng *rng, int variant, pt_tensor **in) {
  in[0] = variant == 0 ? pt_case_rand(rng, PT_DIMS(4, 5), true)
                       : pt_case_rand_strided(rng, PT_DIMS(3, 4, 5), true);
  return in[0] ? 1 : -1;
}

static pt_tensor *dropout_fn(pt_tensor *const *in, int n, void *ctx) {
  (void)n;
  pt_rng rng;
  pt_rng_init(&rng, 1234u + (uint64_t)*(const int *)ctx);
  return pt_dropout(in[0], 0.3, true, &rng);
}

const pt_op_case pt_op_cases_dropout[] = {
    {"dropout", dropout_inputs, dropout_fn, 2, 0, 0},
    {0},
};
