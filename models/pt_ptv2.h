/* P-Tuning v2 (Liu et al. 2021) and its siblings on a BERT/RoBERTa encoder,
 * with CRF-free task heads, as THUDM/P-tuning-v2 builds them.
 *
 * Methods:
 *   PT_METHOD_PTV2     a trainable prefix of keys/values at every layer:
 *                      prefix_encoder = Embedding(P, 2·L·H), or with
 *                      projection Embedding(P, H) → Linear(H, Ph) → tanh →
 *                      Linear(Ph, 2·L·H); the encoder is frozen.
 *   PT_METHOD_PROMPT   input-layer prompt tuning (Lester et al. 2021, as peft
 *                      does it): Embedding(P, H) prepended to the word
 *                      embeddings; the encoder is frozen.
 *   PT_METHOD_FINETUNE every parameter trainable, no prefix (the baseline).
 * The head (classifier / qa_outputs) is always trainable. A frozen encoder
 * gets no gradient and its linears run no weight-gradient GEMM. */
#ifndef PT_PTV2_H
#define PT_PTV2_H

#include "models/pt_bert.h"
#include "models/pt_head.h"

typedef enum { PT_METHOD_PTV2 = 0, PT_METHOD_PROMPT, PT_METHOD_FINETUNE } pt_peft_method;

typedef struct {
  pt_peft_method method;
  pt_task_kind task;
  int64_t pre_seq_len;        /* P (ptv2, prompt) */
  bool prefix_projection;     /* ptv2: the reparameterization MLP */
  int64_t prefix_hidden_size; /* Ph, default 512 */
  int64_t num_labels;         /* classes (seq/token classification) */
} pt_ptv2_config;

/* Names as used in adapter_config.json ("ptv2", ...). */
const char *pt_method_name(pt_peft_method m);
pt_status pt_method_parse(const char *s, pt_peft_method *out);

typedef struct {
  pt_ptv2_config cfg;
  pt_params params; /* every parameter: encoder, prefix encoder, head (owned) */
  pt_bert bert;
  pt_nn_embedding prefix_embedding; /* prefix_encoder.embedding / prefix_encoder (prompt) */
  pt_nn_linear prefix_trans0, prefix_trans2; /* prefix_encoder.trans.{0,2} */
  pt_nn_linear head;                /* classifier or qa_outputs */
} pt_ptv2_model;

/* Builds the model with HF initialization from `seed` and freezes the
 * encoder unless the method is fine-tuning. Free with pt_ptv2_model_free. */
pt_status pt_ptv2_model_init(pt_ptv2_model *m, const pt_bert_config *bert_cfg,
                             const pt_ptv2_config *cfg, uint64_t seed);
void pt_ptv2_model_free(pt_ptv2_model *m);
/* The dtype of the frozen encoder's matrices (word/position/type embeddings,
 * every linear weight): PT_BF16 keeps them in half the memory (converted
 * once, in place: call it after loading) and runs their GEMMs with bf16
 * inputs and f32 accumulation (tensor/pt_matmul.h); PT_F32 widens them
 * back. What trains (prefix encoder, head), biases, LayerNorm, softmax, the
 * loss and the optimizer stay f32. Fine-tuning trains the encoder itself:
 * refused for BF16 (PT_ERR_ARG), as ptune keeps no f32 master copy. */
pt_status pt_ptv2_model_set_backbone_dtype(pt_ptv2_model *m, pt_dtype dt);

typedef struct {
  const pt_tensor *input_ids;      /* [B, S] (multiple choice: [B, C, S]) */
  const pt_tensor *attention_mask; /* same shape, 0/1; NULL: all ones */
  const pt_tensor *token_type_ids; /* same shape or NULL */
  const pt_tensor *labels;         /* seq/mc: [B]; token: [B, S] with -100; NULL: no loss */
  const pt_tensor *start_positions, *end_positions; /* QA: [B]; NULL: no loss */
} pt_ptv2_batch;

typedef struct {
  pt_tensor *logits;       /* [B, C], [B, S, C], [B, S, 2] (QA) or [B, C] (mc) */
  pt_tensor *start_logits; /* QA: [B, S] */
  pt_tensor *end_logits;
  pt_tensor *loss;         /* 0-dim, or NULL without labels */
  pt_tensor *prefix_raw;   /* ptv2: prefix-encoder output [B, P, 2LH] */
  pt_bert_outputs encoder;
} pt_ptv2_outputs;

pt_status pt_ptv2_forward(const pt_ptv2_model *m, const pt_ptv2_batch *batch, pt_nn_mode mode,
                          bool keep_hidden_states, pt_ptv2_outputs *out);
void pt_ptv2_outputs_free(pt_ptv2_outputs *out);

#endif
