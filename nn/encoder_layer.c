/* The post-LN transformer encoder layer (HF BertLayer), with optional
 * per-layer prefix keys/values (P-Tuning v2). */
#include <math.h>
#include <stdio.h>

#include "autograd/pt_ops.h"
#include "autograd/pt_ops_index.h"
#include "autograd/pt_ops_pointwise.h"
#include "nn/pt_layers.h"

pt_status pt_nn_encoder_layer_init(pt_nn_encoder_layer *m, pt_params *ps, const char *prefix,
                                   const pt_nn_encoder_config *cfg, pt_rng *rng) {
  char name[256];
  int64_t H = cfg->hidden, I = cfg->intermediate;
  double std = cfg->init_std;
#define SUB(suffix) (snprintf(name, sizeof name, "%s.%s", prefix, suffix), name)
  PT_TRY(pt_nn_linear_init(&m->query, ps, SUB("attention.self.query"), H, H, true, rng, std));
  PT_TRY(pt_nn_linear_init(&m->key, ps, SUB("attention.self.key"), H, H, true, rng, std));
  PT_TRY(pt_nn_linear_init(&m->value, ps, SUB("attention.self.value"), H, H, true, rng, std));
  PT_TRY(pt_nn_linear_init(&m->attn_out, ps, SUB("attention.output.dense"), H, H, true, rng, std));
  PT_TRY(pt_nn_layernorm_init(&m->attn_ln, ps, SUB("attention.output.LayerNorm"), H,
                              cfg->layer_norm_eps));
  PT_TRY(pt_nn_linear_init(&m->intermediate, ps, SUB("intermediate.dense"), H, I, true, rng, std));
  PT_TRY(pt_nn_linear_init(&m->out, ps, SUB("output.dense"), I, H, true, rng, std));
  PT_TRY(pt_nn_layernorm_init(&m->out_ln, ps, SUB("output.LayerNorm"), H, cfg->layer_norm_eps));
#undef SUB
  return PT_OK;
}

pt_status pt_nn_encoder_layer_visit(pt_nn_encoder_layer *m, const char *prefix,
                                    pt_nn_linear_visit_fn fn, void *ctx) {
  const struct {
    pt_nn_linear *lin;
    const char *name;
  } linears[] = {{&m->query, "attention.self.query"},   {&m->key, "attention.self.key"},
                 {&m->value, "attention.self.value"},   {&m->attn_out, "attention.output.dense"},
                 {&m->intermediate, "intermediate.dense"}, {&m->out, "output.dense"}};
  char path[512];
  for (size_t i = 0; i < sizeof linears / sizeof linears[0]; i++) {
    snprintf(path, sizeof path, "%s.%s", prefix, linears[i].name);
    PT_TRY(fn(linears[i].lin, path, ctx));
  }
  return PT_OK;
}

/* [B, S, H] projection -> [B, NH, S, HD] view (no copy). */
static pt_tensor *heads_view(const pt_nn_linear *proj, pt_tensor *h, int64_t NH) {
  int64_t B = h->shape[0], S = h->shape[1], H = h->shape[2];
  pt_tensor *x = pt_nn_linear_forward(proj, h);
  pt_tensor *v = pt_view(x, 4, PT_SHAPE(B, S, NH, H / NH));
  pt_tensor *p = pt_permute(v, (const int[]){0, 2, 1, 3});
  pt_tensor_free(x);
  pt_tensor_free(v);
  return p;
}

/* LN(dropout(dense(x)) + residual): HF BertSelfOutput / BertOutput. */
static pt_tensor *dense_dropout_residual_ln(const pt_nn_linear *dense, const pt_nn_layernorm *ln,
                                            pt_tensor *x, pt_tensor *residual, double p,
                                            pt_nn_mode mode) {
  pt_tensor *d = pt_nn_linear_forward(dense, x);
  pt_tensor *dd = pt_dropout(d, p, mode.training, mode.rng);
  pt_tensor *out = pt_nn_layernorm_add_forward(ln, dd, residual);
  pt_tensor_free(d);
  pt_tensor_free(dd);
  return out;
}

pt_tensor *pt_nn_encoder_layer_forward(const pt_nn_encoder_layer *m,
                                       const pt_nn_encoder_config *cfg, pt_tensor *h,
                                       pt_tensor *prefix_k, pt_tensor *prefix_v, pt_tensor *mask,
                                       pt_nn_mode mode) {
  if (!h) return NULL;
  if (h->ndim != 3 || h->shape[2] != cfg->hidden || cfg->hidden % cfg->heads) {
    char s[96];
    pt_error(PT_ERR_SHAPE, "encoder layer: input %s, want [B, S, %lld] with %lld heads",
             pt_shape_str(h, s, sizeof s), (long long)cfg->hidden, (long long)cfg->heads);
    return NULL;
  }
  int64_t B = h->shape[0], S = h->shape[1], H = cfg->hidden, NH = cfg->heads;
  pt_tensor *q = heads_view(&m->query, h, NH);
  pt_tensor *k = heads_view(&m->key, h, NH);
  pt_tensor *v = heads_view(&m->value, h, NH);
  pt_tensor *ctx = pt_attention(q, k, v, prefix_k, prefix_v, mask, 1.0 / sqrt((double)(H / NH)),
                                cfg->attention_dropout, mode.training, mode.rng);
  pt_tensor_free(q);
  pt_tensor_free(k);
  pt_tensor_free(v);
  pt_tensor *ctx_t = pt_permute(ctx, (const int[]){0, 2, 1, 3}); /* [B, S, NH, HD] */
  pt_tensor *ctx_m = pt_reshape(ctx_t, 3, PT_SHAPE(B, S, H));
  pt_tensor_free(ctx);
  pt_tensor_free(ctx_t);
  pt_tensor *a = dense_dropout_residual_ln(&m->attn_out, &m->attn_ln, ctx_m, h,
                                           cfg->hidden_dropout, mode);
  pt_tensor_free(ctx_m);
  pt_tensor *g = pt_nn_linear_gelu_forward(&m->intermediate, a);
  pt_tensor *out = dense_dropout_residual_ln(&m->out, &m->out_ln, g, a, cfg->hidden_dropout, mode);
  pt_tensor_free(g);
  pt_tensor_free(a);
  return out;
}
