/* lora (Hu et al. 2021) as peft's LoRA (tuners/lora/layer.py Linear):
 * each targeted linear gets y = x·Wᵀ + b + s·(dropout(x)·Aᵀ)·Bᵀ with
 * A [r, in] ~ U(±1/√in) (kaiming_uniform, a = √5), B [out, r] = 0 and
 * s = alpha/r, or alpha/√r with rsLoRA. Tensors "<module>.lora_A.weight",
 * "<module>.lora_B.weight" (peft: "base_model.model.<module>.lora_A.weight").
 * bias: none, all (every bias of the model trains, LayerNorm's too) or
 * lora_only (the targeted modules' biases; peft saves them as
 * "<module>.base_layer.bias"). Merging adds s·B·A to W. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "autograd/pt_autograd.h"
#include "autograd/pt_ops.h"
#include "autograd/pt_ops_pointwise.h"
#include "models/methods/common.h"

typedef struct {
  int64_t r;
  double alpha;
  double dropout;
  pt_nn_targets targets;
  char *bias; /* none | all | lora_only */
  bool rslora;
} lora_opts;

static const pt_option lora_options[] = {
    {"lora-r", "r", PT_OPT_INT, offsetof(lora_opts, r), "8", NULL, "rank r of the update B·A", true},
    {"lora-alpha", "lora_alpha", PT_OPT_REAL, offsetof(lora_opts, alpha), "8", NULL,
     "the update is scaled by alpha/r (alpha/sqrt(r) with --use-rslora)", true},
    {"lora-dropout", "lora_dropout", PT_OPT_REAL, offsetof(lora_opts, dropout), "0", NULL,
     "dropout on the update's input", true},
    {"target-modules", "target_modules", PT_OPT_TARGETS, offsetof(lora_opts, targets),
     "query,value", NULL,
     "modules that get an update: names (any module path ending in .NAME) or a regular "
     "expression the whole path must match",
     true},
    {"lora-bias", "bias", PT_OPT_CHOICE, offsetof(lora_opts, bias), "none", "none|all|lora_only",
     "biases that train too: none, all of the model's, or the targeted modules'", true},
    {"use-rslora", "use_rslora", PT_OPT_BOOL, offsetof(lora_opts, rslora), "false", NULL,
     "rank-stabilized scaling alpha/sqrt(r)", true},
    {0}};

typedef struct lora_layer {
  const pt_model *m;
  pt_nn_linear *lin;
  pt_tensor *A, *B;
  double scale, dropout;
  char path[240];
  struct lora_layer *next;
} lora_layer;

static pt_status lora_check(const void *opts, const pt_bert_config *bc) {
  const lora_opts *o = opts;
  (void)bc;
  if (o->r < 1) return pt_error(PT_ERR_ARG, "--lora-r must be at least 1, got %lld", (long long)o->r);
  if (!(o->dropout >= 0 && o->dropout < 1))
    return pt_error(PT_ERR_ARG, "--lora-dropout must be in [0, 1), got %g", o->dropout);
  return PT_OK;
}

/* y + s·(dropout(x)·Aᵀ)·Bᵀ, in peft's order of operations */
static pt_tensor *lora_hook(void *ctx, pt_tensor *x, pt_tensor *y) {
  const lora_layer *l = ctx;
  pt_tensor *d = pt_dropout(x, l->dropout, l->m->mode.training, l->m->mode.rng);
  pt_tensor *xa = pt_linear(d, l->A, NULL);
  pt_tensor *xab = pt_linear(xa, l->B, NULL);
  pt_tensor *s = pt_scale(xab, l->scale);
  pt_tensor *out = pt_add(y, s);
  pt_tensor *tmp[] = {d, xa, xab, s};
  for (int i = 0; i < 4; i++) pt_tensor_free(tmp[i]);
  return out;
}

typedef struct {
  pt_model *m;
  pt_rng *rng;
  lora_layer **tail;
} lora_attach_ctx;

static pt_status lora_layer_add(pt_nn_linear *lin, const char *path, void *ctx) {
  lora_attach_ctx *c = ctx;
  pt_model *m = c->m;
  const lora_opts *o = m->opts;
  lora_layer *l = pt_model_alloc(m, sizeof *l);
  if (!l) return pt_error_code();
  int64_t in = lin->weight->shape[1], out = lin->weight->shape[0];
  char name[300];
  method_name(name, sizeof name, path, "lora_A.weight");
  l->A = pt_model_param(m, name, 2, PT_SHAPE(o->r, in), false);
  method_name(name, sizeof name, path, "lora_B.weight");
  l->B = pt_model_param(m, name, 2, PT_SHAPE(out, o->r), false);
  if (!l->A || !l->B) return pt_error_code();
  double bound = 1.0 / sqrt((double)in);
  PT_TRY(pt_rng_fill_uniform(c->rng, l->A, -bound, bound));
  l->m = m;
  l->lin = lin;
  l->scale = o->rslora ? o->alpha / sqrt((double)o->r) : o->alpha / (double)o->r;
  l->dropout = o->dropout;
  snprintf(l->path, sizeof l->path, "%s", path);
  *c->tail = l;
  c->tail = &l->next;
  if (!strcmp(o->bias, "lora_only") && lin->bias) PT_TRY(pt_model_adopt(m, lin->bias));
  return pt_model_hook(m, lin, PT_NN_HOOK_OUTPUT, lora_hook, l);
}

static pt_status lora_attach(pt_model *m, pt_rng *rng) {
  const lora_opts *o = m->opts;
  lora_layer **first = pt_model_alloc(m, sizeof *first);
  if (!first) return pt_error_code();
  m->state = first;
  lora_attach_ctx c = {m, rng, first};
  PT_TRY(pt_model_visit_targets(m, &o->targets, "--target-modules", lora_layer_add, &c));
  if (strcmp(o->bias, "all")) return PT_OK;
  for (int i = 0; i < m->bb->params.count; i++) {
    pt_tensor *t = m->bb->params.items[i];
    size_t n = strlen(t->name);
    if (n >= 5 && !strcmp(t->name + n - 5, ".bias")) PT_TRY(pt_model_adopt(m, t));
  }
  return PT_OK;
}

static pt_status lora_merge(pt_model *m) {
  for (const lora_layer *l = *(lora_layer **)m->state; l; l = l->next) {
    pt_tensor *delta = pt_matmul(l->B, l->A); /* [out, in] */
    pt_status st = delta ? method_add_scaled(l->lin->weight, delta, l->scale) : pt_error_code();
    pt_tensor_free(delta);
    PT_TRY(st);
  }
  return PT_OK;
}

/* A targeted module's bias sits on peft's wrapper as base_layer.bias. */
static void lora_peft_name(const pt_model *m, const char *name, char *out, size_t cap) {
  size_t n = strlen(name);
  if (n > 5 && !strcmp(name + n - 5, ".bias"))
    for (const lora_layer *l = *(lora_layer **)m->state; l; l = l->next)
      if (strlen(l->path) == n - 5 && !strncmp(l->path, name, n - 5)) {
        snprintf(out, cap, "base_model.model.%s.base_layer.bias", l->path);
        return;
      }
  snprintf(out, cap, "base_model.model.%s", name);
}

static pt_status lora_peft_config(const pt_model *m, json_t *cfg) {
  (void)m;
  json_object_set_new(cfg, "fan_in_fan_out", json_false());
  json_object_set_new(cfg, "init_lora_weights", json_true());
  json_object_set_new(cfg, "use_dora", json_false());
  json_object_set_new(cfg, "layers_to_transform", json_null());
  json_object_set_new(cfg, "layers_pattern", json_null());
  json_object_set_new(cfg, "rank_pattern", json_object());
  json_object_set_new(cfg, "alpha_pattern", json_object());
  return PT_OK;
}

const pt_method pt_method_lora = {
    .name = "lora",
    .summary = "LoRA: a low-rank update B·A beside the targeted linears (peft's LORA)",
    .options = lora_options,
    .opts_size = sizeof(lora_opts),
    .check = lora_check,
    .attach = lora_attach,
    .merge = lora_merge,
    .peft_type = "LORA",
    .peft_name = lora_peft_name,
    .peft_config = lora_peft_config,
};
