/* adapter: bottleneck adapters inside every encoder layer.
 *   houlsby (Houlsby et al. 2019): after the attention output projection
 *     and after the feed-forward output projection;
 *   pfeiffer (Pfeiffer et al. 2021): after the feed-forward output only.
 * Each is a residual bottleneck on the projection's output y, before the
 * layer's dropout, residual add and LayerNorm:
 *   y + up(act(down(y))),  down: H → H/reduction_factor, up: back to H,
 * with BERT's initialization (N(0, 0.02), zero biases), so it starts close
 * to the identity. The activation is swish for houlsby and relu for
 * pfeiffer unless --adapter-act says otherwise (the adapters library's
 * defaults). Tensors "<layer>.attention.output.adapter.{down,up}.*" and
 * "<layer>.output.adapter.{down,up}.*". Unlike the adapters library's
 * Pfeiffer configuration, the adapter sits before the layer's residual
 * LayerNorm, not after it. peft has no bottleneck adapters. */
#include <stddef.h>
#include <string.h>

#include "autograd/pt_autograd.h"
#include "autograd/pt_ops.h"
#include "autograd/pt_ops_pointwise.h"
#include "models/methods/common.h"

typedef struct {
  char *kind; /* houlsby | pfeiffer */
  int64_t reduction;
  char *act;  /* auto | swish | relu | gelu */
} adapter_opts;

static const pt_option adapter_options[] = {
    {"adapter-type", "adapter_type", PT_OPT_CHOICE, offsetof(adapter_opts, kind), "houlsby",
     "houlsby|pfeiffer",
     "houlsby: after attention and feed-forward; pfeiffer: after feed-forward only", false},
    {"reduction-factor", "reduction_factor", PT_OPT_INT, offsetof(adapter_opts, reduction), "16",
     NULL, "bottleneck size = hidden size / this", false},
    {"adapter-act", "non_linearity", PT_OPT_CHOICE, offsetof(adapter_opts, act), "auto",
     "auto|swish|relu|gelu", "the bottleneck's activation (auto: swish for houlsby, relu for "
     "pfeiffer)", false},
    {0}};

typedef enum { ACT_SWISH, ACT_RELU, ACT_GELU } act_kind;

typedef struct {
  pt_nn_linear down, up;
  act_kind act;
} bottleneck;

static pt_status adapter_check(const void *opts, const pt_bert_config *bc) {
  const adapter_opts *o = opts;
  if (o->reduction < 1 || o->reduction > bc->hidden_size)
    return pt_error(PT_ERR_ARG, "--reduction-factor must be in [1, hidden size %lld], got %lld",
                    (long long)bc->hidden_size, (long long)o->reduction);
  return PT_OK;
}

static pt_tensor *activate(act_kind a, pt_tensor *x) {
  if (a == ACT_RELU) return pt_relu(x);
  if (a == ACT_GELU) return pt_gelu(x);
  pt_tensor *s = pt_sigmoid(x); /* swish: x·σ(x) */
  pt_tensor *out = pt_mul(x, s);
  pt_tensor_free(s);
  return out;
}

/* y + up(act(down(y))) */
static pt_tensor *bottleneck_hook(void *ctx, pt_tensor *x, pt_tensor *y) {
  (void)x;
  const bottleneck *b = ctx;
  pt_tensor *d = pt_nn_linear_forward(&b->down, y);
  pt_tensor *a = activate(b->act, d);
  pt_tensor *u = pt_nn_linear_forward(&b->up, a);
  pt_tensor *out = pt_add(y, u);
  pt_tensor_free(d);
  pt_tensor_free(a);
  pt_tensor_free(u);
  return out;
}

static pt_status add_bottleneck(pt_model *m, pt_nn_linear *lin, const char *module, act_kind act,
                                int64_t size, pt_rng *rng) {
  bottleneck *b = pt_model_alloc(m, sizeof *b);
  if (!b) return pt_error_code();
  int64_t H = lin->weight->shape[0];
  char name[300];
  method_name(name, sizeof name, module, "adapter.down");
  PT_TRY(method_linear(m, &b->down, name, H, size, true, INIT_HF, rng));
  method_name(name, sizeof name, module, "adapter.up");
  PT_TRY(method_linear(m, &b->up, name, size, H, true, INIT_HF, rng));
  b->act = act;
  return pt_model_hook(m, lin, PT_NN_HOOK_OUTPUT, bottleneck_hook, b);
}

static pt_status adapter_attach(pt_model *m, pt_rng *rng) {
  const adapter_opts *o = m->opts;
  bool houlsby = !strcmp(o->kind, "houlsby");
  act_kind act = !strcmp(o->act, "relu")    ? ACT_RELU
                 : !strcmp(o->act, "gelu")  ? ACT_GELU
                 : !strcmp(o->act, "swish") ? ACT_SWISH
                 : houlsby                  ? ACT_SWISH
                                            : ACT_RELU;
  const pt_bert *bert = &m->bb->bert;
  int64_t size = bert->cfg.hidden_size / o->reduction;
  for (int64_t l = 0; l < bert->cfg.num_layers; l++) {
    char module[200];
    pt_nn_encoder_layer *layer = &bert->layers[l];
    if (houlsby) {
      snprintf(module, sizeof module, "%s.encoder.layer.%lld.attention.output", bert->prefix,
               (long long)l);
      PT_TRY(add_bottleneck(m, &layer->attn_out, module, act, size, rng));
    }
    snprintf(module, sizeof module, "%s.encoder.layer.%lld.output", bert->prefix, (long long)l);
    PT_TRY(add_bottleneck(m, &layer->out, module, act, size, rng));
  }
  return PT_OK;
}

const pt_method pt_method_adapter = {
    .name = "adapter",
    .summary = "bottleneck adapters: Houlsby (after attention and feed-forward) or Pfeiffer",
    .options = adapter_options,
    .opts_size = sizeof(adapter_opts),
    .check = adapter_check,
    .attach = adapter_attach,
};
