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

/* Where each row's pieces sit in the embedded sequence of T positions: its
 * prompt (prompt[b] <= Pm vectors) first, its S text tokens next, filler
 * after them. Uniform batches have prompt[b] = Pm, no filler and T = Pm + S;
 * pt_bert_rows.width may make T shorter (the rows' padding past it is
 * dropped). offset[b] is the row's prefix length (its text positions start
 * there when it has no prompt). */
typedef struct {
  int64_t B, S, T, Pm, P;
  int64_t *prompt, *offset; /* [B] each */
  bool gather;              /* some row's prompt is shorter than Pm */
} row_layout;

static pt_status layout_rows(const pt_bert *m, const pt_bert_inputs *in, int64_t P,
                             row_layout *lay) {
  const pt_bert_rows *rows = in->rows;
  int64_t B = in->input_ids->shape[0], L = m->cfg.num_layers;
  int64_t Pm = in->prompt_embeds ? in->prompt_embeds->shape[1] : 0;
  *lay = (row_layout){B, in->input_ids->shape[1], 0, Pm, P, NULL, NULL, false};
  lay->T = Pm + lay->S;
  lay->prompt = pt_alloc(sizeof(int64_t) * (size_t)(2 * B));
  if (!lay->prompt) return pt_error_code();
  lay->offset = lay->prompt + B;
  for (int64_t b = 0; b < B; b++) {
    int64_t p = rows && rows->prompt ? rows->prompt[b] : Pm, off = 0;
    for (int64_t l = 0; l < L; l++) {
      int64_t v = !in->prefix_keys || !in->prefix_keys[l] ? 0
                  : rows && rows->prefix                  ? rows->prefix[l * B + b]
                                                          : P;
      if (v < 0 || v > P) return pt_error(PT_ERR_ARG, "bert: row %lld sees %lld prefix keys at "
                                          "layer %lld, outside [0, %lld]", (long long)b,
                                          (long long)v, (long long)l, (long long)P);
      if (v > off) off = v;
    }
    if (p < 0 || p > Pm)
      return pt_error(PT_ERR_ARG, "bert: row %lld has a prompt of %lld vectors, outside [0, %lld]",
                      (long long)b, (long long)p, (long long)Pm);
    lay->prompt[b] = p;
    lay->offset[b] = off;
    lay->gather |= p != Pm;
  }
  if (rows && rows->width) {
    if (rows->width < 1 || rows->width > lay->T)
      return pt_error(PT_ERR_ARG, "bert: rows' width %lld is outside [1, %lld]",
                      (long long)rows->width, (long long)lay->T);
    for (int64_t b = 0; b < B; b++) { /* its text must fit: nothing unmasked past T */
      int64_t len = lay->S;
      while (in->attention_mask && len > 0 && !pt_get(in->attention_mask, b * lay->S + len - 1))
        len--;
      if (lay->prompt[b] + len > rows->width)
        return pt_error(PT_ERR_ARG, "bert: row %lld's prompt %lld + text %lld exceeds the rows' "
                        "width %lld", (long long)b, (long long)lay->prompt[b], (long long)len,
                        (long long)rows->width);
    }
    lay->T = rows->width;
    lay->gather |= lay->T != Pm + lay->S;
  }
  return PT_OK;
}

/* Position ids [B, T]: a row with a prompt counts from the first prompt
 * vector (HF computes them from inputs_embeds: 0..T-1, RoBERTa offset by
 * pad+1, no padding rule); a row without one as pt_bert_position_ids with
 * its own prefix offset, its filler as padding. */
static pt_tensor *layout_positions(const pt_bert_config *cfg, const pt_tensor *ids,
                                   const row_layout *lay) {
  pt_tensor *pos = pt_empty(PT_I64, 2, PT_SHAPE(lay->B, lay->T));
  if (!pos) return NULL;
  int64_t *p = pt_data(pos), S = lay->S, T = lay->T;
  bool roberta = cfg->arch == PT_ARCH_ROBERTA;
  int64_t pad = cfg->pad_token_id, base = roberta ? pad + 1 : 0;
  for (int64_t b = 0; b < lay->B; b++) {
    int64_t *row = p + b * T, off = lay->offset[b], run = 0;
    for (int64_t j = 0; j < T; j++) {
      if (lay->prompt[b] || !roberta) {
        row[j] = lay->prompt[b] ? base + j : off + j;
        continue;
      }
      bool real = j < S && (int64_t)pt_get(ids, b * S + j) != pad;
      run += real;
      row[j] = real ? run + off + pad : pad;
    }
  }
  return pos;
}

pt_tensor *pt_bert_position_ids(const pt_bert_config *cfg, const pt_tensor *ids, int64_t P) {
  int64_t B = ids->shape[0], S = ids->shape[1];
  int64_t *rows = pt_alloc(sizeof(int64_t) * (size_t)(2 * B));
  if (!rows) return NULL;
  for (int64_t b = 0; b < B; b++) rows[b] = 0, rows[B + b] = P;
  row_layout lay = {B, S, S, 0, P, rows, rows + B, false};
  pt_tensor *pos = layout_positions(cfg, ids, &lay);
  pt_free_bytes(rows);
  return pos;
}

/* The 0/1 mask [B, T] over the embedded positions (prompt visible, text as
 * attention_mask says, filler hidden) and the type ids [B, T] (the text's,
 * 0 elsewhere). */
static pt_status layout_mask_types(const pt_bert_inputs *in, const row_layout *lay,
                                   pt_tensor **mask01, pt_tensor **types) {
  *mask01 = pt_zeros(PT_F32, 2, PT_SHAPE(lay->B, lay->T));
  *types = pt_zeros(PT_I64, 2, PT_SHAPE(lay->B, lay->T));
  if (!*mask01 || !*types) return pt_error_code();
  float *mk = pt_data(*mask01);
  int64_t *ty = pt_data(*types), S = lay->S, T = lay->T;
  for (int64_t b = 0; b < lay->B; b++) {
    int64_t p = lay->prompt[b];
    for (int64_t j = 0; j < p; j++) mk[b * T + j] = 1;
    for (int64_t s = 0; s < S && p + s < T; s++) { /* past T: masked padding */
      mk[b * T + p + s] = in->attention_mask ? (float)pt_get(in->attention_mask, b * S + s) : 1;
      if (in->token_type_ids) ty[b * T + p + s] = (int64_t)pt_get(in->token_type_ids, b * S + s);
    }
  }
  return PT_OK;
}

/* [prompt ; word embeddings] [B, Pm + S, H] rearranged so that each row's
 * text follows its own prompt: row b, position j reads slot j of its
 * prompt (j < prompt[b]), text token j - prompt[b], or, as filler, its
 * last slot (the gradient it gets back is zero: filler is never read). */
static pt_tensor *layout_gather(pt_tensor *joined, const row_layout *lay) {
  int64_t B = lay->B, T = lay->T, J = lay->Pm + lay->S, H = joined->shape[2];
  pt_tensor *idx = pt_empty(PT_I64, 1, PT_SHAPE(B * T));
  if (!idx) return NULL;
  int64_t *ix = pt_data(idx);
  for (int64_t b = 0; b < B; b++)
    for (int64_t j = 0; j < T; j++) {
      int64_t p = lay->prompt[b];
      int64_t src = j < p ? j : j < p + lay->S ? lay->Pm + (j - p) : J - 1;
      ix[b * T + j] = b * J + src;
    }
  pt_tensor *flat = pt_view(joined, 2, PT_SHAPE(B * J, H));
  pt_tensor *rows = pt_index_select(flat, 0, idx);
  pt_tensor *out = pt_view(rows, 3, PT_SHAPE(B, T, H));
  pt_tensor_free(idx);
  pt_tensor_free(flat);
  pt_tensor_free(rows);
  return out;
}

/* word (+ prompt) + token type + position -> LayerNorm -> dropout. */
static pt_tensor *embed(const pt_bert *m, const pt_bert_inputs *in, const row_layout *lay,
                        const pt_tensor *pos, const pt_tensor *types, pt_nn_mode mode) {
  pt_tensor *word = pt_nn_embedding_forward(&m->word, in->input_ids);
  if (in->prompt_embeds && word) {
    pt_tensor *parts[2] = {in->prompt_embeds, word};
    pt_tensor *joined = pt_concat(2, parts, 1);
    pt_tensor_free(word);
    word = lay->gather && joined ? layout_gather(joined, lay) : pt_tensor_ref(joined);
    pt_tensor_free(joined);
  }
  pt_tensor *type_emb = pt_nn_embedding_forward(&m->token_type, types);
  pt_tensor *sum = pt_add(word, type_emb);
  pt_tensor *pos_emb = pt_nn_embedding_forward(&m->position, pos);
  pt_tensor *sum2 = pt_add(sum, pos_emb);
  pt_tensor *ln = pt_nn_layernorm_forward(&m->emb_ln, sum2);
  pt_tensor *out = pt_dropout(ln, m->cfg.hidden_dropout, mode.training, mode.rng);
  pt_tensor *tmp[] = {word, type_emb, sum, pos_emb, sum2, ln};
  for (size_t i = 0; i < sizeof tmp / sizeof tmp[0]; i++) pt_tensor_free(tmp[i]);
  return out;
}

/* The additive mask of layer l when rows see fewer prefix keys than P
 * (mixed batches): `full`'s copy with prefix keys j >= prefix[l·B+b] hidden;
 * a new reference to `full` when every row sees them all. */
static pt_tensor *layer_mask(pt_tensor *full, const pt_bert_inputs *in, const row_layout *lay,
                             int64_t l) {
  const int64_t *vis = in->rows && in->rows->prefix ? in->rows->prefix + l * lay->B : NULL;
  bool all = true;
  for (int64_t b = 0; vis && b < lay->B; b++) all &= vis[b] == lay->P;
  if (all) return pt_tensor_ref(full);
  pt_tensor *mask = pt_raw_clone(full);
  if (!mask) return NULL;
  float *d = pt_data(mask);
  int64_t width = lay->P + lay->T;
  for (int64_t b = 0; b < lay->B; b++)
    for (int64_t j = vis[b]; j < lay->P; j++) d[b * width + j] = -FLT_MAX;
  return mask;
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
  int64_t B = in->input_ids->shape[0];
  if (prompt && (in->prompt_embeds->ndim != 3 || in->prompt_embeds->shape[0] != B))
    return pt_error(PT_ERR_SHAPE, "bert: prompt_embeds must be [B, P, H] with B = %lld",
                    (long long)B);

  row_layout lay;
  pt_status st = layout_rows(m, in, P, &lay);
  pt_tensor *pos = NULL, *mask01 = NULL, *types = NULL, *mask = NULL, *seq_mask = NULL, *h = NULL;
  if (st == PT_OK) st = layout_mask_types(in, &lay, &mask01, &types);
  if (st == PT_OK) {
    pos = layout_positions(&m->cfg, in->input_ids, &lay);
    /* prefix keys visible, the embedded positions as mask01 says */
    mask = pt_bert_extended_mask(mask01, B, lay.T, P);
    /* layers without a prefix see the sequence's part of the mask */
    seq_mask = P && mask ? pt_narrow(mask, 3, P, lay.T) : NULL;
    h = pos && mask && (!P || seq_mask) ? embed(m, in, &lay, pos, types, mode) : NULL;
  }
  pt_tensor_free(mask01);
  pt_tensor_free(types);
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
    pt_tensor *lmask = pk ? layer_mask(mask, in, &lay, l) : pt_tensor_ref(P ? seq_mask : mask);
    pt_tensor *next = lmask ? pt_nn_encoder_layer_forward(&m->layers[l], &m->enc, h, pk, pv,
                                                          lmask, mode)
                            : NULL;
    pt_tensor_free(lmask);
    pt_tensor_free(h);
    h = next;
    if (out->hidden_states) out->hidden_states[l + 1] = pt_tensor_ref(h);
  }
  pt_tensor_free(mask);
  pt_tensor_free(seq_mask);
  pt_free_bytes(lay.prompt);
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
    st = st != PT_OK ? st : pt_error_code();
    pt_bert_outputs_free(out);
    return st;
  }
  return PT_OK;
}
