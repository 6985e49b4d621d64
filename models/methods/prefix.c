/* prefix: peft's PREFIX_TUNING (tuners/prefix_tuning/model.py PrefixEncoder
 * and PeftModel.get_prompt) on an encoder: a prefix of P keys and values at
 * every layer from
 *   prompt_encoder.embedding  Embedding(P, 2·L·H), or with projection
 *   Embedding(P, H) → transform.0 Linear(H, encoder_hidden_size) → tanh →
 *   transform.2 Linear(encoder_hidden_size, 2·L·H),
 * laid out as THUDM's (keys at 2l, values at 2l+1) but with no dropout on
 * the prefix, and initialized as torch does by default (embedding N(0, 1),
 * linears U(±1/√in)). Positions of the text are offset by P
 * (past_key_values_length). peft saves the table the encoder computes as
 * prompt_embeddings [P, 2·L·H]. */
#include <stddef.h>

#include "autograd/pt_autograd.h"
#include "autograd/pt_ops_pointwise.h"
#include "models/methods/common.h"

typedef struct {
  int64_t tokens;
  bool projection;
  int64_t encoder_hidden;
} prefix_opts;

static const pt_option prefix_options[] = {
    {"num-virtual-tokens", "num_virtual_tokens", PT_OPT_INT, offsetof(prefix_opts, tokens), "16",
     NULL, "prefix length P: keys and values prepended at every layer", true},
    {"prefix-projection", "prefix_projection", PT_OPT_BOOL, offsetof(prefix_opts, projection),
     "false", NULL, "reparameterize the prefix with a two-layer tanh MLP", true},
    {"encoder-hidden-size", "encoder_hidden_size", PT_OPT_INT,
     offsetof(prefix_opts, encoder_hidden), "0", NULL,
     "hidden size of that MLP (0: the model's hidden size)", true},
    {0}};

typedef struct {
  pt_tensor *embedding;
  pt_nn_linear t0, t2;
  int64_t *layers;
} prefix_state;

static pt_status prefix_check(const void *opts, const pt_bert_config *bc) {
  const prefix_opts *o = opts;
  (void)bc;
  if (o->tokens < 1)
    return pt_error(PT_ERR_ARG, "--num-virtual-tokens must be at least 1, got %lld",
                    (long long)o->tokens);
  if (o->encoder_hidden < 0) return pt_error(PT_ERR_ARG, "--encoder-hidden-size must be >= 0");
  return PT_OK;
}

static int64_t prefix_positions(const void *opts) { return ((const prefix_opts *)opts)->tokens; }

static pt_status prefix_attach(pt_model *m, pt_rng *rng) {
  const prefix_opts *o = m->opts;
  const pt_bert_config *bc = &m->bb->bert.cfg;
  prefix_state *s = pt_model_alloc(m, sizeof *s);
  if (!s) return pt_error_code();
  m->state = s;
  s->layers = pt_model_alloc(m, sizeof(int64_t) * (size_t)bc->num_layers);
  if (!s->layers) return pt_error_code();
  for (int64_t l = 0; l < bc->num_layers; l++) s->layers[l] = l;
  int64_t H = bc->hidden_size, W = 2 * bc->num_layers * H;
  int64_t Eh = o->encoder_hidden ? o->encoder_hidden : H;
  s->embedding = method_embedding(m, "prompt_encoder.embedding.weight", o->tokens,
                                  o->projection ? H : W, 1.0, rng);
  if (!s->embedding) return pt_error_code();
  if (!o->projection) return PT_OK;
  PT_TRY(method_linear(m, &s->t0, "prompt_encoder.transform.0", H, Eh, true, INIT_TORCH, rng));
  return method_linear(m, &s->t2, "prompt_encoder.transform.2", Eh, W, true, INIT_TORCH, rng);
}

/* PrefixEncoder.forward over positions 0..P-1: [P, 2·L·H]. */
static pt_tensor *encode(const pt_model *m) {
  const prefix_opts *o = m->opts;
  const prefix_state *s = m->state;
  pt_tensor *e = method_table_rows(s->embedding);
  if (!o->projection || !e) return e;
  pt_tensor *a = pt_nn_linear_forward(&s->t0, e);
  pt_tensor *t = pt_tanh(a);
  pt_tensor *out = pt_nn_linear_forward(&s->t2, t);
  pt_tensor_free(e);
  pt_tensor_free(a);
  pt_tensor_free(t);
  return out;
}

static pt_status prefix_prepare(const pt_model *m, pt_prepared *out) {
  const prefix_state *s = m->state;
  pt_tensor *table = encode(m);
  pt_tensor *raw = table ? method_expand_rows(table, out->rows) : NULL;
  pt_tensor_free(table);
  if (!raw) return pt_error_code();
  pt_status st = method_prefix_kv(m, raw, s->layers, m->bb->bert.cfg.num_layers, 0.0, out);
  pt_tensor_free(raw);
  return st;
}

static pt_tensor *prefix_table(const pt_model *m) {
  pt_no_grad_enter();
  pt_tensor *t = encode(m);
  pt_no_grad_exit();
  return t;
}

static void prefix_bake_options(void *opts) { ((prefix_opts *)opts)->projection = false; }

static pt_status prefix_peft_config(const pt_model *m, json_t *cfg) {
  const pt_bert_config *bc = &m->bb->bert.cfg;
  const prefix_opts *o = m->opts;
  json_object_set_new(cfg, "token_dim", json_integer(bc->hidden_size));
  json_object_set_new(cfg, "num_layers", json_integer(bc->num_layers));
  json_object_set_new(cfg, "num_attention_heads", json_integer(bc->num_heads));
  json_object_set_new(cfg, "num_transformer_submodules", json_integer(1));
  json_object_set_new(cfg, "encoder_hidden_size",
                      json_integer(o->encoder_hidden ? o->encoder_hidden : bc->hidden_size));
  return PT_OK;
}

const pt_method pt_method_prefix = {
    .name = "prefix",
    .summary = "prefix tuning as peft's PREFIX_TUNING (no prefix dropout, torch's init)",
    .options = prefix_options,
    .opts_size = sizeof(prefix_opts),
    .check = prefix_check,
    .positions = prefix_positions,
    .positions_flag = "num-virtual-tokens",
    .attach = prefix_attach,
    .prepare = prefix_prepare,
    .table = prefix_table,
    .bake_options = prefix_bake_options,
    .peft_type = "PREFIX_TUNING",
    .peft_prompt_learning = true,
    .peft_config = prefix_peft_config,
};
