/* Task heads (see pt_head.h). */
#include "models/pt_head.h"

#include <stdlib.h>
#include <string.h>

#include "autograd/pt_autograd.h"
#include "autograd/pt_ops.h"
#include "autograd/pt_ops_index.h"
#include "autograd/pt_ops_norm.h"
#include "autograd/pt_ops_pointwise.h"

static const char *const task_names[] = {"sequence_classification", "token_classification",
                                         "question_answering", "multiple_choice"};
static const char *const head_names[] = {"linear", "verbalizer"};

const char *pt_task_name(pt_task_kind t) { return task_names[t]; }

pt_status pt_task_parse(const char *s, pt_task_kind *out) {
  for (int i = 0; i < 4; i++)
    if (!strcmp(s, task_names[i])) return *out = (pt_task_kind)i, PT_OK;
  return pt_error(PT_ERR_ARG,
                  "unknown task '%s' (sequence_classification, token_classification, "
                  "question_answering or multiple_choice)",
                  s);
}

bool pt_task_uses_pooler(pt_task_kind t) {
  return t == PT_TASK_SEQUENCE_CLASSIFICATION || t == PT_TASK_MULTIPLE_CHOICE;
}

const char *pt_head_kind_name(pt_head_kind k) { return head_names[k]; }

pt_status pt_head_kind_parse(const char *s, pt_head_kind *out) {
  for (int i = 0; i < 2; i++)
    if (!strcmp(s, head_names[i])) return *out = (pt_head_kind)i, PT_OK;
  return pt_error(PT_ERR_ARG, "unknown head '%s' (linear or verbalizer)", s);
}

pt_status pt_head_init(pt_head *h, const pt_head_config *cfg, const pt_bert_config *bc,
                       pt_rng *rng) {
  memset(h, 0, sizeof *h);
  h->cfg = *cfg;
  h->cfg.label_words = NULL;
  h->dropout = bc->hidden_dropout;
  bool classes = cfg->task == PT_TASK_SEQUENCE_CLASSIFICATION ||
                 cfg->task == PT_TASK_TOKEN_CLASSIFICATION;
  if (classes && cfg->num_labels < 1)
    return pt_error(PT_ERR_ARG, "%s: num_labels must be at least 1", pt_task_name(cfg->task));
  if (cfg->kind == PT_HEAD_VERBALIZER) {
    if (cfg->task != PT_TASK_SEQUENCE_CLASSIFICATION)
      return pt_error(PT_ERR_ARG, "the verbalizer head is for sequence_classification, not %s",
                      pt_task_name(cfg->task));
    if (!cfg->label_words)
      return pt_error(PT_ERR_ARG, "the verbalizer head needs a label word for every label");
    if (cfg->mask_token_id < 0 || cfg->mask_token_id >= bc->vocab_size)
      return pt_error(PT_ERR_ARG, "the verbalizer head needs the [MASK] token id (got %lld)",
                      (long long)cfg->mask_token_id);
    h->label_words = malloc(sizeof(int64_t) * (size_t)cfg->num_labels);
    if (!h->label_words) return pt_error(PT_ERR_NOMEM, "verbalizer: out of memory");
    for (int64_t i = 0; i < cfg->num_labels; i++) {
      int64_t w = cfg->label_words[i];
      if (w < 0 || w >= bc->vocab_size) {
        pt_head_free(h);
        return pt_error(PT_ERR_ARG, "verbalizer: label %lld's word id %lld is outside the "
                        "vocabulary of %lld", (long long)i, (long long)w,
                        (long long)bc->vocab_size);
      }
      h->label_words[i] = w;
    }
    h->cfg.label_words = h->label_words;
    return PT_OK;
  }
  bool qa = cfg->task == PT_TASK_QUESTION_ANSWERING, mc = cfg->task == PT_TASK_MULTIPLE_CHOICE;
  pt_status st = pt_nn_linear_init(&h->linear, &h->params, qa ? "qa_outputs" : "classifier",
                                   bc->hidden_size, qa ? 2 : mc ? 1 : cfg->num_labels, true, rng,
                                   bc->init_std);
  if (st != PT_OK) {
    pt_head_free(h);
    return st;
  }
  pt_params_set_trainable(&h->params, "", true); /* the head always trains */
  return PT_OK;
}

void pt_head_free(pt_head *h) {
  free(h->label_words);
  pt_params_free(&h->params);
  memset(h, 0, sizeof *h);
}

void pt_head_outputs_free(pt_head_outputs *out) {
  pt_tensor_free(out->logits);
  pt_tensor_free(out->start_logits);
  pt_tensor_free(out->end_logits);
  pt_tensor_free(out->loss);
  memset(out, 0, sizeof *out);
}

/* Token labels with padding positions (attention_mask == 0) set to -100, as
 * THUDM's token-classification loss does. */
static pt_tensor *active_labels(const pt_tensor *labels, const pt_tensor *mask) {
  pt_tensor *t = pt_to_dtype(labels, PT_I64);
  if (t && mask)
    for (int64_t i = 0; i < pt_numel(t); i++)
      if (pt_get(mask, i) == 0) pt_set(t, i, -100);
  return t;
}

/* QA positions clamped to [0, S]; S itself is the ignore index. */
static pt_tensor *clamped_positions(const pt_tensor *pos, int64_t S) {
  pt_tensor *t = pt_to_dtype(pos, PT_I64);
  for (int64_t i = 0; t && i < pt_numel(t); i++) {
    int64_t v = (int64_t)pt_get(t, i);
    pt_set(t, i, (double)(v < 0 ? 0 : v > S ? S : v));
  }
  return t;
}

/* The verbalizer: [B, S', H] hidden states at each row's first [MASK]
 * (after the prompt) -> transform -> GELU -> LayerNorm -> scores of the
 * label words (tied decoder rows + their biases): [B, C]. */
static pt_tensor *verbalizer_logits(const pt_head *h, const pt_head_inputs *in) {
  const pt_tensor *ids = in->input_ids;
  pt_tensor *hid = in->encoder->last_hidden;
  if (!in->mlm || !in->mlm->decoder) {
    pt_error(PT_ERR_STATE, "verbalizer: the backbone has no masked-LM head (cls.predictions.*)");
    return NULL;
  }
  int64_t B = ids->shape[0], S = ids->shape[1], S2 = hid->shape[1], H = hid->shape[2];
  pt_tensor *rows = pt_empty(PT_I64, 1, PT_SHAPE(B));
  for (int64_t b = 0; rows && b < B; b++) {
    int64_t at = -1;
    for (int64_t s = 0; s < S && at < 0; s++)
      if ((int64_t)pt_get(ids, b * S + s) == h->cfg.mask_token_id) at = s;
    if (at < 0) {
      pt_tensor_free(rows);
      pt_error(PT_ERR_ARG, "verbalizer: row %lld has no [MASK] token (id %lld)", (long long)b,
               (long long)h->cfg.mask_token_id);
      return NULL;
    }
    pt_set(rows, b, (double)(b * S2 + in->prompt_len + at));
  }
  pt_tensor *words = rows ? pt_from_buffer(PT_I64, 1, PT_SHAPE(h->cfg.num_labels),
                                           h->label_words) : NULL;
  pt_tensor *flat = pt_view(hid, 2, PT_SHAPE(B * S2, H));
  pt_tensor *x = pt_index_select(flat, 0, rows);
  pt_tensor *t = pt_nn_linear_forward(in->mlm->transform, x);
  pt_tensor *g = pt_gelu(t);
  pt_tensor *n = pt_nn_layernorm_forward(in->mlm->ln, g);
  pt_tensor *emb = words ? pt_index_select(in->mlm->decoder, 0, words) : NULL;
  pt_tensor *bias = words ? pt_index_select(in->mlm->bias, 0, words) : NULL;
  pt_tensor *scores = pt_linear(n, emb, bias);
  pt_tensor *tmp[] = {rows, words, flat, x, t, g, n, emb, bias};
  for (size_t i = 0; i < sizeof tmp / sizeof tmp[0]; i++) pt_tensor_free(tmp[i]);
  return scores;
}

static pt_status classify(const pt_head *h, const pt_head_inputs *in, pt_nn_mode mode,
                          pt_head_outputs *out) {
  pt_tensor *logits;
  if (h->cfg.kind == PT_HEAD_VERBALIZER) {
    logits = verbalizer_logits(h, in);
  } else {
    if (!in->encoder->pooled)
      return pt_error(PT_ERR_STATE, "%s: the backbone has no pooler", pt_task_name(h->cfg.task));
    pt_tensor *d = pt_dropout(in->encoder->pooled, h->dropout, mode.training, mode.rng);
    logits = pt_nn_linear_forward(&h->linear, d);
    pt_tensor_free(d);
  }
  if (h->cfg.task == PT_TASK_MULTIPLE_CHOICE) {
    pt_tensor *v = pt_view(logits, 2, PT_SHAPE(in->batch, -1));
    pt_tensor_free(logits);
    logits = v;
  }
  out->logits = logits;
  if (logits && in->labels) out->loss = pt_cross_entropy(logits, in->labels, -100, 0.0);
  return PT_OK;
}

pt_status pt_head_forward(const pt_head *h, const pt_head_inputs *in, pt_nn_mode mode,
                          pt_head_outputs *out) {
  memset(out, 0, sizeof *out);
  pt_tensor *hid = in->encoder->last_hidden;
  int64_t P = in->prompt_len;
  switch (h->cfg.task) {
    case PT_TASK_SEQUENCE_CLASSIFICATION:
    case PT_TASK_MULTIPLE_CHOICE:
      PT_TRY(classify(h, in, mode, out));
      break;
    case PT_TASK_TOKEN_CLASSIFICATION: {
      pt_tensor *seq = P ? pt_narrow(hid, 1, P, hid->shape[1] - P) : pt_tensor_ref(hid);
      pt_tensor *d = pt_dropout(seq, h->dropout, mode.training, mode.rng);
      out->logits = pt_nn_linear_forward(&h->linear, d);
      pt_tensor_free(seq);
      pt_tensor_free(d);
      if (out->logits && in->labels) {
        pt_tensor *lab = active_labels(in->labels, in->attention_mask);
        out->loss = lab ? pt_cross_entropy(out->logits, lab, -100, 0.0) : NULL;
        pt_tensor_free(lab);
      }
      break;
    }
    case PT_TASK_QUESTION_ANSWERING: {
      pt_tensor *seq = P ? pt_narrow(hid, 1, P, hid->shape[1] - P) : pt_tensor_ref(hid);
      out->logits = pt_nn_linear_forward(&h->linear, seq);
      pt_tensor_free(seq);
      pt_tensor *s = pt_narrow(out->logits, 2, 0, 1), *e = pt_narrow(out->logits, 2, 1, 1);
      pt_tensor *ss = pt_squeeze(s, 2), *es = pt_squeeze(e, 2);
      out->start_logits = pt_contiguous(ss);
      out->end_logits = pt_contiguous(es);
      pt_tensor *tmp[] = {s, e, ss, es};
      for (int i = 0; i < 4; i++) pt_tensor_free(tmp[i]);
      if (out->start_logits && in->start_positions && in->end_positions) {
        int64_t S = out->start_logits->shape[1];
        pt_tensor *sp = clamped_positions(in->start_positions, S);
        pt_tensor *ep = clamped_positions(in->end_positions, S);
        pt_tensor *ls = sp ? pt_cross_entropy(out->start_logits, sp, S, 0.0) : NULL;
        pt_tensor *le = ep ? pt_cross_entropy(out->end_logits, ep, S, 0.0) : NULL;
        pt_tensor *sum = pt_add(ls, le);
        out->loss = pt_scale(sum, 0.5);
        pt_tensor *t2[] = {sp, ep, ls, le, sum};
        for (int i = 0; i < 5; i++) pt_tensor_free(t2[i]);
      }
      break;
    }
  }
  bool want_loss = in->labels || (in->start_positions && in->end_positions);
  bool qa = h->cfg.task == PT_TASK_QUESTION_ANSWERING;
  if (!out->logits || (qa && (!out->start_logits || !out->end_logits)) ||
      (want_loss && !out->loss)) { /* the failing op recorded why */
    pt_head_outputs_free(out);
    return pt_error_code();
  }
  return PT_OK;
}
