/* Reverse-mode automatic differentiation on a dynamic tape.
 *
 * Every differentiable op produces its output eagerly and, when grad mode is
 * on and some input requires grad, records a pt_node: which op, which inputs
 * need a gradient, and the tensors its backward will read. Nothing is saved
 * for a gradient nobody needs: y = x·Wᵀ with W frozen saves only W (for dX)
 * and never runs the dW GEMM.
 *
 * A node holds references to the nodes of its non-leaf inputs and to its
 * leaf inputs that require grad; tensors hold a reference to the node that
 * made them. Saved tensors are data-only aliases (no grad_fn), so there are
 * no reference cycles: dropping the last tensor of a graph frees it. */
#ifndef PT_AUTOGRAD_H
#define PT_AUTOGRAD_H

#include <stdbool.h>
#include <stdint.h>

#include "tensor/pt_tensor.h"

#define PT_NODE_MAX_INPUTS 6
#define PT_NODE_MAX_SAVED 6
#define PT_NODE_MAX_ARGS 8

typedef struct pt_node pt_node;

/* Given the gradient of the node's output (borrowed, same shape as the
 * output), writes in grad_in[i] a NEW tensor holding the gradient for every
 * input i with node->needs_grad[i] (shape = that input's shape; the engine
 * checks), and leaves the others NULL. Does not accumulate: the engine sums
 * gradients that reach the same tensor. */
typedef pt_status (*pt_backward_fn)(pt_node *node, const pt_tensor *grad_out,
                                    pt_tensor **grad_in);

typedef struct pt_op_def {
  const char *name;
  pt_backward_fn backward;
} pt_op_def;

/* Defines a static op definition `var` and registers it in the linker
 * section every op definition lives in, so the op table test can list all
 * ops and fail on one that has no gradient-check case. */
#define PT_OP_DEFINE(var, opname, backward_fn)                                   \
  static const pt_op_def var = {opname, backward_fn};                          \
  static const pt_op_def *const var##_registered                               \
      __attribute__((used, section("pt_op_defs"), aligned(sizeof(void *)))) = &var

/* Every op definition linked into the program; *count receives how many. */
const pt_op_def *const *pt_op_defs(int *count);

struct pt_node {
  int refcount;
  const pt_op_def *op;
  uint64_t seq; /* creation order: a node is always newer than its inputs */
  int n_inputs;
  bool needs_grad[PT_NODE_MAX_INPUTS];
  pt_node *input_node[PT_NODE_MAX_INPUTS];    /* grad_fn of a non-leaf input */
  pt_tensor *input_leaf[PT_NODE_MAX_INPUTS];  /* a leaf input requiring grad */
  int input_ndim[PT_NODE_MAX_INPUTS];
  int64_t input_shape[PT_NODE_MAX_INPUTS][PT_MAX_DIMS];
  pt_dtype input_dtype[PT_NODE_MAX_INPUTS];
  int out_ndim;
  int64_t out_shape[PT_MAX_DIMS];
  pt_dtype out_dtype;
  pt_tensor *saved[PT_NODE_MAX_SAVED]; /* data-only aliases, owned */
  int64_t iarg[PT_NODE_MAX_ARGS];      /* op parameters: dims, flags, ... */
  double farg[PT_NODE_MAX_ARGS];       /* op parameters: eps, scale, ... */
  void *ctx;                           /* op-specific extra state */
  void (*ctx_free)(void *ctx);
  bool released; /* saved state already freed by a backward pass */
  /* backward-pass scratch */
  pt_tensor *grad;
  uint64_t visit;
};

/* ---- grad mode ---- */

bool pt_grad_enabled(void);
/* No-grad scope (thread-local counter): ops record nothing inside. */
void pt_no_grad_enter(void);
void pt_no_grad_exit(void);

/* ---- for op implementers ---- */

/* True when an op over these inputs must record a node. */
bool pt_needs_node(int n, pt_tensor *const *inputs);

/* Creates the node for an op over `inputs` (NULL entries allowed for
 * optional inputs) when pt_needs_node; returns NULL both when none is needed
 * and on allocation failure (then *status is set). */
pt_node *pt_node_new(const pt_op_def *op, int n, pt_tensor *const *inputs, pt_status *status);

/* Keeps a data-only alias of `t` in slot `i` for backward. */
pt_status pt_node_save(pt_node *node, int i, const pt_tensor *t);

/* Attaches `node` to `out` (which takes over the creation reference) and
 * marks out as requiring grad. Returns out. With node NULL, returns out. */
pt_tensor *pt_node_attach(pt_node *node, pt_tensor *out);

/* The gradient `g` of a broadcasting op summed back down to input i's shape
 * (consumes the reference to g; returns a new one, NULL on failure or when
 * g is NULL). */
pt_tensor *pt_node_grad_to_input(const pt_node *node, int i, pt_tensor *g);

/* Drops a node reference (frees it and its edges at zero). */
void pt_node_unref(pt_node *node);

/* Typical op tail: given the freshly computed `out`, record the node (if
 * any) or free `out` on failure. Returns out or NULL. */
pt_tensor *pt_node_finish(pt_node *node, pt_status status, pt_tensor *out);

/* ---- user API ---- */

/* Marks a leaf as requiring grad (or not). Fails on non-float tensors or on
 * a non-leaf. */
pt_status pt_set_requires_grad(pt_tensor *t, bool requires_grad);
bool pt_requires_grad(const pt_tensor *t);
bool pt_is_leaf(const pt_tensor *t);

/* Backpropagates from `root`. grad_out NULL means ones (root must then have
 * exactly one element). Gradients accumulate (+=) into the .grad of every
 * leaf that requires grad. Without retain_graph the graph's saved tensors
 * are freed as they are consumed and a second backward is an error. */
pt_status pt_backward(pt_tensor *root, const pt_tensor *grad_out, bool retain_graph);

/* Called by pt_backward_hooked for a leaf that requires grad as soon as its
 * ->grad holds every contribution of this pass (plus whatever earlier passes
 * left there): no node that still has to run feeds it. Leaves are announced
 * in the order the pass finishes them, each once; leaves the pass does not
 * reach are not announced. The hook may take the gradient over (move
 * leaf->grad elsewhere and set it to NULL). A non-OK status stops the pass,
 * which returns it. Data-parallel training uses this to send a bucket of
 * gradients while backward still runs (dist/pt_dist.h). */
typedef pt_status (*pt_grad_ready_fn)(pt_tensor *leaf, void *ctx);

/* pt_backward, calling `ready(leaf, ctx)` for each leaf when its gradient is
 * final for this pass (ready NULL: exactly pt_backward). */
pt_status pt_backward_hooked(pt_tensor *root, const pt_tensor *grad_out, bool retain_graph,
                             pt_grad_ready_fn ready, void *ctx);

/* Sets t->grad to NULL (frees it). */
void pt_zero_grad(pt_tensor *t);

/* A new tensor sharing t's data with no history and no requires_grad. */
pt_tensor *pt_detach(const pt_tensor *t);

/* Graphviz DOT of the graph behind `root` (ops, shapes, leaves that require
 * grad) written to `path`. */
pt_status pt_graph_write_dot(const pt_tensor *root, const char *path);

/* Nodes alive right now (for leak tests). */
int64_t pt_live_nodes(void);

#endif
