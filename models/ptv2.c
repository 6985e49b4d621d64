/* P-Tuning v2 / prompt tuning / fine-tuning task models and their heads. */
#include "models/pt_ptv2.h"

#include <stdio.h>
#include <string.h>

#include "autograd/pt_autograd.h"
#include "autograd/pt_ops.h"
#include "autograd/pt_ops_index.h"
#include "autograd/pt_ops_norm.h"
#include "autograd/pt_ops_pointwise.h"

static const char *const method_names[] = {"ptv2", "prompt", "finetune"};

const char *pt_method_name(pt_peft_method m) { return method_names[m]; }

pt_status pt_method_parse(const char *s, pt_peft_method *out) {
  for (int i = 0; i < 3; i++)
    if (!strcmp(s, method_names[i])) return *out = (pt_peft_method)i, PT_OK;
  return pt_error(PT_ERR_ARG, "unknown method '%s' (ptv2, prompt or finetune)", s);
}

pt_status pt_ptv2_model_init(pt_ptv2_model *m, const pt_bert_config *bc, const pt_ptv2_config *cfg,
                             uint64_t seed) {
  memset(m, 0, sizeof *m);
  m->cfg = *cfg;
  if (cfg->method != PT_METHOD_FINETUNE && cfg->pre_seq_len <= 0)
    return pt_error(PT_ERR_ARG, "%s: pre_seq_len must be positive, got %lld",
                    pt_method_name(cfg->method), (long long)cfg->pre_seq_len);
  if (cfg->task != PT_TASK_QUESTION_ANSWERING && cfg->task != PT_TASK_MULTIPLE_CHOICE &&
      cfg->num_labels < 1)
    return pt_error(PT_ERR_ARG, "%s: num_labels must be at least 1", pt_task_name(cfg->task));
  pt_rng rng;
  pt_rng_init(&rng, seed);
  /* THUDM builds the pooler only for the heads that read it. */
  bool pooler = cfg->task == PT_TASK_SEQUENCE_CLASSIFICATION || cfg->task == PT_TASK_MULTIPLE_CHOICE;
  pt_status st = pt_bert_init(&m->bert, &m->params, bc, pooler, &rng);
  int64_t H = bc->hidden_size, L = bc->num_layers, P = cfg->pre_seq_len;
  double std = bc->init_std;
  if (st == PT_OK && cfg->method == PT_METHOD_PTV2) {
    if (cfg->prefix_projection) {
      int64_t Ph = cfg->prefix_hidden_size > 0 ? cfg->prefix_hidden_size : 512;
      m->cfg.prefix_hidden_size = Ph;
      st = pt_nn_embedding_init(&m->prefix_embedding, &m->params, "prefix_encoder.embedding", P, H,
                                -1, &rng, std);
      if (st == PT_OK)
        st = pt_nn_linear_init(&m->prefix_trans0, &m->params, "prefix_encoder.trans.0", H, Ph, true,
                               &rng, std);
      if (st == PT_OK)
        st = pt_nn_linear_init(&m->prefix_trans2, &m->params, "prefix_encoder.trans.2", Ph,
                               2 * L * H, true, &rng, std);
    } else {
      st = pt_nn_embedding_init(&m->prefix_embedding, &m->params, "prefix_encoder.embedding", P,
                                2 * L * H, -1, &rng, std);
    }
  } else if (st == PT_OK && cfg->method == PT_METHOD_PROMPT) {
    st = pt_nn_embedding_init(&m->prefix_embedding, &m->params, "prefix_encoder", P, H, -1, &rng, std);
  }
  if (st == PT_OK) {
    bool qa = cfg->task == PT_TASK_QUESTION_ANSWERING, mc = cfg->task == PT_TASK_MULTIPLE_CHOICE;
    st = pt_nn_linear_init(&m->head, &m->params, qa ? "qa_outputs" : "classifier", H,
                           qa ? 2 : mc ? 1 : cfg->num_labels, true, &rng, std);
  }
  if (st != PT_OK) {
    pt_ptv2_model_free(m);
    return st;
  }
  bool frozen = cfg->method != PT_METHOD_FINETUNE;
  for (int i = 0; i < m->params.count; i++) {
    pt_tensor *p = m->params.items[i];
    bool in_encoder = !strncmp(p->name, m->bert.prefix, strlen(m->bert.prefix)) &&
                      p->name[strlen(m->bert.prefix)] == '.';
    pt_set_requires_grad(p, !(frozen && in_encoder));
  }
  return PT_OK;
}

pt_status pt_ptv2_model_set_backbone_dtype(pt_ptv2_model *m, pt_dtype dt) {
  if (dt == PT_BF16 && m->cfg.method == PT_METHOD_FINETUNE)
    return pt_error(PT_ERR_ARG, "backbone dtype bf16: fine-tuning trains the encoder's weights, "
                    "and ptune trains f32 weights only (use backbone dtype f32)");
  char prefix[24];
  snprintf(prefix, sizeof prefix, "%s.", m->bert.prefix);
  return pt_params_store_frozen(&m->params, prefix, dt, NULL);
}

void pt_ptv2_model_free(pt_ptv2_model *m) {
  pt_bert_free(&m->bert);
  pt_params_free(&m->params);
}

/* Prefix-encoder output for every batch row: [B, P, 2LH] (an expanded view
 * of the [P, 2LH] table: the rows are identical until dropout). */
static pt_tensor *prefix_raw(const pt_ptv2_model *m, int64_t B) {
  int64_t P = m->cfg.pre_seq_len;
  pt_tensor *ids = pt_arange(PT_I64, 0, (double)P, 1);
  pt_tensor *e = ids ? pt_nn_embedding_forward(&m->prefix_embedding, ids) : NULL;
  pt_tensor_free(ids);
  if (m->cfg.prefix_projection && e) {
    pt_tensor *a = pt_nn_linear_forward(&m->prefix_trans0, e);
    pt_tensor *t = pt_tanh(a);
    pt_tensor_free(e);
    pt_tensor_free(a);
    e = pt_nn_linear_forward(&m->prefix_trans2, t);
    pt_tensor_free(t);
  }
  if (!e) return NULL;
  pt_tensor *u = pt_unsqueeze(e, 0);
  pt_tensor *x = pt_expand(u, 3, PT_SHAPE(B, P, e->shape[1]));
  pt_tensor_free(e);
  pt_tensor_free(u);
  return x;
}

/* THUDM's layout: raw.view(B, P, 2L, NH, HD) -> dropout -> permute
 * (2L, B, NH, P, HD); layer l reads keys at 2l and values at 2l+1. */
static pt_status prefix_kv(const pt_ptv2_model *m, pt_tensor *raw, pt_nn_mode mode,
                           pt_tensor **keys, pt_tensor **values) {
  const pt_bert_config *bc = &m->bert.cfg;
  int64_t B = raw->shape[0], P = raw->shape[1], L = bc->num_layers, NH = bc->num_heads;
  int64_t HD = bc->hidden_size / NH;
  pt_tensor *d = pt_dropout(raw, bc->hidden_dropout, mode.training, mode.rng);
  pt_tensor *c = pt_contiguous(d); /* eval mode keeps the expanded view */
  pt_tensor *v = pt_reshape(c, 5, PT_SHAPE(B, P, 2 * L, NH, HD));
  pt_tensor *p = pt_permute(v, (const int[]){2, 0, 3, 1, 4});
  pt_tensor_free(d);
  pt_tensor_free(c);
  pt_tensor_free(v);
  if (!p) return pt_error_code();
  pt_status st = PT_OK;
  for (int64_t l = 0; l < L; l++) {
    pt_tensor *kn = pt_narrow(p, 0, 2 * l, 1), *vn = pt_narrow(p, 0, 2 * l + 1, 1);
    keys[l] = pt_squeeze(kn, 0);
    values[l] = pt_squeeze(vn, 0);
    pt_tensor_free(kn);
    pt_tensor_free(vn);
    if (!keys[l] || !values[l]) st = pt_error_code();
  }
  pt_tensor_free(p);
  return st;
}

void pt_ptv2_outputs_free(pt_ptv2_outputs *out) {
  pt_tensor_free(out->logits);
  pt_tensor_free(out->start_logits);
  pt_tensor_free(out->end_logits);
  pt_tensor_free(out->loss);
  pt_tensor_free(out->prefix_raw);
  pt_bert_outputs_free(&out->encoder);
  memset(out, 0, sizeof *out);
}

/* Flattens [B, C, S] multiple-choice inputs to [B·C, S] (views). */
static pt_tensor *flat_choices(const pt_tensor *t) {
  if (!t || t->ndim != 3) return t ? pt_tensor_ref((pt_tensor *)t) : NULL;
  pt_tensor *c = pt_raw_contiguous(t);
  pt_tensor *v = c ? pt_raw_view(c, 2, PT_SHAPE(t->shape[0] * t->shape[1], t->shape[2])) : NULL;
  pt_tensor_free(c);
  return v;
}

/* The model's head as a pt_head (borrowing its classifier). */
static pt_status heads(const pt_ptv2_model *m, const pt_ptv2_batch *b, pt_nn_mode mode,
                       const pt_tensor *ids, int64_t B_orig, pt_ptv2_outputs *out) {
  pt_head h = {.cfg = {m->cfg.task, PT_HEAD_LINEAR, m->cfg.num_labels, NULL, -1},
               .linear = m->head,
               .dropout = m->bert.cfg.hidden_dropout};
  pt_head_inputs in = {&out->encoder, ids, b->attention_mask, b->labels, b->start_positions,
                       b->end_positions,
                       m->cfg.method == PT_METHOD_PROMPT ? m->cfg.pre_seq_len : 0, B_orig, NULL};
  pt_head_outputs ho;
  PT_TRY(pt_head_forward(&h, &in, mode, &ho));
  out->logits = ho.logits;
  out->start_logits = ho.start_logits;
  out->end_logits = ho.end_logits;
  out->loss = ho.loss;
  return PT_OK;
}

pt_status pt_ptv2_forward(const pt_ptv2_model *m, const pt_ptv2_batch *b, pt_nn_mode mode,
                          bool keep_hidden_states, pt_ptv2_outputs *out) {
  memset(out, 0, sizeof *out);
  if (!b->input_ids) return pt_error(PT_ERR_ARG, "ptv2: no input_ids");
  bool mc = m->cfg.task == PT_TASK_MULTIPLE_CHOICE;
  if (mc && b->input_ids->ndim != 3)
    return pt_error(PT_ERR_SHAPE, "multiple_choice: input_ids must be [B, choices, S]");
  int64_t B_orig = b->input_ids->shape[0];
  pt_tensor *ids = flat_choices(b->input_ids);
  pt_tensor *mask = flat_choices(b->attention_mask);
  pt_tensor *types = flat_choices(b->token_type_ids);
  int64_t B = ids ? ids->shape[0] : 0;
  int64_t L = m->bert.cfg.num_layers;
  pt_tensor **kv = NULL;
  pt_tensor *prompt = NULL;
  pt_status st = ids && (mask || !b->attention_mask) && (types || !b->token_type_ids)
                     ? PT_OK
                     : pt_error_code();
  if (st == PT_OK && m->cfg.method == PT_METHOD_PTV2) {
    kv = pt_alloc(sizeof(pt_tensor *) * (size_t)(2 * L));
    if (kv) memset(kv, 0, sizeof(pt_tensor *) * (size_t)(2 * L));
    out->prefix_raw = prefix_raw(m, B);
    st = kv && out->prefix_raw ? prefix_kv(m, out->prefix_raw, mode, kv, kv + L) : pt_error_code();
  } else if (st == PT_OK && m->cfg.method == PT_METHOD_PROMPT) {
    int64_t P = m->cfg.pre_seq_len, H = m->bert.cfg.hidden_size;
    pt_tensor *pids = pt_arange(PT_I64, 0, (double)P, 1);
    pt_tensor *e = pids ? pt_nn_embedding_forward(&m->prefix_embedding, pids) : NULL;
    pt_tensor *u = pt_unsqueeze(e, 0);
    prompt = pt_expand(u, 3, PT_SHAPE(B, P, H));
    pt_tensor_free(pids);
    pt_tensor_free(e);
    pt_tensor_free(u);
    if (!prompt) st = pt_error_code();
  }
  if (st == PT_OK) {
    pt_bert_inputs in = {ids, mask, types, kv, kv ? kv + L : NULL, prompt, keep_hidden_states, NULL};
    st = pt_bert_forward(&m->bert, &in, mode, &out->encoder);
  }
  if (st == PT_OK) st = heads(m, b, mode, ids, B_orig, out);
  for (int64_t i = 0; kv && i < 2 * L; i++) pt_tensor_free(kv[i]);
  pt_free_bytes(kv);
  pt_tensor_free(prompt);
  pt_tensor_free(ids);
  pt_tensor_free(mask);
  pt_tensor_free(types);
  if (st != PT_OK) pt_ptv2_outputs_free(out);
  return st;
}
