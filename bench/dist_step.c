/* One training step split over MPI ranks, timed: what data parallelism
 * buys (or costs) for the shapes of `ptune bench model`.
 *
 *   dist_step --mode ptv2|ptv2-small|full|mlm [--steps N] [--warmup N]
 *             [--bucket-mb M] [--no-overlap] [--json]
 *   mpirun -np 2 dist_step --mode full       (each rank gets half the batch)
 *
 * ptv2 / full: BERT-base (12 x 768) token classification, 9 labels, dropout
 * 0.1, global batch 8 x 128, AdamW; ptv2 trains a 16-position prefix with a
 * 512-wide reparameterization MLP (as `ptune bench model --mode ptv2`),
 * ptv2-small the same prefix without the MLP on the bundled model's shape
 * (4 x 224: the demo's 30,697 trainable parameters); full trains all of
 * BERT-base. mlm: a pretraining step of the bundled model's shape (4 x 224,
 * vocab 30,522), global batch 32 x 128, 15% masked, AdamW + clipping.
 *
 * The global batch is split in equal micro-batches, one per rank; the
 * gradients go through pt_dist_grads (buckets sent during backward, or with
 * --no-overlap all after it). Per step it measures forward + backward
 * (including moving gradients into buckets), the wait for the last
 * buckets, the optimizer, and the whole step, on every rank; rank 0 prints
 * medians over the steps of the slowest rank's figures. Random weights,
 * random token ids: the time of a step does not depend on what it learns. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ptune.h"
#include "models/pt_backbone.h"
#include "models/pt_mlm.h"
#include "models/pt_model.h"

typedef struct {
  const char *mode;
  int warmup, steps;
  double bucket_mb;
  bool no_overlap, json, tiny;
} opts;

typedef struct {
  bool mlm;
  pt_backbone bb;
  pt_model model;
  pt_mlm_model mlm_model;
  pt_tensor *ids, *labels, *mask;
  pt_tensor **train;
  int ntrain;
  int64_t B, S, vocab;
} run;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *x, int n) {
  qsort(x, (size_t)n, sizeof *x, cmp_double);
  return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

static int fail(const char *what) {
  fprintf(stderr, "dist_step: %s: %s\n", what, pt_error_message());
  pt_dist_abort(1);
  return 1;
}

/* This rank's share of the global batch: random ids, labels (mlm: 15% of
 * the positions masked, spread evenly, labelled with the original id). */
static pt_status make_batch(run *r, int64_t global_batch, int64_t labels) {
  int size = pt_dist_size(), rank = pt_dist_rank();
  int64_t lo = global_batch * rank / size, hi = global_batch * (rank + 1) / size;
  r->B = hi - lo;
  int64_t B = r->B, S = r->S;
  r->ids = pt_empty(PT_I64, 2, PT_SHAPE(B, S));
  r->labels = pt_empty(PT_I64, 2, PT_SHAPE(B, S));
  r->mask = pt_ones(PT_I64, 2, PT_SHAPE(B, S));
  if (!r->ids || !r->labels || !r->mask) return pt_error_code();
  pt_rng rng;
  pt_rng_init(&rng, 1 + (uint64_t)rank);
  for (int64_t i = 0; i < B * S; i++) {
    int64_t id = 1000 + (int64_t)pt_rng_below(&rng, (uint64_t)(r->vocab - 1000));
    int64_t g = (lo * S + i) * 150;
    bool masked = g / 1000 != (g + 150) / 1000;
    pt_set(r->ids, i, r->mlm && masked ? 103.0 : (double)id);
    pt_set(r->labels, i, r->mlm ? (masked ? (double)id : -100.0)
                                : (double)pt_rng_below(&rng, (uint64_t)labels));
  }
  return PT_OK;
}

static pt_status build(run *r, const char *mode, bool tiny) {
  bool small = !strcmp(mode, "ptv2-small") || !strcmp(mode, "mlm");
  pt_bert_config bc;
  pt_bert_config_default(&bc, PT_ARCH_BERT);
  bc.vocab_size = r->vocab = small ? 30522 : 28996;
  bc.hidden_size = tiny ? 32 : small ? 224 : 768;
  bc.num_layers = tiny ? 1 : small ? 4 : 12;
  bc.num_heads = tiny ? 2 : small ? 4 : 12;
  bc.intermediate_size = 4 * bc.hidden_size;
  r->S = tiny ? 16 : 128;
  if (r->mlm) {
    bc.max_position = r->S;
    bc.hidden_dropout = bc.attention_dropout = 0; /* as the bundled model was pretrained */
    PT_TRY(pt_mlm_init(&r->mlm_model, &bc, 0));
    r->ntrain = 0;
    r->train = malloc(sizeof *r->train * (size_t)r->mlm_model.params.count);
    for (int i = 0; i < r->mlm_model.params.count; i++)
      if (pt_requires_grad(r->mlm_model.params.items[i]))
        r->train[r->ntrain++] = r->mlm_model.params.items[i];
    return make_batch(r, 32, 0);
  }
  pt_head_config hc = {.task = PT_TASK_TOKEN_CLASSIFICATION, .num_labels = 9};
  PT_TRY(pt_backbone_init(&r->bb, &bc, pt_backbone_parts_for(hc.task, hc.kind), 0));
  bool full = !strcmp(mode, "full");
  const pt_method *method = pt_method_find(full ? "finetune" : "ptv2");
  if (!method) return pt_error_code();
  void *mo = calloc(1, method->opts_size ? method->opts_size : 1);
  pt_status st = pt_options_init(method->options, mo);
  if (st == PT_OK && !full && !small)
    st = pt_option_set_text(pt_option_find_flag(method->options, "prefix-projection"), mo, "true");
  pt_model_config mc = {.head = hc, .seed = 0};
  if (st == PT_OK) st = pt_model_new(&r->model, &r->bb, method, mo, &mc);
  pt_options_free(method->options, mo);
  free(mo);
  PT_TRY(st);
  r->ntrain = pt_model_ntrainable(&r->model);
  r->train = malloc(sizeof *r->train * (size_t)r->ntrain);
  for (int i = 0; i < r->ntrain; i++) r->train[i] = pt_model_trainable(&r->model, i);
  return make_batch(r, 8, 9);
}

static pt_status forward(run *r, pt_rng *rng, pt_tensor **loss, void **outs) {
  pt_nn_mode mode = {true, rng};
  if (r->mlm) {
    pt_mlm_outputs *o = calloc(1, sizeof *o);
    *outs = o;
    PT_TRY(pt_mlm_forward(&r->mlm_model, r->ids, NULL, r->labels, mode, false, o));
    *loss = o->loss;
    return PT_OK;
  }
  pt_model_outputs *o = calloc(1, sizeof *o);
  *outs = o;
  pt_model_batch b = {r->ids, r->mask, NULL, r->labels, NULL, NULL};
  PT_TRY(pt_model_forward(&r->model, &b, mode, false, o));
  *loss = o->loss;
  return PT_OK;
}

static void outputs_free(run *r, void *outs) {
  if (!outs) return;
  if (r->mlm) pt_mlm_outputs_free(outs);
  else pt_model_outputs_free(outs);
  free(outs);
}

int main(int argc, char **argv) {
  if (pt_dist_init(&argc, &argv, NULL) != PT_OK) return fail("start");
  opts o = {.mode = "ptv2", .warmup = 2, .steps = 8, .bucket_mb = 25};
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--mode") && i + 1 < argc) o.mode = argv[++i];
    else if (!strcmp(argv[i], "--steps") && i + 1 < argc) o.steps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--warmup") && i + 1 < argc) o.warmup = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--bucket-mb") && i + 1 < argc) o.bucket_mb = atof(argv[++i]);
    else if (!strcmp(argv[i], "--no-overlap")) o.no_overlap = true;
    else if (!strcmp(argv[i], "--json")) o.json = true;
    else if (!strcmp(argv[i], "--tiny")) o.tiny = true; /* the smoke test's shape */
    else {
      if (pt_dist_rank() == 0)
        fprintf(stderr, "usage: dist_step [--mode ptv2|ptv2-small|full|mlm] [--steps N] "
                        "[--warmup N] [--bucket-mb M] [--no-overlap] [--json] [--tiny]\n");
      pt_dist_finalize();
      return 2;
    }
  }
  if (strcmp(o.mode, "ptv2") && strcmp(o.mode, "ptv2-small") && strcmp(o.mode, "full") &&
      strcmp(o.mode, "mlm")) {
    pt_error(PT_ERR_ARG, "unknown mode '%s'", o.mode);
    return fail("--mode");
  }
  if (o.steps < 1) o.steps = 1;
  pt_set_flush_denormal(true); /* as the ptune command does, */
  pt_heap_tune_for_reuse();    /* both (pt_fpmode.h, pt_heap.h) */
  run r = {.mlm = !strcmp(o.mode, "mlm")};
  if (build(&r, o.mode, o.tiny) != PT_OK) return fail("model");
  pt_adamw_opts ao = pt_adamw_defaults();
  ao.lr = r.mlm ? 1e-4 : 5e-3;
  pt_optim *opt = pt_adamw_new(&ao);
  if (!opt || pt_optim_add_params(opt, r.ntrain, r.train, NULL, NULL) != PT_OK) return fail("optimizer");
  pt_dist_grads *g = pt_dist_grads_new(r.train, r.ntrain, (size_t)(o.bucket_mb * 1048576.0));
  if (!g) return fail("buckets");
  pt_rng rng;
  pt_rng_init(&rng, 7 + (uint64_t)pt_dist_rank());
  int n = o.warmup + o.steps;
  /* per step: forward+backward, wait, optimizer, whole step (this rank) */
  double *t = calloc((size_t)n * 4, sizeof *t);
  for (int s = 0; s < n; s++) {
    pt_dist_set_step(s + 1);
    double t0 = now_s();
    pt_tensor *loss = NULL;
    void *outs = NULL;
    pt_status st = forward(&r, &rng, &loss, &outs);
    if (st == PT_OK) st = pt_dist_grads_backward(g, loss, !o.no_overlap);
    outputs_free(&r, outs);
    double t1 = now_s();
    if (st == PT_OK) st = pt_dist_grads_finish(g, NULL);
    double t2 = now_s(), norm = 0;
    if (st == PT_OK && r.mlm) st = pt_optim_clip_grad_norm(opt, 1.0, &norm);
    if (st == PT_OK) st = pt_optim_step(opt);
    pt_optim_zero_grad(opt);
    double t3 = now_s();
    if (st != PT_OK) return fail("step");
    double row[4] = {t1 - t0, t2 - t1, t3 - t2, t3 - t0};
    memcpy(t + 4 * s, row, sizeof row);
  }
  /* the slowest rank's figure of each step */
  double *worst = malloc(sizeof(double) * (size_t)n * 4);
  memcpy(worst, t, sizeof(double) * (size_t)n * 4);
  void *all = NULL;
  if (pt_dist_gather(t, sizeof(double) * (size_t)n * 4, &all, NULL) != PT_OK) return fail("gather");
  for (int p = 1; all && p < pt_dist_size(); p++)
    for (int k = 0; k < n * 4; k++) {
      double v = ((double *)all)[p * n * 4 + k];
      if (v > worst[k]) worst[k] = v;
    }
  free(all);
  pt_dist_grads_stats gs = pt_dist_grads_get_stats(g);
  if (pt_dist_rank() == 0) {
    double med[4];
    for (int c = 0; c < 4; c++) {
      double *col = malloc(sizeof(double) * (size_t)o.steps);
      for (int s = 0; s < o.steps; s++) col[s] = worst[4 * (o.warmup + s) + c];
      med[c] = median(col, o.steps);
      free(col);
    }
    int64_t trainable = 0;
    for (int i = 0; i < r.ntrain; i++) trainable += pt_numel(r.train[i]);
    if (o.json)
      printf("{\"mode\": \"%s\", \"ranks\": %d, \"threads\": %d, \"overlap\": %s, "
             "\"bucket_mb\": %.1f, \"buckets\": %d, \"grad_bytes\": %zu, \"trainable\": %lld, "
             "\"ms_step\": %.1f, \"ms_fwd_bwd\": %.1f, \"ms_wait\": %.1f, \"ms_optim\": %.1f, "
             "\"wait_share\": %.4f, \"ms_comm\": %.1f, \"steps\": %d, \"layout\": \"%s\"}\n",
             o.mode, pt_dist_size(), omp_get_max_threads(), o.no_overlap ? "false" : "true",
             o.bucket_mb, gs.buckets, gs.bytes, (long long)trainable, med[3] * 1e3, med[0] * 1e3,
             med[1] * 1e3, med[2] * 1e3, med[1] / med[3],
             gs.steps ? 1e3 * gs.comm_s / (double)gs.steps : 0.0, o.steps, pt_dist_layout());
    else
      printf("%s, %d rank(s) x %d thread(s)%s: step %.1f ms (forward+backward %.1f, waiting for "
             "the sum %.1f = %.1f%%, optimizer %.1f); %d bucket(s), %zu gradient bytes\n",
             o.mode, pt_dist_size(), omp_get_max_threads(), o.no_overlap ? ", no overlap" : "",
             med[3] * 1e3, med[0] * 1e3, med[1] * 1e3, 100 * med[1] / med[3], med[2] * 1e3,
             gs.buckets, gs.bytes);
  }
  free(worst);
  free(t);
  pt_dist_grads_free(g);
  pt_optim_free(opt);
  pt_tensor_free(r.ids);
  pt_tensor_free(r.labels);
  pt_tensor_free(r.mask);
  free(r.train);
  if (r.mlm) {
    pt_mlm_free(&r.mlm_model);
  } else {
    pt_model_free(&r.model);
    pt_backbone_free(&r.bb);
  }
  return pt_dist_finalize() == PT_OK ? 0 : 1;
}
