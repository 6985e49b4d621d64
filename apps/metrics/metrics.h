/* Task metrics: seqeval-compatible entity scores (ner), SRL argument span F1
 * (srl) and accuracy / macro-F1 / Matthews correlation (cls, mc).
 *
 * Tag sequences are given as arrays of C strings (map predicted ids back to
 * names with the label map first). Results are filled into caller-owned
 * structs; free a span_scores with span_scores_free. */
#ifndef APPS_METRICS_METRICS_H
#define APPS_METRICS_METRICS_H

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

/* seqeval with the spans whose type is in `exclude` (a NULL-terminated
 * list; NULL for none) left out of every count. */
pt_status seqeval_excluding(char **const *gold, char **const *pred, const int64_t *lens,
                               int64_t n, const char *const *exclude, span_scores *out);

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
