/* Central-difference gradient checks (see pt_gradcheck.h). */
#include "autograd/pt_gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "autograd/pt_autograd.h"
#include "tensor/pt_rng.h"

static void defaults(const pt_gradcheck_opts *in, pt_gradcheck_opts *o) {
  o->eps = in && in->eps > 0 ? in->eps : 1e-6;
  o->atol = in && in->atol > 0 ? in->atol : 1e-7;
  o->rtol = in && in->rtol > 0 ? in->rtol : 1e-5;
  o->seed = in && in->seed ? in->seed : 1;
}

/* L = Σ w·y in double, w a fixed weighting in [0.5, 1.5) drawn from seed. */
static double weighted_sum(const pt_tensor *y, uint64_t seed) {
  double acc = 0;
  int64_t n = pt_numel(y);
  for (int64_t i = 0; i < n; i++)
    acc += (0.5 + pt_rng_u01(pt_rng_bits(seed, (uint64_t)i))) * pt_get(y, i);
  return acc;
}

/* The user's function; a NULL it returns carries its own message, with
 * "gradcheck: " in front (or one naming the function if it recorded none). */
static pt_tensor *call_fn(pt_gradcheck_fn fn, void *ctx, int n, pt_tensor *const *inputs) {
  uint64_t serial = pt_error_serial();
  pt_tensor *y = fn(inputs, n, ctx);
  if (y) return y;
  if (pt_error_serial() == serial)
    pt_error(PT_ERR_STATE, "gradcheck: the checked function returned NULL without recording "
                           "an error");
  else
    pt_error_context(pt_error_code(), "gradcheck");
  return NULL;
}

static pt_status eval_loss(pt_gradcheck_fn fn, void *ctx, int n, pt_tensor *const *inputs,
                           uint64_t seed, double *loss) {
  pt_no_grad_enter();
  pt_tensor *y = call_fn(fn, ctx, n, inputs);
  pt_no_grad_exit();
  if (!y) return pt_error_code();
  *loss = weighted_sum(y, seed);
  pt_tensor_free(y);
  return PT_OK;
}

/* Runs fn with grad on and backpropagates the weighting; leaves the
 * analytic gradients in each input's .grad. */
static pt_status analytic(pt_gradcheck_fn fn, void *ctx, int n, pt_tensor *const *inputs,
                          uint64_t seed) {
  for (int i = 0; i < n; i++)
    if (inputs[i]) pt_zero_grad(inputs[i]);
  pt_tensor *y = call_fn(fn, ctx, n, inputs);
  if (!y) return pt_error_code();
  if (!pt_requires_grad(y)) {
    pt_tensor_free(y);
    return pt_error(PT_ERR_STATE, "gradcheck: the output does not require grad");
  }
  pt_tensor *w = pt_empty(y->dtype, y->ndim, y->shape);
  if (!w) {
    pt_tensor_free(y);
    return pt_error_code();
  }
  int64_t ny = pt_numel(y);
  for (int64_t i = 0; i < ny; i++) pt_set(w, i, 0.5 + pt_rng_u01(pt_rng_bits(seed, (uint64_t)i)));
  pt_status st = pt_backward(y, w, false);
  pt_tensor_free(w);
  pt_tensor_free(y);
  return st;
}

static pt_status check_inputs(int n, pt_tensor *const *inputs) {
  for (int i = 0; i < n; i++) {
    if (!inputs[i]) continue;
    if (pt_requires_grad(inputs[i]) && inputs[i]->dtype != PT_F64)
      return pt_error(PT_ERR_DTYPE, "gradcheck: input %d is %s; run gradient checks in F64", i,
                      pt_dtype_name(inputs[i]->dtype));
    if (pt_requires_grad(inputs[i]) && !pt_is_leaf(inputs[i]))
      return pt_error(PT_ERR_ARG, "gradcheck: input %d is not a leaf", i);
  }
  return PT_OK;
}

static void consider(pt_gradcheck_result *r, const pt_gradcheck_opts *o, int input, int64_t idx,
                     double a, double num) {
  double err = fabs(a - num);
  double ratio = err / (o->atol + o->rtol * fabs(num));
  if (!(err == err)) ratio = INFINITY; /* NaN */
  r->checked++;
  if (err > r->max_abs_err || err != err) r->max_abs_err = err;
  if (ratio > r->worst_ratio || r->checked == 1) {
    r->worst_ratio = ratio;
    r->worst_input = input;
    r->worst_index = idx;
    r->worst_analytic = a;
    r->worst_numeric = num;
  }
}

static void verdict(pt_gradcheck_result *r) {
  r->passed = r->worst_ratio <= 1.0 && r->checked > 0;
  if (r->checked == 0)
    snprintf(r->message, sizeof r->message, "nothing was checked (no input requires grad)");
  else
    snprintf(r->message, sizeof r->message,
             "%s: %lld checked, max |a-n| %.3g, worst input %d [%lld]: analytic %.10g numeric %.10g",
             r->passed ? "ok" : "MISMATCH", (long long)r->checked, r->max_abs_err, r->worst_input,
             (long long)r->worst_index, r->worst_analytic, r->worst_numeric);
}

pt_status pt_gradcheck(pt_gradcheck_fn fn, void *ctx, int n, pt_tensor *const *inputs,
                       const pt_gradcheck_opts *opts_in, pt_gradcheck_result *r) {
  pt_gradcheck_opts o;
  defaults(opts_in, &o);
  memset(r, 0, sizeof *r);
  PT_TRY(check_inputs(n, inputs));
  PT_TRY(analytic(fn, ctx, n, inputs, o.seed));
  for (int i = 0; i < n; i++) {
    if (!inputs[i] || pt_requires_grad(inputs[i])) continue;
    if (inputs[i]->grad) { /* a frozen input must receive nothing */
      snprintf(r->message, sizeof r->message,
               "input %d does not require grad but received a gradient", i);
      r->passed = false;
      r->checked = 1;
      r->worst_ratio = INFINITY;
      r->worst_input = i;
      return PT_OK;
    }
  }
  for (int i = 0; i < n; i++) {
    pt_tensor *x = inputs[i];
    if (!x || !pt_requires_grad(x)) continue;
    int64_t nx = pt_numel(x);
    for (int64_t k = 0; k < nx; k++) {
      double orig = pt_get(x, k), lp, lm;
      pt_set(x, k, orig + o.eps);
      pt_status st = eval_loss(fn, ctx, n, inputs, o.seed, &lp);
      pt_set(x, k, orig - o.eps);
      if (st == PT_OK) st = eval_loss(fn, ctx, n, inputs, o.seed, &lm);
      pt_set(x, k, orig);
      if (st != PT_OK) return st;
      double num = (lp - lm) / (2 * o.eps);
      double a = x->grad ? pt_get(x->grad, k) : 0.0;
      consider(r, &o, i, k, a, num);
    }
  }
  verdict(r);
  return PT_OK;
}

pt_status pt_gradcheck_direction(pt_gradcheck_fn fn, void *ctx, int n, pt_tensor *const *inputs,
                                 int ndirections, const pt_gradcheck_opts *opts_in,
                                 pt_gradcheck_result *r) {
  pt_gradcheck_opts o;
  defaults(opts_in, &o);
  memset(r, 0, sizeof *r);
  PT_TRY(check_inputs(n, inputs));
  PT_TRY(analytic(fn, ctx, n, inputs, o.seed));
  pt_rng rng;
  pt_rng_init(&rng, o.seed ^ 0x5eedULL);
  /* dirs[i]: a random unit-scale direction over every element of input i
   * (NULL for inputs that do not require grad); analytic = Σ grad·d. */
  pt_tensor **dirs = pt_alloc(sizeof *dirs * (size_t)(n > 0 ? n : 1));
  if (!dirs) return pt_error_code();
  pt_status st = PT_OK;
  for (int dir = 0; dir < ndirections && st == PT_OK; dir++) {
    double a = 0, lp = 0, lm = 0;
    for (int i = 0; i < n; i++) {
      pt_tensor *x = inputs[i];
      dirs[i] = x && pt_requires_grad(x) && st == PT_OK ? pt_randn(&rng, PT_F64, x->ndim, x->shape)
                                                        : NULL;
      if (x && pt_requires_grad(x) && !dirs[i]) st = pt_error_code();
      for (int64_t k = 0; dirs[i] && k < pt_numel(x); k++)
        a += (x->grad ? pt_get(x->grad, k) : 0.0) * pt_get(dirs[i], k);
    }
    for (int sign = 1; sign >= -1 && st == PT_OK; sign -= 2) {
      for (int i = 0; i < n; i++)
        for (int64_t k = 0; dirs[i] && k < pt_numel(inputs[i]); k++)
          pt_set(inputs[i], k, pt_get(inputs[i], k) + sign * o.eps * pt_get(dirs[i], k));
      st = eval_loss(fn, ctx, n, inputs, o.seed, sign > 0 ? &lp : &lm);
      for (int i = 0; i < n; i++)
        for (int64_t k = 0; dirs[i] && k < pt_numel(inputs[i]); k++)
          pt_set(inputs[i], k, pt_get(inputs[i], k) - sign * o.eps * pt_get(dirs[i], k));
    }
    for (int i = 0; i < n; i++) pt_tensor_free(dirs[i]);
    if (st == PT_OK) consider(r, &o, -1, dir, a, (lp - lm) / (2 * o.eps));
  }
  pt_free_bytes(dirs);
  if (st != PT_OK) return st;
  verdict(r);
  return PT_OK;
}
