/* Graphviz DOT export of the graph behind a tensor, for teaching: one
 * ellipse per recorded op (its name and output shape), one box per leaf
 * that requires grad (its name, shape and dtype), a dashed box per constant
 * input (a tensor that requires no grad: the node keeps only its shape), and
 * edges input → op. The text is built in memory and written with
 * pt_write_file_atomic, so a reader never sees half a graph. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/pt_autograd.h"
#include "tensor/pt_file.h"

/* A set of pointers (open addressing; grows at half load). */
typedef struct {
  const void **slots;
  size_t cap, count;
} ptr_set;

static size_t ptr_hash(const void *p) {
  uint64_t x = (uint64_t)(uintptr_t)p;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return (size_t)x;
}

/* Adds p; 1 if it was new, 0 if present, -1 out of memory. */
static int ptr_set_add(ptr_set *s, const void *p) {
  if (2 * (s->count + 1) > s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 64;
    const void **slots = calloc(cap, sizeof *slots);
    if (!slots) return -1;
    for (size_t i = 0; i < s->cap; i++) {
      if (!s->slots[i]) continue;
      size_t h = ptr_hash(s->slots[i]) & (cap - 1);
      while (slots[h]) h = (h + 1) & (cap - 1);
      slots[h] = s->slots[i];
    }
    free(s->slots);
    s->slots = slots;
    s->cap = cap;
  }
  size_t h = ptr_hash(p) & (s->cap - 1);
  while (s->slots[h]) {
    if (s->slots[h] == p) return 0;
    h = (h + 1) & (s->cap - 1);
  }
  s->slots[h] = p;
  s->count++;
  return 1;
}

/* Writes `s` inside a DOT double-quoted string. */
static void put_escaped(FILE *f, const char *s) {
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') fputc('\\', f);
    if (*s == '\n')
      fputs("\\n", f);
    else
      fputc(*s, f);
  }
}

static void put_leaf(FILE *f, const pt_tensor *t) {
  char shape[128];
  fprintf(f, "  leaf_%p [shape=box, style=filled, fillcolor=lightblue, label=\"", (const void *)t);
  put_escaped(f, t->name ? t->name : "leaf");
  fprintf(f, "\\n%s %s\\nrequires_grad\"];\n", pt_shape_str(t, shape, sizeof shape),
          pt_dtype_name(t->dtype));
}

static pt_status write_graph(FILE *f, const pt_tensor *root) {
  fprintf(f, "digraph ptune {\n  rankdir=BT;\n  node [fontname=\"Helvetica\", fontsize=10];\n");
  if (!root->grad_fn) {
    char shape[128];
    fprintf(f, "  leaf_%p [shape=box, label=\"", (const void *)root);
    put_escaped(f, root->name ? root->name : "leaf");
    fprintf(f, "\\n%s %s\\n%s\"];\n}\n", pt_shape_str(root, shape, sizeof shape),
            pt_dtype_name(root->dtype), pt_requires_grad(root) ? "requires_grad" : "no grad");
    return PT_OK;
  }
  ptr_set seen = {0};
  size_t cap = 64, top = 0;
  const pt_node **stack = malloc(cap * sizeof *stack);
  pt_status st = PT_OK;
  if (!stack || ptr_set_add(&seen, root->grad_fn) < 0) {
    st = pt_error(PT_ERR_NOMEM, "graph_write_dot: out of memory");
    goto done;
  }
  stack[top++] = root->grad_fn;
  while (top > 0 && st == PT_OK) {
    const pt_node *n = stack[--top];
    char shape[128];
    fprintf(f, "  op_%p [shape=ellipse, label=\"", (const void *)n);
    put_escaped(f, n->op->name);
    fprintf(f, "\\n%s %s\"%s];\n", pt_dims_str(n->out_ndim, n->out_shape, shape, sizeof shape),
            pt_dtype_name(n->out_dtype), n == root->grad_fn ? ", peripheries=2" : "");
    for (int i = 0; i < n->n_inputs; i++) {
      if (n->input_node[i]) {
        fprintf(f, "  op_%p -> op_%p;\n", (const void *)n->input_node[i], (const void *)n);
        int added = ptr_set_add(&seen, n->input_node[i]);
        if (added < 0) {
          st = pt_error(PT_ERR_NOMEM, "graph_write_dot: out of memory");
        } else if (added) {
          if (top == cap) {
            const pt_node **bigger = realloc(stack, 2 * cap * sizeof *stack);
            if (!bigger) {
              st = pt_error(PT_ERR_NOMEM, "graph_write_dot: out of memory");
              break;
            }
            stack = bigger;
            cap *= 2;
          }
          stack[top++] = n->input_node[i];
        }
      } else if (n->input_leaf[i]) {
        int added = ptr_set_add(&seen, n->input_leaf[i]);
        if (added < 0) st = pt_error(PT_ERR_NOMEM, "graph_write_dot: out of memory");
        if (added > 0) put_leaf(f, n->input_leaf[i]);
        fprintf(f, "  leaf_%p -> op_%p;\n", (const void *)n->input_leaf[i], (const void *)n);
      } else if (n->input_ndim[i] > 0) {
        /* an input that requires no grad: only its shape was recorded (an
         * absent optional input leaves ndim 0 and is not drawn) */
        fprintf(f,
                "  const_%p_%d [shape=box, style=dashed, label=\"constant\\n%s %s\\nno grad\"];\n"
                "  const_%p_%d -> op_%p;\n",
                (const void *)n, i,
                pt_dims_str(n->input_ndim[i], n->input_shape[i], shape, sizeof shape),
                pt_dtype_name(n->input_dtype[i]), (const void *)n, i, (const void *)n);
      }
    }
  }
  fprintf(f, "}\n");
done:
  free(stack);
  free(seen.slots);
  return st;
}

pt_status pt_graph_write_dot(const pt_tensor *root, const char *path) {
  if (!root) return pt_error_upstream("graph_write_dot");
  if (!path) return pt_error(PT_ERR_ARG, "graph_write_dot: no path");
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f) return pt_error(PT_ERR_NOMEM, "graph_write_dot: out of memory");
  pt_status st = write_graph(f, root);
  if (fclose(f) != 0 && st == PT_OK) st = pt_error(PT_ERR_NOMEM, "graph_write_dot: out of memory");
  if (st == PT_OK) {
    st = pt_write_file_atomic(path, text, len);
    if (st != PT_OK) pt_error_context(st, "graph_write_dot");
  }
  free(text);
  return st;
}
