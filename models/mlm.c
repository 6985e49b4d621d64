/* BertForMaskedLM: encoder + transform/LayerNorm/tied-decoder head run on
 * the masked rows only, and saving as a Hugging Face model directory. */
#include "models/pt_mlm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/pt_autograd.h"
#include "autograd/pt_ops.h"
#include "autograd/pt_ops_index.h"
#include "autograd/pt_ops_norm.h"
#include "autograd/pt_ops_pointwise.h"
#include "models/pt_hf.h"
#include "nn/pt_safetensors.h"
#include "tensor/pt_file.h"

pt_status pt_mlm_head_init(pt_params *ps, const pt_bert_config *cfg, pt_rng *rng,
                           pt_nn_linear *transform, pt_nn_layernorm *ln, pt_tensor **bias) {
  bool roberta = cfg->arch == PT_ARCH_ROBERTA;
  int64_t H = cfg->hidden_size, V = cfg->vocab_size;
  PT_TRY(pt_nn_linear_init(transform, ps, roberta ? "lm_head.dense" : "cls.predictions.transform.dense",
                           H, H, true, rng, cfg->init_std));
  PT_TRY(pt_nn_layernorm_init(ln, ps,
                              roberta ? "lm_head.layer_norm" : "cls.predictions.transform.LayerNorm",
                              H, cfg->layer_norm_eps));
  pt_tensor *b = pt_zeros(PT_F32, 1, PT_SHAPE(V));
  pt_status st = b ? pt_params_add(ps, b, roberta ? "lm_head.bias" : "cls.predictions.bias")
                   : pt_error_code();
  pt_tensor_free(b); /* the list holds it */
  if (st == PT_OK) *bias = b;
  return st;
}

pt_status pt_mlm_init(pt_mlm_model *m, const pt_bert_config *cfg, uint64_t seed) {
  memset(m, 0, sizeof *m);
  if (cfg->arch != PT_ARCH_BERT) return pt_error(PT_ERR_ARG, "mlm: only the bert architecture");
  pt_rng rng;
  pt_rng_init(&rng, seed);
  pt_status st = pt_bert_init(&m->bert, &m->params, cfg, false, &rng);
  if (st == PT_OK)
    st = pt_mlm_head_init(&m->params, cfg, &rng, &m->transform, &m->transform_ln, &m->decoder_bias);
  if (st == PT_OK) st = pt_params_set_trainable(&m->params, "", true);
  if (st != PT_OK) pt_mlm_free(m);
  return st;
}

void pt_mlm_free(pt_mlm_model *m) {
  pt_bert_free(&m->bert);
  pt_params_free(&m->params);
  memset(m, 0, sizeof *m);
}

pt_tensor *pt_mlm_head(const pt_mlm_model *m, pt_tensor *hidden) {
  pt_tensor *t = pt_nn_linear_forward(&m->transform, hidden);
  pt_tensor *g = pt_gelu(t);
  pt_tensor_free(t);
  pt_tensor *n = pt_nn_layernorm_forward(&m->transform_ln, g);
  pt_tensor_free(g);
  /* decoder: n · Eᵀ + bias with E the word embedding [V, H] (tied) */
  pt_tensor *logits = pt_linear(n, m->bert.word.weight, m->decoder_bias);
  pt_tensor_free(n);
  return logits;
}

/* logits [N, V] row-major: each row's argmax compared with its target. */
static int64_t count_correct(const pt_tensor *logits, const int64_t *targets, int64_t N) {
  int64_t V = logits->shape[logits->ndim - 1], ok = 0;
  pt_tensor *c = pt_is_contiguous(logits) && logits->dtype == PT_F32
                     ? pt_tensor_ref((pt_tensor *)logits)
                     : pt_to_dtype(logits, PT_F32);
  if (!c) return -1;
  const float *x = pt_data(c);
#pragma omp parallel for reduction(+ : ok) schedule(static) if (N * V > (1 << 20))
  for (int64_t r = 0; r < N; r++) {
    if (targets[r] < 0) continue;
    const float *row = x + r * V;
    int64_t best = 0;
    for (int64_t v = 1; v < V; v++)
      if (row[v] > row[best]) best = v;
    ok += best == targets[r];
  }
  pt_tensor_free(c);
  return ok;
}

pt_status pt_mlm_from_pretrained(pt_mlm_model *m, const char *dir) {
  pt_bert_config cfg;
  PT_TRY(pt_bert_config_load(dir, &cfg));
  if (cfg.arch != PT_ARCH_BERT)
    return pt_error(PT_ERR_FORMAT, "%s/config.json: masked-LM head only for model_type bert", dir);
  PT_TRY(pt_mlm_init(m, &cfg, 0));
  pt_status st = pt_bert_load_weights(&m->params, &m->bert, dir, "cls.predictions.");
  if (st != PT_OK) pt_mlm_free(m);
  return st;
}

/* The head's logits [n, V] at the flat positions rows[0..n) of the encoder
 * output for input_ids [B, S] (new reference; NULL with the error set). */
static pt_tensor *head_at_rows(const pt_mlm_model *m, const pt_tensor *input_ids,
                               const pt_tensor *attention_mask, pt_nn_mode mode,
                               const pt_tensor *rows) {
  int64_t B = input_ids->shape[0], S = input_ids->shape[1], H = m->bert.cfg.hidden_size;
  pt_bert_inputs in = {.input_ids = input_ids, .attention_mask = attention_mask};
  pt_bert_outputs eo;
  if (pt_bert_forward(&m->bert, &in, mode, &eo) != PT_OK) return NULL;
  pt_tensor *h2 = pt_reshape(eo.last_hidden, 2, PT_SHAPE(B * S, H));
  pt_bert_outputs_free(&eo);
  pt_tensor *sel = !h2 ? NULL : rows ? pt_index_select(h2, 0, rows) : pt_tensor_ref(h2);
  pt_tensor *logits = sel ? pt_mlm_head(m, sel) : NULL;
  pt_tensor_free(sel);
  pt_tensor_free(h2);
  return logits;
}

pt_tensor *pt_mlm_logits_at(const pt_mlm_model *m, const pt_tensor *input_ids,
                            const pt_tensor *attention_mask, const int64_t *rows, int64_t n) {
  if (!input_ids || input_ids->ndim != 2 || input_ids->dtype != PT_I64 || n < 1) {
    pt_error(PT_ERR_ARG, "mlm: logits_at wants I64 input_ids [B, S] and at least one row");
    return NULL;
  }
  int64_t BS = input_ids->shape[0] * input_ids->shape[1];
  for (int64_t i = 0; i < n; i++)
    if (rows[i] < 0 || rows[i] >= BS) {
      pt_error(PT_ERR_ARG, "mlm: row %lld outside the %lld positions", (long long)rows[i],
               (long long)BS);
      return NULL;
    }
  pt_tensor *idx = pt_from_buffer(PT_I64, 1, PT_SHAPE(n), rows);
  pt_tensor *logits = idx ? head_at_rows(m, input_ids, attention_mask, (pt_nn_mode){0}, idx) : NULL;
  pt_tensor_free(idx);
  return logits;
}

pt_status pt_mlm_forward(const pt_mlm_model *m, const pt_tensor *input_ids,
                         const pt_tensor *attention_mask, const pt_tensor *labels,
                         pt_nn_mode mode, bool full_head, pt_mlm_outputs *out) {
  memset(out, 0, sizeof *out);
  if (!input_ids || !labels) return pt_error(PT_ERR_ARG, "mlm: input_ids and labels are required");
  if (labels->dtype != PT_I64 || labels->ndim != 2 || input_ids->ndim != 2 ||
      labels->shape[0] != input_ids->shape[0] || labels->shape[1] != input_ids->shape[1])
    return pt_error(PT_ERR_SHAPE, "mlm: labels must be I64 of input_ids' shape [B, S]");
  int64_t B = input_ids->shape[0], S = input_ids->shape[1];
  int64_t N = 0;
  for (int64_t i = 0; i < B * S; i++) N += pt_get(labels, i) != -100;
  if (N == 0) return pt_error(PT_ERR_ARG, "mlm: no masked position in the batch");
  int64_t rows = full_head ? B * S : N;
  pt_tensor *idx = pt_empty(PT_I64, 1, PT_SHAPE(N));
  pt_tensor *tgt = pt_empty(PT_I64, 1, PT_SHAPE(rows));
  pt_status st = idx && tgt ? PT_OK : pt_error_code();
  if (st == PT_OK) {
    int64_t *ip = pt_data(idx), *tp = pt_data(tgt), k = 0;
    for (int64_t i = 0; i < B * S; i++) {
      int64_t l = (int64_t)pt_get(labels, i);
      if (full_head) tp[i] = l;
      if (l != -100) {
        ip[k] = i;
        if (!full_head) tp[k] = l;
        k++;
      }
    }
  }
  pt_tensor *logits = NULL;
  if (st == PT_OK) logits = head_at_rows(m, input_ids, attention_mask, mode, full_head ? NULL : idx);
  if (st == PT_OK && !logits) st = pt_error_code();
  if (st == PT_OK) {
    out->loss = pt_cross_entropy(logits, tgt, -100, 0.0);
    if (!out->loss) st = pt_error_code();
  }
  if (st == PT_OK) {
    out->n_masked = N;
    out->n_correct = count_correct(logits, pt_data(tgt), rows);
    if (out->n_correct < 0) st = pt_error_code();
  }
  pt_tensor_free(logits);
  pt_tensor_free(idx);
  pt_tensor_free(tgt);
  if (st != PT_OK) pt_mlm_outputs_free(out);
  return st;
}

void pt_mlm_outputs_free(pt_mlm_outputs *out) {
  pt_tensor_free(out->loss);
  memset(out, 0, sizeof *out);
}

char *pt_mlm_config_json(const pt_bert_config *c, pt_dtype dtype) {
  char *s = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&s, &n);
  if (!f) return NULL;
  fprintf(f,
          "{\n"
          "  \"architectures\": [\"BertForMaskedLM\"],\n"
          "  \"model_type\": \"bert\",\n"
          "  \"vocab_size\": %lld,\n"
          "  \"hidden_size\": %lld,\n"
          "  \"num_hidden_layers\": %lld,\n"
          "  \"num_attention_heads\": %lld,\n"
          "  \"intermediate_size\": %lld,\n"
          "  \"hidden_act\": \"gelu\",\n"
          "  \"hidden_dropout_prob\": %.17g,\n"
          "  \"attention_probs_dropout_prob\": %.17g,\n"
          "  \"max_position_embeddings\": %lld,\n"
          "  \"type_vocab_size\": %lld,\n"
          "  \"initializer_range\": %.17g,\n"
          "  \"layer_norm_eps\": %.17g,\n"
          "  \"pad_token_id\": %lld,\n"
          "  \"position_embedding_type\": \"absolute\",\n"
          "  \"tie_word_embeddings\": true,\n"
          "  \"torch_dtype\": \"%s\"\n"
          "}\n",
          (long long)c->vocab_size, (long long)c->hidden_size, (long long)c->num_layers,
          (long long)c->num_heads, (long long)c->intermediate_size, c->hidden_dropout,
          c->attention_dropout, (long long)c->max_position, (long long)c->type_vocab_size,
          c->init_std, c->layer_norm_eps, (long long)c->pad_token_id,
          dtype == PT_F16 ? "float16" : dtype == PT_BF16 ? "bfloat16" : "float32");
  fclose(f);
  return s;
}

pt_status pt_mlm_save_pretrained(const pt_mlm_model *m, const char *dir, const char *vocab_path,
                                 uint64_t seed, pt_dtype dtype) {
  if (dtype != PT_F32 && dtype != PT_F16 && dtype != PT_BF16)
    return pt_error(PT_ERR_DTYPE, "mlm: weights are saved as F32, F16 or BF16");
  PT_TRY(pt_mkdirs(dir));
  char path[4096];
  const pt_bert_config *c = &m->bert.cfg;
  char *cfg = pt_mlm_config_json(c, dtype);
  if (!cfg) return pt_error(PT_ERR_NOMEM, "mlm: config.json: out of memory");
  snprintf(path, sizeof path, "%s/config.json", dir);
  pt_status st = pt_write_file_atomic(path, cfg, strlen(cfg));
  free(cfg);
  if (st != PT_OK) return st;
  /* parameters + an HF-initialized pooler (never trained by MLM) */
  int n = m->params.count;
  const char **names = calloc((size_t)n + 2, sizeof *names);
  const pt_tensor **ts = calloc((size_t)n + 2, sizeof *ts);
  pt_tensor **conv = calloc((size_t)n + 2, sizeof *conv); /* the dtype copies, owned here */
  int64_t H = c->hidden_size;
  pt_tensor *pw = pt_zeros(PT_F32, 2, PT_SHAPE(H, H)), *pb = pt_zeros(PT_F32, 1, PT_SHAPE(H));
  pt_rng rng;
  pt_rng_init(&rng, seed ^ 0x706f6f6c6572ULL);
  if (!names || !ts || !conv) st = pt_error(PT_ERR_NOMEM, "mlm: out of memory");
  else st = pw && pb ? pt_init_normal(pw, &rng, c->init_std) : pt_error_code();
  if (st == PT_OK) {
    for (int i = 0; i < n; i++) {
      names[i] = m->params.items[i]->name;
      ts[i] = m->params.items[i];
    }
    names[n] = "bert.pooler.dense.weight";
    ts[n] = pw;
    names[n + 1] = "bert.pooler.dense.bias";
    ts[n + 1] = pb;
    for (int i = 0; i < n + 2 && st == PT_OK && dtype != PT_F32; i++) {
      if (!(conv[i] = pt_to_dtype(ts[i], dtype))) st = pt_error_code();
      else ts[i] = conv[i];
    }
  }
  if (st == PT_OK) {
    const char *mk[] = {"format"}, *mv[] = {"pt"};
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    st = pt_safetensors_write(path, n + 2, names, ts, 1, mk, mv);
  }
  for (int i = 0; conv && i < n + 2; i++) pt_tensor_free(conv[i]);
  free(conv);
  free(names);
  free(ts);
  pt_tensor_free(pw);
  pt_tensor_free(pb);
  if (st == PT_OK && vocab_path) {
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    st = pt_copy_file(vocab_path, path);
  }
  return st;
}
