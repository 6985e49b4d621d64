/* Entity-level precision/recall/F1 with seqeval's semantics: the default
 * mode (seqeval.metrics.sequence_labeling: get_entities, end_of_chunk,
 * start_of_chunk) and the strict mode (seqeval.scheme.Tokens.entities over
 * the patterns of scheme.c), both counted as precision_recall_fscore_support
 * counts; SRL span F1 on top (span.c). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "apps/metrics/metrics.h"
#include "apps/metrics/scheme.h"

typedef struct {
  const char *type;   /* points into a tag string (or "_") */
  size_t type_len;
  int64_t begin, end; /* global offsets over all sentences, inclusive */
  int gold;           /* 1 gold, 0 predicted */
} span;

typedef struct {
  span *v;
  int64_t n, cap;
} span_list;

static int push(span_list *l, span s) {
  if (l->n == l->cap) {
    int64_t cap = l->cap ? 2 * l->cap : 256;
    span *v = realloc(l->v, (size_t)cap * sizeof *v);
    if (!v) return -1;
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n++] = s;
  return 0;
}

/* seqeval: type_ = chunk[1:].split('-', maxsplit=1)[-1] or '_' */
static const char *tag_type(const char *t) {
  const char *rest = t[0] ? t + 1 : t;
  const char *dash = strchr(rest, '-');
  const char *type = dash ? dash + 1 : rest;
  return type[0] ? type : "_";
}

static int end_of_chunk(char pt, char t, const char *ptype, const char *type) {
  if (pt == 'E' || pt == 'S') return 1;
  if ((pt == 'B' || pt == 'I') && (t == 'B' || t == 'S' || t == 'O')) return 1;
  return pt != 'O' && pt != '.' && strcmp(ptype, type) != 0;
}

static int start_of_chunk(char pt, char t, const char *ptype, const char *type) {
  if (t == 'B' || t == 'S') return 1;
  if ((pt == 'E' || pt == 'S' || pt == 'O') && (t == 'E' || t == 'I')) return 1;
  return t != 'O' && t != '.' && strcmp(ptype, type) != 0;
}

/* get_entities over seqs joined with an "O" after each (as seqeval flattens a
 * list of lists), appending the spans to l. */
static bool excluded(const char *type, size_t len, const char *const *exclude) {
  for (; exclude && *exclude; exclude++)
    if (strlen(*exclude) == len && memcmp(type, *exclude, len) == 0) return true;
  return false;
}

static pt_status get_entities(char **const *seqs, const int64_t *lens, int64_t n, int gold,
                              const char *const *exclude, span_list *l) {
  char pt = 'O';
  const char *ptype = "";
  int64_t begin = 0, pos = 0;
  for (int64_t i = 0; i < n; i++) {
    if (lens[i] < 0) return pt_error(PT_ERR_ARG, "seqeval: sentence %lld has a negative length", (long long)i);
    for (int64_t j = 0; j <= lens[i]; j++, pos++) {
      const char *tag = j < lens[i] ? seqs[i][j] : "O"; /* the separator */
      if (!tag || !tag[0])
        return pt_error(PT_ERR_ARG, "seqeval: %s sentence %lld has an empty tag at %lld",
                        gold ? "gold" : "predicted", (long long)i, (long long)j);
      char t = tag[0];
      const char *type = tag_type(tag);
      if (end_of_chunk(pt, t, ptype, type) && !excluded(ptype, strlen(ptype), exclude))
        if (push(l, (span){ptype, strlen(ptype), begin, pos - 1, gold}))
          return pt_error(PT_ERR_NOMEM, "seqeval: out of memory");
      if (start_of_chunk(pt, t, ptype, type)) begin = pos;
      pt = t;
      ptype = type;
    }
  }
  return PT_OK;
}

/* Tokens.entities of one sentence under scheme sc, appended to l with
 * offsets from `base`. */
static pt_status strict_sentence(char **const seq, int64_t len, int64_t base, int gold,
                                 const scheme_def *sc, const char *const *exclude, int64_t sent,
                                 span_list *l) {
  /* the sentence with an "O" after it, as Tokens.extended_tokens */
  for (int64_t j = 0; j < len; j++)
    if (!seq[j] || !seq[j][0] || !(scheme_prefix_bit(seq[j][0]) & sc->allowed))
      return pt_error(PT_ERR_ARG, "seqeval strict %s: %s tag '%s' (sentence %lld, word %lld) "
                      "is not one of the scheme's (%s)", sc->name, gold ? "gold" : "predicted",
                      seq[j] ? seq[j] : "", (long long)sent + 1, (long long)j + 1, sc->prefixes);
  scheme_tok prev, cur, t;
  scheme_token("O", &prev);
  int64_t i = 0;
  while (i <= len) {
    scheme_token(i < len ? seq[i] : "O", &cur);
    if (scheme_match(sc->start, sc->n_start, &prev, &cur)) {
      /* _forward: the first token after i that does not go on inside */
      int64_t end = i + 1;
      scheme_tok p = cur;
      for (; end <= len; end++) {
        scheme_token(end < len ? seq[end] : "O", &t);
        if (!scheme_match(sc->inside, sc->n_inside, &p, &t)) break;
        p = t;
      }
      if (end > len) end = len; /* not reached: the final "O" is never inside */
      scheme_tok before;
      scheme_token(end - 1 < len ? seq[end - 1] : "O", &before);
      scheme_token(end < len ? seq[end] : "O", &t);
      if (scheme_match(sc->end, sc->n_end, &before, &t) &&
          !excluded(cur.type, cur.type_len, exclude))
        if (push(l, (span){cur.type, cur.type_len, base + i, base + end - 1, gold}))
          return pt_error(PT_ERR_NOMEM, "seqeval: out of memory");
      i = end;
    } else {
      i++;
    }
    scheme_token(i - 1 < len ? seq[i - 1] : "O", &prev);
  }
  return PT_OK;
}

static int cmp_type(const span *x, const span *y) {
  size_t n = x->type_len < y->type_len ? x->type_len : y->type_len;
  int c = memcmp(x->type, y->type, n);
  if (c) return c;
  return (x->type_len > y->type_len) - (x->type_len < y->type_len);
}

static int cmp_span(const void *a, const void *b) {
  const span *x = a, *y = b;
  int c = cmp_type(x, y);
  if (c) return c;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return x->gold - y->gold;
}

static void finish(span_score *s) {
  s->precision = s->n_pred ? (double)s->tp / (double)s->n_pred : 0.0;
  s->recall = s->n_true ? (double)s->tp / (double)s->n_true : 0.0;
  double d = s->precision + s->recall;
  s->f1 = d > 0 ? 2.0 * s->precision * s->recall / d : 0.0;
}

void span_scores_free(span_scores *s) {
  for (int64_t i = 0; i < s->n_types; i++) free(s->types[i].type);
  free(s->types);
  memset(s, 0, sizeof *s);
}

/* The scores of the spans in l (sorted here) and the token accuracy. */
static pt_status count_spans(char **const *gold, char **const *pred, const int64_t *lens,
                             int64_t n, span_list *l, span_scores *out) {
  int64_t tokens = 0, equal = 0;
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < lens[i]; j++, tokens++) equal += strcmp(gold[i][j], pred[i][j]) == 0;
  out->token_accuracy = tokens ? (double)equal / (double)tokens : 0.0;
  if (l->n > 1) qsort(l->v, (size_t)l->n, sizeof *l->v, cmp_span);
  int64_t n_types = 0;
  for (int64_t i = 0; i < l->n; i++)
    if (i == 0 || cmp_type(&l->v[i], &l->v[i - 1]) != 0) n_types++;
  out->types = calloc((size_t)(n_types ? n_types : 1), sizeof *out->types);
  if (!out->types) return pt_error(PT_ERR_NOMEM, "seqeval: out of memory");
  int64_t k = -1;
  for (int64_t i = 0; i < l->n; i++) {
    const span *s = &l->v[i];
    if (i == 0 || cmp_type(s, &l->v[i - 1]) != 0) {
      k++;
      out->types[k].type = strndup(s->type, s->type_len);
      out->n_types = k + 1;
      if (!out->types[k].type) {
        span_scores_free(out);
        return pt_error(PT_ERR_NOMEM, "seqeval: out of memory");
      }
    }
    span_score *ts = &out->types[k];
    /* sorted so a predicted span directly precedes the same gold span */
    if (s->gold) {
      ts->n_true++;
      const span *p = i > 0 ? &l->v[i - 1] : NULL;
      if (p && !p->gold && p->begin == s->begin && p->end == s->end && cmp_type(p, s) == 0)
        ts->tp++;
    } else {
      ts->n_pred++;
    }
  }
  double wsum = 0;
  for (int64_t t = 0; t < out->n_types; t++) {
    span_score *ts = &out->types[t];
    finish(ts);
    out->micro.tp += ts->tp;
    out->micro.n_pred += ts->n_pred;
    out->micro.n_true += ts->n_true;
    out->macro_precision += ts->precision / (double)out->n_types;
    out->macro_recall += ts->recall / (double)out->n_types;
    out->macro_f1 += ts->f1 / (double)out->n_types;
    out->weighted_precision += ts->precision * (double)ts->n_true;
    out->weighted_recall += ts->recall * (double)ts->n_true;
    out->weighted_f1 += ts->f1 * (double)ts->n_true;
    wsum += (double)ts->n_true;
  }
  if (wsum > 0) {
    out->weighted_precision /= wsum;
    out->weighted_recall /= wsum;
    out->weighted_f1 /= wsum;
  }
  finish(&out->micro);
  return PT_OK;
}

pt_status seqeval_excluding(char **const *gold, char **const *pred, const int64_t *lens,
                               int64_t n, const char *const *exclude, span_scores *out) {
  memset(out, 0, sizeof *out);
  span_list l = {0};
  pt_status st = get_entities(gold, lens, n, 1, exclude, &l);
  if (st == PT_OK) st = get_entities(pred, lens, n, 0, exclude, &l);
  if (st == PT_OK) st = count_spans(gold, pred, lens, n, &l, out);
  free(l.v);
  return st;
}

pt_status seqeval_strict(char **const *gold, char **const *pred, const int64_t *lens, int64_t n,
                         tag_scheme s, const char *const *exclude, span_scores *out) {
  memset(out, 0, sizeof *out);
  const scheme_def *sc = scheme_get(s);
  span_list l = {0};
  pt_status st = PT_OK;
  int64_t base = 0;
  for (int64_t i = 0; st == PT_OK && i < n; i++) {
    if (lens[i] < 0)
      st = pt_error(PT_ERR_ARG, "seqeval: sentence %lld has a negative length", (long long)i);
    if (st == PT_OK) st = strict_sentence(gold[i], lens[i], base, 1, sc, exclude, i, &l);
    if (st == PT_OK) st = strict_sentence(pred[i], lens[i], base, 0, sc, exclude, i, &l);
    base += lens[i] + 1;
  }
  if (st == PT_OK) st = count_spans(gold, pred, lens, n, &l, out);
  free(l.v);
  return st;
}

pt_status seqeval(char **const *gold, char **const *pred, const int64_t *lens, int64_t n,
                     span_scores *out) {
  return seqeval_excluding(gold, pred, lens, n, NULL, out);
}

pt_status seqeval_entities(char **const tags, int64_t n, tag_entity **out, int64_t *count) {
  *out = NULL;
  *count = 0;
  span_list l = {0};
  pt_status st = get_entities(&tags, &n, 1, 1, NULL, &l);
  tag_entity *e = st == PT_OK ? malloc(sizeof *e * (size_t)(l.n ? l.n : 1)) : NULL;
  if (st == PT_OK && !e) st = pt_error(PT_ERR_NOMEM, "seqeval: out of memory");
  for (int64_t i = 0; e && i < l.n; i++) e[i] = (tag_entity){l.v[i].type, l.v[i].begin, l.v[i].end};
  free(l.v);
  if (st != PT_OK) return st;
  *out = e;
  *count = l.n;
  return PT_OK;
}
