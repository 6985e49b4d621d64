/* Layers built from differentiable ops: Linear, Embedding, LayerNorm,
 * multi-head self-attention with optional prefix keys/values, the post-LN
 * transformer layer and the encoder stack.
 *
 * A layer struct holds BORROWED pointers to its parameter tensors; the
 * pt_params list the layer registered them in owns them. Initialization
 * follows Hugging Face (weights N(0, init_std), biases 0, LayerNorm 1/0).
 * Forward functions return a new tensor (or NULL, message set). */
#ifndef PT_LAYERS_H
#define PT_LAYERS_H

#include <stdbool.h>

#include "nn/pt_params.h"
#include "tensor/pt_rng.h"
#include "tensor/pt_tensor.h"

/* Whether dropout is active and where its randomness comes from. */
typedef struct {
  bool training;
  pt_rng *rng;
} pt_nn_mode;

/* Linear hooks: the extension point for PEFT methods that change a linear
 * layer (LoRA, IA³, bottleneck adapters, ...). A hook runs at one of two
 * stages of y = x·Wᵀ + b:
 *   PT_NN_HOOK_INPUT   before the GEMM: fn(ctx, x, NULL) returns the input
 *                      to use instead (IA³'s feed-forward scaling);
 *   PT_NN_HOOK_OUTPUT  after it: fn(ctx, x, y) returns the output to use
 *                      instead (LoRA adds (x·Aᵀ)·Bᵀ; x is the input the GEMM
 *                      saw, i.e. after the input hooks).
 * Hooks chain, so several methods can touch one layer: the input hooks run
 * in the order they were added, each on the previous one's result, then the
 * GEMM, then the output hooks in their order. fn returns a new tensor (NULL
 * on failure, with the reason recorded by pt_error(); a hook that records
 * nothing gets a message from the layer naming the layer and the hook's
 * stage, never an older one) and must not free its arguments. A hook whose
 * `enabled` points at false is skipped (one adapter of several sharing a
 * backbone); NULL means always on.
 *
 * Ownership: the hook nodes belong to whoever added them (a PEFT model keeps
 * its own); the layer only links them and must not outlive them, or they
 * are removed first with pt_nn_linear_hook_remove. */
typedef enum { PT_NN_HOOK_INPUT = 0, PT_NN_HOOK_OUTPUT = 1 } pt_nn_hook_stage;

typedef pt_tensor *(*pt_nn_hook_fn)(void *ctx, pt_tensor *x, pt_tensor *y);

typedef struct pt_nn_linear_hook {
  pt_nn_hook_stage stage;
  pt_nn_hook_fn fn;
  void *ctx;                       /* borrowed, handed to fn */
  const bool *enabled;             /* NULL: always on */
  struct pt_nn_linear_hook *next;  /* the layer's chain */
} pt_nn_linear_hook;

typedef struct {
  pt_tensor *weight; /* [out, in] */
  pt_tensor *bias;   /* [out] or NULL */
  pt_nn_linear_hook *hooks; /* NULL: plain linear */
} pt_nn_linear;

/* Appends h (not linked anywhere else) to the layer's chain. */
void pt_nn_linear_hook_add(pt_nn_linear *m, pt_nn_linear_hook *h);
/* Unlinks h from the layer's chain (a no-op when it is not there). */
void pt_nn_linear_hook_remove(pt_nn_linear *m, pt_nn_linear_hook *h);

/* Registers `<prefix>.weight` and `<prefix>.bias`. */
pt_status pt_nn_linear_init(pt_nn_linear *m, pt_params *ps, const char *prefix, int64_t in,
                            int64_t out, bool bias, pt_rng *rng, double init_std);
/* x·Wᵀ + b with the layer's hooks (a new tensor, NULL on failure). */
pt_tensor *pt_nn_linear_forward(const pt_nn_linear *m, pt_tensor *x);
/* gelu(pt_nn_linear_forward(m, x)): one GEMM with the GELU in its epilogue
 * when no gradient is needed and the layer has no hooks (pt_linear_gelu). */
pt_tensor *pt_nn_linear_gelu_forward(const pt_nn_linear *m, pt_tensor *x);

typedef struct {
  pt_tensor *weight; /* [V, H] */
  int64_t padding_idx; /* -1: none */
} pt_nn_embedding;

/* Registers `<prefix>.weight`; the padding row starts at zero, as in HF. */
pt_status pt_nn_embedding_init(pt_nn_embedding *m, pt_params *ps, const char *prefix, int64_t num,
                               int64_t dim, int64_t padding_idx, pt_rng *rng, double init_std);
pt_tensor *pt_nn_embedding_forward(const pt_nn_embedding *m, const pt_tensor *ids);

typedef struct {
  pt_tensor *weight, *bias; /* [H] */
  double eps;
  /* Output hooks, as a linear's (PT_NN_HOOK_OUTPUT only): fn(ctx, x, y)
   * with x the layer's input (before the residual, for the add form) and y
   * its output; NULL: plain LayerNorm. A method that trains a private copy
   * of the bias on a shared backbone adds it here. */
  pt_nn_linear_hook *hooks;
} pt_nn_layernorm;

/* Appends / unlinks an output hook (h->stage must be PT_NN_HOOK_OUTPUT). */
void pt_nn_layernorm_hook_add(pt_nn_layernorm *m, pt_nn_linear_hook *h);
void pt_nn_layernorm_hook_remove(pt_nn_layernorm *m, pt_nn_linear_hook *h);
pt_status pt_nn_layernorm_init(pt_nn_layernorm *m, pt_params *ps, const char *prefix, int64_t dim,
                               double eps);
pt_tensor *pt_nn_layernorm_forward(const pt_nn_layernorm *m, pt_tensor *x);
/* LN(x + residual) in one op (pt_add_layer_norm). */
pt_tensor *pt_nn_layernorm_add_forward(const pt_nn_layernorm *m, pt_tensor *x, pt_tensor *residual);

/* ---- transformer encoder (HF BertLayer naming) ---- */

typedef struct {
  int64_t hidden, heads, intermediate;
  double layer_norm_eps;
  double hidden_dropout, attention_dropout;
  double init_std;
} pt_nn_encoder_config;

typedef struct {
  pt_nn_linear query, key, value;   /* attention.self.* */
  pt_nn_linear attn_out;            /* attention.output.dense */
  pt_nn_layernorm attn_ln;          /* attention.output.LayerNorm */
  pt_nn_linear intermediate;        /* intermediate.dense */
  pt_nn_linear out;                 /* output.dense */
  pt_nn_layernorm out_ln;           /* output.LayerNorm */
} pt_nn_encoder_layer;

/* Registers `<prefix>.attention.self.query.weight`, ... */
pt_status pt_nn_encoder_layer_init(pt_nn_encoder_layer *m, pt_params *ps, const char *prefix,
                                   const pt_nn_encoder_config *cfg, pt_rng *rng);

/* Calls fn on each linear of the layer with its Hugging Face module path
 * `<prefix>.attention.self.query`, `.key`, `.value`,
 * `<prefix>.attention.output.dense`, `<prefix>.intermediate.dense`,
 * `<prefix>.output.dense`, in that (HF's named_modules) order; stops at
 * and returns the first status that is not PT_OK. */
typedef pt_status (*pt_nn_linear_visit_fn)(pt_nn_linear *lin, const char *path, void *ctx);
pt_status pt_nn_encoder_layer_visit(pt_nn_encoder_layer *m, const char *prefix,
                                    pt_nn_linear_visit_fn fn, void *ctx);

/* h [B, S, H] -> [B, S, H]. prefix_k/prefix_v [B, NH, P, HD] or NULL;
 * mask additive [B, 1, 1, P+S] (or NULL). Post-LN:
 * a = LN(dropout(W_o · attention(h)) + h); out = LN(dropout(W_2 · gelu(W_1 a)) + a). */
pt_tensor *pt_nn_encoder_layer_forward(const pt_nn_encoder_layer *m,
                                       const pt_nn_encoder_config *cfg, pt_tensor *h,
                                       pt_tensor *prefix_k, pt_tensor *prefix_v, pt_tensor *mask,
                                       pt_nn_mode mode);

#endif
