/* prompt: prompt tuning (Lester et al. 2021) as peft's PROMPT_TUNING
 * (tuners/prompt_tuning/model.py PromptEmbedding and
 * PeftModelFor*.forward): P trainable vectors prompt_encoder.embedding
 * [P, H] prepended to the word embeddings; token type 0, always-visible
 * attention and positions 0..P+S-1 for the whole input (peft hands the
 * encoder inputs_embeds). Start: RANDOM (torch's Embedding init, N(0, 1)),
 * TEXT (the word embeddings of the tokenized --prompt-init-text, special
 * tokens included as HF's tokenizer call adds them, cut or repeated to P)
 * or SAMPLE_VOCAB (the embeddings of P random vocabulary ids). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/pt_autograd.h"
#include "models/methods/common.h"
#include "models/pt_tokenizer.h"

typedef struct {
  int64_t tokens;
  char *init;
  char *init_text;
} prompt_opts;

static const pt_option prompt_options[] = {
    {"num-virtual-tokens", "num_virtual_tokens", PT_OPT_INT, offsetof(prompt_opts, tokens), "16",
     NULL, "prompt length P: vectors prepended to the input", true},
    {"prompt-init", "prompt_tuning_init", PT_OPT_CHOICE, offsetof(prompt_opts, init), "RANDOM",
     "RANDOM|TEXT|SAMPLE_VOCAB", "how the prompt starts", true},
    {"prompt-init-text", "prompt_tuning_init_text", PT_OPT_STRING,
     offsetof(prompt_opts, init_text), NULL, NULL, "the text TEXT starts from", true},
    {0}};

static pt_status prompt_check(const void *opts, const pt_bert_config *bc) {
  const prompt_opts *o = opts;
  (void)bc;
  if (o->tokens < 1)
    return pt_error(PT_ERR_ARG, "--num-virtual-tokens must be at least 1, got %lld",
                    (long long)o->tokens);
  if (!strcmp(o->init, "TEXT") && (!o->init_text || !o->init_text[0]))
    return pt_error(PT_ERR_ARG, "--prompt-init TEXT needs --prompt-init-text");
  return PT_OK;
}

static int64_t prompt_positions(const void *opts) { return ((const prompt_opts *)opts)->tokens; }

/* Row i of the prompt starts as word embedding ids[i % n]. */
static pt_status copy_word_rows(pt_model *m, pt_tensor *w, const int64_t *ids, int64_t n) {
  pt_tensor *words = m->bb->bert.word.weight;
  int64_t P = w->shape[0], H = w->shape[1];
  for (int64_t i = 0; i < P; i++)
    for (int64_t j = 0; j < H; j++) pt_set(w, i * H + j, pt_get(words, ids[i % n] * H + j));
  return PT_OK;
}

static pt_status prompt_attach(pt_model *m, pt_rng *rng) {
  const prompt_opts *o = m->opts;
  int64_t P = o->tokens, H = m->bb->bert.cfg.hidden_size, V = m->bb->bert.cfg.vocab_size;
  pt_tensor *w = method_embedding(m, "prompt_encoder.embedding.weight", P, H, 1.0, rng);
  if (!w) return pt_error_code();
  m->state = w;
  if (m->loading) return PT_OK; /* the adapter's values follow */
  if (!strcmp(o->init, "SAMPLE_VOCAB")) {
    int64_t *ids = malloc(sizeof(int64_t) * (size_t)P);
    if (!ids) return pt_error(PT_ERR_NOMEM, "prompt: out of memory");
    for (int64_t i = 0; i < P; i++) ids[i] = (int64_t)pt_rng_below(rng, (uint64_t)V);
    pt_status st = copy_word_rows(m, w, ids, P);
    free(ids);
    return st;
  }
  if (strcmp(o->init, "TEXT")) return PT_OK;
  const pt_tokenizer *tok = m->tokenizer;
  if (!tok) return pt_error(PT_ERR_ARG, "--prompt-init TEXT needs the model's tokenizer");
  pt_encoding enc = {0};
  pt_encode_opts eo = {0};
  PT_TRY(pt_tokenizer_encode(tok, o->init_text, strlen(o->init_text), NULL, 0, &eo, &enc));
  pt_status st = PT_OK;
  for (int64_t i = 0; i < enc.n && st == PT_OK; i++)
    if (enc.ids[i] < 0 || enc.ids[i] >= V)
      st = pt_error(PT_ERR_ARG, "--prompt-init-text: token id %lld is outside the model's "
                    "vocabulary", (long long)enc.ids[i]);
  if (st == PT_OK) st = copy_word_rows(m, w, enc.ids, enc.n);
  pt_encoding_free(&enc);
  return st;
}

static pt_status prompt_prepare(const pt_model *m, pt_prepared *out) {
  pt_tensor *table = method_table_rows(m->state);
  out->prompt = table ? method_expand_rows(table, out->rows) : NULL;
  pt_tensor_free(table);
  return out->prompt ? PT_OK : pt_error_code();
}

static pt_tensor *prompt_table(const pt_model *m) {
  return pt_raw_clone((const pt_tensor *)m->state);
}

static pt_status prompt_peft_config(const pt_model *m, json_t *cfg) {
  const pt_bert_config *bc = &m->bb->bert.cfg;
  json_object_set_new(cfg, "token_dim", json_integer(bc->hidden_size));
  json_object_set_new(cfg, "num_layers", json_integer(bc->num_layers));
  json_object_set_new(cfg, "num_attention_heads", json_integer(bc->num_heads));
  json_object_set_new(cfg, "num_transformer_submodules", json_integer(1));
  json_object_set_new(cfg, "tokenizer_name_or_path", json_null());
  return PT_OK;
}

const pt_method pt_method_prompt = {
    .name = "prompt",
    .summary = "prompt tuning: trainable vectors before the input (peft's PROMPT_TUNING)",
    .options = prompt_options,
    .opts_size = sizeof(prompt_opts),
    .check = prompt_check,
    .positions = prompt_positions,
    .positions_flag = "num-virtual-tokens",
    .prompt = true,
    .attach = prompt_attach,
    .prepare = prompt_prepare,
    .table = prompt_table,
    .peft_type = "PROMPT_TUNING",
    .peft_prompt_learning = true,
    .peft_config = prompt_peft_config,
};
