/* Task heads on an encoder's output, CRF-free as in THUDM/P-tuning-v2:
 *
 *   sequence classification  pooler → dropout → classifier (Linear H→C)
 *   multiple choice          [B, C, S] rows flattened; pooler → dropout →
 *                            classifier (Linear H→1) → [B, C] scores
 *   token classification     dropout → classifier per token; padding
 *                            positions (attention_mask 0) are ignored by the loss
 *   question answering       qa_outputs (Linear H→2) → start/end logits
 *
 * and, for sequence classification, a verbalizer: the label words scored
 * by the backbone's masked-LM head at the input's [MASK] token (the paper's
 * "verbalizer with LM head", against the linear [CLS] head). It has no
 * tensors of its own: cls.predictions.* stay frozen in the backbone.
 *
 * Positions the method prepends to the input (prompt tuning, P-tuning) are
 * dropped before the token-level heads; sequence classification pools
 * position 0 as Hugging Face does (with a prompt, the first prompt vector).
 *
 * Ownership: a head's tensors live in its own pt_params (names
 * "classifier.*" or "qa_outputs.*"); pt_head_free releases them. */
#ifndef PT_HEAD_H
#define PT_HEAD_H

#include <stdbool.h>

#include "models/pt_bert.h"

typedef enum {
  PT_TASK_SEQUENCE_CLASSIFICATION = 0,
  PT_TASK_TOKEN_CLASSIFICATION,
  PT_TASK_QUESTION_ANSWERING,
  PT_TASK_MULTIPLE_CHOICE
} pt_task_kind;

/* Names as used in adapter_config.json ("sequence_classification", ...). */
const char *pt_task_name(pt_task_kind t);
pt_status pt_task_parse(const char *s, pt_task_kind *out);
/* Whether the head reads the pooler (sequence classification, multiple
 * choice with the linear head). */
bool pt_task_uses_pooler(pt_task_kind t);

typedef enum { PT_HEAD_LINEAR = 0, PT_HEAD_VERBALIZER } pt_head_kind;

const char *pt_head_kind_name(pt_head_kind k);
pt_status pt_head_kind_parse(const char *s, pt_head_kind *out);

typedef struct {
  pt_task_kind task;
  pt_head_kind kind;
  int64_t num_labels;          /* classes (sequence/token classification) */
  const int64_t *label_words;  /* verbalizer: a vocabulary id per label (copied) */
  int64_t mask_token_id;       /* verbalizer: the [MASK] id its rows hold */
} pt_head_config;

typedef struct {
  pt_head_config cfg;
  int64_t *label_words;  /* owned copy ([num_labels]) or NULL */
  pt_params params;      /* the head's tensors (owned) */
  pt_nn_linear linear;   /* classifier / qa_outputs (linear heads) */
  double dropout;        /* the encoder's hidden dropout, as HF's heads use */
} pt_head;

/* Builds the head for encoders of hidden size H with HF initialization
 * (N(0, init_std), zero biases). A verbalizer needs num_labels >= 1 label
 * words inside [0, vocab) and the mask id; it needs the backbone's MLM head
 * at forward time. Free with pt_head_free. */
pt_status pt_head_init(pt_head *h, const pt_head_config *cfg, const pt_bert_config *bc,
                       pt_rng *rng);
void pt_head_free(pt_head *h);

/* The MLM head a verbalizer scores with (borrowed tensors of a backbone). */
typedef struct {
  const pt_nn_linear *transform;   /* cls.predictions.transform.dense */
  const pt_nn_layernorm *ln;       /* cls.predictions.transform.LayerNorm */
  pt_tensor *decoder;              /* tied word embeddings [V, H] */
  pt_tensor *bias;                 /* cls.predictions.bias [V] */
} pt_mlm_head_ref;

/* What the head reads. */
typedef struct {
  const pt_bert_outputs *encoder;  /* over rows = B (or B·C flattened choices) */
  const pt_tensor *input_ids;      /* [rows, S] (the verbalizer finds [MASK] in it) */
  const pt_tensor *attention_mask; /* [rows, S] or NULL */
  const pt_tensor *labels;         /* seq/mc: [B]; token: [B, S] with -100; NULL: no loss */
  const pt_tensor *start_positions, *end_positions; /* QA: [B]; NULL: no loss */
  int64_t prompt_len;              /* leading positions the method prepended */
  int64_t batch;                   /* B before flattening the choices */
  const pt_mlm_head_ref *mlm;      /* verbalizer only */
} pt_head_inputs;

typedef struct {
  pt_tensor *logits;       /* [B, C], [B, S, C], [B, S, 2] (QA) or [B, choices] (mc) */
  pt_tensor *start_logits; /* QA: [B, S] */
  pt_tensor *end_logits;
  pt_tensor *loss;         /* 0-dim, or NULL without labels */
} pt_head_outputs;

/* Fills out (new references; free with pt_head_outputs_free). */
pt_status pt_head_forward(const pt_head *h, const pt_head_inputs *in, pt_nn_mode mode,
                          pt_head_outputs *out);
void pt_head_outputs_free(pt_head_outputs *out);

#endif
