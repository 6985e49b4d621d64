/* Loading a tokenizer from a directory: vocab.txt (WordPiece), vocab.json +
 * merges.txt (byte-level BPE) or tokenizer.json (HF fast format, a subset),
 * plus the optional tokenizer_config.json. Every file is validated (UTF-8,
 * JSON types, id ranges) before it is trusted. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utf8proc.h>

#include "models/tok_internal.h"
#include "nn/pt_json.h"

#include <stb/stb_ds.h>

#define PT_TOK_MAX_VOCAB 10000000

static bool file_exists(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static char *read_all(const char *path, size_t *len) {
  FILE *fp = fopen(path, "rb");
  if (!fp) {
    pt_error(PT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    return NULL;
  }
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    if (n + 1 >= cap) {
      char *nb = realloc(buf, cap * 2);
      if (!nb) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = nb;
      cap *= 2;
    }
    size_t got = fread(buf + n, 1, cap - n - 1, fp);
    n += got;
    if (got == 0) break;
  }
  bool err = ferror(fp);
  fclose(fp);
  if (!buf) {
    pt_error(PT_ERR_NOMEM, "%s: out of memory reading the file", path);
    return NULL;
  }
  if (err) {
    free(buf);
    pt_error(PT_ERR_IO, "%s: read error", path);
    return NULL;
  }
  buf[n] = '\0';
  *len = n;
  return buf;
}

/* tokenizer_config.json often holds "model_max_length":
 * 1000000000000000019884624838656, beyond int64: integers are read as reals
 * here (pt_json_load_object would reject the file). Errors as pt_json's:
 * "FILE:LINE:COL: message". */
static json_t *load_config(const char *path) {
  FILE *fp = fopen(path, "rb");
  if (!fp) {
    pt_error(PT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    return NULL;
  }
  json_error_t err;
  json_t *root = json_loadf(fp, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &err);
  fclose(fp);
  if (!root) {
    for (char *c = err.text; *c; c++)
      if (*c == '\n' || *c == '\r') *c = ' ';
    pt_error(PT_ERR_FORMAT, "%s:%d:%d: %s", path, err.line, err.column, err.text);
    return NULL;
  }
  if (!json_is_object(root)) {
    pt_error(PT_ERR_FORMAT, "%s: expected a JSON object at the top level, got %s", path,
             pt_json_type_name(root));
    json_decref(root);
    return NULL;
  }
  return root;
}

static bool valid_utf8(const char *s, size_t n) {
  return utf8proc_decompose((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, NULL, 0, 0) >= 0;
}

/* Adds token -> id (a later duplicate token wins, as in HF's dicts). */
static pt_status vocab_add(pt_tokenizer *tok, const char *token, int64_t id, const char *file) {
  if (id < 0 || id >= PT_TOK_MAX_VOCAB)
    return pt_error(PT_ERR_FORMAT, "%s: id %lld of token '%s' is out of range", file,
                    (long long)id, token);
  if (id >= tok->id_cap) {
    int64_t cap = tok->id_cap ? tok->id_cap : 1024;
    while (cap <= id) cap *= 2;
    char **nt = realloc(tok->id_to_token, (size_t)cap * sizeof *nt);
    if (!nt) return pt_error(PT_ERR_NOMEM, "%s: out of memory", file);
    for (int64_t i = tok->id_cap; i < cap; i++) nt[i] = NULL;
    tok->id_to_token = nt;
    tok->id_cap = cap;
  }
  if (id >= tok->vocab_size) tok->vocab_size = id + 1;
  shput(tok->vocab, token, id);
  ptrdiff_t at = shgeti(tok->vocab, token);
  tok->id_to_token[id] = tok->vocab[at].key; /* owned by the map (strdup mode) */
  return PT_OK;
}

/* vocab.txt: one token per line, id = line number (\n, \r\n and \r end lines,
 * as Python's universal newlines do). */
static pt_status load_vocab_txt(pt_tokenizer *tok, const char *path) {
  size_t len;
  char *buf = read_all(path, &len);
  if (!buf) return pt_error_code();
  pt_status st = PT_OK;
  if (memchr(buf, '\0', len))
    st = pt_error(PT_ERR_FORMAT, "%s: the file holds a NUL byte", path);
  size_t i = 0;
  int64_t line = 0;
  while (st == PT_OK && i < len) {
    size_t j = i;
    while (j < len && buf[j] != '\n' && buf[j] != '\r') j++;
    size_t next = j < len ? (buf[j] == '\r' && j + 1 < len && buf[j + 1] == '\n' ? j + 2 : j + 1)
                          : j;
    buf[j] = '\0';
    if (!valid_utf8(buf + i, j - i))
      st = pt_error(PT_ERR_FORMAT, "%s:%lld: not valid UTF-8", path, (long long)line + 1);
    else
      st = vocab_add(tok, buf + i, line, path);
    line++;
    i = next;
  }
  free(buf);
  if (st == PT_OK && line == 0) st = pt_error(PT_ERR_FORMAT, "%s: empty vocabulary", path);
  return st;
}

/* An object of token -> integer id (vocab.json, tokenizer.json's model.vocab). */
static pt_status load_vocab_object(pt_tokenizer *tok, const json_t *obj, const char *file) {
  if (!json_is_object(obj))
    return pt_error(PT_ERR_FORMAT, "%s: the vocabulary must be an object, got %s", file,
                    pt_json_type_name(obj));
  if (json_object_size(obj) == 0) return pt_error(PT_ERR_FORMAT, "%s: empty vocabulary", file);
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    if (!json_is_integer(v))
      return pt_error(PT_ERR_FORMAT, "%s: id of token '%s' must be an integer, got %s", file, key,
                      pt_json_type_name(v));
    PT_TRY(vocab_add(tok, key, json_integer_value(v), file));
  }
  return PT_OK;
}

static pt_status merge_add(pt_tokenizer *tok, const char *a, size_t la, const char *b, size_t lb,
                           int64_t rank) {
  char *key = malloc(la + lb + 2);
  if (!key) return pt_error(PT_ERR_NOMEM, "merges: out of memory");
  memcpy(key, a, la);
  key[la] = ' ';
  memcpy(key + la + 1, b, lb);
  key[la + 1 + lb] = '\0';
  if (shgeti(tok->merges, key) < 0) shput(tok->merges, key, rank); /* first rank wins */
  free(key);
  return PT_OK;
}

/* merges.txt: an optional "#version" first line, then "a b" per line; the
 * rank is the line's position. Lines that are not two fields are skipped
 * (HF keeps them as unusable entries: same ranks for the others). */
static pt_status load_merges_txt(pt_tokenizer *tok, const char *path) {
  size_t len;
  char *buf = read_all(path, &len);
  if (!buf) return pt_error_code();
  pt_status st = PT_OK;
  if (memchr(buf, '\0', len) || !valid_utf8(buf, len))
    st = pt_error(PT_ERR_FORMAT, "%s: not valid UTF-8 text", path);
  size_t i = 0;
  int64_t rank = 0, line = 0;
  while (st == PT_OK && i < len) {
    size_t j = i;
    while (j < len && buf[j] != '\n') j++;
    size_t e = j;
    if (e > i && buf[e - 1] == '\r') e--;
    line++;
    if (!(line == 1 && buf[i] == '#')) {
      /* split on runs of spaces/tabs */
      const char *f[3];
      size_t fl[3];
      int nf = 0;
      size_t k = i;
      while (k < e && nf < 3) {
        while (k < e && (buf[k] == ' ' || buf[k] == '\t')) k++;
        if (k >= e) break;
        size_t s = k;
        while (k < e && buf[k] != ' ' && buf[k] != '\t') k++;
        f[nf] = buf + s;
        fl[nf] = k - s;
        nf++;
      }
      if (nf == 2) st = merge_add(tok, f[0], fl[0], f[1], fl[1], rank);
      if (e > i) rank++;
    }
    i = j + 1;
  }
  free(buf);
  if (st == PT_OK && shlen(tok->merges) == 0)
    st = pt_error(PT_ERR_FORMAT, "%s: no merges", path);
  return st;
}

/* A special token in tokenizer_config.json: a string or {"content": ...}. */
static pt_status config_token(const json_t *cfg, const char *file, const char *key,
                              const char *def, const char **out) {
  *out = def;
  if (!cfg) return PT_OK;
  json_t *v = json_object_get(cfg, key);
  if (!v || json_is_null(v)) return PT_OK;
  if (json_is_object(v)) v = json_object_get(v, "content");
  if (!json_is_string(v))
    return pt_error(PT_ERR_FORMAT, "%s: '%s' must be a string or an object with 'content'", file,
                    key);
  *out = json_string_value(v);
  return PT_OK;
}

/* A token (outside [brackets]) holding an ASCII capital: the mark of a
 * cased vocabulary (bert-base-uncased still holds a few capitals such as
 * U+211D, but no ASCII ones). */
static bool vocab_has_upper(const pt_tokenizer *tok) {
  for (int64_t id = 0; id < tok->vocab_size; id++) {
    const char *s = tok->id_to_token[id];
    if (!s) continue;
    size_t l = strlen(s);
    if (l >= 2 && s[0] == '[' && s[l - 1] == ']') continue;
    for (size_t i = 0; i < l; i++)
      if (s[i] >= 'A' && s[i] <= 'Z') return true;
  }
  return false;
}

/* tokenizer.json's WordPiece model and its BertNormalizer (*lower_out: the
 * normalizer's lowercase, 0 without a normalizer). */
static pt_status json_wordpiece(pt_tokenizer *tok, const json_t *root, const json_t *model,
                                const char *path, int *lower_out) {
  tok->kind = PT_TOK_WORDPIECE;
  PT_TRY(load_vocab_object(tok, json_object_get(model, "vocab"), path));
  const char *prefix;
  PT_TRY(pt_json_string_or(model, path, "continuing_subword_prefix", "##", &prefix));
  if (strcmp(prefix, "##"))
    return pt_error(PT_ERR_FORMAT,
                    "%s: continuing_subword_prefix '%s' is not supported (only '##')", path, prefix);
  PT_TRY(pt_json_int_or(model, path, "max_input_chars_per_word", 100, &tok->max_input_chars));
  if (tok->max_input_chars <= 0)
    return pt_error(PT_ERR_FORMAT, "%s: max_input_chars_per_word must be positive", path);
  json_t *norm = json_object_get(root, "normalizer");
  if (!norm || json_is_null(norm)) {
    *lower_out = 0;
    return PT_OK;
  }
  const char *nt;
  if (!json_is_object(norm))
    return pt_error(PT_ERR_FORMAT, "%s: 'normalizer' must be an object", path);
  PT_TRY(pt_json_string(norm, path, "type", &nt));
  if (strcmp(nt, "BertNormalizer"))
    return pt_error(PT_ERR_FORMAT, "%s: normalizer '%s' is not supported (only BertNormalizer)",
                    path, nt);
  bool lc;
  PT_TRY(pt_json_bool_or(norm, path, "lowercase", true, &lc));
  *lower_out = lc;
  json_t *sa = json_object_get(norm, "strip_accents");
  if (json_is_boolean(sa)) tok->strip_mode = json_is_true(sa);
  return PT_OK;
}

/* model.merges: "a b" strings or ["a", "b"] pairs; the rank is the index. */
static pt_status json_merges(pt_tokenizer *tok, const json_t *merges, const char *path) {
  if (!json_is_array(merges) || json_array_size(merges) == 0)
    return pt_error(PT_ERR_FORMAT, "%s: 'model.merges' must be a non-empty array", path);
  size_t i;
  json_t *m;
  json_array_foreach(merges, i, m) {
    const char *a = NULL, *b = NULL;
    size_t la = 0, lb = 0;
    if (json_is_string(m)) {
      const char *s = json_string_value(m);
      const char *sp = strchr(s, ' ');
      if (sp && !strchr(sp + 1, ' ')) {
        a = s;
        la = (size_t)(sp - s);
        b = sp + 1;
        lb = strlen(b);
      }
    } else if (json_is_array(m) && json_array_size(m) == 2 &&
               json_is_string(json_array_get(m, 0)) && json_is_string(json_array_get(m, 1))) {
      a = json_string_value(json_array_get(m, 0));
      la = strlen(a);
      b = json_string_value(json_array_get(m, 1));
      lb = strlen(b);
    }
    if (!a || !la || !lb)
      return pt_error(PT_ERR_FORMAT, "%s: merge %zu must be \"a b\" or [\"a\", \"b\"]", path, i);
    PT_TRY(merge_add(tok, a, la, b, lb, (int64_t)i));
  }
  return PT_OK;
}

/* tokenizer.json's byte-level BPE model and its ByteLevel pre-tokenizer. */
static pt_status json_bpe(pt_tokenizer *tok, const json_t *root, const json_t *model,
                          const char *path) {
  tok->kind = PT_TOK_BPE;
  json_t *drop = json_object_get(model, "dropout");
  if (drop && !json_is_null(drop))
    return pt_error(PT_ERR_FORMAT,
                    "%s: BPE dropout is not supported (tokenization would be random)", path);
  const char *pre_s, *suf_s;
  PT_TRY(pt_json_string_or(model, path, "continuing_subword_prefix", "", &pre_s));
  PT_TRY(pt_json_string_or(model, path, "end_of_word_suffix", "", &suf_s));
  if (*pre_s || *suf_s)
    return pt_error(PT_ERR_FORMAT,
                    "%s: BPE continuing_subword_prefix/end_of_word_suffix are not supported", path);
  PT_TRY(load_vocab_object(tok, json_object_get(model, "vocab"), path));
  PT_TRY(json_merges(tok, json_object_get(model, "merges"), path));
  json_t *pre = json_object_get(root, "pre_tokenizer");
  if (!pre || json_is_null(pre)) return PT_OK;
  const char *pt;
  if (!json_is_object(pre))
    return pt_error(PT_ERR_FORMAT, "%s: 'pre_tokenizer' must be an object", path);
  PT_TRY(pt_json_string(pre, path, "type", &pt));
  if (strcmp(pt, "ByteLevel"))
    return pt_error(PT_ERR_FORMAT, "%s: pre_tokenizer '%s' is not supported (only ByteLevel)",
                    path, pt);
  return pt_json_bool_or(pre, path, "add_prefix_space", false, &tok->add_prefix_space);
}

/* added_tokens: ids for tokens the vocabulary does not hold yet. */
static pt_status json_added_tokens(pt_tokenizer *tok, const json_t *root, const char *path) {
  json_t *added = json_object_get(root, "added_tokens");
  if (!json_is_array(added)) return PT_OK;
  size_t i;
  json_t *a;
  json_array_foreach(added, i, a) {
    const char *content;
    int64_t id;
    if (!json_is_object(a)) continue;
    PT_TRY(pt_json_string(a, path, "content", &content));
    PT_TRY(pt_json_int(a, path, "id", &id));
    if (shgeti(tok->vocab, content) < 0) PT_TRY(vocab_add(tok, content, id, path));
  }
  return PT_OK;
}

/* tokenizer.json (HF fast format), the subset documented in pt_tokenizer.h. */
static pt_status load_tokenizer_json(pt_tokenizer *tok, const char *path, int *lower_out) {
  json_t *root = pt_json_load_object(path);
  if (!root) return pt_error_code();
  pt_status st;
  json_t *model = json_object_get(root, "model");
  const char *type = NULL;
  if (!json_is_object(model))
    st = pt_error(PT_ERR_FORMAT, "%s: 'model' must be an object", path);
  else
    st = pt_json_string(model, path, "type", &type);
  if (st == PT_OK) {
    if (!strcmp(type, "WordPiece"))
      st = json_wordpiece(tok, root, model, path, lower_out);
    else if (!strcmp(type, "BPE"))
      st = json_bpe(tok, root, model, path);
    else
      st = pt_error(PT_ERR_FORMAT, "%s: model type '%s' is not supported (WordPiece or BPE)",
                    path, type);
  }
  if (st == PT_OK) st = json_added_tokens(tok, root, path);
  json_decref(root);
  return st;
}

static int64_t lookup(const pt_tokenizer *tok, const char *s) {
  ptrdiff_t at = pt_tok_find(tok->vocab, s);
  return at >= 0 ? tok->vocab[at].value : -1;
}

static pt_status require(int64_t *dst, const pt_tokenizer *tok, const char *name,
                         const char *file) {
  *dst = lookup(tok, name);
  if (*dst < 0)
    return pt_error(PT_ERR_FORMAT, "%s: the vocabulary has no '%s' token", file, name);
  return PT_OK;
}

/* The files a tokenizer directory may hold (paths owned, free()). */
typedef struct {
  char *vocab_txt, *vocab_json, *merges, *tokenizer_json, *config;
} tok_files;

static void tok_files_free(tok_files *f) {
  char *all[] = {f->vocab_txt, f->vocab_json, f->merges, f->tokenizer_json, f->config};
  for (int i = 0; i < 5; i++) free(all[i]);
}

/* Names the files of `dir`; one that is there but not a regular file (a
 * directory) is an error naming it. */
static pt_status tok_files_make(tok_files *f, const char *dir) {
  const char *names[] = {"vocab.txt", "vocab.json", "merges.txt", "tokenizer.json",
                         "tokenizer_config.json"};
  char **slots[] = {&f->vocab_txt, &f->vocab_json, &f->merges, &f->tokenizer_json, &f->config};
  memset(f, 0, sizeof *f);
  for (int i = 0; i < 5; i++) {
    size_t n = strlen(dir) + strlen(names[i]) + 2;
    if (!(*slots[i] = malloc(n))) return pt_error(PT_ERR_NOMEM, "tokenizer: out of memory");
    snprintf(*slots[i], n, "%s/%s", dir, names[i]);
    if (!file_exists(*slots[i]) && access(*slots[i], F_OK) == 0)
      return pt_error(PT_ERR_IO, "%s: not a regular file (a directory?)", *slots[i]);
  }
  return PT_OK;
}

/* The vocabulary (and merges) from whichever files the directory holds, in
 * Hugging Face's order of preference; *src names the file they came from;
 * *lower: tokenizer.json's normalizer lowercase, if it says. */
static pt_status load_model_files(pt_tokenizer *tok, const tok_files *f, const char *dir,
                                  const char **src, int *lower) {
  if (file_exists(f->vocab_txt)) {
    *src = f->vocab_txt;
    tok->kind = PT_TOK_WORDPIECE;
    return load_vocab_txt(tok, f->vocab_txt);
  }
  if (file_exists(f->vocab_json) && file_exists(f->merges)) {
    *src = f->vocab_json;
    tok->kind = PT_TOK_BPE;
    json_t *v = pt_json_load_file(f->vocab_json);
    if (!v) return pt_error_code();
    pt_status st = load_vocab_object(tok, v, f->vocab_json);
    json_decref(v);
    return st == PT_OK ? load_merges_txt(tok, f->merges) : st;
  }
  if (file_exists(f->tokenizer_json)) {
    *src = f->tokenizer_json;
    return load_tokenizer_json(tok, f->tokenizer_json, lower);
  }
  if (file_exists(f->vocab_json))
    return pt_error(PT_ERR_IO, "%s: vocab.json without merges.txt", dir);
  return pt_error(PT_ERR_IO,
                  "%s: no tokenizer files (vocab.txt, vocab.json + merges.txt or tokenizer.json)",
                  dir);
}

/* tokenizer_config.json: casing (*lower), model_max_length, strip_accents,
 * add_prefix_space. */
static pt_status apply_config(pt_tokenizer *tok, const json_t *cfg, const char *path, int *lower) {
  if (pt_json_has(cfg, "do_lower_case")) {
    bool b;
    PT_TRY(pt_json_bool(cfg, path, "do_lower_case", &b));
    *lower = b;
  }
  json_t *mml = json_object_get(cfg, "model_max_length");
  if (json_is_number(mml) && json_number_value(mml) >= 1 && json_number_value(mml) <= 1e9)
    tok->model_max_length = (int64_t)json_number_value(mml);
  json_t *sa = json_object_get(cfg, "strip_accents");
  if (json_is_boolean(sa)) tok->strip_mode = json_is_true(sa);
  if (tok->kind != PT_TOK_BPE) return PT_OK;
  return pt_json_bool_or(cfg, path, "add_prefix_space", tok->add_prefix_space,
                         &tok->add_prefix_space);
}

/* The special tokens' ids: their strings from the config (cfg may be NULL)
 * or the model kind's defaults; unk, cls and sep (and pad for BPE) must be
 * in the vocabulary `src` came from. */
static pt_status special_tokens(pt_tokenizer *tok, const json_t *cfg, const char *cfg_path,
                                const char *src) {
  bool wp = tok->kind == PT_TOK_WORDPIECE;
  const char *unk, *cls, *sep, *pad, *mask;
  PT_TRY(config_token(cfg, cfg_path, "unk_token", wp ? "[UNK]" : "<unk>", &unk));
  PT_TRY(config_token(cfg, cfg_path, "cls_token", wp ? "[CLS]" : "<s>", &cls));
  PT_TRY(config_token(cfg, cfg_path, "sep_token", wp ? "[SEP]" : "</s>", &sep));
  PT_TRY(config_token(cfg, cfg_path, "pad_token", wp ? "[PAD]" : "<pad>", &pad));
  PT_TRY(config_token(cfg, cfg_path, "mask_token", wp ? "[MASK]" : "<mask>", &mask));
  PT_TRY(require(&tok->unk_id, tok, unk, src));
  PT_TRY(require(&tok->cls_id, tok, cls, src));
  PT_TRY(require(&tok->sep_id, tok, sep, src));
  if (wp)
    tok->pad_id = lookup(tok, pad);
  else
    PT_TRY(require(&tok->pad_id, tok, pad, src));
  tok->mask_id = lookup(tok, mask);
  return PT_OK;
}

static pt_tokenizer *tokenizer_new(void) {
  pt_tokenizer *tok = calloc(1, sizeof *tok);
  if (!tok) {
    pt_error(PT_ERR_NOMEM, "tokenizer: out of memory");
    return NULL;
  }
  pthread_mutex_init(&tok->cache_lock, NULL);
  sh_new_strdup(tok->vocab);
  sh_new_strdup(tok->merges);
  tok->max_input_chars = 100;
  tok->strip_mode = -1;
  tok->mask_id = tok->pad_id = -1;
  pt_bpe_init_bytes(tok);
  return tok;
}

pt_tokenizer *pt_tokenizer_load(const char *dir) {
  if (!dir) {
    pt_error(PT_ERR_ARG, "tokenizer: no directory given");
    return NULL;
  }
  struct stat sb;
  if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
    pt_error(PT_ERR_IO, "%s: not a directory", dir);
    return NULL;
  }
  pt_tokenizer *tok = tokenizer_new();
  if (!tok) return NULL;
  tok_files f;
  json_t *cfg = NULL;
  const char *src = NULL;
  int lower = -1; /* -1: not said by any file */
  pt_status st = tok_files_make(&f, dir);
  if (st == PT_OK && file_exists(f.config) && !(cfg = load_config(f.config))) st = pt_error_code();
  if (st == PT_OK) st = load_model_files(tok, &f, dir, &src, &lower);
  if (st == PT_OK && cfg) st = apply_config(tok, cfg, f.config, &lower);
  if (st == PT_OK) st = special_tokens(tok, cfg, f.config, src);
  if (st == PT_OK && !(tok->source = strdup(src)))
    st = pt_error(PT_ERR_NOMEM, "tokenizer: out of memory");
  if (st == PT_OK && tok->kind == PT_TOK_WORDPIECE)
    pt_tokenizer_set_lowercase(tok, lower < 0 ? !vocab_has_upper(tok) : lower);
  json_decref(cfg);
  tok_files_free(&f);
  if (st != PT_OK) {
    pt_tokenizer_free(tok);
    return NULL;
  }
  return tok;
}

void pt_tokenizer_free(pt_tokenizer *tok) {
  if (!tok) return;
  pt_bpe_cache_clear(tok);
  shfree(tok->vocab);
  shfree(tok->merges);
  free(tok->id_to_token);
  free(tok->source);
  pthread_mutex_destroy(&tok->cache_lock);
  free(tok);
}

const char *pt_tokenizer_source(const pt_tokenizer *tok) {
  return tok->source ? tok->source : "tokenizer";
}

void pt_tokenizer_set_lowercase(pt_tokenizer *tok, bool lowercase) {
  tok->lowercase = lowercase;
  tok->strip_accents = tok->strip_mode < 0 ? lowercase : tok->strip_mode == 1;
}
