/* The official SQuAD evaluators (evaluate-v1.1.py, evaluate-v2.0.py):
 * answer normalization, exact match, token F1 and the v2 HasAns/NoAns and
 * best-threshold summaries, with Python's Unicode rules (str.lower, \w of
 * the article regex, str.split white space) reproduced through utf8proc. */
#define _GNU_SOURCE /* qsort_r */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "apps/tasks/qa/squad.h"

/* ---- normalize_answer ----------------------------------------------------- */

/* Python's str.isspace: bidirectional class WS, B or S, or category Zs. */
static bool py_space(int32_t c) {
  if (c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F)) return true;
  if (c < 0x85) return false;
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
         c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* The \w of Python's re on str: str.isalnum() (letters and numbers) or '_'. */
static bool py_word(int32_t c) {
  if (c < 0x80)
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_';
  switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO: return true;
    default: return false;
  }
}

/* string.punctuation */
static bool py_punct(int32_t c) {
  return c < 0x80 && c > ' ' && c != 0x7F && !(c >= 'a' && c <= 'z') &&
         !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9');
}

/* Unicode "cased" and "case-ignorable", as Python's Final_Sigma rule uses
 * them (approximated by general category). */
static bool cased(int32_t c) {
  utf8proc_category_t k = utf8proc_category(c);
  return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT;
}
static bool case_ignorable(int32_t c) {
  if (c == '\'' || c == '.' || c == ':' || c == '^' || c == '`' || c == 0xB7 || c == 0x2019)
    return true;
  utf8proc_category_t k = utf8proc_category(c);
  return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_ME || k == UTF8PROC_CATEGORY_CF ||
         k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_SK;
}

/* Decodes UTF-8 into code points (invalid bytes become U+FFFD). *n set. */
static int32_t *decode(const char *s, int64_t *n) {
  size_t len = strlen(s);
  int32_t *cp = malloc((len + 1) * sizeof *cp);
  if (!cp) return NULL;
  int64_t k = 0;
  for (size_t i = 0; i < len;) {
    utf8proc_int32_t c;
    utf8proc_ssize_t m =
        utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);
    if (m <= 0) c = 0xFFFD, m = 1;
    cp[k++] = c;
    i += (size_t)m;
  }
  *n = k;
  return cp;
}

/* str.lower over cp[0..n) into out (room for 2n: U+0130 becomes two). */
static int64_t py_lower(const int32_t *cp, int64_t n, int32_t *out) {
  int64_t k = 0;
  for (int64_t i = 0; i < n; i++) {
    int32_t c = cp[i];
    if (c == 0x130) { /* LATIN CAPITAL I WITH DOT ABOVE -> i + combining dot */
      out[k++] = 'i';
      out[k++] = 0x307;
    } else if (c == 0x3A3) { /* Final_Sigma: after a cased letter, not before one */
      int64_t j = i - 1;
      while (j >= 0 && case_ignorable(cp[j])) j--;
      bool before = j >= 0 && cased(cp[j]);
      j = i + 1;
      while (j < n && case_ignorable(cp[j])) j++;
      bool after = j < n && cased(cp[j]);
      out[k++] = before && !after ? 0x3C2 : 0x3C3;
    } else {
      out[k++] = c < 0x80 ? (c >= 'A' && c <= 'Z' ? c + 32 : c) : utf8proc_tolower(c);
    }
  }
  return k;
}

char *squad_normalize(const char *s) {
  int64_t n = 0;
  int32_t *cp = decode(s, &n);
  int32_t *low = malloc((size_t)(2 * n + 1) * sizeof *low);
  char *out = malloc((size_t)(8 * n + 1));
  if (!cp || !low || !out) {
    free(cp), free(low), free(out);
    pt_error(PT_ERR_NOMEM, "squad: out of memory");
    return NULL;
  }
  n = py_lower(cp, n, low);
  /* remove_punc */
  int64_t m = 0;
  for (int64_t i = 0; i < n; i++)
    if (!py_punct(low[i])) low[m++] = low[i];
  n = m;
  /* remove_articles: a maximal run of word characters equal to a, an or the
   * is exactly what \b(a|an|the)\b matches; it becomes one space. */
  m = 0;
  for (int64_t i = 0; i < n;) {
    if (!py_word(low[i])) {
      low[m++] = low[i++];
      continue;
    }
    int64_t j = i;
    while (j < n && py_word(low[j])) j++;
    int64_t w = j - i;
    bool art = (w == 1 && low[i] == 'a') || (w == 2 && low[i] == 'a' && low[i + 1] == 'n') ||
               (w == 3 && low[i] == 't' && low[i + 1] == 'h' && low[i + 2] == 'e');
    if (art)
      low[m++] = ' ';
    else
      for (int64_t t = i; t < j; t++) low[m++] = low[t];
    i = j;
  }
  n = m;
  /* white_space_fix: ' '.join(text.split()), encoded back to UTF-8 */
  size_t b = 0;
  bool pending = false;
  for (int64_t i = 0; i < n; i++) {
    if (py_space(low[i])) {
      pending = b > 0;
      continue;
    }
    if (pending) out[b++] = ' ', pending = false;
    b += (size_t)utf8proc_encode_char(low[i], (utf8proc_uint8_t *)out + b);
  }
  out[b] = '\0';
  free(cp);
  free(low);
  return out;
}

double squad_exact(const char *gold, const char *pred) {
  char *g = squad_normalize(gold), *p = squad_normalize(pred);
  double r = g && p && strcmp(g, p) == 0 ? 1.0 : 0.0;
  free(g);
  free(p);
  return r;
}

/* Splits a normalized string (single spaces, no leading/trailing) in place. */
static int64_t split_tokens(char *s, char ***toks) {
  int64_t n = 0;
  for (char *c = s; *c; c++)
    if (*c == ' ') n++;
  n = *s ? n + 1 : 0;
  *toks = malloc((size_t)(n ? n : 1) * sizeof **toks);
  if (!*toks) return -1;
  int64_t k = 0;
  char *c = s;
  while (k < n) {
    (*toks)[k++] = c;
    char *sp = strchr(c, ' ');
    if (!sp) break;
    *sp = '\0';
    c = sp + 1;
  }
  return n;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

double squad_f1(const char *gold, const char *pred, bool v2) {
  char *g = squad_normalize(gold), *p = squad_normalize(pred);
  char **gt = NULL, **pt = NULL;
  double r = -1;
  int64_t ng = g ? split_tokens(g, &gt) : -1, np = p ? split_tokens(p, &pt) : -1;
  if (ng < 0 || np < 0) goto done;
  /* sum((Counter(gold) & Counter(pred)).values()): merge the sorted lists */
  qsort(gt, (size_t)ng, sizeof *gt, cmp_str);
  qsort(pt, (size_t)np, sizeof *pt, cmp_str);
  int64_t same = 0;
  for (int64_t i = 0, j = 0; i < ng && j < np;) {
    int c = strcmp(gt[i], pt[j]);
    if (c == 0) same++, i++, j++;
    else if (c < 0) i++;
    else j++;
  }
  if (v2 && (ng == 0 || np == 0)) {
    r = ng == np ? 1.0 : 0.0;
  } else if (same == 0) {
    r = 0.0;
  } else {
    double precision = 1.0 * (double)same / (double)np;
    double recall = 1.0 * (double)same / (double)ng;
    r = (2 * precision * recall) / (precision + recall);
  }
done:
  if (r < 0) pt_error(PT_ERR_NOMEM, "squad: out of memory");
  free(gt);
  free(pt);
  free(g);
  free(p);
  return r;
}

/* ---- the evaluators ------------------------------------------------------------ */

/* Max of EM and F1 over the gold texts of question q (v2: texts that
 * normalize to "" dropped; none left -> the single gold ""). */
static pt_status score_one(const squad_question *q, const char *pred, bool v2, double *em,
                           double *f1) {
  *em = 0;
  *f1 = 0;
  int64_t used = 0;
  for (int64_t a = 0; a < q->n_answers; a++) {
    const char *gold = q->answers[a].text;
    if (v2) {
      char *ng = squad_normalize(gold);
      if (!ng) return PT_ERR_NOMEM;
      bool empty = !ng[0];
      free(ng);
      if (empty) continue;
    }
    double e = squad_exact(gold, pred), f = squad_f1(gold, pred, v2);
    if (f < 0) return PT_ERR_NOMEM;
    if (used == 0 || e > *em) *em = e;
    if (used == 0 || f > *f1) *f1 = f;
    used++;
  }
  if (used == 0 && (v2 || q->n_answers == 0)) {
    /* v1 with no gold answers: max() over nothing fails in the official
     * script; we score against "" like v2 */
    *em = squad_exact("", pred);
    *f1 = squad_f1("", pred, v2);
    if (*f1 < 0) return PT_ERR_NOMEM;
  }
  return PT_OK;
}

typedef struct {
  const double *na;
  const int64_t *order; /* NULL: question order */
} na_key;

static int cmp_na(const void *a, const void *b, void *key) {
  const na_key *k = key;
  int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
  double x = k->na[i], y = k->na[j];
  if (x < y) return -1;
  if (x > y) return 1;
  /* sorted(na_probs, key=...) is stable: ties keep the file's order */
  int64_t oi = k->order ? k->order[i] : i, oj = k->order ? k->order[j] : j;
  return (oi > oj) - (oi < oj);
}

/* find_best_thresh over raw scores, questions sorted by na_prob. */
static void best_thresh(const squad_set *set, const char *const *preds, const double *raw,
                        const double *na, const int64_t *order, double *best, double *thresh) {
  double cur = 0;
  for (int64_t i = 0; i < set->n; i++)
    if (set->qs[i].n_answers == 0) cur += 1;
  double best_score = cur;
  *thresh = 0.0;
  for (int64_t k = 0; k < set->n; k++) {
    int64_t i = order[k];
    double diff;
    if (set->qs[i].n_answers > 0) diff = raw[i];
    else diff = preds[i][0] ? -1 : 0;
    cur += diff;
    if (cur > best_score) {
      best_score = cur;
      *thresh = na[i];
    }
  }
  *best = 100.0 * best_score / (double)set->n;
}

pt_status squad_evaluate(const squad_set *set, const char *const *preds,
                            const double *na_probs, const int64_t *na_order,
                            double na_prob_thresh, squad_scores *out) {
  memset(out, 0, sizeof *out);
  bool v2 = set->v2;
  if (set->n == 0) return pt_error(PT_ERR_ARG, "squad evaluate: %s has no questions", set->path);
  if (v2)
    for (int64_t i = 0; i < set->n; i++)
      if (!preds[i])
        return pt_error(PT_ERR_ARG, "squad evaluate: no prediction for question id '%s'",
                        set->qs[i].id);
  double *em = malloc((size_t)set->n * 2 * sizeof *em);
  if (!em) return pt_error(PT_ERR_NOMEM, "squad: out of memory");
  double *f1 = em + set->n;
  for (int64_t i = 0; i < set->n; i++) {
    em[i] = f1[i] = 0;
    if (!preds[i]) {
      out->missing++;
      continue;
    }
    pt_status s = score_one(&set->qs[i], preds[i], v2, &em[i], &f1[i]);
    if (s) {
      free(em);
      return s;
    }
  }
  if (!v2) {
    double se = 0, sf = 0;
    for (int64_t i = 0; i < set->n; i++) se += em[i], sf += f1[i];
    out->total = set->n;
    out->exact = 100.0 * se / (double)set->n;
    out->f1 = 100.0 * sf / (double)set->n;
    free(em);
    return PT_OK;
  }
  /* apply_no_ans_threshold, then the totals and the HasAns/NoAns splits */
  double se = 0, sf = 0, he = 0, hf = 0, ne = 0, nf = 0;
  for (int64_t i = 0; i < set->n; i++) {
    bool has = set->qs[i].n_answers > 0;
    double e = em[i], f = f1[i];
    if (na_probs && na_probs[i] > na_prob_thresh) e = f = has ? 0.0 : 1.0;
    se += e, sf += f;
    if (has) he += e, hf += f, out->has_ans_total++;
    else ne += e, nf += f, out->no_ans_total++;
  }
  out->total = set->n;
  out->exact = 100.0 * se / (double)set->n;
  out->f1 = 100.0 * sf / (double)set->n;
  if (out->has_ans_total) {
    out->has_ans_exact = 100.0 * he / (double)out->has_ans_total;
    out->has_ans_f1 = 100.0 * hf / (double)out->has_ans_total;
  }
  if (out->no_ans_total) {
    out->no_ans_exact = 100.0 * ne / (double)out->no_ans_total;
    out->no_ans_f1 = 100.0 * nf / (double)out->no_ans_total;
  }
  if (na_probs) {
    int64_t *order = malloc((size_t)set->n * sizeof *order);
    if (!order) {
      free(em);
      return pt_error(PT_ERR_NOMEM, "squad: out of memory");
    }
    for (int64_t i = 0; i < set->n; i++) order[i] = i;
    na_key key = {na_probs, na_order};
    qsort_r(order, (size_t)set->n, sizeof *order, cmp_na, &key);
    best_thresh(set, preds, em, na_probs, order, &out->best_exact, &out->best_exact_thresh);
    best_thresh(set, preds, f1, na_probs, order, &out->best_f1, &out->best_f1_thresh);
    out->has_best = true;
    free(order);
  }
  free(em);
  return PT_OK;
}

/* ---- the summary line --------------------------------------------------------- */

/* Python's repr of a float: the shortest digits that read back the same,
 * "50.0" rather than "50". */
static void py_float(char *buf, size_t cap, double x) {
  if (isnan(x)) {
    snprintf(buf, cap, "NaN");
    return;
  }
  if (isinf(x)) {
    snprintf(buf, cap, x > 0 ? "Infinity" : "-Infinity");
    return;
  }
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, cap, "%.*g", prec, x);
    if (strtod(buf, NULL) == x) break;
  }
  /* repr switches to exponent form at 1e16, %g at 10^prec */
  char *e = strchr(buf, 'e');
  if (e && fabs(x) < 1e16 && fabs(x) >= 1e-4) {
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%.1f", x);
    for (int prec = 1; prec <= 17 && strtod(tmp, NULL) != x; prec++)
      snprintf(tmp, sizeof tmp, "%.*f", prec, x);
    snprintf(buf, cap, "%s", tmp);
    e = NULL;
  }
  if (e) { /* Python writes 1e+16 as 1e+16 and 1e-05 as 1e-05: same as C */
    return;
  }
  if (!strchr(buf, '.')) strncat(buf, ".0", cap - strlen(buf) - 1);
}

char *squad_scores_json(const squad_scores *s, bool v2) {
  char out[1024], a[64], b[64], c[64], d[64];
  size_t n = 0;
#define PUT(...) n += (size_t)snprintf(out + n, sizeof out - n, __VA_ARGS__)
  py_float(a, sizeof a, s->exact);
  py_float(b, sizeof b, s->f1);
  if (!v2) {
    PUT("{\"exact_match\": %s, \"f1\": %s}", a, b);
  } else {
    PUT("{\"exact\": %s, \"f1\": %s, \"total\": %lld", a, b, (long long)s->total);
    if (s->has_ans_total) {
      py_float(a, sizeof a, s->has_ans_exact);
      py_float(b, sizeof b, s->has_ans_f1);
      PUT(", \"HasAns_exact\": %s, \"HasAns_f1\": %s, \"HasAns_total\": %lld", a, b,
          (long long)s->has_ans_total);
    }
    if (s->no_ans_total) {
      py_float(a, sizeof a, s->no_ans_exact);
      py_float(b, sizeof b, s->no_ans_f1);
      PUT(", \"NoAns_exact\": %s, \"NoAns_f1\": %s, \"NoAns_total\": %lld", a, b,
          (long long)s->no_ans_total);
    }
    if (s->has_best) {
      py_float(a, sizeof a, s->best_exact);
      py_float(b, sizeof b, s->best_exact_thresh);
      py_float(c, sizeof c, s->best_f1);
      py_float(d, sizeof d, s->best_f1_thresh);
      PUT(", \"best_exact\": %s, \"best_exact_thresh\": %s, \"best_f1\": %s, "
          "\"best_f1_thresh\": %s", a, b, c, d);
    }
    PUT("}");
  }
#undef PUT
  char *r = strdup(out);
  if (!r) pt_error(PT_ERR_NOMEM, "squad: out of memory");
  return r;
}
