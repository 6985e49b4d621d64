/* SRL data: the JSON Lines of conll2005-srl-sample, one predicate instance per
 * line (tokens, verb_indicator, BIO argument tags). */
#include <stdlib.h>
#include <string.h>

#include "apps/tasks/srl/srl.h"
#include "nn/pt_json.h"

/* `key` as a flat list of n items; AllenNLP's [values, words] pair form is
 * unwrapped. NULL with a message when absent (and required) or malformed. */
static const json_t *seq_field(const json_t *o, const char *key, int64_t n, const char *where,
                               bool required, pt_status *st) {
  *st = PT_OK;
  const json_t *v = json_object_get(o, key);
  if (!v || json_is_null(v)) {
    if (required) *st = pt_error(PT_ERR_FORMAT, "%s: '%s' is missing", where, key);
    return NULL;
  }
  if (json_is_array(v) && json_array_size(v) == 2 && json_is_array(json_array_get(v, 0)))
    v = json_array_get(v, 0);
  if (!json_is_array(v)) {
    *st = pt_error(PT_ERR_FORMAT, "%s: '%s' must be an array", where, key);
    return NULL;
  }
  if ((int64_t)json_array_size(v) != n) {
    *st = pt_error(PT_ERR_FORMAT, "%s: '%s' has %zu entries for %lld tokens", where, key,
                   json_array_size(v), (long long)n);
    return NULL;
  }
  return v;
}

static bool bio_tag(const char *t) {
  return strcmp(t, "O") == 0 || ((t[0] == 'B' || t[0] == 'I') && t[1] == '-' && t[2]);
}

/* Fills e from one line's object. */
static pt_status parse_srl_example(const json_t *o, const char *where, const read_opts *opts,
                                   bool predicted, srl_example *e) {
  const json_t *toks;
  int64_t n;
  PT_TRY(json_tokens(o, where, &toks, &n));
  pt_status st;
  const json_t *vi = seq_field(o, "verb_indicator", n, where, true, &st);
  if (!vi) return st;
  const json_t *tags = seq_field(o, "tags", n, where, !opts->labels_optional, &st);
  if (st != PT_OK) return st;

  sentence *s = &e->s;
  s->words = calloc((size_t)n, sizeof *s->words);
  s->tags = calloc((size_t)n, sizeof *s->tags);
  if (!s->words || !s->tags) return pt_error(PT_ERR_NOMEM, "%s: out of memory", where);
  s->n = n;
  if (!(e->verb_mask = calloc((size_t)n, 1))) return pt_error(PT_ERR_NOMEM, "%s: out of memory", where);
  e->pred_index = -1;
  for (int64_t j = 0; j < n; j++) {
    const char *w;
    PT_TRY(json_token(toks, j, where, &w));
    const json_t *v = json_array_get(vi, (size_t)j);
    if (!(s->words[j] = strdup_checked(w))) return PT_ERR_NOMEM;
    int64_t flag = json_is_integer(v) ? json_integer_value(v) : json_is_boolean(v) ? json_is_true(v) : -1;
    if (flag != 0 && flag != 1)
      return pt_error(PT_ERR_FORMAT, "%s: verb_indicator[%lld] must be 0 or 1", where, (long long)j);
    if (flag) {
      if (e->pred_index < 0) e->pred_index = j;
      e->verb_mask[j] = 1;
      e->n_pred_words++;
    }
    if (tags) {
      const json_t *t = json_array_get(tags, (size_t)j);
      if (!json_is_string(t) || !bio_tag(json_string_value(t)))
        return pt_error(PT_ERR_FORMAT, "%s: tag %lld must be O or B-/I- followed by a role, got %s",
                        where, (long long)j,
                        json_is_string(t) ? json_string_value(t) : pt_json_type_name(t));
      if (!(s->tags[j] = strdup_checked(json_string_value(t)))) return PT_ERR_NOMEM;
    }
  }
  if (e->pred_index >= 0) {
    e->pred_word = s->words[e->pred_index];
    if (tags && !predicted && strcmp(s->tags[e->pred_index], "B-V") != 0)
      return pt_error(PT_ERR_FORMAT, "%s: the predicate '%s' (token %lld) is tagged '%s', expected B-V",
                      where, e->pred_word, (long long)e->pred_index, s->tags[e->pred_index]);
  }
  return PT_OK;
}

typedef struct {
  srl_set *set;
  int64_t cap;
  int tagged;
  const read_opts *opts;
  bool predicted; /* a predictions file: its tags need not mark the predicate */
} jsonl_reading;

static pt_status srl_line(const json_t *o, const char *where, int64_t line, void *ctx) {
  jsonl_reading *r = ctx;
  srl_set *out = r->set;
  PT_TRY(array_grow((void **)&out->ex, &r->cap, out->n, sizeof *out->ex, out->path));
  srl_example *e = &out->ex[out->n++];
  memset(e, 0, sizeof *e);
  e->s.line = line;
  e->s.item = out->n - 1;
  PT_TRY(parse_srl_example(o, where, r->opts, r->predicted, e));
  bool has = e->s.n > 0 && e->s.tags[0] != NULL;
  return labels_consistent(&r->tagged, has, where, "has tags", "has no tags", "lines");
}

static pt_status read_set(const char *path, const read_opts *opts, bool predicted, srl_set *out) {
  static const read_opts defaults = {0};
  if (!opts) opts = &defaults;
  memset(out, 0, sizeof *out);
  if (!(out->path = strdup_checked(path))) return PT_ERR_NOMEM;
  jsonl_reading r = {out, 0, -1, opts, predicted};
  pt_status st = jsonl_each(path, srl_line, &r);
  if (st == PT_OK && out->n == 0)
    st = pt_error(PT_ERR_FORMAT, "%s: no predicate instances found (empty file?)", path);
  out->has_tags = r.tagged == 1;
  if (st != PT_OK) srl_set_free(out);
  return st;
}

pt_status read_srl(const char *path, const read_opts *opts, srl_set *out) {
  return read_set(path, opts, false, out);
}

pt_status read_srl_predictions(const char *path, srl_set *out) {
  return read_set(path, NULL, true, out);
}
