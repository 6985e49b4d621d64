/* NER data: CoNLL text files (word first, tag last) and CoNLL04-style JSON,
 * with every tagging scheme (IOB1, IOB2, BIOES, BILOU) rewritten to IOB2. */
#include <stdlib.h>
#include <string.h>

#include "apps/tasks/ner/ner.h"
#include "nn/pt_json.h"

static bool valid_tag(const char *t) {
  if (strcmp(t, "O") == 0) return true;
  return t[0] && strchr("BIESLU", t[0]) && t[1] == '-' && t[2];
}

static pt_status bad_tag(const char *where, const char *t) {
  return pt_error(PT_ERR_FORMAT, "%s: tag '%s' is not O or B-/I-/E-/S-/L-/U- followed by a type",
                  where, t);
}

pt_status tags_to_iob2(char **tags, int64_t n) {
  /* tag j is rewritten from its own prefix and the ORIGINAL prefix/type of tag
   * j-1: I/E/L continue an entity only after B-X or I-X of the same type;
   * otherwise they start one (IOB1's I-X after O, or a malformed E-X). */
  char prev = 'O';
  const char *prev_type = "";
  for (int64_t j = 0; j < n; j++) {
    char *t = tags[j];
    if (!valid_tag(t)) return bad_tag("tags", t);
    char c = t[0];
    if (c == 'O') {
      prev = 'O';
      prev_type = "";
      continue;
    }
    const char *type = t + 2;
    bool cont = (prev == 'B' || prev == 'I') && strcmp(prev_type, type) == 0;
    t[0] = (c == 'I' || c == 'E' || c == 'L') && cont ? 'I' : 'B';
    prev = c;
    prev_type = type;
  }
  return PT_OK;
}

pt_status ner_preset_labels(const char *name, const char *const **names, int64_t *n) {
  static const char *const conll2003[] = {"O",     "B-PER", "I-PER",  "B-ORG", "I-ORG",
                                          "B-LOC", "I-LOC", "B-MISC", "I-MISC"};
  if (strcmp(name, "conll2003") == 0) {
    *names = conll2003;
    *n = 9;
    return PT_OK;
  }
  *names = NULL;
  *n = 0;
  return pt_error(PT_ERR_ARG, "no NER label preset named '%s' (known: conll2003)", name);
}

/* ---- growable sentence list ----------------------------------------------- */

typedef struct {
  sentence_set *set;
  int64_t cap;
  /* the sentence being read */
  char **words, **tags;
  int64_t n, cap_w, line;
  int tagged; /* -1 unknown, 0 no tag column, 1 tags */
  bool keep_scheme; /* leave the tags as written */
} builder;

static pt_status push_word(builder *b, char *word, char *tag, int64_t line) {
  if (b->n == b->cap_w) {
    int64_t cap = b->cap_w ? 2 * b->cap_w : 32;
    char **w = realloc(b->words, (size_t)cap * sizeof *w);
    if (w) b->words = w;
    char **t = w ? realloc(b->tags, (size_t)cap * sizeof *t) : NULL;
    if (t) b->tags = t;
    if (!w || !t) {
      free(word);
      free(tag);
      return pt_error(PT_ERR_NOMEM, "%s: out of memory", b->set->path);
    }
    b->cap_w = cap;
  }
  if (b->n == 0) b->line = line;
  b->words[b->n] = word;
  b->tags[b->n] = tag;
  b->n++;
  return PT_OK;
}

static void drop_sentence(builder *b) {
  for (int64_t j = 0; j < b->n; j++) {
    free(b->words[j]);
    free(b->tags[j]);
  }
  b->n = 0;
}

/* Moves the current words into a new sentence of the set (IOB2-converted). */
static pt_status end_sentence(builder *b, int64_t item_line) {
  if (b->n == 0) return PT_OK;
  sentence_set *set = b->set;
  if (set->n == b->cap) {
    int64_t cap = b->cap ? 2 * b->cap : 64;
    sentence *s = realloc(set->sents, (size_t)cap * sizeof *s);
    if (!s) return pt_error(PT_ERR_NOMEM, "%s: out of memory", set->path);
    set->sents = s;
    b->cap = cap;
  }
  sentence *s = &set->sents[set->n];
  memset(s, 0, sizeof *s);
  s->words = malloc((size_t)b->n * sizeof *s->words);
  s->tags = malloc((size_t)b->n * sizeof *s->tags);
  if (!s->words || !s->tags) {
    free(s->words);
    free(s->tags);
    return pt_error(PT_ERR_NOMEM, "%s: out of memory", set->path);
  }
  memcpy(s->words, b->words, (size_t)b->n * sizeof *s->words);
  memcpy(s->tags, b->tags, (size_t)b->n * sizeof *s->tags);
  s->n = b->n;
  s->line = item_line < 0 ? b->line : item_line;
  s->item = set->n;
  set->n++;
  b->n = 0;
  if (b->tagged == 1 && !b->keep_scheme) {
    pt_status st = tags_to_iob2(s->tags, s->n);
    if (st != PT_OK) return st; /* tags were validated when read */
  }
  return PT_OK;
}

static void builder_free(builder *b) {
  drop_sentence(b);
  free(b->words);
  free(b->tags);
}

static pt_status set_tagged(builder *b, bool has, const char *where) {
  return labels_consistent(&b->tagged, has, where, "has tags", "has no tags", "sentences");
}

/* ---- CoNLL text --------------------------------------------------------------- */

static pt_status read_text(builder *b, const read_opts *opts, int tag_column) {
  const char *path = b->set->path;
  line_reader r;
  PT_TRY(lines_open(&r, path));
  pt_status st = PT_OK;
  for (;;) {
    size_t len;
    bool eof;
    if ((st = lines_next(&r, &len, &eof)) != PT_OK || eof) break;
    char *line = r.buf;
    if (is_blank(line)) {
      if ((st = end_sentence(b, -1)) != PT_OK) break;
      continue;
    }
    /* split on spaces and tabs, in place */
    char *cols[3] = {NULL, NULL, NULL}; /* the first, the one before the last, the last */
    int64_t k = 0;
    char *save = NULL;
    for (char *tok = strtok_r(line, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
      if (k == 0) cols[0] = tok;
      cols[1] = cols[2];
      cols[2] = tok;
      k++;
    }
    if (strcmp(cols[0], "-DOCSTART-") == 0) {
      if ((st = end_sentence(b, -1)) != PT_OK) break;
      continue;
    }
    char where[512];
    task_where(where, sizeof where, path, r.line, 0);
    bool tagged = k > tag_column;
    if (!tagged && (tag_column > 1 || !opts->labels_optional)) {
      st = pt_error(PT_ERR_FORMAT, "%s: expected at least %d columns (%s), got %lld", where,
                    tag_column + 1, tag_column > 1 ? "word ... gold predicted" : "word ... tag",
                    (long long)k);
      break;
    }
    if ((st = set_tagged(b, tagged, where)) != PT_OK) break;
    const char *tag = tagged ? cols[3 - tag_column] : NULL;
    if (tagged && !valid_tag(tag)) {
      st = bad_tag(where, tag);
      break;
    }
    char *w = strdup_checked(cols[0]);
    char *t = tagged ? strdup_checked(tag) : NULL;
    if (!w || (tagged && !t)) {
      free(w);
      free(t);
      st = PT_ERR_NOMEM;
      break;
    }
    if ((st = push_word(b, w, t, r.line)) != PT_OK) break;
  }
  if (st == PT_OK) st = end_sentence(b, -1);
  lines_close(&r);
  return st;
}

/* ---- JSON (CoNLL04 / SpERT) --------------------------------------------------- */

/* Fills the builder's words/tags from one {"tokens", "tags"|"entities"}
 * object and ends the sentence. */
static pt_status json_sentence(builder *b, const json_t *o, const char *where, int64_t line,
                               const read_opts *opts) {
  const json_t *toks;
  int64_t n;
  PT_TRY(json_tokens(o, where, &toks, &n));
  const json_t *tags = json_object_get(o, "tags");
  const json_t *ents = json_object_get(o, "entities");
  bool has = (tags && !json_is_null(tags)) || (ents && !json_is_null(ents));
  if (!has && !opts->labels_optional)
    return pt_error(PT_ERR_FORMAT, "%s: 'tags' (or 'entities') is missing", where);
  PT_TRY(set_tagged(b, has, where));
  if (has && tags && !json_is_null(tags)) {
    if (!json_is_array(tags)) return pt_error(PT_ERR_FORMAT, "%s: 'tags' must be an array", where);
    if ((int64_t)json_array_size(tags) != n)
      return pt_error(PT_ERR_FORMAT, "%s: %lld tags for %lld tokens", where,
                      (long long)json_array_size(tags), (long long)n);
  }
  for (int64_t j = 0; j < n; j++) {
    const char *w;
    PT_TRY(json_token(toks, j, where, &w));
    const char *tag = has ? "O" : NULL;
    if (has && tags && !json_is_null(tags)) {
      const json_t *t = json_array_get(tags, (size_t)j);
      if (!json_is_string(t))
        return pt_error(PT_ERR_FORMAT, "%s: tag %lld is %s, expected a string", where, (long long)j,
                        pt_json_type_name(t));
      tag = json_string_value(t);
      if (!valid_tag(tag)) return bad_tag(where, tag);
    }
    char *wc = strdup_checked(w);
    char *tc = tag ? strdup_checked(tag) : NULL;
    if (!wc || (tag && !tc)) {
      free(wc);
      free(tc);
      return PT_ERR_NOMEM;
    }
    PT_TRY(push_word(b, wc, tc, line));
  }
  if (has && !(tags && !json_is_null(tags))) { /* SpERT entities, end exclusive */
    if (!json_is_array(ents))
      return pt_error(PT_ERR_FORMAT, "%s: 'entities' must be an array", where);
    size_t k;
    const json_t *e;
    json_array_foreach(ents, k, e) {
      int64_t s0, e0;
      const char *type;
      char ew[600];
      snprintf(ew, sizeof ew, "%s: entity %zu", where, k);
      PT_TRY(pt_json_int(e, ew, "start", &s0));
      PT_TRY(pt_json_int(e, ew, "end", &e0));
      PT_TRY(pt_json_string(e, ew, "type", &type));
      if (s0 < 0 || e0 <= s0 || e0 > n)
        return pt_error(PT_ERR_FORMAT, "%s: span [%lld, %lld) is outside the %lld tokens", ew,
                        (long long)s0, (long long)e0, (long long)n);
      if (!type[0] || strchr(type, ' '))
        return pt_error(PT_ERR_FORMAT, "%s: bad entity type '%s'", ew, type);
      for (int64_t j = s0; j < e0; j++)
        if (strcmp(b->tags[j], "O") != 0)
          return pt_error(PT_ERR_FORMAT, "%s: overlaps another entity at token %lld", ew,
                          (long long)j);
      for (int64_t j = s0; j < e0; j++) {
        char *t = strprintf("%c-%s", j == s0 ? 'B' : 'I', type);
        if (!t) return PT_ERR_NOMEM;
        free(b->tags[j]);
        b->tags[j] = t;
      }
    }
  }
  return end_sentence(b, line);
}

static pt_status read_json_array(builder *b, const read_opts *opts) {
  const char *path = b->set->path;
  json_t *root = pt_json_load_file(path);
  if (!root) return pt_error_code();
  pt_status st = PT_OK;
  if (!json_is_array(root)) {
    st = pt_error(PT_ERR_FORMAT, "%s: expected a JSON array of sentences, got %s", path,
                  pt_json_type_name(root));
  } else {
    size_t i;
    const json_t *o;
    json_array_foreach(root, i, o) {
      char where[512];
      task_where(where, sizeof where, path, 0, (int64_t)i);
      if (!json_is_object(o)) {
        st = pt_error(PT_ERR_FORMAT, "%s: expected an object, got %s", where, pt_json_type_name(o));
        break;
      }
      if ((st = json_sentence(b, o, where, 0, opts)) != PT_OK) break;
    }
  }
  json_decref(root);
  return st;
}

typedef struct {
  builder *b;
  const read_opts *opts;
} jsonl_reading;

static pt_status jsonl_sentence(const json_t *o, const char *where, int64_t line, void *ctx) {
  jsonl_reading *r = ctx;
  return json_sentence(r->b, o, where, line, r->opts);
}

static pt_status read_jsonl(builder *b, const read_opts *opts) {
  jsonl_reading r = {b, opts};
  return jsonl_each(b->set->path, jsonl_sentence, &r);
}

/* Reads into *out with the builder set up: text (tag_column > 0) or JSON. */
static pt_status read_into(const char *path, const read_opts *opts, int tag_column,
                           bool keep_scheme, sentence_set *out) {
  static const read_opts defaults = {0};
  if (!opts) opts = &defaults;
  memset(out, 0, sizeof *out);
  out->path = strdup_checked(path);
  if (!out->path) return PT_ERR_NOMEM;
  builder b = {.set = out, .tagged = -1, .keep_scheme = keep_scheme};
  pt_status st;
  if (tag_column > 0)
    st = read_text(&b, opts, tag_column);
  else if (ends_with(path, ".jsonl"))
    st = read_jsonl(&b, opts);
  else
    st = read_json_array(&b, opts);
  builder_free(&b);
  if (st == PT_OK && out->n == 0)
    st = pt_error(PT_ERR_FORMAT, "%s: no sentences found (empty file?)", path);
  out->has_tags = b.tagged == 1;
  if (st != PT_OK) sentence_set_free(out);
  return st;
}

pt_status read_ner(const char *path, const read_opts *opts, sentence_set *out) {
  bool json = ends_with(path, ".json") || ends_with(path, ".jsonl");
  return read_into(path, opts, json ? 0 : 1, false, out);
}

pt_status read_ner_columns(const char *path, const read_opts *opts, int tag_column,
                           bool keep_scheme, sentence_set *out) {
  if (tag_column != 1 && tag_column != 2)
    return pt_error(PT_ERR_ARG, "%s: tag column %d from the end (1 or 2)", path, tag_column);
  return read_into(path, opts, tag_column, keep_scheme, out);
}
