/* Linear, Embedding and LayerNorm layers. */
#include <stdio.h>

#include "autograd/pt_ops.h"
#include "autograd/pt_ops_index.h"
#include "autograd/pt_ops_norm.h"
#include "nn/pt_layers.h"

/* Creates a zero F32 parameter `<prefix><suffix>` and registers it. The
 * params list keeps the only reference. */
static pt_tensor *new_param(pt_params *ps, const char *prefix, const char *suffix, int ndim,
                            const int64_t *shape) {
  char name[256];
  snprintf(name, sizeof name, "%s%s", prefix, suffix);
  pt_tensor *t = pt_zeros(PT_F32, ndim, shape);
  if (!t) return NULL;
  pt_status st = pt_params_add(ps, t, name);
  pt_tensor_free(t); /* the list holds it now */
  return st == PT_OK ? t : NULL;
}

pt_status pt_nn_linear_init(pt_nn_linear *m, pt_params *ps, const char *prefix, int64_t in,
                            int64_t out, bool bias, pt_rng *rng, double init_std) {
  m->weight = new_param(ps, prefix, ".weight", 2, PT_SHAPE(out, in));
  if (!m->weight) return pt_error_code();
  PT_TRY(pt_init_normal(m->weight, rng, init_std));
  m->bias = NULL;
  m->hook = NULL;
  m->hook_ctx = NULL;
  if (bias) {
    m->bias = new_param(ps, prefix, ".bias", 1, PT_SHAPE(out));
    if (!m->bias) return pt_error_code();
  }
  return PT_OK;
}

pt_tensor *pt_nn_linear_forward(const pt_nn_linear *m, pt_tensor *x) {
  pt_tensor *y = pt_linear(x, m->weight, m->bias);
  if (!m->hook || !y) return y;
  pt_tensor *z = m->hook(x, y, m->hook_ctx);
  pt_tensor_free(y);
  return z;
}

pt_status pt_nn_embedding_init(pt_nn_embedding *m, pt_params *ps, const char *prefix, int64_t num,
                               int64_t dim, int64_t padding_idx, pt_rng *rng, double init_std) {
  m->weight = new_param(ps, prefix, ".weight", 2, PT_SHAPE(num, dim));
  if (!m->weight) return pt_error_code();
  PT_TRY(pt_init_normal(m->weight, rng, init_std));
  m->padding_idx = padding_idx;
  if (padding_idx >= 0 && padding_idx < num) {
    float *row = (float *)pt_data(m->weight) + padding_idx * dim;
    for (int64_t j = 0; j < dim; j++) row[j] = 0.0f;
  }
  return PT_OK;
}

pt_tensor *pt_nn_embedding_forward(const pt_nn_embedding *m, const pt_tensor *ids) {
  return pt_embedding(m->weight, ids, m->padding_idx);
}

pt_status pt_nn_layernorm_init(pt_nn_layernorm *m, pt_params *ps, const char *prefix, int64_t dim,
                               double eps) {
  m->weight = new_param(ps, prefix, ".weight", 1, PT_SHAPE(dim));
  m->bias = m->weight ? new_param(ps, prefix, ".bias", 1, PT_SHAPE(dim)) : NULL;
  if (!m->bias) return pt_error_code();
  PT_TRY(pt_fill(m->weight, 1.0));
  m->eps = eps;
  return PT_OK;
}

pt_tensor *pt_nn_layernorm_forward(const pt_nn_layernorm *m, pt_tensor *x) {
  return pt_layer_norm(x, m->weight, m->bias, m->eps);
}

pt_tensor *pt_nn_layernorm_add_forward(const pt_nn_layernorm *m, pt_tensor *x, pt_tensor *residual) {
  return pt_add_layer_norm(x, residual, m->weight, m->bias, m->eps);
}
