/* `ptune bench model --mode ptv2|full|infer`: one training step (or one
 * inference batch) of a BERT-base-shaped model, timed the way
 * ../shared/reference/bench_torch.py times PyTorch: median of 10 steps after
 * 3 warm-ups, tokens/s, GFLOP/s from the same FLOP model, the share of a
 * sgemm peak measured in the same process, and peak RSS. --json prints one
 * line with the PyTorch script's keys. Run each mode in its own process
 * (bench/vs_torch.sh does) so that peak RSS belongs to that mode. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "apps/commands.h"
#include "autograd/pt_autograd.h"
#include "models/pt_ptv2.h"
#include "optim/pt_optim.h"
#include "tensor/pt_matmul.h"

typedef struct {
  const char *mode;
  int64_t batch, seq, prefix, prefix_hidden, labels, layers, hidden, heads, inter, vocab;
  int warmup, steps;
  bool json;
} bench_opts;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double peak_rss_mib(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_maxrss / 1024.0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* GEMM-only FLOPs, as bench_torch.py's flops(): 1 multiply-add = 2. */
static double model_flops(const bench_opts *o, const char *mode) {
  double T = (double)(o->batch * o->seq), H = (double)o->hidden, L = (double)o->layers;
  double I = (double)o->inter, P = (double)o->prefix, S = (double)o->seq, B = (double)o->batch;
  double lin = L * 2 * T * (4 * H * H + 2 * H * I);
  double att = L * 4 * B * S * (P + S) * H;
  double pre = P ? 2 * B * P * (H * (double)o->prefix_hidden + (double)o->prefix_hidden * 2 * L * H) : 0;
  double head = 2 * T * H * (double)o->labels;
  double fwd = lin + att + pre + head;
  if (!strcmp(mode, "infer")) return fwd;
  if (!strcmp(mode, "full")) return 3 * fwd;
  return fwd + (lin - 2 * T * 3 * H * H) + 2 * att + 2 * pre + 2 * head;
}

/* sgemm GFLOP/s on 1024x1024x1024, best of 5 (the "peak" the shares use). */
static double sgemm_peak(void) {
  int64_t n = 1024;
  pt_tensor *a = pt_ones(PT_F32, 2, PT_SHAPE(n, n)), *b = pt_ones(PT_F32, 2, PT_SHAPE(n, n));
  pt_tensor *c = pt_zeros(PT_F32, 2, PT_SHAPE(n, n));
  double best = 1e30;
  for (int r = 0; r < 7; r++) {
    double t0 = now_s();
    pt_gemm(PT_F32, false, false, n, n, n, 1.0, pt_data(a), n, pt_data(b), n, 0.0, pt_data(c), n);
    double t = now_s() - t0;
    if (r >= 2 && t < best) best = t;
  }
  pt_tensor_free(a);
  pt_tensor_free(b);
  pt_tensor_free(c);
  return 2.0 * (double)(n * n * n) / best / 1e9;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: ptune bench model [--mode ptv2|full|infer] [--seq N] [--prefix N] [--batch N]\n"
          "                         [--steps N] [--warmup N] [--layers N] [--hidden N] [--json]\n"
          "Times a P-Tuning v2 training step (ptv2), a full fine-tuning step (full) or an\n"
          "inference batch (infer) of a BERT-base-shaped model (random weights, token\n"
          "classification, 9 labels, prefix 16 with a 512-wide MLP, batch 8 x 128, AdamW,\n"
          "dropout on when training), as bench/vs_torch.sh compares it with PyTorch.\n");
}

static bool parse_int(const char *flag, const char *v, int64_t *out) {
  char *end;
  long long x = strtoll(v, &end, 10);
  if (*end || x < 0) {
    fprintf(stderr, "ptune bench model: %s wants a non-negative integer, got '%s'\n", flag, v);
    return false;
  }
  *out = x;
  return true;
}

int pt_cmd_bench_model(int argc, char **argv) {
  bench_opts o = {"ptv2", 8, 128, 16, 512, 9, 12, 768, 12, 3072, 28996, 3, 10, false};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int64_t v = 0;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(a, "--json")) {
      o.json = true;
    } else if (!strcmp(a, "--mode") && i + 1 < argc) {
      o.mode = argv[++i];
      if (strcmp(o.mode, "ptv2") && strcmp(o.mode, "full") && strcmp(o.mode, "infer")) {
        fprintf(stderr, "ptune bench model: unknown mode '%s' (ptv2, full or infer)\n", o.mode);
        return 2;
      }
    } else if (i + 1 < argc && a[0] == '-' && a[1] == '-') {
      int64_t *slot = !strcmp(a, "--seq")      ? &o.seq
                      : !strcmp(a, "--prefix") ? &o.prefix
                      : !strcmp(a, "--batch")  ? &o.batch
                      : !strcmp(a, "--layers") ? &o.layers
                      : !strcmp(a, "--hidden") ? &o.hidden
                                               : NULL;
      if (!strcmp(a, "--steps") || !strcmp(a, "--warmup")) {
        if (!parse_int(a, argv[++i], &v)) return 2;
        if (!strcmp(a, "--steps")) o.steps = (int)(v ? v : 1);
        else o.warmup = (int)v;
        continue;
      }
      if (!slot) {
        fprintf(stderr, "ptune bench model: unknown argument '%s'\n", a);
        return 2;
      }
      if (!parse_int(a, argv[++i], slot)) return 2;
    } else {
      fprintf(stderr, "ptune bench model: unknown argument '%s'\n", a);
      usage(stderr);
      return 2;
    }
  }
  if (o.hidden % o.heads) o.heads = o.hidden / 64 ? o.hidden / 64 : 1;
  o.inter = 4 * o.hidden;
  bool train = strcmp(o.mode, "infer") != 0, full = !strcmp(o.mode, "full");
  pt_bert_config bc;
  pt_bert_config_default(&bc, PT_ARCH_BERT);
  bc.vocab_size = o.vocab;
  bc.hidden_size = o.hidden;
  bc.num_layers = o.layers;
  bc.num_heads = o.heads;
  bc.intermediate_size = o.inter;
  bc.max_position = o.prefix + o.seq > 512 ? o.prefix + o.seq : 512;
  pt_ptv2_config pc = {PT_METHOD_PTV2, PT_TASK_TOKEN_CLASSIFICATION, o.prefix, true,
                       o.prefix_hidden, o.labels};
  pt_ptv2_model m;
  if (pt_ptv2_model_init(&m, &bc, &pc, 0) != PT_OK) {
    fprintf(stderr, "ptune bench model: %s\n", pt_error_message());
    return 1;
  }
  if (full) pt_params_set_trainable(&m.params, "", true);
  double rss_build = peak_rss_mib();
  pt_rng rng;
  pt_rng_init(&rng, 1);
  int64_t B = o.batch, S = o.seq;
  pt_tensor *ids = pt_empty(PT_I64, 2, PT_SHAPE(B, S));
  pt_tensor *labels = pt_empty(PT_I64, 2, PT_SHAPE(B, S));
  pt_tensor *mask = pt_ones(PT_I64, 2, PT_SHAPE(B, S));
  pt_tensor *types = pt_zeros(PT_I64, 2, PT_SHAPE(B, S));
  for (int64_t i = 0; i < B * S; i++) {
    pt_set(ids, i, (double)pt_rng_below(&rng, (uint64_t)o.vocab));
    pt_set(labels, i, (double)pt_rng_below(&rng, (uint64_t)o.labels));
  }
  pt_adamw_opts ao = pt_adamw_defaults();
  ao.lr = 5e-3;
  pt_optim *opt = pt_adamw_new(&ao);
  int64_t trainable = 0;
  for (int i = 0; i < m.params.count; i++)
    if (pt_requires_grad(m.params.items[i])) {
      pt_optim_add_param(opt, m.params.items[i], NULL, true);
      trainable += pt_numel(m.params.items[i]);
    }
  double peak = sgemm_peak();
  double *times = calloc((size_t)(o.warmup + o.steps), sizeof(double));
  pt_ptv2_batch batch = {ids, mask, types, train ? labels : NULL, NULL, NULL};
  pt_nn_mode mode = {train, &rng};
  int rc = 0;
  for (int s = 0; s < o.warmup + o.steps && !rc; s++) {
    double t0 = now_s();
    pt_ptv2_outputs out;
    if (!train) pt_no_grad_enter();
    pt_status st = pt_ptv2_forward(&m, &batch, mode, false, &out);
    if (!train) pt_no_grad_exit();
    if (st == PT_OK && train) {
      pt_optim_zero_grad(opt);
      st = pt_backward(out.loss, NULL, false);
      if (st == PT_OK) st = pt_optim_step(opt);
    }
    if (st == PT_OK) pt_ptv2_outputs_free(&out);
    times[s] = now_s() - t0;
    if (st != PT_OK) {
      fprintf(stderr, "ptune bench model: %s\n", pt_error_message());
      rc = 1;
    }
    if (!o.json && !rc)
      fprintf(stderr, "  %s %d/%d: %.1f ms\n", s < o.warmup ? "warm-up" : "step", s < o.warmup ? s + 1 : s - o.warmup + 1,
              s < o.warmup ? o.warmup : o.steps, times[s] * 1e3);
  }
  if (!rc) {
    double *meas = times + o.warmup;
    qsort(meas, (size_t)o.steps, sizeof(double), cmp_double);
    double med = o.steps % 2 ? meas[o.steps / 2] : 0.5 * (meas[o.steps / 2 - 1] + meas[o.steps / 2]);
    double gflop = model_flops(&o, o.mode) / 1e9;
    double gflops = gflop / med;
    const char *ms_key = train ? "ms_per_step_median" : "ms_per_batch_median";
    const char *gf_key = train ? "gflop_per_step" : "gflop_per_batch";
    if (o.json)
      printf("{\"impl\": \"ptune\", \"mode\": \"%s\", \"%s\": %.1f, \"ms_min\": %.1f, \"ms_max\": %.1f, "
             "\"tokens_per_s\": %.1f, \"%s\": %.2f, \"gflops\": %.1f, \"sgemm_peak_gflops\": %.1f, "
             "\"share_of_peak\": %.3f, \"trainable_params\": %lld, \"total_params\": %lld, "
             "\"rss_after_build_mib\": %.1f, \"peak_rss_mib\": %.1f, \"threads\": %d, "
             "\"batch\": %lld, \"seq\": %lld, \"prefix\": %lld}\n",
             o.mode, ms_key, med * 1e3, meas[0] * 1e3, meas[o.steps - 1] * 1e3, (double)(B * S) / med,
             gf_key, gflop, gflops, peak, gflops / peak, (long long)trainable,
             (long long)pt_params_numel(&m.params, false), rss_build, peak_rss_mib(),
             omp_get_max_threads(), (long long)B, (long long)S, (long long)o.prefix);
    else
      printf("ptune %s: median %.1f ms (min %.1f, max %.1f) over %d steps, %.0f tokens/s, "
             "%.1f GFLOP/s = %.0f%% of the %.0f GFLOP/s sgemm peak, peak RSS %.0f MiB\n",
             o.mode, med * 1e3, meas[0] * 1e3, meas[o.steps - 1] * 1e3, o.steps,
             (double)(B * S) / med, gflops, 100 * gflops / peak, peak, peak_rss_mib());
  }
  free(times);
  pt_optim_free(opt);
  pt_tensor *t[] = {ids, labels, mask, types};
  for (int i = 0; i < 4; i++) pt_tensor_free(t[i]);
  pt_ptv2_model_free(&m);
  return rc;
}
