/* Differentiable ops: the functions models are written with.
 *
 * Each returns a new tensor (caller owns) or NULL on failure with the reason
 * in pt_error_message(); a NULL input makes the op return NULL at once, so a
 * chain can be checked at its end. Inputs are borrowed. F32 and F64
 * throughout; binary ops broadcast with NumPy rules.
 *
 * Each op's backward is defined beside its forward, and each op has a
 * gradient-check case in the op table (pt_op_table.h). */
#ifndef PT_OPS_H
#define PT_OPS_H

#include <stdbool.h>

#include "tensor/pt_tensor.h"

/* ---- arithmetic (ops_binary.c) ---- */
pt_tensor *pt_add(pt_tensor *a, pt_tensor *b);
pt_tensor *pt_sub(pt_tensor *a, pt_tensor *b);
pt_tensor *pt_mul(pt_tensor *a, pt_tensor *b);
pt_tensor *pt_div(pt_tensor *a, pt_tensor *b);

/* ---- matrix products (ops_matmul.c) ---- */
/* a [..., M, K] · b [..., K, N] with broadcast batch dims; trans_a/trans_b
 * read the last two dims transposed (no copy). */
pt_tensor *pt_matmul_t(pt_tensor *a, pt_tensor *b, bool trans_a, bool trans_b);
pt_tensor *pt_matmul(pt_tensor *a, pt_tensor *b);
/* x [..., in] · Wᵀ (W [out, in]) + bias [out] (bias may be NULL). With W
 * frozen, only W is saved and the weight-gradient GEMM never runs. */
pt_tensor *pt_linear(pt_tensor *x, pt_tensor *w, pt_tensor *bias);
/* gelu(linear(x, w, bias)) (erf GELU), one op. Without a gradient to
 * compute it is one GEMM with the bias and GELU in its epilogue, which
 * never writes the pre-activation; with one it keeps the pre-activation
 * for backward, in bf16 when w is bf16 (as autocast would). */
pt_tensor *pt_linear_gelu(pt_tensor *x, pt_tensor *w, pt_tensor *bias);

/* ---- reductions (ops_reduce.c) ---- */
/* ndims == 0 reduces over every dim. */
pt_tensor *pt_sum(pt_tensor *x, int ndims, const int *dims, bool keepdim);
pt_tensor *pt_mean(pt_tensor *x, int ndims, const int *dims, bool keepdim);

/* ---- views and layout (ops_view.c); results share storage when they can ---- */
pt_tensor *pt_view(pt_tensor *x, int ndim, const int64_t *shape); /* one -1 allowed */
pt_tensor *pt_reshape(pt_tensor *x, int ndim, const int64_t *shape); /* copies if needed */
pt_tensor *pt_permute(pt_tensor *x, const int *perm);
pt_tensor *pt_transpose(pt_tensor *x, int d0, int d1);
pt_tensor *pt_narrow(pt_tensor *x, int dim, int64_t start, int64_t len);
pt_tensor *pt_expand(pt_tensor *x, int ndim, const int64_t *shape);
pt_tensor *pt_unsqueeze(pt_tensor *x, int dim);
pt_tensor *pt_squeeze(pt_tensor *x, int dim);
pt_tensor *pt_contiguous(pt_tensor *x);

#endif
