/* The backbone PEFT models attach to: a BERT/RoBERTa encoder and its
 * tensors under Hugging Face names ("bert.encoder.layer.0...."), optionally
 * with the pooler (heads that read it) and the masked-LM head
 * cls.predictions.* (verbalizer heads; the decoder is tied to the word
 * embeddings). Its tensors are frozen: a method decides what trains.
 *
 * Several models (pt_model: a method and a head) may be attached to one
 * backbone at once; each model's hooks run only in that model's forward.
 * A model that trains the backbone's own tensors (finetune, bitfit, LoRA's
 * bias option) needs the backbone to itself, unless the backbone is
 * `shared` (below): then biases are trained as private copies.
 *
 * Ownership: pt_backbone is caller-owned and released with
 * pt_backbone_free, after every model attached to it. */
#ifndef PT_BACKBONE_H
#define PT_BACKBONE_H

#include <stdbool.h>

#include "models/pt_bert.h"
#include "models/pt_head.h"

struct pt_model;

typedef struct {
  bool pooler;   /* <base>.pooler.dense (sequence classification, multiple choice) */
  bool mlm_head; /* cls.predictions.* (verbalizer heads) */
} pt_backbone_parts;

typedef struct {
  pt_params params; /* every backbone tensor (owned) */
  pt_bert bert;
  pt_backbone_parts parts;
  pt_nn_linear mlm_transform;   /* cls.predictions.transform.dense */
  pt_nn_layernorm mlm_ln;       /* cls.predictions.transform.LayerNorm */
  pt_tensor *mlm_bias;          /* cls.predictions.bias [V] */
  pt_rng init_rng;              /* the initialization stream after the backbone's tensors:
                                 * a model started from it (pt_model_config.rng) draws what
                                 * one initialization of backbone and model would */
  struct pt_model **models;     /* attached models (borrowed) */
  int nmodels, cap_models;
  /* Its tensors stay as loaded whatever models attach (a server's
   * backbone): a method that trains backbone biases (bitfit, LoRA's bias
   * options) trains private copies instead, added to the layer's output by
   * a hook, so such models share it and mix in batches; other backbone
   * tensors cannot be trained, and nothing is merged into it. */
  bool shared;
} pt_backbone;

/* HF initialization from `seed` (N(0, init_std), LayerNorm 1/0); every
 * tensor frozen. */
pt_status pt_backbone_init(pt_backbone *bb, const pt_bert_config *cfg, pt_backbone_parts parts,
                           uint64_t seed);
/* `dir`/config.json and the checkpoint's weights (see pt_bert_load_weights);
 * the MLM head, when asked for, must be in the checkpoint. With
 * random_weights the config is read and the weights are left at their HF
 * initialization (the baseline that shows what pretraining buys).
 * dropout_override >= 0 replaces both dropout probabilities. */
pt_status pt_backbone_load(pt_backbone *bb, const char *dir, pt_backbone_parts parts,
                           bool random_weights, double dropout_override, uint64_t seed);
void pt_backbone_free(pt_backbone *bb);

/* The parts a head of `task` and `kind` needs. */
pt_backbone_parts pt_backbone_parts_for(pt_task_kind task, pt_head_kind kind);

/* Every linear with its Hugging Face module path (pt_bert_visit_linears). */
pt_status pt_backbone_visit_linears(pt_backbone *bb, pt_nn_linear_visit_fn fn, void *ctx);

/* The MLM head for a verbalizer (fields NULL without one). */
pt_mlm_head_ref pt_backbone_mlm_head(const pt_backbone *bb);

/* The backbone's tensors in F64 (or back to F32), values converted, the
 * same tensor objects: for whole-model gradient checks. */
pt_status pt_backbone_set_dtype(pt_backbone *bb, pt_dtype dt);

/* How the frozen matrices are stored (word/position/type embeddings, every
 * linear weight, the MLM head's): PT_BF16 keeps them in half the memory
 * (converted once, in place: call it after loading, before or after
 * attaching models) and runs their GEMMs with bf16 inputs and f32
 * accumulation (tensor/pt_matmul.h); PT_F32 widens them back. What trains
 * (the method's tensors, the head), biases, LayerNorm, softmax, the loss and
 * the optimizer stay f32. A matrix a model trains (fine-tuning) is refused
 * for BF16 (PT_ERR_ARG naming it): ptune keeps no f32 master copy, and a
 * method that adopts a BF16 matrix later fails the same way. */
pt_status pt_backbone_set_weight_dtype(pt_backbone *bb, pt_dtype dt);

#endif
