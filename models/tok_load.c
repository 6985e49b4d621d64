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

/* tokenizer.json (HF fast format), the subset documented in pt_tokenizer.h. */
static pt_status load_tokenizer_json(pt_tokenizer *tok, const char *path, int *lower_out) {
  json_t *root = pt_json_load_object(path);
  if (!root) return pt_error_code();
  pt_status st = PT_OK;
  json_t *model = json_object_get(root, "model");
  const char *type = NULL;
  if (!json_is_object(model)) {
    st = pt_error(PT_ERR_FORMAT, "%s: 'model' must be an object", path);
    goto done;
  }
  if ((st = pt_json_string(model, path, "type", &type)) != PT_OK) goto done;
  if (!strcmp(type, "WordPiece")) {
    tok->kind = PT_TOK_WORDPIECE;
    if ((st = load_vocab_object(tok, json_object_get(model, "vocab"), path)) != PT_OK) goto done;
    const char *prefix;
    if ((st = pt_json_string_or(model, path, "continuing_subword_prefix", "##", &prefix)) != PT_OK)
      goto done;
    if (strcmp(prefix, "##")) {
      st = pt_error(PT_ERR_FORMAT, "%s: continuing_subword_prefix '%s' is not supported (only '##')",
                    path, prefix);
      goto done;
    }
    if ((st = pt_json_int_or(model, path, "max_input_chars_per_word", 100,
                             &tok->max_input_chars)) != PT_OK)
      goto done;
    if (tok->max_input_chars <= 0) {
      st = pt_error(PT_ERR_FORMAT, "%s: max_input_chars_per_word must be positive", path);
      goto done;
    }
    json_t *norm = json_object_get(root, "normalizer");
    if (norm && !json_is_null(norm)) {
      const char *nt;
      if (!json_is_object(norm)) {
        st = pt_error(PT_ERR_FORMAT, "%s: 'normalizer' must be an object", path);
        goto done;
      }
      if ((st = pt_json_string(norm, path, "type", &nt)) != PT_OK) goto done;
      if (strcmp(nt, "BertNormalizer")) {
        st = pt_error(PT_ERR_FORMAT, "%s: normalizer '%s' is not supported (only BertNormalizer)",
                      path, nt);
        goto done;
      }
      bool lc;
      if ((st = pt_json_bool_or(norm, path, "lowercase", true, &lc)) != PT_OK) goto done;
      *lower_out = lc;
      json_t *sa = json_object_get(norm, "strip_accents");
      if (json_is_boolean(sa)) tok->strip_mode = json_is_true(sa);
    } else {
      *lower_out = 0;
    }
  } else if (!strcmp(type, "BPE")) {
    tok->kind = PT_TOK_BPE;
    json_t *drop = json_object_get(model, "dropout");
    if (drop && !json_is_null(drop)) {
      st = pt_error(PT_ERR_FORMAT, "%s: BPE dropout is not supported (tokenization would be random)",
                    path);
      goto done;
    }
    const char *pre_s, *suf_s;
    if ((st = pt_json_string_or(model, path, "continuing_subword_prefix", "", &pre_s)) != PT_OK ||
        (st = pt_json_string_or(model, path, "end_of_word_suffix", "", &suf_s)) != PT_OK)
      goto done;
    if (*pre_s || *suf_s) {
      st = pt_error(PT_ERR_FORMAT,
                    "%s: BPE continuing_subword_prefix/end_of_word_suffix are not supported", path);
      goto done;
    }
    if ((st = load_vocab_object(tok, json_object_get(model, "vocab"), path)) != PT_OK) goto done;
    json_t *merges = json_object_get(model, "merges");
    if (!json_is_array(merges) || json_array_size(merges) == 0) {
      st = pt_error(PT_ERR_FORMAT, "%s: 'model.merges' must be a non-empty array", path);
      goto done;
    }
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
      if (!a || !la || !lb) {
        st = pt_error(PT_ERR_FORMAT, "%s: merge %zu must be \"a b\" or [\"a\", \"b\"]", path, i);
        goto done;
      }
      if ((st = merge_add(tok, a, la, b, lb, (int64_t)i)) != PT_OK) goto done;
    }
    json_t *pre = json_object_get(root, "pre_tokenizer");
    if (pre && !json_is_null(pre)) {
      const char *pt;
      if (!json_is_object(pre)) {
        st = pt_error(PT_ERR_FORMAT, "%s: 'pre_tokenizer' must be an object", path);
        goto done;
      }
      if ((st = pt_json_string(pre, path, "type", &pt)) != PT_OK) goto done;
      if (strcmp(pt, "ByteLevel")) {
        st = pt_error(PT_ERR_FORMAT,
                      "%s: pre_tokenizer '%s' is not supported (only ByteLevel)", path, pt);
        goto done;
      }
      if ((st = pt_json_bool_or(pre, path, "add_prefix_space", false, &tok->add_prefix_space)) !=
          PT_OK)
        goto done;
    }
  } else {
    st = pt_error(PT_ERR_FORMAT, "%s: model type '%s' is not supported (WordPiece or BPE)", path,
                  type);
    goto done;
  }
  json_t *added = json_object_get(root, "added_tokens");
  if (json_is_array(added)) {
    size_t i;
    json_t *a;
    json_array_foreach(added, i, a) {
      const char *content;
      int64_t id;
      if (!json_is_object(a)) continue;
      if ((st = pt_json_string(a, path, "content", &content)) != PT_OK) goto done;
      if ((st = pt_json_int(a, path, "id", &id)) != PT_OK) goto done;
      if (shgeti(tok->vocab, content) < 0 && (st = vocab_add(tok, content, id, path)) != PT_OK)
        goto done;
    }
  }
done:
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

  size_t dl = strlen(dir) + 32;
  char *p_vtxt = malloc(dl), *p_vjson = malloc(dl), *p_merges = malloc(dl), *p_tj = malloc(dl),
       *p_cfg = malloc(dl);
  json_t *cfg = NULL;
  pt_status st = PT_OK;
  const char *src = NULL;
  int lower = -1; /* -1: not said by any file */
  if (!p_vtxt || !p_vjson || !p_merges || !p_tj || !p_cfg) {
    st = pt_error(PT_ERR_NOMEM, "tokenizer: out of memory");
    goto done;
  }
  snprintf(p_vtxt, dl, "%s/vocab.txt", dir);
  snprintf(p_vjson, dl, "%s/vocab.json", dir);
  snprintf(p_merges, dl, "%s/merges.txt", dir);
  snprintf(p_tj, dl, "%s/tokenizer.json", dir);
  snprintf(p_cfg, dl, "%s/tokenizer_config.json", dir);
  /* a tokenizer file that is there but not a file (a directory) is named */
  const char *const all[] = {p_vtxt, p_vjson, p_merges, p_tj, p_cfg};
  for (int i = 0; i < 5; i++)
    if (!file_exists(all[i]) && access(all[i], F_OK) == 0) {
      st = pt_error(PT_ERR_IO, "%s: not a regular file (a directory?)", all[i]);
      goto done;
    }

  if (file_exists(p_cfg)) {
    cfg = load_config(p_cfg);
    if (!cfg) {
      st = pt_error_code();
      goto done;
    }
  }
  if (file_exists(p_vtxt)) {
    src = p_vtxt;
    tok->kind = PT_TOK_WORDPIECE;
    st = load_vocab_txt(tok, p_vtxt);
  } else if (file_exists(p_vjson) && file_exists(p_merges)) {
    src = p_vjson;
    tok->kind = PT_TOK_BPE;
    json_t *v = pt_json_load_file(p_vjson);
    if (!v) {
      st = pt_error_code();
      goto done;
    }
    st = load_vocab_object(tok, v, p_vjson);
    json_decref(v);
    if (st == PT_OK) st = load_merges_txt(tok, p_merges);
  } else if (file_exists(p_tj)) {
    src = p_tj;
    st = load_tokenizer_json(tok, p_tj, &lower);
  } else if (file_exists(p_vjson)) {
    st = pt_error(PT_ERR_IO, "%s: vocab.json without merges.txt", dir);
  } else {
    st = pt_error(PT_ERR_IO,
                  "%s: no tokenizer files (vocab.txt, vocab.json + merges.txt or tokenizer.json)",
                  dir);
  }
  if (st != PT_OK) goto done;

  /* tokenizer_config.json: casing, prefix space, special token strings */
  if (cfg) {
    if (pt_json_has(cfg, "do_lower_case")) {
      bool b;
      if ((st = pt_json_bool(cfg, p_cfg, "do_lower_case", &b)) != PT_OK) goto done;
      lower = b;
    }
    json_t *mml = json_object_get(cfg, "model_max_length");
    if (json_is_number(mml) && json_number_value(mml) >= 1 && json_number_value(mml) <= 1e9)
      tok->model_max_length = (int64_t)json_number_value(mml);
    json_t *sa = json_object_get(cfg, "strip_accents");
    if (json_is_boolean(sa)) tok->strip_mode = json_is_true(sa);
    if (tok->kind == PT_TOK_BPE &&
        (st = pt_json_bool_or(cfg, p_cfg, "add_prefix_space", tok->add_prefix_space,
                              &tok->add_prefix_space)) != PT_OK)
      goto done;
  }
  bool wp = tok->kind == PT_TOK_WORDPIECE;
  const char *unk, *cls, *sep, *pad, *mask;
  if ((st = config_token(cfg, p_cfg, "unk_token", wp ? "[UNK]" : "<unk>", &unk)) != PT_OK ||
      (st = config_token(cfg, p_cfg, "cls_token", wp ? "[CLS]" : "<s>", &cls)) != PT_OK ||
      (st = config_token(cfg, p_cfg, "sep_token", wp ? "[SEP]" : "</s>", &sep)) != PT_OK ||
      (st = config_token(cfg, p_cfg, "pad_token", wp ? "[PAD]" : "<pad>", &pad)) != PT_OK ||
      (st = config_token(cfg, p_cfg, "mask_token", wp ? "[MASK]" : "<mask>", &mask)) != PT_OK)
    goto done;
  if ((st = require(&tok->unk_id, tok, unk, src)) != PT_OK ||
      (st = require(&tok->cls_id, tok, cls, src)) != PT_OK ||
      (st = require(&tok->sep_id, tok, sep, src)) != PT_OK)
    goto done;
  if (wp) {
    tok->pad_id = lookup(tok, pad);
  } else if ((st = require(&tok->pad_id, tok, pad, src)) != PT_OK) {
    goto done;
  }
  tok->mask_id = lookup(tok, mask);
  tok->source = strdup(src);
  if (!tok->source) st = pt_error(PT_ERR_NOMEM, "tokenizer: out of memory");
  if (wp) {
    if (lower < 0) lower = !vocab_has_upper(tok);
    pt_tokenizer_set_lowercase(tok, lower);
  }
done:
  json_decref(cfg);
  free(p_vtxt);
  free(p_vjson);
  free(p_merges);
  free(p_tj);
  free(p_cfg);
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
