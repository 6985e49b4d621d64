/* The ner task: an IOB2 tag per word (token classification head, the label
 * on each word's first sub-token). Data: CoNLL text, CoNLL04/SpERT JSON or
 * JSON Lines (--preset conll2003 fixes HF's label order); metric seqeval's
 * entity precision/recall/F1 (primary F1), default or strict mode;
 * predictions the CoNLL file with a predicted-tag column, as conlleval
 * reads it. */
#include <stdlib.h>

#include "apps/tasks/ner/ner.h"

static pt_status ner_read(const task_opts *o, const char *path, bool need_labels, task_data *td) {
  sentence_set *set = td->examples;
  read_opts ro = {.labels_optional = !need_labels};
  if (o->gold_in_predictions) /* the gold column of a predictions file */
    PT_TRY(read_ner_columns(path, &ro, 2, false, set));
  else
    PT_TRY(read_ner(path, &ro, set));
  td->n_examples = set->n;
  td->labelled = set->has_tags;
  return PT_OK;
}

static void ner_free(void *examples) { sentence_set_free(examples); }

static pt_status ner_preset(const task_opts *o, label_map *map) {
  if (!o->preset) return PT_OK;
  const char *const *names;
  int64_t n;
  PT_TRY(ner_preset_labels(o->preset, &names, &n));
  for (int64_t i = 0; i < n; i++) PT_TRY(label_map_add(map, names[i], NULL));
  return PT_OK;
}

static pt_status ner_labels(task_data *td, label_map *map, bool grow) {
  PT_TRY(sentences_map_labels(td->examples, map, grow));
  return grow ? label_map_complete_bio(map) : PT_OK;
}

/* The words encoded pre-split; -100 off the first sub-tokens and on the
 * words truncation cuts. */
static pt_status ner_encode(const task_data *td, const pt_tokenizer *tok, const task_opts *o,
                            int64_t i, task_feature *f) {
  const sentence_set *set = td->examples;
  const sentence *s = &set->sents[i];
  pt_encode_opts eo = {.max_length = o->max_seq_len, .truncation = PT_TRUNC_LONGEST_FIRST};
  pt_encoding e = {0};
  pt_status st = pt_tokenizer_encode_words(tok, (const char *const *)s->words, s->n, &eo, &e);
  if (st == PT_OK) st = feature_add_sequence(f, &e);
  if (st == PT_OK) st = tagging_word_labels(f, e.word_ids, e.seq_ids, s->tag_ids);
  pt_encoding_free(&e);
  return st;
}

static const sentence *ner_sentence(const task_data *td, int64_t i) {
  const sentence_set *set = td->examples;
  return &set->sents[i];
}

static pt_status ner_predict_begin(const task_data *td, const label_map *map, eval_result *r) {
  return tagging_predict_begin(td, map, r, ner_sentence);
}

static pt_status ner_score(const task_data *td, const label_map *map, const task_opts *o,
                           const eval_result *r, task_score *s) {
  (void)map;
  if (o->ner_mode == NER_MODE_STRICT)
    return tagging_score_strict(td, r, ner_sentence, o->scheme, s);
  return tagging_score(td, r, ner_sentence, seqeval, s);
}

/* The last column of a CoNLL predictions file, as written (strict mode
 * scores a file in its scheme's own tags as they are). */
static pt_status ner_read_predictions(const task_data *td, label_map *map, const task_opts *o,
                                      const char *path, eval_result *r) {
  sentence_set pred;
  PT_TRY(read_ner_columns(path, NULL, 1, true, &pred));
  pt_status st = tagging_align(td, ner_sentence, &pred, true, map, r);
  if (st == PT_OK && o->ner_mode == NER_MODE_STRICT) {
    /* tags the scheme does not have, named by line, before seqeval_strict */
    int64_t *lens = malloc(sizeof(int64_t) * (size_t)(pred.n > 0 ? pred.n : 1));
    if (!lens) st = pt_error(PT_ERR_NOMEM, "%s: out of memory", path);
    for (int64_t i = 0; lens && i < pred.n; i++) lens[i] = pred.sents[i].n;
    bool iob = st == PT_OK && tagging_iob_only(r->tags, lens, r->n);
    for (int64_t i = 0; st == PT_OK && !iob && i < pred.n; i++)
      for (int64_t j = 0; st == PT_OK && j < pred.sents[i].n; j++)
        if (!tag_scheme_allows(o->scheme, pred.sents[i].tags[j]))
          st = pt_error(PT_ERR_FORMAT, "%s:%lld: tag '%s' is not one of the %s scheme's (%s)",
                        path, (long long)(pred.sents[i].line + j), pred.sents[i].tags[j],
                        tag_scheme_name(o->scheme), tag_scheme_prefixes(o->scheme));
    free(lens);
  }
  sentence_set_free(&pred);
  return st;
}

static pt_status ner_write(const task_data *td, const eval_result *r, const label_map *map,
                           const task_opts *o, const char *path) {
  (void)map;
  (void)o;
  return write_ner_predictions(td->examples, r->tags, path);
}

static pt_status ner_result_json(const task_data *td, const eval_result *r, const label_map *map,
                                 int64_t i, json_t **out) {
  (void)map;
  return tagging_example_json(ner_sentence(td, i), r->tags[i], out);
}

static const task_def ner_task = {
    .name = "ner",
    .data_help = "CoNLL text, CoNLL04/SpERT .json or .jsonl (--preset conll2003: HF's label order)",
    .head = PT_TASK_TOKEN_CLASSIFICATION,
    .max_seq_len = 128,
    .adapter_labels = true,
    .predictions_hold_gold = true,
    .examples_size = sizeof(sentence_set),
    .read = ner_read,
    .free_examples = ner_free,
    .preset_labels = ner_preset,
    .map_labels = ner_labels,
    .encode = ner_encode,
    .predict_begin = ner_predict_begin,
    .predict_batch = tagging_predict_batch,
    .score = ner_score,
    .write = ner_write,
    .read_predictions = ner_read_predictions,
    .example_json = ner_result_json,
    .read_inputs = ner_read_inputs,
    .serve_json = ner_serve_json,
    .check_fixture = "conll2003/eng.train.excerpt",
    .check_gold_score = 1.0,
    .bad_input = "EU NNP B-NP B-ORG\nrejects VBZ B-VP Q-XYZ\n",
    .bad_input_name = "bad.conll",
    .bad_error = "bad.conll:2: tag 'Q-XYZ' is not O or B-/I-/E-/S-/L-/U- followed by a type",
};
TASK_REGISTER(ner_task);
