/* The one GEMM entry (tensor/pt_matmul.h): both libraries and AUTO against
 * a double reference, bf16 operands natively or widened, the bias, the
 * empty cases and the errors; which instruction set oneDNN runs on
 * (meson also runs this suite under ONEDNN_MAX_CPU_ISA=AVX2 and
 * AVX512_CORE_BF16 to exercise the dispatch of an older CPU); and the
 * adaptive thread count with a busy process beside it.
 *
 * Tolerance, derived rather than guessed: a sum of K products computed in
 * f32 in any order is within γ_K·Σ|a_k·b_k| of the exact sum, γ_K ≈
 * K·2^-24 (Higham, Accuracy and Stability, §3.1); with alpha, beta and a
 * bias adding a few roundings more, each element is checked against
 * (K + 4)·2^-24·(Σ|a·b| + |beta·c| + |bias|), twice that for slack. bf16
 * products are exact in f32 (8-bit significands), so the same bound holds
 * against a reference built from the bf16-rounded operands. */
#include <check.h>
#include <stdio.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dnnl.h>

#include "ptune.h"

/* The GELU's own error against 0.5·x·erfc(-x/√2) in double: ptune's and
 * oneDNN's gelu_erf post-op both measured within 3.7e-7 absolute over
 * [-12, 12] (65536 points). */
#define GELU_ERR 1e-6

typedef struct {
  bool ta, tb;
  int64_t M, N, K, pad; /* pad: extra columns of every leading dimension */
  double alpha, beta;
  bool bias, gelu;
} gemm_case;

static const gemm_case cases[] = {
    {false, false, 7, 5, 3, 0, 1.0, 0.0, false, false},
    {false, true, 33, 17, 65, 3, 1.0, 0.0, true, false},
    {true, false, 20, 40, 31, 1, 0.5, 1.0, false, false},
    {true, true, 9, 64, 128, 0, 1.0, 0.5, false, false},
    {false, true, 128, 96, 64, 0, 1.0, 0.0, true, false},
    {false, false, 64, 300, 48, 5, -2.0, 0.0, false, false},
    {false, false, 1, 1, 1, 0, 1.0, 0.0, true, false},
    /* the linear + GELU epilogue (inference's FFN-in) */
    {false, true, 128, 96, 64, 0, 1.0, 0.0, true, true},
    {false, true, 37, 50, 19, 2, 1.0, 0.0, false, true},
};

/* Stored operand: rows x cols with leading dimension cols + pad. */
static float *operand(pt_rng *rng, int64_t rows, int64_t cols, int64_t pad, bool round_bf16,
                      uint16_t **bf) {
  int64_t ld = cols + pad;
  float *x = malloc(sizeof(float) * (size_t)(rows * ld));
  *bf = malloc(sizeof(uint16_t) * (size_t)(rows * ld));
  for (int64_t i = 0; i < rows * ld; i++) {
    x[i] = (float)(2.0 * pt_rng_uniform(rng) - 1.0);
    (*bf)[i] = pt_f32_to_bf16(x[i]);
    if (round_bf16) x[i] = pt_bf16_to_f32((*bf)[i]);
  }
  return x;
}

/* Runs the case with A/B dtypes (a_dt, b_dt) and checks every element
 * against a double reference on `ra`/`rb` (what the product should see). */
static void check_case(const gemm_case *c, pt_dtype a_dt, pt_dtype b_dt, bool round_a,
                       uint64_t seed) {
  pt_rng rng;
  pt_rng_init(&rng, seed);
  int64_t ar = c->ta ? c->K : c->M, ac = c->ta ? c->M : c->K;
  int64_t br = c->tb ? c->N : c->K, bc = c->tb ? c->K : c->N;
  uint16_t *abf, *bbf;
  float *a = operand(&rng, ar, ac, c->pad, false, &abf);
  float *b = operand(&rng, br, bc, c->pad, b_dt == PT_BF16, &bbf);
  int64_t lda = ac + c->pad, ldb = bc + c->pad, ldc = c->N + c->pad;
  float *C = malloc(sizeof(float) * (size_t)(c->M * ldc)), *bias = malloc(sizeof(float) * (size_t)c->N);
  for (int64_t i = 0; i < c->M * ldc; i++) C[i] = (float)(pt_rng_uniform(&rng) - 0.5);
  for (int64_t j = 0; j < c->N; j++) bias[j] = (float)(pt_rng_uniform(&rng) - 0.5);
  double *ref = malloc(sizeof(double) * (size_t)(c->M * c->N));
  double *mag = malloc(sizeof(double) * (size_t)(c->M * c->N));
  for (int64_t i = 0; i < c->M; i++)
    for (int64_t j = 0; j < c->N; j++) {
      double s = 0, m = 0;
      for (int64_t k = 0; k < c->K; k++) {
        int64_t ia = c->ta ? k * lda + i : i * lda + k, ib = c->tb ? j * ldb + k : k * ldb + j;
        double av = a_dt == PT_BF16 || round_a ? pt_bf16_to_f32(abf[ia]) : a[ia];
        s += av * b[ib];
        m += fabs(av * b[ib]);
      }
      double beta_c = c->beta * C[i * ldc + j], bv = c->bias ? bias[j] : 0;
      double v = c->alpha * s + beta_c + bv;
      ref[i * c->N + j] = c->gelu ? 0.5 * v * erfc(-v * M_SQRT1_2) : v;
      mag[i * c->N + j] = fabs(c->alpha) * m + fabs(beta_c) + fabs(bv);
    }
  pt_gemm_desc g = {c->ta, c->tb, c->M, c->N, c->K, c->alpha, c->beta, a_dt, b_dt,
                    a_dt == PT_BF16 ? (void *)abf : (void *)a, lda,
                    b_dt == PT_BF16 ? (void *)bbf : (void *)b, ldb, C, ldc, c->bias ? bias : NULL,
                    c->gelu};
  ck_assert_msg(pt_gemm_run(&g) == PT_OK, "%s", pt_error_message());
  double worst = 0;
  for (int64_t i = 0; i < c->M; i++)
    for (int64_t j = 0; j < c->N; j++) {
      double err = fabs(C[i * ldc + j] - ref[i * c->N + j]);
      double tol = 2.0 * (double)(c->K + 4) * 0x1p-24 * mag[i * c->N + j] + 1e-30;
      if (c->gelu) tol = 1.13 * tol + GELU_ERR; /* |gelu'| <= 1.13 */
      if (err / tol > worst) worst = err / tol;
      ck_assert_msg(err <= tol,
                    "%s %c%c %lldx%lldx%lld %s x %s: C[%lld,%lld] = %.9g, want %.9g (tol %.3g)",
                    pt_gemm_backend_name(pt_gemm_get_backend()), c->ta ? 'T' : 'N', c->tb ? 'T' : 'N',
                    (long long)c->M, (long long)c->N, (long long)c->K, pt_dtype_name(a_dt),
                    pt_dtype_name(b_dt), (long long)i, (long long)j, C[i * ldc + j],
                    ref[i * c->N + j], tol);
    }
  /* the padding columns of C are never written */
  for (int64_t i = 0; i < c->M; i++)
    for (int64_t j = c->N; j < ldc; j++) ck_assert(fabsf(C[i * ldc + j]) <= 0.5f);
  free(a), free(b), free(abf), free(bbf), free(C), free(bias), free(ref), free(mag);
}

static const pt_gemm_backend backends[] = {PT_GEMM_OPENBLAS, PT_GEMM_ONEDNN, PT_GEMM_AUTO};

START_TEST(f32_backends_match_the_reference) {
  pt_gemm_set_backend(backends[_i]);
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
    check_case(&cases[k], PT_F32, PT_F32, false, 10 + k);
  pt_gemm_set_backend(PT_GEMM_AUTO);
}
END_TEST

/* A bf16 weight (B) with an f32 activation (A): natively the activation is
 * rounded to bf16 too; widened (no bf16 instructions, or OpenBLAS forced)
 * it is used as it is. Both operands bf16 works as well. */
START_TEST(bf16_operands_natively_or_widened) {
  pt_gemm_set_backend(backends[_i]);
  bool native = pt_gemm_bf16_native() && backends[_i] != PT_GEMM_OPENBLAS;
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    check_case(&cases[k], PT_F32, PT_BF16, native, 20 + k);
    check_case(&cases[k], PT_BF16, PT_BF16, true, 30 + k);
  }
  pt_gemm_set_backend(PT_GEMM_AUTO);
}
END_TEST

START_TEST(empty_products_and_bad_descriptors) {
  float C[6] = {1, 2, 3, 4, 5, 6}, bias[3] = {7, 8, 9}, A[1] = {1}, B[1] = {1};
  pt_gemm_desc g = {false, false, 2, 3, 0, 1.0, 0.5, PT_F32, PT_F32, A, 1, B, 3, C, 3, NULL, false};
  ck_assert_int_eq(pt_gemm_run(&g), PT_OK); /* K = 0: C = beta·C */
  ck_assert(C[0] == 0.5f && C[5] == 3.0f);
  g.beta = 0.0;
  g.bias = bias;
  ck_assert_int_eq(pt_gemm_run(&g), PT_OK); /* K = 0 with a bias: every row is the bias */
  ck_assert(C[0] == 7.0f && C[4] == 8.0f && C[5] == 9.0f);
  g.beta = 1.0;
  ck_assert_int_eq(pt_gemm_run(&g), PT_ERR_ARG);
  ck_assert(strstr(pt_error_message(), "bias or a GELU needs beta 0") != NULL);
  g.bias = NULL;
  g.b_dtype = PT_F64;
  ck_assert_int_eq(pt_gemm_run(&g), PT_ERR_DTYPE);
  ck_assert(strstr(pt_error_message(), "F32 and F64") != NULL);
  g.a_dtype = g.b_dtype = PT_I64;
  ck_assert_int_eq(pt_gemm_run(&g), PT_ERR_DTYPE);
  pt_gemm_backend b;
  ck_assert_int_eq(pt_gemm_backend_parse("onednn", &b), PT_OK);
  ck_assert_int_eq(b, PT_GEMM_ONEDNN);
  ck_assert_int_eq(pt_gemm_backend_parse("mkl", &b), PT_ERR_ARG);
  ck_assert(strstr(pt_error_message(), "'mkl'") != NULL);
}
END_TEST

/* pt_linear_gelu: fused without a gradient (within the two GELUs'
 * difference of linear + gelu), linear then gelu with one (the same values,
 * and a graph); F64 fused is exactly F64 unfused (OpenBLAS and ptune's
 * GELU either way). */
START_TEST(linear_gelu_fuses_only_without_a_gradient) {
  pt_rng rng;
  pt_rng_init(&rng, 4);
  for (int b = 0; b < 3; b++) {
    pt_gemm_set_backend(backends[b]);
    for (int d = 0; d < 2; d++) {
      pt_dtype dt = d ? PT_F64 : PT_F32;
      pt_tensor *x = pt_randn(&rng, dt, PT_DIMS(2, 3, 8)), *w = pt_randn(&rng, dt, PT_DIMS(5, 8));
      pt_tensor *bias = pt_randn(&rng, dt, PT_DIMS(5));
      pt_no_grad_enter();
      pt_tensor *fused = pt_linear_gelu(x, w, bias), *lin = pt_linear(x, w, bias);
      pt_tensor *apart = pt_gelu(lin);
      pt_no_grad_exit();
      for (int64_t i = 0; i < pt_numel(fused); i++)
        ck_assert(d ? pt_get(fused, i) == pt_get(apart, i)
                    : fabs(pt_get(fused, i) - pt_get(apart, i)) <= 2 * GELU_ERR + 1e-6 * fabs(pt_get(lin, i)));
      ck_assert_int_eq(pt_set_requires_grad(x, true), PT_OK);
      pt_tensor *graph = pt_linear_gelu(x, w, bias);
      ck_assert_ptr_nonnull(graph->grad_fn);
      for (int64_t i = 0; i < pt_numel(graph); i++) ck_assert(pt_get(graph, i) == pt_get(apart, i));
      pt_tensor *t[] = {x, w, bias, fused, lin, apart, graph};
      for (int i = 0; i < 7; i++) pt_tensor_free(t[i]);
    }
  }
  pt_gemm_set_backend(PT_GEMM_AUTO);
}
END_TEST

/* F64 products never reach oneDNN (it has no f64 matmul), even forced. */
START_TEST(f64_runs_on_openblas_under_every_backend) {
  double A[6] = {1, 2, 3, 4, 5, 6}, B[6] = {1, 0, 0, 1, 1, 1}, C[4];
  for (int i = 0; i < 3; i++) {
    pt_gemm_set_backend(backends[i]);
    pt_gemm(PT_F64, false, false, 2, 2, 3, 1.0, A, 3, B, 2, 0.0, C, 2);
    ck_assert(C[0] == 4 && C[1] == 5 && C[2] == 10 && C[3] == 11);
  }
  pt_gemm_set_backend(PT_GEMM_AUTO);
}
END_TEST

/* What oneDNN reports matches the ISA cap this run was started with. */
START_TEST(isa_dispatch_follows_the_cpu_and_the_cap) {
  const char *cap = getenv("ONEDNN_MAX_CPU_ISA");
  const char *isa = pt_gemm_isa();
  __builtin_cpu_init();
  bool cpu_bf16 = __builtin_cpu_supports("avx512bf16");
  printf("gemm: oneDNN ISA %s (cap %s), bf16 native %s, CPU avx512bf16 %s\n", isa,
         cap ? cap : "none", pt_gemm_bf16_native() ? "yes" : "no", cpu_bf16 ? "yes" : "no");
  if (cap && !strcmp(cap, "AVX2")) {
    ck_assert_str_eq(isa, "avx2");
    ck_assert(!pt_gemm_bf16_native());
  } else if (cap && !strcmp(cap, "AVX512_CORE_BF16")) {
    ck_assert(pt_gemm_bf16_native() == cpu_bf16);
    if (cpu_bf16) ck_assert_str_eq(isa, "avx512_core_bf16");
  } else if (!cap) {
    ck_assert(pt_gemm_bf16_native() == cpu_bf16);
  }
  /* a bf16 product names a bf16 kernel exactly when it runs natively */
  uint16_t a[64 * 64] = {0}, b[64 * 64] = {0};
  float c[64 * 64];
  pt_gemm_desc g = {false, true, 64, 64, 64, 1.0, 0.0, PT_BF16, PT_BF16, a, 64, b, 64, c, 64, NULL,
                    false};
  char impl[64];
  pt_gemm_impl(&g, impl, sizeof impl);
  printf("gemm: bf16 64x64x64 implementation %s\n", impl);
  if (pt_gemm_bf16_native()) ck_assert(strstr(impl, "bf16") != NULL);
}
END_TEST

/* With a busy process beside it, the adaptive count drops below the count
 * it started with; turning adaptation off restores that count. */
/* OpenBLAS's kernels named from CPU features (pt_blas_core.h): its own
 * rule for CPUs it does not know (SkylakeX standing for Cooperlake), and
 * nothing for the AMD families it does know. */
START_TEST(blas_core_follows_the_cpu_features) {
  pt_cpu_features intel_avx512_bf16 = {false, 6, true, true, true, true}; /* family 6 model 207 */
  ck_assert_str_eq(pt_blas_core_for(&intel_avx512_bf16), "SkylakeX");
  pt_cpu_features intel_avx512 = {false, 6, true, true, true, false};
  ck_assert_str_eq(pt_blas_core_for(&intel_avx512), "SkylakeX");
  pt_cpu_features intel_avx2 = {false, 6, true, true, false, false};
  ck_assert_str_eq(pt_blas_core_for(&intel_avx2), "Haswell");
  pt_cpu_features intel_avx = {false, 6, true, false, false, false};
  ck_assert_str_eq(pt_blas_core_for(&intel_avx), "Sandybridge");
  pt_cpu_features sse_only = {false, 6, false, false, false, false};
  ck_assert_ptr_null(pt_blas_core_for(&sse_only));
  pt_cpu_features zen4 = {true, 0x19, true, true, true, true}, zen2 = {true, 0x17, true, true, false, false};
  ck_assert_ptr_null(pt_blas_core_for(&zen4));
  ck_assert_ptr_null(pt_blas_core_for(&zen2));
  pt_cpu_features zen5 = {true, 0x1a, true, true, true, true}; /* newer than 0.3.21's table */
  ck_assert_str_eq(pt_blas_core_for(&zen5), "SkylakeX");
  /* this CPU's reading is consistent: each feature implies the one below */
  pt_cpu_features here;
  pt_cpu_features_read(&here);
  ck_assert(!here.avx512_bf16 || here.avx512);
  ck_assert(!here.avx512 || here.avx2);
  ck_assert(!here.avx2 || here.avx);
#if defined(__x86_64__)
  ck_assert_int_ge(here.family, 6); /* every x86-64 CPU */
  ck_assert(here.avx || !__builtin_cpu_supports("avx"));
  ck_assert(here.avx2 == (here.avx && __builtin_cpu_supports("avx2")));
  ck_assert(here.avx512 == (here.avx2 && __builtin_cpu_supports("avx512vl")));
#endif
}
END_TEST

START_TEST(adaptive_threads_yield_a_core_to_a_busy_process) {
  int start = omp_get_max_threads();
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  if (start < 2 || cores < 2) {
    printf("threads: %d threads on %ld cores, nothing to give up\n", start, cores);
    return;
  }
  pid_t child = fork();
  ck_assert_int_ge(child, 0);
  if (child == 0) { /* spin until killed */
    volatile unsigned long x = 0;
    for (;;) x++;
  }
  pt_set_adaptive_threads(true);
  ck_assert(pt_adaptive_threads());
  struct timespec pause = {0, 50 * 1000 * 1000};
  for (int i = 0; i < 40 && omp_get_max_threads() == start; i++) { /* at most 2 s */
    pt_threads_adapt();
    nanosleep(&pause, NULL);
  }
  int during = omp_get_max_threads();
  double load = pt_threads_other_load();
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  printf("threads: %d -> %d with a busy process (other load %.2f cores, %d changes)\n", start,
         during, load, pt_threads_changes());
  ck_assert_int_lt(during, start);
  ck_assert_int_ge(during, 1);
  ck_assert(load >= 0.5);
  pt_set_adaptive_threads(false);
  ck_assert_int_eq(omp_get_max_threads(), start);
}
END_TEST

/* oneDNN's own primitive cache is bounded to ptune's 96 primitives (a
 * server's passes change GEMM shapes every batch: tensor/gemm_onednn.c),
 * unless the environment sets it. */
START_TEST(onednn_keeps_as_many_kernels_as_ptune) {
  pt_gemm_set_backend(PT_GEMM_ONEDNN);
  float A[4] = {1, 2, 3, 4}, B[4] = {1, 0, 0, 1}, C[4] = {0};
  pt_gemm_desc g = {.M = 2, .N = 2, .K = 2, .A = A, .B = B, .C = C, .lda = 2, .ldb = 2,
                    .ldc = 2, .alpha = 1, .a_dtype = PT_F32, .b_dtype = PT_F32};
  ck_assert_int_eq(pt_gemm_run(&g), PT_OK);
  ck_assert(C[0] == 1 && C[1] == 2 && C[2] == 3 && C[3] == 4);
  pt_gemm_set_backend(PT_GEMM_AUTO);
  int cap = -1;
  ck_assert_int_eq(dnnl_get_primitive_cache_capacity(&cap), dnnl_success);
  if (getenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY") || getenv("DNNL_PRIMITIVE_CACHE_CAPACITY"))
    ck_assert_int_ge(cap, 0);
  else
    ck_assert_int_eq(cap, 96);
}
END_TEST

int main(void) {
  Suite *s = suite_create("gemm");
  TCase *tc = tcase_create("core");
  tcase_add_loop_test(tc, f32_backends_match_the_reference, 0, 3);
  tcase_add_loop_test(tc, bf16_operands_natively_or_widened, 0, 3);
  tcase_add_test(tc, empty_products_and_bad_descriptors);
  tcase_add_test(tc, f64_runs_on_openblas_under_every_backend);
  tcase_add_test(tc, linear_gelu_fuses_only_without_a_gradient);
  tcase_add_test(tc, isa_dispatch_follows_the_cpu_and_the_cap);
  tcase_add_test(tc, onednn_keeps_as_many_kernels_as_ptune);
  tcase_add_test(tc, blas_core_follows_the_cpu_features);
  tcase_add_test(tc, adaptive_threads_yield_a_core_to_a_busy_process);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
