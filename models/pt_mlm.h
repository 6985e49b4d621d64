/* BERT for masked-language-model pretraining: the encoder (models/pt_bert.h,
 * no pooler, fully trainable) plus Hugging Face's BertForMaskedLM head
 *   cls.predictions.transform.dense     (H x H)
 *   -> GELU (erf)
 *   -> cls.predictions.transform.LayerNorm
 *   -> decoder tied to bert.embeddings.word_embeddings.weight
 *      + cls.predictions.bias [V]
 * all in one pt_params list. The head runs only on the masked rows: the
 * encoder output [B, S, H] is gathered down to the N rows whose label is not
 * -100 before the [N, V] decoder, which gives the same loss as running it on
 * every row and ignoring the unmasked ones (about 7x less decoder work at a
 * 15% masking rate).
 *
 * Ownership: pt_mlm_model is caller-owned, released with pt_mlm_free;
 * pt_mlm_forward fills a pt_mlm_outputs released with pt_mlm_outputs_free. */
#ifndef PT_MLM_H
#define PT_MLM_H
#include <stdbool.h>
#include "models/pt_bert.h"

typedef struct {
  pt_params params; /* every parameter (owned) */
  pt_bert bert;
  pt_nn_linear transform;       /* cls.predictions.transform.dense */
  pt_nn_layernorm transform_ln; /* cls.predictions.transform.LayerNorm */
  pt_tensor *decoder_bias;      /* cls.predictions.bias [V] (borrowed from params) */
} pt_mlm_model;

/* Registers the masked-LM head in ps with HF initialization: BERT's
 * cls.predictions.transform.dense, cls.predictions.transform.LayerNorm and
 * cls.predictions.bias, or RoBERTa's lm_head.dense, lm_head.layer_norm and
 * lm_head.bias (the decoder is tied to the word embeddings). */
pt_status pt_mlm_head_init(pt_params *ps, const pt_bert_config *cfg, pt_rng *rng,
                           pt_nn_linear *transform, pt_nn_layernorm *ln, pt_tensor **bias);

/* Builds the model with HF initialization from `seed` (BERT arch only). */
pt_status pt_mlm_init(pt_mlm_model *m, const pt_bert_config *cfg, uint64_t seed);
void pt_mlm_free(pt_mlm_model *m);

typedef struct {
  pt_tensor *loss;   /* 0-dim mean cross-entropy over the masked positions */
  int64_t n_masked;  /* positions with a label */
  int64_t n_correct; /* of those, argmax of the logits == label */
} pt_mlm_outputs;

/* input_ids [B, S] I64; attention_mask [B, S] 0/1 or NULL; labels [B, S]
 * I64 holding the original token at masked positions and -100 elsewhere.
 * full_head runs the decoder on every row instead (same loss; for tests).
 * No masked position at all is PT_ERR_ARG. */
pt_status pt_mlm_forward(const pt_mlm_model *m, const pt_tensor *input_ids,
                         const pt_tensor *attention_mask, const pt_tensor *labels,
                         pt_nn_mode mode, bool full_head, pt_mlm_outputs *out);
void pt_mlm_outputs_free(pt_mlm_outputs *out);

/* Builds the model from a Hugging Face bert model directory (config.json,
 * model.safetensors or shards): the encoder and cls.predictions.* must be in
 * the checkpoint (a BertForMaskedLM or BertForPreTraining checkpoint, or
 * what pt_mlm_save_pretrained wrote); other tensors (pooler, NSP head, the
 * tied decoder weight) are reported unused with pt_warn, as HF does. */
pt_status pt_mlm_from_pretrained(pt_mlm_model *m, const char *dir);

/* Eval-mode logits [n, V] (new reference, NULL with the error set) of the
 * head at the flat positions rows[0..n) (b·S + s) of input_ids [B, S] I64;
 * attention_mask [B, S] or NULL. Call under pt_no_grad_enter() unless the
 * graph is wanted. */
pt_tensor *pt_mlm_logits_at(const pt_mlm_model *m, const pt_tensor *input_ids,
                            const pt_tensor *attention_mask, const int64_t *rows, int64_t n);

/* The head on hidden rows [N, H] -> logits [N, V] (new reference). */
pt_tensor *pt_mlm_head(const pt_mlm_model *m, pt_tensor *hidden);

/* Writes `dir` (created if needed) as a Hugging Face bert model directory:
 * config.json (architectures ["BertForMaskedLM"]), model.safetensors with
 * the bert.* and cls.* tensors (the tied decoder weight is not stored twice:
 * HF re-ties cls.predictions.decoder.weight to the word embeddings, as for
 * its own checkpoints) and a copy of `vocab_path` as vocab.txt (skipped when
 * NULL). A pooler (bert.pooler.dense.*), which MLM pretraining never
 * trains, is written HF-initialized from `seed` so that heads reading it
 * (sequence classification, multiple choice) can load the directory too.
 * dtype (PT_F32, PT_F16 or PT_BF16) is the stored precision of every
 * tensor; config.json's torch_dtype says which (F16 halves the file; the
 * loaders convert back to F32). */
pt_status pt_mlm_save_pretrained(const pt_mlm_model *m, const char *dir, const char *vocab_path,
                                 uint64_t seed, pt_dtype dtype);

/* config.json text for cfg with torch_dtype naming `dtype` (owned string,
 * free()). */
char *pt_mlm_config_json(const pt_bert_config *cfg, pt_dtype dtype);

#endif
