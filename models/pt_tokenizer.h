/* Hugging Face-identical tokenizers: BERT WordPiece and RoBERTa byte-level
 * BPE, loaded from a model (or tokenizer-only) directory, with single and pair
 * encoding, special tokens, token_type_ids, truncation, padding, and for every
 * token its word index and offsets in the original text.
 *
 * Files looked for in the directory, first match wins:
 *   vocab.txt                     -> WordPiece (transformers' BertTokenizer)
 *   vocab.json + merges.txt       -> byte-level BPE (RobertaTokenizer)
 *   tokenizer.json                -> the HF fast format, the subset described
 *                                    in pt_tokenizer_load below
 * tokenizer_config.json is optional: do_lower_case, add_prefix_space and the
 * special token strings (unk_token, cls_token, ...) are read from it.
 *
 * Semantics are those of transformers' slow tokenizers (v4.11.3 = v4.26.1):
 * see models/tok_wordpiece.c and models/tok_bpe.c for the exact rules.
 * Special tokens written in a text ("[MASK]", "<mask>", "</s>") stay one
 * token each, with HF's whitespace stripping around them (BERT: both sides;
 * RoBERTa: before <mask> only); lookups are case-sensitive.
 * Unicode tables come from utf8proc (Debian 12: 2.8, Unicode 15.0); Python
 * 3.11's are Unicode 14.0, so a character first assigned in 15.0 (a few new
 * emoji and CJK extension H) is a letter/symbol here but unassigned (Cn, so
 * dropped by BERT's cleaning) under HF on that Python.
 *
 * Text is UTF-8 given with an explicit length (it may hold U+0000). Invalid
 * UTF-8 never crashes: it is decoded as Python's bytes.decode("utf-8",
 * errors="replace") does (each maximal invalid subpart becomes one U+FFFD),
 * so WordPiece drops it (BERT's text cleaning removes U+FFFD) and BPE encodes
 * it as the bytes EF BF BD.
 *
 * Ownership: pt_tokenizer_load returns a tokenizer freed with
 * pt_tokenizer_free; pt_tokenizer_encode* fill a pt_encoding the caller
 * releases with pt_encoding_free (which also accepts a zeroed struct). Strings
 * returned by pt_tokenizer_id_to_token are borrowed from the tokenizer. */
#ifndef PT_TOKENIZER_H
#define PT_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor/pt_status.h"

typedef struct pt_tokenizer pt_tokenizer;

typedef enum { PT_TOK_WORDPIECE, PT_TOK_BPE } pt_tokenizer_kind;

typedef enum {
  PT_TRUNC_NONE = 0,      /* never truncate (an over-long input is kept)   */
  PT_TRUNC_LONGEST_FIRST, /* drop the last token of the longer segment, one
                             at a time (ties: the second), as HF's slow
                             tokenizers do                                 */
  PT_TRUNC_ONLY_FIRST,    /* drop tokens from the end of the first segment */
  PT_TRUNC_ONLY_SECOND    /* drop tokens from the end of the second (pairs) */
} pt_truncation;

typedef struct {
  bool no_special_tokens;   /* false (default): add [CLS]/[SEP] or <s>/</s> */
  int64_t max_length;       /* 0: no limit; else truncation/padding length  */
  pt_truncation truncation; /* used when max_length > 0                     */
  bool pad_to_max_length;   /* pad on the right up to max_length            */
} pt_encode_opts;

/* One encoded input of n tokens (n includes special tokens and padding).
 * Every array has n entries (offsets: 2n, start and end of token i at 2i and
 * 2i+1). The added special tokens ([CLS], [SEP], <s>, </s>) and padding
 * have word_ids -1, seq_ids -1, special_mask 1 and offsets (0,0); a special
 * token written in the text is an ordinary token and word of its segment.
 * Offsets are into the segment the token comes from (seq_ids says which:
 * 0 text, 1 text_pair); for pre-split words, into the word itself.
 * byte_offsets count input bytes, char_offsets count code points of the
 * decoded text (Python string indices, what SQuAD's answer_start uses). */
typedef struct {
  int64_t n;
  int64_t *ids;
  int64_t *type_ids;       /* BERT: 0 for [CLS] A [SEP], 1 for B [SEP]; RoBERTa: 0 */
  int64_t *attention_mask; /* 1 for tokens, 0 for padding */
  int64_t *special_mask;   /* 1 for added special tokens and padding */
  int64_t *word_ids;       /* word index within its segment, -1 if none */
  int64_t *seq_ids;
  int64_t *byte_offsets;
  int64_t *char_offsets;
  char **tokens;           /* token strings (RoBERTa: byte-to-unicode alphabet) */
  int64_t n_truncated;     /* tokens removed by truncation */
  char *tok_buf_;          /* private: storage of the token strings */
} pt_encoding;

/* Loads the tokenizer of `dir`. NULL on failure with a one-line message:
 * PT_ERR_IO when no tokenizer file is there ("DIR: no tokenizer files
 * (vocab.txt, vocab.json + merges.txt or tokenizer.json)"), PT_ERR_FORMAT for
 * malformed files or a vocabulary without the required special tokens
 * ([UNK], [CLS], [SEP] for WordPiece; <s>, </s>, <unk>, <pad> for BPE).
 *
 * tokenizer.json subset: model.type "WordPiece" (vocab, unk_token,
 * continuing_subword_prefix "##" only, max_input_chars_per_word) with an
 * optional normalizer of type "BertNormalizer" (lowercase, strip_accents) or
 * model.type "BPE" (vocab, merges as "a b" strings or [a, b] pairs) with a
 * ByteLevel pre-tokenizer (add_prefix_space); added_tokens supply special
 * token ids missing from the vocabulary. BertNormalizer's clean_text and
 * handle_chinese_chars are taken as true (their defaults); post_processor
 * and decoder are ignored (the layouts are fixed, see pt_tokenizer_encode).
 * Other models, normalizers and pre-tokenizers are rejected with a clear
 * error.
 *
 * Without tokenizer_config.json (or without do_lower_case in it), a WordPiece
 * vocabulary is treated as uncased unless it holds a token with an ASCII
 * capital outside [brackets] (bert-base-cased does; bert-base-uncased does
 * not). Note that HF's BertTokenizer defaults to do_lower_case=True. */
pt_tokenizer *pt_tokenizer_load(const char *dir);
void pt_tokenizer_free(pt_tokenizer *tok);

pt_tokenizer_kind pt_tokenizer_kind_of(const pt_tokenizer *tok);
int64_t pt_tokenizer_vocab_size(const pt_tokenizer *tok);
/* WordPiece: lower-casing + accent stripping on or off (overrides the file). */
void pt_tokenizer_set_lowercase(pt_tokenizer *tok, bool lowercase);
bool pt_tokenizer_lowercase(const pt_tokenizer *tok);
/* BPE: put a space before the text (and before each pre-split word, always,
 * as HF requires for is_split_into_words). Default false. */
void pt_tokenizer_set_add_prefix_space(pt_tokenizer *tok, bool on);

/* Id of a token string, -1 when absent. */
int64_t pt_tokenizer_token_id(const pt_tokenizer *tok, const char *token);
/* Token string of an id, NULL when out of range. Borrowed. */
const char *pt_tokenizer_id_to_token(const pt_tokenizer *tok, int64_t id);
/* Special ids: [CLS]/<s>, [SEP]/</s>, [PAD]/<pad> (-1 if absent), [UNK]/<unk>,
 * [MASK]/<mask> (-1 if absent). */
int64_t pt_tokenizer_cls_id(const pt_tokenizer *tok);
int64_t pt_tokenizer_sep_id(const pt_tokenizer *tok);
int64_t pt_tokenizer_pad_id(const pt_tokenizer *tok);
int64_t pt_tokenizer_unk_id(const pt_tokenizer *tok);
int64_t pt_tokenizer_mask_id(const pt_tokenizer *tok);
/* The vocabulary file it was loaded from (vocab.txt, vocab.json or
 * tokenizer.json), for messages. Borrowed. */
const char *pt_tokenizer_source(const pt_tokenizer *tok);
/* model_max_length of tokenizer_config.json (512 for BERT/RoBERTa), 0 when
 * absent or HF's "unlimited" 1e30 placeholder. */
int64_t pt_tokenizer_model_max_length(const pt_tokenizer *tok);

/* Encodes `text` (len bytes) and, when pair is non-NULL, `pair` (pair_len
 * bytes; an empty pair is a zero-token segment, not a missing one). opts may
 * be NULL for the defaults (special tokens, no truncation, no padding).
 * On failure `out` is left zeroed and PT_ERR_ARG names the reason:
 * max_length too small for the special tokens, ONLY_SECOND without a pair,
 * a truncation that would empty a single text or the only segment it may
 * cut (where HF logs an error and returns the input untruncated), or
 * padding without a pad token. */
pt_status pt_tokenizer_encode(const pt_tokenizer *tok, const char *text, size_t len,
                              const char *pair, size_t pair_len, const pt_encode_opts *opts,
                              pt_encoding *out);
/* Encodes pre-split words (HF is_split_into_words=True): word_ids index
 * `words`; WordPiece still splits punctuation inside a word; BPE encodes each
 * word with a space before it (HF's add_prefix_space=True requirement). */
pt_status pt_tokenizer_encode_words(const pt_tokenizer *tok, const char *const *words,
                                    int64_t n_words, const pt_encode_opts *opts,
                                    pt_encoding *out);
void pt_encoding_free(pt_encoding *enc);

/* A word of a text: its code points [char_start, char_end) (Python string
 * indices) and bytes [byte_start, byte_end). */
typedef struct {
  int64_t char_start, char_end, byte_start, byte_end;
} pt_text_span;

/* The words of a UTF-8 text as BERT's basic tokenizer splits it, before any
 * normalization: white space separates words, and every punctuation and
 * CJK character is a word of its own ("U.S. cars" -> U . S . cars). For
 * word-level tasks (NER) given plain text; the words then go to
 * pt_tokenizer_encode_words. Invalid UTF-8 is decoded as in
 * pt_tokenizer_encode. *words is the caller's to free() (NULL when *n is 0). */
pt_status pt_text_words(const char *text, size_t len, pt_text_span **words, int64_t *n);

#endif
