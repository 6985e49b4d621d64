/* What the sequence-labelling tasks (ner, srl) share (tagging.c): tagged
 * sentences and their label ids, token labels on each word's first
 * sub-token, tags per word read off the token logits, and entity/span
 * scores as JSON. */
#ifndef APPS_TASKS_TAGGING_H
#define APPS_TASKS_TAGGING_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "apps/metrics/metrics.h"
#include "apps/tasks/task.h"

typedef struct {
  char **words;
  char **tags;      /* IOB2 for ner; NULL entries when the file had no tags */
  int32_t *tag_ids; /* filled by sentences_map_labels, else NULL */
  int64_t n;        /* number of words */
  int64_t line;     /* 1-based line of the first word; 0 for JSON arrays */
  int64_t item;     /* 0-based position in the file */
  char *text;       /* served inputs: the text the words come from (owned), else NULL */
  pt_text_span *spans; /* served inputs: each word's place in `text` (owned), else NULL */
} sentence;

typedef struct {
  sentence *sents;
  int64_t n;
  char *path;
  bool has_tags;
} sentence_set;

void sentence_free(sentence *s);
void sentence_set_free(sentence_set *set);

/* Fills every sentence's tag_ids from `map`. With grow, unseen tags are added
 * (training data); without, an unseen tag is an error naming tag, file and
 * line. */
pt_status sentences_map_labels(sentence_set *set, label_map *map, bool grow);

/* Token labels on each word's first sub-token of segment 0 of f (f->len[0]
 * positions; word_ids/seq_ids as pt_encoding has them; tag_ids NULL for
 * unlabelled data): f->tok_labels and f->word_of. */
pt_status tagging_word_labels(task_feature *f, const int64_t *word_ids, const int64_t *seq_ids,
                              const int32_t *tag_ids);

/* Predictions of a token head: each word's tag from the logits at its first
 * sub-token (words cut by truncation keep "O"). `sentence_of` gives example
 * i's sentence. */
pt_status tagging_predict_begin(const task_data *td, const label_map *map, eval_result *r,
                                const sentence *(*sentence_of)(const task_data *, int64_t));
pt_status tagging_predict_batch(const task_data *td, const label_map *map,
                                const task_feature *const *f, int64_t nb,
                                const pt_model_outputs *out, eval_result *r);
/* One example's result: {"tokens": [...], "tags": [...]}. */
pt_status tagging_example_json(const sentence *s, char **tags, json_t **out);
/* The metric of a token task: spans(gold, pred, ...) over every example's
 * sentence (sentence_of) and predicted tags, as the metrics object (micro
 * precision/recall/f1, token accuracy, support = gold spans, predicted and
 * correct spans, per type); primary f1. */
pt_status tagging_score(const task_data *td, const eval_result *r,
                        const sentence *(*sentence_of)(const task_data *, int64_t),
                        pt_status (*spans)(char **const *gold, char **const *pred,
                                           const int64_t *lens, int64_t n, span_scores *out),
                        task_score *s);
/* The same with seqeval's strict mode in `scheme`, every key named
 * "strict_..." and "scheme" added; primary strict_f1. The gold tags (IOB2)
 * are rewritten into the scheme (tags_from_iob2), and so are predicted tags
 * that are all B-/I-/O (the model's, or a predictions file in IOB2);
 * predictions that use the scheme's own prefixes are scored as they are. */
pt_status tagging_score_strict(const task_data *td, const eval_result *r,
                               const sentence *(*sentence_of)(const task_data *, int64_t),
                               tag_scheme scheme, task_score *s);
/* Whether every tag of the n sentences (lens[i] tags each) is O, B-X or
 * I-X. */
bool tagging_iob_only(char **const *tags, const int64_t *lens, int64_t n);

/* A word as a CoNLL line can hold it: spaces, tabs and line breaks become
 * '_', and an empty word is "_". A new string (NULL with PT_ERR_NOMEM). */
char *conll_word(const char *w);

/* A predictions file's sentences (its words and predicted tags, read by
 * the task) as the predictions r->tags (r->n set) of td's examples: the
 * same number of sentences, of the same words (conll_words: as conll_word
 * writes them), else an error naming both files and lines. The tags are
 * added to `map`, which owns them. */
pt_status tagging_align(const task_data *td,
                        const sentence *(*sentence_of)(const task_data *, int64_t),
                        const sentence_set *pred, bool conll_words, label_map *map,
                        eval_result *r);

#endif
