/* The README's first program: build a small graph, call backward, read the
 * gradients, and write the graph as Graphviz DOT (graph.dot; render it with
 * `dot -Tpng graph.dot -o graph.png`).
 *
 * Run: ./build/examples/autograd_basics [graph.dot] */
#include <stdio.h>

#include "ptune.h"

int main(int argc, char **argv) {
  const char *dot_path = argc > 1 ? argv[1] : "graph.dot";
  pt_rng rng;
  pt_rng_init(&rng, 42);
  pt_tensor *x = pt_randn(&rng, PT_F32, PT_DIMS(4, 3)); /* data: no gradient */
  pt_tensor *w = pt_randn(&rng, PT_F32, PT_DIMS(2, 3)); /* parameters */
  pt_tensor *b = pt_zeros(PT_F32, PT_DIMS(2));
  pt_tensor_set_name(w, "w");
  pt_tensor_set_name(b, "b");
  pt_set_requires_grad(w, true);
  pt_set_requires_grad(b, true);

  pt_tensor *y = pt_linear(x, w, b); /* y = x·wᵀ + b, records the tape */
  pt_tensor *a = pt_tanh(y);
  pt_tensor *loss = pt_mean(a, 0, NULL, false);
  if (!loss || pt_graph_write_dot(loss, dot_path) != PT_OK ||
      pt_backward(loss, NULL, false) != PT_OK) {
    fprintf(stderr, "%s\n", pt_error_message());
    return 1;
  }
  printf("loss = %+.5f\n", pt_get(loss, 0));
  for (int i = 0; i < 6; i++) printf("dL/dw[%d] = %+.5f\n", i, pt_get(w->grad, i));
  printf("dL/db = %+.5f %+.5f\n", pt_get(b->grad, 0), pt_get(b->grad, 1));
  printf("graph written to %s\n", dot_path);

  pt_tensor *all[] = {x, w, b, y, a, loss};
  for (int i = 0; i < 6; i++) pt_tensor_free(all[i]);
  return 0;
}
