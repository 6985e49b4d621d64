/* softmax and log_softmax along any dim.
 *
 * Forward was y = softmax(x) (or log_softmax) along dim D; the Jacobian of
 * one row couples every element of the row, so the gradient needs the
 * output y and one row sum:
 *   softmax:     dx = y · (g − Σ_D g·y)
 *   log_softmax: dx = g − softmax(x) · Σ_D g,  softmax(x) = exp(y).
 * Only y is saved (iarg[0] = dim, normalized). */
#include "autograd/autograd_internal.h"
#include "autograd/pt_autograd.h"
#include "autograd/pt_op_table.h"
#include "autograd/pt_ops.h"
#include "autograd/pt_ops_norm.h"
#include "tensor/pt_softmax.h"

static pt_status softmax_bwd(pt_node *n, const pt_tensor *g, pt_tensor **gin, bool lg) {
  gin[0] = pt_raw_softmax_backward(n->saved[0], g, (int)n->iarg[0], lg);
  return gin[0] ? PT_OK : pt_error_code();
}
static pt_status softmax_backward(pt_node *n, const pt_tensor *g, pt_tensor **gin) {
  return softmax_bwd(n, g, gin, false);
}
static pt_status log_softmax_backward(pt_node *n, const pt_tensor *g, pt_tensor **gin) {
  return softmax_bwd(n, g, gin, true);
}

PT_OP_DEFINE(op_softmax, "softmax", softmax_backward);
PT_OP_DEFINE(op_log_softmax, "log_softmax", log_softmax_backward);

static pt_tensor *softmax_op(const pt_op_def *def, pt_tensor *x, int dim, bool lg) {
  if (!x) return NULL;
  pt_tensor *y = pt_raw_softmax(x, dim, lg, def->name);
  if (!y) return NULL;
  pt_status st;
  pt_node *n = pt_node_new(def, 1, &x, &st);
  if (n) {
    n->iarg[0] = dim < 0 ? dim + (x->ndim ? x->ndim : 1) : dim;
    st = pt_node_save(n, 0, y);
  }
  return pt_node_finish(n, st, y);
}

pt_tensor *pt_softmax(pt_tensor *x, int dim) { return softmax_op(&op_softmax, x, dim, false); }
pt_tensor *pt_log_softmax(pt_tensor *x, int dim) {
  return softmax_op(&op_log_softmax, x, dim, true);
}

/* ---- gradient-check cases: variant 0 last dim; 1 middle dim of a strided
 * (transposed) input; 2 first dim of a 3-D input (inner > 1, not the last
 * dim); 3 a 1-D input with dim -1 ---- */

static int softmax_inputs(pt_rng *rng, int variant, pt_tensor **in) {
  switch (variant) {
    case 0: in[0] = pt_case_rand(rng, PT_DIMS(3, 5), true); break;
    case 1: in[0] = pt_case_rand_strided(rng, PT_DIMS(2, 5, 3), true); break;
    case 2: in[0] = pt_case_rand(rng, PT_DIMS(4, 2, 3), true); break;
    default: in[0] = pt_case_rand(rng, PT_DIMS(6), true);
  }
  /* spread the logits so the rows are far from uniform */
  if (in[0])
    for (int64_t i = 0; i < pt_numel(in[0]); i++) pt_set(in[0], i, 3.0 * pt_get(in[0], i));
  return 1;
}

static const int softmax_case_dim[] = {-1, 1, 0, -1};

PT_CASE_FN(softmax_fn, pt_softmax(in[0], softmax_case_dim[variant]))
PT_CASE_FN(log_softmax_fn, pt_log_softmax(in[0], softmax_case_dim[variant]))

const pt_op_case pt_op_cases_softmax[] = {
    {"softmax", softmax_inputs, softmax_fn, 4, 0, 0},
    {"log_softmax", softmax_inputs, log_softmax_fn, 4, 0, 0},
    {0},
};
