/* Shared by the tokenizer harnesses: encodes a text several ways (single,
 * pair, pre-split words; with and without truncation and padding) and checks
 * the documented invariants of every pt_encoding. */
#ifndef PT_FUZZ_TOK_CHECK_H
#define PT_FUZZ_TOK_CHECK_H

#include <stdlib.h>
#include <string.h>

#include "models/pt_tokenizer.h"

static inline void fuzz_check_encoding(const pt_tokenizer *tok, const pt_encoding *e, size_t len,
                                size_t pair_len) {
  int64_t vs = pt_tokenizer_vocab_size(tok);
  for (int64_t i = 0; i < e->n; i++) {
    if (e->ids[i] < 0 || e->ids[i] >= vs) abort();
    if (!e->tokens[i]) abort();
    (void)strlen(e->tokens[i]);
    int64_t b0 = e->byte_offsets[2 * i], b1 = e->byte_offsets[2 * i + 1];
    if (b0 < 0 || b1 < b0) abort();
    if (e->seq_ids[i] == 0 && e->word_ids[i] >= 0 && (size_t)b1 > len) abort();
    if (e->seq_ids[i] == 1 && (size_t)b1 > pair_len) abort();
    if (e->char_offsets[2 * i + 1] < e->char_offsets[2 * i]) abort();
    if (e->attention_mask[i] != 0 && e->attention_mask[i] != 1) abort();
    (void)e->type_ids[i];
    (void)e->special_mask[i];
  }
}

/* Encodes text (and a pair made of its two halves at `cut`) under `mode`. */
static inline void fuzz_encode_all(pt_tokenizer *tok, const char *text, size_t len, unsigned mode) {
  pt_encode_opts opts = {0};
  opts.no_special_tokens = mode & 1;
  if (mode & 2) {
    opts.max_length = 2 + (mode >> 4) % 16;
    opts.truncation = (pt_truncation)((mode >> 2) & 3);
    opts.pad_to_max_length = (mode >> 8) & 1;
  }
  pt_encoding e = {0};
  if (pt_tokenizer_encode(tok, text, len, NULL, 0, &opts, &e) == PT_OK)
    fuzz_check_encoding(tok, &e, len, 0);
  pt_encoding_free(&e);
  size_t cut = len / 2;
  memset(&e, 0, sizeof e);
  if (pt_tokenizer_encode(tok, text, cut, text + cut, len - cut, &opts, &e) == PT_OK)
    fuzz_check_encoding(tok, &e, cut, len - cut);
  pt_encoding_free(&e);
  /* Pre-split words: the text cut at spaces into NUL-terminated words. */
  char *copy = malloc(len + 1);
  const char **words = malloc((len + 1) * sizeof *words);
  if (copy && words) {
    memcpy(copy, text, len);
    copy[len] = '\0';
    int64_t nw = 0;
    char *p = copy;
    for (;;) {
      words[nw++] = p;
      char *sp = memchr(p, ' ', (size_t)(copy + len - p));
      if (!sp) break;
      *sp = '\0';
      p = sp + 1;
    }
    memset(&e, 0, sizeof e);
    if (pt_tokenizer_encode_words(tok, words, nw, &opts, &e) == PT_OK)
      fuzz_check_encoding(tok, &e, (size_t)-1, 0);
    pt_encoding_free(&e);
  }
  free(copy);
  free(words);
}

#endif
