/* libFuzzer harness: tokenizer loading from small fuzzed files — vocab.txt,
 * vocab.json + merges.txt or tokenizer.json, each with an optional
 * tokenizer_config.json — then encoding a fuzzed text with the result and
 * walking its vocabulary. Input: one mode byte, then up to four sections
 * separated by "\n@@@@\n": the model file(s), tokenizer_config.json and the
 * text to encode. */
#include <stddef.h>
#include <stdint.h>

#include "tests/fuzz/fuzz_tok_check.h"
#include "tests/fuzz/fuzz_util.h"

#define SEP "\n@@@@\n"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  unsigned mode = data[0];
  const uint8_t *f1, *rest, *f2 = NULL, *cfg = NULL, *text = NULL;
  size_t n1, nrest, n2 = 0, ncfg = 0, ntext = 0;
  fuzz_split(data + 1, size - 1, SEP, &f1, &n1, &rest, &nrest);
  int kind = (mode & 3) % 3;
  if (kind == 1 && rest) fuzz_split(rest, nrest, SEP, &f2, &n2, &rest, &nrest);
  if (rest) fuzz_split(rest, nrest, SEP, &cfg, &ncfg, &text, &ntext);

  static const char *const files[] = {"vocab.txt", "vocab.json", "merges.txt", "tokenizer.json",
                                      "tokenizer_config.json"};
  for (int i = 0; i < 5; i++) fuzz_remove(files[i]);
  if (kind == 0) {
    fuzz_write("vocab.txt", f1, n1);
  } else if (kind == 1) {
    fuzz_write("vocab.json", f1, n1);
    if (f2 || (mode & 4)) fuzz_write("merges.txt", f2, n2);
  } else {
    fuzz_write("tokenizer.json", f1, n1);
  }
  if (cfg) fuzz_write("tokenizer_config.json", cfg, ncfg);

  pt_tokenizer *tok = pt_tokenizer_load(fuzz_dir());
  if (tok) {
    int64_t vs = pt_tokenizer_vocab_size(tok);
    for (int64_t id = 0; id < vs && id < 4096; id++) {
      const char *s = pt_tokenizer_id_to_token(tok, id);
      if (s) (void)pt_tokenizer_token_id(tok, s);
    }
    (void)pt_tokenizer_id_to_token(tok, vs);
    (void)pt_tokenizer_id_to_token(tok, -1);
    (void)pt_tokenizer_cls_id(tok), (void)pt_tokenizer_sep_id(tok);
    (void)pt_tokenizer_pad_id(tok), (void)pt_tokenizer_unk_id(tok);
    (void)pt_tokenizer_mask_id(tok), (void)pt_tokenizer_lowercase(tok);
    if (mode & 8) pt_tokenizer_set_lowercase(tok, !pt_tokenizer_lowercase(tok));
    if (mode & 16) pt_tokenizer_set_add_prefix_space(tok, true);
    static const char fallback[] = "Hello, world! [MASK] <mask> caf\xc3\xa9 \xff unaffable";
    if (text)
      fuzz_encode_all(tok, (const char *)text, ntext, mode >> 5 | (mode & 0x20) << 3);
    else
      fuzz_encode_all(tok, fallback, sizeof fallback - 1, mode >> 5);
    pt_tokenizer_free(tok);
  }
  pt_error_clear();
  return 0;
}
