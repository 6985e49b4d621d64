/* `ptune bench ops [--reps N] [--quick] [--json]`: the framework's kernels
 * beside their ceilings, measured in the same run.
 *
 *   matmul: pt_raw_matmul GFLOP/s next to a raw cblas_sgemm into a
 *           preallocated C, for BERT-base shapes M×N×K and NN/NT/TN;
 *   row ops: softmax, layer_norm, gelu, add, forward (no-grad) and backward
 *           (pt_backward alone, graph built outside the timer), as GB/s of
 *           the minimal traffic (forward: inputs read + output written;
 *           backward: output gradient and saved input read, input
 *           gradients written) next to a parallel memcpy of the same size.
 *
 * Every figure is the median of N timed runs after two warm-ups; an op that
 * fails is printed as n/a. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apps/cli/timing.h"
#include "apps/cmd/commands.h"
#include "ptune.h"

#define MAX_REPS 101

typedef struct {
  int reps;
  bool json, quick;
} bench_cfg;

/* ---- matmul ---- */

typedef struct {
  pt_tensor *a, *b, *c;
  bool ta, tb;
  int64_t M, N, K;
} mm_case;

/* one run of the framework path (allocates its output, as ops do) */
static bool mm_framework(mm_case *m) {
  pt_tensor *out = pt_raw_matmul(m->a, m->b, m->ta, m->tb);
  pt_tensor_free(out);
  return out != NULL;
}

static void mm_cblas(mm_case *m) {
  cblas_sgemm(CblasRowMajor, m->ta ? CblasTrans : CblasNoTrans, m->tb ? CblasTrans : CblasNoTrans,
              (int)m->M, (int)m->N, (int)m->K, 1.0f, pt_data(m->a), (int)m->a->shape[1],
              pt_data(m->b), (int)m->b->shape[1], 0.0f, pt_data(m->c), (int)m->N);
}

static void print_mm(const bench_cfg *cfg, const mm_case *m, const char *mode, double fw,
                     double raw) {
  double flop = 2.0 * (double)m->M * (double)m->N * (double)m->K;
  double g_fw = fw > 0 ? flop / fw * 1e-9 : NAN, g_raw = flop / raw * 1e-9;
  if (cfg->json) {
    printf(
        "{\"bench\":\"matmul\",\"M\":%lld,\"N\":%lld,\"K\":%lld,\"mode\":\"%s\","
        "\"ptune_gflops\":%.2f,\"cblas_gflops\":%.2f,\"ratio\":%.4f,\"threads\":%d}\n",
        (long long)m->M, (long long)m->N, (long long)m->K, mode, g_fw, g_raw, g_fw / g_raw,
        omp_get_max_threads());
  } else {
    char shape[64];
    snprintf(shape, sizeof shape, "%lldx%lldx%lld", (long long)m->M, (long long)m->N,
             (long long)m->K);
    printf("  %-16s %-4s %10.1f %10.1f %7.1f%%\n", shape, mode, g_fw, g_raw, 100 * g_fw / g_raw);
  }
}

static int bench_matmul(const bench_cfg *cfg, pt_rng *rng) {
  static const int64_t full[3][3] = {{1024, 768, 768}, {1024, 3072, 768}, {1024, 768, 3072}};
  static const int64_t quick[1][3] = {{64, 48, 32}};
  const int64_t(*shapes)[3] = cfg->quick ? quick : full;
  int nshapes = cfg->quick ? 1 : 3;
  static const char *modes[] = {"NN", "NT", "TN"};
  if (!cfg->json) {
    printf("matmul (median of %d, %d threads)\n", cfg->reps, omp_get_max_threads());
    printf("  %-16s %-4s %10s %10s %8s\n", "MxNxK", "mode", "ptune", "cblas", "ratio");
    printf("  %-16s %-4s %10s %10s %8s\n", "", "", "GFLOP/s", "GFLOP/s", "");
  }
  for (int s = 0; s < nshapes; s++) {
    for (int md = 0; md < 3; md++) {
      mm_case m = {.M = shapes[s][0], .N = shapes[s][1], .K = shapes[s][2]};
      m.ta = md == 2;
      m.tb = md == 1;
      m.a = m.ta ? pt_randn(rng, PT_F32, PT_DIMS(m.K, m.M))
                 : pt_randn(rng, PT_F32, PT_DIMS(m.M, m.K));
      m.b = m.tb ? pt_randn(rng, PT_F32, PT_DIMS(m.N, m.K))
                 : pt_randn(rng, PT_F32, PT_DIMS(m.K, m.N));
      m.c = pt_empty(PT_F32, PT_DIMS(m.M, m.N));
      if (!m.a || !m.b || !m.c) {
        fprintf(stderr, "ptune bench: %s\n", pt_error_message());
        return 1;
      }
      double tf[MAX_REPS], tr[MAX_REPS];
      bool ok = true;
      /* interleave the two so that both see the same machine state */
      for (int r = -2; r < cfg->reps; r++) {
        double t0 = seconds_now();
        ok &= mm_framework(&m);
        double t1 = seconds_now();
        mm_cblas(&m);
        double t2 = seconds_now();
        if (r >= 0) {
          tf[r] = t1 - t0;
          tr[r] = t2 - t1;
        }
      }
      double fw = ok ? median(tf, cfg->reps) : -1, raw = median(tr, cfg->reps);
      print_mm(cfg, &m, modes[md], fw, raw);
      pt_tensor_free(m.a);
      pt_tensor_free(m.b);
      pt_tensor_free(m.c);
    }
  }
  return 0;
}

/* ---- memory bandwidth ---- */

/* dst ← src, split across the OpenMP threads like a row op would be. */
static void par_memcpy(char *dst, const char *src, size_t n) {
  int nt = omp_get_max_threads();
#pragma omp parallel for schedule(static)
  for (int t = 0; t < nt; t++) {
    size_t lo = n * (size_t)t / (size_t)nt, hi = n * (size_t)(t + 1) / (size_t)nt;
    memcpy(dst + lo, src + lo, hi - lo);
  }
}

/* GB/s of a parallel memcpy of `bytes` (counting read + write). */
static double memcpy_gbps(const bench_cfg *cfg, size_t bytes) {
  char *a = pt_alloc(bytes), *b = pt_alloc(bytes);
  if (!a || !b) {
    pt_free_bytes(a);
    pt_free_bytes(b);
    return NAN;
  }
  memset(a, 1, bytes);
  memset(b, 2, bytes);
  double t[MAX_REPS];
  for (int r = -2; r < cfg->reps; r++) {
    double t0 = seconds_now();
    par_memcpy(b, a, bytes);
    if (r >= 0) t[r] = seconds_now() - t0;
  }
  pt_free_bytes(a);
  pt_free_bytes(b);
  return 2.0 * (double)bytes / median(t, cfg->reps) * 1e-9;
}

/* ---- row ops ---- */

typedef enum { OP_SOFTMAX, OP_LAYER_NORM, OP_GELU, OP_ADD } row_op;
static const char *const row_op_names[] = {"softmax", "layer_norm", "gelu", "add"};

typedef struct {
  pt_tensor *x, *y, *w, *b; /* y: second operand of add; w, b: layer_norm affine */
} row_inputs;

static pt_tensor *row_forward(row_op op, row_inputs *in) {
  switch (op) {
    case OP_SOFTMAX: return pt_softmax(in->x, -1);
    case OP_LAYER_NORM: return pt_layer_norm(in->x, in->w, in->b, 1e-12);
    case OP_GELU: return pt_gelu(in->x);
    default: return pt_add(in->x, in->y);
  }
}

/* Medians of forward (no grad) and backward seconds; -1 when it failed. */
static void time_row_op(const bench_cfg *cfg, row_op op, row_inputs *in, double *fwd, double *bwd) {
  double tf[MAX_REPS], tb[MAX_REPS];
  *fwd = *bwd = -1;
  pt_tensor *leaves[] = {in->x, in->y, in->w, in->b};
  for (int r = -2; r < cfg->reps; r++) {
    pt_no_grad_enter();
    double t0 = seconds_now();
    pt_tensor *out = row_forward(op, in);
    double t1 = seconds_now();
    pt_no_grad_exit();
    if (!out) return;
    pt_tensor_free(out);
    if (r >= 0) tf[r] = t1 - t0;
  }
  *fwd = median(tf, cfg->reps);
  pt_tensor *gy = NULL;
  for (int r = -2; r < cfg->reps; r++) {
    pt_tensor *out = row_forward(op, in);
    if (!out) return;
    if (!gy) gy = pt_full(out->dtype, out->ndim, out->shape, 0.5);
    double t0 = seconds_now();
    pt_status st = pt_backward(out, gy, false);
    double t1 = seconds_now();
    pt_tensor_free(out);
    for (int i = 0; i < 4; i++)
      if (leaves[i]) pt_zero_grad(leaves[i]);
    if (st != PT_OK) {
      pt_tensor_free(gy);
      return;
    }
    if (r >= 0) tb[r] = t1 - t0;
  }
  pt_tensor_free(gy);
  *bwd = median(tb, cfg->reps);
}

static void print_row(const bench_cfg *cfg, row_op op, const char *shape, const char *dir,
                      double secs, double bytes, double mem) {
  double gbps = secs > 0 ? bytes / secs * 1e-9 : NAN; /* NaN: the op failed */
  if (cfg->json) {
    if (isnan(gbps))
      printf(
          "{\"bench\":\"rowop\",\"op\":\"%s\",\"shape\":\"%s\",\"dir\":\"%s\",\"gbps\":null,"
          "\"memcpy_gbps\":%.2f,\"ratio\":null}\n",
          row_op_names[op], shape, dir, mem);
    else
      printf(
          "{\"bench\":\"rowop\",\"op\":\"%s\",\"shape\":\"%s\",\"dir\":\"%s\",\"gbps\":%.2f,"
          "\"memcpy_gbps\":%.2f,\"ratio\":%.4f,\"us\":%.1f}\n",
          row_op_names[op], shape, dir, gbps, mem, gbps / mem, secs * 1e6);
  } else if (isnan(gbps)) {
    printf("  %-11s %-14s %-8s %10s %10.1f %8s\n", row_op_names[op], shape, dir, "n/a", mem, "n/a");
  } else {
    printf("  %-11s %-14s %-8s %10.1f %10.1f %7.1f%%  (%.0f us)\n", row_op_names[op], shape, dir,
           gbps, mem, 100 * gbps / mem, secs * 1e6);
  }
}

static int bench_rows(const bench_cfg *cfg, pt_rng *rng) {
  typedef struct {
    row_op op;
    int ndim;
    int64_t shape[4];
  } row_case;
  static const row_case full[] = {
      {OP_SOFTMAX, 4, {8, 12, 128, 144}}, {OP_LAYER_NORM, 2, {1024, 768}},
      {OP_LAYER_NORM, 2, {1024, 3072}},   {OP_GELU, 2, {1024, 768}},
      {OP_GELU, 2, {1024, 3072}},         {OP_ADD, 2, {1024, 768}},
      {OP_ADD, 2, {1024, 3072}},
  };
  static const row_case quick[] = {{OP_SOFTMAX, 4, {2, 2, 4, 6}},
                                   {OP_LAYER_NORM, 2, {4, 8}},
                                   {OP_GELU, 2, {4, 8}},
                                   {OP_ADD, 2, {4, 8}}};
  const row_case *cases = cfg->quick ? quick : full;
  int ncases = cfg->quick ? 4 : 7;
  if (!cfg->json) {
    printf("\nrow ops, F32 (median of %d; GB/s of minimal traffic; memcpy of the same size)\n",
           cfg->reps);
    printf("  %-11s %-14s %-8s %10s %10s %8s\n", "op", "shape", "pass", "GB/s", "memcpy", "ratio");
  }
  for (int c = 0; c < ncases; c++) {
    const row_case *rc = &cases[c];
    char shape[64];
    pt_dims_str(rc->ndim, rc->shape, shape, sizeof shape);
    int64_t H = rc->shape[rc->ndim - 1];
    row_inputs in = {0};
    in.x = pt_randn(rng, PT_F32, rc->ndim, rc->shape);
    pt_set_requires_grad(in.x, true);
    if (rc->op == OP_ADD) {
      in.y = pt_randn(rng, PT_F32, rc->ndim, rc->shape);
      pt_set_requires_grad(in.y, true);
    }
    if (rc->op == OP_LAYER_NORM) {
      in.w = pt_ones(PT_F32, PT_DIMS(H));
      in.b = pt_zeros(PT_F32, PT_DIMS(H));
      pt_set_requires_grad(in.w, true);
      pt_set_requires_grad(in.b, true);
    }
    double n = (double)pt_numel(in.x), tensor_bytes = 4 * n;
    /* forward: read x (and y), write out; backward: read dy and one saved
     * tensor (x or y), write dx (and dy for add: read dy, write dx, dy) */
    double fwd_bytes = (rc->op == OP_ADD ? 3 : 2) * tensor_bytes;
    double bwd_bytes = 3 * tensor_bytes;
    double mem = memcpy_gbps(cfg, (size_t)tensor_bytes);
    double fwd = -1, bwd = -1;
    time_row_op(cfg, rc->op, &in, &fwd, &bwd);
    print_row(cfg, rc->op, shape, "forward", fwd, fwd_bytes, mem);
    print_row(cfg, rc->op, shape, "backward", bwd, bwd_bytes, mem);
    pt_tensor_free(in.x);
    pt_tensor_free(in.y);
    pt_tensor_free(in.w);
    pt_tensor_free(in.b);
  }
  return 0;
}

static int bench_ops(run_args *a) {
  if (a->reps > MAX_REPS) {
    fprintf(stderr, "ptune bench ops: --reps wants 1..%d, got %lld\n", MAX_REPS,
            (long long)a->reps);
    return 2;
  }
  bench_cfg cfg = {.reps = (int)a->reps, .json = a->json, .quick = a->quick};
  int nops;
  pt_op_cases(&nops);
  if (!cfg.json)
    printf("ptune bench ops: %d registered ops, %d threads\n\n", nops, omp_get_max_threads());
  pt_rng rng;
  pt_rng_init(&rng, 1);
  int rc = bench_matmul(&cfg, &rng);
  if (!rc) rc = bench_rows(&cfg, &rng);
  return rc;
}

static const command bench_ops_command = {
    .name = "bench ops",
    .summary = "matmul and row-op speed against cblas and memcpy",
    .usage =
        "bench ops [--reps N] [--quick] [--json]\n"
        "Measures pt_raw_matmul against raw cblas_sgemm (BERT-base shapes, NN/NT/TN)\n"
        "and the row ops (softmax, layer_norm, gelu, add; forward and backward)\n"
        "against a parallel memcpy, in the same run: medians of N runs after two\n"
        "warm-ups.",
    .defaults = "--reps 7",
    .run = bench_ops,
};
COMMAND_REGISTER(bench_ops_command);
