/* A PEFT method from outside the library: VeRA (Kopiczko et al. 2024,
 * "Vector-based Random Matrix Adaptation"), as peft's VERA
 * (tuners/vera/layer.py), registered through the public API. The program
 * is a complete `ptune` with one more method:
 *
 *   build/examples/vera methods
 *   build/examples/vera train --task ner --method vera --vera-r 64 \
 *       --model assets/tiny-bert-uncased --train assets/data/conll04/train.json \
 *       --dev assets/data/conll04/dev.json --out runs/vera --lr 1e-2
 *   build/examples/vera eval --task ner --model assets/tiny-bert-uncased \
 *       --adapter runs/vera/best --data assets/data/conll04/dev.json
 *
 * The method. One pair of random matrices, frozen at their start and
 * shared by every targeted linear: A [r, in_max] and B [out_max, r] (the
 * largest in and out features among the targets), kaiming-uniform as peft
 * draws them (bounds √(6/in_max) and √(6/r)) from a generator seeded with
 * --vera-prng-key alone. Each targeted linear W [out, in] trains only two
 * vectors, d [r] (starting at --vera-d-initial) and b [out] (starting at
 * 0, so training starts from the base model):
 *
 *   y = x·Wᵀ + bias + b ⊙ ((d ⊙ (dropout(x)·A[:, :in]ᵀ))·B[:out, :]ᵀ)
 *
 * Tensors, as peft names them: "vera_A" and "vera_B" (frozen: the adapter
 * keeps them, peft's save_projection), "<module>.vera_lambda_d" and
 * "<module>.vera_lambda_b" (peft: "base_model.vera_A",
 * "base_model.model.<module>.vera_lambda_b"). Merging adds
 * (b ⊙ B)·(d ⊙ A) to W.
 *
 * docs/writing-a-method.md walks through this file. The test suite links it
 * without main() (VERA_NO_MAIN) to check the method's gradients and its
 * parity with PyTorch (tests/test_vera.c), and runs the program itself
 * (tests/example_vera.py). */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "ptune.h"
#include "apps/pt_cli.h"
#include "models/pt_model.h"

/* ---- the options: one table for the command line and adapter_config.json ---- */

typedef struct {
  int64_t r;
  double dropout;
  double d_initial;
  int64_t prng_key;
  pt_nn_targets targets;
} vera_opts;

static const pt_option vera_options[] = {
    /* flag, JSON key (peft's), type, where the value lives, default, choices, help, peft's key */
    {"vera-r", "r", PT_OPT_INT, offsetof(vera_opts, r), "256", NULL,
     "rank r of the shared random matrices", true},
    {"vera-dropout", "vera_dropout", PT_OPT_REAL, offsetof(vera_opts, dropout), "0", NULL,
     "dropout on the update's input", true},
    {"vera-d-initial", "d_initial", PT_OPT_REAL, offsetof(vera_opts, d_initial), "0.1", NULL,
     "the start of every entry of the vectors d", true},
    {"vera-prng-key", "projection_prng_key", PT_OPT_INT, offsetof(vera_opts, prng_key), "0", NULL,
     "seed of the random matrices A and B (ptune's generator: the adapter stores them)", true},
    {"target-modules", "target_modules", PT_OPT_TARGETS, offsetof(vera_opts, targets),
     "query,value", NULL,
     "modules that get an update: names (any module path ending in .NAME) or a regular "
     "expression the whole path must match",
     true},
    {0}};

static pt_status vera_check(const void *opts, const pt_bert_config *bc) {
  const vera_opts *o = opts;
  (void)bc;
  if (o->r < 1) return pt_error(PT_ERR_ARG, "--vera-r must be at least 1, got %lld", (long long)o->r);
  if (!(o->dropout >= 0 && o->dropout < 1))
    return pt_error(PT_ERR_ARG, "--vera-dropout must be in [0, 1), got %g", o->dropout);
  if (!isfinite(o->d_initial))
    return pt_error(PT_ERR_ARG, "--vera-d-initial must be a finite number, got %g", o->d_initial);
  if (o->prng_key < 0)
    return pt_error(PT_ERR_ARG, "--vera-prng-key must be at least 0, got %lld", (long long)o->prng_key);
  return PT_OK;
}

/* ---- the state: the shared pair and one entry per targeted linear ---- */

typedef struct vera_layer {
  const pt_model *m;    /* its mode (training, dropout's generator) */
  const struct vera_state *s;
  pt_nn_linear *lin;
  pt_tensor *d, *b;     /* [r], [out]: trainable (the model's list holds them) */
  struct vera_layer *next;
} vera_layer;

typedef struct vera_state {
  pt_tensor *A, *B;     /* [r, in_max], [out_max, r]: frozen */
  double dropout;
  int64_t in_max, out_max;
  vera_layer *layers, **tail;
} vera_state;

/* A[:, :in] and B[:out, :] (new references): each layer's slice of the pair */
static pt_tensor *slice_A(const vera_state *s, int64_t in) {
  pt_tensor *v = pt_narrow(s->A, 1, 0, in);
  pt_tensor *c = pt_contiguous(v);
  pt_tensor_free(v);
  return c;
}

static pt_tensor *slice_B(const vera_state *s, int64_t out) { return pt_narrow(s->B, 0, 0, out); }

/* The output-stage hook: y + b ⊙ ((d ⊙ (dropout(x)·Aᵀ))·Bᵀ), in peft's order.
 * Each op returns NULL on failure and takes NULL inputs through, so one
 * check at the end suffices (the chain reports the error). */
static pt_tensor *vera_hook(void *ctx, pt_tensor *x, pt_tensor *y) {
  const vera_layer *l = ctx;
  int64_t in = l->lin->weight->shape[1], out = l->lin->weight->shape[0];
  pt_tensor *A = slice_A(l->s, in), *B = slice_B(l->s, out);
  pt_tensor *dx = pt_dropout(x, l->s->dropout, l->m->mode.training, l->m->mode.rng);
  pt_tensor *xa = pt_linear(dx, A, NULL);
  pt_tensor *dxa = pt_mul(xa, l->d);
  pt_tensor *xab = pt_linear(dxa, B, NULL);
  pt_tensor *bxab = pt_mul(xab, l->b);
  pt_tensor *res = pt_add(y, bxab);
  pt_tensor *tmp[] = {A, B, dx, xa, dxa, xab, bxab};
  for (int i = 0; i < 7; i++) pt_tensor_free(tmp[i]);
  return res;
}

/* ---- attach: create the tensors, decide what trains, install the hooks ---- */

/* First pass over the targets: the largest in and out features. */
static pt_status find_dims(pt_nn_linear *lin, const char *path, void *ctx) {
  (void)path;
  vera_state *s = ctx;
  if (lin->weight->shape[1] > s->in_max) s->in_max = lin->weight->shape[1];
  if (lin->weight->shape[0] > s->out_max) s->out_max = lin->weight->shape[0];
  return PT_OK;
}

/* Second pass: d and b for each target, and its hook. */
static pt_status add_layer(pt_nn_linear *lin, const char *path, void *ctx) {
  pt_model *m = ctx;
  const vera_opts *o = m->opts;
  vera_state *s = m->state;
  vera_layer *l = pt_model_alloc(m, sizeof *l);
  if (!l) return pt_error_code();
  char name[320];
  snprintf(name, sizeof name, "%s.vera_lambda_b", path);
  l->b = pt_model_param(m, name, 1, PT_SHAPE(lin->weight->shape[0]), false); /* zeros */
  snprintf(name, sizeof name, "%s.vera_lambda_d", path);
  l->d = pt_model_param(m, name, 1, PT_SHAPE(o->r), false);
  if (!l->b || !l->d) return pt_error_code();
  for (int64_t i = 0; i < o->r; i++) pt_set(l->d, i, o->d_initial);
  l->m = m;
  l->s = s;
  l->lin = lin;
  *s->tail = l;
  s->tail = &l->next;
  return pt_model_hook(m, lin, PT_NN_HOOK_OUTPUT, vera_hook, l);
}

/* peft's _kaiming_init: U(±√3·√2/√fan_in) */
static pt_status kaiming_uniform(pt_rng *rng, pt_tensor *t) {
  double bound = sqrt(6.0 / (double)t->shape[1]);
  return pt_rng_fill_uniform(rng, t, -bound, bound);
}

static pt_status vera_attach(pt_model *m, pt_rng *rng) {
  (void)rng; /* A and B depend on --vera-prng-key alone, as in peft; d and b are constants */
  const vera_opts *o = m->opts;
  vera_state *s = pt_model_alloc(m, sizeof *s);
  if (!s) return pt_error_code();
  m->state = s;
  s->dropout = o->dropout;
  s->tail = &s->layers;
  PT_TRY(pt_model_visit_targets(m, &o->targets, "--target-modules", find_dims, s));
  s->A = pt_model_param(m, "vera_A", 2, PT_SHAPE(o->r, s->in_max), true);
  s->B = pt_model_param(m, "vera_B", 2, PT_SHAPE(s->out_max, o->r), true);
  if (!s->A || !s->B) return pt_error_code();
  pt_rng prng;
  pt_rng_init(&prng, (uint64_t)o->prng_key);
  PT_TRY(kaiming_uniform(&prng, s->A));
  PT_TRY(kaiming_uniform(&prng, s->B));
  return pt_model_visit_targets(m, &o->targets, "--target-modules", add_layer, m);
}

/* ---- merge: W += (b ⊙ B[:out])·(d ⊙ A[:, :in]) ---- */

static pt_status vera_merge(pt_model *m) {
  const vera_state *s = m->state;
  pt_status st = PT_OK;
  pt_no_grad_enter();
  for (const vera_layer *l = s->layers; l && st == PT_OK; l = l->next) {
    int64_t in = l->lin->weight->shape[1], out = l->lin->weight->shape[0];
    pt_tensor *A = slice_A(s, in), *B = slice_B(s, out);
    pt_tensor *dcol = pt_view(l->d, 2, PT_SHAPE(-1, 1)), *bcol = pt_view(l->b, 2, PT_SHAPE(-1, 1));
    pt_tensor *dA = pt_mul(A, dcol), *bB = pt_mul(B, bcol);
    pt_tensor *delta = pt_matmul(bB, dA); /* [out, in] */
    st = delta ? pt_raw_axpy_into(l->lin->weight, 1.0, delta) : pt_error_code();
    pt_tensor *tmp[] = {A, B, dcol, bcol, dA, bB, delta};
    for (int i = 0; i < 7; i++) pt_tensor_free(tmp[i]);
  }
  pt_no_grad_exit();
  return st;
}

/* ---- peft's layout ---- */

/* The shared pair sits on the tuner ("base_model.vera_A"), the vectors on
 * the wrapped module ("base_model.model.<module>.vera_lambda_b"). */
static void vera_peft_name(const pt_model *m, const char *name, char *out, size_t cap) {
  (void)m;
  bool shared = !strcmp(name, "vera_A") || !strcmp(name, "vera_B");
  snprintf(out, cap, "%s%s", shared ? "base_model." : "base_model.model.", name);
}

/* The keys of peft's VeraConfig beyond the option table. */
static pt_status vera_peft_config(const pt_model *m, json_t *cfg) {
  (void)m;
  json_object_set_new(cfg, "save_projection", json_true());
  json_object_set_new(cfg, "fan_in_fan_out", json_false());
  json_object_set_new(cfg, "bias", json_string("none"));
  json_object_set_new(cfg, "init_weights", json_true());
  json_object_set_new(cfg, "layers_to_transform", json_null());
  json_object_set_new(cfg, "layers_pattern", json_null());
  return PT_OK;
}

/* ---- the definition ---- */

const pt_method vera_method = {
    .name = "vera",
    .summary = "VeRA: frozen shared random A, B; trainable vectors d, b per targeted linear "
               "(peft's VERA; examples/vera.c)",
    .options = vera_options,
    .opts_size = sizeof(vera_opts),
    .check = vera_check,
    .attach = vera_attach,
    .merge = vera_merge,
    .peft_type = "VERA",
    .peft_name = vera_peft_name,
    .peft_config = vera_peft_config,
};

#ifndef VERA_NO_MAIN
int main(int argc, char **argv) {
  if (pt_method_register(&vera_method) != PT_OK) {
    fprintf(stderr, "vera: %s\n", pt_error_message());
    return 1;
  }
  return pt_cli_main(argc, argv);
}
#endif
