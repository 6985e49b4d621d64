/* ptv2: P-Tuning v2 (Liu et al. 2021) as THUDM/P-tuning-v2 builds it: a
 * trainable prefix of P keys and values at every layer of the frozen
 * encoder, from
 *   prefix_encoder.embedding  Embedding(P, 2·L·H), or with the
 *   reparameterization MLP: Embedding(P, H) → trans.0 Linear(H, Ph) → tanh
 *                           → trans.2 Linear(Ph, 2·L·H)
 * (HF initialization), dropout (the encoder's hidden dropout) on every
 * batch row's copy, keys at 2l and values at 2l+1 (model/prefix_encoder.py,
 * get_prompt). Positions of the text are offset by P.
 *
 * --prefix-layers chooses the layers that get a prefix (the paper's
 * prompt-depth ablation): "all", "top:K", "bottom:K" or a list "0,2,3";
 * the table then holds 2·K·H columns, in layer order, and the other layers
 * attend to the text alone.
 *
 * peft has no THUDM variant; its PREFIX_TUNING computes the same model in
 * evaluation (it has no prefix dropout), so a ptv2 adapter is written in
 * peft's layout as a prefix-tuning one holding the baked table (only with
 * a prefix on every layer). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/pt_autograd.h"
#include "autograd/pt_ops_pointwise.h"
#include "models/methods/common.h"
#include "nn/pt_json.h"

typedef struct {
  int64_t pre_seq_len;
  bool projection;
  int64_t prefix_hidden;
  char *layers;
} ptv2_opts;

static const pt_option ptv2_options[] = {
    {"pre-seq-len", "pre_seq_len", PT_OPT_INT, offsetof(ptv2_opts, pre_seq_len), "16", NULL,
     "prefix length P: keys and values prepended at every layer", false},
    {"prefix-projection", "prefix_projection", PT_OPT_BOOL, offsetof(ptv2_opts, projection),
     "false", NULL, "reparameterize the prefix with a two-layer tanh MLP", false},
    {"prefix-hidden-size", "prefix_hidden_size", PT_OPT_INT, offsetof(ptv2_opts, prefix_hidden),
     "512", NULL, "hidden size of that MLP", false},
    {"prefix-layers", "prefix_layers", PT_OPT_STRING, offsetof(ptv2_opts, layers), "all", NULL,
     "layers with a prefix: all, top:K, bottom:K or a list like 0,2,3 (prompt depth)", false},
    {0}};

typedef struct {
  int64_t *layers; /* the layers with a prefix, ascending */
  int64_t k;
  pt_nn_embedding embedding;
  pt_nn_linear trans0, trans2;
} ptv2_state;

/* Resolves --prefix-layers for L layers into out[] (ascending, distinct);
 * returns how many, or -1 with the error set. */
static int64_t resolve_layers(const char *spec, int64_t L, int64_t *out) {
  int64_t k = 0;
  long v;
  char *end;
  if (!strcmp(spec, "all")) {
    for (int64_t l = 0; l < L; l++) out[k++] = l;
    return k;
  }
  bool top = !strncmp(spec, "top:", 4), bottom = !strncmp(spec, "bottom:", 7);
  if (top || bottom) {
    v = strtol(spec + (top ? 4 : 7), &end, 10);
    if (*end || v < 1 || v > L) {
      pt_error(PT_ERR_ARG, "--prefix-layers: '%s': K must be in [1, %lld]", spec, (long long)L);
      return -1;
    }
    for (int64_t i = 0; i < v; i++) out[k++] = top ? L - v + i : i;
    return k;
  }
  bool seen[1024] = {false};
  for (const char *p = spec;;) {
    v = strtol(p, &end, 10);
    if (end == p || v < 0 || v >= L || v >= 1024 || (*end && *end != ',')) {
      pt_error(PT_ERR_ARG, "--prefix-layers: '%s' is not all, top:K, bottom:K or a list of "
               "layers in [0, %lld)", spec, (long long)L);
      return -1;
    }
    if (seen[v]) {
      pt_error(PT_ERR_ARG, "--prefix-layers: layer %ld given twice", v);
      return -1;
    }
    seen[v] = true;
    if (!*end) break;
    p = end + 1;
  }
  for (int64_t l = 0; l < L && l < 1024; l++)
    if (seen[l]) out[k++] = l;
  return k;
}

static pt_status ptv2_check(const void *opts, const pt_bert_config *bc) {
  const ptv2_opts *o = opts;
  if (o->pre_seq_len < 1)
    return pt_error(PT_ERR_ARG, "--pre-seq-len must be at least 1, got %lld",
                    (long long)o->pre_seq_len);
  if (o->projection && o->prefix_hidden < 1)
    return pt_error(PT_ERR_ARG, "--prefix-hidden-size must be at least 1");
  int64_t *scratch = malloc(sizeof(int64_t) * (size_t)bc->num_layers);
  if (!scratch) return pt_error(PT_ERR_NOMEM, "ptv2: out of memory");
  int64_t k = resolve_layers(o->layers ? o->layers : "all", bc->num_layers, scratch);
  free(scratch);
  return k < 0 ? pt_error_code() : PT_OK;
}

static int64_t ptv2_positions(const void *opts) { return ((const ptv2_opts *)opts)->pre_seq_len; }

static pt_status ptv2_attach(pt_model *m, pt_rng *rng) {
  const ptv2_opts *o = m->opts;
  const pt_bert_config *bc = &m->bb->bert.cfg;
  ptv2_state *s = pt_model_alloc(m, sizeof *s);
  if (!s) return pt_error_code();
  m->state = s;
  s->layers = pt_model_alloc(m, sizeof(int64_t) * (size_t)bc->num_layers);
  if (!s->layers) return pt_error_code();
  s->k = resolve_layers(o->layers, bc->num_layers, s->layers);
  if (s->k < 0) return pt_error_code();
  int64_t H = bc->hidden_size, P = o->pre_seq_len, W = 2 * s->k * H;
  double std = bc->init_std;
  s->embedding.padding_idx = -1;
  s->embedding.weight = method_embedding(m, "prefix_encoder.embedding.weight", P,
                                         o->projection ? H : W, std, rng);
  if (!s->embedding.weight) return pt_error_code();
  if (!o->projection) return PT_OK;
  PT_TRY(method_linear(m, &s->trans0, "prefix_encoder.trans.0", H, o->prefix_hidden, true, INIT_HF,
                       rng));
  return method_linear(m, &s->trans2, "prefix_encoder.trans.2", o->prefix_hidden, W, true, INIT_HF,
                       rng);
}

/* The prefix encoder's output for positions 0..P-1: [P, 2·K·H]. */
static pt_tensor *prefix_table(const pt_model *m) {
  const ptv2_opts *o = m->opts;
  const ptv2_state *s = m->state;
  pt_tensor *e = method_table_rows(s->embedding.weight);
  if (!o->projection || !e) return e;
  pt_tensor *a = pt_nn_linear_forward(&s->trans0, e);
  pt_tensor *t = pt_tanh(a);
  pt_tensor *out = pt_nn_linear_forward(&s->trans2, t);
  pt_tensor_free(e);
  pt_tensor_free(a);
  pt_tensor_free(t);
  return out;
}

static pt_status ptv2_prepare(const pt_model *m, pt_prepared *out) {
  const ptv2_state *s = m->state;
  pt_tensor *table = prefix_table(m);
  pt_tensor *raw = table ? method_expand_rows(table, out->rows) : NULL;
  pt_tensor_free(table);
  if (!raw) return pt_error_code();
  pt_status st = method_prefix_kv(m, raw, s->layers, s->k, m->bb->bert.cfg.hidden_dropout, out);
  pt_tensor_free(raw);
  return st;
}

static pt_tensor *ptv2_table(const pt_model *m) {
  pt_no_grad_enter();
  pt_tensor *t = prefix_table(m);
  pt_no_grad_exit();
  return t;
}

static void ptv2_bake_options(void *opts) { ((ptv2_opts *)opts)->projection = false; }

/* peft's PREFIX_TUNING keys for the baked table (a prefix on every layer). */
static pt_status ptv2_peft_config(const pt_model *m, json_t *cfg) {
  const ptv2_opts *o = m->opts;
  const ptv2_state *s = m->state;
  const pt_bert_config *bc = &m->bb->bert.cfg;
  if (s->k != bc->num_layers)
    return pt_error(PT_ERR_ARG, "ptv2 with --prefix-layers %s has no peft layout (peft puts a "
                    "prefix on every layer): save it in ptune's format", o->layers);
  json_object_set_new(cfg, "num_virtual_tokens", json_integer(o->pre_seq_len));
  json_object_set_new(cfg, "token_dim", json_integer(bc->hidden_size));
  json_object_set_new(cfg, "num_layers", json_integer(bc->num_layers));
  json_object_set_new(cfg, "num_attention_heads", json_integer(bc->num_heads));
  json_object_set_new(cfg, "num_transformer_submodules", json_integer(1));
  json_object_set_new(cfg, "prefix_projection", json_false());
  json_object_set_new(cfg, "encoder_hidden_size", json_integer(bc->hidden_size));
  return PT_OK;
}

static pt_status ptv2_peft_read(void *opts, const json_t *cfg, const char *path) {
  ptv2_opts *o = opts;
  return pt_json_int_or(cfg, path, "num_virtual_tokens", o->pre_seq_len, &o->pre_seq_len);
}

const pt_method pt_method_ptv2 = {
    .name = "ptv2",
    .summary = "P-Tuning v2: trainable prefix keys/values at every layer (THUDM's layout)",
    .options = ptv2_options,
    .opts_size = sizeof(ptv2_opts),
    .check = ptv2_check,
    .positions = ptv2_positions,
    .positions_flag = "pre-seq-len",
    .attach = ptv2_attach,
    .prepare = ptv2_prepare,
    .table = ptv2_table,
    .bake_options = ptv2_bake_options,
    .peft_type = "PREFIX_TUNING",
    .peft_prompt_learning = true,
    .peft_alias = true,
    .peft_config = ptv2_peft_config,
    .peft_read = ptv2_peft_read,
};
