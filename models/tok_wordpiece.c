/* BERT WordPiece, as transformers' BertTokenizer (BasicTokenizer +
 * WordpieceTokenizer, v4.11.3 = v4.26.1) does it, with offsets:
 *  1. uncased: PreTrainedTokenizer.tokenize lower-cases the text one character
 *     at a time with str.lower() (so U+0130 -> "i" U+0307 and a capital sigma
 *     is always sigma, never final sigma);
 *  2. _clean_text drops U+0000, U+FFFD and every C* character except \t \n \r;
 *     \t \n \r, space and Zs become a space;
 *  3. CJK ideographs become words of their own;
 *  4. words are split as Python's str.split() does (so U+2028/U+2029, kept by
 *     step 2, separate words too);
 *  5. uncased: NFD, then combining marks (Mn) removed;
 *  6. each punctuation character (ASCII non-alphanumeric or P*) is a word;
 *  7. greedy longest-match-first with "##" continuations; a word of more than
 *     max_input_chars (100) code points, or one that cannot be covered, is
 *     [UNK].
 * Word indices count the words of step 6 (what HF's fast BertPreTokenizer
 * yields). Special tokens written in the text ("[MASK]") are cut out before
 * this runs (tok_encode.c). */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "models/tok_internal.h"

#include <stb/stb_ds.h>

/* Code points with the decoded-text index each came from. */
typedef struct {
  uint32_t *cp;
  int64_t *orig;
  int64_t n, cap;
} cbuf;

static pt_status cbuf_push(cbuf *b, uint32_t c, int64_t orig) {
  if (b->n == b->cap) {
    int64_t nc = b->cap ? b->cap * 2 : 64;
    uint32_t *cp = realloc(b->cp, (size_t)nc * sizeof *cp);
    if (cp) b->cp = cp;
    int64_t *o = realloc(b->orig, (size_t)nc * sizeof *o);
    if (o) b->orig = o;
    if (!cp || !o) return pt_error(PT_ERR_NOMEM, "wordpiece: out of memory");
    b->cap = nc;
  }
  b->cp[b->n] = c;
  b->orig[b->n] = orig;
  b->n++;
  return PT_OK;
}

static void cbuf_free(cbuf *b) {
  free(b->cp);
  free(b->orig);
  memset(b, 0, sizeof *b);
}

static bool is_control_cat(uint32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN: return true;
    default: return false;
  }
}

static bool is_bert_space(uint32_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
         utf8proc_category((utf8proc_int32_t)c) == UTF8PROC_CATEGORY_ZS;
}

/* Greedy longest-match-first over b[s, e) (one word, no spaces). */
static pt_status wordpiece_word(const pt_tokenizer *tok, const cbuf *b, int64_t s, int64_t e,
                                int64_t word, pt_pieces *out) {
  int64_t c0 = b->orig[s], c1 = b->orig[s] + 1;
  for (int64_t i = s; i < e; i++) {
    if (b->orig[i] < c0) c0 = b->orig[i];
    if (b->orig[i] + 1 > c1) c1 = b->orig[i] + 1;
  }
  const char *unk = tok->id_to_token[tok->unk_id];
  if (e - s > tok->max_input_chars)
    return pt_pieces_push(out, tok->unk_id, word, c0, c1, unk, strlen(unk));
  /* UTF-8 of the word and the byte position of each code point. */
  int64_t n = e - s;
  char *u = malloc((size_t)n * 4 + 3);
  int64_t *pos = malloc((size_t)(n + 1) * sizeof *pos);
  char *key = malloc((size_t)n * 4 + 3);
  if (!u || !pos || !key) {
    free(u);
    free(pos);
    free(key);
    return pt_error(PT_ERR_NOMEM, "wordpiece: out of memory");
  }
  pos[0] = 0;
  for (int64_t i = 0; i < n; i++) pos[i + 1] = pos[i] + pt_utf8_put(b->cp[s + i], u + pos[i]);
  int64_t mark = out->n;
  int64_t start = 0;
  bool bad = false;
  pt_status st = PT_OK;
  while (start < n) {
    int64_t end = n, found = -1;
    while (start < end) {
      size_t k = 0;
      if (start > 0) {
        key[k++] = '#';
        key[k++] = '#';
      }
      memcpy(key + k, u + pos[start], (size_t)(pos[end] - pos[start]));
      k += (size_t)(pos[end] - pos[start]);
      key[k] = '\0';
      ptrdiff_t at = pt_tok_find(tok->vocab, key);
      if (at >= 0) {
        found = tok->vocab[at].value;
        break;
      }
      end--;
    }
    if (found < 0) {
      bad = true;
      break;
    }
    int64_t p0 = b->orig[s + start], p1 = b->orig[s + start] + 1;
    for (int64_t i = s + start; i < s + end; i++) {
      if (b->orig[i] < p0) p0 = b->orig[i];
      if (b->orig[i] + 1 > p1) p1 = b->orig[i] + 1;
    }
    st = pt_pieces_push(out, found, word, p0, p1, key, strlen(key));
    if (st != PT_OK) break;
    start = end;
  }
  free(u);
  free(pos);
  free(key);
  if (st != PT_OK) return st;
  if (bad) {
    out->n = mark; /* the whole word becomes [UNK] */
    return pt_pieces_push(out, tok->unk_id, word, c0, c1, unk, strlen(unk));
  }
  return PT_OK;
}

/* NFD of a[s, e) with canonical reordering, then Mn marks removed. */
static pt_status strip_accents(const cbuf *a, int64_t s, int64_t e, cbuf *out) {
  out->n = 0;
  for (int64_t i = s; i < e; i++) {
    utf8proc_int32_t d[32];
    int last = 0;
    utf8proc_ssize_t k =
        utf8proc_decompose_char((utf8proc_int32_t)a->cp[i], d, 32, UTF8PROC_DECOMPOSE, &last);
    if (k < 0 || k > 32) {
      d[0] = (utf8proc_int32_t)a->cp[i];
      k = 1;
    }
    for (utf8proc_ssize_t j = 0; j < k; j++) PT_TRY(cbuf_push(out, (uint32_t)d[j], a->orig[i]));
  }
  /* canonical ordering: stable insertion sort of each run of non-starters */
  for (int64_t i = 1; i < out->n; i++) {
    int cc = utf8proc_get_property((utf8proc_int32_t)out->cp[i])->combining_class;
    if (cc == 0) continue;
    int64_t j = i;
    while (j > 0) {
      int pc = utf8proc_get_property((utf8proc_int32_t)out->cp[j - 1])->combining_class;
      if (pc == 0 || pc <= cc) break;
      uint32_t tc = out->cp[j];
      out->cp[j] = out->cp[j - 1];
      out->cp[j - 1] = tc;
      int64_t to = out->orig[j];
      out->orig[j] = out->orig[j - 1];
      out->orig[j - 1] = to;
      j--;
    }
  }
  int64_t w = 0;
  for (int64_t i = 0; i < out->n; i++) {
    if (utf8proc_category((utf8proc_int32_t)out->cp[i]) == UTF8PROC_CATEGORY_MN) continue;
    out->cp[w] = out->cp[i];
    out->orig[w] = out->orig[i];
    w++;
  }
  out->n = w;
  return PT_OK;
}

/* Steps 5-7 for one whitespace-delimited token a[s, e). */
static pt_status wordpiece_token(const pt_tokenizer *tok, const cbuf *a, int64_t s, int64_t e,
                                 cbuf *scratch, int64_t *word, bool fixed, pt_pieces *out) {
  const cbuf *b = a;
  if (tok->strip_accents) {
    PT_TRY(strip_accents(a, s, e, scratch));
    b = scratch;
    s = 0;
    e = scratch->n;
  }
  int64_t i = s;
  while (i < e) {
    int64_t j = i + 1;
    if (!pt_tok_is_punct(b->cp[i]))
      while (j < e && !pt_tok_is_punct(b->cp[j])) j++;
    PT_TRY(wordpiece_word(tok, b, i, j, *word, out));
    if (!fixed) (*word)++;
    i = j;
  }
  return PT_OK;
}

pt_status pt_wordpiece_segment(const pt_tokenizer *tok, const pt_utext *t, int64_t word0,
                               bool fixed_word, pt_pieces *out, int64_t *n_words) {
  cbuf a = {0}, scratch = {0};
  pt_status st = PT_OK;
  for (int64_t i = 0; i < t->n && st == PT_OK; i++) {
    uint32_t c = t->cp[i];
    if (c == 0 || c == 0xFFFD || is_control_cat(c)) continue;
    if (is_bert_space(c)) c = ' ';
    if (tok->lowercase) {
      if (c == 0x130) {
        st = cbuf_push(&a, 'i', i);
        if (st == PT_OK) st = cbuf_push(&a, 0x307, i);
        continue;
      }
      c = (uint32_t)utf8proc_tolower((utf8proc_int32_t)c);
    }
    st = cbuf_push(&a, c, i);
  }
  int64_t word = word0;
  int64_t i = 0;
  while (st == PT_OK && i < a.n) {
    uint32_t c = a.cp[i];
    if (pt_tok_py_isspace(c)) {
      i++;
      continue;
    }
    int64_t j = i + 1;
    if (!pt_tok_is_cjk(c))
      while (j < a.n && !pt_tok_py_isspace(a.cp[j]) && !pt_tok_is_cjk(a.cp[j])) j++;
    st = wordpiece_token(tok, &a, i, j, &scratch, &word, fixed_word, out);
    i = j;
  }
  cbuf_free(&a);
  cbuf_free(&scratch);
  if (n_words) *n_words = fixed_word ? 1 : word - word0;
  return st;
}
