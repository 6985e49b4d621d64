/* Task metrics: seqeval-compatible entity scores (ner), SRL argument span F1
 * (srl) and accuracy / macro-F1 / Matthews correlation (cls, mc).
 *
 * Tag sequences are given as arrays of C strings (map predicted ids back to
 * names with the label map first). Results are filled into caller-owned
 * structs; free a span_scores with span_scores_free. */
#ifndef APPS_METRICS_METRICS_H
#define APPS_METRICS_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "tensor/pt_status.h"

typedef struct {
  char *type;        /* entity type ("PER"); NULL for the overall row */
  int64_t tp;        /* predicted spans that match a gold span exactly */
  int64_t n_pred;    /* predicted spans */
  int64_t n_true;    /* gold spans (seqeval's "support") */
  double precision, recall, f1; /* 0 where the denominator is 0 */
} span_score;

typedef struct {
  span_score micro;   /* seqeval's overall precision/recall/f1 */
  span_score *types;  /* per type, sorted by name (byte order) */
  int64_t n_types;
  double macro_precision, macro_recall, macro_f1;          /* mean over types */
  double weighted_precision, weighted_recall, weighted_f1; /* support-weighted */
  double token_accuracy; /* tags equal / tags (seqeval accuracy_score, V kept) */
} span_scores;

void span_scores_free(span_scores *s);

/* Entity scores with seqeval's default (conlleval-like) mode: spans come from
 * seqeval.get_entities over the sentences joined with an "O" between them, so
 * an I-X after O or after another type starts an entity, a type change ends
 * one, and E-/S- tags end/make single entities. Per type and micro overall,
 * as seqeval's classification_report. gold[i] and pred[i] hold lens[i] tags.
 * A length mismatch cannot happen with this signature; n may be 0. */
pt_status seqeval(char **const *gold, char **const *pred, const int64_t *lens, int64_t n,
                     span_scores *out);

/* An entity of one tag sequence: words [first, last] (inclusive) of `type`
 * (pointing into one of the tags, or "_" for a tag without a type). */
typedef struct {
  const char *type;
  int64_t first, last;
} tag_entity;

/* The entities of tags[0..n) as seqeval's get_entities finds them (the
 * default mode above), in order; *out is the caller's to free() (NULL when
 * there are none). */
pt_status seqeval_entities(char **const tags, int64_t n, tag_entity **out, int64_t *count);

/* seqeval with the spans whose type is in `exclude` (a NULL-terminated
 * list; NULL for none) left out of every count. */
pt_status seqeval_excluding(char **const *gold, char **const *pred, const int64_t *lens,
                               int64_t n, const char *const *exclude, span_scores *out);

/* The tagging schemes of seqeval's strict mode. */
typedef enum { TAG_SCHEME_IOB2, TAG_SCHEME_IOBES, TAG_SCHEME_BILOU } tag_scheme;

/* "IOB2", "IOBES" or "BILOU" (any case); PT_ERR_ARG naming them otherwise. */
pt_status tag_scheme_from_name(const char *name, tag_scheme *out);
const char *tag_scheme_name(tag_scheme s);
/* Whether tag's prefix letter is one the scheme allows ("B-, I-, O" for
 * IOB2: tag_scheme_prefixes says which, for messages). */
bool tag_scheme_allows(tag_scheme s, const char *tag);
const char *tag_scheme_prefixes(tag_scheme s);
/* IOB2 tags in[0..n) (one sentence) rewritten into scheme s as new strings
 * in out[0..n) (the caller frees each): a B-X or I-X whose next tag is not
 * I-X becomes S-X or E-X (BILOU: U-X, L-X). Well-formed IOB2 maps to
 * well-formed IOBES/BILOU, and an entity strict IOB2 rejects (an I-X that
 * starts it) stays rejected, so strict scores are the same in all three.
 * Other tags are copied; IOB2 copies everything. */
pt_status tags_from_iob2(char *const *in, int64_t n, tag_scheme s, char **out);

/* Entity scores with seqeval's strict mode (mode="strict", scheme=s): per
 * sentence, an entity is a start pattern of the scheme followed by its
 * inside patterns and closed by an end pattern (seqeval.scheme.Tokens), so
 * IOB2 counts only B-X I-X..., IOBES only B-X I-X... E-X and S-X. A tag
 * whose prefix the scheme does not allow is PT_ERR_ARG naming it (seqeval
 * raises). Spans of the types in `exclude` (NULL-terminated, or NULL) are
 * left out. Same output as seqeval(). */
pt_status seqeval_strict(char **const *gold, char **const *pred, const int64_t *lens, int64_t n,
                         tag_scheme s, const char *const *exclude, span_scores *out);

/* SRL argument span F1: the spans of seqeval over BIO role tags, but the
 * predicate's own spans (V, and C-V for the second part of a split verb like
 * "screwed ... up") are left out of every count, as the CoNLL-2005
 * srl-eval.pl leaves V out of its overall score. Every other role label is
 * its own type: continuation (C-A1) and reference (R-A0) arguments are scored
 * as separate spans, as seqeval does (srl-eval.pl instead joins a C-X span to
 * its X into one discontinuous argument). */
pt_status srl_span_f1(char **const *gold, char **const *pred, const int64_t *lens, int64_t n,
                         span_scores *out);

typedef struct {
  double accuracy;
  double macro_f1;  /* sklearn f1_score(average="macro") over the classes that
                       occur in gold or pred */
  double mcc;       /* sklearn matthews_corrcoef (multiclass form); 0 when
                       undefined */
  int64_t n, correct;
} cls_scores;

/* gold and pred hold n class ids in [0, n_classes). */
pt_status cls_metrics(const int64_t *gold, const int64_t *pred, int64_t n, int64_t n_classes,
                         cls_scores *out);

#endif
