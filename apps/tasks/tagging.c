/* What ner and srl share: tagged sentences and their label ids, token
 * labels on each word's first sub-token (the other sub-tokens get -100,
 * as THUDM/P-tuning-v2 labels them), each word's predicted tag read off the
 * logits at that sub-token, and the span scores as the metrics object. */
#include "apps/tasks/tagging.h"

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
                                const pt_ptv2_outputs *out, eval_result *r) {
  (void)td;
  const pt_tensor *lg = out->logits; /* [nb, S, C] */
  int64_t S = lg->shape[1], C = lg->shape[2];
  for (int64_t i = 0; i < nb; i++)
    for (int64_t t = 0; t < f[i]->len[0]; t++)
      if (f[i]->word_of[t] >= 0)
        r->tags[f[i]->example][f[i]->word_of[t]] = map->names[logits_argmax(lg, (i * S + t) * C, C)];
  return PT_OK;
}

/* Span scores as the metrics object. */
static json_t *span_json(const span_scores *s) {
  json_t *j = json_pack("{s:s, s:f, s:f, s:f, s:f, s:I}", "task", "", "precision",
                        s->micro.precision, "recall", s->micro.recall, "f1", s->micro.f1,
                        "accuracy", s->token_accuracy, "support", (json_int_t)s->micro.n_true);
  json_t *types = json_object();
  for (int64_t t = 0; t < s->n_types; t++)
    json_object_set_new(types, s->types[t].type,
                        json_pack("{s:f, s:f, s:f, s:I}", "precision", s->types[t].precision,
                                  "recall", s->types[t].recall, "f1", s->types[t].f1, "support",
                                  (json_int_t)s->types[t].n_true));
  json_object_set_new(j, "per_type", types);
  return j;
}

pt_status tagging_score(const task_data *td, const eval_result *r,
                        const sentence *(*sentence_of)(const task_data *, int64_t),
                        pt_status (*spans)(char **const *gold, char **const *pred,
                                           const int64_t *lens, int64_t n, span_scores *out),
                        task_score *s) {
  char ***gold = malloc(sizeof(char **) * (size_t)(r->n > 0 ? r->n : 1));
  int64_t *lens = malloc(sizeof(int64_t) * (size_t)(r->n > 0 ? r->n : 1));
  pt_status st = gold && lens ? PT_OK : pt_error(PT_ERR_NOMEM, "eval: out of memory");
  for (int64_t i = 0; st == PT_OK && i < r->n; i++) {
    gold[i] = sentence_of(td, i)->tags;
    lens[i] = sentence_of(td, i)->n;
  }
  span_scores sc = {0};
  if (st == PT_OK) st = spans(gold, r->tags, lens, r->n, &sc);
  if (st == PT_OK) {
    s->metrics = span_json(&sc);
    s->primary = sc.micro.f1;
    s->primary_name = "f1";
  }
  span_scores_free(&sc);
  free(gold);
  free(lens);
  return st;
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
