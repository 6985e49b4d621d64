/* `ptune fill-mask --model DIR [--top-k 5] [--json] TEXT...`: the masked-LM
 * head's top guesses for every [MASK] of each text, as Hugging Face's
 * fill-mask pipeline gives them (softmax over the vocabulary at that
 * position; all masks of a text are predicted in one pass). A text "-" reads
 * one text per line from stdin. For probing a pretrained model: what
 * `ptune pretrain` made, or any BertForMaskedLM checkpoint. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/cmd/commands.h"
#include "autograd/pt_autograd.h"
#include "models/pt_mlm.h"
#include "models/pt_tokenizer.h"

/* Indices of the k largest of x[0..n) into top (k <= n), largest first. */
static void top_k(const float *x, int64_t n, int64_t k, int64_t *top) {
  for (int64_t j = 0; j < k; j++) top[j] = -1;
  for (int64_t v = 0; v < n; v++) {
    if (top[k - 1] >= 0 && x[v] <= x[top[k - 1]]) continue;
    int64_t j = k - 1;
    while (j > 0 && (top[j - 1] < 0 || x[v] > x[top[j - 1]])) {
      top[j] = top[j - 1];
      j--;
    }
    top[j] = v;
  }
}

/* Predicts and prints one text. */
static pt_status fill_one(const pt_mlm_model *m, const pt_tokenizer *tok, const run_args *a,
                          const char *text) {
  int64_t mask_id = pt_tokenizer_mask_id(tok), V = m->bert.cfg.vocab_size;
  pt_encoding enc;
  PT_TRY(pt_tokenizer_encode(tok, text, strlen(text), NULL, 0, NULL, &enc));
  int64_t *rows = malloc((size_t)enc.n * sizeof *rows), n = 0;
  pt_status st = rows ? PT_OK : pt_error(PT_ERR_NOMEM, "out of memory");
  for (int64_t i = 0; st == PT_OK && i < enc.n; i++)
    if (enc.ids[i] == mask_id) rows[n++] = i;
  if (st == PT_OK && n == 0)
    st = pt_error(PT_ERR_ARG, "no %s in \"%s\"", pt_tokenizer_id_to_token(tok, mask_id), text);
  if (st == PT_OK && enc.n > m->bert.cfg.max_position)
    st = pt_error(PT_ERR_ARG, "\"%.40s...\" is %lld tokens, the model takes %lld", text,
                  (long long)enc.n, (long long)m->bert.cfg.max_position);
  pt_tensor *ids = st == PT_OK ? pt_from_buffer(PT_I64, 2, PT_SHAPE(1, enc.n), enc.ids) : NULL;
  if (st == PT_OK && !ids) st = pt_error_code();
  pt_tensor *logits = NULL, *lf = NULL;
  if (st == PT_OK) {
    pt_no_grad_enter();
    logits = pt_mlm_logits_at(m, ids, NULL, rows, n);
    pt_no_grad_exit();
    lf = logits ? pt_raw_contiguous(logits) : NULL;
    if (!lf) st = pt_error_code();
  }
  int64_t k = a->top_k < V ? a->top_k : V;
  int64_t *top = st == PT_OK ? malloc((size_t)k * sizeof *top) : NULL;
  if (st == PT_OK && !top) st = pt_error(PT_ERR_NOMEM, "out of memory");
  json_t *masks = st == PT_OK && a->json ? json_array() : NULL;
  if (st == PT_OK && !a->json) printf("%s\n", text);
  for (int64_t r = 0; st == PT_OK && r < n; r++) {
    const float *x = (const float *)pt_data(lf) + r * V;
    double mx = -INFINITY, z = 0;
    for (int64_t v = 0; v < V; v++) mx = x[v] > mx ? x[v] : mx;
    for (int64_t v = 0; v < V; v++) z += exp(x[v] - mx);
    top_k(x, V, k, top);
    json_t *guesses = a->json ? json_array() : NULL;
    if (!a->json) printf("  %s %lld:", pt_tokenizer_id_to_token(tok, mask_id), (long long)r + 1);
    for (int64_t j = 0; j < k; j++) {
      double p = exp(x[top[j]] - mx) / z;
      const char *s = pt_tokenizer_id_to_token(tok, top[j]);
      if (a->json)
        json_array_append_new(guesses, json_pack("{s:I,s:s,s:f}", "token", (json_int_t)top[j],
                                                 "token_str", s ? s : "", "score", p));
      else
        printf("%s %s %.3f", j ? " |" : "", s ? s : "?", p);
    }
    if (a->json)
      json_array_append_new(masks, guesses);
    else
      printf("\n");
  }
  if (st == PT_OK && a->json) {
    json_t *o = json_pack("{s:s,s:o}", "text", text, "masks", masks);
    char *line =
        o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6)) : NULL;
    if (line)
      printf("%s\n", line);
    else
      st = pt_error(PT_ERR_NOMEM, "out of memory");
    free(line);
    json_decref(o);
  } else {
    json_decref(masks);
  }
  free(top);
  pt_tensor_free(lf);
  pt_tensor_free(logits);
  pt_tensor_free(ids);
  free(rows);
  pt_encoding_free(&enc);
  return st;
}

static pt_status fill_mask(const run_args *a) {
  pt_tokenizer *tok = pt_tokenizer_load(a->model);
  if (!tok) return pt_error_code();
  if (pt_tokenizer_mask_id(tok) < 0) {
    pt_tokenizer_free(tok);
    return pt_error(PT_ERR_FORMAT, "%s: the vocabulary has no mask token", a->model);
  }
  pt_mlm_model m;
  pt_status st = pt_mlm_from_pretrained(&m, a->model);
  if (st != PT_OK) {
    pt_tokenizer_free(tok);
    return st;
  }
  if (pt_tokenizer_vocab_size(tok) > m.bert.cfg.vocab_size)
    st =
        pt_error(PT_ERR_FORMAT, "%s: the vocabulary has %lld tokens, the model %lld rows", a->model,
                 (long long)pt_tokenizer_vocab_size(tok), (long long)m.bert.cfg.vocab_size);
  char *line = NULL;
  size_t cap = 0;
  for (int i = 0; st == PT_OK && i < a->texts.n; i++) {
    if (strcmp(a->texts.v[i], "-")) {
      st = fill_one(&m, tok, a, a->texts.v[i]);
      continue;
    }
    ssize_t len;
    while (st == PT_OK && (len = getline(&line, &cap, stdin)) >= 0) {
      while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
      if (len) st = fill_one(&m, tok, a, line);
    }
  }
  free(line);
  pt_mlm_free(&m);
  pt_tokenizer_free(tok);
  return st;
}

static int run(run_args *a) { return command_exit(a, fill_mask(a)); }

static const command fill_mask_command = {
    .name = "fill-mask",
    .summary = "a masked-LM model's top guesses for each [MASK] of a text",
    .usage =
        "fill-mask --model DIR [--top-k N] [--json] [--threads N] TEXT...\n"
        "Prints the top-k tokens and their probabilities for every [MASK] of each text.",
    .defaults = "--top-k 5",
    .required = "--model TEXT",
    .run = run,
};
COMMAND_REGISTER(fill_mask_command);
