/* Tokenizer text plumbing: UTF-8 decoding with Python's errors="replace"
 * semantics, the piece list, and the character classes BERT and GPT-2 use. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "models/tok_internal.h"

#include <stb/stb_ds.h>

static pt_status utext_push(pt_utext *t, int64_t *cap, uint32_t c, int64_t b0, int64_t b1) {
  if (t->n == *cap) {
    int64_t nc = *cap ? *cap * 2 : 64;
    uint32_t *cp = realloc(t->cp, (size_t)nc * sizeof *cp);
    if (cp) t->cp = cp;
    int64_t *x0 = realloc(t->b0, (size_t)nc * sizeof *x0);
    if (x0) t->b0 = x0;
    int64_t *x1 = realloc(t->b1, (size_t)nc * sizeof *x1);
    if (x1) t->b1 = x1;
    if (!cp || !x0 || !x1) return pt_error(PT_ERR_NOMEM, "tokenizer: out of memory decoding text");
    *cap = nc;
  }
  t->cp[t->n] = c;
  t->b0[t->n] = b0;
  t->b1[t->n] = b1;
  t->n++;
  return PT_OK;
}

/* Each maximal ill-formed subpart becomes one U+FFFD, as CPython does. */
pt_status pt_utext_decode(const char *s, size_t len, pt_utext *out) {
  memset(out, 0, sizeof *out);
  int64_t cap = 0;
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0;
  while (i < len) {
    unsigned b = u[i];
    size_t start = i;
    uint32_t c;
    int need;
    unsigned lo = 0x80, hi = 0xBF;
    if (b < 0x80) {
      c = b;
      need = 0;
    } else if (b >= 0xC2 && b <= 0xDF) {
      c = b & 0x1F;
      need = 1;
    } else if (b >= 0xE0 && b <= 0xEF) {
      c = b & 0x0F;
      need = 2;
      if (b == 0xE0) lo = 0xA0;
      if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      c = b & 0x07;
      need = 3;
      if (b == 0xF0) lo = 0x90;
      if (b == 0xF4) hi = 0x8F;
    } else {
      c = 0xFFFD;
      need = -1;
    }
    i++;
    bool bad = need < 0;
    for (int k = 0; k < need; k++) {
      unsigned lo_k = k == 0 ? lo : 0x80, hi_k = k == 0 ? hi : 0xBF;
      if (i >= len || u[i] < lo_k || u[i] > hi_k) {
        bad = true;
        break;
      }
      c = (c << 6) | (u[i] & 0x3F);
      i++;
    }
    if (bad) c = 0xFFFD;
    pt_status st = utext_push(out, &cap, c, (int64_t)start, (int64_t)i);
    if (st != PT_OK) {
      pt_utext_free(out);
      return st;
    }
  }
  return PT_OK;
}

void pt_utext_free(pt_utext *t) {
  free(t->cp);
  free(t->b0);
  free(t->b1);
  memset(t, 0, sizeof *t);
}

int pt_utf8_put(uint32_t c, char *buf) {
  unsigned char *o = (unsigned char *)buf;
  if (c < 0x80) {
    o[0] = (unsigned char)c;
    return 1;
  }
  if (c < 0x800) {
    o[0] = (unsigned char)(0xC0 | (c >> 6));
    o[1] = (unsigned char)(0x80 | (c & 0x3F));
    return 2;
  }
  if (c < 0x10000) {
    o[0] = (unsigned char)(0xE0 | (c >> 12));
    o[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
    o[2] = (unsigned char)(0x80 | (c & 0x3F));
    return 3;
  }
  o[0] = (unsigned char)(0xF0 | (c >> 18));
  o[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
  o[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
  o[3] = (unsigned char)(0x80 | (c & 0x3F));
  return 4;
}

pt_status pt_pieces_push(pt_pieces *p, int64_t id, int64_t word, int64_t c0, int64_t c1,
                         const char *s, size_t slen) {
  if (p->n == p->cap) {
    int64_t nc = p->cap ? p->cap * 2 : 32;
    pt_piece *v = realloc(p->v, (size_t)nc * sizeof *v);
    if (!v) return pt_error(PT_ERR_NOMEM, "tokenizer: out of memory");
    p->v = v;
    p->cap = nc;
  }
  if (p->blen + slen + 1 > p->bcap) {
    size_t nc = p->bcap ? p->bcap * 2 : 256;
    while (nc < p->blen + slen + 1) nc *= 2;
    char *b = realloc(p->buf, nc);
    if (!b) return pt_error(PT_ERR_NOMEM, "tokenizer: out of memory");
    p->buf = b;
    p->bcap = nc;
  }
  memcpy(p->buf + p->blen, s, slen);
  p->buf[p->blen + slen] = '\0';
  p->v[p->n++] = (pt_piece){id, word, c0, c1, 0, 0, p->blen, slen};
  p->blen += slen + 1;
  return PT_OK;
}

void pt_pieces_free(pt_pieces *p) {
  free(p->v);
  free(p->buf);
  memset(p, 0, sizeof *p);
}

/* Python's str.isspace(): bidirectional class WS, B or S, or category Zs. */
bool pt_tok_py_isspace(uint32_t c) {
  if (c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F) || c == 0x85) return true;
  if (c < 0x80) return false;
  return c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* The White_Space property (what the `regex` module's \s matches). */
bool pt_tok_is_white_space(uint32_t c) {
  if (c == ' ' || (c >= 0x09 && c <= 0x0D) || c == 0x85) return true;
  if (c < 0x80) return false;
  return c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* The CJK Unified and Compatibility Ideograph blocks (not kana, not Hangul). */
bool pt_tok_is_cjk(uint32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* Every printable ASCII non-alphanumeric, plus Unicode categories P*. */
bool pt_tok_is_punct(uint32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
      (c >= 123 && c <= 126))
    return true;
  switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO: return true;
    default: return false;
  }
}

/* shgeti without stb_ds's shared temp slot: read-only, so concurrent
 * encodes can look tokens up. The map must exist (sh_new_strdup'd). */
ptrdiff_t pt_tok_find(const pt_tok_smap *map, const char *key) {
  ptrdiff_t temp = -1;
  pt_tok_smap *t = (pt_tok_smap *)map;
  if (!t) return -1;
  (void)stbds_hmget_key_ts_wrapper(t, sizeof *t, (void *)key, sizeof t->key, &temp,
                                   STBDS_HM_STRING);
  return temp;
}

pt_status pt_text_words(const char *text, size_t len, pt_text_span **words, int64_t *n) {
  *words = NULL;
  *n = 0;
  pt_utext t;
  PT_TRY(pt_utext_decode(text, len, &t));
  pt_text_span *w = malloc(sizeof *w * (size_t)(t.n > 0 ? t.n : 1)); /* at most one a char */
  if (!w) {
    pt_utext_free(&t);
    return pt_error(PT_ERR_NOMEM, "text words: out of memory");
  }
  int64_t k = 0;
  for (int64_t i = 0; i < t.n;) {
    uint32_t c = t.cp[i];
    if (pt_tok_is_white_space(c)) {
      i++;
      continue;
    }
    int64_t j = i + 1;
    if (!pt_tok_is_punct(c) && !pt_tok_is_cjk(c))
      while (j < t.n && !pt_tok_is_white_space(t.cp[j]) && !pt_tok_is_punct(t.cp[j]) &&
             !pt_tok_is_cjk(t.cp[j]))
        j++;
    w[k++] = (pt_text_span){i, j, t.b0[i], t.b1[j - 1]};
    i = j;
  }
  pt_utext_free(&t);
  if (k == 0) {
    free(w);
    w = NULL;
  }
  *words = w;
  *n = k;
  return PT_OK;
}
