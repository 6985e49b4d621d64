/* matmul (batched, broadcasting, transposes), linear, and linear + GELU.
 *
 * Forward was out = A·B with A = op(a), B = op(b), so dA = g·Bᵀ and
 * dB = Aᵀ·g; each is written straight in the operand's own layout by
 * choosing the transpose flags, then summed over broadcast batch dims. */
#include "autograd/autograd_internal.h"
#include "autograd/pt_autograd.h"
#include "autograd/pt_op_table.h"
#include "autograd/pt_ops.h"
#include "autograd/pt_ops_pointwise.h"
#include "tensor/pt_elementwise.h"
#include "tensor/pt_matmul.h"
#include "tensor/pt_reduce.h"
#include "tensor/pt_unary.h"

/* saved[0] = a (needed for db), saved[1] = b (needed for da). */
static pt_status matmul_backward(pt_node *n, const pt_tensor *g, pt_tensor **gin) {
  bool ta = n->iarg[0], tb = n->iarg[1];
  if (n->needs_grad[0]) {
    pt_tensor *d = ta ? pt_raw_matmul(n->saved[1], g, tb, true)
                      : pt_raw_matmul(g, n->saved[1], false, !tb);
    gin[0] = pt_node_grad_to_input(n, 0, d);
    if (!gin[0]) return pt_error_code();
  }
  if (n->needs_grad[1]) {
    pt_tensor *d = tb ? pt_raw_matmul(g, n->saved[0], true, ta)
                      : pt_raw_matmul(n->saved[0], g, !ta, false);
    gin[1] = pt_node_grad_to_input(n, 1, d);
    if (!gin[1]) return pt_error_code();
  }
  return PT_OK;
}

PT_OP_DEFINE(op_matmul, "matmul", matmul_backward);

pt_tensor *pt_matmul_t(pt_tensor *a, pt_tensor *b, bool ta, bool tb) {
  if (!a || !b) return NULL;
  pt_tensor *out = pt_raw_matmul(a, b, ta, tb);
  if (!out) return NULL;
  pt_status st;
  pt_node *n = pt_node_new(&op_matmul, 2, (pt_tensor *[]){a, b}, &st);
  if (n) {
    n->iarg[0] = ta;
    n->iarg[1] = tb;
    if (n->needs_grad[1]) st = pt_node_save(n, 0, a);
    if (st == PT_OK && n->needs_grad[0]) st = pt_node_save(n, 1, b);
  }
  return pt_node_finish(n, st, out);
}

pt_tensor *pt_matmul(pt_tensor *a, pt_tensor *b) { return pt_matmul_t(a, b, false, false); }

/* ---- linear: y [N.., out] = x [N.., in] · Wᵀ + bias ----
 * dx = g·W (saved[1] = W, only if x needs grad);
 * dW = gᵀ·x over all rows (saved[0] = x, only if W needs grad);
 * db = Σ_rows g. A frozen W means neither x is saved nor dW computed. */
static pt_status linear_backward(pt_node *n, const pt_tensor *g, pt_tensor **gin) {
  if (n->needs_grad[0]) {
    gin[0] = pt_raw_matmul(g, n->saved[1], false, false);
    if (!gin[0]) return pt_error_code();
  }
  int64_t out_f = g->shape[g->ndim - 1];
  if (n->needs_grad[1]) {
    const pt_tensor *x = n->saved[0];
    int64_t in_f = x->shape[x->ndim - 1];
    pt_tensor *g2 = pt_raw_contiguous(g);
    pt_tensor *x2 = pt_raw_contiguous(x);
    pt_tensor *gw = pt_empty(g->dtype, 2, PT_SHAPE(out_f, in_f));
    if (!g2 || !x2 || !gw) {
      pt_tensor_free(g2);
      pt_tensor_free(x2);
      pt_tensor_free(gw);
      return pt_error_code();
    }
    int64_t rows = pt_numel(g2) / out_f;
    pt_gemm(g->dtype, true, false, out_f, in_f, rows, 1.0, pt_data(g2), out_f, pt_data(x2), in_f,
            0.0, pt_data(gw), in_f);
    pt_tensor_free(g2);
    pt_tensor_free(x2);
    gin[1] = gw;
  }
  if (n->n_inputs > 2 && n->needs_grad[2]) {
    gin[2] = pt_raw_sum_to_shape(g, 1, PT_SHAPE(out_f));
    if (!gin[2]) return pt_error_code();
  }
  return PT_OK;
}

PT_OP_DEFINE(op_linear, "linear", linear_backward);

/* y = x·Wᵀ + bias (then GELU) on data: shape checks and one GEMM over
 * every row, the bias and GELU in the same pass. */
static pt_tensor *linear_data(pt_tensor *x, pt_tensor *w, pt_tensor *bias, bool gelu) {
  char s1[96], s2[96];
  if (w->ndim != 2 || x->ndim < 1 || x->shape[x->ndim - 1] != w->shape[1]) {
    pt_error(PT_ERR_SHAPE, "linear: input %s does not fit weight %s (want [..., in] and [out, in])",
             pt_shape_str(x, s1, sizeof s1), pt_shape_str(w, s2, sizeof s2));
    return NULL;
  }
  if (bias && (bias->ndim != 1 || bias->shape[0] != w->shape[0])) {
    pt_error(PT_ERR_SHAPE, "linear: bias %s does not fit weight %s",
             pt_shape_str(bias, s1, sizeof s1), pt_shape_str(w, s2, sizeof s2));
    return NULL;
  }
  int64_t in_f = w->shape[1], out_f = w->shape[0];
  int64_t rows = pt_numel(x) / (in_f ? in_f : 1);
  pt_tensor *xc = pt_raw_contiguous(x), *wc = pt_raw_contiguous(w);
  pt_tensor *bc = bias ? pt_raw_contiguous(bias) : NULL;
  int64_t oshape[PT_MAX_DIMS];
  for (int d = 0; d < x->ndim - 1; d++) oshape[d] = x->shape[d];
  oshape[x->ndim - 1] = out_f;
  pt_dtype odt = x->dtype == PT_F64 ? PT_F64 : PT_F32;
  pt_tensor *out = xc && wc && (bc || !bias) ? pt_empty(odt, x->ndim, oshape) : NULL;
  pt_status st = out ? PT_OK : pt_error_code();
  if (out && bc && bc->dtype != odt)
    st = pt_error(PT_ERR_DTYPE, "linear: bias is %s, the output %s", pt_dtype_name(bc->dtype),
                  pt_dtype_name(odt));
  if (st == PT_OK) {
    pt_gemm_desc g = {false, true, rows, out_f, in_f, 1.0, 0.0, xc->dtype, wc->dtype,
                      pt_data(xc), in_f, pt_data(wc), in_f, pt_data(out), out_f,
                      bc ? pt_data(bc) : NULL, gelu};
    st = pt_gemm_run(&g);
  }
  pt_tensor_free(xc);
  pt_tensor_free(wc);
  pt_tensor_free(bc);
  if (st != PT_OK) {
    pt_tensor_free(out);
    return NULL;
  }
  return out;
}

pt_tensor *pt_linear(pt_tensor *x, pt_tensor *w, pt_tensor *bias) {
  if (!x || !w) return NULL;
  pt_tensor *out = linear_data(x, w, bias, false);
  if (!out) return NULL;
  pt_status st;
  pt_node *n = pt_node_new(&op_linear, bias ? 3 : 2, (pt_tensor *[]){x, w, bias}, &st);
  if (n) {
    if (n->needs_grad[1]) st = pt_node_save(n, 0, x);
    if (st == PT_OK && n->needs_grad[0]) st = pt_node_save(n, 1, w);
  }
  return pt_node_finish(n, st, out);
}

/* ---- linear_gelu: y = gelu(p), p = x·Wᵀ + bias ----
 * Saved as linear's (saved[0] = x if W trains, saved[1] = W if x does) and
 * saved[2] = p, the pre-activation GELU's derivative needs: in bf16 when W
 * is bf16 (the frozen bf16 backbone), as autocast's bf16 linear outputs it,
 * which halves the largest activation a P-Tuning v2 step keeps (BERT-base:
 * 12 x 12.6 MB); else in p's own dtype. dp = g·gelu'(p), then linear's. */
static pt_status linear_gelu_backward(pt_node *n, const pt_tensor *g, pt_tensor **gin) {
  const pt_tensor *kept = n->saved[2];
  pt_tensor *p = kept->dtype == g->dtype ? pt_tensor_ref((pt_tensor *)kept) : pt_to_dtype(kept, g->dtype);
  pt_tensor *dp = p ? pt_raw_unary_backward(PT_UN_GELU, g, p, 0.0) : NULL;
  pt_tensor_free(p);
  if (!dp) return pt_error_code();
  pt_status st = linear_backward(n, dp, gin);
  pt_tensor_free(dp);
  return st;
}

PT_OP_DEFINE(op_linear_gelu, "linear_gelu", linear_gelu_backward);

pt_tensor *pt_linear_gelu(pt_tensor *x, pt_tensor *w, pt_tensor *bias) {
  if (!x || !w) return NULL;
  pt_tensor *in[3] = {x, w, bias};
  if (!pt_needs_node(bias ? 3 : 2, in)) return linear_data(x, w, bias, true); /* one GEMM */
  pt_tensor *p = linear_data(x, w, bias, false);
  pt_tensor *out = p ? pt_raw_unary(PT_UN_GELU, p, 0.0, "linear_gelu") : NULL;
  pt_tensor *kept = out && w->dtype == PT_BF16 ? pt_to_dtype(p, PT_BF16) : pt_tensor_ref(p);
  pt_tensor_free(p);
  pt_status st = out && kept ? PT_OK : pt_error_code();
  pt_node *n = st == PT_OK ? pt_node_new(&op_linear_gelu, bias ? 3 : 2, in, &st) : NULL;
  if (n) {
    if (n->needs_grad[1]) st = pt_node_save(n, 0, x);
    if (st == PT_OK && n->needs_grad[0]) st = pt_node_save(n, 1, w);
    if (st == PT_OK) st = pt_node_save(n, 2, kept);
  }
  pt_tensor_free(kept);
  if (!out) return NULL;
  return pt_node_finish(n, st, out);
}

/* ---- gradient-check cases ---- */

static int matmul_inputs(pt_rng *rng, int variant, pt_tensor **in) {
  switch (variant) {
    case 4: /* both operands read transposed: a [..,K,M]ᵀ · b [..,N,K]ᵀ */
    case 5: /* the same with b frozen */
      in[0] = pt_case_rand(rng, PT_DIMS(2, 4, 3), true);
      in[1] = pt_case_rand(rng, PT_DIMS(2, 5, 4), variant == 4);
      in[2] = pt_scalar(PT_I64, 1); /* marks the transposed form for matmul_fn */
      return 3;
    case 0: /* 2-D */
      in[0] = pt_case_rand(rng, PT_DIMS(3, 4), true);
      in[1] = pt_case_rand(rng, PT_DIMS(4, 5), true);
      break;
    case 1: /* batched with a broadcast 2-D right operand */
      in[0] = pt_case_rand(rng, PT_DIMS(2, 3, 4), true);
      in[1] = pt_case_rand(rng, PT_DIMS(4, 2), true);
      break;
    case 2: /* broadcast batch dims on both sides, strided left operand */
      in[0] = pt_case_rand_strided(rng, PT_DIMS(2, 1, 3, 4), true);
      in[1] = pt_case_rand(rng, PT_DIMS(3, 4, 2), true);
      break;
    default: /* frozen right operand */
      in[0] = pt_case_rand(rng, PT_DIMS(2, 3, 4), true);
      in[1] = pt_case_rand(rng, PT_DIMS(2, 4, 3), false);
  }
  return 2;
}

PT_CASE_FN(matmul_fn, n == 3 ? pt_matmul_t(in[0], in[1], true, true) : pt_matmul(in[0], in[1]))

static int linear_inputs(pt_rng *rng, int variant, pt_tensor **in) {
  in[0] = variant == 2 ? pt_case_rand_strided(rng, PT_DIMS(2, 3, 4), true)
                       : pt_case_rand(rng, PT_DIMS(2, 3, 4), true);
  in[1] = pt_case_rand(rng, PT_DIMS(5, 4), variant != 1); /* variant 1: frozen W */
  in[2] = pt_case_rand(rng, PT_DIMS(5), variant != 1);
  return 3;
}

PT_CASE_FN(linear_fn, pt_linear(in[0], in[1], in[2]))
PT_CASE_FN(linear_gelu_fn, pt_linear_gelu(in[0], in[1], in[2]))

const pt_op_case pt_op_cases_matmul[] = {
    {"matmul", matmul_inputs, matmul_fn, 6, 0, 0},
    {"linear", linear_inputs, linear_fn, 3, 0, 0},
    {"linear_gelu", linear_inputs, linear_gelu_fn, 3, 0, 0},
    {0},
};
