/* SQuAD prediction files as the official evaluators read them: predictions
 * {"id": "answer", ...} and, for v2, no-answer scores {"id": number, ...}
 * (HF run_qa's null_odds.json), written atomically and read back by id. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "apps/tasks/qa/squad.h"
#include "nn/pt_json.h"
#include "tensor/pt_file.h"

/* Dumps `obj` as HF does (json.dumps(indent=4), ASCII escapes) + "\n". */
static pt_status write_json(json_t *obj, const char *path) {
  char *s = obj ? json_dumps(obj, JSON_INDENT(4) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII |
                                      JSON_REAL_PRECISION(17))
                : NULL;
  json_decref(obj);
  if (!s) return pt_error(PT_ERR_NOMEM, "%s: out of memory", path);
  size_t n = strlen(s);
  /* Python writes \u00e9 where jansson writes \u00E9 */
  for (size_t i = 0; i + 1 < n; i++)
    if (s[i] == '\\') {
      if (s[i + 1] == 'u')
        for (size_t k = i + 2; k < i + 6 && k < n; k++)
          if (s[k] >= 'A' && s[k] <= 'F') s[k] = (char)(s[k] - 'A' + 'a');
      i++;
    }
  char *t = realloc(s, n + 2);
  if (!t) {
    free(s);
    return pt_error(PT_ERR_NOMEM, "%s: out of memory", path);
  }
  t[n] = '\n';
  t[n + 1] = '\0';
  pt_status st = pt_write_file_atomic(path, t, n + 1);
  free(t);
  return st;
}

pt_status write_squad_predictions(const squad_set *set, const char *const *answers,
                                     const char *path) {
  json_t *o = json_object();
  for (int64_t i = 0; o && i < set->n; i++) {
    if (!answers[i]) {
      json_decref(o);
      return pt_error(PT_ERR_ARG, "%s: no answer for question id '%s'", path, set->qs[i].id);
    }
    if (json_object_set_new(o, set->qs[i].id, json_string(answers[i]))) {
      json_decref(o);
      return pt_error(PT_ERR_ARG, "%s: answer to '%s' is not valid UTF-8", path, set->qs[i].id);
    }
  }
  return write_json(o, path);
}

pt_status write_squad_scores(const squad_set *set, const double *scores, const char *path) {
  json_t *o = json_object();
  for (int64_t i = 0; o && i < set->n; i++)
    if (json_object_set_new(o, set->qs[i].id, json_real(scores[i]))) {
      json_decref(o);
      return pt_error(PT_ERR_NOMEM, "%s: out of memory", path);
    }
  return write_json(o, path);
}

void squad_predictions_free(char **preds, int64_t n) {
  if (!preds) return;
  for (int64_t i = 0; i < n; i++) free(preds[i]);
  free(preds);
}

/* The index of every question id of the set, as a JSON object id -> index. */
static json_t *id_index(const squad_set *set, const char *path) {
  json_t *ix = json_object();
  for (int64_t i = 0; ix && i < set->n; i++)
    if (json_object_set_new(ix, set->qs[i].id, json_integer(i))) {
      json_decref(ix);
      ix = NULL;
    }
  if (!ix) pt_error(PT_ERR_NOMEM, "%s: out of memory", path);
  return ix;
}

/* Checks that every key of root is a question of the set and every
 * question a key of root; order (may be NULL) receives each question's
 * place among the keys. */
static pt_status same_ids(const json_t *root, const squad_set *set, const char *path,
                          int64_t *order) {
  json_t *ix = id_index(set, path);
  if (!ix) return pt_error_code();
  pt_status st = PT_OK;
  const char *key;
  json_t *v;
  int64_t k = 0;
  json_object_foreach((json_t *)root, key, v) {
    json_t *i = json_object_get(ix, key);
    if (!i) {
      st = pt_error(PT_ERR_FORMAT, "%s: id '%s' is not a question of %s", path, key, set->path);
      break;
    }
    if (order) order[json_integer_value(i)] = k;
    k++;
  }
  json_decref(ix);
  for (int64_t i = 0; st == PT_OK && i < set->n; i++)
    if (!json_object_get(root, set->qs[i].id))
      st = pt_error(PT_ERR_FORMAT, "%s: no entry for question id '%s' of %s", path,
                    set->qs[i].id, set->path);
  return st;
}

pt_status read_squad_predictions(const char *path, const squad_set *set, char ***out) {
  *out = NULL;
  json_t *root = pt_json_load_object(path);
  if (!root) return pt_error_code();
  char **preds = calloc((size_t)(set->n ? set->n : 1), sizeof *preds);
  pt_status st = preds ? same_ids(root, set, path, NULL)
                       : pt_error(PT_ERR_NOMEM, "%s: out of memory", path);
  for (int64_t i = 0; st == PT_OK && i < set->n; i++) {
    json_t *v = json_object_get(root, set->qs[i].id);
    if (!json_is_string(v) || memchr(json_string_value(v), '\0', json_string_length(v)))
      st = pt_error(PT_ERR_FORMAT, "%s: the answer to '%s' must be a string, got %s", path,
                    set->qs[i].id, pt_json_type_name(v));
    else if (!(preds[i] = strdup(json_string_value(v))))
      st = pt_error(PT_ERR_NOMEM, "%s: out of memory", path);
  }
  json_decref(root);
  if (st != PT_OK) {
    squad_predictions_free(preds, set->n);
    return st;
  }
  *out = preds;
  return PT_OK;
}

pt_status read_squad_scores(const char *path, const squad_set *set, double **out,
                            int64_t **order) {
  *out = NULL;
  if (order) *order = NULL;
  json_t *root = pt_json_load_object(path);
  if (!root) return pt_error_code();
  size_t n = (size_t)(set->n ? set->n : 1);
  double *na = malloc(n * sizeof *na);
  int64_t *ord = order ? malloc(n * sizeof *ord) : NULL;
  pt_status st = na && (ord || !order) ? same_ids(root, set, path, ord)
                                       : pt_error(PT_ERR_NOMEM, "%s: out of memory", path);
  for (int64_t i = 0; st == PT_OK && i < set->n; i++) {
    json_t *v = json_object_get(root, set->qs[i].id);
    if (!json_is_number(v))
      st = pt_error(PT_ERR_FORMAT, "%s: the score of '%s' must be a number, got %s", path,
                    set->qs[i].id, pt_json_type_name(v));
    else
      na[i] = json_number_value(v);
  }
  json_decref(root);
  if (st) {
    free(na);
    free(ord);
    return st;
  }
  *out = na;
  if (order) *order = ord;
  return PT_OK;
}
