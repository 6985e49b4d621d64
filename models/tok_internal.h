/* Private to the tokenizer files (models/tok_*.c): the tokenizer struct, the
 * decoded text and the piece list the two algorithms fill. Not installed. */
#ifndef PT_TOK_INTERNAL_H
#define PT_TOK_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "models/pt_tokenizer.h"

/* stb_ds string map: key -> value (ids, merge ranks). */
typedef struct {
  char *key;
  int64_t value;
} pt_tok_smap;

/* BPE word cache: mapped chunk -> malloc'd [count, id0, nbytes0, id1, ...]. */
typedef struct {
  char *key;
  int32_t *value;
} pt_tok_cache;

struct pt_tokenizer {
  pt_tokenizer_kind kind;
  pt_tok_smap *vocab;    /* token -> id */
  char **id_to_token;    /* [vocab_size], NULL for unused ids */
  int64_t vocab_size, id_cap;
  int64_t cls_id, sep_id, pad_id, unk_id, mask_id;
  int64_t model_max_length; /* tokenizer_config.json, 0 when absent or huge */
  char *source;             /* the vocabulary file read (owned), for messages */
  /* WordPiece */
  bool lowercase, strip_accents; /* strip_accents: effective flag */
  int strip_mode;                /* -1: follows lowercase (HF None), 0, 1 */
  int64_t max_input_chars;
  /* BPE */
  bool add_prefix_space;
  pt_tok_smap *merges;   /* "a b" -> rank */
  char byte_enc[256][3]; /* UTF-8 of bytes_to_unicode()[b], NUL-terminated */
  pt_tok_cache *cache;
  pthread_mutex_t cache_lock;
};

/* Text decoded as Python's bytes.decode("utf-8", errors="replace"): code
 * point i came from bytes [b0[i], b1[i]) of the input. */
typedef struct {
  uint32_t *cp;
  int64_t *b0, *b1;
  int64_t n;
} pt_utext;

pt_status pt_utext_decode(const char *s, size_t len, pt_utext *out);
void pt_utext_free(pt_utext *t);
/* Appends the UTF-8 of c to buf (4 bytes room); returns the byte count. */
int pt_utf8_put(uint32_t c, char *buf);

/* One output token of a segment: vocabulary id, word index and the range of
 * decoded code points [c0, c1) it covers (c0 = c1 = 0 when none), the same
 * range in input bytes [b0, b1) (filled by the caller, tok_encode.c); its
 * string is buf[str, str + slen). */
typedef struct {
  int64_t id, word, c0, c1, b0, b1;
  size_t str, slen;
} pt_piece;

typedef struct {
  pt_piece *v;
  int64_t n, cap;
  char *buf;
  size_t blen, bcap;
} pt_pieces;

pt_status pt_pieces_push(pt_pieces *p, int64_t id, int64_t word, int64_t c0, int64_t c1,
                         const char *s, size_t slen);
void pt_pieces_free(pt_pieces *p);

/* Index of key in a token/merge map, -1 when absent (thread-safe read). */
ptrdiff_t pt_tok_find(const pt_tok_smap *map, const char *key);

/* Character classes with Python's / BERT's definitions. */
bool pt_tok_py_isspace(uint32_t c);    /* str.isspace()                     */
bool pt_tok_is_white_space(uint32_t c);/* Unicode White_Space (regex's \s)  */
bool pt_tok_is_cjk(uint32_t c);        /* BERT's _is_chinese_char           */
bool pt_tok_is_punct(uint32_t c);      /* BERT's _is_punctuation            */

/* Tokenizes one segment (decoded text, no special tokens in it) into pieces;
 * word indices start at `word0` and, when fixed_word is true, every piece gets
 * word0. Returns the number of words used through *n_words (may be NULL).
 * BPE: prefix_space puts a space (that is not in the text) in front. */
pt_status pt_wordpiece_segment(const pt_tokenizer *tok, const pt_utext *t, int64_t word0,
                               bool fixed_word, pt_pieces *out, int64_t *n_words);
pt_status pt_bpe_segment(const pt_tokenizer *tok, const pt_utext *t, bool prefix_space,
                         int64_t word0, bool fixed_word, pt_pieces *out, int64_t *n_words);

/* Fills byte_enc with GPT-2's bytes_to_unicode() map. */
void pt_bpe_init_bytes(pt_tokenizer *tok);
void pt_bpe_cache_clear(pt_tokenizer *tok);

#endif
