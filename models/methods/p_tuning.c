/* p-tuning: P-tuning (Liu et al. 2021, "GPT understands, too") as peft's
 * P_TUNING (tuners/p_tuning/model.py PromptEncoder): P prompt vectors
 * computed by a prompt encoder from an embedding prompt_encoder.embedding
 * [P, H] and prepended to the word embeddings as prompt tuning's are:
 *   MLP   mlp_head: Linear(H, E) → ReLU → Linear(E, E) → ReLU → Linear(E, H)
 *   LSTM  lstm_head: a bidirectional LSTM of encoder_num_layers layers
 *         (hidden E, dropout encoder_dropout between layers) →
 *         mlp_head: Linear(2E, 2E) → ReLU → Linear(2E, H)
 * with E = encoder_hidden_size (default H) and torch's default init
 * (embedding N(0, 1); linears U(±1/√in); LSTM U(±1/√E)). The encoder runs
 * once per batch and its output is repeated for every row, as peft does.
 * Unlike peft, ptune's adapter keeps the encoder, so training can go on; a
 * baked model (peft's files, --save-format peft) holds only the table. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "autograd/pt_autograd.h"
#include "autograd/pt_ops.h"
#include "autograd/pt_ops_index.h"
#include "autograd/pt_ops_pointwise.h"
#include "autograd/pt_ops_rnn.h"
#include "models/methods/common.h"

typedef struct {
  int64_t tokens;
  char *type; /* MLP | LSTM */
  int64_t hidden;
  int64_t layers;
  double dropout;
  bool baked;
} ptuning_opts;

static const pt_option ptuning_options[] = {
    {"num-virtual-tokens", "num_virtual_tokens", PT_OPT_INT, offsetof(ptuning_opts, tokens), "16",
     NULL, "prompt length P: vectors prepended to the input", true},
    {"encoder-type", "encoder_reparameterization_type", PT_OPT_CHOICE,
     offsetof(ptuning_opts, type), "MLP", "MLP|LSTM", "the prompt encoder", true},
    {"encoder-hidden-size", "encoder_hidden_size", PT_OPT_INT, offsetof(ptuning_opts, hidden), "0",
     NULL, "the prompt encoder's hidden size (0: the model's)", true},
    {"encoder-num-layers", "encoder_num_layers", PT_OPT_INT, offsetof(ptuning_opts, layers), "2",
     NULL, "LSTM layers", true},
    {"encoder-dropout", "encoder_dropout", PT_OPT_REAL, offsetof(ptuning_opts, dropout), "0", NULL,
     "dropout between the LSTM's layers", true},
    {NULL, "baked", PT_OPT_BOOL, offsetof(ptuning_opts, baked), "false", NULL,
     "the encoder is folded into the embedding (a baked export)", false},
    {0}};

typedef struct {
  pt_tensor *w_ih, *w_hh, *b_ih, *b_hh;
} lstm_dir;

typedef struct {
  pt_tensor *embedding;
  pt_nn_linear mlp[3];
  int nmlp;
  lstm_dir *lstm; /* [layers][2]: forward, reverse */
} ptuning_state;

static pt_status ptuning_check(const void *opts, const pt_bert_config *bc) {
  const ptuning_opts *o = opts;
  (void)bc;
  if (o->tokens < 1)
    return pt_error(PT_ERR_ARG, "--num-virtual-tokens must be at least 1, got %lld",
                    (long long)o->tokens);
  if (o->hidden < 0) return pt_error(PT_ERR_ARG, "--encoder-hidden-size must be >= 0");
  if (!strcmp(o->type, "LSTM") && o->layers < 1)
    return pt_error(PT_ERR_ARG, "--encoder-num-layers must be at least 1 for the LSTM");
  if (!(o->dropout >= 0 && o->dropout < 1))
    return pt_error(PT_ERR_ARG, "--encoder-dropout must be in [0, 1)");
  return PT_OK;
}

static int64_t ptuning_positions(const void *opts) { return ((const ptuning_opts *)opts)->tokens; }

static pt_tensor *lstm_param(pt_model *m, const char *what, int64_t l, bool reverse, int ndim,
                             const int64_t *shape, double bound, pt_rng *rng) {
  char name[160];
  snprintf(name, sizeof name, "prompt_encoder.lstm_head.%s_l%lld%s", what, (long long)l,
           reverse ? "_reverse" : "");
  pt_tensor *t = pt_model_param(m, name, ndim, shape, false);
  if (t && pt_rng_fill_uniform(rng, t, -bound, bound) != PT_OK) return NULL;
  return t;
}

static pt_status ptuning_attach(pt_model *m, pt_rng *rng) {
  const ptuning_opts *o = m->opts;
  int64_t H = m->bb->bert.cfg.hidden_size, E = o->hidden ? o->hidden : H;
  ptuning_state *s = pt_model_alloc(m, sizeof *s);
  if (!s) return pt_error_code();
  m->state = s;
  s->embedding = method_embedding(m, "prompt_encoder.embedding.weight", o->tokens, H, 1.0, rng);
  if (!s->embedding) return pt_error_code();
  if (o->baked) return PT_OK;
  if (!strcmp(o->type, "MLP")) {
    s->nmlp = 3;
    PT_TRY(method_linear(m, &s->mlp[0], "prompt_encoder.mlp_head.0", H, E, true, INIT_TORCH, rng));
    PT_TRY(method_linear(m, &s->mlp[1], "prompt_encoder.mlp_head.2", E, E, true, INIT_TORCH, rng));
    return method_linear(m, &s->mlp[2], "prompt_encoder.mlp_head.4", E, H, true, INIT_TORCH, rng);
  }
  s->lstm = pt_model_alloc(m, sizeof(lstm_dir) * (size_t)(2 * o->layers));
  if (!s->lstm) return pt_error_code();
  double bound = 1.0 / sqrt((double)E);
  for (int64_t l = 0; l < o->layers; l++)
    for (int r = 0; r < 2; r++) { /* torch's order: each layer's forward, then its reverse */
      lstm_dir *d = &s->lstm[2 * l + r];
      int64_t in = l ? 2 * E : H;
      d->w_ih = lstm_param(m, "weight_ih", l, r, 2, PT_SHAPE(4 * E, in), bound, rng);
      d->w_hh = lstm_param(m, "weight_hh", l, r, 2, PT_SHAPE(4 * E, E), bound, rng);
      d->b_ih = lstm_param(m, "bias_ih", l, r, 1, PT_SHAPE(4 * E), bound, rng);
      d->b_hh = lstm_param(m, "bias_hh", l, r, 1, PT_SHAPE(4 * E), bound, rng);
      if (!d->w_ih || !d->w_hh || !d->b_ih || !d->b_hh) return pt_error_code();
    }
  s->nmlp = 2;
  PT_TRY(method_linear(m, &s->mlp[0], "prompt_encoder.mlp_head.0", 2 * E, 2 * E, true, INIT_TORCH,
                       rng));
  return method_linear(m, &s->mlp[1], "prompt_encoder.mlp_head.2", 2 * E, H, true, INIT_TORCH, rng);
}

/* The bidirectional LSTM stack over x [1, P, H] -> [1, P, 2E]. */
static pt_tensor *run_lstm(const pt_model *m, pt_tensor *x, pt_nn_mode mode) {
  const ptuning_opts *o = m->opts;
  const ptuning_state *s = m->state;
  pt_tensor *cur = pt_tensor_ref(x);
  for (int64_t l = 0; l < o->layers && cur; l++) {
    if (l) { /* torch.nn.LSTM's dropout: on every layer's output but the last */
      pt_tensor *d = pt_dropout(cur, o->dropout, mode.training, mode.rng);
      pt_tensor_free(cur);
      cur = d;
    }
    const lstm_dir *f = &s->lstm[2 * l], *r = &s->lstm[2 * l + 1];
    pt_tensor *parts[2] = {pt_lstm(cur, f->w_ih, f->w_hh, f->b_ih, f->b_hh, false),
                           pt_lstm(cur, r->w_ih, r->w_hh, r->b_ih, r->b_hh, true)};
    pt_tensor_free(cur);
    cur = parts[0] && parts[1] ? pt_concat(2, parts, 2) : NULL;
    pt_tensor_free(parts[0]);
    pt_tensor_free(parts[1]);
  }
  return cur;
}

/* PromptEncoder.forward over positions 0..P-1: [P, H]. */
static pt_tensor *encode(const pt_model *m, pt_nn_mode mode) {
  const ptuning_opts *o = m->opts;
  const ptuning_state *s = m->state;
  pt_tensor *e = method_table_rows(s->embedding);
  if (o->baked || !e) return e;
  pt_tensor *x = e;
  if (s->lstm) {
    pt_tensor *u = pt_unsqueeze(e, 0);
    pt_tensor *h = u ? run_lstm(m, u, mode) : NULL;
    x = h ? pt_squeeze(h, 0) : NULL;
    pt_tensor_free(u);
    pt_tensor_free(h);
    pt_tensor_free(e);
  }
  for (int i = 0; i < s->nmlp && x; i++) {
    pt_tensor *y = pt_nn_linear_forward(&s->mlp[i], x);
    pt_tensor_free(x);
    x = y;
    if (i + 1 < s->nmlp && x) {
      y = pt_relu(x);
      pt_tensor_free(x);
      x = y;
    }
  }
  return x;
}

static pt_status ptuning_prepare(const pt_model *m, pt_prepared *out) {
  pt_tensor *table = encode(m, out->mode);
  out->prompt = table ? method_expand_rows(table, out->rows) : NULL;
  pt_tensor_free(table);
  return out->prompt ? PT_OK : pt_error_code();
}

static pt_tensor *ptuning_table(const pt_model *m) {
  pt_no_grad_enter();
  pt_tensor *t = encode(m, (pt_nn_mode){false, NULL});
  pt_no_grad_exit();
  return t;
}

static void ptuning_bake_options(void *opts) { ((ptuning_opts *)opts)->baked = true; }

static pt_status ptuning_peft_config(const pt_model *m, json_t *cfg) {
  const pt_bert_config *bc = &m->bb->bert.cfg;
  const ptuning_opts *o = m->opts;
  json_object_set_new(cfg, "token_dim", json_integer(bc->hidden_size));
  json_object_set_new(cfg, "num_layers", json_integer(bc->num_layers));
  json_object_set_new(cfg, "num_attention_heads", json_integer(bc->num_heads));
  json_object_set_new(cfg, "num_transformer_submodules", json_integer(1));
  json_object_set_new(cfg, "encoder_hidden_size",
                      json_integer(o->hidden ? o->hidden : bc->hidden_size));
  return PT_OK;
}

const pt_method pt_method_p_tuning = {
    .name = "p-tuning",
    .summary = "P-tuning: prompt vectors from an MLP or LSTM prompt encoder (peft's P_TUNING)",
    .options = ptuning_options,
    .opts_size = sizeof(ptuning_opts),
    .check = ptuning_check,
    .positions = ptuning_positions,
    .positions_flag = "num-virtual-tokens",
    .prompt = true,
    .attach = ptuning_attach,
    .prepare = ptuning_prepare,
    .table = ptuning_table,
    .bake_options = ptuning_bake_options,
    .peft_type = "P_TUNING",
    .peft_prompt_learning = true,
    .peft_config = ptuning_peft_config,
};
