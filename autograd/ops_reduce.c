/* sum and mean over chosen dims.
 *
 * Forward was out = Σ over the reduced dims, so every input element receives
 * the gradient of the output element it was summed into: the gradient is g
 * (with the reduced dims restored as 1) expanded back over the input shape.
 * mean divides by the number of elements reduced. */
#include "autograd/autograd_internal.h"
#include "autograd/pt_autograd.h"
#include "autograd/pt_op_table.h"
#include "autograd/pt_ops.h"
#include "tensor/pt_elementwise.h"
#include "tensor/pt_reduce.h"

/* g at the kept-dim shape (reduced dims = 1), expanded to the input shape,
 * scaled by farg[0]. iarg[0..ndim) = 1 for reduced dims. */
static pt_status reduce_backward(pt_node *n, const pt_tensor *g, pt_tensor **gin) {
  int nd = n->input_ndim[0];
  int64_t keep[PT_MAX_DIMS];
  for (int d = 0; d < nd; d++) keep[d] = n->iarg[d] ? 1 : n->input_shape[0][d];
  pt_tensor *gc = pt_raw_contiguous(g);
  pt_tensor *gk = gc ? pt_raw_view(gc, nd, keep) : NULL;
  pt_tensor *ge = gk ? pt_raw_expand(gk, nd, n->input_shape[0]) : NULL;
  pt_tensor_free(gc);
  pt_tensor_free(gk);
  if (!ge) return pt_error_code();
  if (n->farg[0] != 1.0) {
    gin[0] = pt_raw_affine(ge, n->farg[0], 0.0);
    pt_tensor_free(ge);
    return gin[0] ? PT_OK : pt_error_code();
  }
  gin[0] = ge;
  return PT_OK;
}

PT_OP_DEFINE(op_sum, "sum", reduce_backward);
PT_OP_DEFINE(op_mean, "mean", reduce_backward);

static pt_tensor *reduce(const pt_op_def *def, pt_tensor *x, int ndims, const int *dims,
                         bool keepdim, bool mean) {
  if (!x) return NULL;
  bool mask[PT_MAX_DIMS];
  if (pt_reduce_dims_mask(x, ndims, dims, def->name, mask) != PT_OK) return NULL;
  pt_tensor *out = pt_raw_sum(x, ndims, dims, keepdim);
  if (!out) return NULL;
  int64_t count = 1;
  for (int d = 0; d < x->ndim; d++)
    if (mask[d]) count *= x->shape[d];
  double scale = mean ? 1.0 / (double)(count ? count : 1) : 1.0;
  if (mean) {
    pt_tensor *m = pt_raw_affine(out, scale, 0.0);
    pt_tensor_free(out);
    if (!m) return NULL;
    out = m;
  }
  pt_status st;
  pt_node *n = pt_node_new(def, 1, &x, &st);
  if (n) {
    for (int d = 0; d < x->ndim; d++) n->iarg[d] = mask[d];
    n->farg[0] = scale;
  }
  return pt_node_finish(n, st, out);
}

pt_tensor *pt_sum(pt_tensor *x, int ndims, const int *dims, bool keepdim) {
  return reduce(&op_sum, x, ndims, dims, keepdim, false);
}

pt_tensor *pt_mean(pt_tensor *x, int ndims, const int *dims, bool keepdim) {
  return reduce(&op_mean, x, ndims, dims, keepdim, true);
}

/* ---- gradient-check cases: variant 0 all dims, 1 one dim keepdim,
 * 2 two dims of a strided view ---- */

static int reduce_inputs(pt_rng *rng, int variant, pt_tensor **in) {
  in[0] = variant == 2 ? pt_case_rand_strided(rng, PT_DIMS(2, 3, 4), true)
                       : pt_case_rand(rng, PT_DIMS(2, 3, 4), true);
  return 1;
}

/* ctx points at the variant number (pt_op_case_run passes it). */
static pt_tensor *reduce_case(pt_tensor *x, int variant, bool mean) {
  if (variant == 0) return mean ? pt_mean(x, 0, NULL, false) : pt_sum(x, 0, NULL, false);
  if (variant == 1) return mean ? pt_mean(x, 1, (const int[]){1}, true) : pt_sum(x, 1, (const int[]){1}, true);
  return mean ? pt_mean(x, 2, (const int[]){0, -1}, false) : pt_sum(x, 2, (const int[]){0, -1}, false);
}

PT_CASE_FN(sum_fn, reduce_case(in[0], variant, false))
PT_CASE_FN(mean_fn, reduce_case(in[0], variant, true))

const pt_op_case pt_op_cases_reduce[] = {
    {"sum", reduce_inputs, sum_fn, 3, 0, 0},
    {"mean", reduce_inputs, mean_fn, 3, 0, 0},
    {0},
};
