/* Linear, Embedding and LayerNorm layers. */
#include <stdio.h>
#include <string.h>

#include "autograd/pt_ops.h"
#include "autograd/pt_ops_pointwise.h"
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
  m->hooks = NULL;
  if (bias) {
    m->bias = new_param(ps, prefix, ".bias", 1, PT_SHAPE(out));
    if (!m->bias) return pt_error_code();
  }
  return PT_OK;
}

static void chain_add(pt_nn_linear_hook **at, pt_nn_linear_hook *h) {
  while (*at) at = &(*at)->next;
  h->next = NULL;
  *at = h;
}

static void chain_remove(pt_nn_linear_hook **at, pt_nn_linear_hook *h) {
  for (; *at; at = &(*at)->next)
    if (*at == h) {
      *at = h->next;
      h->next = NULL;
      return;
    }
}

void pt_nn_linear_hook_add(pt_nn_linear *m, pt_nn_linear_hook *h) { chain_add(&m->hooks, h); }
void pt_nn_linear_hook_remove(pt_nn_linear *m, pt_nn_linear_hook *h) { chain_remove(&m->hooks, h); }
void pt_nn_layernorm_hook_add(pt_nn_layernorm *m, pt_nn_linear_hook *h) { chain_add(&m->hooks, h); }
void pt_nn_layernorm_hook_remove(pt_nn_layernorm *m, pt_nn_linear_hook *h) {
  chain_remove(&m->hooks, h);
}

static bool hook_on(const pt_nn_linear_hook *h, pt_nn_hook_stage stage) {
  return h->stage == stage && (!h->enabled || *h->enabled);
}

/* Runs the hooks of one stage of a layer (its weight names it in messages)
 * over `cur` (a reference the caller owns, consumed); x is the layer's input
 * for the output stage. */
static pt_tensor *run_hooks(const pt_nn_linear_hook *hooks, const pt_tensor *weight,
                            const char *kind, pt_nn_hook_stage stage, pt_tensor *x,
                            pt_tensor *cur) {
  for (const pt_nn_linear_hook *h = hooks; h && cur; h = h->next) {
    if (!hook_on(h, stage)) continue;
    uint64_t serial = pt_error_serial();
    pt_tensor *next = stage == PT_NN_HOOK_INPUT ? h->fn(h->ctx, cur, NULL) : h->fn(h->ctx, x, cur);
    pt_tensor_free(cur);
    cur = next;
    if (!cur) { /* the layer's name is its weight's without ".weight" */
      const char *w = weight->name ? weight->name : "";
      int n = (int)strlen(w) - (int)strlen(".weight");
      if (n < 0 || strcmp(w + n, ".weight")) n = (int)strlen(w);
      pt_error_if_silent(serial, PT_ERR_STATE,
                         "the %s hook of %s layer %.*s%sreturned NULL without recording an "
                         "error",
                         stage == PT_NN_HOOK_INPUT ? "input" : "output", kind, n, w, n ? " " : "");
    }
  }
  return cur;
}

pt_tensor *pt_nn_linear_forward(const pt_nn_linear *m, pt_tensor *x) {
  if (!m->hooks) return pt_linear(x, m->weight, m->bias);
  pt_tensor *in = run_hooks(m->hooks, m->weight, "linear", PT_NN_HOOK_INPUT, NULL,
                            x ? pt_tensor_ref(x) : NULL);
  pt_tensor *y = pt_linear(in, m->weight, m->bias);
  y = run_hooks(m->hooks, m->weight, "linear", PT_NN_HOOK_OUTPUT, in, y);
  pt_tensor_free(in);
  return y;
}

pt_tensor *pt_nn_linear_gelu_forward(const pt_nn_linear *m, pt_tensor *x) {
  if (!m->hooks) return pt_linear_gelu(x, m->weight, m->bias);
  pt_tensor *y = pt_nn_linear_forward(m, x); /* the GELU follows the output hooks */
  pt_tensor *g = pt_gelu(y);
  pt_tensor_free(y);
  return g;
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
  m->hooks = NULL;
  return PT_OK;
}

pt_tensor *pt_nn_layernorm_forward(const pt_nn_layernorm *m, pt_tensor *x) {
  pt_tensor *y = pt_layer_norm(x, m->weight, m->bias, m->eps);
  return m->hooks ? run_hooks(m->hooks, m->weight, "LayerNorm", PT_NN_HOOK_OUTPUT, x, y) : y;
}

pt_tensor *pt_nn_layernorm_add_forward(const pt_nn_layernorm *m, pt_tensor *x, pt_tensor *residual) {
  pt_tensor *y = pt_add_layer_norm(x, residual, m->weight, m->bias, m->eps);
  return m->hooks ? run_hooks(m->hooks, m->weight, "LayerNorm", PT_NN_HOOK_OUTPUT, x, y) : y;
}
