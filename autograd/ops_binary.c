/* add, sub, mul, div with broadcasting.
 *
 * Forward was out = a ∘ b over the broadcast shape, so the gradient for each
 * operand is computed at the broadcast shape and then summed back down to
 * the operand's own shape (pt_raw_sum_to_shape). */
#include "autograd/autograd_internal.h"
#include "autograd/pt_autograd.h"
#include "autograd/pt_op_table.h"
#include "autograd/pt_ops.h"
#include "tensor/pt_elementwise.h"
#include "tensor/pt_reduce.h"

static pt_status add_sub_backward(pt_node *n, const pt_tensor *g, pt_tensor **gin) {
  double sign_b = n->iarg[0] == PT_BIN_SUB ? -1.0 : 1.0;
  if (n->needs_grad[0]) gin[0] = pt_node_grad_to_input(n, 0, pt_tensor_ref((pt_tensor *)g));
  if (n->needs_grad[1])
    gin[1] = pt_node_grad_to_input(n, 1, sign_b > 0 ? pt_tensor_ref((pt_tensor *)g) : pt_raw_affine(g, -1.0, 0.0));
  return (n->needs_grad[0] && !gin[0]) || (n->needs_grad[1] && !gin[1]) ? pt_error_code() : PT_OK;
}

/* mul: d a = g·b, d b = g·a. saved[0] = a (for d b), saved[1] = b (for d a). */
static pt_status mul_backward(pt_node *n, const pt_tensor *g, pt_tensor **gin) {
  if (n->needs_grad[0]) gin[0] = pt_node_grad_to_input(n, 0, pt_raw_binary(PT_BIN_MUL, g, n->saved[1]));
  if (n->needs_grad[1]) gin[1] = pt_node_grad_to_input(n, 1, pt_raw_binary(PT_BIN_MUL, g, n->saved[0]));
  return (n->needs_grad[0] && !gin[0]) || (n->needs_grad[1] && !gin[1]) ? pt_error_code() : PT_OK;
}

/* div: out = a / b; d a = g / b, d b = −g·out / b. saved[1] = b, saved[2] = out. */
static pt_status div_backward(pt_node *n, const pt_tensor *g, pt_tensor **gin) {
  pt_tensor *g_over_b = pt_raw_binary(PT_BIN_DIV, g, n->saved[1]);
  if (!g_over_b) return pt_error_code();
  if (n->needs_grad[1]) {
    pt_tensor *t = pt_raw_binary(PT_BIN_MUL, g_over_b, n->saved[2]);
    pt_tensor *neg = t ? pt_raw_affine(t, -1.0, 0.0) : NULL;
    pt_tensor_free(t);
    gin[1] = pt_node_grad_to_input(n, 1, neg);
  }
  if (n->needs_grad[0])
    gin[0] = pt_node_grad_to_input(n, 0, pt_tensor_ref(g_over_b));
  pt_tensor_free(g_over_b);
  return (n->needs_grad[0] && !gin[0]) || (n->needs_grad[1] && !gin[1]) ? pt_error_code() : PT_OK;
}

PT_OP_DEFINE(op_add, "add", add_sub_backward);
PT_OP_DEFINE(op_sub, "sub", add_sub_backward);
PT_OP_DEFINE(op_mul, "mul", mul_backward);
PT_OP_DEFINE(op_div, "div", div_backward);

static pt_tensor *binary(const pt_op_def *def, pt_binary_kind kind, pt_tensor *a, pt_tensor *b) {
  if (!a || !b) return NULL;
  pt_tensor *out = pt_raw_binary(kind, a, b);
  if (!out) return NULL;
  pt_status st;
  pt_node *n = pt_node_new(def, 2, (pt_tensor *[]){a, b}, &st);
  if (n) {
    n->iarg[0] = kind;
    if (kind == PT_BIN_MUL) {
      if (n->needs_grad[1]) st = pt_node_save(n, 0, a);
      if (st == PT_OK && n->needs_grad[0]) st = pt_node_save(n, 1, b);
    } else if (kind == PT_BIN_DIV) {
      st = pt_node_save(n, 1, b);
      if (st == PT_OK && n->needs_grad[1]) st = pt_node_save(n, 2, out);
    }
  }
  return pt_node_finish(n, st, out);
}

pt_tensor *pt_add(pt_tensor *a, pt_tensor *b) { return binary(&op_add, PT_BIN_ADD, a, b); }
pt_tensor *pt_sub(pt_tensor *a, pt_tensor *b) { return binary(&op_sub, PT_BIN_SUB, a, b); }
pt_tensor *pt_mul(pt_tensor *a, pt_tensor *b) { return binary(&op_mul, PT_BIN_MUL, a, b); }
pt_tensor *pt_div(pt_tensor *a, pt_tensor *b) { return binary(&op_div, PT_BIN_DIV, a, b); }

/* ---- gradient-check cases ---- */

/* Variant 0: same shapes; 1: b broadcasts over a's leading dim and a middle
 * 1; 2: a is a strided view; 3: b frozen (must receive no gradient). */
static int binary_inputs(pt_rng *rng, int variant, pt_tensor **in) {
  switch (variant) {
    case 0:
      in[0] = pt_case_rand(rng, PT_DIMS(3, 4), true);
      in[1] = pt_case_rand(rng, PT_DIMS(3, 4), true);
      break;
    case 1:
      in[0] = pt_case_rand(rng, PT_DIMS(2, 3, 4), true);
      in[1] = pt_case_rand(rng, PT_DIMS(3, 1), true);
      break;
    case 2:
      in[0] = pt_case_rand_strided(rng, PT_DIMS(2, 5, 3), true);
      in[1] = pt_case_rand(rng, PT_DIMS(5, 3), true);
      break;
    default:
      in[0] = pt_case_rand(rng, PT_DIMS(4, 2), true);
      in[1] = pt_case_rand(rng, PT_DIMS(4, 2), false);
  }
  return 2;
}

/* Keeps divisors away from zero so central differences stay accurate. */
static int div_inputs(pt_rng *rng, int variant, pt_tensor **in) {
  binary_inputs(rng, variant, in);
  int64_t nb = pt_numel(in[1]);
  for (int64_t i = 0; i < nb; i++) {
    double v = pt_get(in[1], i);
    pt_set(in[1], i, v < 0 ? v - 0.5 : v + 0.5);
  }
  return 2;
}

PT_CASE_FN(add_fn, pt_add(in[0], in[1]))
PT_CASE_FN(sub_fn, pt_sub(in[0], in[1]))
PT_CASE_FN(mul_fn, pt_mul(in[0], in[1]))
PT_CASE_FN(div_fn, pt_div(in[0], in[1]))

const pt_op_case pt_op_cases_binary[] = {
    {"add", binary_inputs, add_fn, 4, 0, 0},
    {"sub", binary_inputs, sub_fn, 4, 0, 0},
    {"mul", binary_inputs, mul_fn, 4, 0, 0},
    {"div", div_inputs, div_fn, 4, 0, 0},
    {0},
};
