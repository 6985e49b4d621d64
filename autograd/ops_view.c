/* Views and layout changes. Forward shares storage where it can; backward
 * maps the gradient back through the inverse layout change:
 * view/squeeze/unsqueeze -> reshape back, permute -> inverse permutation,
 * narrow -> zeros with g written into the slice, expand -> sum over the
 * broadcast dims, contiguous -> identity. */
#include <string.h>

#include "autograd/autograd_internal.h"
#include "autograd/pt_autograd.h"
#include "autograd/pt_op_table.h"
#include "autograd/pt_ops.h"
#include "tensor/pt_reduce.h"

/* g reshaped to input 0's shape (copying only if g's strides require it). */
static pt_status reshape_back(pt_node *n, const pt_tensor *g, pt_tensor **gin) {
  gin[0] = pt_raw_reshape(g, n->input_ndim[0], n->input_shape[0]);
  return gin[0] ? PT_OK : pt_error_code();
}

static pt_status permute_backward(pt_node *n, const pt_tensor *g, pt_tensor **gin) {
  int inv[PT_MAX_DIMS];
  for (int d = 0; d < n->input_ndim[0]; d++) inv[n->iarg[d]] = d;
  gin[0] = pt_raw_permute(g, inv);
  return gin[0] ? PT_OK : pt_error_code();
}

static pt_status narrow_backward(pt_node *n, const pt_tensor *g, pt_tensor **gin) {
  pt_tensor *z = pt_zeros(g->dtype, n->input_ndim[0], n->input_shape[0]);
  pt_tensor *slice = z ? pt_raw_narrow(z, (int)n->iarg[0], n->iarg[1], n->iarg[2]) : NULL;
  pt_status st = slice ? pt_copy_into(slice, g) : pt_error_code();
  pt_tensor_free(slice);
  if (st != PT_OK) {
    pt_tensor_free(z);
    return st;
  }
  gin[0] = z;
  return PT_OK;
}

static pt_status expand_backward(pt_node *n, const pt_tensor *g, pt_tensor **gin) {
  gin[0] = pt_raw_sum_to_shape(g, n->input_ndim[0], n->input_shape[0]);
  return gin[0] ? PT_OK : pt_error_code();
}

static pt_status identity_backward(pt_node *n, const pt_tensor *g, pt_tensor **gin) {
  (void)n;
  gin[0] = pt_tensor_ref((pt_tensor *)g);
  return PT_OK;
}

PT_OP_DEFINE(op_view, "view", reshape_back);
PT_OP_DEFINE(op_reshape, "reshape", reshape_back);
PT_OP_DEFINE(op_squeeze, "squeeze", reshape_back);
PT_OP_DEFINE(op_unsqueeze, "unsqueeze", reshape_back);
PT_OP_DEFINE(op_permute, "permute", permute_backward);
PT_OP_DEFINE(op_narrow, "narrow", narrow_backward);
PT_OP_DEFINE(op_expand, "expand", expand_backward);
PT_OP_DEFINE(op_contiguous, "contiguous", identity_backward);

/* Records a one-input node for a layout op whose output is `out`. */
static pt_tensor *record(const pt_op_def *def, pt_tensor *x, pt_tensor *out, const int64_t *iargs,
                         int niargs) {
  if (!out) return NULL;
  pt_status st;
  pt_node *n = pt_node_new(def, 1, &x, &st);
  if (n && niargs) memcpy(n->iarg, iargs, sizeof(int64_t) * (size_t)niargs);
  return pt_node_finish(n, st, out);
}

pt_tensor *pt_view(pt_tensor *x, int ndim, const int64_t *shape) {
  if (!x) return NULL;
  return record(&op_view, x, pt_raw_view(x, ndim, shape), NULL, 0);
}

pt_tensor *pt_reshape(pt_tensor *x, int ndim, const int64_t *shape) {
  if (!x) return NULL;
  return record(&op_reshape, x, pt_raw_reshape(x, ndim, shape), NULL, 0);
}

pt_tensor *pt_permute(pt_tensor *x, const int *perm) {
  if (!x) return NULL;
  int64_t args[PT_MAX_DIMS];
  for (int d = 0; d < x->ndim; d++) args[d] = perm[d] < 0 ? perm[d] + x->ndim : perm[d];
  return record(&op_permute, x, pt_raw_permute(x, perm), args, x->ndim);
}

pt_tensor *pt_transpose(pt_tensor *x, int d0, int d1) {
  if (!x) return NULL;
  int a = pt_dim_index(x, d0, "transpose"), b = pt_dim_index(x, d1, "transpose");
  if (a < 0 || b < 0) return NULL;
  int perm[PT_MAX_DIMS];
  for (int d = 0; d < x->ndim; d++) perm[d] = d;
  perm[a] = b;
  perm[b] = a;
  return pt_permute(x, perm);
}

pt_tensor *pt_narrow(pt_tensor *x, int dim, int64_t start, int64_t len) {
  if (!x) return NULL;
  int d = pt_dim_index(x, dim, "narrow");
  if (d < 0) return NULL;
  int64_t args[3] = {d, start, len};
  return record(&op_narrow, x, pt_raw_narrow(x, d, start, len), args, 3);
}

pt_tensor *pt_expand(pt_tensor *x, int ndim, const int64_t *shape) {
  if (!x) return NULL;
  return record(&op_expand, x, pt_raw_expand(x, ndim, shape), NULL, 0);
}

pt_tensor *pt_unsqueeze(pt_tensor *x, int dim) {
  if (!x) return NULL;
  return record(&op_unsqueeze, x, pt_raw_unsqueeze(x, dim), NULL, 0);
}

pt_tensor *pt_squeeze(pt_tensor *x, int dim) {
  if (!x) return NULL;
  return record(&op_squeeze, x, pt_raw_squeeze(x, dim), NULL, 0);
}

pt_tensor *pt_contiguous(pt_tensor *x) {
  if (!x) return NULL;
  if (pt_is_contiguous(x)) return pt_tensor_ref(x);
  return record(&op_contiguous, x, pt_raw_clone(x), NULL, 0);
}

/* ---- gradient-check cases (variant 1 uses a strided input) ---- */

static int view_inputs(pt_rng *rng, int variant, pt_tensor **in) {
  in[0] = variant == 1 ? pt_case_rand_strided(rng, PT_DIMS(2, 3, 4), true)
                       : pt_case_rand(rng, PT_DIMS(2, 3, 4), true);
  return 1;
}

/* Each fn follows the layout op with a pointwise product by a fixed ramp so
 * that a wrong element order in backward changes the checked gradient. */
static pt_tensor *weighted(pt_tensor *y) {
  if (!y) return NULL;
  int64_t n = pt_numel(y);
  pt_tensor *w = pt_arange(y->dtype, 1, (double)n + 1, 1);
  pt_tensor *wv = w ? pt_raw_view(w, y->ndim, y->shape) : NULL;
  pt_tensor *out = wv ? pt_mul(y, wv) : NULL;
  pt_tensor_free(w);
  pt_tensor_free(wv);
  pt_tensor_free(y);
  return out;
}

PT_CASE_FN(view_fn, weighted(pt_is_contiguous(in[0]) ? pt_view(in[0], 2, PT_SHAPE(6, -1))
                                                   : pt_reshape(in[0], 2, PT_SHAPE(6, -1))))
PT_CASE_FN(reshape_fn, weighted(pt_reshape(in[0], 3, PT_SHAPE(4, 3, 2))))
PT_CASE_FN(permute_fn, weighted(pt_permute(in[0], (const int[]){2, 0, 1})))
PT_CASE_FN(narrow_fn, weighted(pt_narrow(in[0], 2, 1, 2)))

/* Cases whose op runs on an intermediate view of the input (dropped after). */
static pt_tensor *expanded(pt_tensor *x) {
  pt_tensor *s = pt_narrow(x, 1, 0, 1);
  pt_tensor *e = pt_expand(s, 4, PT_SHAPE(3, 2, 5, 4));
  pt_tensor_free(s);
  return e;
}
static pt_tensor *squeezed(pt_tensor *x) {
  pt_tensor *s = pt_narrow(x, 1, 1, 1);
  pt_tensor *q = pt_squeeze(s, 1);
  pt_tensor_free(s);
  return q;
}
static pt_tensor *contiguous_of_transpose(pt_tensor *x) {
  pt_tensor *t = pt_transpose(x, 0, 2);
  pt_tensor *k = pt_contiguous(t);
  pt_tensor_free(t);
  return k;
}

PT_CASE_FN(expand_fn, weighted(expanded(in[0])))
PT_CASE_FN(unsqueeze_fn, weighted(pt_unsqueeze(in[0], 1)))
PT_CASE_FN(squeeze_fn, weighted(squeezed(in[0])))
PT_CASE_FN(contiguous_fn, weighted(contiguous_of_transpose(in[0])))

const pt_op_case pt_op_cases_view[] = {
    {"view", view_inputs, view_fn, 2, 0, 0},
    {"reshape", view_inputs, reshape_fn, 2, 0, 0},
    {"permute", view_inputs, permute_fn, 2, 0, 0},
    {"narrow", view_inputs, narrow_fn, 2, 0, 0},
    {"expand", view_inputs, expand_fn, 2, 0, 0},
    {"unsqueeze", view_inputs, unsqueeze_fn, 2, 0, 0},
    {"squeeze", view_inputs, squeeze_fn, 2, 0, 0},
    {"contiguous", view_inputs, contiguous_fn, 2, 0, 0},
    {0},
};
