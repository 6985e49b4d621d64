/* where and masked_fill: elementwise selection under a condition.
 *
 * Forward was out = cond ? a : b over the broadcast shape, so the gradient
 * is g where cond holds for a, g where it does not for b (zeros elsewhere),
 * each summed back down to its operand's shape. masked_fill(x, mask, v) is
 * where(mask, v, x) with a constant v, so dx = mask ? 0 : g. The condition
 * gets no gradient; it is the one thing saved. */
#include <string.h>

#include "autograd/autograd_internal.h"
#include "autograd/pt_autograd.h"
#include "autograd/pt_op_table.h"
#include "autograd/pt_ops_pointwise.h"
#include "tensor/pt_reduce.h"
#include "tensor/pt_where.h"

/* where(cond, g, 0) or where(cond, 0, g), summed down to input i's shape. */
static pt_tensor *select_grad(const pt_node *n, int i, const pt_tensor *cond, const pt_tensor *g,
                              bool when_true) {
  pt_tensor *zero = pt_scalar(g->dtype, 0.0);
  if (!zero) return NULL;
  pt_tensor *full = when_true ? pt_raw_where(cond, g, zero, n->op->name)
                              : pt_raw_where(cond, zero, g, n->op->name);
  pt_tensor_free(zero);
  if (!full) return NULL;
  return pt_node_grad_to_input(n, i, full);
}

/* inputs {cond (not recorded), a, b}; saved[0] = cond. */
static pt_status where_backward(pt_node *n, const pt_tensor *g, pt_tensor **gin) {
  if (n->needs_grad[1]) gin[1] = select_grad(n, 1, n->saved[0], g, true);
  if (n->needs_grad[2]) gin[2] = select_grad(n, 2, n->saved[0], g, false);
  return (n->needs_grad[1] && !gin[1]) || (n->needs_grad[2] && !gin[2]) ? pt_error_code() : PT_OK;
}

/* inputs {x}; saved[0] = mask. */
static pt_status masked_fill_backward(pt_node *n, const pt_tensor *g, pt_tensor **gin) {
  gin[0] = select_grad(n, 0, n->saved[0], g, false);
  return gin[0] ? PT_OK : pt_error_code();
}

PT_OP_DEFINE(op_where, "where", where_backward);
PT_OP_DEFINE(op_masked_fill, "masked_fill", masked_fill_backward);

pt_tensor *pt_where(pt_tensor *cond, pt_tensor *a, pt_tensor *b) {
  if (!cond || !a || !b) return NULL;
  pt_tensor *out = pt_raw_where(cond, a, b, "where");
  if (!out) return NULL;
  pt_status st;
  /* cond is left out of the node's inputs: it never receives a gradient */
  pt_node *n = pt_node_new(&op_where, 3, (pt_tensor *[]){NULL, a, b}, &st);
  if (n) st = pt_node_save(n, 0, cond);
  return pt_node_finish(n, st, out);
}

pt_tensor *pt_masked_fill(pt_tensor *x, pt_tensor *mask, double value) {
  if (!x || !mask) return NULL;
  if (!pt_dtype_is_float(x->dtype)) {
    pt_error(PT_ERR_DTYPE, "masked_fill: needs F32 or F64, got %s", pt_dtype_name(x->dtype));
    return NULL;
  }
  int nd;
  int64_t shape[PT_MAX_DIMS];
  if (pt_broadcast_shape("masked_fill", mask->ndim, mask->shape, x->ndim, x->shape, &nd, shape) !=
      PT_OK)
    return NULL;
  if (nd != x->ndim || memcmp(shape, x->shape, sizeof(int64_t) * (size_t)nd) != 0) {
    char s1[96], s2[96];
    pt_error(PT_ERR_SHAPE, "masked_fill: mask of shape %s does not broadcast to the input's shape %s",
             pt_shape_str(mask, s1, sizeof s1), pt_shape_str(x, s2, sizeof s2));
    return NULL;
  }
  pt_tensor *v = pt_scalar(x->dtype, value);
  pt_tensor *out = v ? pt_raw_where(mask, v, x, "masked_fill") : NULL;
  pt_tensor_free(v);
  if (!out) return NULL;
  pt_status st;
  pt_node *n = pt_node_new(&op_masked_fill, 1, &x, &st);
  if (n) st = pt_node_save(n, 0, mask);
  return pt_node_finish(n, st, out);
}

/* ---- gradient-check cases ----
 * where, variant 0: cond, a, b all [3,4]; 1: cond [3,1] and b [4]
 * broadcast against a [2,3,4]; 2: a a transposed view, cond F64; 3: b
 * frozen (no gradient). masked_fill, variant 0: mask [3,4]; 1: mask [4]
 * broadcast over a transposed x [2,3,4]. Conditions are I64 0/1 unless
 * noted. */

static pt_tensor *case_cond(pt_rng *rng, pt_dtype dt, int ndim, const int64_t *shape) {
  pt_tensor *c = pt_zeros(dt, ndim, shape);
  if (c)
    for (int64_t i = 0; i < pt_numel(c); i++) pt_set(c, i, (double)pt_rng_below(rng, 2));
  return c;
}

static int where_inputs(pt_rng *rng, int variant, pt_tensor **in) {
  switch (variant) {
    case 0:
      in[0] = case_cond(rng, PT_I64, PT_DIMS(3, 4));
      in[1] = pt_case_rand(rng, PT_DIMS(3, 4), true);
      in[2] = pt_case_rand(rng, PT_DIMS(3, 4), true);
      break;
    case 1:
      in[0] = case_cond(rng, PT_I64, PT_DIMS(3, 1));
      in[1] = pt_case_rand(rng, PT_DIMS(2, 3, 4), true);
      in[2] = pt_case_rand(rng, PT_DIMS(4), true);
      break;
    case 2:
      in[0] = case_cond(rng, PT_F64, PT_DIMS(2, 5, 3));
      in[1] = pt_case_rand_strided(rng, PT_DIMS(2, 5, 3), true);
      in[2] = pt_case_rand(rng, PT_DIMS(5, 3), true);
      break;
    default:
      in[0] = case_cond(rng, PT_I64, PT_DIMS(4, 2));
      in[1] = pt_case_rand(rng, PT_DIMS(4, 2), true);
      in[2] = pt_case_rand(rng, PT_DIMS(4, 2), false);
  }
  return 3;
}

static int masked_fill_inputs(pt_rng *rng, int variant, pt_tensor **in) {
  if (variant == 0) {
    in[0] = pt_case_rand(rng, PT_DIMS(3, 4), true);
    in[1] = case_cond(rng, PT_I64, PT_DIMS(3, 4));
  } else {
    in[0] = pt_case_rand_strided(rng, PT_DIMS(2, 3, 4), true);
    in[1] = case_cond(rng, PT_I64, PT_DIMS(4));
  }
  return 2;
}

PT_CASE_FN(where_fn, pt_where(in[0], in[1], in[2]))
PT_CASE_FN(masked_fill_fn, pt_masked_fill(in[0], in[1], -0.75))

const pt_op_case pt_op_cases_where[] = {
    {"where", where_inputs, where_fn, 4, 0, 0},
    {"masked_fill", masked_fill_inputs, masked_fill_fn, 2, 0, 0},
    {0},
};
