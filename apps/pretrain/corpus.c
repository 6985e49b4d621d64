/* `ptune pretrain` data: corpus files decoded (UTF-8, Latin-1 fallback,
 * CRLF/CR -> LF), tokenized, packed into [CLS] ... [SEP] sequences of one
 * length with a seeded held-out split; BERT masking; the epoch order. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "apps/pretrain/pretrain.h"
#include "tensor/pt_rng.h"

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static int utf8_len(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  if (c < 0x80) return 1;
  int len = c >= 0xC2 && c <= 0xDF ? 2 : (c & 0xF0) == 0xE0 ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
  if (!len || (size_t)len > n) return 0;
  for (int i = 1; i < len; i++)
    if ((s[i] & 0xC0) != 0x80) return 0;
  if (c == 0xE0 && s[1] < 0xA0) return 0; /* overlong */
  if (c == 0xED && s[1] > 0x9F) return 0; /* surrogates */
  if (c == 0xF0 && s[1] < 0x90) return 0;
  if (c == 0xF4 && s[1] > 0x8F) return 0;
  return len;
}

pt_status text_normalize(const char *bytes, size_t n, char **out, size_t *out_n, bool *latin1) {
  const unsigned char *b = (const unsigned char *)bytes;
  bool valid = true;
  for (size_t i = 0; i < n;) {
    int l = utf8_len(b + i, n - i);
    if (!l) {
      valid = false;
      break;
    }
    i += (size_t)l;
  }
  *latin1 = !valid;
  char *o = malloc(2 * n + 1); /* Latin-1 at most doubles */
  if (!o) return pt_error(PT_ERR_NOMEM, "text: out of memory for %zu bytes", n);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = b[i];
    if (c == '\r') {
      o[k++] = '\n';
      if (i + 1 < n && b[i + 1] == '\n') i++;
    } else if (!valid && c >= 0x80) {
      o[k++] = (char)(0xC0 | (c >> 6));
      o[k++] = (char)(0x80 | (c & 0x3F));
    } else {
      o[k++] = (char)c;
    }
  }
  o[k] = 0;
  *out = o;
  *out_n = k;
  return PT_OK;
}

/* ---- growing id array ---- */
typedef struct {
  int64_t *v;
  int64_t n, cap;
} idvec;

static pt_status idvec_push(idvec *a, const int64_t *x, int64_t n) {
  if (a->n + n > a->cap) {
    int64_t cap = (a->n + n) * 2 + 1024;
    int64_t *nv = realloc(a->v, (size_t)cap * sizeof *nv);
    if (!nv) return pt_error(PT_ERR_NOMEM, "corpus: out of memory");
    a->v = nv;
    a->cap = cap;
  }
  memcpy(a->v + a->n, x, (size_t)n * sizeof *x);
  a->n += n;
  return PT_OK;
}

static pt_status read_all(const char *path, char **data, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return pt_error(PT_ERR_IO, "%s: cannot open", path);
  char *buf = NULL;
  size_t len = 0, cap = 0, r;
  pt_status st = PT_OK;
  for (;;) {
    if (len + 65536 > cap) {
      cap = cap * 2 + 65536;
      char *nb = realloc(buf, cap);
      if (!nb) {
        st = pt_error(PT_ERR_NOMEM, "%s: out of memory", path);
        break;
      }
      buf = nb;
    }
    r = fread(buf + len, 1, cap - len, f);
    len += r;
    if (r == 0) break;
  }
  if (st == PT_OK && ferror(f)) st = pt_error(PT_ERR_IO, "%s: read error", path);
  fclose(f);
  if (st != PT_OK) {
    free(buf);
    return st;
  }
  *data = buf;
  *n = len;
  return PT_OK;
}

/* Tokenizes one file's text in pieces cut at line ends (WordPiece splits on
 * whitespace, so this equals encoding the whole text at once). */
static pt_status tokenize_file(const char *path, const pt_tokenizer *tok, idvec *out,
                               mlm_corpus *c) {
  char *raw = NULL, *text = NULL;
  size_t n = 0, tn = 0;
  bool latin1 = false;
  PT_TRY(read_all(path, &raw, &n));
  pt_status st = text_normalize(raw, n, &text, &tn, &latin1);
  free(raw);
  if (st != PT_OK) return st;
  c->n_files++;
  c->n_latin1 += latin1;
  pt_encode_opts opts = {.no_special_tokens = true};
  int64_t unk = pt_tokenizer_unk_id(tok);
  for (size_t pos = 0; pos < tn && st == PT_OK;) {
    size_t end = pos + 65536 < tn ? pos + 65536 : tn;
    while (end < tn && text[end - 1] != '\n') end++;
    pt_encoding e = {0};
    st = pt_tokenizer_encode(tok, text + pos, end - pos, NULL, 0, &opts, &e);
    if (st == PT_OK) {
      for (int64_t i = 0; i < e.n; i++) c->n_unk += e.ids[i] == unk;
      st = idvec_push(out, e.ids, e.n);
    } else {
      st = pt_error(pt_error_code(), "%s: %s", path, pt_error_message());
    }
    pt_encoding_free(&e);
    pos = end;
  }
  free(text);
  return st;
}

static bool has_txt_suffix(const char *s) {
  size_t n = strlen(s);
  return n > 4 && !strcmp(s + n - 4, ".txt");
}

static pt_status read_path(const char *path, const pt_tokenizer *tok, idvec *out,
                           mlm_corpus *c, bool top) {
  struct stat sb;
  if (stat(path, &sb) != 0) return pt_error(PT_ERR_IO, "%s: no such file or directory", path);
  if (!S_ISDIR(sb.st_mode)) {
    if (!top && !has_txt_suffix(path)) return PT_OK;
    return tokenize_file(path, tok, out, c);
  }
  struct dirent **list = NULL;
  int n = scandir(path, &list, NULL, alphasort);
  if (n < 0) return pt_error(PT_ERR_IO, "%s: cannot list the directory", path);
  pt_status st = PT_OK;
  for (int i = 0; i < n; i++) {
    if (st == PT_OK && list[i]->d_name[0] != '.') {
      char sub[4096];
      snprintf(sub, sizeof sub, "%s/%s", path, list[i]->d_name);
      st = read_path(sub, tok, out, c, false);
    }
    free(list[i]);
  }
  free(list);
  return st;
}

static void shuffle(int64_t *a, int64_t n, uint64_t seed) {
  uint64_t key = pt_rng_key(seed);
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)(pt_rng_bits_keyed(key, (uint64_t)i) % (uint64_t)(i + 1));
    int64_t t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

pt_status mlm_corpus_read(const char *const *paths, int n, const pt_tokenizer *tok,
                             int64_t max_len, double heldout_frac, uint64_t seed,
                             mlm_corpus *c) {
  memset(c, 0, sizeof *c);
  if (max_len < 3) return pt_error(PT_ERR_ARG, "pretrain: --max-seq-len must be at least 3");
  if (!(heldout_frac >= 0 && heldout_frac < 1))
    return pt_error(PT_ERR_ARG, "pretrain: --heldout-frac must be in [0, 1)");
  c->max_len = max_len;
  c->vocab_size = pt_tokenizer_vocab_size(tok);
  idvec stream = {0};
  pt_status st = PT_OK;
  for (int i = 0; i < n && st == PT_OK; i++) st = read_path(paths[i], tok, &stream, c, true);
  c->n_pieces = stream.n;
  int64_t body = max_len - 2;
  c->n_seq = st == PT_OK ? stream.n / body : 0;
  if (st == PT_OK && c->n_seq < 2)
    st = pt_error(PT_ERR_FORMAT,
                  "%s%s: the corpus gives %lld sequence(s) of %lld tokens; pretraining needs at "
                  "least 2",
                  n > 0 ? paths[0] : "pretrain", n > 1 ? " (and the other --corpus paths)" : "",
                  (long long)c->n_seq, (long long)max_len);
  if (st == PT_OK) {
    c->ids = malloc((size_t)(c->n_seq * max_len) * sizeof *c->ids);
    c->train = malloc((size_t)c->n_seq * sizeof *c->train);
    c->counts = calloc((size_t)c->vocab_size, sizeof *c->counts);
    if (!c->ids || !c->train || !c->counts) st = pt_error(PT_ERR_NOMEM, "corpus: out of memory");
  }
  if (st == PT_OK) {
    int64_t cls = pt_tokenizer_cls_id(tok), sep = pt_tokenizer_sep_id(tok);
    for (int64_t s = 0; s < c->n_seq; s++) {
      int64_t *row = c->ids + s * max_len;
      row[0] = cls;
      memcpy(row + 1, stream.v + s * body, (size_t)body * sizeof *row);
      row[max_len - 1] = sep;
      c->train[s] = s;
    }
    shuffle(c->train, c->n_seq, seed ^ 0x68656c646f7574ULL);
    int64_t nh = (int64_t)(heldout_frac * (double)c->n_seq + 0.5);
    if (heldout_frac > 0 && nh < 1) nh = 1;
    if (nh >= c->n_seq) nh = c->n_seq - 1;
    c->n_heldout = nh;
    c->n_train = c->n_seq - nh;
    c->heldout = malloc((size_t)(nh > 0 ? nh : 1) * sizeof *c->heldout);
    if (!c->heldout) st = pt_error(PT_ERR_NOMEM, "corpus: out of memory");
    if (st == PT_OK) {
      memcpy(c->heldout, c->train, (size_t)nh * sizeof *c->heldout);
      memmove(c->train, c->train + nh, (size_t)c->n_train * sizeof *c->train);
      qsort(c->heldout, (size_t)nh, sizeof *c->heldout, cmp_i64);
      qsort(c->train, (size_t)c->n_train, sizeof *c->train, cmp_i64);
      for (int64_t t = 0; t < c->n_train; t++)
        for (int64_t j = 1; j < max_len - 1; j++) {
          int64_t id = c->ids[c->train[t] * max_len + j];
          if (id >= 0 && id < c->vocab_size) c->counts[id]++;
        }
    }
  }
  free(stream.v);
  if (st != PT_OK) mlm_corpus_free(c);
  return st;
}

void mlm_corpus_free(mlm_corpus *c) {
  free(c->ids);
  free(c->train);
  free(c->heldout);
  free(c->counts);
  memset(c, 0, sizeof *c);
}

pt_status masker_init(masker *mk, const pt_tokenizer *tok, double prob, bool whole_word) {
  memset(mk, 0, sizeof *mk);
  if (!(prob > 0 && prob < 1)) return pt_error(PT_ERR_ARG, "masking: probability must be in (0, 1)");
  int64_t V = pt_tokenizer_vocab_size(tok);
  mk->vocab_size = V;
  mk->mask_id = pt_tokenizer_mask_id(tok);
  if (mk->mask_id < 0)
    return pt_error(PT_ERR_FORMAT, "%s: the vocabulary has no [MASK] token (masking needs it)",
                    pt_tokenizer_source(tok));
  mk->prob = prob;
  mk->whole_word = whole_word;
  mk->special = calloc((size_t)V, 1);
  mk->cont = calloc((size_t)V, 1);
  if (!mk->special || !mk->cont) {
    masker_free(mk);
    return pt_error(PT_ERR_NOMEM, "masking: out of memory");
  }
  int64_t sp[] = {pt_tokenizer_cls_id(tok), pt_tokenizer_sep_id(tok), pt_tokenizer_pad_id(tok),
                  pt_tokenizer_unk_id(tok), mk->mask_id};
  for (size_t i = 0; i < sizeof sp / sizeof *sp; i++)
    if (sp[i] >= 0 && sp[i] < V) mk->special[sp[i]] = 1;
  for (int64_t v = 0; v < V; v++) {
    const char *s = pt_tokenizer_id_to_token(tok, v);
    mk->cont[v] = s && s[0] == '#' && s[1] == '#' && s[2];
  }
  return PT_OK;
}

void masker_free(masker *mk) {
  free(mk->special);
  free(mk->cont);
  memset(mk, 0, sizeof *mk);
}

void masker_apply(const masker *mk, const int64_t *ids, int64_t S, uint64_t seed,
                     uint64_t stream, int64_t *ids_out, int64_t *labels) {
  /* counter 3i: choice of position i (or of the word starting there),
   * 3i+1: the 80/10/10 draw, 3i+2: the random replacement */
  uint64_t key = pt_rng_key(seed ^ pt_rng_mix64(stream + 0x6d61736bULL));
  bool chosen = false;
  for (int64_t i = 0; i < S; i++) {
    int64_t id = ids[i];
    ids_out[i] = id;
    labels[i] = -100;
    bool ok = id >= 0 && id < mk->vocab_size && !mk->special[id];
    if (!ok) {
      chosen = false;
      continue;
    }
    bool starts_word = !mk->whole_word || !mk->cont[id] || i == 0 ||
                       !(ids[i - 1] >= 0 && ids[i - 1] < mk->vocab_size && !mk->special[ids[i - 1]]);
    if (starts_word) chosen = pt_rng_u01(pt_rng_bits_keyed(key, 3 * (uint64_t)i)) < mk->prob;
    if (!chosen) continue;
    labels[i] = id;
    double r = pt_rng_u01(pt_rng_bits_keyed(key, 3 * (uint64_t)i + 1));
    if (r < 0.8)
      ids_out[i] = mk->mask_id;
    else if (r < 0.9)
      ids_out[i] = (int64_t)(pt_rng_bits_keyed(key, 3 * (uint64_t)i + 2) % (uint64_t)mk->vocab_size);
  }
}

int64_t mlm_train_seq(const mlm_corpus *c, uint64_t seed, int64_t p, int64_t **perm_cache,
                         int64_t *perm_epoch) {
  int64_t epoch = p / c->n_train;
  if (!*perm_cache) {
    *perm_cache = malloc((size_t)c->n_train * sizeof **perm_cache);
    *perm_epoch = -1;
    if (!*perm_cache) return c->train[p % c->n_train];
  }
  if (*perm_epoch != epoch) {
    memcpy(*perm_cache, c->train, (size_t)c->n_train * sizeof **perm_cache);
    shuffle(*perm_cache, c->n_train, seed + 0x65706f6368ULL * (uint64_t)(epoch + 1));
    *perm_epoch = epoch;
  }
  return (*perm_cache)[p % c->n_train];
}
