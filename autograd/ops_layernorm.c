/* layer_norm over the last dim (torch.nn.LayerNorm semantics).
 *
 * Forward was y = xhat·weight + bias with xhat = (x − mean)·rstd and
 * rstd = 1/sqrt(var + eps) per row (biased variance). The gradient is
 *   dx      = rstd · (gw − mean(gw) − xhat · mean(gw·xhat)),  gw = g·weight
 *   dweight = Σ_rows g·xhat,   dbias = Σ_rows g
 * computed by the fused kernel in tensor/layernorm.c. Per-operand
 * skipping: x, mean and rstd are saved only when dx or dweight is needed,
 * weight only when dx is; with only the bias trainable nothing is saved.
 * saved: 0 x, 1 mean, 2 rstd, 3 weight. */
#include "autograd/autograd_internal.h"
#include "autograd/pt_autograd.h"
#include "autograd/pt_op_table.h"
#include "autograd/pt_ops.h"
#include "autograd/pt_ops_norm.h"
#include "tensor/pt_layernorm.h"
#include "tensor/pt_reduce.h"

static pt_status layer_norm_backward(pt_node *n, const pt_tensor *g, pt_tensor **gin) {
  bool need_res = n->n_inputs > 3 && n->needs_grad[3];
  bool need_x = n->needs_grad[0] || need_res, need_w = n->needs_grad[1], need_b = n->needs_grad[2];
  if (!need_x && !need_w) {
    /* only dbias = Σ_rows g: no statistics needed */
    int dims[PT_MAX_DIMS], nd = 0;
    for (int d = 0; d < n->input_ndim[0] - 1; d++) dims[nd++] = d;
    gin[2] = nd ? pt_raw_sum(g, nd, dims, false) : pt_raw_contiguous(g);
    return gin[2] ? PT_OK : pt_error_code();
  }
  pt_tensor *dx = NULL;
  PT_TRY(pt_raw_layer_norm_backward(g, n->saved[0], n->saved[1], n->saved[2], n->saved[3],
                                    need_x ? &dx : NULL, need_w ? &gin[1] : NULL,
                                    need_b ? &gin[2] : NULL));
  /* x and the residual enter as a plain sum: both get d(sum) */
  if (need_res) gin[3] = pt_tensor_ref(dx);
  if (n->needs_grad[0]) gin[0] = pt_tensor_ref(dx);
  pt_tensor_free(dx);
  return PT_OK;
}

PT_OP_DEFINE(op_layer_norm, "layer_norm", layer_norm_backward);
PT_OP_DEFINE(op_add_layer_norm, "add_layer_norm", layer_norm_backward);

/* Node inputs {x, weight, bias[, residual]}: the residual goes last so the
 * plain op's indices stay those of its arguments. saved[0] is what was
 * normalized: x, or the sum x + residual. */
static pt_tensor *layer_norm_node(pt_tensor *x, pt_tensor *residual, pt_tensor *weight,
                                  pt_tensor *bias, double eps) {
  if (!x) return NULL;
  pt_tensor *in[4] = {x, weight, bias, residual};
  int nin = residual ? 4 : 3;
  bool record = pt_needs_node(nin, in);
  bool need_stats = record && (pt_requires_grad(x) || pt_requires_grad(weight) ||
                               (residual && pt_requires_grad(residual)));
  pt_tensor *sum = NULL, *mean = NULL, *rstd = NULL;
  pt_tensor *y = pt_raw_add_layer_norm(x, residual, weight, bias, eps,
                                       need_stats && residual ? &sum : NULL,
                                       need_stats ? &mean : NULL, need_stats ? &rstd : NULL);
  if (!y) return NULL;
  pt_status st = PT_OK;
  pt_node *n = record ? pt_node_new(residual ? &op_add_layer_norm : &op_layer_norm, nin, in, &st)
                      : NULL;
  if (n) {
    n->farg[0] = eps;
    if (need_stats) {
      st = pt_node_save(n, 0, residual ? sum : x);
      if (st == PT_OK) st = pt_node_save(n, 1, mean);
      if (st == PT_OK) st = pt_node_save(n, 2, rstd);
    }
    bool need_dx = n->needs_grad[0] || (residual && n->needs_grad[3]);
    if (st == PT_OK && weight && need_dx) st = pt_node_save(n, 3, weight);
  }
  pt_tensor_free(sum);
  pt_tensor_free(mean);
  pt_tensor_free(rstd);
  return pt_node_finish(n, st, y);
}

pt_tensor *pt_layer_norm(pt_tensor *x, pt_tensor *weight, pt_tensor *bias, double eps) {
  return layer_norm_node(x, NULL, weight, bias, eps);
}

pt_tensor *pt_add_layer_norm(pt_tensor *x, pt_tensor *residual, pt_tensor *weight,
                             pt_tensor *bias, double eps) {
  if (!residual) return NULL;
  return layer_norm_node(x, residual, weight, bias, eps);
}

/* ---- gradient-check cases ----
 * 0: x, weight, bias all trainable; 1: strided x, no weight or bias;
 * 2: weight frozen (no dweight), bias trainable; 3: x frozen, only
 * weight/bias trainable; 4: only bias trainable (weight frozen, x frozen). */

static int layer_norm_inputs(pt_rng *rng, int variant, pt_tensor **in) {
  switch (variant) {
    case 0:
      in[0] = pt_case_rand(rng, PT_DIMS(3, 5), true);
      in[1] = pt_case_rand(rng, PT_DIMS(5), true);
      in[2] = pt_case_rand(rng, PT_DIMS(5), true);
      return 3;
    case 1:
      in[0] = pt_case_rand_strided(rng, PT_DIMS(2, 4, 3), true);
      return 1;
    case 2:
      in[0] = pt_case_rand(rng, PT_DIMS(2, 2, 6), true);
      in[1] = pt_case_rand(rng, PT_DIMS(6), false);
      in[2] = pt_case_rand(rng, PT_DIMS(6), true);
      return 3;
    case 3:
      in[0] = pt_case_rand_strided(rng, PT_DIMS(4, 5), false);
      in[1] = pt_case_rand(rng, PT_DIMS(5), true);
      in[2] = pt_case_rand(rng, PT_DIMS(5), true);
      return 3;
    default:
      in[0] = pt_case_rand(rng, PT_DIMS(3, 4), false);
      in[1] = pt_case_rand(rng, PT_DIMS(4), false);
      in[2] = pt_case_rand(rng, PT_DIMS(4), true);
      return 3;
  }
}

PT_CASE_FN(layer_norm_fn, pt_layer_norm(in[0], n > 1 ? in[1] : NULL, n > 2 ? in[2] : NULL, 1e-5))

/* add_layer_norm: 0 all trainable; 1 strided x, residual frozen, no
 * weight/bias; 2 only the residual and bias trainable; 3 x and residual
 * frozen (only weight/bias). */
static int add_layer_norm_inputs(pt_rng *rng, int variant, pt_tensor **in) {
  switch (variant) {
    case 0:
      in[0] = pt_case_rand(rng, PT_DIMS(2, 3, 5), true);
      in[1] = pt_case_rand(rng, PT_DIMS(2, 3, 5), true);
      in[2] = pt_case_rand(rng, PT_DIMS(5), true);
      in[3] = pt_case_rand(rng, PT_DIMS(5), true);
      return 4;
    case 1:
      in[0] = pt_case_rand_strided(rng, PT_DIMS(2, 4, 3), true);
      in[1] = pt_case_rand(rng, PT_DIMS(2, 4, 3), false);
      return 2;
    case 2:
      in[0] = pt_case_rand(rng, PT_DIMS(4, 6), false);
      in[1] = pt_case_rand_strided(rng, PT_DIMS(4, 6), true);
      in[2] = pt_case_rand(rng, PT_DIMS(6), false);
      in[3] = pt_case_rand(rng, PT_DIMS(6), true);
      return 4;
    default:
      in[0] = pt_case_rand(rng, PT_DIMS(3, 4), false);
      in[1] = pt_case_rand(rng, PT_DIMS(3, 4), false);
      in[2] = pt_case_rand(rng, PT_DIMS(4), true);
      in[3] = pt_case_rand(rng, PT_DIMS(4), true);
      return 4;
  }
}

PT_CASE_FN(add_layer_norm_fn,
           pt_add_layer_norm(in[0], in[1], n > 2 ? in[2] : NULL, n > 3 ? in[3] : NULL, 1e-5))

const pt_op_case pt_op_cases_layernorm[] = {
    {"layer_norm", layer_norm_inputs, layer_norm_fn, 5, 0, 0},
    {"add_layer_norm", add_layer_norm_inputs, add_layer_norm_fn, 4, 0, 0},
    {0},
};
