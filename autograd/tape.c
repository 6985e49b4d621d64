/* Grad mode, node creation and lifetime. */
#include <stdatomic.h>
#include <string.h>

#include "autograd/autograd_internal.h"
#include "tensor/pt_reduce.h"

static _Thread_local int no_grad_depth;
static _Atomic uint64_t next_seq = 1;
static _Atomic int64_t live_nodes;

bool pt_grad_enabled(void) { return no_grad_depth == 0; }
void pt_no_grad_enter(void) { no_grad_depth++; }
void pt_no_grad_exit(void) {
  if (no_grad_depth > 0) no_grad_depth--;
}

int64_t pt_live_nodes(void) { return atomic_load(&live_nodes); }

bool pt_requires_grad(const pt_tensor *t) { return t && (t->flags & PT_REQUIRES_GRAD); }
bool pt_is_leaf(const pt_tensor *t) { return t->grad_fn == NULL; }

pt_status pt_set_requires_grad(pt_tensor *t, bool requires_grad) {
  if (!pt_is_leaf(t))
    return pt_error(PT_ERR_STATE, "requires_grad: can only be set on a leaf tensor");
  if (requires_grad && !pt_dtype_is_float(t->dtype))
    return pt_error(PT_ERR_DTYPE, "requires_grad: only F32/F64 tensors can require grad, not %s",
                    pt_dtype_name(t->dtype));
  if (requires_grad)
    t->flags |= PT_REQUIRES_GRAD;
  else
    t->flags &= ~(unsigned)PT_REQUIRES_GRAD;
  return PT_OK;
}

bool pt_needs_node(int n, pt_tensor *const *inputs) {
  if (!pt_grad_enabled()) return false;
  for (int i = 0; i < n; i++)
    if (pt_requires_grad(inputs[i])) return true;
  return false;
}

static void node_release_cb(void *node) { pt_node_unref(node); }

static void node_free_saved(pt_node *node) {
  for (int i = 0; i < PT_NODE_MAX_SAVED; i++) {
    pt_tensor_free(node->saved[i]);
    node->saved[i] = NULL;
  }
  if (node->ctx && node->ctx_free) node->ctx_free(node->ctx);
  node->ctx = NULL;
}

pt_node *pt_node_new(const pt_op_def *op, int n, pt_tensor *const *inputs, pt_status *status) {
  *status = PT_OK;
  if (!pt_needs_node(n, inputs)) return NULL;
  pt_node *node = pt_alloc(sizeof *node);
  if (!node) {
    *status = pt_error(PT_ERR_NOMEM, "%s: out of memory recording the graph", op->name);
    return NULL;
  }
  memset(node, 0, sizeof *node);
  atomic_fetch_add(&live_nodes, 1);
  node->refcount = 1;
  node->op = op;
  node->seq = atomic_fetch_add(&next_seq, 1);
  node->n_inputs = n;
  for (int i = 0; i < n; i++) {
    pt_tensor *t = inputs[i];
    if (!t) continue;
    node->input_ndim[i] = t->ndim;
    memcpy(node->input_shape[i], t->shape, sizeof t->shape);
    node->input_dtype[i] = t->dtype;
    if (!pt_requires_grad(t)) continue;
    node->needs_grad[i] = true;
    if (t->grad_fn) {
      node->input_node[i] = t->grad_fn;
      ((pt_node *)t->grad_fn)->refcount++;
    } else {
      node->input_leaf[i] = pt_tensor_ref(t);
    }
  }
  return node;
}

pt_status pt_node_save(pt_node *node, int i, const pt_tensor *t) {
  pt_tensor *alias = pt_raw_alias(t);
  if (!alias) return pt_error_code();
  pt_tensor_free(node->saved[i]);
  node->saved[i] = alias;
  return PT_OK;
}

pt_tensor *pt_node_attach(pt_node *node, pt_tensor *out) {
  if (!node) return out;
  out->grad_fn = node;
  out->grad_fn_release = node_release_cb;
  out->flags |= PT_REQUIRES_GRAD;
  node->out_ndim = out->ndim;
  memcpy(node->out_shape, out->shape, sizeof out->shape);
  node->out_dtype = out->dtype;
  return out;
}

pt_tensor *pt_node_finish(pt_node *node, pt_status status, pt_tensor *out) {
  if (status != PT_OK || !out) {
    pt_node_unref(node);
    pt_tensor_free(out);
    return NULL;
  }
  return pt_node_attach(node, out);
}

void pt_node_unref(pt_node *node) {
  /* Iterative over chains so that freeing a deep graph cannot overflow the
   * stack: each freed node's input nodes are pushed on a local list. */
  pt_node *stack_buf[256];
  pt_node **stack = stack_buf;
  int64_t cap = 256, top = 0;
  if (!node) return;
  stack[top++] = node;
  while (top > 0) {
    pt_node *n = stack[--top];
    if (--n->refcount > 0) continue;
    for (int i = 0; i < n->n_inputs; i++) {
      pt_tensor_free(n->input_leaf[i]);
      if (n->input_node[i]) {
        if (top == cap) {
          pt_node **bigger = pt_alloc(sizeof(pt_node *) * (size_t)cap * 2);
          if (!bigger) { /* cannot grow: fall back to recursion for this one */
            pt_node_unref(n->input_node[i]);
            continue;
          }
          memcpy(bigger, stack, sizeof(pt_node *) * (size_t)cap);
          if (stack != stack_buf) pt_free_bytes(stack);
          stack = bigger;
          cap *= 2;
        }
        stack[top++] = n->input_node[i];
      }
    }
    node_free_saved(n);
    pt_tensor_free(n->grad);
    pt_free_bytes(n);
    atomic_fetch_sub(&live_nodes, 1);
  }
  if (stack != stack_buf) pt_free_bytes(stack);
}

void pt_node_release_saved(pt_node *node) {
  node_free_saved(node);
  node->released = true;
}

pt_tensor *pt_detach(const pt_tensor *t) {
  if (!t) return NULL;
  return pt_raw_alias(t);
}

void pt_zero_grad(pt_tensor *t) {
  pt_tensor_free(t->grad);
  t->grad = NULL;
}

pt_tensor *pt_node_grad_to_input(const pt_node *node, int i, pt_tensor *g) {
  if (!g) return NULL;
  pt_tensor *r = pt_raw_sum_to_shape(g, node->input_ndim[i], node->input_shape[i]);
  pt_tensor_free(g);
  return r;
}
