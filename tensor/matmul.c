/* Batched, broadcasting, stride-aware matmul over the one GEMM entry,
 * pt_gemm_run, and the choice of library behind it. */
#include "tensor/pt_matmul.h"

#include <cblas.h>
#include <omp.h>
#include <stdatomic.h>
#include <string.h>

#include "tensor/gemm_internal.h"
#include "tensor/pt_threads.h"
#include "tensor/pt_unary.h"

static _Atomic uint64_t gemm_calls;
static _Atomic uint64_t gemm_flops_bits; /* double stored as integer FLOPs */
static _Atomic int backend_choice = PT_GEMM_AUTO;

static const char *const backend_names[] = {"auto", "openblas", "onednn"};

void pt_gemm_set_backend(pt_gemm_backend b) { atomic_store(&backend_choice, (int)b); }
pt_gemm_backend pt_gemm_get_backend(void) { return (pt_gemm_backend)atomic_load(&backend_choice); }
const char *pt_gemm_backend_name(pt_gemm_backend b) {
  return (unsigned)b < 3 ? backend_names[b] : "unknown";
}

pt_status pt_gemm_backend_parse(const char *s, pt_gemm_backend *out) {
  for (int i = 0; i < 3; i++)
    if (!strcmp(s, backend_names[i])) return *out = (pt_gemm_backend)i, PT_OK;
  return pt_error(PT_ERR_ARG, "unknown GEMM backend '%s' (auto, openblas or onednn)", s);
}

bool pt_gemm_bf16_native(void) { return pt_onednn_native_bf16(); }
const char *pt_gemm_isa(void) { return pt_onednn_available() ? pt_onednn_isa() : "none"; }
const char *pt_gemm_impl(const pt_gemm_desc *g, char *buf, size_t cap) {
  return pt_onednn_impl(g, buf, cap);
}

/* AUTO's choice for an f32 product: oneDNN where it was measured faster.
 * Inside a parallel region (attention's per-head products) OpenBLAS runs
 * each on its own thread without oneDNN's lock. Products of fewer than 64
 * rows (task heads) run on OpenBLAS too: oneDNN builds a primitive, JIT
 * kernels included, for every new shape, and a server's mixed batches give
 * each adapter's head a new row count every pass (ptune serve, 8
 * connections: ~5% of its time was oneDNN building them). */
static bool auto_prefers_onednn(const pt_gemm_desc *g) {
  if (omp_in_parallel() || g->a_dtype != PT_F32) return false;
  return g->bias != NULL && g->M >= 64;
}

/* The stored matrix of an operand: rows x cols with leading dimension ld. */
static void stored_dims(const pt_gemm_desc *g, bool is_a, int64_t *rows, int64_t *cols) {
  bool t = is_a ? g->trans_a : g->trans_b;
  int64_t r = is_a ? g->M : g->K, c = is_a ? g->K : g->N;
  *rows = t ? c : r;
  *cols = t ? r : c;
}

static void blas_run(const pt_gemm_desc *g) {
  enum CBLAS_TRANSPOSE opa = g->trans_a ? CblasTrans : CblasNoTrans;
  enum CBLAS_TRANSPOSE opb = g->trans_b ? CblasTrans : CblasNoTrans;
  double beta = g->beta;
  if (g->bias) { /* every row of C starts as the bias; the product adds to it */
    size_t esz = pt_dtype_size(g->a_dtype), row = (size_t)g->N * esz;
#pragma omp parallel for schedule(static) if (g->M * g->N >= 65536 && !omp_in_parallel())
    for (int64_t r = 0; r < g->M; r++)
      memcpy((char *)g->C + (size_t)(r * g->ldc) * esz, g->bias, row);
    beta = 1.0;
  }
  if (g->a_dtype == PT_F64) {
    cblas_dgemm(CblasRowMajor, opa, opb, (int)g->M, (int)g->N, (int)g->K, g->alpha, g->A,
                (int)g->lda, g->B, (int)g->ldb, beta, g->C, (int)g->ldc);
    if (g->gelu) pt_gelu_rows(PT_F64, g->C, g->M, g->N, g->ldc);
    return;
  }
  cblas_sgemm(CblasRowMajor, opa, opb, (int)g->M, (int)g->N, (int)g->K, (float)g->alpha, g->A,
              (int)g->lda, g->B, (int)g->ldb, (float)beta, g->C, (int)g->ldc);
  if (g->gelu) pt_gelu_rows(PT_F32, g->C, g->M, g->N, g->ldc);
}

/* An f32 (or f64) product on the chosen library. */
static void run_same_dtype(const pt_gemm_desc *g) {
  pt_gemm_backend b = pt_gemm_get_backend();
  bool dnnl = b == PT_GEMM_ONEDNN || (b == PT_GEMM_AUTO && auto_prefers_onednn(g));
  if (dnnl && pt_onednn_gemm(g)) return;
  blas_run(g);
}

/* Copies operand A (is_a) or B of `h` into a new contiguous buffer of dtype
 * dt (*scratch, freed by the caller) and points `h` at the copy. */
static pt_status convert_operand(pt_gemm_desc *h, bool is_a, pt_dtype dt, void **scratch) {
  int64_t rows, cols;
  stored_dims(h, is_a, &rows, &cols);
  void *buf = pt_alloc((size_t)(rows * cols) * pt_dtype_size(dt));
  if (!buf) return pt_error(PT_ERR_NOMEM, "gemm: no memory for a %lld x %lld %s operand",
                            (long long)rows, (long long)cols, pt_dtype_name(dt));
  const void *src = is_a ? h->A : h->B;
  int64_t ld = is_a ? h->lda : h->ldb;
  if (dt == PT_BF16)
    pt_f32_to_bf16_rows(src, ld, rows, cols, buf);
  else
    pt_bf16_to_f32_rows(src, ld, rows, cols, buf);
  *scratch = buf;
  if (is_a) {
    h->A = buf;
    h->lda = cols;
    h->a_dtype = dt;
  } else {
    h->B = buf;
    h->ldb = cols;
    h->b_dtype = dt;
  }
  return PT_OK;
}

/* Converts every operand of h that is not `dt` into a scratch copy. */
static pt_status convert_operands(pt_gemm_desc *h, pt_dtype dt, void *scratch[2]) {
  pt_status st = PT_OK;
  if (h->a_dtype != dt) st = convert_operand(h, true, dt, &scratch[0]);
  if (st == PT_OK && h->b_dtype != dt) st = convert_operand(h, false, dt, &scratch[1]);
  return st;
}

/* A product with a bf16 operand: natively in bf16 (the f32 operand rounded
 * to bf16 first), else with the bf16 operand widened to f32. */
static pt_status run_bf16(const pt_gemm_desc *g) {
  if (pt_gemm_get_backend() != PT_GEMM_OPENBLAS && pt_onednn_native_bf16()) {
    pt_gemm_desc h = *g;
    void *scratch[2] = {NULL, NULL};
    pt_status st = convert_operands(&h, PT_BF16, scratch);
    bool done = st == PT_OK && pt_onednn_gemm(&h);
    pt_free_bytes(scratch[0]);
    pt_free_bytes(scratch[1]);
    if (st != PT_OK || done) return st;
  }
  pt_gemm_desc h = *g;
  void *scratch[2] = {NULL, NULL};
  pt_status st = convert_operands(&h, PT_F32, scratch);
  if (st == PT_OK) run_same_dtype(&h);
  pt_free_bytes(scratch[0]);
  pt_free_bytes(scratch[1]);
  return st;
}

/* K = 0: C = beta·C, or the bias (then GELU) on every row. */
static void empty_product(const pt_gemm_desc *g) {
  for (int64_t r = 0; r < g->M; r++)
    for (int64_t c = 0; c < g->N; c++) {
      int64_t i = r * g->ldc + c;
      if (g->a_dtype == PT_F64) {
        double *C = g->C;
        C[i] = g->bias ? ((const double *)g->bias)[c] : g->beta == 0 ? 0.0 : g->beta * C[i];
      } else {
        float *C = g->C;
        C[i] = g->bias ? ((const float *)g->bias)[c] : g->beta == 0 ? 0.0f : (float)g->beta * C[i];
      }
    }
  if (g->gelu) pt_gelu_rows(g->a_dtype == PT_F64 ? PT_F64 : PT_F32, g->C, g->M, g->N, g->ldc);
}

pt_status pt_gemm_run(const pt_gemm_desc *g) {
  if (!omp_in_parallel()) pt_threads_adapt(); /* serial code between GEMMs: a safe moment */
  atomic_fetch_add(&gemm_calls, 1);
  atomic_fetch_add(&gemm_flops_bits, (uint64_t)(2 * g->M * g->N * g->K));
  bool f64 = g->a_dtype == PT_F64 || g->b_dtype == PT_F64;
  bool ok_dt = f64 ? g->a_dtype == g->b_dtype
                   : (g->a_dtype == PT_F32 || g->a_dtype == PT_BF16) &&
                         (g->b_dtype == PT_F32 || g->b_dtype == PT_BF16);
  if (!ok_dt)
    return pt_error(PT_ERR_DTYPE, "gemm: operand dtypes %s and %s (need F32/BF16 each, or F64 both)",
                    pt_dtype_name(g->a_dtype), pt_dtype_name(g->b_dtype));
  if ((g->bias || g->gelu) && g->beta != 0.0)
    return pt_error(PT_ERR_ARG, "gemm: a bias or a GELU needs beta 0");
  if (g->M == 0 || g->N == 0) return PT_OK;
  if (g->K == 0) { /* an empty sum: C = beta·C (+ bias) */
    empty_product(g);
    return PT_OK;
  }
  if (g->a_dtype == PT_BF16 || g->b_dtype == PT_BF16) return run_bf16(g);
  run_same_dtype(g);
  return PT_OK;
}

void pt_gemm(pt_dtype dt, bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha,
             const void *A, int64_t lda, const void *B, int64_t ldb, double beta, void *C,
             int64_t ldc) {
  pt_gemm_desc g = {ta, tb, M, N, K, alpha, beta, dt, dt, A, lda, B, ldb, C, ldc, NULL, false};
  pt_gemm_run(&g); /* two F32 or F64 operands without a bias cannot fail */
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

/* The product's dtype: F64 for two F64 operands, F32 for F32/BF16 ones. */
static bool matmul_result_dtype(pt_dtype a, pt_dtype b, pt_dtype *out) {
  bool fa = a == PT_F32 || a == PT_BF16, fb = b == PT_F32 || b == PT_BF16;
  *out = a == PT_F64 && b == PT_F64 ? PT_F64 : PT_F32;
  return (a == PT_F64 && b == PT_F64) || (fa && fb);
}

pt_status pt_raw_matmul_into(pt_tensor *out, const pt_tensor *a_in, const pt_tensor *b_in,
                             bool ta, bool tb, double alpha, double beta) {
  char s1[96], s2[96];
  if (a_in->ndim < 2 || b_in->ndim < 2)
    return pt_error(PT_ERR_SHAPE, "matmul: needs at least 2-D operands, got %s and %s",
                    pt_shape_str(a_in, s1, sizeof s1), pt_shape_str(b_in, s2, sizeof s2));
  pt_dtype odt;
  if (!matmul_result_dtype(a_in->dtype, b_in->dtype, &odt) || out->dtype != odt)
    return pt_error(PT_ERR_DTYPE,
                    "matmul: dtypes %s and %s into %s (need F32 or BF16 each into F32, or F64)",
                    pt_dtype_name(a_in->dtype), pt_dtype_name(b_in->dtype),
                    pt_dtype_name(out->dtype));
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
  size_t asz = pt_dtype_size(a->dtype), bsz = pt_dtype_size(b->dtype), osz = pt_dtype_size(odt);
  pt_gemm_desc g = {opa, opb, M, N, Ka, alpha, beta, a->dtype, b->dtype,
                    pt_data(a), la.ld, pt_data(b), lb.ld, pt_data(out), N, NULL, false};
  pt_status st = PT_OK;

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
    g.M = M * nbatches;
    st = pt_gemm_run(&g);
  } else {
    char *abase = a->storage->data, *bbase = b->storage->data, *obase = pt_data(out);
    _Atomic int failed = PT_OK;
#pragma omp parallel for schedule(static) if (nbatches > 1)
    for (int64_t i = 0; i < nbatches; i++) {
      int64_t ao = a->offset, bo = b->offset, rem = i;
      for (int d = nbatch - 1; d >= 0; d--) {
        int64_t idx = rem % batch[d];
        rem /= batch[d];
        ao += idx * a->strides[d];
        bo += idx * b->strides[d];
      }
      pt_gemm_desc gi = g;
      gi.A = abase + (size_t)ao * asz;
      gi.B = bbase + (size_t)bo * bsz;
      gi.C = obase + (size_t)(i * M * N) * osz;
      pt_status s = pt_gemm_run(&gi);
      if (s != PT_OK) failed = s;
    }
    if (failed != PT_OK) /* the message was set on the thread that failed */
      st = pt_error(failed, "matmul: a batched bf16 product ran out of memory");
  }
  pt_tensor_free(a);
  pt_tensor_free(b);
  return st;
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
  pt_dtype odt;
  matmul_result_dtype(a->dtype, b->dtype, &odt); /* checked by pt_raw_matmul_into */
  pt_tensor *out = pt_empty(odt, nbatch + 2, shape);
  if (!out) return NULL;
  if (pt_raw_matmul_into(out, a, b, ta, tb, 1.0, 0.0) != PT_OK) {
    pt_tensor_free(out);
    return NULL;
  }
  return out;
}
