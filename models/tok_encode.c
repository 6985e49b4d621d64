/* Encoding: segments -> pieces (tok_wordpiece.c / tok_bpe.c), then special
 * tokens, token_type_ids, truncation and padding laid out as transformers'
 * prepare_for_model does:
 *   BERT    [CLS] A [SEP]            types 0...0
 *           [CLS] A [SEP] B [SEP]    types 0 for [CLS] A [SEP], 1 for B [SEP]
 *   RoBERTa <s> A </s>  /  <s> A </s></s> B </s>, types all 0
 * Without special tokens the segments are concatenated with all-zero types.
 * Truncation runs on the segments before the special tokens are added. */
#include <stdlib.h>
#include <string.h>

#include "models/tok_internal.h"

#include <stb/stb_ds.h>

pt_tokenizer_kind pt_tokenizer_kind_of(const pt_tokenizer *tok) { return tok->kind; }
int64_t pt_tokenizer_vocab_size(const pt_tokenizer *tok) { return tok->vocab_size; }
bool pt_tokenizer_lowercase(const pt_tokenizer *tok) { return tok->lowercase; }
void pt_tokenizer_set_add_prefix_space(pt_tokenizer *tok, bool on) { tok->add_prefix_space = on; }
int64_t pt_tokenizer_cls_id(const pt_tokenizer *tok) { return tok->cls_id; }
int64_t pt_tokenizer_sep_id(const pt_tokenizer *tok) { return tok->sep_id; }
int64_t pt_tokenizer_pad_id(const pt_tokenizer *tok) { return tok->pad_id; }
int64_t pt_tokenizer_unk_id(const pt_tokenizer *tok) { return tok->unk_id; }
int64_t pt_tokenizer_mask_id(const pt_tokenizer *tok) { return tok->mask_id; }
int64_t pt_tokenizer_model_max_length(const pt_tokenizer *tok) { return tok->model_max_length; }

int64_t pt_tokenizer_token_id(const pt_tokenizer *tok, const char *token) {
  if (!tok || !token) return -1;
  ptrdiff_t at = pt_tok_find(tok->vocab, token);
  return at >= 0 ? tok->vocab[at].value : -1;
}

const char *pt_tokenizer_id_to_token(const pt_tokenizer *tok, int64_t id) {
  if (!tok || id < 0 || id >= tok->vocab_size) return NULL;
  return tok->id_to_token[id];
}

void pt_encoding_free(pt_encoding *enc) {
  if (!enc) return;
  free(enc->ids);
  free(enc->type_ids);
  free(enc->attention_mask);
  free(enc->special_mask);
  free(enc->word_ids);
  free(enc->seq_ids);
  free(enc->byte_offsets);
  free(enc->char_offsets);
  free(enc->tokens);
  free(enc->tok_buf_);
  memset(enc, 0, sizeof *enc);
}

/* A special token as it may appear inside a text: transformers' slow
 * tokenizers cut the text at their strings first (leftmost, longest) and
 * keep each as one token. BERT's plain-string specials strip the whitespace
 * on both sides; RoBERTa's <mask> (lstrip=True) strips the whitespace before
 * it, its other specials strip nothing. */
typedef struct {
  uint32_t cp[32];
  int64_t n, id;
  bool strip_before, strip_after;
} special_tok;

static int collect_specials(const pt_tokenizer *tok, special_tok *sp) {
  const int64_t ids[5] = {tok->unk_id, tok->sep_id, tok->pad_id, tok->cls_id, tok->mask_id};
  int n = 0;
  for (int i = 0; i < 5; i++) {
    bool dup = ids[i] < 0 || !tok->id_to_token[ids[i]];
    for (int j = 0; j < i && !dup; j++) dup = ids[j] == ids[i];
    if (dup) continue;
    const char *str = tok->id_to_token[ids[i]];
    pt_utext u;
    if (pt_utext_decode(str, strlen(str), &u) != PT_OK) continue;
    if (u.n > 0 && u.n <= 32) {
      special_tok *s = &sp[n++];
      for (int64_t k = 0; k < u.n; k++) s->cp[k] = u.cp[k];
      s->n = u.n;
      s->id = ids[i];
      s->strip_before = tok->kind == PT_TOK_WORDPIECE || ids[i] == tok->mask_id;
      s->strip_after = tok->kind == PT_TOK_WORDPIECE;
    }
    pt_utext_free(&u);
  }
  return n;
}

/* Longest special token starting at t->cp[i], or -1. */
static int match_special(const special_tok *sp, int nsp, const pt_utext *t, int64_t i) {
  int best = -1;
  for (int k = 0; k < nsp; k++) {
    if (i + sp[k].n > t->n || (best >= 0 && sp[k].n <= sp[best].n)) continue;
    if (!memcmp(t->cp + i, sp[k].cp, (size_t)sp[k].n * sizeof(uint32_t))) best = k;
  }
  return best;
}

typedef struct {
  int64_t s, e;
  int sp; /* index into the specials, -1 for text */
} element;

/* Tokenizes one piece of text [s, e) of t (no specials in it). */
static pt_status text_piece(const pt_tokenizer *tok, const pt_utext *t, int64_t s, int64_t e,
                            bool prefix, int64_t *word, bool fixed, pt_pieces *out) {
  pt_utext view = {t->cp + s, t->b0 + s, t->b1 + s, e - s};
  int64_t mark = out->n, nw = 0;
  pt_status st = tok->kind == PT_TOK_WORDPIECE
                     ? pt_wordpiece_segment(tok, &view, *word, fixed, out, &nw)
                     : pt_bpe_segment(tok, &view, prefix, *word, fixed, out, &nw);
  for (int64_t i = mark; i < out->n; i++) {
    out->v[i].c0 += s;
    out->v[i].c1 += s;
  }
  if (!fixed) *word += nw;
  return st;
}

/* Tokenizes one segment (text, pair or pre-split word) and fills the byte
 * offsets of its pieces. */
static pt_status segment(const pt_tokenizer *tok, const char *s, size_t len, bool prefix_space,
                         int64_t word0, bool fixed, pt_pieces *out) {
  pt_utext t;
  PT_TRY(pt_utext_decode(s, len, &t));
  special_tok sp[5];
  int nsp = collect_specials(tok, sp);
  element *el = malloc((size_t)(2 * t.n + 2) * sizeof *el);
  if (!el) {
    pt_utext_free(&t);
    return pt_error(PT_ERR_NOMEM, "tokenize: out of memory");
  }
  int64_t nel = 0, text_start = 0;
  for (int64_t i = 0; i < t.n;) {
    int k = match_special(sp, nsp, &t, i);
    if (k < 0) {
      i++;
      continue;
    }
    if (i > text_start) el[nel++] = (element){text_start, i, -1};
    el[nel++] = (element){i, i + sp[k].n, k};
    i += sp[k].n;
    text_start = i;
  }
  if (t.n > text_start) el[nel++] = (element){text_start, t.n, -1};
  for (int64_t j = 0; j < nel; j++) {
    if (el[j].sp < 0) continue;
    if (sp[el[j].sp].strip_before && j > 0 && el[j - 1].sp < 0)
      while (el[j - 1].e > el[j - 1].s && pt_tok_py_isspace(t.cp[el[j - 1].e - 1])) el[j - 1].e--;
    if (sp[el[j].sp].strip_after && j + 1 < nel && el[j + 1].sp < 0)
      while (el[j + 1].s < el[j + 1].e && pt_tok_py_isspace(t.cp[el[j + 1].s])) el[j + 1].s++;
  }
  /* HF's prefix space goes in front of the whole text */
  bool prefix = tok->kind == PT_TOK_BPE && prefix_space && t.n > 0 && !pt_tok_py_isspace(t.cp[0]);
  int64_t mark = out->n, word = word0;
  pt_status st = PT_OK;
  if (prefix && nel > 0 && el[0].sp >= 0 && !sp[el[0].sp].strip_before)
    st = text_piece(tok, &t, 0, 0, true, &word, fixed, out); /* the lone space: "Ġ" */
  for (int64_t j = 0; j < nel && st == PT_OK; j++) {
    if (el[j].sp < 0) {
      if (el[j].e > el[j].s) st = text_piece(tok, &t, el[j].s, el[j].e, prefix && j == 0, &word,
                                             fixed, out);
      continue;
    }
    const char *str = tok->id_to_token[sp[el[j].sp].id];
    st = pt_pieces_push(out, sp[el[j].sp].id, word, el[j].s, el[j].e, str, strlen(str));
    if (!fixed) word++;
  }
  for (int64_t i = mark; st == PT_OK && i < out->n; i++) {
    pt_piece *p = &out->v[i];
    p->b0 = p->c0 < t.n ? t.b0[p->c0] : (int64_t)len;
    p->b1 = p->c1 > p->c0 ? t.b1[p->c1 - 1] : p->b0;
  }
  free(el);
  pt_utext_free(&t);
  return st;
}

static pt_status truncate_segments(const pt_encode_opts *o, int64_t n_special, int64_t *na, int64_t *nb,
                          bool has_pair, int64_t *removed) {
  *removed = 0;
  if (o->max_length <= 0 || o->truncation == PT_TRUNC_NONE) return PT_OK;
  if (o->max_length < n_special)
    return pt_error(PT_ERR_ARG, "tokenize: max_length %lld cannot hold the %lld special tokens",
                    (long long)o->max_length, (long long)n_special);
  int64_t over = *na + *nb + n_special - o->max_length;
  if (over <= 0) return PT_OK;
  *removed = over;
  switch (o->truncation) {
    case PT_TRUNC_LONGEST_FIRST:
      if (!has_pair && over >= *na) /* HF refuses to empty a sequence */
        return pt_error(PT_ERR_ARG,
                        "tokenize: truncation must remove %lld tokens but the text has only %lld",
                        (long long)over, (long long)*na);
      for (int64_t k = 0; k < over; k++) { /* HF: ties take from the second */
        if (!has_pair || *na > *nb)
          (*na)--;
        else
          (*nb)--;
      }
      return PT_OK;
    case PT_TRUNC_ONLY_FIRST:
      if (over >= *na)
        return pt_error(PT_ERR_ARG,
                        "tokenize: only_first truncation must remove %lld tokens but the first "
                        "segment has only %lld",
                        (long long)over, (long long)*na);
      *na -= over;
      return PT_OK;
    case PT_TRUNC_ONLY_SECOND:
      if (!has_pair)
        return pt_error(PT_ERR_ARG, "tokenize: only_second truncation needs a text pair");
      if (over >= *nb)
        return pt_error(PT_ERR_ARG,
                        "tokenize: only_second truncation must remove %lld tokens but the second "
                        "segment has only %lld",
                        (long long)over, (long long)*nb);
      *nb -= over;
      return PT_OK;
    default: return pt_error(PT_ERR_ARG, "tokenize: unknown truncation %d", (int)o->truncation);
  }
}

typedef struct {
  pt_encoding *e;
  int64_t k;
  size_t blen;
} builder;

static void put(builder *b, const pt_tokenizer *tok, int64_t id, int64_t type, int64_t seq,
                const pt_piece *p, const char *str) {
  pt_encoding *e = b->e;
  int64_t k = b->k++;
  e->ids[k] = id;
  e->type_ids[k] = type;
  e->attention_mask[k] = 1;
  e->special_mask[k] = p ? 0 : 1;
  e->word_ids[k] = p ? p->word : -1;
  e->seq_ids[k] = p ? seq : -1;
  e->char_offsets[2 * k] = p ? p->c0 : 0;
  e->char_offsets[2 * k + 1] = p ? p->c1 : 0;
  e->byte_offsets[2 * k] = p ? p->b0 : 0;
  e->byte_offsets[2 * k + 1] = p ? p->b1 : 0;
  if (!str) str = tok->id_to_token[id] ? tok->id_to_token[id] : "";
  size_t l = strlen(str);
  memcpy(e->tok_buf_ + b->blen, str, l + 1);
  e->tokens[k] = (char *)(uintptr_t)b->blen; /* fixed up to pointers at the end */
  b->blen += l + 1;
}

static pt_status assemble(const pt_tokenizer *tok, const pt_pieces *a, const pt_pieces *bp,
                          const pt_encode_opts *o, pt_encoding *out) {
  bool special = !o->no_special_tokens, has_pair = bp != NULL, wp = tok->kind == PT_TOK_WORDPIECE;
  int64_t n_special = !special ? 0 : has_pair ? (wp ? 3 : 4) : 2;
  int64_t na = a->n, nb = has_pair ? bp->n : 0, removed;
  PT_TRY(truncate_segments(o, n_special, &na, &nb, has_pair, &removed));
  int64_t n = na + nb + n_special;
  int64_t total = n;
  if (o->pad_to_max_length && o->max_length > n) {
    if (tok->pad_id < 0)
      return pt_error(PT_ERR_ARG, "tokenize: padding needs a pad token, the vocabulary has none");
    total = o->max_length;
  }
  size_t sz = 1;
  for (int64_t i = 0; i < na; i++) sz += a->v[i].slen + 1;
  for (int64_t i = 0; i < nb; i++) sz += bp->v[i].slen + 1;
  const char *cls_s = tok->id_to_token[tok->cls_id], *sep_s = tok->id_to_token[tok->sep_id];
  sz += (cls_s ? strlen(cls_s) : 0) + 1 + 3 * ((sep_s ? strlen(sep_s) : 0) + 1);
  if (total > n) {
    const char *pad_s = tok->id_to_token[tok->pad_id];
    sz += (size_t)(total - n) * ((pad_s ? strlen(pad_s) : 0) + 1);
  }
  size_t cnt = (size_t)(total ? total : 1);
  pt_encoding *e = out;
  memset(e, 0, sizeof *e);
  e->ids = malloc(cnt * sizeof(int64_t));
  e->type_ids = malloc(cnt * sizeof(int64_t));
  e->attention_mask = malloc(cnt * sizeof(int64_t));
  e->special_mask = malloc(cnt * sizeof(int64_t));
  e->word_ids = malloc(cnt * sizeof(int64_t));
  e->seq_ids = malloc(cnt * sizeof(int64_t));
  e->byte_offsets = malloc(2 * cnt * sizeof(int64_t));
  e->char_offsets = malloc(2 * cnt * sizeof(int64_t));
  e->tokens = malloc(cnt * sizeof(char *));
  e->tok_buf_ = malloc(sz + 1);
  if (!e->ids || !e->type_ids || !e->attention_mask || !e->special_mask || !e->word_ids ||
      !e->seq_ids || !e->byte_offsets || !e->char_offsets || !e->tokens || !e->tok_buf_) {
    pt_encoding_free(e);
    return pt_error(PT_ERR_NOMEM, "tokenize: out of memory");
  }
  builder b = {e, 0, 0};
  if (special) put(&b, tok, tok->cls_id, 0, -1, NULL, NULL);
  for (int64_t i = 0; i < na; i++) put(&b, tok, a->v[i].id, 0, 0, &a->v[i], a->buf + a->v[i].str);
  if (special) put(&b, tok, tok->sep_id, 0, -1, NULL, NULL);
  if (has_pair) {
    int64_t t1 = special && wp ? 1 : 0;
    if (special && !wp) put(&b, tok, tok->sep_id, 0, -1, NULL, NULL);
    for (int64_t i = 0; i < nb; i++)
      put(&b, tok, bp->v[i].id, t1, 1, &bp->v[i], bp->buf + bp->v[i].str);
    if (special) put(&b, tok, tok->sep_id, t1, -1, NULL, NULL);
  }
  while (b.k < total) {
    put(&b, tok, tok->pad_id, 0, -1, NULL, NULL);
    e->attention_mask[b.k - 1] = 0;
  }
  e->n = total;
  e->n_truncated = removed;
  for (int64_t k = 0; k < total; k++) e->tokens[k] = e->tok_buf_ + (uintptr_t)e->tokens[k];
  return PT_OK;
}

static const pt_encode_opts default_opts = {0};

pt_status pt_tokenizer_encode(const pt_tokenizer *tok, const char *text, size_t len,
                              const char *pair, size_t pair_len, const pt_encode_opts *opts,
                              pt_encoding *out) {
  if (!out) return pt_error(PT_ERR_ARG, "tokenize: no output encoding");
  memset(out, 0, sizeof *out);
  if (!tok || (!text && len)) return pt_error(PT_ERR_ARG, "tokenize: no tokenizer or text");
  if (!opts) opts = &default_opts;
  pt_pieces a = {0}, b = {0};
  pt_status st = segment(tok, text ? text : "", len, tok->add_prefix_space, 0, false, &a);
  if (st == PT_OK && pair) st = segment(tok, pair, pair_len, tok->add_prefix_space, 0, false, &b);
  if (st == PT_OK) st = assemble(tok, &a, pair ? &b : NULL, opts, out);
  pt_pieces_free(&a);
  pt_pieces_free(&b);
  return st;
}

pt_status pt_tokenizer_encode_words(const pt_tokenizer *tok, const char *const *words,
                                    int64_t n_words, const pt_encode_opts *opts,
                                    pt_encoding *out) {
  if (!out) return pt_error(PT_ERR_ARG, "tokenize: no output encoding");
  memset(out, 0, sizeof *out);
  if (!tok || (!words && n_words) || n_words < 0)
    return pt_error(PT_ERR_ARG, "tokenize: no tokenizer or words");
  if (!opts) opts = &default_opts;
  pt_pieces a = {0};
  pt_status st = PT_OK;
  for (int64_t w = 0; w < n_words && st == PT_OK; w++) {
    if (!words[w]) {
      st = pt_error(PT_ERR_ARG, "tokenize: word %lld is NULL", (long long)w);
      break;
    }
    st = segment(tok, words[w], strlen(words[w]), true, w, true, &a);
  }
  if (st == PT_OK) st = assemble(tok, &a, NULL, opts, out);
  pt_pieces_free(&a);
  return st;
}
