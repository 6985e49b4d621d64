/* Comparing ptune's tensors with a PyTorch fixture's (the parity suites):
 * max |got − want| per tensor against 1e-5, the worst kept per case. */
#ifndef PT_TESTS_PARITY_UTIL_H
#define PT_TESTS_PARITY_UTIL_H

#include <check.h>
#include <math.h>
#include <stdio.h>

#include "nn/pt_safetensors.h"
#include "tensor/pt_tensor.h"

#define PARITY_TOL 1e-5

typedef struct {
  const char *what;     /* the case, for messages */
  double worst;         /* the largest difference seen */
  char worst_at[320];   /* and the tensor it was in */
  /* AdamW moves an element whose reference gradient is rounding noise
   * (|g| < 1e-6 where the exact gradient is 0: key biases, qa_outputs.bias)
   * in the direction of that noise, up to about lr per step each way; while
   * noise_grad is set, such elements may differ by noise_bound and are
   * counted instead. */
  const pt_tensor *noise_grad;
  double noise_bound;
  int64_t noise_elements;
} parity_tally;

/* got against tensor `name` of `file`: same element count and shape (a 0-dim
 * loss is stored as [1]), every element within PARITY_TOL. */
static inline void parity_expect(parity_tally *t, pt_safetensors *file, const char *name,
                                 const pt_tensor *got) {
  ck_assert_msg(got != NULL, "%s: no tensor to compare with %s (%s)", t->what, name,
                pt_error_message());
  ck_assert_msg(pt_safetensors_find(file, name) >= 0, "%s: the fixture has no %s", t->what, name);
  pt_tensor *want = pt_safetensors_load(file, name, got->dtype == PT_I64 ? PT_I64 : PT_F64);
  ck_assert_msg(want != NULL, "%s: %s", t->what, pt_error_message());
  ck_assert_msg(pt_numel(want) == pt_numel(got), "%s: %s has %lld elements, want %lld", t->what,
                name, (long long)pt_numel(got), (long long)pt_numel(want));
  if (got->ndim > 0) {
    char s1[96], s2[96];
    bool same = got->ndim == want->ndim;
    for (int d = 0; same && d < got->ndim; d++) same = got->shape[d] == want->shape[d];
    ck_assert_msg(same, "%s: %s has shape %s, want %s", t->what, name,
                  pt_shape_str(got, s1, sizeof s1), pt_shape_str(want, s2, sizeof s2));
  }
  double worst = 0;
  int64_t at = 0;
  for (int64_t i = 0; i < pt_numel(want); i++) {
    double d = fabs(pt_get(got, i) - pt_get(want, i));
    if (t->noise_grad && fabs(pt_get(t->noise_grad, i)) < 1e-6 && d > PARITY_TOL) {
      ck_assert_msg(d <= t->noise_bound, "%s: %s differs by %.3g where the gradient is noise",
                    t->what, name, d);
      t->noise_elements++;
      continue;
    }
    if (!(d <= worst)) {
      worst = d;
      at = i;
    }
  }
  if (worst > t->worst || worst != worst) {
    t->worst = worst;
    snprintf(t->worst_at, sizeof t->worst_at, "%.319s", name);
  }
  ck_assert_msg(worst <= PARITY_TOL, "%s: %s differs by %.3g at element %lld (got %.8g, want %.8g)",
                t->what, name, worst, (long long)at, pt_get(got, at), pt_get(want, at));
  pt_tensor_free(want);
}

#endif
