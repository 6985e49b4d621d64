/* Classification metrics: accuracy, macro-F1 and Matthews correlation, with
 * scikit-learn's definitions (f1_score average="macro",
 * matthews_corrcoef). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "apps/metrics/metrics.h"

pt_status cls_metrics(const int64_t *gold, const int64_t *pred, int64_t n, int64_t n_classes,
                         cls_scores *out) {
  memset(out, 0, sizeof *out);
  if (n <= 0) return pt_error(PT_ERR_ARG, "cls metrics: no examples to score");
  if (n_classes <= 0) return pt_error(PT_ERR_ARG, "cls metrics: %lld classes", (long long)n_classes);
  for (int64_t i = 0; i < n; i++)
    if (gold[i] < 0 || gold[i] >= n_classes || pred[i] < 0 || pred[i] >= n_classes)
      return pt_error(PT_ERR_ARG, "cls metrics: example %lld has gold %lld / predicted %lld, "
                      "outside [0, %lld)", (long long)i, (long long)gold[i], (long long)pred[i],
                      (long long)n_classes);
  /* per class: t = gold count (row sum), p = predicted count (column sum) */
  int64_t *t = calloc((size_t)n_classes, sizeof *t);
  int64_t *p = calloc((size_t)n_classes, sizeof *p);
  int64_t *tp = calloc((size_t)n_classes, sizeof *tp);
  if (!t || !p || !tp) {
    free(t);
    free(p);
    free(tp);
    return pt_error(PT_ERR_NOMEM, "cls metrics: out of memory for %lld classes", (long long)n_classes);
  }
  for (int64_t i = 0; i < n; i++) {
    t[gold[i]]++;
    p[pred[i]]++;
    if (gold[i] == pred[i]) tp[gold[i]]++, out->correct++;
  }
  out->n = n;
  out->accuracy = (double)out->correct / (double)n;
  /* macro-F1 over the labels present in gold or pred (sklearn unique_labels);
   * per class F1 = 2 tp / (t + p) */
  int64_t present = 0;
  double fsum = 0;
  for (int64_t c = 0; c < n_classes; c++) {
    if (t[c] == 0 && p[c] == 0) continue;
    present++;
    fsum += 2.0 * (double)tp[c] / (double)(t[c] + p[c]);
  }
  out->macro_f1 = fsum / (double)present;
  /* MCC = (c s - sum_k p_k t_k) / sqrt((s^2 - sum p_k^2)(s^2 - sum t_k^2)) */
  double s = (double)n, c = (double)out->correct, pt = 0, pp = 0, tt = 0;
  for (int64_t k = 0; k < n_classes; k++) {
    pt += (double)p[k] * (double)t[k];
    pp += (double)p[k] * (double)p[k];
    tt += (double)t[k] * (double)t[k];
  }
  double den = (s * s - pp) * (s * s - tt);
  out->mcc = den > 0 ? (c * s - pt) / sqrt(den) : 0.0;
  free(t);
  free(p);
  free(tp);
  return PT_OK;
}
