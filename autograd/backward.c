/* The backward pass: collect the nodes reachable from the root, run them
 * newest first (creation order is a topological order), route each input
 * gradient to its producer node or leaf, and free what has been consumed. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/autograd_internal.h"
#include "tensor/pt_elementwise.h"


static _Atomic uint64_t visit_pass;

/* A tensor we may add into in place: nobody else can see its memory. */
static bool exclusively_owned(const pt_tensor *t) {
  return t->refcount == 1 && t->storage->refcount == 1 && pt_is_contiguous(t) &&
         t->grad_fn == NULL;
}

/* *slot += g (taking g's reference). */
static pt_status accumulate(pt_tensor **slot, pt_tensor *g) {
  if (!*slot) {
    *slot = g;
    return PT_OK;
  }
  if (exclusively_owned(*slot)) {
    pt_status st = pt_raw_axpy_into(*slot, 1.0, g);
    pt_tensor_free(g);
    return st;
  }
  if (exclusively_owned(g)) {
    pt_status st = pt_raw_axpy_into(g, 1.0, *slot);
    pt_tensor_free(*slot);
    *slot = g;
    return st;
  }
  pt_tensor *sum = pt_raw_binary(PT_BIN_ADD, *slot, g);
  pt_tensor_free(g);
  if (!sum) return pt_error_code();
  pt_tensor_free(*slot);
  *slot = sum;
  return PT_OK;
}

/* Leaf gradients are kept contiguous and private so the optimizer can
 * update them in place. */
static pt_status accumulate_leaf(pt_tensor *leaf, pt_tensor *g) {
  if (!leaf->grad && !exclusively_owned(g)) {
    pt_tensor *c = pt_raw_clone(g);
    pt_tensor_free(g);
    if (!c) return pt_error_code();
    g = c;
  }
  return accumulate(&leaf->grad, g);
}

static int by_seq_desc(const void *a, const void *b) {
  const pt_node *x = *(pt_node *const *)a, *y = *(pt_node *const *)b;
  return x->seq < y->seq ? 1 : x->seq > y->seq ? -1 : 0;
}

static pt_status check_grad_shape(const pt_node *n, int i, const pt_tensor *g) {
  bool ok = g->ndim == n->input_ndim[i] && g->dtype == n->input_dtype[i];
  for (int d = 0; ok && d < g->ndim; d++) ok = g->shape[d] == n->input_shape[i][d];
  if (ok) return PT_OK;
  char s1[96], s2[96];
  return pt_error(PT_ERR_STATE, "%s backward: gradient %s %s for input %d of shape %s",
                  n->op->name, pt_dtype_name(g->dtype), pt_shape_str(g, s1, sizeof s1), i,
                  pt_dims_str(n->input_ndim[i], n->input_shape[i], s2, sizeof s2));
}

/* Collects every node reachable from `root` into a growing array. */
static pt_status collect(pt_node *root, pt_node ***out, int64_t *count) {
  uint64_t pass = atomic_fetch_add(&visit_pass, 1) + 1;
  int64_t cap = 64, n = 0, top = 0, scap = 64;
  pt_node **list = malloc(sizeof(pt_node *) * (size_t)cap);
  pt_node **stack = malloc(sizeof(pt_node *) * (size_t)scap);
  if (!list || !stack) {
    free(list);
    free(stack);
    return pt_error(PT_ERR_NOMEM, "backward: out of memory");
  }
  root->visit = pass;
  stack[top++] = root;
  while (top > 0) {
    pt_node *node = stack[--top];
    if (n == cap) {
      cap *= 2;
      pt_node **bigger = realloc(list, sizeof(pt_node *) * (size_t)cap);
      if (!bigger) goto oom;
      list = bigger;
    }
    list[n++] = node;
    for (int i = 0; i < node->n_inputs; i++) {
      pt_node *in = node->input_node[i];
      if (!in || in->visit == pass) continue;
      in->visit = pass;
      if (top == scap) {
        scap *= 2;
        pt_node **bigger = realloc(stack, sizeof(pt_node *) * (size_t)scap);
        if (!bigger) goto oom;
        stack = bigger;
      }
      stack[top++] = in;
    }
  }
  free(stack);
  qsort(list, (size_t)n, sizeof *list, by_seq_desc);
  *out = list;
  *count = n;
  return PT_OK;
oom:
  free(list);
  free(stack);
  return pt_error(PT_ERR_NOMEM, "backward: out of memory");
}

/* Runs one node's backward on its output gradient `gout` (consumed) and
 * routes each input gradient to its producer node or leaf. */
static pt_status run_node(pt_node *node, pt_tensor *gout, bool retain_graph) {
  pt_tensor *gin[PT_NODE_MAX_INPUTS] = {0};
  uint64_t serial = pt_error_serial();
  pt_status st = node->op->backward(node, gout, gin);
  if (st != PT_OK)
    st = pt_error_if_silent(serial, st, "%s backward: failed (%s) without recording an error",
                            node->op->name, pt_status_name(st));
  pt_tensor_free(gout);
  for (int i = 0; i < node->n_inputs; i++) {
    pt_tensor *gi = gin[i];
    if (!gi) continue;
    if (st != PT_OK || !node->needs_grad[i]) {
      pt_tensor_free(gi);
      continue;
    }
    st = check_grad_shape(node, i, gi);
    if (st != PT_OK) {
      pt_tensor_free(gi);
      continue;
    }
    if (node->input_node[i])
      st = accumulate(&node->input_node[i]->grad, gi);
    else if (node->input_leaf[i])
      st = accumulate_leaf(node->input_leaf[i], gi);
    else
      pt_tensor_free(gi);
  }
  if (!retain_graph) pt_node_release_saved(node);
  return st;
}

/* A leaf and the index (in run order) of the last node that feeds it. */
typedef struct {
  pt_tensor *leaf;
  int64_t last;
  int slot; /* input position in that node: announcements follow it */
} leaf_use;

static int by_leaf_then_last_desc(const void *a, const void *b) {
  const leaf_use *x = a, *y = b;
  if (x->leaf != y->leaf) return (uintptr_t)x->leaf < (uintptr_t)y->leaf ? -1 : 1;
  return x->last < y->last ? 1 : x->last > y->last ? -1 : 0;
}

static int by_last(const void *a, const void *b) {
  const leaf_use *x = a, *y = b;
  if (x->last != y->last) return x->last < y->last ? -1 : 1;
  return x->slot < y->slot ? -1 : x->slot > y->slot ? 1 : 0;
}

/* Every leaf requiring grad that feeds a node of `order`, with the index of
 * the last node feeding it, sorted by that index: after that node has run,
 * the leaf's gradient is final for the pass. */
static pt_status leaf_last_uses(pt_node *const *order, int64_t count, leaf_use **out,
                                int64_t *n_out) {
  int64_t n = 0;
  for (int64_t k = 0; k < count; k++)
    for (int i = 0; i < order[k]->n_inputs; i++) n += order[k]->input_leaf[i] != NULL;
  leaf_use *u = malloc(sizeof *u * (size_t)(n ? n : 1));
  if (!u) return pt_error(PT_ERR_NOMEM, "backward: out of memory");
  n = 0;
  for (int64_t k = 0; k < count; k++)
    for (int i = 0; i < order[k]->n_inputs; i++)
      if (order[k]->input_leaf[i]) u[n++] = (leaf_use){order[k]->input_leaf[i], k, i};
  qsort(u, (size_t)n, sizeof *u, by_leaf_then_last_desc);
  int64_t m = 0;
  for (int64_t j = 0; j < n; j++)
    if (m == 0 || u[m - 1].leaf != u[j].leaf) u[m++] = u[j];
  qsort(u, (size_t)m, sizeof *u, by_last);
  *out = u;
  *n_out = m;
  return PT_OK;
}

/* The user's hook, with a message of our own if it fails silently. */
static pt_status call_ready(pt_grad_ready_fn ready, pt_tensor *leaf, void *ctx) {
  uint64_t serial = pt_error_serial();
  pt_status st = ready(leaf, ctx);
  if (st == PT_OK) return st;
  return pt_error_if_silent(serial, st, "backward: the gradient-ready hook failed (%s) without "
                            "recording an error", pt_status_name(st));
}

pt_status pt_backward(pt_tensor *root, const pt_tensor *grad_out, bool retain_graph) {
  return pt_backward_hooked(root, grad_out, retain_graph, NULL, NULL);
}

pt_status pt_backward_hooked(pt_tensor *root, const pt_tensor *grad_out, bool retain_graph,
                             pt_grad_ready_fn ready, void *ctx) {
  if (!root) return pt_error_upstream("backward");
  if (!pt_requires_grad(root))
    return pt_error(PT_ERR_STATE, "backward: the tensor does not require grad");
  pt_tensor *g;
  if (grad_out) {
    if (!pt_same_shape(grad_out, root) || grad_out->dtype != root->dtype) {
      char s1[96], s2[96];
      return pt_error(PT_ERR_SHAPE, "backward: gradient %s does not match output %s",
                      pt_shape_str(grad_out, s1, sizeof s1), pt_shape_str(root, s2, sizeof s2));
    }
    g = pt_raw_clone(grad_out);
  } else {
    if (pt_numel(root) != 1) {
      char s[96];
      return pt_error(PT_ERR_SHAPE,
                      "backward: output %s is not a scalar; pass its gradient explicitly",
                      pt_shape_str(root, s, sizeof s));
    }
    g = pt_ones(root->dtype, root->ndim, root->shape);
  }
  if (!g) return pt_error_code();
  if (!root->grad_fn) {
    pt_status st = accumulate_leaf(root, g);
    return st == PT_OK && ready ? call_ready(ready, root, ctx) : st;
  }

  pt_node **order = NULL;
  int64_t count = 0;
  pt_status st = collect(root->grad_fn, &order, &count);
  if (st != PT_OK) {
    pt_tensor_free(g);
    return st;
  }
  for (int64_t k = 0; k < count; k++)
    if (order[k]->released) {
      st = pt_error(PT_ERR_STATE,
                    "backward: the graph was already freed by a previous backward "
                    "(%s); pass retain_graph to backward twice",
                    order[k]->op->name);
      free(order);
      pt_tensor_free(g);
      return st;
    }
  leaf_use *uses = NULL;
  int64_t n_uses = 0, next_use = 0;
  if (ready && (st = leaf_last_uses(order, count, &uses, &n_uses)) != PT_OK) {
    free(order);
    pt_tensor_free(g);
    return st;
  }
  ((pt_node *)root->grad_fn)->grad = g;
  for (int64_t k = 0; k < count && st == PT_OK; k++) {
    pt_node *node = order[k];
    pt_tensor *gout = node->grad;
    node->grad = NULL;
    if (gout) st = run_node(node, gout, retain_graph);
    for (; st == PT_OK && next_use < n_uses && uses[next_use].last == k; next_use++)
      st = call_ready(ready, uses[next_use].leaf, ctx);
  }
  for (int64_t k = 0; k < count; k++) { /* on error, drop unconsumed scratch */
    pt_tensor_free(order[k]->grad);
    order[k]->grad = NULL;
  }
  free(uses);
  free(order);
  return st;
}
