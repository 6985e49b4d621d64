/* Matrix products on data (no autograd). Every GEMM in ptune goes through
 * pt_gemm_run (pt_gemm is its short form), which runs it on one of two
 * libraries:
 *   - OpenBLAS (cblas_sgemm/dgemm), the OpenMP build;
 *   - oneDNN's matmul, which also takes bf16 operands (f32 accumulation)
 *     and adds a bias in the same pass.
 * Both run on libgomp's one pool with ptune's own loops. A GEMM called from
 * serial code uses every thread; GEMMs called inside a ptune parallel region
 * (small batched products) run single-threaded, one per thread.
 *
 * bf16: an operand may be BF16 (a frozen weight stored in half the memory);
 * the other F32 operand is rounded to bf16 for the product, which
 * accumulates in f32 into an F32 C, as PyTorch's bf16 autocast computes a
 * linear. oneDNN does this natively where the CPU has bf16 dot products
 * (AVX512_BF16, AMX); elsewhere the bf16 operand is widened to f32 and the
 * product runs in f32 (the same result up to f32 rounding, no faster than
 * f32 weights: pt_gemm_bf16_native() says which). */
#ifndef PT_MATMUL_H
#define PT_MATMUL_H

#include <stdbool.h>

#include "tensor/pt_tensor.h"

/* Which library runs the f32 GEMMs. AUTO picks per shape what was measured
 * faster (see pt_gemm_run); the others force one, for comparisons and tests.
 * Process-wide, like the thread count. */
typedef enum { PT_GEMM_AUTO = 0, PT_GEMM_OPENBLAS, PT_GEMM_ONEDNN } pt_gemm_backend;
void pt_gemm_set_backend(pt_gemm_backend b);
pt_gemm_backend pt_gemm_get_backend(void);
/* "auto", "openblas", "onednn"; parse fails with PT_ERR_ARG naming the value. */
const char *pt_gemm_backend_name(pt_gemm_backend b);
pt_status pt_gemm_backend_parse(const char *s, pt_gemm_backend *out);

/* Row-major C[M,N] = alpha·op(A)·op(B) + beta·C (+ bias[N] on every row,
 * then GELU when asked). op(A) is [M,K] (A stored [K,M] when trans_a),
 * op(B) is [K,N] (B stored [N,K] when trans_b). Dtypes: A and B both F64
 * (C F64), or each F32 or BF16 (C F32). A bias (C's dtype) and the GELU
 * need beta 0. On oneDNN they are post-ops of the
 * product (no pass of their own over C); on OpenBLAS the bias is copied
 * into C first and the GELU runs over C after. */
typedef struct {
  bool trans_a, trans_b;
  int64_t M, N, K;
  double alpha, beta;
  pt_dtype a_dtype, b_dtype;
  const void *A;
  int64_t lda;
  const void *B;
  int64_t ldb;
  void *C;
  int64_t ldc;
  const void *bias; /* NULL: none */
  bool gelu;        /* erf GELU of the result (PT_UN_GELU's values) */
} pt_gemm_desc;

/* Fails only on a bad descriptor (PT_ERR_DTYPE / PT_ERR_ARG) or when a bf16
 * operand's scratch copy cannot be allocated (PT_ERR_NOMEM). */
pt_status pt_gemm_run(const pt_gemm_desc *g);

/* The same for two F32 or two F64 operands, without a bias. */
void pt_gemm(pt_dtype dt, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
             double alpha, const void *A, int64_t lda, const void *B, int64_t ldb,
             double beta, void *C, int64_t ldc);

/* Whether bf16 products run natively (oneDNN found AVX512_BF16 or AMX). */
bool pt_gemm_bf16_native(void);
/* oneDNN's instruction set on this CPU ("avx512_core_amx", "avx2", ...;
 * ONEDNN_MAX_CPU_ISA caps it) and the implementation oneDNN picks for `g`
 * ("brg:avx512_core_bf16", "none" when it has none), into buf. */
const char *pt_gemm_isa(void);
const char *pt_gemm_impl(const pt_gemm_desc *g, char *buf, size_t cap);

/* GEMM calls and FLOPs (2·M·N·K each) since start; for tests and benches. */
uint64_t pt_gemm_calls(void);
double pt_gemm_flops(void);

/* a [..., M, K] (trans_a: a is [..., K, M]) times b [..., K, N] (trans_b:
 * [..., N, K]); batch dims broadcast. Any strides: operands whose last two
 * dims are row- or column-major go to BLAS without a copy. Returns a new
 * contiguous [batch..., M, N]. */
pt_tensor *pt_raw_matmul(const pt_tensor *a, const pt_tensor *b, bool trans_a, bool trans_b);

/* The same into an existing contiguous `out` of the result shape:
 * out = alpha * a·b + beta * out (beta 1 accumulates). */
pt_status pt_raw_matmul_into(pt_tensor *out, const pt_tensor *a, const pt_tensor *b,
                             bool trans_a, bool trans_b, double alpha, double beta);

#endif
