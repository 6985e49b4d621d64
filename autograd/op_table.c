/* The op table: every family's gradient-check cases, and the list of op
 * definitions gathered from the pt_op_defs linker section. */
#include "autograd/pt_op_table.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/autograd_internal.h"

static const pt_op_case *const families[] = {
    pt_op_cases_binary,
    pt_op_cases_matmul,
    pt_op_cases_reduce,
    pt_op_cases_view,
    pt_op_cases_softmax,
    pt_op_cases_layernorm,
    pt_op_cases_loss,
    pt_op_cases_select,
    pt_op_cases_pointwise,
    pt_op_cases_dropout,
    pt_op_cases_where,
    pt_op_cases_embedding,
    pt_op_cases_join,
    pt_op_cases_attention,
    pt_op_cases_lstm,
};

/* The families flattened into one array, sized to fit, built once. */
static pt_op_case *all_cases;
static int ncases;
static pthread_once_t flatten_once = PTHREAD_ONCE_INIT;

static void flatten(void) {
  size_t nfam = sizeof families / sizeof families[0];
  int n = 0;
  for (size_t f = 0; f < nfam; f++)
    for (const pt_op_case *c = families[f]; c->name; c++) n++;
  all_cases = malloc(sizeof *all_cases * (size_t)(n > 0 ? n : 1));
  if (!all_cases) return;
  for (size_t f = 0; f < nfam; f++)
    for (const pt_op_case *c = families[f]; c->name; c++) all_cases[ncases++] = *c;
}

const pt_op_case *pt_op_cases(int *count) {
  pthread_once(&flatten_once, flatten);
  *count = ncases;
  if (!all_cases) pt_error(PT_ERR_NOMEM, "op table: out of memory listing the cases");
  return all_cases;
}

const pt_op_case *pt_op_case_find(const char *name) {
  int n;
  const pt_op_case *cs = pt_op_cases(&n);
  for (int i = 0; i < n; i++)
    if (strcmp(cs[i].name, name) == 0) return &cs[i];
  return NULL;
}

pt_status pt_op_case_run(const pt_op_case *c, uint64_t seed, pt_gradcheck_result *result) {
  pt_gradcheck_result worst = {.passed = true};
  int64_t total = 0;
  for (int v = 0; v < c->nvariants; v++) {
    pt_rng rng;
    pt_rng_init(&rng, seed * 1000003ULL + (uint64_t)v);
    pt_tensor *in[PT_CASE_MAX_INPUTS] = {0};
    uint64_t serial = pt_error_serial();
    int n = c->make_inputs(&rng, v, in);
    pt_status st = PT_OK;
    for (int i = 0; i < n && st == PT_OK; i++)
      if (!in[i]) st = pt_error_if_silent(serial, PT_ERR_STATE, "input %d was not built", i);
    if (n < 0) st = pt_error_if_silent(serial, PT_ERR_STATE, "could not build the inputs");
    pt_gradcheck_result r;
    pt_gradcheck_opts o = {.atol = c->atol, .rtol = c->rtol, .seed = seed};
    if (st == PT_OK) st = pt_gradcheck(c->fn, &v, n, in, &o, &r);
    for (int i = 0; i < PT_CASE_MAX_INPUTS; i++) pt_tensor_free(in[i]);
    if (st != PT_OK) return pt_error_context(st, "%s (variant %d)", c->name, v);
    total += r.checked;
    /* Keep the first failure, else the variant closest to failing. */
    bool replace = v == 0 || (!r.passed && worst.passed) ||
                   (r.passed == worst.passed && worst.passed && r.worst_ratio > worst.worst_ratio);
    if (replace) {
      worst = r;
      if (!r.passed) {
        int k = snprintf(worst.message, sizeof worst.message, "variant %d: ", v);
        if (k > 0 && (size_t)k < sizeof worst.message)
          memcpy(worst.message + k, r.message, sizeof worst.message - (size_t)k - 1);
        worst.message[sizeof worst.message - 1] = '\0';
      }
    }
  }
  worst.checked = total;
  *result = worst;
  return PT_OK;
}

const pt_op_def *const *pt_op_defs(int *count) {
  extern const pt_op_def *const __start_pt_op_defs[];
  extern const pt_op_def *const __stop_pt_op_defs[];
  *count = (int)(__stop_pt_op_defs - __start_pt_op_defs);
  return __start_pt_op_defs;
}

pt_tensor *pt_case_rand(pt_rng *rng, int ndim, const int64_t *shape, bool requires_grad) {
  pt_tensor *t = pt_rand_uniform(rng, PT_F64, ndim, shape, -1.0, 1.0);
  if (t && requires_grad) pt_set_requires_grad(t, true);
  return t;
}

pt_tensor *pt_case_rand_strided(pt_rng *rng, int ndim, const int64_t *shape, bool requires_grad) {
  if (ndim < 2) return pt_case_rand(rng, ndim, shape, requires_grad);
  int64_t swapped[PT_MAX_DIMS];
  memcpy(swapped, shape, sizeof(int64_t) * (size_t)ndim);
  swapped[ndim - 1] = shape[ndim - 2];
  swapped[ndim - 2] = shape[ndim - 1];
  pt_tensor *base = pt_rand_uniform(rng, PT_F64, ndim, swapped, -1.0, 1.0);
  if (!base) return NULL;
  pt_tensor *t = pt_raw_transpose(base, ndim - 2, ndim - 1);
  pt_tensor_free(base);
  if (t && requires_grad) pt_set_requires_grad(t, true);
  return t;
}
