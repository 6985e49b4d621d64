/* BERT / RoBERTa encoder: embeddings, the layer stack, the pooler. */
#include "models/pt_bert.h"

#include <float.h>
#include <stdio.h>
#include <string.h>

#include "autograd/pt_ops.h"
#include "autograd/pt_ops_index.h"
#include "autograd/pt_ops_pointwise.h"

const char *pt_arch_name(pt_arch arch) { return arch == PT_ARCH_ROBERTA ? "roberta" : "bert"; }

void pt_bert_config_default(pt_bert_config *c, pt_arch arch) {
  memset(c, 0, sizeof *c);
  c->arch = arch;
  c->vocab_size = arch == PT_ARCH_ROBERTA ? 50265 : 30522;
  c->hidden_size = 768;
  c->num_layers = 12;
  c->num_heads = 12;
  c->intermediate_size = 3072;
  c->max_position = arch == PT_ARCH_ROBERTA ? 514 : 512;
  c->type_vocab_size = arch == PT_ARCH_ROBERTA ? 1 : 2;
  c->pad_token_id = arch == PT_ARCH_ROBERTA ? 1 : 0;
  c->layer_norm_eps = arch == PT_ARCH_ROBERTA ? 1e-5 : 1e-12;
  c->hidden_dropout = 0.1;
  c->attention_dropout = 0.1;
  c->init_std = 0.02;
}

pt_status pt_bert_config_validate(const pt_bert_config *c, const char *source) {
  const struct {
    const char *key;
    int64_t v;
  } sizes[] = {{"vocab_size", c->vocab_size},
               {"hidden_size", c->hidden_size},
               {"num_hidden_layers", c->num_layers},
               {"num_attention_heads", c->num_heads},
               {"intermediate_size", c->intermediate_size},
               {"max_position_embeddings", c->max_position},
               {"type_vocab_size", c->type_vocab_size}};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
    if (sizes[i].v <= 0 || sizes[i].v > (int64_t)1 << 31)
      return pt_error(PT_ERR_FORMAT, "%s: %s must be a positive integer, got %lld", source,
                      sizes[i].key, (long long)sizes[i].v);
  if (c->hidden_size % c->num_heads)
    return pt_error(PT_ERR_FORMAT, "%s: hidden_size %lld is not a multiple of num_attention_heads %lld",
                    source, (long long)c->hidden_size, (long long)c->num_heads);
  if (c->pad_token_id < 0 || c->pad_token_id >= c->vocab_size)
    return pt_error(PT_ERR_FORMAT, "%s: pad_token_id %lld outside the vocabulary of %lld", source,
                    (long long)c->pad_token_id, (long long)c->vocab_size);
  if (!(c->layer_norm_eps > 0) || c->hidden_dropout < 0 || c->hidden_dropout >= 1 ||
      c->attention_dropout < 0 || c->attention_dropout >= 1)
    return pt_error(PT_ERR_FORMAT, "%s: layer_norm_eps must be > 0 and dropouts in [0, 1)", source);
  return PT_OK;
}

pt_status pt_bert_init(pt_bert *m, pt_params *ps, const pt_bert_config *cfg, bool with_pooler,
                       pt_rng *rng) {
  memset(m, 0, sizeof *m);
  PT_TRY(pt_bert_config_validate(cfg, "config"));
  m->cfg = *cfg;
  m->enc = (pt_nn_encoder_config){cfg->hidden_size,    cfg->num_heads,
                                  cfg->intermediate_size, cfg->layer_norm_eps,
                                  cfg->hidden_dropout, cfg->attention_dropout,
                                  cfg->init_std};
  snprintf(m->prefix, sizeof m->prefix, "%s", pt_arch_name(cfg->arch));
  char name[256];
  int64_t H = cfg->hidden_size;
  double std = cfg->init_std;
#define NAME(...) (snprintf(name, sizeof name, __VA_ARGS__), name)
  PT_TRY(pt_nn_embedding_init(&m->word, ps, NAME("%s.embeddings.word_embeddings", m->prefix),
                              cfg->vocab_size, H, cfg->pad_token_id, rng, std));
  /* RoBERTa's position table has a padding row too (padding_idx = pad). */
  PT_TRY(pt_nn_embedding_init(&m->position, ps, NAME("%s.embeddings.position_embeddings", m->prefix),
                              cfg->max_position, H,
                              cfg->arch == PT_ARCH_ROBERTA ? cfg->pad_token_id : -1, rng, std));
  PT_TRY(pt_nn_embedding_init(&m->token_type, ps,
                              NAME("%s.embeddings.token_type_embeddings", m->prefix),
                              cfg->type_vocab_size, H, -1, rng, std));
  PT_TRY(pt_nn_layernorm_init(&m->emb_ln, ps, NAME("%s.embeddings.LayerNorm", m->prefix), H,
                              cfg->layer_norm_eps));
  m->layers = pt_alloc(sizeof(pt_nn_encoder_layer) * (size_t)cfg->num_layers);
  if (!m->layers) return pt_error(PT_ERR_NOMEM, "out of memory building %lld layers",
                                  (long long)cfg->num_layers);
  for (int64_t l = 0; l < cfg->num_layers; l++)
    PT_TRY(pt_nn_encoder_layer_init(&m->layers[l], ps, NAME("%s.encoder.layer.%lld", m->prefix,
                                                            (long long)l),
                                    &m->enc, rng));
  m->has_pooler = with_pooler;
  if (with_pooler)
    PT_TRY(pt_nn_linear_init(&m->pooler, ps, NAME("%s.pooler.dense", m->prefix), H, H, true, rng, std));
#undef NAME
  return PT_OK;
}

void pt_bert_free(pt_bert *m) {
  pt_free_bytes(m->layers);
  m->layers = NULL;
}

pt_status pt_bert_visit_linears(pt_bert *m, pt_nn_linear_visit_fn fn, void *ctx) {
  char path[256];
  for (int64_t l = 0; l < m->cfg.num_layers; l++) {
    snprintf(path, sizeof path, "%s.encoder.layer.%lld", m->prefix, (long long)l);
    PT_TRY(pt_nn_encoder_layer_visit(&m->layers[l], path, fn, ctx));
  }
  if (!m->has_pooler) return PT_OK;
  snprintf(path, sizeof path, "%s.pooler.dense", m->prefix);
  return fn(&m->pooler, path, ctx);
}

static int64_t id_at(const pt_tensor *t, int64_t i) { return (int64_t)pt_get(t, i); }

pt_tensor *pt_bert_position_ids(const pt_bert_config *cfg, const pt_tensor *ids, int64_t P) {
  int64_t B = ids->shape[0], S = ids->shape[1];
  pt_tensor *pos = pt_empty(PT_I64, 2, PT_SHAPE(B, S));
  if (!pos) return NULL;
  int64_t *p = pt_data(pos);
  for (int64_t b = 0; b < B; b++) {
    int64_t run = 0;
    for (int64_t s = 0; s < S; s++) {
      if (cfg->arch == PT_ARCH_ROBERTA) {
        bool real = id_at(ids, b * S + s) != cfg->pad_token_id;
        run += real;
        p[b * S + s] = real ? run + P + cfg->pad_token_id : cfg->pad_token_id;
      } else {
        p[b * S + s] = P + s;
      }
    }
  }
  return pos;
}

pt_tensor *pt_bert_extended_mask(const pt_tensor *attention_mask, int64_t B, int64_t S, int64_t P) {
  pt_tensor *m = pt_zeros(PT_F32, 4, PT_SHAPE(B, 1, 1, P + S));
  if (!m) return NULL;
  if (!attention_mask) return m;
  float *d = pt_data(m);
  for (int64_t b = 0; b < B; b++)
    for (int64_t s = 0; s < S; s++)
      d[b * (P + S) + P + s] = (float)((1.0 - pt_get(attention_mask, b * S + s)) * -FLT_MAX);
  return m;
}

static pt_status check_inputs(const pt_bert *m, const pt_bert_inputs *in, int64_t P) {
  const pt_tensor *ids = in->input_ids;
  char s1[96], s2[96];
  if (!ids || ids->ndim != 2 || (ids->dtype != PT_I64 && ids->dtype != PT_I32))
    return pt_error(PT_ERR_SHAPE, "bert: input_ids must be [B, S] I64, got %s",
                    ids ? pt_shape_str(ids, s1, sizeof s1) : "nothing");
  int64_t B = ids->shape[0], S = ids->shape[1];
  const pt_tensor *two[2] = {in->attention_mask, in->token_type_ids};
  const char *names[2] = {"attention_mask", "token_type_ids"};
  for (int i = 0; i < 2; i++)
    if (two[i] && (two[i]->ndim != 2 || two[i]->shape[0] != B || two[i]->shape[1] != S))
      return pt_error(PT_ERR_SHAPE, "bert: %s %s does not match input_ids %s", names[i],
                      pt_shape_str(two[i], s1, sizeof s1), pt_shape_str(ids, s2, sizeof s2));
  int64_t extra = m->cfg.arch == PT_ARCH_ROBERTA ? m->cfg.pad_token_id + 1 : 0;
  if (P + S + extra > m->cfg.max_position)
    return pt_error(PT_ERR_ARG,
                    "bert: prefix %lld + sequence %lld%s exceeds max_position_embeddings %lld",
                    (long long)P, (long long)S, extra ? " + padding offset" : "",
                    (long long)m->cfg.max_position);
  return PT_OK;
}

/* word (+ prompt) + token type + position -> LayerNorm -> dropout. */
static pt_tensor *embed(const pt_bert *m, const pt_bert_inputs *in, const pt_tensor *pos,
                        pt_nn_mode mode) {
  const pt_tensor *ids = in->input_ids;
  int64_t B = ids->shape[0], S = ids->shape[1];
  pt_tensor *word = pt_nn_embedding_forward(&m->word, ids);
  pt_tensor *types = NULL;
  int64_t total = S;
  if (in->prompt_embeds) {
    total += in->prompt_embeds->shape[1];
    pt_tensor *parts[2] = {in->prompt_embeds, word};
    pt_tensor *joined = pt_concat(2, parts, 1);
    pt_tensor_free(word);
    word = joined;
  }
  types = pt_zeros(PT_I64, 2, PT_SHAPE(B, total));
  if (types && in->token_type_ids) {
    int64_t off = total - S;
    for (int64_t b = 0; b < B; b++)
      for (int64_t s = 0; s < S; s++)
        pt_set(types, b * total + off + s, pt_get(in->token_type_ids, b * S + s));
  }
  pt_tensor *type_emb = types ? pt_nn_embedding_forward(&m->token_type, types) : NULL;
  pt_tensor *sum = pt_add(word, type_emb);
  pt_tensor *pos_emb = pt_nn_embedding_forward(&m->position, pos);
  pt_tensor *sum2 = pt_add(sum, pos_emb);
  pt_tensor *ln = pt_nn_layernorm_forward(&m->emb_ln, sum2);
  pt_tensor *out = pt_dropout(ln, m->cfg.hidden_dropout, mode.training, mode.rng);
  pt_tensor *tmp[] = {word, types, type_emb, sum, pos_emb, sum2, ln};
  for (size_t i = 0; i < sizeof tmp / sizeof tmp[0]; i++) pt_tensor_free(tmp[i]);
  return out;
}

void pt_bert_outputs_free(pt_bert_outputs *out) {
  pt_tensor_free(out->last_hidden);
  pt_tensor_free(out->pooled);
  pt_tensor_free(out->position_ids);
  for (int i = 0; i < out->n_hidden_states; i++) pt_tensor_free(out->hidden_states[i]);
  pt_free_bytes(out->hidden_states);
  memset(out, 0, sizeof *out);
}

pt_status pt_bert_forward(const pt_bert *m, const pt_bert_inputs *in, pt_nn_mode mode,
                          pt_bert_outputs *out) {
  memset(out, 0, sizeof *out);
  int64_t L = m->cfg.num_layers;
  int64_t P = 0;
  for (int64_t l = 0; in->prefix_keys && l < L; l++) {
    const pt_tensor *k = in->prefix_keys[l], *v = in->prefix_values ? in->prefix_values[l] : NULL;
    if (!k != !v || (k && (k->ndim != 4 || v->ndim != 4)))
      return pt_error(PT_ERR_SHAPE, "bert: layer %lld needs both prefix keys and values "
                      "[B, NH, P, HD], or neither", (long long)l);
    if (k && P && k->shape[2] != P)
      return pt_error(PT_ERR_SHAPE, "bert: prefix lengths differ between layers (%lld and %lld)",
                      (long long)P, (long long)k->shape[2]);
    if (k) P = k->shape[2];
  }
  int64_t prompt = in->prompt_embeds ? in->prompt_embeds->shape[1] : 0;
  PT_TRY(check_inputs(m, in, P + prompt));
  int64_t B = in->input_ids->shape[0], S = in->input_ids->shape[1];

  pt_tensor *mask_ids = NULL; /* the 0/1 mask over every key position */
  pt_tensor *pos;
  if (prompt) {
    /* HF computes positions from inputs_embeds: 0..P+S-1 (RoBERTa: offset
     * by pad+1, no padding rule); the prompt positions are always visible. */
    pos = pt_empty(PT_I64, 2, PT_SHAPE(B, prompt + S));
    int64_t base = m->cfg.arch == PT_ARCH_ROBERTA ? m->cfg.pad_token_id + 1 : 0;
    for (int64_t b = 0; pos && b < B; b++)
      for (int64_t s = 0; s < prompt + S; s++) pt_set(pos, b * (prompt + S) + s, (double)(base + s));
    mask_ids = pt_ones(PT_F32, 2, PT_SHAPE(B, prompt + S));
    if (mask_ids && in->attention_mask)
      for (int64_t b = 0; b < B; b++)
        for (int64_t s = 0; s < S; s++)
          pt_set(mask_ids, b * (prompt + S) + prompt + s, pt_get(in->attention_mask, b * S + s));
  } else {
    pos = pt_bert_position_ids(&m->cfg, in->input_ids, P);
  }
  pt_tensor *mask = !prompt || mask_ids
                        ? pt_bert_extended_mask(prompt ? mask_ids : in->attention_mask, B,
                                                S + prompt, P)
                        : NULL;
  pt_tensor_free(mask_ids);
  /* layers without a prefix see the sequence's part of the mask */
  pt_tensor *seq_mask = P && mask ? pt_narrow(mask, 3, P, S + prompt) : NULL;
  pt_tensor *h = pos && mask ? embed(m, in, pos, mode) : NULL;
  if (in->keep_hidden_states && h) {
    out->hidden_states = pt_alloc(sizeof(pt_tensor *) * (size_t)(L + 1));
    if (!out->hidden_states) {
      pt_tensor_free(h);
      h = NULL;
    } else {
      memset(out->hidden_states, 0, sizeof(pt_tensor *) * (size_t)(L + 1));
      out->n_hidden_states = (int)L + 1;
      out->hidden_states[0] = pt_tensor_ref(h);
    }
  }
  for (int64_t l = 0; l < L && h; l++) {
    pt_tensor *pk = in->prefix_keys ? in->prefix_keys[l] : NULL;
    pt_tensor *pv = in->prefix_values ? in->prefix_values[l] : NULL;
    pt_tensor *next = pt_nn_encoder_layer_forward(&m->layers[l], &m->enc, h, pk, pv,
                                                  pk || !P ? mask : seq_mask, mode);
    pt_tensor_free(h);
    h = next;
    if (out->hidden_states) out->hidden_states[l + 1] = pt_tensor_ref(h);
  }
  pt_tensor_free(mask);
  pt_tensor_free(seq_mask);
  out->position_ids = pos;
  out->last_hidden = h;
  if (h && m->has_pooler) {
    pt_tensor *first = pt_narrow(h, 1, 0, 1);
    pt_tensor *cls = pt_squeeze(first, 1);
    pt_tensor *d = pt_nn_linear_forward(&m->pooler, cls);
    out->pooled = pt_tanh(d);
    pt_tensor_free(first);
    pt_tensor_free(cls);
    pt_tensor_free(d);
    if (!out->pooled) h = NULL;
  }
  if (!h) { /* what failed recorded why */
    pt_status st = pt_error_code();
    pt_bert_outputs_free(out);
    return st;
  }
  return PT_OK;
}
