/* `ptune bench model --mode ptv2|full|infer|mlm`: one training step (or one
 * inference batch) of a BERT-base-shaped model, timed the way
 * ../shared/reference/bench_torch.py times PyTorch: median of 10 steps after
 * 3 warm-ups, tokens/s, GFLOP/s from the same FLOP model, the share of a
 * GEMM peak measured in the same process after the steps (gemm_peak), and
 * peak RSS. --json prints one line with the PyTorch script's keys. Run each mode in its own process
 * (bench/vs_torch.sh does) so that peak RSS belongs to that mode.
 * mlm is a `ptune pretrain` step of the demo model's shape instead (4 x 256,
 * vocab 30522, batch 32 x 128, 15% of the positions masked, dropout 0,
 * AdamW with clipping at 1.0), beside bench/bench_torch_mlm.py. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "apps/cli/progress.h"
#include "apps/cmd/commands.h"
#include "autograd/pt_autograd.h"
#include "models/pt_mlm.h"
#include "models/pt_model.h"
#include "optim/pt_optim.h"
#include "tensor/pt_fpmode.h"
#include "tensor/pt_matmul.h"

typedef struct {
  const char *mode;
  pt_dtype backbone_dtype; /* --backbone-dtype */
  int64_t batch, seq, prefix, prefix_hidden, labels, layers, hidden, heads, inter, vocab;
  int warmup, steps;
  bool json;
} bench_opts;

static double peak_rss_mib(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_maxrss / 1024.0;
}

/* mlm: position i is masked when it starts a new 1000/150-th (15%, spread evenly). */
static bool mlm_is_masked(int64_t i) { return i * 150 / 1000 != (i + 1) * 150 / 1000; }

static int64_t mlm_masked(const bench_opts *o) {
  int64_t n = 0;
  for (int64_t i = 0; i < o->batch * o->seq; i++) n += mlm_is_masked(i);
  return n;
}

/* GEMM-only FLOPs, as bench_torch.py's flops(): 1 multiply-add = 2. */
static double model_flops(const bench_opts *o, const char *mode) {
  double T = (double)(o->batch * o->seq), H = (double)o->hidden, L = (double)o->layers;
  double I = (double)o->inter, P = (double)o->prefix, S = (double)o->seq, B = (double)o->batch;
  double lin = L * 2 * T * (4 * H * H + 2 * H * I);
  double att = L * 4 * B * S * (P + S) * H;
  double pre =
      P ? 2 * B * P * (H * (double)o->prefix_hidden + (double)o->prefix_hidden * 2 * L * H) : 0;
  double head = 2 * T * H * (double)o->labels;
  double fwd = lin + att + pre + head;
  if (!strcmp(mode, "mlm")) { /* no prefix; the head on the masked rows only, all trainable */
    double Tm = (double)mlm_masked(o), V = (double)o->vocab;
    return 3 * (lin + att + 2 * Tm * H * H + 2 * Tm * H * V);
  }
  if (!strcmp(mode, "infer")) return fwd;
  if (!strcmp(mode, "full")) return 3 * fwd;
  return fwd + (lin - 2 * T * 3 * H * H) + 2 * att + 2 * pre + 2 * head;
}

/* The GEMM peak the shares use: GFLOP/s of the model's largest product
 * (the FFN's tokens x hidden -> intermediate, its weight transposed, in the
 * backbone's dtype) through the one GEMM entry, as the steps run it. Taken
 * after the timed steps, in the state they ran in (threads, caches, clock),
 * as the best of 5 trials of >= 0.2 s each after 0.2 s of warm-up (1024^3
 * in f32, best of 5 runs of ~10 ms right after building the model, read 106
 * GFLOP/s for a RoBERTa-large shape whose steps reached 162: a share of
 * 1.53). 0 when it cannot run. */
static double gemm_peak(const bench_opts *o, pt_dtype b_dtype) {
  int64_t M = o->batch * o->seq, N = o->inter, K = o->hidden;
  pt_tensor *a = pt_ones(PT_F32, 2, PT_SHAPE(M, K)), *b = pt_ones(PT_F32, 2, PT_SHAPE(N, K));
  pt_tensor *c = pt_zeros(PT_F32, 2, PT_SHAPE(M, N));
  double best = 0;
  if (a && b && c && pt_tensor_convert_inplace(b, b_dtype) == PT_OK) {
    pt_gemm_desc g = {false, true, M, N, K, 1.0, 0.0, PT_F32, b_dtype, pt_data(a), K, pt_data(b),
                      K, pt_data(c), N, NULL, false};
    double flop = 2.0 * (double)M * (double)N * (double)K;
    for (int trial = -1; trial < 5; trial++) { /* -1: the warm-up */
      double t0 = seconds_now(), t;
      int64_t n = 0;
      do {
        if (pt_gemm_run(&g) != PT_OK) goto done;
        n++;
      } while ((t = seconds_now() - t0) < 0.2);
      if (trial >= 0 && flop * (double)n / t > best) best = flop * (double)n / t;
    }
  }
done:
  pt_tensor_free(a);
  pt_tensor_free(b);
  pt_tensor_free(c);
  return best / 1e9;
}

/* What one timed step needs: the model of either kind and its batch. */
typedef struct {
  bool mlm, train, model_ok;
  pt_backbone bb;
  pt_model ptv2;
  void *ptv2_opts;
  pt_mlm_model mlm_model;
  pt_optim *opt;
  pt_model_batch batch;
  pt_tensor *ids, *labels, *mask, *types;
  pt_rng rng;
} bench_run;

static pt_status one_step(bench_run *r) {
  pt_nn_mode mode = {r->train, &r->rng};
  pt_status st;
  pt_tensor *loss = NULL;
  pt_model_outputs out;
  pt_mlm_outputs mo = {0};
  if (r->mlm) {
    st = pt_mlm_forward(&r->mlm_model, r->ids, NULL, r->labels, mode, false, &mo);
    loss = mo.loss;
  } else {
    if (!r->train) pt_no_grad_enter();
    st = pt_model_forward(&r->ptv2, &r->batch, mode, false, &out);
    if (!r->train) pt_no_grad_exit();
    if (st == PT_OK) loss = out.loss;
  }
  if (st == PT_OK && r->train) {
    pt_optim_zero_grad(r->opt);
    st = pt_backward(loss, NULL, false);
    double norm;
    if (st == PT_OK && r->mlm) st = pt_optim_clip_grad_norm(r->opt, 1.0, &norm);
    if (st == PT_OK) st = pt_optim_step(r->opt);
  }
  if (r->mlm)
    pt_mlm_outputs_free(&mo);
  else if (st == PT_OK)
    pt_model_outputs_free(&out);
  return st;
}

static void report(const bench_opts *o, double *times, double gflop, int64_t trainable,
                   int64_t total, double rss_build, double rss_peak, double peak,
                   double peak_bf16) {
  bool bf16 = o->backbone_dtype == PT_BF16;
  double used = bf16 ? peak_bf16 : peak; /* the peak of the backbone's GEMMs */
  bool train = strcmp(o->mode, "infer") != 0;
  double *meas = times + o->warmup;
  double med = median(meas, o->steps); /* meas sorted: min first, max last */
  double gflops = gflop / med, tps = (double)(o->batch * o->seq) / med;
  const char *ms_key = train ? "ms_per_step_median" : "ms_per_batch_median";
  const char *gf_key = train ? "gflop_per_step" : "gflop_per_batch";
  if (o->json)
    printf(
        "{\"impl\": \"ptune\", \"mode\": \"%s\", \"%s\": %.1f, \"ms_min\": %.1f, \"ms_max\": %.1f, "
        "\"tokens_per_s\": %.1f, \"%s\": %.2f, \"gflops\": %.1f, \"sgemm_peak_gflops\": %.1f, "
        "\"share_of_peak\": %.3f, \"trainable_params\": %lld, \"total_params\": %lld, "
        "\"rss_after_build_mib\": %.1f, \"peak_rss_mib\": %.1f, \"threads\": %d, "
        "\"batch\": %lld, \"seq\": %lld, \"prefix\": %lld, \"layers\": %lld, \"hidden\": %lld, "
        "\"flush_denormal\": %s, \"backbone_dtype\": \"%s\", \"bf16_gemm_peak_gflops\": %.1f}\n",
        o->mode, ms_key, med * 1e3, meas[0] * 1e3, meas[o->steps - 1] * 1e3, tps, gf_key, gflop,
        gflops, peak, used > 0 ? gflops / used : 0, (long long)trainable, (long long)total, rss_build,
        rss_peak, omp_get_max_threads(), (long long)o->batch, (long long)o->seq,
        (long long)o->prefix, (long long)o->layers, (long long)o->hidden,
        pt_flush_denormal() ? "true" : "false", bf16 ? "bf16" : "f32", peak_bf16);
  else
    printf(
        "ptune %s: median %.1f ms (min %.1f, max %.1f) over %d steps, %.0f tokens/s, "
        "%.1f GFLOP/s = %.0f%% of the %.0f GFLOP/s %s GEMM peak, peak RSS %.0f MiB\n",
        o->mode, med * 1e3, meas[0] * 1e3, meas[o->steps - 1] * 1e3, o->steps, tps, gflops,
        used > 0 ? 100 * gflops / used : 0, used, bf16 ? "bf16" : "f32", rss_peak);
}

static const char *const mode_names[] = {"ptv2", "full", "infer", "mlm"};

/* The options with the mode's shape where not given: BERT-base for the
 * P-Tuning v2 modes, the demo model for mlm. */
static void bench_shape(const run_args *a, bench_opts *o) {
  *o = (bench_opts){mode_names[a->bench_mode],
                    a->backbone_dtype,
                    -1,
                    -1,
                    -1,
                    512,
                    9,
                    -1,
                    -1,
                    -1,
                    -1,
                    -1,
                    (int)a->warmup_steps,
                    (int)(a->timed_steps ? a->timed_steps : 1),
                    a->json};
  if (option_given(a, "--batch")) o->batch = a->batch_size;
  if (option_given(a, "--seq")) o->seq = a->task_options.max_seq_len;
  if (option_given(a, "--prefix")) o->prefix = a->bench_prefix;
  if (option_given(a, "--layers")) o->layers = a->layers;
  if (option_given(a, "--hidden")) o->hidden = a->hidden;
  bool mlm = !strcmp(o->mode, "mlm");
  const int64_t base[] = {8, 128, 16, 12, 768, 28996}, demo[] = {32, 128, 0, 4, 256, 30522};
  const int64_t *d = mlm ? demo : base;
  int64_t *slots[] = {&o->batch, &o->seq, &o->prefix, &o->layers, &o->hidden, &o->vocab};
  for (int k = 0; k < 6; k++)
    if (*slots[k] < 0) *slots[k] = d[k];
  if (mlm) o->prefix = 0;
  o->heads = o->hidden % 64 == 0 ? o->hidden / 64 : 1;
  if (mlm && o->hidden % 4 == 0) o->heads = 4; /* the demo model: 4 heads */
  o->inter = 4 * o->hidden;
}

/* The model (random weights), a random batch and AdamW over what trains. */
static pt_status bench_setup(const bench_opts *o, bench_run *r, int64_t *trainable) {
  r->mlm = !strcmp(o->mode, "mlm");
  r->train = strcmp(o->mode, "infer") != 0;
  pt_bert_config bc;
  pt_bert_config_default(&bc, PT_ARCH_BERT);
  bc.vocab_size = o->vocab;
  bc.hidden_size = o->hidden;
  bc.num_layers = o->layers;
  bc.num_heads = o->heads;
  bc.intermediate_size = o->inter;
  bc.max_position = o->prefix + o->seq > 512 ? o->prefix + o->seq : 512;
  if (r->mlm) {
    bc.max_position = o->seq > 128 ? o->seq : 128;
    bc.hidden_dropout = bc.attention_dropout = 0; /* as the bundled model was pretrained */
  }
  if (r->mlm) {
    PT_TRY(pt_mlm_init(&r->mlm_model, &bc, 0));
  } else { /* P-Tuning v2 with the MLP; full: every backbone tensor trains with it */
    PT_TRY(pt_backbone_init(&r->bb, &bc, (pt_backbone_parts){false, false}, 0));
    const pt_method *ptv2 = pt_method_find("ptv2");
    r->ptv2_opts = calloc(1, ptv2->opts_size);
    if (!r->ptv2_opts) return pt_error(PT_ERR_NOMEM, "bench: out of memory");
    PT_TRY(pt_options_init(ptv2->options, r->ptv2_opts));
    char text[32];
    snprintf(text, sizeof text, "%lld", (long long)o->prefix);
    PT_TRY(pt_option_set_text(pt_option_find_flag(ptv2->options, "pre-seq-len"), r->ptv2_opts, text));
    snprintf(text, sizeof text, "%lld", (long long)o->prefix_hidden);
    PT_TRY(pt_option_set_text(pt_option_find_flag(ptv2->options, "prefix-hidden-size"), r->ptv2_opts,
                              text));
    PT_TRY(pt_option_set_text(pt_option_find_flag(ptv2->options, "prefix-projection"), r->ptv2_opts,
                              "true"));
    pt_model_config mc = {{PT_TASK_TOKEN_CLASSIFICATION, PT_HEAD_LINEAR, o->labels, NULL, -1},
                          0, &r->bb.init_rng, NULL, false};
    PT_TRY(pt_model_new(&r->ptv2, &r->bb, ptv2, r->ptv2_opts, &mc));
  }
  r->model_ok = true;
  if (!r->mlm && !strcmp(o->mode, "full"))
    for (int i = 0; i < r->bb.params.count; i++) PT_TRY(pt_model_adopt(&r->ptv2, r->bb.params.items[i]));
  if (r->mlm && o->backbone_dtype != PT_F32)
    return pt_error(PT_ERR_ARG, "--backbone-dtype bf16: --mode mlm trains every weight and ptune "
                    "keeps no f32 master copy of a bf16 weight (use --backbone-dtype f32)");
  if (!r->mlm) PT_TRY(backbone_dtype_set(&r->bb, o->backbone_dtype));
  pt_rng_init(&r->rng, 1);
  int64_t B = o->batch, S = o->seq;
  r->ids = pt_empty(PT_I64, 2, PT_SHAPE(B, S));
  r->labels = pt_empty(PT_I64, 2, PT_SHAPE(B, S));
  r->mask = pt_ones(PT_I64, 2, PT_SHAPE(B, S));
  r->types = pt_zeros(PT_I64, 2, PT_SHAPE(B, S));
  if (!r->ids || !r->labels || !r->mask || !r->types)
    return pt_error(PT_ERR_NOMEM, "bench: out of memory for the batch");
  for (int64_t i = 0; i < B * S; i++) {
    int64_t id = (int64_t)pt_rng_below(&r->rng, (uint64_t)o->vocab);
    if (r->mlm) { /* 15% of the positions masked, spread evenly; their label the original id */
      bool masked = mlm_is_masked(i);
      pt_set(r->ids, i, masked ? 103.0 : (double)id);
      pt_set(r->labels, i, masked ? (double)id : -100.0);
    } else {
      pt_set(r->ids, i, (double)id);
      pt_set(r->labels, i, (double)pt_rng_below(&r->rng, (uint64_t)o->labels));
    }
  }
  r->batch = (pt_model_batch){r->ids, r->mask, r->types, r->train ? r->labels : NULL, NULL, NULL};
  pt_adamw_opts ao = pt_adamw_defaults();
  ao.lr = r->mlm ? 1e-4 : 5e-3;
  if (r->mlm) ao.weight_decay = 0.01;
  r->opt = pt_adamw_new(&ao);
  if (!r->opt) return pt_error(PT_ERR_NOMEM, "bench: out of memory for the optimizer");
  *trainable = 0;
  if (r->mlm) {
    const pt_params *ps = &r->mlm_model.params;
    for (int i = 0; i < ps->count; i++)
      if (pt_requires_grad(ps->items[i])) {
        PT_TRY(pt_optim_add_param(r->opt, ps->items[i], NULL, true));
        *trainable += pt_numel(ps->items[i]);
      }
    return PT_OK;
  }
  for (int i = 0; i < pt_model_ntrainable(&r->ptv2); i++) {
    pt_tensor *t = pt_model_trainable(&r->ptv2, i);
    PT_TRY(pt_optim_add_param(r->opt, t, NULL, true));
    *trainable += pt_numel(t);
  }
  return PT_OK;
}

static void bench_free(bench_run *r) {
  pt_optim_free(r->opt);
  pt_tensor *t[] = {r->ids, r->labels, r->mask, r->types};
  for (int i = 0; i < 4; i++) pt_tensor_free(t[i]);
  if (r->model_ok && r->mlm) pt_mlm_free(&r->mlm_model);
  if (r->model_ok && !r->mlm) pt_model_free(&r->ptv2);
  if (!r->mlm) pt_backbone_free(&r->bb);
  if (r->ptv2_opts) pt_options_free(pt_method_find("ptv2")->options, r->ptv2_opts);
  free(r->ptv2_opts);
}

/* Warm-ups then timed steps; times[s] in seconds. */
static pt_status bench_time(const bench_opts *o, bench_run *r, double *times) {
  for (int s = 0; s < o->warmup + o->steps; s++) {
    double t0 = seconds_now();
    PT_TRY(one_step(r));
    times[s] = seconds_now() - t0;
    if (!o->json)
      fprintf(stderr, "  %s %d/%d: %.1f ms\n", s < o->warmup ? "warm-up" : "step",
              s < o->warmup ? s + 1 : s - o->warmup + 1, s < o->warmup ? o->warmup : o->steps,
              times[s] * 1e3);
  }
  return PT_OK;
}

static int bench_model(run_args *a) {
  bench_opts o;
  bench_shape(a, &o);
  bench_run r = {0};
  int64_t trainable = 0;
  pt_status st = bench_setup(&o, &r, &trainable);
  double rss_build = peak_rss_mib();
  double *times = calloc((size_t)(o.warmup + o.steps), sizeof(double));
  if (st == PT_OK && !times) st = pt_error(PT_ERR_NOMEM, "bench: out of memory");
  if (st == PT_OK) st = bench_time(&o, &r, times);
  if (st == PT_OK) {
    double rss_peak = peak_rss_mib(); /* the steps', before the peak's buffers */
    double peak = gemm_peak(&o, PT_F32);
    double peak_bf16 = o.backbone_dtype == PT_BF16 ? gemm_peak(&o, PT_BF16) : 0;
    report(&o, times, model_flops(&o, o.mode) / 1e9, trainable,
           r.mlm ? pt_params_numel(&r.mlm_model.params, false) : pt_model_numel(&r.ptv2, false),
           rss_build, rss_peak, peak, peak_bf16);
  }
  free(times);
  bench_free(&r);
  return command_exit(a, st);
}

static const command bench_model_command = {
    .name = "bench model",
    .summary = "one training step (or inference batch) of a BERT-base shape, timed",
    .usage =
        "bench model [--mode ptv2|full|infer|mlm] [--seq N] [--prefix N] [--batch N]\n"
        "                         [--steps N] [--warmup N] [--layers N] [--hidden N]\n"
        "                         [--backbone-dtype f32|bf16] [--json]\n"
        "Times a P-Tuning v2 training step (ptv2), a full fine-tuning step (full) or an\n"
        "inference batch (infer) of a BERT-base-shaped model (random weights, token\n"
        "classification, 9 labels, prefix 16 with a 512-wide MLP, batch 8 x 128, AdamW,\n"
        "dropout on when training), as bench/vs_torch.sh compares it with PyTorch\n"
        "(--backbone-dtype bf16: the frozen matrices in bf16, ptv2 and infer);\n"
        "or (mlm) a masked-LM pretraining step of the demo model's shape (4 x 256,\n"
        "vocab 30522, batch 32 x 128, 15% masked, dropout 0, AdamW, clip 1.0).",
    .defaults = "--mode ptv2 --steps 10 --warmup 3",
    .run = bench_model,
};
COMMAND_REGISTER(bench_model_command);
