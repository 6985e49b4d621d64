/* A task model: a PEFT method and a task head attached to a backbone.
 *
 *   backbone (frozen BERT/RoBERTa, pt_backbone.h)
 *     + method (pt_method.h: its options, its tensors, its hooks)
 *     + head (pt_head.h: classifier / qa_outputs / verbalizer)
 *
 * What trains: the method's tensors, the head's, and the backbone tensors
 * the method adopts (finetune: all; bitfit: the biases). Everything else
 * stays frozen: no gradient, no weight-gradient GEMM.
 *
 * A forward runs the method's per-batch prepare (prefix keys/values or
 * prompt embeddings), the encoder with the model's hooks switched on (and
 * those of any other model on the same backbone off), and the head.
 *
 * Ownership: pt_model is caller-owned and released with pt_model_free
 * (before its backbone). Outputs are released with pt_model_outputs_free. */
#ifndef PT_MODEL_H
#define PT_MODEL_H

#include <stdbool.h>

#include "models/pt_backbone.h"
#include "models/pt_head.h"
#include "models/pt_method.h"

typedef struct pt_model_hooked pt_model_hooked;

typedef struct pt_model {
  pt_backbone *bb;          /* borrowed */
  const pt_method *method;  /* borrowed (the registry's) */
  void *opts;               /* the method's options (owned) */
  pt_head head;
  pt_params params;         /* the method's tensors (owned) */
  pt_tensor **adopted;      /* backbone tensors the method trains (borrowed) */
  int nadopted, cap_adopted;
  void *state;              /* the method's private state (pt_model_alloc) */
  pt_model_hooked *hooks;   /* installed hooks (owned) */
  bool active;              /* this model's hooks run */
  bool merged;              /* folded into the backbone (pt_model_merge) */
  pt_nn_mode mode;          /* of the forward running now (hooks read it: dropout) */
  const struct pt_tokenizer *tokenizer; /* during attach only: pt_model_config's */
  bool loading;                         /* during attach only: pt_model_config's */
  /* In a mixed batch (pt_mixed.h), the rows [row_start, row_start +
   * row_count) of every hooked tensor that are this model's: its hooks see
   * and replace only those. row_group false: every row. */
  bool row_group;
  int64_t row_start, row_count;
  void *allocs_;            /* private: pt_model_alloc's blocks */
} pt_model;

typedef struct {
  pt_head_config head;
  uint64_t seed;                    /* initializes the method's and the head's tensors */
  const pt_rng *rng;                /* or, when not NULL, this stream does (e.g. the
                                     * backbone's init_rng) */
  const struct pt_tokenizer *tokenizer; /* the model's (borrowed; NULL: none), for methods
                                         * initialized from text */
  bool loading; /* the tensors are read from an adapter next: skip inits that need data */
} pt_model_config;

/* Builds the model on bb: copies opts (NULL: the method's defaults),
 * checks them against the encoder, creates the head and attaches the
 * method. Free with pt_model_free. */
pt_status pt_model_new(pt_model *m, pt_backbone *bb, const pt_method *method, const void *opts,
                       const pt_model_config *cfg);
/* Removes the model's hooks, gives adopted tensors back to the frozen
 * backbone, detaches from it and releases everything the model owns. */
void pt_model_free(pt_model *m);

/* ---- for methods, inside attach ---- */

/* Creates a tensor of the method (zeros, dt of the backbone) named `name`,
 * registered in m->params and trainable unless `frozen`. Borrowed result. */
pt_tensor *pt_model_param(pt_model *m, const char *name, int ndim, const int64_t *shape,
                          bool frozen);
/* Installs fn at `stage` of lin (after any hooks already there), switched
 * by the model. In a mixed batch fn sees the model's rows alone (x and y
 * narrowed along dim 0) and its result replaces those rows. */
pt_status pt_model_hook(pt_model *m, pt_nn_linear *lin, pt_nn_hook_stage stage, pt_nn_hook_fn fn,
                        void *ctx);
/* Makes a backbone tensor trainable as part of this model (it is saved in
 * the model's adapter). The model must be alone on its backbone, unless the
 * backbone is shared (pt_backbone.shared): then t must be a bias, and the
 * model trains a copy of it under its name instead (in m->params). */
pt_status pt_model_adopt(pt_model *m, pt_tensor *t);
/* Zeroed memory the model frees with itself (a method's state). */
void *pt_model_alloc(pt_model *m, size_t bytes);
/* Calls fn on each backbone linear whose module path `targets` matches
 * (peft's rule, pt_targets.h). None matching is PT_ERR_ARG naming `what`
 * and the targets, as peft refuses targets not found in the model. */
pt_status pt_model_visit_targets(pt_model *m, const pt_nn_targets *targets, const char *what,
                                 pt_nn_linear_visit_fn fn, void *ctx);
/* The linear at a Hugging Face module path, or NULL. */
pt_nn_linear *pt_model_linear(pt_model *m, const char *path);

/* ---- use ---- */

/* The encoder's compute dtype (F32, also over bf16 matrices; F64 after
 * pt_model_set_dtype). */
pt_dtype pt_model_dtype(const pt_model *m);
/* Positions the method takes before the text (prefix or prompt length). */
int64_t pt_model_positions(const pt_model *m);
/* Those of them that are a prompt before the text (they lengthen every row
 * of a batch: models/pt_mixed.h); 0 for a prefix of keys/values. */
int64_t pt_model_prompt_positions(const pt_model *m);
/* The tensors that train, in a fixed order: adopted backbone tensors (in
 * backbone order), the method's, the head's. Borrowed. */
int pt_model_ntrainable(const pt_model *m);
pt_tensor *pt_model_trainable(const pt_model *m, int i);
/* The trainable tensor named `name`, or NULL. */
pt_tensor *pt_model_trainable_find(const pt_model *m, const char *name);
/* Elements that train, and in the whole model (backbone + method + head). */
int64_t pt_model_numel(const pt_model *m, bool trainable_only);

typedef struct {
  const pt_tensor *input_ids;      /* [B, S] (multiple choice: [B, C, S]) */
  const pt_tensor *attention_mask; /* same shape, 0/1; NULL: all ones */
  const pt_tensor *token_type_ids; /* same shape or NULL */
  const pt_tensor *labels;         /* seq/mc: [B]; token: [B, S] with -100; NULL: no loss */
  const pt_tensor *start_positions, *end_positions; /* QA: [B]; NULL: no loss */
} pt_model_batch;

typedef struct {
  pt_tensor *logits;       /* [B, C], [B, S, C], [B, S, 2] (QA) or [B, C] (mc) */
  pt_tensor *start_logits; /* QA: [B, S] */
  pt_tensor *end_logits;
  pt_tensor *loss;         /* 0-dim, or NULL without labels */
  pt_bert_outputs encoder;
} pt_model_outputs;

pt_status pt_model_forward(pt_model *m, const pt_model_batch *batch, pt_nn_mode mode,
                           bool keep_hidden_states, pt_model_outputs *out);
void pt_model_outputs_free(pt_model_outputs *out);

/* Replaces a reparameterized method (a prefix MLP, P-tuning's encoder) by
 * the table it computes: same outputs, fewer tensors, not trainable
 * further as the original. A method without one is left as it is. */
pt_status pt_model_bake(pt_model *m);
/* Folds the method into the backbone's weights (lora, ia3, bitfit) and
 * removes its hooks: the backbone then computes the model alone.
 * PT_ERR_STATE for a method that cannot merge. */
pt_status pt_model_merge(pt_model *m);

/* The model's tensors (backbone included) in dt, for a whole-model
 * gradient check in F64. */
pt_status pt_model_set_dtype(pt_model *m, pt_dtype dt);

#endif
