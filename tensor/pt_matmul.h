/* Matrix products on data (no autograd). Every GEMM in ptune goes through
 * pt_gemm, which calls cblas_sgemm/cblas_dgemm.
 *
 * Threading: OpenBLAS is the OpenMP build, so it shares libgomp's pool with
 * ptune's own loops. A GEMM called from serial code uses every thread; GEMMs
 * called inside a ptune parallel region (small batched products) run
 * single-threaded, one per thread. */
#ifndef PT_MATMUL_H
#define PT_MATMUL_H

#include <stdbool.h>

#include "tensor/pt_tensor.h"

/* Row-major C[M,N] = alpha * op(A) * op(B) + beta * C. `dt` is PT_F32 or
 * PT_F64 and selects the pointer types. */
void pt_gemm(pt_dtype dt, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
             double alpha, const void *A, int64_t lda, const void *B, int64_t ldb,
             double beta, void *C, int64_t ldc);

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
