/* BERT and RoBERTa encoders (Hugging Face BertModel / RobertaModel with
 * absolute positions), driven the way THUDM/P-tuning-v2 drives them.
 *
 * Parameters carry Hugging Face names under the base prefix ("bert." or
 * "roberta."), registered in a pt_params list the caller owns (a task model
 * holds the encoder, its prefix encoder and its head in one list). */
#ifndef PT_BERT_H
#define PT_BERT_H

#include <stdbool.h>

#include "nn/pt_layers.h"
#include "nn/pt_params.h"

typedef enum { PT_ARCH_BERT = 0, PT_ARCH_ROBERTA = 1 } pt_arch;

typedef struct {
  pt_arch arch;
  int64_t vocab_size, hidden_size, num_layers, num_heads, intermediate_size;
  int64_t max_position, type_vocab_size, pad_token_id;
  double layer_norm_eps, hidden_dropout, attention_dropout, init_std;
} pt_bert_config;

/* The defaults of Hugging Face's BertConfig (bert-base-uncased sizes). */
void pt_bert_config_default(pt_bert_config *cfg, pt_arch arch);
/* "bert" / "roberta". */
const char *pt_arch_name(pt_arch arch);
/* Checks sizes (positive, heads divide hidden, pad id inside the vocab);
 * the message names `source` (e.g. the config file). */
pt_status pt_bert_config_validate(const pt_bert_config *cfg, const char *source);

typedef struct {
  pt_bert_config cfg;
  pt_nn_encoder_config enc;
  char prefix[16]; /* "bert" or "roberta" */
  pt_nn_embedding word, position, token_type;
  pt_nn_layernorm emb_ln;
  pt_nn_encoder_layer *layers; /* [num_layers], owned */
  pt_nn_linear pooler;
  bool has_pooler;
} pt_bert;

/* Builds the encoder with HF initialization (N(0, init_std)), registering
 * its parameters in `ps`. Free with pt_bert_free (the tensors belong to ps). */
pt_status pt_bert_init(pt_bert *m, pt_params *ps, const pt_bert_config *cfg, bool with_pooler,
                       pt_rng *rng);
void pt_bert_free(pt_bert *m);

typedef struct {
  const pt_tensor *input_ids;      /* [B, S] I64 */
  const pt_tensor *attention_mask; /* [B, S] 0/1 (any dtype), NULL: all ones */
  const pt_tensor *token_type_ids; /* [B, S] I64, NULL: zeros */
  /* P-Tuning v2: per-layer prefix keys and values, each [B, NH, P, HD]
   * (arrays of num_layers), or NULL. An entry may be NULL: that layer
   * attends to the sequence alone (the paper's prompt-depth ablation); the
   * others must share one P. Positions are offset by P. */
  pt_tensor *const *prefix_keys;
  pt_tensor *const *prefix_values;
  /* Prompt tuning: [B, P, H] prepended to the word embeddings before
   * position/type embeddings (as peft does), or NULL. The outputs then cover
   * P+S positions. */
  pt_tensor *prompt_embeds;
  bool keep_hidden_states; /* fill hidden_states[0..L] */
  /* Mixed batches (rows of different methods, models/pt_mixed.h), or NULL:
   * every row sees all P prefix keys and all prompt vectors. */
  const struct pt_bert_rows *rows;
} pt_bert_inputs;

/* Per-row lengths of a mixed batch. A row sees only the first prefix[l·B+b]
 * of the P prefix keys at layer l (the rest are masked, as padding is), and
 * its text positions are offset by its largest prefix, as a batch of that
 * row's method alone would have them. A row with prompt[b] vectors has its
 * text right after them; the prompt_embeds slots past its own prompt are
 * unused, and the positions after its text are filler: masked as keys,
 * their outputs meaningless. A row without a prompt (0) is positioned as
 * without prompt_embeds. Either array may be NULL (all P, all prompt).
 * width, when not 0, is the embedded sequence's length T (the outputs'
 * S'): at most prompt_embeds' width + S, at least every row's prompt + text
 * up to its last unmasked token; the positions past it (padding only) are
 * not computed. Rows of different prompts padded to one S need it: a row
 * without a prompt then does not carry the prompt's width of padding. */
typedef struct pt_bert_rows {
  const int64_t *prefix; /* [L·B], each in [0, P] */
  const int64_t *prompt; /* [B], each in [0, prompt_embeds' width] */
  int64_t width;         /* T; 0: prompt_embeds' width + S */
} pt_bert_rows;

typedef struct {
  pt_tensor *last_hidden;     /* [B, S', H] */
  pt_tensor *pooled;          /* [B, H] if the model has a pooler */
  pt_tensor **hidden_states;  /* [L+1] when asked (owned array) */
  int n_hidden_states;
  pt_tensor *position_ids;    /* [B, S'] I64 */
} pt_bert_outputs;

/* Calls fn on every linear of the encoder with its Hugging Face module
 * path: "<base>.encoder.layer.<l>.attention.self.query", ... (see
 * pt_nn_encoder_layer_visit), then "<base>.pooler.dense" when there is a
 * pooler: the names peft's target_modules are matched against. */
pt_status pt_bert_visit_linears(pt_bert *m, pt_nn_linear_visit_fn fn, void *ctx);

/* Runs the encoder. On success fills `out` (caller frees with
 * pt_bert_outputs_free). */
pt_status pt_bert_forward(const pt_bert *m, const pt_bert_inputs *in, pt_nn_mode mode,
                          pt_bert_outputs *out);
void pt_bert_outputs_free(pt_bert_outputs *out);

/* Position ids as HF computes them with past_key_values_length = P:
 * BERT arange(P, P+S); RoBERTa (cumsum(ids != pad) + P)·(ids != pad) + pad. */
pt_tensor *pt_bert_position_ids(const pt_bert_config *cfg, const pt_tensor *input_ids, int64_t P);

/* The additive attention mask [B, 1, 1, P+S] for a 0/1 mask [B, S] with a
 * prefix of P always-visible keys: (1 − m)·finfo(f32).min. */
pt_tensor *pt_bert_extended_mask(const pt_tensor *attention_mask, int64_t B, int64_t S, int64_t P);

#endif
