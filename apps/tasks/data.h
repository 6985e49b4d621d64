/* The in-memory form of the task data sets (ner, srl, cls, mc), the label map
 * (label strings <-> ids) and the readers that fill them.
 *
 * Every reader validates its input and fails with one line
 * "file:line: what is wrong" (or "file: item N: ..." for a JSON array, which
 * has no per-element line numbers). Readers fill a caller-owned struct; on
 * success the caller frees it with the matching pt_*_set_free. On failure the
 * struct is left empty (already freed), so freeing it again is harmless.
 * Strings in the sets are owned by the set. */
#ifndef APPS_TASKS_DATA_H
#define APPS_TASKS_DATA_H

#include <stdbool.h>
#include <stdint.h>

#include "tensor/pt_status.h"

/* ---- label map ---------------------------------------------------------- */

/* An ordered set of label strings; a label's id is its position. */
typedef struct {
  char **names;
  int64_t n, cap;
} label_map;

void label_map_init(label_map *m);
void label_map_free(label_map *m);
/* Id of `name`, or -1. */
int64_t label_map_find(const label_map *m, const char *name);
/* Appends `name` unless present; *id (may be NULL) receives its id. */
pt_status label_map_add(label_map *m, const char *name, int64_t *id);
/* Replaces the map with the given names in order (e.g. an adapter's id2label);
 * a duplicate name is an error. */
pt_status label_map_set(label_map *m, const char *const *names, int64_t n);
/* For every B-X adds I-X and for every I-X adds B-X when missing (appended),
 * so a type seen only as single-token entities can still be continued. */
pt_status label_map_complete_bio(label_map *m);

/* ---- sequence labelling (ner, srl) -------------------------------------- */

typedef struct {
  char **words;
  char **tags;     /* IOB2 for ner; NULL entries when the file had no tags */
  int32_t *tag_ids; /* filled by sentences_map_labels, else NULL */
  int64_t n;       /* number of words */
  int64_t line;    /* 1-based line of the first word; 0 for JSON arrays */
  int64_t item;    /* 0-based position in the file */
} sentence;

typedef struct {
  sentence *sents;
  int64_t n;
  char *path;
  bool has_tags;
} sentence_set;

void sentence_set_free(sentence_set *set);

typedef struct {
  bool labels_optional; /* accept unlabelled data (predict): tags/labels NULL */
} read_opts;

/* Rewrites tags in place to IOB2: IOB1 (I-X starting an entity), IOB2,
 * BIOES (S-/E-) and BILOU (U-/L-) all map to B-/I-/O. A tag that is not "O"
 * or one of B/I/E/S/L/U followed by "-TYPE" is an error naming it. */
pt_status tags_to_iob2(char **tags, int64_t n);

/* CoNLL text (word first column, tag last; whitespace-separated; blank lines
 * end sentences; -DOCSTART- lines skipped), converted to IOB2. A path ending
 * in .json is read as a JSON array of {"tokens": [...], "tags": [...]} (tags
 * in any scheme above, e.g. CoNLL04's BILOU) or {"tokens": [...],
 * "entities": [{"start": s, "end": e (exclusive), "type": T}]} (SpERT);
 * .jsonl holds one such object per line. */
pt_status read_ner(const char *path, const read_opts *opts, sentence_set *out);

/* The label order of a known NER data set: "conll2003" gives HF datasets'
 * conll2003 ner_tags names (O, B-PER, I-PER, B-ORG, I-ORG, B-LOC, I-LOC,
 * B-MISC, I-MISC), which THUDM/P-tuning-v2 uses as id2label. Static; PT_ERR_ARG
 * for other names (build the map from the training data instead). */
pt_status ner_preset_labels(const char *name, const char *const **names, int64_t *n);

/* Fills every sentence's tag_ids from `map`. With grow, unseen tags are added
 * (training data); without, an unseen tag is an error naming tag, file and
 * line. */
pt_status sentences_map_labels(sentence_set *set, label_map *map, bool grow);

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
/* sentences_map_labels for the sentences of an SRL set. */
pt_status srl_map_labels(srl_set *set, label_map *map, bool grow);

/* ---- classification and multiple choice --------------------------------- */

typedef enum {
  FMT_GENERIC_JSONL = 0, /* --text-fields A[,B] --label-field L */
  FMT_BOOLQ,             /* SuperGLUE jsonl */
  FMT_CB,
  FMT_RTE,
  FMT_WIC,
  FMT_WSC,
  FMT_COPA, /* multiple choice: read_mc */
  FMT_GLUE_SST2, /* GLUE tsv */
  FMT_GLUE_RTE,
  FMT_GLUE_COLA,
} data_format;

/* "boolq", "cb", "rte", "wic", "wsc", "copa", "sst2" (or "sst-2"),
 * "glue-rte", "cola", "jsonl"; PT_ERR_ARG listing the names otherwise. */
pt_status data_format_from_name(const char *name, data_format *out);
const char *data_format_name(data_format f);
/* The label order the preset's data sets use (HF datasets' ClassLabel names,
 * which THUDM/P-tuning-v2 inherits); n = 0 for the generic format. Static. */
void data_format_labels(data_format f, const char *const **names, int64_t *n);

typedef struct {
  char *text_a;
  char *text_b;  /* NULL for single-text tasks */
  char *label;   /* label as a string: JSON true/false -> "True"/"False",
                    integers in decimal; NULL when unlabelled */
  int64_t label_id; /* filled by cls_map_labels, else -1 */
  int64_t idx;      /* the file's idx/index field, else the position */
  int64_t line;     /* 1-based line; 0 for JSON arrays */
} cls_example;

typedef struct {
  cls_example *ex;
  int64_t n;
  char *path;
  bool has_labels;
} cls_set;

void cls_set_free(cls_set *set);

/* The fields of the generic jsonl format (ignored by the presets). */
typedef struct {
  const char *text_a, *text_b; /* text_b may be NULL */
  const char *label;
} cls_fields;

/* Reads a classification file. Texts per preset (as THUDM/P-tuning-v2 builds
 * them, template 0): BoolQ question / passage; CB and RTE premise /
 * hypothesis; WiC "<sentence1> <sentence2> Does <word> have the same meaning
 * in both sentences?" alone; WSC "<span2_text>: <text>" / span1_text;
 * SST-2 sentence; GLUE RTE sentence1 / sentence2; CoLA sentence. */
pt_status read_cls(const char *path, data_format fmt, const cls_fields *fields,
                      const read_opts *opts, cls_set *out);
/* Sets every label_id from `map` (grow: add unseen labels; else an unseen
 * label is an error naming label, file and line). */
pt_status cls_map_labels(cls_set *set, label_map *map, bool grow);
/* Parses --text-fields "A[,B]" and --label-field L into `out`; the strings in
 * `out` point into `spec_buf`, a copy of `text_fields` the caller frees. */
pt_status cls_fields_parse(const char *text_fields, const char *label_field,
                              cls_fields *out, char **spec_buf);

typedef struct {
  char *premise;
  char *question;  /* COPA: "cause" or "effect" */
  char *context;   /* "<premise> because" for cause, "<premise> so" for effect */
  char **choices;
  int64_t n_choices;
  int64_t label;   /* index of the right choice; -1 when unlabelled */
  int64_t idx;
  int64_t line;
} mc_example;

typedef struct {
  mc_example *ex;
  int64_t n;
  char *path;
  bool has_labels;
} mc_set;

void mc_set_free(mc_set *set);
/* COPA jsonl: premise, choice1, choice2, question (cause|effect), label 0/1. */
pt_status read_mc(const char *path, data_format fmt, const read_opts *opts,
                     mc_set *out);

/* ---- prediction files (ptune predict) ------------------------------------ */

/* NER predictions, pred[i] holding set->sents[i].n tags. A CoNLL text input is
 * copied line for line with the predicted tag appended to each word line
 * ("EU NNP I-NP I-ORG B-ORG"; -DOCSTART- and blank lines unchanged); a JSON
 * input becomes CoNLL text "word [gold] pred", a blank line after each
 * sentence. The source file must be unchanged since it was read (checked).
 * Written atomically. */
pt_status write_ner_predictions(const sentence_set *set, char **const *pred,
                                   const char *out_path);
/* One JSON line per example: {"idx": N, "label": "<map name of pred[i]>"}. */
pt_status write_cls_predictions(const cls_set *set, const int64_t *pred,
                                   const label_map *map, const char *out_path);
/* One JSON line per example: {"idx": N, "label": <choice index>}. */
pt_status write_mc_predictions(const mc_set *set, const int64_t *pred,
                                  const char *out_path);

#endif
