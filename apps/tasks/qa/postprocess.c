/* From start/end logits of a question's windows to its answer text, as
 * Hugging Face's postprocess_qa_predictions (examples/pytorch/question-
 * answering/utils_qa.py, used by THUDM/P-tuning-v2) chooses it. */
#define _GNU_SOURCE /* qsort_r */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "apps/tasks/qa/squad.h"
#include "apps/tasks/lines.h"

qa_post_opts qa_post_opts_default(bool v2) {
  return (qa_post_opts){.n_best = 20, .max_answer_len = 30, .v2 = v2, .null_threshold = 0.0};
}

void qa_answer_free(qa_answer *a) {
  if (!a) return;
  free(a->text);
  memset(a, 0, sizeof *a);
}

qa_window qa_feature_window(const qa_feature *f, const float *start_logits,
                            const float *end_logits) {
  return (qa_window){.n = f->n,
                     .start_logits = start_logits,
                     .end_logits = end_logits,
                     .offsets = f->offsets,
                     .is_context = f->is_context};
}

typedef struct {
  int64_t c0, c1; /* code-point span in the context */
  float score, start_logit, end_logit;
  int64_t seq; /* insertion order, for a stable sort */
} cand;

/* np.argsort(x)[-1:-k-1:-1]: the k largest, largest first; equal values
 * come out highest index first (the reverse of a stable ascending sort). */
static int cmp_desc(const void *a, const void *b, void *xv) {
  const float *x = xv;
  int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
  if (x[i] != x[j]) return x[i] > x[j] ? -1 : 1;
  return (i < j) - (i > j);
}

/* sorted(..., key=score, reverse=True): descending, stable. */
static int cmp_cand(const void *a, const void *b) {
  const cand *x = a, *y = b;
  if (x->score != y->score) return x->score > y->score ? -1 : 1;
  return (x->seq > y->seq) - (x->seq < y->seq);
}

/* context[c0:c1] with Python slice clamping, code points -> a new string. */
static char *slice(const char *ctx, size_t len, int64_t c0, int64_t c1) {
  size_t b0 = len, b1 = len;
  int64_t k = 0;
  if (c0 < 0) c0 = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i == len || ((unsigned char)ctx[i] & 0xC0) != 0x80) {
      if (k == c0 && b0 == len) b0 = i;
      if (k == c1) {
        b1 = i;
        break;
      }
      k++;
    }
  }
  if (b1 < b0) b1 = b0;
  char *s = malloc(b1 - b0 + 1);
  if (!s) return NULL;
  memcpy(s, ctx + b0, b1 - b0);
  s[b1 - b0] = '\0';
  return s;
}

/* The windows and options are usable: *cap receives how many candidate
 * spans they can give, *max_n the longest window. */
static pt_status check_windows(const qa_window *wins, int64_t n_wins, const qa_post_opts *opts,
                               int64_t *cap, int64_t *max_n) {
  if (n_wins < 1) return pt_error(PT_ERR_ARG, "qa postprocess: no windows");
  if (opts->n_best < 1 || opts->max_answer_len < 1)
    return pt_error(PT_ERR_ARG, "qa postprocess: n_best %lld and max_answer_len %lld must be >= 1",
                    (long long)opts->n_best, (long long)opts->max_answer_len);
  *cap = 1, *max_n = 0;
  for (int64_t w = 0; w < n_wins; w++) {
    if (wins[w].n < 1)
      return pt_error(PT_ERR_ARG, "qa postprocess: window %lld has no positions", (long long)w);
    for (int64_t i = 0; i < wins[w].n; i++)
      if (!isfinite(wins[w].start_logits[i]) || !isfinite(wins[w].end_logits[i]))
        return pt_error(PT_ERR_NUMERIC, "qa postprocess: window %lld: logit %lld is not finite",
                        (long long)w, (long long)i);
    int64_t k = wins[w].n < opts->n_best ? wins[w].n : opts->n_best;
    *cap += k * k;
    if (wins[w].n > *max_n) *max_n = wins[w].n;
  }
  return PT_OK;
}

pt_status qa_best_answer(const char *context, size_t context_len, const qa_window *wins,
                         int64_t n_wins, const qa_post_opts *opts, qa_answer *out) {
  memset(out, 0, sizeof *out);
  int64_t cap = 0, max_n = 0;
  PT_TRY(check_windows(wins, n_wins, opts, &cap, &max_n));
  cand *cs = malloc((size_t)(cap + 2) * sizeof *cs);
  int64_t *si = malloc((size_t)max_n * 2 * sizeof *si);
  if (!cs || !si) {
    free(cs), free(si);
    return pt_error(PT_ERR_NOMEM, "qa postprocess: out of memory");
  }
  int64_t *ei = si + max_n;
  int64_t nc = 0;
  cand null = {0};
  for (int64_t w = 0; w < n_wins; w++) {
    const qa_window *win = &wins[w];
    /* the null answer: the [CLS] position; the smallest over windows */
    float ns = win->start_logits[0] + win->end_logits[0];
    if (w == 0 || null.score > ns)
      null = (cand){0, 0, ns, win->start_logits[0], win->end_logits[0], 0};
    for (int64_t i = 0; i < win->n; i++) si[i] = ei[i] = i;
    qsort_r(si, (size_t)win->n, sizeof *si, cmp_desc, (void *)win->start_logits);
    qsort_r(ei, (size_t)win->n, sizeof *ei, cmp_desc, (void *)win->end_logits);
    int64_t k = win->n < opts->n_best ? win->n : opts->n_best;
    for (int64_t a = 0; a < k; a++)
      for (int64_t b = 0; b < k; b++) {
        int64_t s = si[a], e = ei[b];
        if (!win->is_context[s] || !win->is_context[e]) continue;
        if (e < s || e - s + 1 > opts->max_answer_len) continue;
        cs[nc] = (cand){win->offsets[2 * s],
                        win->offsets[2 * e + 1],
                        win->start_logits[s] + win->end_logits[e],
                        win->start_logits[s],
                        win->end_logits[e],
                        nc};
        nc++;
      }
  }
  free(si);
  if (opts->v2) {
    null.seq = nc;
    cs[nc++] = null;
  }
  qsort(cs, (size_t)nc, sizeof *cs, cmp_cand);
  if (nc > opts->n_best) nc = opts->n_best;
  if (opts->v2) {
    bool has_null = false;
    for (int64_t i = 0; i < nc; i++)
      if (cs[i].c0 == 0 && cs[i].c1 == 0) has_null = true;
    if (!has_null) cs[nc++] = null;
  }
  /* the texts; HF puts an "empty" answer first when nothing else is left */
  pt_status st = PT_OK;
  int64_t chosen = -1;
  char *text = NULL;
  bool only_empty = nc == 0;
  if (nc == 1) {
    char *t = slice(context, context_len, cs[0].c0, cs[0].c1);
    if (!t) goto nomem;
    only_empty = !t[0];
    free(t);
  }
  if (only_empty) {
    memmove(cs + 1, cs, (size_t)nc * sizeof *cs);
    cs[0] = (cand){-1, -1, 0.0f, 0.0f, 0.0f, -1};
    nc++;
  }
  for (int64_t i = 0; i < nc; i++) {
    free(text);
    text = cs[i].c0 < 0 ? strdup_checked("empty") : slice(context, context_len, cs[i].c0, cs[i].c1);
    if (!text) goto nomem;
    if (!opts->v2 || text[0]) {
      chosen = i;
      break;
    }
  }
  out->null_score = null.score;
  if (chosen < 0) { /* v2 and every candidate is empty: no answer */
    free(text);
    text = strdup_checked("");
    if (!text) goto nomem;
    out->text = text;
    out->score = null.score;
    free(cs);
    return PT_OK;
  }
  const cand *best = &cs[chosen];
  out->score = best->score;
  out->char_start = best->c0 < 0 ? 0 : best->c0;
  out->char_end = best->c0 < 0 ? 0 : best->c1;
  if (opts->v2) {
    out->score_diff = null.score - best->start_logit - best->end_logit;
    if ((double)out->score_diff > opts->null_threshold) {
      text[0] = '\0';
      out->char_start = out->char_end = 0;
      out->score = null.score;
    }
  }
  out->text = text;
  free(cs);
  return st;
nomem:
  free(text);
  free(cs);
  return pt_error(PT_ERR_NOMEM, "qa postprocess: out of memory");
}
