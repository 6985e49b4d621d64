/* What ner and srl share: tagged sentences and their label ids, token
 * labels on each word's first sub-token (the other sub-tokens get -100,
 * as THUDM/P-tuning-v2 labels them), each word's predicted tag read off the
 * logits at that sub-token, and the span scores as the metrics object. */
#include "apps/tasks/tagging.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/tasks/lines.h"

void sentence_free(sentence *s) {
  for (int64_t j = 0; j < s->n; j++) {
    free(s->words ? s->words[j] : NULL);
    free(s->tags ? s->tags[j] : NULL);
  }
  free(s->words);
  free(s->tags);
  free(s->tag_ids);
  free(s->text);
  free(s->spans);
  memset(s, 0, sizeof *s);
}

void sentence_set_free(sentence_set *set) {
  for (int64_t i = 0; i < set->n; i++) sentence_free(&set->sents[i]);
  free(set->sents);
  free(set->path);
  memset(set, 0, sizeof *set);
}

pt_status sentences_map_labels(sentence_set *set, label_map *map, bool grow) {
  if (!set->has_tags) return pt_error(PT_ERR_ARG, "%s: has no tags to map", set->path);
  for (int64_t i = 0; i < set->n; i++) {
    sentence *s = &set->sents[i];
    if (!s->tag_ids) {
      s->tag_ids = malloc((size_t)(s->n ? s->n : 1) * sizeof *s->tag_ids);
      if (!s->tag_ids) return pt_error(PT_ERR_NOMEM, "%s: out of memory", set->path);
    }
    for (int64_t j = 0; j < s->n; j++) {
      int64_t id = label_map_find(map, s->tags[j]);
      if (id < 0) { /* where only now: this runs for every word of a data set */
        char where[512];
        task_where(where, sizeof where, set->path, s->line ? s->line + j : 0, s->item);
        PT_TRY(label_map_lookup(map, s->tags[j], grow, where, &id));
      }
      s->tag_ids[j] = (int32_t)id;
    }
  }
  return PT_OK;
}

pt_status tagging_word_labels(task_feature *f, const int64_t *word_ids, const int64_t *seq_ids,
                              const int32_t *tag_ids) {
  int64_t n = f->len[0];
  f->tok_labels = malloc(sizeof(int64_t) * (size_t)n);
  f->word_of = malloc(sizeof(int64_t) * (size_t)n);
  if (!f->tok_labels || !f->word_of) return pt_error(PT_ERR_NOMEM, "features: out of memory");
  int64_t prev = -1;
  for (int64_t i = 0; i < n; i++) {
    int64_t w = seq_ids[i] == 0 ? word_ids[i] : -1;
    bool first = w >= 0 && w != prev;
    f->word_of[i] = first ? w : -1;
    f->tok_labels[i] = first && tag_ids ? tag_ids[w] : -100;
    prev = w;
  }
  return PT_OK;
}

pt_status tagging_predict_begin(const task_data *td, const label_map *map, eval_result *r,
                                const sentence *(*sentence_of)(const task_data *, int64_t)) {
  int64_t o = label_map_find(map, "O");
  static char O[] = "O";
  char *deflt = o >= 0 ? map->names[o] : O;
  r->tags = calloc((size_t)r->n, sizeof(char **));
  if (!r->tags) return pt_error(PT_ERR_NOMEM, "eval: out of memory");
  for (int64_t i = 0; i < r->n; i++) {
    const sentence *s = sentence_of(td, i);
    r->tags[i] = malloc(sizeof(char *) * (size_t)(s->n > 0 ? s->n : 1));
    if (!r->tags[i]) return pt_error(PT_ERR_NOMEM, "eval: out of memory");
    for (int64_t w = 0; w < s->n; w++) r->tags[i][w] = deflt;
  }
  return PT_OK;
}

pt_status tagging_predict_batch(const task_data *td, const label_map *map,
                                const task_feature *const *f, int64_t nb,
                                const pt_model_outputs *out, eval_result *r) {
  (void)td;
  const pt_tensor *lg = out->logits; /* [nb, S, C] */
  int64_t S = lg->shape[1], C = lg->shape[2];
  for (int64_t i = 0; i < nb; i++)
    for (int64_t t = 0; t < f[i]->len[0]; t++)
      if (f[i]->word_of[t] >= 0)
        r->tags[f[i]->example][f[i]->word_of[t]] =
            map->names[logits_argmax(lg, (i * S + t) * C, C)];
  return PT_OK;
}

/* One span_score as JSON; the overall row also takes the token accuracy.
 * Keys get `prefix` ("" or "strict_"). */
static json_t *span_row(const span_score *x, const char *prefix, const double *accuracy) {
  char k[7][32];
  const char *names[] = {"precision", "recall", "f1", "support", "predicted", "correct",
                         "accuracy"};
  for (int i = 0; i < 7; i++) snprintf(k[i], sizeof k[i], "%s%s", prefix, names[i]);
  json_t *j = json_pack("{s:f, s:f, s:f}", k[0], x->precision, k[1], x->recall, k[2], x->f1);
  if (j && accuracy) json_object_set_new(j, k[6], json_real(*accuracy));
  if (j) json_object_set_new(j, k[3], json_integer(x->n_true));
  if (j) json_object_set_new(j, k[4], json_integer(x->n_pred));
  if (j) json_object_set_new(j, k[5], json_integer(x->tp));
  return j;
}

/* Span scores as the metrics object ("task" first, for evaluate.c). */
static json_t *span_json(const span_scores *s, const char *prefix) {
  json_t *j = json_pack("{s:s}", "task", "");
  json_t *all = span_row(&s->micro, prefix, &s->token_accuracy);
  json_t *types = json_object();
  if (!j || !all || !types || json_object_update(j, all)) {
    json_decref(j), json_decref(all), json_decref(types);
    return NULL;
  }
  json_decref(all);
  for (int64_t t = 0; t < s->n_types; t++)
    json_object_set_new(types, s->types[t].type, span_row(&s->types[t], "", NULL));
  char key[32];
  snprintf(key, sizeof key, "%sper_type", prefix);
  json_object_set_new(j, key, types);
  return j;
}

/* The gold tags and lengths of every example, borrowed. */
static pt_status gold_of(const task_data *td, const eval_result *r,
                         const sentence *(*sentence_of)(const task_data *, int64_t),
                         char ****gold, int64_t **lens) {
  *gold = malloc(sizeof(char **) * (size_t)(r->n > 0 ? r->n : 1));
  *lens = malloc(sizeof(int64_t) * (size_t)(r->n > 0 ? r->n : 1));
  if (!*gold || !*lens) {
    free(*gold), free(*lens);
    return pt_error(PT_ERR_NOMEM, "eval: out of memory");
  }
  for (int64_t i = 0; i < r->n; i++) {
    (*gold)[i] = sentence_of(td, i)->tags;
    (*lens)[i] = sentence_of(td, i)->n;
  }
  return PT_OK;
}

static pt_status metrics_of(const span_scores *sc, const char *prefix, task_score *s) {
  s->metrics = span_json(sc, prefix);
  if (!s->metrics) return pt_error(PT_ERR_NOMEM, "eval: out of memory");
  s->primary = sc->micro.f1;
  s->primary_name = prefix[0] ? "strict_f1" : "f1";
  return PT_OK;
}

pt_status tagging_score(const task_data *td, const eval_result *r,
                        const sentence *(*sentence_of)(const task_data *, int64_t),
                        pt_status (*spans)(char **const *gold, char **const *pred,
                                           const int64_t *lens, int64_t n, span_scores *out),
                        task_score *s) {
  char ***gold;
  int64_t *lens;
  PT_TRY(gold_of(td, r, sentence_of, &gold, &lens));
  span_scores sc = {0};
  pt_status st = spans(gold, r->tags, lens, r->n, &sc);
  if (st == PT_OK) st = metrics_of(&sc, "", s);
  span_scores_free(&sc);
  free(gold);
  free(lens);
  return st;
}

bool tagging_iob_only(char **const *tags, const int64_t *lens, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < lens[i]; j++) {
      const char *t = tags[i][j];
      if (strcmp(t, "O") != 0 && !((t[0] == 'B' || t[0] == 'I') && t[1] == '-')) return false;
    }
  return true;
}

/* Every sentence's tags rewritten from IOB2 into scheme sc (new strings). */
static pt_status rewrite_all(char **const *tags, const int64_t *lens, int64_t n, tag_scheme sc,
                             char ****out) {
  *out = calloc((size_t)(n > 0 ? n : 1), sizeof(char **));
  if (!*out) return pt_error(PT_ERR_NOMEM, "eval: out of memory");
  for (int64_t i = 0; i < n; i++) {
    (*out)[i] = malloc(sizeof(char *) * (size_t)(lens[i] > 0 ? lens[i] : 1));
    if (!(*out)[i]) return pt_error(PT_ERR_NOMEM, "eval: out of memory");
    PT_TRY(tags_from_iob2(tags[i], lens[i], sc, (*out)[i]));
  }
  return PT_OK;
}

static void free_all(char ***tags, const int64_t *lens, int64_t n) {
  for (int64_t i = 0; tags && i < n; i++) {
    for (int64_t j = 0; tags[i] && j < lens[i]; j++) free(tags[i][j]);
    free(tags[i]);
  }
  free(tags);
}

pt_status tagging_score_strict(const task_data *td, const eval_result *r,
                               const sentence *(*sentence_of)(const task_data *, int64_t),
                               tag_scheme scheme, task_score *s) {
  char ***gold, ***g2 = NULL, ***p2 = NULL;
  int64_t *lens;
  PT_TRY(gold_of(td, r, sentence_of, &gold, &lens));
  bool rewrite_pred = tagging_iob_only(r->tags, lens, r->n);
  pt_status st = rewrite_all(gold, lens, r->n, scheme, &g2);
  if (st == PT_OK && rewrite_pred) st = rewrite_all(r->tags, lens, r->n, scheme, &p2);
  span_scores sc = {0};
  if (st == PT_OK)
    st = seqeval_strict(g2, rewrite_pred ? p2 : r->tags, lens, r->n, scheme, NULL, &sc);
  if (st == PT_OK) st = metrics_of(&sc, "strict_", s);
  if (st == PT_OK) json_object_set_new(s->metrics, "scheme", json_string(tag_scheme_name(scheme)));
  span_scores_free(&sc);
  free_all(g2, lens, r->n);
  free_all(p2, lens, r->n);
  free(gold);
  free(lens);
  return st;
}

char *conll_word(const char *w) {
  char *c = strdup_checked(w[0] ? w : "_");
  if (c)
    for (char *p = c; *p; p++)
      if (strchr(" \t\r\n", *p)) *p = '_';
  return c;
}

pt_status tagging_align(const task_data *td,
                        const sentence *(*sentence_of)(const task_data *, int64_t),
                        const sentence_set *pred, bool conll_words, label_map *map,
                        eval_result *r) {
  r->tags = calloc((size_t)(r->n > 0 ? r->n : 1), sizeof(char **));
  if (!r->tags) return pt_error(PT_ERR_NOMEM, "score: out of memory");
  char gw[512], pw[512];
  for (int64_t i = 0; i < r->n; i++) {
    const sentence *g = sentence_of(td, i);
    task_where(gw, sizeof gw, td->path, g->line, g->item);
    if (i >= pred->n)
      return pt_error(PT_ERR_FORMAT, "%s: ends after %lld sentences, but %s has %lld (the next "
                      "at %s)", pred->path, (long long)pred->n, td->path, (long long)r->n, gw);
    const sentence *p = &pred->sents[i];
    task_where(pw, sizeof pw, pred->path, p->line, p->item);
    if (p->n != g->n)
      return pt_error(PT_ERR_FORMAT, "%s: sentence %lld has %lld words, but %lld at %s", pw,
                      (long long)i + 1, (long long)p->n, (long long)g->n, gw);
    if (!(r->tags[i] = malloc(sizeof(char *) * (size_t)(g->n > 0 ? g->n : 1))))
      return pt_error(PT_ERR_NOMEM, "score: out of memory");
    for (int64_t j = 0; j < g->n; j++) {
      char *want = conll_words ? conll_word(g->words[j]) : strdup_checked(g->words[j]);
      if (!want) return PT_ERR_NOMEM;
      if (strcmp(want, p->words[j]) != 0) {
        task_where(pw, sizeof pw, pred->path, p->line ? p->line + j : 0, p->item);
        task_where(gw, sizeof gw, td->path, g->line ? g->line + j : 0, g->item);
        pt_status st = pt_error(PT_ERR_FORMAT, "%s: word %lld of sentence %lld is '%s', but '%s' "
                                "at %s", pw, (long long)j + 1, (long long)i + 1, p->words[j],
                                want, gw);
        free(want);
        return st;
      }
      free(want);
      int64_t id;
      PT_TRY(label_map_add(map, p->tags[j], &id));
      r->tags[i][j] = map->names[id];
    }
  }
  if (pred->n > r->n) {
    task_where(pw, sizeof pw, pred->path, pred->sents[r->n].line, pred->sents[r->n].item);
    return pt_error(PT_ERR_FORMAT, "%s: sentence %lld, but %s has only %lld", pw,
                    (long long)r->n + 1, td->path, (long long)r->n);
  }
  return PT_OK;
}

pt_status tagging_example_json(const sentence *s, char **tags, json_t **out) {
  json_t *words = json_array(), *tg = json_array();
  for (int64_t w = 0; words && tg && w < s->n; w++) {
    json_array_append_new(words, json_string(s->words[w]));
    json_array_append_new(tg, json_string(tags[w]));
  }
  *out = json_pack("{s:o, s:o}", "tokens", words, "tags", tg);
  return *out ? PT_OK : pt_error(PT_ERR_NOMEM, "predictions: out of memory");
}
