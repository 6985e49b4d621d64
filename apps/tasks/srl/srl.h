/* The srl task: the CoNLL-2005 JSON Lines reader (read.c) and the task row
 * with its prediction file (task.c). */
#ifndef APPS_TASKS_SRL_SRL_H
#define APPS_TASKS_SRL_SRL_H

#include <stdbool.h>
#include <stdint.h>

#include "apps/tasks/lines.h"
#include "apps/tasks/tagging.h"

/* One SRL predicate instance: the sentence with its BIO argument tags, and
 * the predicate as verb_indicator marks it: usually one word, sometimes a
 * phrasal verb ("pull off": B-V I-V) or a split one ("screwed things up":
 * B-V ... B-C-V), so the marked words need not be contiguous. THUDM frames
 * SRL as token classification of "[CLS] words [SEP] pred_word [SEP]".
 * pred_index = -1 when the sentence has no predicate (all tags O). */
typedef struct {
  sentence s;
  uint8_t *verb_mask;    /* s.n flags, 1 on the predicate's words */
  int64_t pred_index;    /* the first marked word */
  int64_t n_pred_words;  /* how many words are marked */
  const char *pred_word; /* borrowed from s.words[pred_index]; NULL if none */
} srl_example;

typedef struct {
  srl_example *ex;
  int64_t n;
  char *path;
  bool has_tags;
} srl_set;

void srl_set_free(srl_set *set);
/* JSON Lines as in conll2005-srl-sample: "tokens", "verb_indicator" and
 * "tags", the last two either flat lists or [values, words] pairs. */
pt_status read_srl(const char *path, const read_opts *opts, srl_set *out);
/* A predictions file of `ptune predict --task srl`: the same lines with
 * the predicted tags, which need not tag the predicate B-V. */
pt_status read_srl_predictions(const char *path, srl_set *out);
/* sentences_map_labels for the sentences of an SRL set. */
pt_status srl_map_labels(srl_set *set, label_map *map, bool grow);

#endif
