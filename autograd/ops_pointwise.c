/* Pointwise ops of one input: neg, scale, add_scalar, pow_scalar, exp, log,
 * sqrt, rsqrt, tanh, sigmoid, relu, gelu, gelu_tanh.
 *
 * Forward was y = f(x) elementwise, so the gradient is dx = g · f'(x): no
 * broadcasting, no reduction. f' is cheapest from y for exp (y), sqrt
 * (1/2y), rsqrt (−y³/2), tanh (1 − y²), sigmoid (y(1 − y)) and relu (y > 0),
 * and from x for log, gelu, gelu_tanh and pow; each op saves just that one
 * tensor (pt_unary_grad_uses_output). neg, scale and add_scalar save
 * nothing. Every backward here returns a new tensor and never accumulates
 * (the engine sums gradients that meet). */
#include "autograd/autograd_internal.h"
#include "autograd/pt_autograd.h"
#include "autograd/pt_op_table.h"
#include "autograd/pt_ops_pointwise.h"
#include "tensor/pt_elementwise.h"
#include "tensor/pt_unary.h"

/* ---- x·a + b: neg (a = −1), scale (a = s), add_scalar (a = 1, b = s) ---- */

/* forward was y = a·x + b, so dx = a·g (farg[0] = a); a new reference to g
 * when a = 1. */
static pt_status affine_backward(pt_node *n, const pt_tensor *g, pt_tensor **gin) {
  double a = n->farg[0];
  gin[0] = a == 1.0 ? pt_tensor_ref((pt_tensor *)g) : pt_raw_affine(g, a, 0.0);
  return gin[0] ? PT_OK : pt_error_code();
}

PT_OP_DEFINE(op_neg, "neg", affine_backward);
PT_OP_DEFINE(op_scale, "scale", affine_backward);
PT_OP_DEFINE(op_add_scalar, "add_scalar", affine_backward);

static pt_tensor *affine_op(const pt_op_def *def, pt_tensor *x, double a, double b) {
  if (!x) return NULL;
  if (!pt_dtype_is_float(x->dtype)) {
    pt_error(PT_ERR_DTYPE, "%s: needs F32 or F64, got %s", def->name, pt_dtype_name(x->dtype));
    return NULL;
  }
  pt_tensor *y = pt_raw_affine(x, a, b);
  if (!y) return NULL;
  pt_status st;
  pt_node *n = pt_node_new(def, 1, &x, &st);
  if (n) n->farg[0] = a;
  return pt_node_finish(n, st, y);
}

pt_tensor *pt_neg(pt_tensor *x) { return affine_op(&op_neg, x, -1.0, 0.0); }
pt_tensor *pt_scale(pt_tensor *x, double s) { return affine_op(&op_scale, x, s, 0.0); }
pt_tensor *pt_add_scalar(pt_tensor *x, double s) { return affine_op(&op_add_scalar, x, 1.0, s); }

/* ---- libm-style unary functions (tensor/unary.c) ---- */

/* iarg[0] = kind, farg[0] = pow exponent, saved[0] = y or x. */
static pt_status unary_backward(pt_node *n, const pt_tensor *g, pt_tensor **gin) {
  gin[0] = pt_raw_unary_backward((pt_unary_kind)n->iarg[0], g, n->saved[0], n->farg[0]);
  return gin[0] ? PT_OK : pt_error_code();
}

PT_OP_DEFINE(op_pow_scalar, "pow_scalar", unary_backward);
PT_OP_DEFINE(op_exp, "exp", unary_backward);
PT_OP_DEFINE(op_log, "log", unary_backward);
PT_OP_DEFINE(op_sqrt, "sqrt", unary_backward);
PT_OP_DEFINE(op_rsqrt, "rsqrt", unary_backward);
PT_OP_DEFINE(op_tanh, "tanh", unary_backward);
PT_OP_DEFINE(op_sigmoid, "sigmoid", unary_backward);
PT_OP_DEFINE(op_relu, "relu", unary_backward);
PT_OP_DEFINE(op_gelu, "gelu", unary_backward);
PT_OP_DEFINE(op_gelu_tanh, "gelu_tanh", unary_backward);

static pt_tensor *unary_op(const pt_op_def *def, pt_unary_kind kind, pt_tensor *x, double param) {
  if (!x) return NULL;
  pt_tensor *y = pt_raw_unary(kind, x, param, def->name);
  if (!y) return NULL;
  pt_status st;
  pt_node *n = pt_node_new(def, 1, &x, &st);
  if (n) {
    n->iarg[0] = kind;
    n->farg[0] = param;
    st = pt_node_save(n, 0, pt_unary_grad_uses_output(kind) ? y : x);
  }
  return pt_node_finish(n, st, y);
}

pt_tensor *pt_pow_scalar(pt_tensor *x, double p) { return unary_op(&op_pow_scalar, PT_UN_POW, x, p); }
pt_tensor *pt_exp(pt_tensor *x) { return unary_op(&op_exp, PT_UN_EXP, x, 0); }
pt_tensor *pt_log(pt_tensor *x) { return unary_op(&op_log, PT_UN_LOG, x, 0); }
pt_tensor *pt_sqrt(pt_tensor *x) { return unary_op(&op_sqrt, PT_UN_SQRT, x, 0); }
pt_tensor *pt_rsqrt(pt_tensor *x) { return unary_op(&op_rsqrt, PT_UN_RSQRT, x, 0); }
pt_tensor *pt_tanh(pt_tensor *x) { return unary_op(&op_tanh, PT_UN_TANH, x, 0); }
pt_tensor *pt_sigmoid(pt_tensor *x) { return unary_op(&op_sigmoid, PT_UN_SIGMOID, x, 0); }
pt_tensor *pt_relu(pt_tensor *x) { return unary_op(&op_relu, PT_UN_RELU, x, 0); }
pt_tensor *pt_gelu(pt_tensor *x) { return unary_op(&op_gelu, PT_UN_GELU, x, 0); }
pt_tensor *pt_gelu_tanh(pt_tensor *x) { return unary_op(&op_gelu_tanh, PT_UN_GELU_TANH, x, 0); }

/* ---- gradient-check cases ----
 * Variant 0: a contiguous [3,4]; 1: a transposed view [2,5,3]; 2: a 0-dim
 * scalar. Values are mapped from [-1, 1) so every case stays where its
 * function is smooth: positive and away from 0 for log, sqrt, rsqrt and
 * pow; away from the kink for relu; spread to [-3, 3) for the GELUs so their
 * tails are exercised. */

typedef enum { RANGE_PLAIN, RANGE_WIDE, RANGE_POSITIVE, RANGE_NO_KINK } case_range;

static int unary_inputs(pt_rng *rng, int variant, pt_tensor **in, case_range range) {
  switch (variant) {
    case 0: in[0] = pt_case_rand(rng, PT_DIMS(3, 4), true); break;
    case 1: in[0] = pt_case_rand_strided(rng, PT_DIMS(2, 5, 3), true); break;
    default: in[0] = pt_case_rand(rng, 0, PT_SHAPE(1), true); /* 0-dim */
  }
  if (!in[0]) return -1;
  for (int64_t i = 0; i < pt_numel(in[0]); i++) {
    double v = pt_get(in[0], i);
    switch (range) {
      case RANGE_PLAIN: break;
      case RANGE_WIDE: v *= 3.0; break;
      case RANGE_POSITIVE: v = 1.25 + 0.75 * v; break; /* [0.5, 2) */
      case RANGE_NO_KINK: v = v < 0 ? v - 0.1 : v + 0.1; break;
    }
    pt_set(in[0], i, v);
  }
  return 1;
}

static int plain_inputs(pt_rng *rng, int v, pt_tensor **in) { return unary_inputs(rng, v, in, RANGE_PLAIN); }
static int wide_inputs(pt_rng *rng, int v, pt_tensor **in) { return unary_inputs(rng, v, in, RANGE_WIDE); }
static int positive_inputs(pt_rng *rng, int v, pt_tensor **in) { return unary_inputs(rng, v, in, RANGE_POSITIVE); }
static int no_kink_inputs(pt_rng *rng, int v, pt_tensor **in) { return unary_inputs(rng, v, in, RANGE_NO_KINK); }

/* The pow case tries one exponent per variant, fractional and negative
 * included. */
static const double pow_case_exponent[] = {2.5, -1.5, 2.0};

PT_CASE_FN(neg_fn, pt_neg(in[0]))
PT_CASE_FN(scale_fn, pt_scale(in[0], -1.7))
PT_CASE_FN(add_scalar_fn, pt_add_scalar(in[0], 0.3))
PT_CASE_FN(pow_scalar_fn, pt_pow_scalar(in[0], pow_case_exponent[variant]))
PT_CASE_FN(exp_fn, pt_exp(in[0]))
PT_CASE_FN(log_fn, pt_log(in[0]))
PT_CASE_FN(sqrt_fn, pt_sqrt(in[0]))
PT_CASE_FN(rsqrt_fn, pt_rsqrt(in[0]))
PT_CASE_FN(tanh_fn, pt_tanh(in[0]))
PT_CASE_FN(sigmoid_fn, pt_sigmoid(in[0]))
PT_CASE_FN(relu_fn, pt_relu(in[0]))
PT_CASE_FN(gelu_fn, pt_gelu(in[0]))
PT_CASE_FN(gelu_tanh_fn, pt_gelu_tanh(in[0]))

const pt_op_case pt_op_cases_pointwise[] = {
    {"neg", plain_inputs, neg_fn, 3, 0, 0},
    {"scale", plain_inputs, scale_fn, 3, 0, 0},
    {"add_scalar", plain_inputs, add_scalar_fn, 3, 0, 0},
    {"pow_scalar", positive_inputs, pow_scalar_fn, 3, 0, 0},
    {"exp", wide_inputs, exp_fn, 3, 0, 0},
    {"log", positive_inputs, log_fn, 3, 0, 0},
    {"sqrt", positive_inputs, sqrt_fn, 3, 0, 0},
    {"rsqrt", positive_inputs, rsqrt_fn, 3, 0, 0},
    {"tanh", wide_inputs, tanh_fn, 3, 0, 0},
    {"sigmoid", wide_inputs, sigmoid_fn, 3, 0, 0},
    {"relu", no_kink_inputs, relu_fn, 3, 0, 0},
    {"gelu", wide_inputs, gelu_fn, 3, 0, 0},
    {"gelu_tanh", wide_inputs, gelu_tanh_fn, 3, 0, 0},
    {0},
};
