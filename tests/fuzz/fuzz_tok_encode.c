/* libFuzzer harness: the three real tokenizers (bert-base-cased,
 * bert-base-uncased, roberta-base from tests/fixtures/vocab) encoding
 * arbitrary bytes, invalid UTF-8 and NULs included, as single texts, pairs
 * and pre-split words with truncation and padding. The first two input bytes
 * pick the tokenizer and the options. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tests/fuzz/fuzz_tok_check.h"
#include "tests/fuzz/fuzz_util.h"

#ifndef PT_FUZZ_VOCAB_DIR
#error "PT_FUZZ_VOCAB_DIR must name tests/fixtures/vocab"
#endif

static pt_tokenizer *toks[3];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  static const char *const names[] = {"bert-base-cased", "bert-base-uncased", "roberta-base"};
  pt_warn_set_handler(NULL, NULL);
  for (int i = 0; i < 3; i++) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", PT_FUZZ_VOCAB_DIR, names[i]);
    toks[i] = pt_tokenizer_load(dir);
    if (!toks[i]) {
      fprintf(stderr, "%s\n", pt_error_message());
      abort();
    }
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  unsigned mode = data[0] | (unsigned)data[1] << 8;
  pt_tokenizer *tok = toks[(data[0] >> 6) % 3];
  if (pt_tokenizer_kind_of(tok) == PT_TOK_BPE) pt_tokenizer_set_add_prefix_space(tok, mode & 0x200);
  fuzz_encode_all(tok, (const char *)data + 2, size - 2, mode);
  pt_tokenizer_set_add_prefix_space(tok, false);
  pt_error_clear();
  return 0;
}
