/* SRL argument span F1: seqeval spans over the BIO role tags with the
 * predicate's V and C-V spans excluded, as the CoNLL-2005 srl-eval.pl
 * overall score leaves out V. The span extraction lives in seqeval.c. */
#include <stddef.h>

#include "apps/metrics/metrics.h"

pt_status srl_span_f1(char **const *gold, char **const *pred, const int64_t *lens, int64_t n,
                         span_scores *out) {
  static const char *const predicate[] = {"V", "C-V", NULL};
  return seqeval_excluding(gold, pred, lens, n, predicate, out);
}
