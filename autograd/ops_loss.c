/* cross_entropy: mean negative log-likelihood of class targets under
 * softmax(logits), with ignore_index and label smoothing, as
 * torch.nn.functional.cross_entropy(logits, targets, ignore_index=...,
 * label_smoothing=ε, reduction='mean') for logits [..., C]. The kernels and
 * the exact formula are in tensor/pt_xent.h.
 *
 * Forward was loss = Σ_kept loss_r / count, so the gradient of a kept row is
 *   dx_c = g/count · (softmax(x)_c − (1 − ε)·[c = t] − ε/C)
 * and ignored rows get zero. Targets are never differentiated. Saved: 0 the
 * logits, 1 the targets (I64, contiguous), 2 lse per row (F64);
 * iarg[0] = ignore_index, iarg[1] = count; farg[0] = ε. */
#include "autograd/autograd_internal.h"
#include "autograd/pt_autograd.h"
#include "autograd/pt_op_table.h"
#include "autograd/pt_ops.h"
#include "autograd/pt_ops_norm.h"
#include "tensor/pt_xent.h"

static pt_status ce_backward(pt_node *n, const pt_tensor *g, pt_tensor **gin) {
  double scale = pt_get(g, 0) / (double)n->iarg[1];
  gin[0] = pt_raw_cross_entropy_backward(n->saved[0], n->saved[1], n->saved[2], n->iarg[0],
                                         n->farg[0], scale);
  return gin[0] ? PT_OK : pt_error_code();
}

PT_OP_DEFINE(op_cross_entropy, "cross_entropy", ce_backward);

pt_tensor *pt_cross_entropy(pt_tensor *logits, const pt_tensor *targets, int64_t ignore_index,
                            double label_smoothing) {
  if (!logits || !targets) return NULL;
  pt_tensor *t = pt_raw_cross_entropy_targets(logits, targets, ignore_index, label_smoothing);
  if (!t) return NULL;
  pt_tensor *in[2] = {logits, (pt_tensor *)targets};
  bool record = pt_needs_node(2, in);
  pt_tensor *lse = NULL;
  int64_t count = 0;
  pt_tensor *out = pt_raw_cross_entropy(logits, t, ignore_index, label_smoothing,
                                        record ? &lse : NULL, &count);
  pt_status st = PT_OK;
  pt_node *n = out && record ? pt_node_new(&op_cross_entropy, 2, in, &st) : NULL;
  if (n) {
    n->iarg[0] = ignore_index;
    n->iarg[1] = count;
    n->farg[0] = label_smoothing;
    st = pt_node_save(n, 0, logits);
    if (st == PT_OK) st = pt_node_save(n, 1, t);
    if (st == PT_OK) st = pt_node_save(n, 2, lse);
  }
  pt_tensor_free(t);
  pt_tensor_free(lse);
  return pt_node_finish(n, st, out);
}

/* ---- gradient-check cases ----
 * 0: logits [4,5], one target ignored (-100), no smoothing;
 * 1: strided logits [2,3,4], two targets ignored, label smoothing 0.1;
 * 2: logits [6] with a 0-dim target, label smoothing 0.25, ignore_index 2
 *    (a valid class id that is not the target);
 * 3: I32 targets [3], ignore_index 0 hits one row, smoothing 0.05.
 * Targets are an I64/I32 input that does not require grad. */

static const double ce_eps[] = {0.0, 0.1, 0.25, 0.05};
static const int64_t ce_ignore[] = {-100, -100, 2, 0};

static int ce_inputs(pt_rng *rng, int variant, pt_tensor **in) {
  switch (variant) {
    case 0: {
      in[0] = pt_case_rand(rng, PT_DIMS(4, 5), true);
      int64_t t[] = {1, -100, 4, 0};
      in[1] = pt_from_buffer(PT_I64, PT_DIMS(4), t);
      break;
    }
    case 1: {
      in[0] = pt_case_rand_strided(rng, PT_DIMS(2, 3, 4), true);
      int64_t t[] = {3, -100, 0, 2, 1, -100};
      in[1] = pt_from_buffer(PT_I64, PT_DIMS(2, 3), t);
      break;
    }
    case 2: {
      in[0] = pt_case_rand(rng, PT_DIMS(6), true);
      int64_t t = 4;
      in[1] = pt_from_buffer(PT_I64, 0, NULL, &t);
      break;
    }
    default: {
      in[0] = pt_case_rand(rng, PT_DIMS(3, 4), true);
      int32_t t[] = {2, 0, 3};
      in[1] = pt_from_buffer(PT_I32, PT_DIMS(3), t);
    }
  }
  if (in[0]) /* spread the logits so the softmax is far from uniform */
    for (int64_t i = 0; i < pt_numel(in[0]); i++) pt_set(in[0], i, 2.0 * pt_get(in[0], i));
  return 2;
}

PT_CASE_FN(ce_fn, pt_cross_entropy(in[0], in[1], ce_ignore[variant], ce_eps[variant]))

const pt_op_case pt_op_cases_loss[] = {
    {"cross_entropy", ce_inputs, ce_fn, 4, 0, 0},
    {0},
};
