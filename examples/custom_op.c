/* A differentiable op defined outside the library, checked with the public
 * gradient checker.
 *
 * The op is hypot(a, b) = sqrt(a² + b²) elementwise (same shapes). It has
 * the three parts every ptune op has:
 *   1. a forward that computes the output and records a node on the tape
 *      (only when grad mode is on and some input requires grad);
 *   2. a backward beside it that writes a gradient for each input that
 *      needs one (and computes nothing for the others);
 *   3. a gradient check in F64.
 * Its pt_op_def is a plain static struct: a user's op needs no entry in the
 * library's op table.
 *
 * Run: ./build/examples/custom_op   (exit status 0 when both checks pass) */
#include <math.h>
#include <stdio.h>

#include "ptune.h"

/* Forward was out = sqrt(a² + b²), so d out / d a = a / out and
 * d out / d b = b / out: the gradient for a is g·a/out, for b g·b/out.
 * Does not accumulate (the engine sums gradients). */
static pt_status hypot_backward(pt_node *n, const pt_tensor *g, pt_tensor **grad_in) {
  const pt_tensor *out = n->saved[2];
  for (int i = 0; i < 2; i++) {
    if (!n->needs_grad[i]) continue; /* a frozen input: no work at all */
    pt_tensor *ga = pt_raw_binary(PT_BIN_MUL, g, n->saved[i]);
    grad_in[i] = ga ? pt_raw_binary(PT_BIN_DIV, ga, out) : NULL;
    pt_tensor_free(ga);
    if (!grad_in[i]) return pt_error_code();
  }
  return PT_OK;
}

/* Not registered anywhere: the node just points at it. */
static const pt_op_def op_hypot = {"hypot", hypot_backward};

/* a, b: same shape, F32 or F64, any strides. Returns a new tensor. */
static pt_tensor *my_hypot(pt_tensor *a, pt_tensor *b) {
  if (!a || !b) return NULL;
  char s1[64], s2[64];
  if (!pt_same_shape(a, b) || a->dtype != b->dtype || !pt_dtype_is_float(a->dtype)) {
    pt_error(PT_ERR_SHAPE, "hypot: want two float tensors of one shape and dtype, got %s %s and %s %s",
             pt_dtype_name(a->dtype), pt_shape_str(a, s1, sizeof s1), pt_dtype_name(b->dtype),
             pt_shape_str(b, s2, sizeof s2));
    return NULL;
  }
  pt_tensor *ac = pt_raw_contiguous(a), *bc = pt_raw_contiguous(b);
  pt_tensor *out = ac && bc ? pt_empty_like(a) : NULL;
  if (out) {
    int64_t n = pt_numel(out);
    if (a->dtype == PT_F32) { /* contiguous [n] in, [n] out */
      const float *x = pt_data(ac), *y = pt_data(bc);
      float *o = pt_data(out);
      for (int64_t i = 0; i < n; i++) o[i] = sqrtf(x[i] * x[i] + y[i] * y[i]);
    } else {
      const double *x = pt_data(ac), *y = pt_data(bc);
      double *o = pt_data(out);
      for (int64_t i = 0; i < n; i++) o[i] = sqrt(x[i] * x[i] + y[i] * y[i]);
    }
  }
  pt_tensor_free(ac);
  pt_tensor_free(bc);
  if (!out) return NULL;
  /* Record the node. Save a only if a needs a gradient, b only if b does,
   * and the output (both gradients divide by it). */
  pt_status st;
  pt_node *node = pt_node_new(&op_hypot, 2, (pt_tensor *[]){a, b}, &st);
  if (node) {
    if (node->needs_grad[0]) st = pt_node_save(node, 0, a);
    if (st == PT_OK && node->needs_grad[1]) st = pt_node_save(node, 1, b);
    if (st == PT_OK) st = pt_node_save(node, 2, out);
  }
  return pt_node_finish(node, st, out);
}

/* The function under test, in the gradient checker's form. */
static pt_tensor *hypot_fn(pt_tensor *const *in, int n, void *ctx) {
  (void)n;
  (void)ctx;
  return my_hypot(in[0], in[1]);
}

static bool check(const char *what, pt_tensor *a, pt_tensor *b) {
  pt_gradcheck_result r;
  pt_status st = pt_gradcheck(hypot_fn, NULL, 2, (pt_tensor *[]){a, b}, NULL, &r);
  if (st != PT_OK) {
    printf("%-28s could not run: %s\n", what, pt_error_message());
    return false;
  }
  printf("%-28s %s: %lld elements, max |analytic - numeric| = %.2e\n", what,
         r.passed ? "passed" : "FAILED", (long long)r.checked, r.max_abs_err);
  if (!r.passed) printf("  %s\n", r.message);
  return r.passed;
}

int main(void) {
  pt_rng rng;
  pt_rng_init(&rng, 2024);
  /* values in [0.5, 1.5): away from hypot's kink at (0, 0) */
  pt_tensor *a = pt_rand_uniform(&rng, PT_F64, PT_DIMS(3, 4), 0.5, 1.5);
  pt_tensor *b = pt_rand_uniform(&rng, PT_F64, PT_DIMS(3, 4), 0.5, 1.5);
  pt_set_requires_grad(a, true);
  pt_set_requires_grad(b, true);
  bool ok = check("hypot(a, b)", a, b);
  /* b frozen: the checker also asserts that b receives no gradient */
  pt_set_requires_grad(b, false);
  ok &= check("hypot(a, b) with b frozen", a, b);

  /* and it composes with library ops like any other */
  pt_set_requires_grad(b, true);
  pt_zero_grad(a); /* the checker's backward passes left gradients behind */
  pt_zero_grad(b);
  pt_tensor *h = my_hypot(a, b);
  pt_tensor *loss = pt_mean(h, 0, NULL, false);
  ok &= loss && pt_backward(loss, NULL, false) == PT_OK;
  if (ok)
    printf("mean(hypot(a, b)) = %.6f, dL/da[0] = %.6f (= a/(12·hypot) = %.6f)\n", pt_get(loss, 0),
           pt_get(a->grad, 0), pt_get(a, 0) / (12 * pt_get(h, 0)));
  pt_tensor_free(loss);
  pt_tensor_free(h);
  pt_tensor_free(a);
  pt_tensor_free(b);
  return ok ? 0 : 1;
}
