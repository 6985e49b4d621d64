/* concat, split, chunk and index_select.
 *
 * concat: forward was out = [x0 ; x1 ; ...] along dim, so the gradient of
 * xi is the slice of g at its offset: a view, nothing copied, nothing saved
 * (iarg[0] = dim, iarg[1 + i] = size of xi along dim). More inputs than a
 * node holds are joined a node's worth at a time.
 *
 * split / chunk: narrow views of x (each a differentiable narrow), so they
 * cost no copy and need no op of their own.
 *
 * index_select: forward was out[.., i, ..] = x[.., index[i], ..], so the
 * gradient is zeros with g's slice i added into slice index[i] (repeats
 * sum). Saved: the index; iarg[0] = dim. */
#include <string.h>

#include "autograd/autograd_internal.h"
#include "autograd/pt_autograd.h"
#include "autograd/pt_op_table.h"
#include "autograd/pt_ops.h"
#include "autograd/pt_ops_index.h"
#include "tensor/pt_gather.h"

static pt_status concat_backward(pt_node *n, const pt_tensor *g, pt_tensor **gin) {
  int dim = (int)n->iarg[0];
  int64_t off = 0;
  for (int i = 0; i < n->n_inputs; i++) {
    int64_t len = n->iarg[1 + i];
    if (n->needs_grad[i] && !(gin[i] = pt_raw_narrow(g, dim, off, len))) return pt_error_code();
    off += len;
  }
  return PT_OK;
}

PT_OP_DEFINE(op_concat, "concat", concat_backward);

static pt_tensor *concat_group(int n, pt_tensor *const *xs, int dim) {
  int64_t shape[PT_MAX_DIMS];
  memcpy(shape, xs[0]->shape, sizeof shape);
  shape[dim] = 0;
  for (int i = 0; i < n; i++) shape[dim] += xs[i]->shape[dim];
  pt_tensor *out = pt_empty(xs[0]->dtype, xs[0]->ndim, shape);
  pt_status st = out ? PT_OK : pt_error_code();
  int64_t off = 0;
  for (int i = 0; i < n && st == PT_OK; i++) {
    pt_tensor *slice = pt_raw_narrow(out, dim, off, xs[i]->shape[dim]);
    st = slice ? pt_copy_into(slice, xs[i]) : pt_error_code();
    pt_tensor_free(slice);
    off += xs[i]->shape[dim];
  }
  if (st != PT_OK) {
    pt_tensor_free(out);
    return NULL;
  }
  pt_node *node = pt_node_new(&op_concat, n, xs, &st);
  if (node) {
    node->iarg[0] = dim;
    for (int i = 0; i < n; i++) node->iarg[1 + i] = xs[i]->shape[dim];
  }
  return pt_node_finish(node, st, out);
}

pt_tensor *pt_concat(int n, pt_tensor *const *xs, int dim) {
  char s1[96], s2[96];
  if (n < 1 || !xs) {
    pt_error(PT_ERR_ARG, "concat: needs at least one tensor, got %d", n);
    return NULL;
  }
  for (int i = 0; i < n; i++)
    if (!xs[i]) return NULL;
  int d = pt_dim_index(xs[0], dim, "concat");
  if (d < 0) return NULL;
  for (int i = 1; i < n; i++) {
    bool ok = xs[i]->ndim == xs[0]->ndim && xs[i]->dtype == xs[0]->dtype;
    for (int k = 0; ok && k < xs[0]->ndim; k++)
      if (k != d && xs[i]->shape[k] != xs[0]->shape[k]) ok = false;
    if (!ok) {
      pt_error(PT_ERR_SHAPE, "concat: tensor %d %s %s does not fit tensor 0 %s %s along dim %d", i,
               pt_shape_str(xs[i], s1, sizeof s1), pt_dtype_name(xs[i]->dtype),
               pt_shape_str(xs[0], s2, sizeof s2), pt_dtype_name(xs[0]->dtype), d);
      return NULL;
    }
  }
  if (n <= PT_NODE_MAX_INPUTS) return concat_group(n, xs, d);
  /* More inputs than a node holds: join the first PT_NODE_MAX_INPUTS, then
   * fold the rest in PT_NODE_MAX_INPUTS - 1 at a time. */
  pt_tensor *acc = concat_group(PT_NODE_MAX_INPUTS, xs, d);
  for (int i = PT_NODE_MAX_INPUTS; i < n && acc; i += PT_NODE_MAX_INPUTS - 1) {
    int m = n - i < PT_NODE_MAX_INPUTS - 1 ? n - i : PT_NODE_MAX_INPUTS - 1;
    pt_tensor *tmp[PT_NODE_MAX_INPUTS] = {acc};
    memcpy(tmp + 1, xs + i, sizeof(pt_tensor *) * (size_t)m);
    acc = concat_group(m + 1, tmp, d);
    pt_tensor_free(tmp[0]);
  }
  return acc;
}

pt_status pt_split(pt_tensor *x, int dim, int n, const int64_t *sizes, pt_tensor **out) {
  char s[96];
  if (!x) return pt_error_upstream("split");
  int d = pt_dim_index(x, dim, "split");
  if (d < 0) return pt_error_code();
  int64_t total = 0;
  for (int i = 0; i < n; i++) {
    if (sizes[i] < 0)
      return pt_error(PT_ERR_ARG, "split: size %lld of piece %d is negative", (long long)sizes[i], i);
    total += sizes[i];
  }
  if (n < 1 || total != x->shape[d])
    return pt_error(PT_ERR_SHAPE, "split: %d sizes summing to %lld do not cover dim %d of %s", n,
                    (long long)total, d, pt_shape_str(x, s, sizeof s));
  int64_t off = 0;
  for (int i = 0; i < n; i++) {
    out[i] = pt_narrow(x, d, off, sizes[i]);
    if (!out[i]) {
      for (int j = 0; j < i; j++) {
        pt_tensor_free(out[j]);
        out[j] = NULL;
      }
      return pt_error_code();
    }
    off += sizes[i];
  }
  return PT_OK;
}

pt_status pt_chunk(pt_tensor *x, int n, int dim, pt_tensor **out) {
  if (!x) return pt_error_upstream("chunk");
  if (n < 1) return pt_error(PT_ERR_ARG, "chunk: number of chunks must be at least 1, got %d", n);
  int d = pt_dim_index(x, dim, "chunk");
  if (d < 0) return pt_error_code();
  int64_t len = x->shape[d], cs = (len + n - 1) / n;
  int64_t sizes[n > 0 ? n : 1];
  int pieces = n;
  if (len == 0) {
    for (int i = 0; i < n; i++) sizes[i] = 0;
  } else {
    pieces = (int)((len + cs - 1) / cs);
    for (int i = 0; i < pieces; i++) sizes[i] = i < pieces - 1 ? cs : len - cs * (pieces - 1);
  }
  for (int i = pieces; i < n; i++) out[i] = NULL;
  return pt_split(x, d, pieces, sizes, out);
}

static pt_status index_select_backward(pt_node *n, const pt_tensor *g, pt_tensor **gin) {
  gin[0] = pt_raw_index_add(g, (int)n->iarg[0], n->saved[0], n->input_ndim[0], n->input_shape[0]);
  return gin[0] ? PT_OK : pt_error_code();
}

PT_OP_DEFINE(op_index_select, "index_select", index_select_backward);

pt_tensor *pt_index_select(pt_tensor *x, int dim, const pt_tensor *index) {
  if (!x || !index) return NULL;
  int d = pt_dim_index(x, dim, "index_select");
  if (d < 0) return NULL;
  pt_tensor *out = pt_raw_index_select(x, d, index);
  if (!out) return NULL;
  pt_status st;
  pt_node *n = pt_node_new(&op_index_select, 1, &x, &st);
  if (n) {
    n->iarg[0] = d;
    st = pt_node_save(n, 0, index);
  }
  return pt_node_finish(n, st, out);
}

/* ---- gradient-check cases ----
 * concat: variant 0 joins a transposed (strided) [2,3,4] view and a
 * contiguous [2,3,2] along the last dim; 1 joins three tensors along dim 0,
 * the middle one frozen; 2 joins 8 tensors (more than a node holds).
 * index_select: a strided [4,5] along dim 0 with a repeated index; a
 * [3,4,5] along dim 1. */

static int concat_inputs(pt_rng *rng, int variant, pt_tensor **in) {
  if (variant == 0) {
    in[0] = pt_case_rand_strided(rng, PT_DIMS(2, 3, 4), true);
    in[1] = pt_case_rand(rng, PT_DIMS(2, 3, 2), true);
    return 2;
  }
  if (variant == 1) {
    in[0] = pt_case_rand(rng, PT_DIMS(1, 3, 4), true);
    in[1] = pt_case_rand(rng, PT_DIMS(2, 3, 4), false);
    in[2] = pt_case_rand_strided(rng, PT_DIMS(1, 3, 4), true);
    return 3;
  }
  /* 6 inputs at most per case: the fn repeats them to make 8 pieces */
  for (int i = 0; i < 4; i++) in[i] = pt_case_rand(rng, PT_DIMS(2, i + 1), true);
  return 4;
}

static pt_tensor *concat_fn(pt_tensor *const *in, int n, void *ctx) {
  int variant = *(const int *)ctx;
  if (variant == 0) return pt_concat(n, in, -1);
  if (variant == 1) return pt_concat(n, in, 0);
  pt_tensor *eight[8] = {in[0], in[1], in[2], in[3], in[3], in[2], in[1], in[0]};
  return pt_concat(8, eight, 1);
}

static int index_select_inputs(pt_rng *rng, int variant, pt_tensor **in) {
  if (variant == 0) {
    in[0] = pt_case_rand_strided(rng, PT_DIMS(4, 5), true);
    in[1] = pt_from_buffer(PT_I64, 1, PT_SHAPE(3), (const int64_t[]){3, 0, 3});
  } else {
    in[0] = pt_case_rand(rng, PT_DIMS(3, 4, 5), true);
    in[1] = pt_from_buffer(PT_I64, 1, PT_SHAPE(4), (const int64_t[]){1, 1, 0, 3});
  }
  return 2;
}

PT_CASE_FN(index_select_fn, pt_index_select(in[0], variant == 0 ? 0 : 1, in[1]))

const pt_op_case pt_op_cases_join[] = {
    {"concat", concat_inputs, concat_fn, 3, 0, 0},
    {"index_select", index_select_inputs, index_select_fn, 2, 0, 0},
    {0},
};
