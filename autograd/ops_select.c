/* max over one dim (values) and var over dims.
 *
 * max: forward was y = x[..., argmax, ...] along dim, so the gradient is g
 * written at the first maximal position and zero elsewhere (saved: the
 * indices, I64; iarg[0] = dim).
 *
 * var: forward was y = Σ(x − mean)² / (N − correction) over the reduced
 * dims; mean's own gradient term vanishes (Σ(x − mean) = 0), so
 * dx = g · 2(x − mean) / (N − correction), g broadcast back over the
 * reduced dims (saved: x; iarg[d] = 1 for reduced dims; farg[0] = 2/(N − c)). */
#include <math.h>

#include "autograd/autograd_internal.h"
#include "autograd/pt_autograd.h"
#include "autograd/pt_op_table.h"
#include "autograd/pt_ops.h"
#include "autograd/pt_ops_norm.h"
#include "tensor/pt_elementwise.h"
#include "tensor/pt_reduce.h"
#include "tensor/pt_stats.h"

static pt_status max_backward(pt_node *n, const pt_tensor *g, pt_tensor **gin) {
  gin[0] = pt_raw_scatter_dim(g, n->saved[0], (int)n->iarg[0], n->input_ndim[0],
                              n->input_shape[0]);
  return gin[0] ? PT_OK : pt_error_code();
}

static pt_status var_backward(pt_node *n, const pt_tensor *g, pt_tensor **gin) {
  const pt_tensor *x = n->saved[0];
  int nd = x->ndim, dims[PT_MAX_DIMS], nr = 0;
  int64_t keep[PT_MAX_DIMS], count = 1;
  for (int d = 0; d < nd; d++) {
    keep[d] = n->iarg[d] ? 1 : x->shape[d];
    if (n->iarg[d]) {
      dims[nr++] = d;
      count *= x->shape[d];
    }
  }
  /* mean over the reduced dims (keepdim), then (x − mean)·g·2/(N − c) */
  pt_tensor *s = nr ? pt_raw_sum(x, nr, dims, true) : pt_raw_contiguous(x);
  pt_tensor *mean = s ? pt_raw_affine(s, 1.0 / (double)(count ? count : 1), 0.0) : NULL;
  pt_tensor *diff = mean ? pt_raw_binary(PT_BIN_SUB, x, mean) : NULL;
  pt_tensor *gc = diff ? pt_raw_contiguous(g) : NULL;
  pt_tensor *gk = gc ? pt_raw_view(gc, nd, keep) : NULL;
  pt_tensor *prod = gk ? pt_raw_binary(PT_BIN_MUL, diff, gk) : NULL;
  gin[0] = prod ? pt_raw_affine(prod, n->farg[0], 0.0) : NULL;
  pt_tensor_free(s);
  pt_tensor_free(mean);
  pt_tensor_free(diff);
  pt_tensor_free(gc);
  pt_tensor_free(gk);
  pt_tensor_free(prod);
  return gin[0] ? PT_OK : pt_error_code();
}

PT_OP_DEFINE(op_max, "max", max_backward);
PT_OP_DEFINE(op_var, "var", var_backward);

pt_tensor *pt_max(pt_tensor *x, int dim, bool keepdim) {
  if (!x) return NULL;
  bool record = pt_needs_node(1, &x);
  pt_tensor *idx = NULL;
  pt_tensor *y = pt_raw_max_dim(x, dim, keepdim, record ? &idx : NULL, "max");
  if (!y) return NULL;
  pt_status st = PT_OK;
  pt_node *n = record ? pt_node_new(&op_max, 1, &x, &st) : NULL;
  if (n) {
    n->iarg[0] = dim < 0 ? dim + x->ndim : dim;
    st = pt_node_save(n, 0, idx);
  }
  pt_tensor_free(idx);
  return pt_node_finish(n, st, y);
}

pt_tensor *pt_var(pt_tensor *x, int ndims, const int *dims, int correction, bool keepdim) {
  if (!x) return NULL;
  bool mask[PT_MAX_DIMS];
  if (pt_reduce_dims_mask(x, ndims, dims, "var", mask) != PT_OK) return NULL;
  pt_tensor *y = pt_raw_var(x, ndims, dims, correction, keepdim);
  if (!y) return NULL;
  pt_status st;
  pt_node *n = pt_node_new(&op_var, 1, &x, &st);
  if (n) {
    int64_t count = 1;
    for (int d = 0; d < x->ndim; d++) {
      n->iarg[d] = mask[d];
      if (mask[d]) count *= x->shape[d];
    }
    n->farg[0] = count - correction > 0 ? 2.0 / (double)(count - correction) : INFINITY;
    st = pt_node_save(n, 0, x);
  }
  return pt_node_finish(n, st, y);
}

/* ---- gradient-check cases ---- */

/* max: values are a scrambled ladder 0.25 apart plus a little noise, so no
 * two elements are within the finite-difference step (no ties).
 * 0: [3,4] dim 1; 1: strided [2,5,3] dim 1 keepdim; 2: [4,3] dim 0;
 * 3: [6] dim -1 (a 0-dim result). */
static int max_inputs(pt_rng *rng, int variant, pt_tensor **in) {
  switch (variant) {
    case 0: in[0] = pt_case_rand(rng, PT_DIMS(3, 4), true); break;
    case 1: in[0] = pt_case_rand_strided(rng, PT_DIMS(2, 5, 3), true); break;
    case 2: in[0] = pt_case_rand(rng, PT_DIMS(4, 3), true); break;
    default: in[0] = pt_case_rand(rng, PT_DIMS(6), true);
  }
  if (!in[0]) return 1;
  int64_t n = pt_numel(in[0]);
  for (int64_t i = 0; i < n; i++) /* 7 is coprime with every numel above */
    pt_set(in[0], i, (double)((i * 7) % n) * 0.25 - 2.0 + 0.05 * pt_get(in[0], i));
  return 1;
}

static const int max_case_dim[] = {1, 1, 0, -1};
PT_CASE_FN(max_fn, pt_max(in[0], max_case_dim[variant], variant == 1))

/* var: 0: [3,4] dim 1, correction 1; 1: strided [2,3,4] dims {0,-1},
 * correction 0, keepdim; 2: every dim, correction 1. */
static int var_inputs(pt_rng *rng, int variant, pt_tensor **in) {
  in[0] = variant == 1 ? pt_case_rand_strided(rng, PT_DIMS(2, 3, 4), true)
                       : pt_case_rand(rng, PT_DIMS(3, 4), true);
  return 1;
}

static const struct {
  int ndims, dims[2], correction;
  bool keepdim;
} var_case[] = {{1, {1, 0}, 1, false}, {2, {0, -1}, 0, true}, {0, {0, 0}, 1, false}};
PT_CASE_FN(var_fn, pt_var(in[0], var_case[variant].ndims, var_case[variant].dims,
                          var_case[variant].correction, var_case[variant].keepdim))

const pt_op_case pt_op_cases_select[] = {
    {"max", max_inputs, max_fn, 4, 0, 0},
    {"var", var_inputs, var_fn, 3, 0, 0},
    {0},
};
