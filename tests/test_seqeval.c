/* apps/metrics/seqeval.c, scheme.c and span.c: entity scores with
 * seqeval's default-mode semantics (hand-computed from seqeval 1.2.2's
 * get_entities rules and its README example), its strict mode per scheme
 * (hand-computed from seqeval.scheme's patterns and its README's strict
 * example), the IOB2 rewrite into IOBES/BILOU, and SRL span F1 without V. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/metrics/metrics.h"

#define TOL 1e-12

/* Splits space-separated tag strings into the form seqeval takes. */
typedef struct {
  char buf[8][256];
  char *tags[8][32];
  char **seqs[8];
  int64_t lens[8];
  int64_t n;
} seqs;

static void make(seqs *s, const char *const *lines, int64_t n) {
  memset(s, 0, sizeof *s);
  s->n = n;
  for (int64_t i = 0; i < n; i++) {
    snprintf(s->buf[i], sizeof s->buf[i], "%s", lines[i]);
    char *save = NULL;
    for (char *t = strtok_r(s->buf[i], " ", &save); t; t = strtok_r(NULL, " ", &save))
      s->tags[i][s->lens[i]++] = t;
    s->seqs[i] = s->tags[i];
  }
}

static void score(const char *const *gold, const char *const *pred, int64_t n, span_scores *out) {
  static seqs g, p;
  make(&g, gold, n);
  make(&p, pred, n);
  for (int64_t i = 0; i < n; i++) ck_assert_int_eq(g.lens[i], p.lens[i]);
  ck_assert_int_eq(seqeval(g.seqs, p.seqs, g.lens, n, out), PT_OK);
}

static void score_strict(const char *const *gold, const char *const *pred, int64_t n,
                         tag_scheme sc, span_scores *out) {
  static seqs g, p;
  make(&g, gold, n);
  make(&p, pred, n);
  for (int64_t i = 0; i < n; i++) ck_assert_int_eq(g.lens[i], p.lens[i]);
  ck_assert_msg(seqeval_strict(g.seqs, p.seqs, g.lens, n, sc, NULL, out) == PT_OK, "%s",
                pt_error_message());
}

static const span_score *type(const span_scores *s, const char *name) {
  for (int64_t i = 0; i < s->n_types; i++)
    if (strcmp(s->types[i].type, name) == 0) return &s->types[i];
  ck_abort_msg("type %s not scored", name);
  return NULL;
}

START_TEST(readme_example) {
  /* seqeval README: y_true / y_pred -> f1 0.5, precision 0.5, recall 0.5;
   * classification_report: MISC 0.00 0.00 0.00 support 1, PER 1.00 1.00 1.00 support 1 */
  const char *gold[] = {"O O O B-MISC I-MISC I-MISC O", "B-PER I-PER O"};
  const char *pred[] = {"O O B-MISC I-MISC I-MISC I-MISC O", "B-PER I-PER O"};
  span_scores s;
  score(gold, pred, 2, &s);
  ck_assert_double_eq_tol(s.micro.precision, 0.5, TOL);
  ck_assert_double_eq_tol(s.micro.recall, 0.5, TOL);
  ck_assert_double_eq_tol(s.micro.f1, 0.5, TOL);
  ck_assert_int_eq(s.micro.tp, 1);
  ck_assert_int_eq(s.n_types, 2);
  ck_assert_str_eq(s.types[0].type, "MISC"); /* sorted by name */
  ck_assert_str_eq(s.types[1].type, "PER");
  ck_assert_double_eq_tol(s.types[0].f1, 0.0, TOL);
  ck_assert_int_eq(s.types[0].n_true, 1);
  ck_assert_double_eq_tol(s.types[1].precision, 1.0, TOL);
  ck_assert_int_eq(s.types[1].n_true, 1);
  ck_assert_double_eq_tol(s.macro_f1, 0.5, TOL);
  ck_assert_double_eq_tol(s.weighted_f1, 0.5, TOL);
  ck_assert_double_eq_tol(s.token_accuracy, 0.8, TOL); /* README: accuracy_score 0.80 */
  span_scores_free(&s);
}
END_TEST

START_TEST(i_after_o_starts_an_entity) {
  /* gold "I-PER I-PER" is one PER span [0,1], the same as "B-PER I-PER" */
  const char *gold[] = {"I-PER I-PER O"};
  const char *pred[] = {"B-PER I-PER O"};
  span_scores s;
  score(gold, pred, 1, &s);
  ck_assert_double_eq_tol(s.micro.f1, 1.0, TOL);
  span_scores_free(&s);
  /* gold PER [1,2] (I after O), pred PER [0,1]: no match */
  const char *gold2[] = {"O I-PER I-PER"};
  const char *pred2[] = {"B-PER I-PER O"};
  score(gold2, pred2, 1, &s);
  ck_assert_int_eq(s.micro.tp, 0);
  ck_assert_int_eq(s.micro.n_pred, 1);
  ck_assert_int_eq(s.micro.n_true, 1);
  ck_assert_double_eq_tol(s.micro.f1, 0.0, TOL);
  span_scores_free(&s);
}
END_TEST

START_TEST(type_change_ends_an_entity) {
  /* gold: PER [0,0], ORG [1,2]; pred "B-PER I-PER I-ORG": PER [0,1], ORG [2,2] */
  const char *gold[] = {"B-PER I-ORG I-ORG"};
  const char *pred[] = {"B-PER I-PER I-ORG"};
  span_scores s;
  score(gold, pred, 1, &s);
  ck_assert_int_eq(s.micro.n_true, 2);
  ck_assert_int_eq(s.micro.n_pred, 2);
  ck_assert_int_eq(s.micro.tp, 0);
  span_scores_free(&s);
  /* B-X then B-X: two entities; B-PER I-PER across sentences: two entities */
  const char *g3[] = {"B-LOC B-LOC", "B-PER", "I-PER"};
  const char *p3[] = {"B-LOC I-LOC", "B-PER", "I-PER"};
  score(g3, p3, 3, &s);
  ck_assert_int_eq(type(&s, "LOC")->n_true, 2);
  ck_assert_int_eq(type(&s, "LOC")->n_pred, 1);
  ck_assert_int_eq(type(&s, "LOC")->tp, 0);
  ck_assert_int_eq(type(&s, "PER")->n_true, 2); /* the "O" between sentences splits */
  ck_assert_int_eq(type(&s, "PER")->tp, 2);
  /* micro: tp 2, pred 3, true 4 -> p 2/3, r 1/2, f 4/7 */
  ck_assert_double_eq_tol(s.micro.precision, 2.0 / 3.0, TOL);
  ck_assert_double_eq_tol(s.micro.recall, 0.5, TOL);
  ck_assert_double_eq_tol(s.micro.f1, 4.0 / 7.0, TOL);
  span_scores_free(&s);
}
END_TEST

START_TEST(bioes_tags) {
  /* B-PER E-PER | S-LOC | O | S-PER | S-PER -> PER[0,1] LOC[2,2] PER[4,4] PER[5,5] */
  const char *gold[] = {"B-PER E-PER S-LOC O S-PER S-PER"};
  const char *pred[] = {"B-PER I-PER B-LOC O B-PER I-PER"};
  /* pred: PER[0,1] LOC[2,2] PER[4,5] */
  span_scores s;
  score(gold, pred, 1, &s);
  ck_assert_int_eq(type(&s, "PER")->n_true, 3);
  ck_assert_int_eq(type(&s, "PER")->n_pred, 2);
  ck_assert_int_eq(type(&s, "PER")->tp, 1);
  ck_assert_int_eq(type(&s, "LOC")->tp, 1);
  /* per type: LOC p=r=f=1; PER p 1/2, r 1/3, f 2*(1/6)/(5/6) = 0.4 */
  ck_assert_double_eq_tol(type(&s, "PER")->f1, 0.4, TOL);
  ck_assert_double_eq_tol(s.macro_f1, 0.7, TOL);
  /* weighted by support: (1*1 + 0.4*3) / 4 = 0.55 */
  ck_assert_double_eq_tol(s.weighted_f1, 0.55, TOL);
  /* micro: tp 2, pred 3, true 4 */
  ck_assert_double_eq_tol(s.micro.f1, 4.0 / 7.0, TOL);
  span_scores_free(&s);
}
END_TEST

START_TEST(types_only_predicted_and_empty_input) {
  const char *gold[] = {"B-PER O"};
  const char *pred[] = {"B-PER B-ORG"};
  span_scores s;
  score(gold, pred, 1, &s);
  ck_assert_int_eq(s.n_types, 2);
  ck_assert_str_eq(s.types[0].type, "ORG");
  ck_assert_int_eq(s.types[0].n_true, 0); /* support 0 */
  ck_assert_double_eq_tol(s.types[0].recall, 0.0, TOL);
  ck_assert_double_eq_tol(s.micro.precision, 0.5, TOL);
  ck_assert_double_eq_tol(s.micro.recall, 1.0, TOL);
  span_scores_free(&s);
  /* all O: no entities, every score 0 (seqeval's zero_division) */
  const char *o[] = {"O O"};
  score(o, o, 1, &s);
  ck_assert_int_eq(s.n_types, 0);
  ck_assert_double_eq_tol(s.micro.f1, 0.0, TOL);
  span_scores_free(&s);
  ck_assert_int_eq(seqeval(NULL, NULL, NULL, 0, &s), PT_OK);
  ck_assert_int_eq(s.micro.n_true, 0);
  span_scores_free(&s);
  /* an empty tag string is an error, not a crash */
  char e[] = "", b[] = "B-X";
  char *g1[] = {b}, *p1[] = {e};
  char **gs[] = {g1}, **ps[] = {p1};
  int64_t len = 1;
  ck_assert_int_eq(seqeval(gs, ps, &len, 1, &s), PT_ERR_ARG);
  ck_assert_str_eq(pt_error_message(), "seqeval: predicted sentence 0 has an empty tag at 0");
}
END_TEST

START_TEST(srl_span_f1_leaves_out_v) {
  /* gold A0[0,1] V[2] A1[3,4]; pred A0[0,1] V[2] A1[3,3]: without V tp 1 of
   * 2 / 2 -> 0.5; seqeval with V counts tp 2 of 3 / 3 */
  const char *gold[] = {"B-A0 I-A0 B-V B-A1 I-A1", "B-V B-C-A1 O B-C-V"};
  const char *pred[] = {"B-A0 I-A0 B-V B-A1 O", "B-V B-C-A1 O O"};
  static seqs g, p;
  make(&g, gold, 2);
  make(&p, pred, 2);
  span_scores s;
  ck_assert_int_eq(srl_span_f1(g.seqs, p.seqs, g.lens, 2, &s), PT_OK);
  /* A0 1/1, A1 0/1, C-A1 1/1 (its own type) -> tp 2, pred 3, true 3 */
  ck_assert_int_eq(s.micro.tp, 2);
  ck_assert_int_eq(s.micro.n_true, 3);
  ck_assert_double_eq_tol(s.micro.f1, 2.0 / 3.0, TOL);
  ck_assert_int_eq(s.n_types, 3);
  ck_assert_str_eq(s.types[0].type, "A0");
  ck_assert_str_eq(s.types[2].type, "C-A1");
  span_scores_free(&s);
  ck_assert_int_eq(seqeval(g.seqs, p.seqs, g.lens, 2, &s), PT_OK);
  /* + the two V spans (both found) and the C-V span (missed): tp 4, pred 5,
   * true 6 -> f1 8/11 */
  ck_assert_int_eq(s.micro.tp, 4);
  ck_assert_int_eq(s.micro.n_true, 6);
  ck_assert_double_eq_tol(s.micro.f1, 8.0 / 11.0, TOL);
  span_scores_free(&s);
}
END_TEST

START_TEST(strict_readme_example) {
  /* seqeval README: true [B-NP I-NP O], pred [I-NP I-NP O]: NP f1 1.00 by
   * default, 0.00 with mode='strict', scheme=IOB2 */
  const char *gold[] = {"B-NP I-NP O"};
  const char *pred[] = {"I-NP I-NP O"};
  span_scores s;
  score(gold, pred, 1, &s);
  ck_assert_double_eq_tol(s.micro.f1, 1.0, TOL);
  span_scores_free(&s);
  score_strict(gold, pred, 1, TAG_SCHEME_IOB2, &s);
  ck_assert_int_eq(s.micro.n_true, 1);
  ck_assert_int_eq(s.micro.n_pred, 0);
  ck_assert_double_eq_tol(s.micro.f1, 0.0, TOL);
  ck_assert_int_eq(s.n_types, 1);
  ck_assert_str_eq(s.types[0].type, "NP");
  ck_assert_double_eq_tol(s.token_accuracy, 2.0 / 3.0, TOL);
  span_scores_free(&s);
}
END_TEST

START_TEST(strict_iob2) {
  /* gold: PER[0,1] LOC[3] | ORG[0] ORG[1]; pred: "B-PER I-LOC" is PER[0] alone
   * (B then I of another type ends it; the I-LOC starts nothing), B-LOC I-LOC
   * at 3-4 is LOC[3,4]; "B-ORG B-ORG" two ORGs, as gold. Default mode would
   * also count LOC[1] (I after another type starts one). */
  const char *gold[] = {"B-PER I-PER O B-LOC O", "B-ORG B-ORG"};
  const char *pred[] = {"B-PER I-LOC O B-LOC I-LOC", "B-ORG B-ORG"};
  span_scores s;
  score_strict(gold, pred, 2, TAG_SCHEME_IOB2, &s);
  ck_assert_int_eq(type(&s, "PER")->n_pred, 1);
  ck_assert_int_eq(type(&s, "PER")->tp, 0);
  ck_assert_int_eq(type(&s, "LOC")->n_pred, 1);
  ck_assert_int_eq(type(&s, "LOC")->tp, 0);
  ck_assert_int_eq(type(&s, "ORG")->tp, 2);
  ck_assert_int_eq(s.micro.n_true, 4);
  ck_assert_int_eq(s.micro.n_pred, 4);
  span_scores_free(&s);
  score(gold, pred, 2, &s);
  ck_assert_int_eq(type(&s, "LOC")->n_pred, 2);
  span_scores_free(&s);
}
END_TEST

START_TEST(strict_iobes_and_bilou) {
  /* IOBES: B-X I-X E-X and S-X are entities; B-X I-X without E and an E-X
   * after O are not; B-X E-X E-X is [B, E] and the second E starts nothing */
  const char *gold[] = {"B-PER I-PER E-PER S-LOC O B-ORG E-ORG O"};
  const char *pred[] = {"B-PER I-PER I-PER S-LOC O B-ORG E-ORG E-ORG"};
  span_scores s;
  score_strict(gold, pred, 1, TAG_SCHEME_IOBES, &s);
  ck_assert_int_eq(type(&s, "PER")->n_true, 1);
  ck_assert_int_eq(type(&s, "PER")->n_pred, 0);
  ck_assert_int_eq(type(&s, "LOC")->tp, 1);
  ck_assert_int_eq(type(&s, "ORG")->n_pred, 1);
  ck_assert_int_eq(type(&s, "ORG")->tp, 1);
  span_scores_free(&s);
  const char *go[] = {"O E-PER O B-LOC"};
  const char *po[] = {"O E-PER O S-LOC"};
  score_strict(go, po, 1, TAG_SCHEME_IOBES, &s);
  ck_assert_int_eq(s.micro.n_true, 0); /* E after O; B at the end without E */
  ck_assert_int_eq(s.micro.n_pred, 1);
  span_scores_free(&s);
  /* BILOU: U-X and B-X (I-X) L-X */
  const char *gb[] = {"U-PER B-LOC I-LOC L-LOC B-ORG I-ORG"};
  const char *pb[] = {"U-PER B-LOC L-LOC U-LOC B-ORG L-ORG"};
  score_strict(gb, pb, 1, TAG_SCHEME_BILOU, &s);
  ck_assert_int_eq(type(&s, "PER")->tp, 1);
  ck_assert_int_eq(type(&s, "LOC")->n_true, 1);
  ck_assert_int_eq(type(&s, "LOC")->n_pred, 2);
  ck_assert_int_eq(type(&s, "LOC")->tp, 0);
  ck_assert_int_eq(type(&s, "ORG")->n_true, 0); /* no L: not an entity */
  ck_assert_int_eq(type(&s, "ORG")->n_pred, 1);
  span_scores_free(&s);
}
END_TEST

START_TEST(strict_rejects_tags_outside_the_scheme) {
  const char *gold[] = {"B-PER O", "O S-LOC"};
  const char *pred[] = {"B-PER O", "O B-LOC"};
  static seqs g, p;
  make(&g, gold, 2);
  make(&p, pred, 2);
  span_scores s;
  ck_assert_int_eq(seqeval_strict(g.seqs, p.seqs, g.lens, 2, TAG_SCHEME_IOB2, NULL, &s),
                   PT_ERR_ARG);
  ck_assert_str_eq(pt_error_message(), "seqeval strict IOB2: gold tag 'S-LOC' (sentence 2, word "
                                       "2) is not one of the scheme's (B-, I-, O)");
  ck_assert_int_eq(seqeval_strict(p.seqs, g.seqs, g.lens, 2, TAG_SCHEME_BILOU, NULL, &s),
                   PT_ERR_ARG);
  ck_assert_str_eq(pt_error_message(), "seqeval strict BILOU: predicted tag 'S-LOC' (sentence 2, "
                                       "word 2) is not one of the scheme's (B-, I-, L-, U-, O)");
  tag_scheme sc;
  ck_assert_int_eq(tag_scheme_from_name("iobes", &sc), PT_OK);
  ck_assert_int_eq(sc, TAG_SCHEME_IOBES);
  ck_assert_int_eq(tag_scheme_from_name("IOB1", &sc), PT_ERR_ARG);
  ck_assert_str_eq(pt_error_message(), "unknown tagging scheme 'IOB1' (IOB2, IOBES or BILOU)");
  ck_assert(tag_scheme_allows(TAG_SCHEME_BILOU, "U-X"));
  ck_assert(!tag_scheme_allows(TAG_SCHEME_IOB2, "U-X"));
}
END_TEST

/* A random IOB2-alphabet sentence (ill-formed ones included) of n tags. */
static void random_iob(unsigned *seed, int n, char tags[][8], char **out) {
  static const char *const pool[] = {"O", "O", "B-A", "I-A", "B-B", "I-B"};
  for (int j = 0; j < n; j++) {
    snprintf(tags[j], 8, "%s", pool[rand_r(seed) % 6]);
    out[j] = tags[j];
  }
}

START_TEST(iob2_rewrite_keeps_strict_scores) {
  /* the rewrite by hand */
  char t0[] = "B-X", t1[] = "I-X", t2[] = "B-Y", t3[] = "O", t4[] = "I-Z", t5[] = "I-Z";
  char *in[] = {t0, t1, t2, t3, t4, t5};
  char *out[6];
  ck_assert_int_eq(tags_from_iob2(in, 6, TAG_SCHEME_IOBES, out), PT_OK);
  const char *want[] = {"B-X", "E-X", "S-Y", "O", "I-Z", "E-Z"};
  for (int j = 0; j < 6; j++) {
    ck_assert_str_eq(out[j], want[j]);
    free(out[j]);
  }
  ck_assert_int_eq(tags_from_iob2(in, 6, TAG_SCHEME_BILOU, out), PT_OK);
  const char *want_b[] = {"B-X", "L-X", "U-Y", "O", "I-Z", "L-Z"};
  for (int j = 0; j < 6; j++) {
    ck_assert_str_eq(out[j], want_b[j]);
    free(out[j]);
  }
  /* 500 random sentence pairs: strict IOB2 on the IOB2 tags scores exactly
   * as strict IOBES and BILOU on their rewrites */
  unsigned seed = 17;
  for (int trial = 0; trial < 500; trial++) {
    enum { N = 9 };
    char gt[N][8], pt[N][8];
    char *g[N], *p[N], *gr[N], *pr[N];
    int n = 1 + rand_r(&seed) % N;
    random_iob(&seed, n, gt, g);
    random_iob(&seed, n, pt, p);
    char **gs[] = {g}, **ps[] = {p}, **grs[] = {gr}, **prs[] = {pr};
    int64_t len = n;
    span_scores ref, other;
    ck_assert_int_eq(seqeval_strict(gs, ps, &len, 1, TAG_SCHEME_IOB2, NULL, &ref), PT_OK);
    for (tag_scheme sc = TAG_SCHEME_IOBES; sc <= TAG_SCHEME_BILOU; sc++) {
      ck_assert_int_eq(tags_from_iob2(g, n, sc, gr), PT_OK);
      ck_assert_int_eq(tags_from_iob2(p, n, sc, pr), PT_OK);
      ck_assert_int_eq(seqeval_strict(grs, prs, &len, 1, sc, NULL, &other), PT_OK);
      ck_assert_int_eq(other.n_types, ref.n_types);
      for (int64_t t = 0; t < ref.n_types; t++) {
        ck_assert_str_eq(other.types[t].type, ref.types[t].type);
        ck_assert_int_eq(other.types[t].tp, ref.types[t].tp);
        ck_assert_int_eq(other.types[t].n_pred, ref.types[t].n_pred);
        ck_assert_int_eq(other.types[t].n_true, ref.types[t].n_true);
      }
      span_scores_free(&other);
      for (int j = 0; j < n; j++) free(gr[j]), free(pr[j]);
    }
    span_scores_free(&ref);
  }
}
END_TEST

/* Strict entities described directly rather than by seqeval's patterns: a
 * B-X followed by I-X... (IOBES/BILOU: and closed by one E-X/L-X), or an
 * S-X/U-X alone; anything else starts nothing. The spans of one sentence
 * into spans[] as (first, last, type letter); returns how many. */
static int direct_spans(char **t, int n, tag_scheme sc, int spans[][3]) {
  char close = sc == TAG_SCHEME_IOBES ? 'E' : sc == TAG_SCHEME_BILOU ? 'L' : 0;
  char single = sc == TAG_SCHEME_IOBES ? 'S' : sc == TAG_SCHEME_BILOU ? 'U' : 0;
  int k = 0;
  for (int i = 0; i < n;) {
    if (single && t[i][0] == single) {
      spans[k][0] = i, spans[k][1] = i, spans[k++][2] = t[i][2];
      i++;
    } else if (t[i][0] == 'B') {
      int j = i + 1;
      bool closed = !close;
      while (j < n && strcmp(t[j] + 1, t[i] + 1) == 0 && (t[j][0] == 'I' || t[j][0] == close)) {
        j++;
        if (t[j - 1][0] == close) {
          closed = true;
          break;
        }
      }
      if (closed) spans[k][0] = i, spans[k][1] = j - 1, spans[k++][2] = t[i][2];
      i = j;
    } else {
      i++;
    }
  }
  return k;
}

START_TEST(strict_matches_a_direct_description) {
  /* 3000 random sentences over each scheme's whole alphabet, ill-formed
   * ones included: seqeval_strict's predicted spans are the direct ones */
  static const char *const pools[3][9] = {
      {"O", "B-A", "I-A", "B-B", "I-B"},
      {"O", "B-A", "I-A", "E-A", "S-A", "B-B", "I-B", "E-B", "S-B"},
      {"O", "B-A", "I-A", "L-A", "U-A", "B-B", "I-B", "L-B", "U-B"}};
  static const int sizes[3] = {5, 9, 9};
  unsigned seed = 5;
  for (int trial = 0; trial < 3000; trial++) {
    tag_scheme sc = (tag_scheme)(trial % 3);
    enum { N = 10 };
    char buf[N][8], *t[N], o[] = "O", *oo[N];
    int n = 1 + rand_r(&seed) % N;
    for (int j = 0; j < n; j++) {
      snprintf(buf[j], 8, "%s", pools[sc][rand_r(&seed) % sizes[sc]]);
      t[j] = buf[j];
      oo[j] = o;
    }
    char **gs[] = {oo}, **ps[] = {t};
    int64_t len = n;
    span_scores s;
    ck_assert_int_eq(seqeval_strict(gs, ps, &len, 1, sc, NULL, &s), PT_OK);
    int spans[N][3];
    int k = direct_spans(t, n, sc, spans), a = 0, b = 0;
    for (int i = 0; i < k; i++) *(spans[i][2] == 'A' ? &a : &b) += 1;
    int64_t got_a = 0, got_b = 0;
    for (int64_t i = 0; i < s.n_types; i++) {
      if (!strcmp(s.types[i].type, "A")) got_a = s.types[i].n_pred;
      if (!strcmp(s.types[i].type, "B")) got_b = s.types[i].n_pred;
    }
    ck_assert_msg(got_a == a && got_b == b, "trial %d (%s): %lld/%lld spans, directly %d/%d",
                  trial, tag_scheme_name(sc), (long long)got_a, (long long)got_b, a, b);
    span_scores_free(&s);
    /* and each span is found where it is: score the prediction as gold */
    ck_assert_int_eq(seqeval_strict(ps, ps, &len, 1, sc, NULL, &s), PT_OK);
    ck_assert_int_eq(s.micro.tp, k);
    span_scores_free(&s);
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("seqeval");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, readme_example);
  tcase_add_test(tc, i_after_o_starts_an_entity);
  tcase_add_test(tc, type_change_ends_an_entity);
  tcase_add_test(tc, bioes_tags);
  tcase_add_test(tc, types_only_predicted_and_empty_input);
  tcase_add_test(tc, srl_span_f1_leaves_out_v);
  tcase_add_test(tc, strict_readme_example);
  tcase_add_test(tc, strict_iob2);
  tcase_add_test(tc, strict_iobes_and_bilou);
  tcase_add_test(tc, strict_rejects_tags_outside_the_scheme);
  tcase_add_test(tc, iob2_rewrite_keeps_strict_scores);
  tcase_add_test(tc, strict_matches_a_direct_description);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
