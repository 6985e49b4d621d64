/* embedding: rows of a [V, H] table at integer ids.
 *
 * Forward was out[i, :] = weight[ids[i], :], so the gradient is a zero
 * [V, H] with g[i, :] scatter-added into row ids[i] (repeated ids sum), and
 * row padding_idx left at zero as in PyTorch's padding_idx. The ids are not
 * an input of the node (they carry no gradient); the node saves them.
 * iarg[0] = padding_idx (-1: none). */
#include "autograd/autograd_internal.h"
#include "autograd/pt_autograd.h"
#include "autograd/pt_op_table.h"
#include "autograd/pt_ops.h"
#include "autograd/pt_ops_index.h"
#include "tensor/pt_gather.h"

static pt_status embedding_backward(pt_node *n, const pt_tensor *g, pt_tensor **gin) {
  gin[0] = pt_raw_embedding_backward(g, n->saved[0], n->input_shape[0][0], n->iarg[0]);
  return gin[0] ? PT_OK : pt_error_code();
}

PT_OP_DEFINE(op_embedding, "embedding", embedding_backward);

pt_tensor *pt_embedding(pt_tensor *weight, const pt_tensor *ids, int64_t padding_idx) {
  if (!weight || !ids) return NULL;
  if (weight->ndim == 2 && (padding_idx < -1 || padding_idx >= weight->shape[0])) {
    char s[96];
    pt_error(PT_ERR_ARG, "embedding: padding_idx %lld is outside [0, %lld) for weight %s",
             (long long)padding_idx, (long long)weight->shape[0],
             pt_shape_str(weight, s, sizeof s));
    return NULL;
  }
  pt_tensor *out = pt_raw_embedding(weight, ids);
  if (!out) return NULL;
  pt_status st;
  pt_node *n = pt_node_new(&op_embedding, 1, &weight, &st);
  if (n) {
    n->iarg[0] = padding_idx;
    st = pt_node_save(n, 0, ids);
  }
  return pt_node_finish(n, st, out);
}

/* ---- gradient-check case: weight [6, 4], ids [2, 5] (I64, no grad) with
 * repeated ids. Variant 0: no padding; 1: padding_idx 2, which the ids
 * contain; 2: a transposed (strided) weight view and transposed ids.
 * PyTorch's padding row gets zero gradient although the forward reads it,
 * so with padding the case multiplies the output by (ids != padding_idx):
 * then the true derivative of the padding row is zero too, and the check
 * covers both that row and the others. ---- */

static const int64_t case_ids[10] = {0, 2, 5, 2, 2, 1, 3, 0, 5, 2};

static int embedding_inputs(pt_rng *rng, int variant, pt_tensor **in) {
  in[0] = variant == 2 ? pt_case_rand_strided(rng, PT_DIMS(6, 4), true)
                       : pt_case_rand(rng, PT_DIMS(6, 4), true);
  pt_tensor *t = pt_from_buffer(PT_I64, 2, PT_SHAPE(5, 2), case_ids);
  in[1] = t && variant == 2 ? pt_raw_transpose(t, 0, 1) : (t ? pt_raw_view(t, 2, PT_SHAPE(2, 5)) : NULL);
  pt_tensor_free(t);
  return 2;
}

static pt_tensor *embedding_fn(pt_tensor *const *in, int n, void *ctx) {
  (void)n;
  if (*(const int *)ctx != 1) return pt_embedding(in[0], in[1], -1);
  pt_tensor *keep = pt_zeros(PT_F64, 3, PT_SHAPE(2, 5, 1));
  for (int64_t i = 0; keep && i < 10; i++) pt_set(keep, i, case_ids[i] == 2 ? 0.0 : 1.0);
  pt_tensor *e = keep ? pt_embedding(in[0], in[1], 2) : NULL;
  pt_tensor *out = e ? pt_mul(e, keep) : NULL;
  pt_tensor_free(e);
  pt_tensor_free(keep);
  return out;
}

const pt_op_case pt_op_cases_embedding[] = {
    {"embedding", embedding_inputs, embedding_fn, 3, 0, 0},
    {0},
};
