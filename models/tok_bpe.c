/* RoBERTa / GPT-2 byte-level BPE, as transformers' RobertaTokenizer does it:
 *  - optional prefix space (add_prefix_space, and always for pre-split words)
 *    when the text is non-empty and does not start with whitespace (decided
 *    by the caller, tok_encode.c);
 *  - pre-tokenization with GPT-2's pattern, written out by hand:
 *      's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *    (\s is White_Space, as in the `regex` module; no normalization);
 *  - each chunk's UTF-8 bytes mapped through bytes_to_unicode(), then the
 *    lowest-ranked merge applied everywhere (left to right) until none applies;
 *  - a cache from mapped chunk to its tokens.
 * Word indices count the chunks (HF's ByteLevel pre-tokenizer words). Offsets
 * leave out leading/trailing spaces of a token (HF's trim_offsets). */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "models/tok_internal.h"

#include <stb/stb_ds.h>

enum { C_SPACE, C_LETTER, C_NUMBER, C_OTHER };

static int char_class(uint32_t c) {
  if (pt_tok_is_white_space(c)) return C_SPACE;
  switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: return C_LETTER;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO: return C_NUMBER;
    default: return C_OTHER;
  }
}

/* Length of the GPT-2 pattern's match at x[i] (x has n code points). */
static int64_t match_len(const uint32_t *x, int64_t n, int64_t i) {
  uint32_t c = x[i];
  if (c == '\'' && i + 1 < n) {
    uint32_t a = x[i + 1], b = i + 2 < n ? x[i + 2] : 0;
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  }
  int64_t j = i;
  int k = char_class(c);
  if (c == ' ' && i + 1 < n && char_class(x[i + 1]) != C_SPACE) {
    j = i + 1;
    k = char_class(x[j]);
  }
  if (k != C_SPACE) {
    while (j < n && char_class(x[j]) == k) j++;
    return j - i;
  }
  while (j < n && char_class(x[j]) == C_SPACE) j++;
  if (j == n) return j - i;      /* \s+(?!\S) up to the end   */
  if (j - i >= 2) return j - i - 1; /* \s+(?!\S) backs off one */
  return 1;                      /* \s+                        */
}

void pt_bpe_init_bytes(pt_tokenizer *tok) {
  int n = 0;
  for (int b = 0; b < 256; b++) {
    bool direct = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    uint32_t c = direct ? (uint32_t)b : (uint32_t)(256 + n++);
    int k = pt_utf8_put(c, tok->byte_enc[b]);
    tok->byte_enc[b][k] = '\0';
  }
}

void pt_bpe_cache_clear(pt_tokenizer *tok) {
  for (ptrdiff_t i = 0; i < shlen(tok->cache); i++) free(tok->cache[i].value);
  shfree(tok->cache);
  tok->cache = NULL;
}

/* Rank of the merge (symbol k, symbol k+1), INT64_MAX when there is none. */
static int64_t pair_rank(const pt_tokenizer *tok, const char *m, const size_t *mo,
                         const int64_t *sb, const int64_t *sl, int64_t k, char *key) {
  size_t l1 = mo[sb[k] + sl[k]] - mo[sb[k]], l2 = mo[sb[k + 1] + sl[k + 1]] - mo[sb[k + 1]];
  memcpy(key, m + mo[sb[k]], l1);
  key[l1] = ' ';
  memcpy(key + l1 + 1, m + mo[sb[k + 1]], l2);
  key[l1 + 1 + l2] = '\0';
  ptrdiff_t at = pt_tok_find(tok->merges, key);
  return at >= 0 ? tok->merges[at].value : INT64_MAX;
}

/* BPE of one mapped chunk m (byte k's mapped char is m[mo[k], mo[k+1])).
 * Pair ranks are kept per position and looked up again only next to a merge,
 * so a long chunk costs one hash lookup per merge plus a scan for the
 * minimum. Returns malloc'd [count, id0, nbytes0, ...] or NULL (message
 * set). */
static int32_t *bpe_chunk(const pt_tokenizer *tok, const char *m, const size_t *mo,
                          int64_t nb) {
  size_t cnt = (size_t)(nb ? nb : 1);
  int64_t *sb = malloc(cnt * sizeof *sb);  /* symbol start byte */
  int64_t *sl = malloc(cnt * sizeof *sl);  /* symbol byte count */
  int64_t *rk = malloc(cnt * sizeof *rk);  /* rank of pair (k, k+1) */
  int64_t *rk2 = malloc(cnt * sizeof *rk2);
  int64_t *oi = malloc(cnt * sizeof *oi);  /* old index of an unchanged symbol, -1 if merged */
  char *key = malloc(mo[nb] + 2);
  int32_t *res = NULL;
  if (!sb || !sl || !rk || !rk2 || !oi || !key) goto done;
  int64_t ns = nb;
  for (int64_t k = 0; k < nb; k++) {
    sb[k] = k;
    sl[k] = 1;
  }
  for (int64_t k = 0; k + 1 < ns; k++) rk[k] = pair_rank(tok, m, mo, sb, sl, k, key);
  while (ns > 1) {
    int64_t best = -1, best_rank = INT64_MAX;
    for (int64_t k = 0; k + 1 < ns; k++)
      if (rk[k] < best_rank) {
        best_rank = rk[k];
        best = k;
      }
    if (best < 0) break;
    /* merge every occurrence of that pair, left to right (the only pairs
     * with rank best_rank: a rank names one pair) */
    int64_t w = 0;
    for (int64_t k = 0; k < ns;) {
      if (k + 1 < ns && rk[k] == best_rank) {
        sb[w] = sb[k];
        sl[w] = sl[k] + sl[k + 1];
        oi[w] = -1;
        k += 2;
      } else {
        sb[w] = sb[k];
        sl[w] = sl[k];
        oi[w] = k;
        k++;
      }
      w++;
    }
    for (int64_t k = 0; k + 1 < w; k++)
      rk2[k] = oi[k] >= 0 && oi[k + 1] == oi[k] + 1 ? rk[oi[k]]
                                                     : pair_rank(tok, m, mo, sb, sl, k, key);
    int64_t *t = rk;
    rk = rk2;
    rk2 = t;
    ns = w;
  }
  res = malloc((size_t)(1 + 2 * ns) * sizeof *res);
  if (!res) goto done;
  res[0] = (int32_t)ns;
  for (int64_t k = 0; k < ns; k++) {
    size_t l = mo[sb[k] + sl[k]] - mo[sb[k]];
    memcpy(key, m + mo[sb[k]], l);
    key[l] = '\0';
    ptrdiff_t at = pt_tok_find(tok->vocab, key);
    res[1 + 2 * k] = (int32_t)(at >= 0 ? tok->vocab[at].value : tok->unk_id);
    res[2 + 2 * k] = (int32_t)sl[k];
  }
done:
  if (!res) pt_error(PT_ERR_NOMEM, "bpe: out of memory");
  free(sb);
  free(sl);
  free(rk);
  free(rk2);
  free(oi);
  free(key);
  return res;
}

/* Looks the chunk up in the cache, running BPE on a miss. The returned array
 * is a private copy (the cache may be cleared by another thread). */
static int32_t *bpe_cached(const pt_tokenizer *tok_c, const char *m, const size_t *mo,
                           int64_t nb) {
  pt_tokenizer *tok = (pt_tokenizer *)tok_c; /* the cache is internal, locked state */
  pthread_mutex_lock(&tok->cache_lock);
  ptrdiff_t at = tok->cache ? shgeti(tok->cache, m) : -1;
  int32_t *copy = NULL;
  if (at >= 0) {
    size_t sz = (size_t)(1 + 2 * tok->cache[at].value[0]) * sizeof(int32_t);
    copy = malloc(sz);
    if (copy) memcpy(copy, tok->cache[at].value, sz);
    pthread_mutex_unlock(&tok->cache_lock);
    if (!copy) pt_error(PT_ERR_NOMEM, "bpe: out of memory");
    return copy;
  }
  pthread_mutex_unlock(&tok->cache_lock);
  int32_t *res = bpe_chunk(tok, m, mo, nb);
  if (!res) return NULL;
  size_t sz = (size_t)(1 + 2 * res[0]) * sizeof(int32_t);
  int32_t *keep = malloc(sz);
  if (!keep) return res; /* no room to cache: still a valid result */
  memcpy(keep, res, sz);
  pthread_mutex_lock(&tok->cache_lock);
  if (shlen(tok->cache) >= 200000) pt_bpe_cache_clear(tok);
  if (!tok->cache) sh_new_strdup(tok->cache);
  if (shgeti(tok->cache, m) >= 0)
    free(keep);
  else
    shput(tok->cache, m, keep);
  pthread_mutex_unlock(&tok->cache_lock);
  return res;
}

pt_status pt_bpe_segment(const pt_tokenizer *tok, const pt_utext *t, bool prefix_space,
                         int64_t word0, bool fixed_word, pt_pieces *out, int64_t *n_words) {
  bool pre = prefix_space; /* the caller checked HF's condition */
  int64_t n = t->n + (pre ? 1 : 0);
  uint32_t *x = malloc((size_t)(n ? n : 1) * sizeof *x);
  int64_t *orig = malloc((size_t)(n ? n : 1) * sizeof *orig);
  /* per chunk: bytes (4 per code point at most), their code point, mapped */
  uint8_t *bytes = malloc((size_t)(n ? n : 1) * 4);
  int64_t *bcp = malloc((size_t)(n ? n : 1) * 4 * sizeof *bcp);
  size_t *mo = malloc(((size_t)(n ? n : 1) * 4 + 1) * sizeof *mo);
  char *m = malloc((size_t)(n ? n : 1) * 8 + 1);
  pt_status st = PT_OK;
  if (!x || !orig || !bytes || !bcp || !mo || !m) {
    st = pt_error(PT_ERR_NOMEM, "bpe: out of memory");
    goto done;
  }
  int64_t k0 = 0;
  if (pre) {
    x[0] = ' ';
    orig[0] = -1; /* a space that is not in the text */
    k0 = 1;
  }
  for (int64_t i = 0; i < t->n; i++) {
    x[k0 + i] = t->cp[i];
    orig[k0 + i] = i;
  }
  int64_t word = word0;
  for (int64_t i = 0; i < n && st == PT_OK;) {
    int64_t len = match_len(x, n, i);
    int64_t nb = 0;
    for (int64_t k = i; k < i + len; k++) {
      char u[4];
      int c = pt_utf8_put(x[k], u);
      for (int q = 0; q < c; q++) {
        bytes[nb] = (uint8_t)u[q];
        bcp[nb] = k;
        nb++;
      }
    }
    mo[0] = 0;
    for (int64_t k = 0; k < nb; k++) {
      const char *e = tok->byte_enc[bytes[k]];
      size_t el = strlen(e);
      memcpy(m + mo[k], e, el);
      mo[k + 1] = mo[k] + el;
    }
    m[mo[nb]] = '\0';
    int32_t *res = bpe_cached(tok, m, mo, nb);
    if (!res) {
      st = pt_error_code(); /* bpe_cached recorded why */
      break;
    }
    int64_t bp = 0;
    for (int32_t q = 0; q < res[0] && st == PT_OK; q++) {
      int64_t id = res[1 + 2 * q], cnt = res[2 + 2 * q];
      int64_t kb = bcp[bp], kl = bcp[bp + cnt - 1];
      int64_t lead = 0, trail = 0;
      while (lead < cnt && bytes[bp + lead] == ' ') lead++;
      while (trail < cnt && bytes[bp + cnt - 1 - trail] == ' ') trail++;
      int64_t s = kb + lead < kl + 1 ? kb + lead : kl + 1;
      int64_t e = kl + 1 - trail > s ? kl + 1 - trail : s;
      /* code point range [s, e) of x -> decoded-text range */
      int64_t c0, c1;
      if (s < n)
        c0 = orig[s] >= 0 ? orig[s] : 0;
      else
        c0 = t->n;
      if (e > s)
        c1 = orig[e - 1] >= 0 ? orig[e - 1] + 1 : 0;
      else
        c1 = c0;
      if (c1 < c0) c1 = c0;
      st = pt_pieces_push(out, id, word, c0, c1, m + mo[bp], mo[bp + cnt] - mo[bp]);
      bp += cnt;
    }
    free(res);
    if (!fixed_word) word++;
    i += len;
  }
  if (n_words) *n_words = fixed_word ? 1 : word - word0;
done:
  free(x);
  free(orig);
  free(bytes);
  free(bcp);
  free(mo);
  free(m);
  return st;
}
