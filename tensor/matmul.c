/* Batched, broadcasting, stride-aware matmul over one cblas wrapper. */
#include "tensor/pt_matmul.h"

#include <cblas.h>
#include <omp.h>
#include <stdatomic.h>
#include <string.h>

static _Atomic uint64_t gemm_calls;
static _Atomic uint64_t gemm_flops_bits; /* double stored as integer FLOPs */

void pt_gemm(pt_dtype dt, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
             double alpha, const void *A, int64_t lda, const void *B, int64_t ldb,
             double beta, void *C, int64_t ldc) {
  atomic_fetch_add(&gemm_calls, 1);
  atomic_fetch_add(&gemm_flops_bits, (uint64_t)(2 * M * N * K));
  if (M == 0 || N == 0) return;
  enum CBLAS_TRANSPOSE opa = ta ? CblasTrans : CblasNoTrans;
  enum CBLAS_TRANSPOSE opb = tb ? CblasTrans : CblasNoTrans;
  if (dt == PT_F32)
    cblas_sgemm(CblasRowMajor, opa, opb, (int)M, (int)N, (int)K, (float)alpha, A, (int)lda,
                B, (int)ldb, (float)beta, C, (int)ldc);
  else
    cblas_dgemm(CblasRowMajor, opa, opb, (int)M, (int)N, (int)K, alpha, A, (int)lda, B,
                (int)ldb, beta, C, (int)ldc);
}

uint64_t pt_gemm_calls(void) { return atomic_load(&gemm_calls); }
double pt_gemm_flops(void) { return (double)atomic_load(&gemm_flops_bits); }

/* How BLAS can read the last two dims of `t` as a (rows x cols) matrix:
 * row-major (ld = stride of rows) or column-major (a transposed view). */
typedef struct {
  bool ok, transposed;
  int64_t ld;
} blas_layout;

static blas_layout layout_of(const pt_tensor *t) {
  int n = t->ndim;
  int64_t rs = t->strides[n - 2], cs = t->strides[n - 1];
  int64_t rows = t->shape[n - 2], cols = t->shape[n - 1];
  blas_layout l = {false, false, 0};
  if ((cs == 1 || cols == 1) && rs >= (cols > 1 ? cols : 1)) {
    l.ok = true;
    l.ld = rs;
  } else if ((rs == 1 || rows == 1) && cs >= (rows > 1 ? rows : 1)) {
    l.ok = true;
    l.transposed = true;
    l.ld = cs;
  }
  if (l.ld < 1) l.ld = 1;
  return l;
}

pt_status pt_raw_matmul_into(pt_tensor *out, const pt_tensor *a_in, const pt_tensor *b_in,
                             bool ta, bool tb, double alpha, double beta) {
  char s1[96], s2[96];
  if (a_in->ndim < 2 || b_in->ndim < 2)
    return pt_error(PT_ERR_SHAPE, "matmul: needs at least 2-D operands, got %s and %s",
                    pt_shape_str(a_in, s1, sizeof s1), pt_shape_str(b_in, s2, sizeof s2));
  if (a_in->dtype != b_in->dtype || !pt_dtype_is_float(a_in->dtype) || out->dtype != a_in->dtype)
    return pt_error(PT_ERR_DTYPE, "matmul: dtypes %s and %s (need matching F32 or F64)",
                    pt_dtype_name(a_in->dtype), pt_dtype_name(b_in->dtype));
  int na = a_in->ndim, nb = b_in->ndim;
  int64_t M = ta ? a_in->shape[na - 1] : a_in->shape[na - 2];
  int64_t Ka = ta ? a_in->shape[na - 2] : a_in->shape[na - 1];
  int64_t Kb = tb ? b_in->shape[nb - 1] : b_in->shape[nb - 2];
  int64_t N = tb ? b_in->shape[nb - 2] : b_in->shape[nb - 1];
  if (Ka != Kb)
    return pt_error(PT_ERR_SHAPE, "matmul: inner dimensions differ: %s%s x %s%s",
                    pt_shape_str(a_in, s1, sizeof s1), ta ? "^T" : "",
                    pt_shape_str(b_in, s2, sizeof s2), tb ? "^T" : "");
  int nbatch;
  int64_t batch[PT_MAX_DIMS];
  PT_TRY(pt_broadcast_shape("matmul", na - 2, a_in->shape, nb - 2, b_in->shape, &nbatch, batch));
  int64_t nbatches = 1;
  for (int d = 0; d < nbatch; d++) nbatches *= batch[d];
  if (out->ndim != nbatch + 2 || !pt_is_contiguous(out) || out->shape[nbatch] != M ||
      out->shape[nbatch + 1] != N)
    return pt_error(PT_ERR_SHAPE, "matmul: output %s does not fit", pt_shape_str(out, s1, sizeof s1));
  for (int d = 0; d < nbatch; d++)
    if (out->shape[d] != batch[d])
      return pt_error(PT_ERR_SHAPE, "matmul: output %s does not fit", pt_shape_str(out, s1, sizeof s1));
  if (M == 0 || N == 0) return PT_OK;
  if (Ka == 0) { /* an empty sum: out = beta * out */
    int64_t n = pt_numel(out);
    for (int64_t i = 0; i < n; i++) pt_set(out, i, beta == 0 ? 0.0 : beta * pt_get(out, i));
    return PT_OK;
  }

  /* Broadcast both operands to [batch..., rows, cols] views. */
  int64_t ashape[PT_MAX_DIMS], bshape[PT_MAX_DIMS];
  memcpy(ashape, batch, sizeof(int64_t) * (size_t)nbatch);
  memcpy(bshape, batch, sizeof(int64_t) * (size_t)nbatch);
  ashape[nbatch] = a_in->shape[na - 2];
  ashape[nbatch + 1] = a_in->shape[na - 1];
  bshape[nbatch] = b_in->shape[nb - 2];
  bshape[nbatch + 1] = b_in->shape[nb - 1];
  pt_tensor *a = pt_raw_expand(a_in, nbatch + 2, ashape);
  pt_tensor *b = pt_raw_expand(b_in, nbatch + 2, bshape);
  if (!a || !b) {
    pt_tensor_free(a);
    pt_tensor_free(b);
    return pt_error_code();
  }
  blas_layout la = layout_of(a), lb = layout_of(b);
  if (!la.ok) {
    pt_tensor *c = pt_raw_clone(a);
    pt_tensor_free(a);
    a = c;
    la = layout_of(a);
  }
  if (!lb.ok) {
    pt_tensor *c = pt_raw_clone(b);
    pt_tensor_free(b);
    b = c;
    lb = layout_of(b);
  }
  if (!a || !b) {
    pt_tensor_free(a);
    pt_tensor_free(b);
    return PT_ERR_NOMEM;
  }
  bool opa = ta != la.transposed, opb = tb != lb.transposed;
  size_t esz = pt_dtype_size(a->dtype);

  /* One GEMM over all batches when b is the same matrix for every batch and
   * a's batch rows stack with stride ld (x·Wᵀ over [B,S,H]). */
  bool b_shared = true;
  for (int d = 0; d < nbatch; d++)
    if (b->strides[d] != 0 && b->shape[d] != 1) b_shared = false;
  bool a_stacks = !opa && !la.transposed;
  int64_t expect = a->strides[nbatch] * a->shape[nbatch];
  for (int d = nbatch - 1; d >= 0 && a_stacks; d--) {
    if (a->shape[d] != 1 && a->strides[d] != expect) a_stacks = false;
    expect *= a->shape[d];
  }
  if (nbatches == 1 || (b_shared && a_stacks)) {
    pt_gemm(a->dtype, opa, opb, M * nbatches, N, Ka, alpha, pt_data(a), la.ld, pt_data(b),
            lb.ld, beta, pt_data(out), N);
  } else {
    char *abase = a->storage->data, *bbase = b->storage->data, *obase = pt_data(out);
#pragma omp parallel for schedule(static) if (nbatches > 1)
    for (int64_t i = 0; i < nbatches; i++) {
      int64_t ao = a->offset, bo = b->offset, rem = i;
      for (int d = nbatch - 1; d >= 0; d--) {
        int64_t idx = rem % batch[d];
        rem /= batch[d];
        ao += idx * a->strides[d];
        bo += idx * b->strides[d];
      }
      pt_gemm(a->dtype, opa, opb, M, N, Ka, alpha, abase + (size_t)ao * esz, la.ld,
              bbase + (size_t)bo * esz, lb.ld, beta, obase + (size_t)(i * M * N) * esz, N);
    }
  }
  pt_tensor_free(a);
  pt_tensor_free(b);
  return PT_OK;
}

pt_tensor *pt_raw_matmul(const pt_tensor *a, const pt_tensor *b, bool ta, bool tb) {
  char s1[96], s2[96];
  if (a->ndim < 2 || b->ndim < 2) {
    pt_error(PT_ERR_SHAPE, "matmul: needs at least 2-D operands, got %s and %s",
             pt_shape_str(a, s1, sizeof s1), pt_shape_str(b, s2, sizeof s2));
    return NULL;
  }
  int nbatch;
  int64_t shape[PT_MAX_DIMS];
  if (pt_broadcast_shape("matmul", a->ndim - 2, a->shape, b->ndim - 2, b->shape, &nbatch,
                         shape) != PT_OK)
    return NULL;
  shape[nbatch] = ta ? a->shape[a->ndim - 1] : a->shape[a->ndim - 2];
  shape[nbatch + 1] = tb ? b->shape[b->ndim - 2] : b->shape[b->ndim - 1];
  pt_tensor *out = pt_empty(a->dtype, nbatch + 2, shape);
  if (!out) return NULL;
  if (pt_raw_matmul_into(out, a, b, ta, tb, 1.0, 0.0) != PT_OK) {
    pt_tensor_free(out);
    return NULL;
  }
  return out;
}
