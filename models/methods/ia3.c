/* ia3 (Liu et al. 2022, (IA)³) as peft's IA3 (tuners/ia3/layer.py Linear):
 * a learned vector rescales each targeted linear, starting at ones:
 *   targets that are not feed-forward:  y = (x·Wᵀ + b) ⊙ l,  l [out, 1]
 *   feed-forward targets:               y = (x ⊙ l)·Wᵀ + b,  l [1, in]
 * (an input-stage hook: no second GEMM). Tensors "<module>.ia3_l" (peft:
 * "base_model.model.<module>.ia3_l"). peft's BERT defaults are the
 * targets key, value, output.dense and the feed-forward output.dense;
 * both name lists match as peft matches them: target_modules by
 * tuners_utils' rule, feedforward_modules by a plain suffix test
 * (key.endswith(name)), so "output.dense" is feed-forward for the
 * attention output too. Merging multiplies W's rows (and b) or columns. */
#include <stddef.h>
#include <string.h>

#include "autograd/pt_autograd.h"
#include "autograd/pt_ops.h"
#include "models/methods/common.h"

typedef struct {
  pt_nn_targets targets;
  pt_nn_targets feedforward;
} ia3_opts;

static const pt_option ia3_options[] = {
    {"target-modules", "target_modules", PT_OPT_TARGETS, offsetof(ia3_opts, targets),
     "key,value,output.dense", NULL,
     "modules that get a scaling vector: names (any module path ending in .NAME) or a regular "
     "expression the whole path must match",
     true},
    {"feedforward-modules", "feedforward_modules", PT_OPT_TARGETS, offsetof(ia3_opts, feedforward),
     "output.dense", NULL,
     "targets whose input is scaled instead of their output (names: a path ending in NAME; or "
     "a regular expression)",
     true},
    {0}};

typedef struct ia3_layer {
  pt_nn_linear *lin;
  pt_tensor *l;
  bool feedforward;
  struct ia3_layer *next;
} ia3_layer;

/* peft's _check_target_module_feedforward: a string is a full-match regular
 * expression, a list matches by plain suffix. */
static bool is_feedforward(const pt_nn_targets *ff, const char *path) {
  if (ff->regex) return pt_nn_targets_match(ff, path);
  size_t pl = strlen(path);
  for (int i = 0; i < ff->n; i++) {
    size_t nl = strlen(ff->names[i]);
    if (pl >= nl && !strcmp(path + pl - nl, ff->names[i])) return true;
  }
  return false;
}

/* y ⊙ l over the last dim (l [out, 1] read as [out]) */
static pt_tensor *scale_output(void *ctx, pt_tensor *x, pt_tensor *y) {
  (void)x;
  const ia3_layer *l = ctx;
  pt_tensor *v = pt_view(l->l, 1, PT_SHAPE(pt_numel(l->l)));
  pt_tensor *out = pt_mul(y, v);
  pt_tensor_free(v);
  return out;
}

/* x ⊙ l (l [1, in] broadcasts over the rows) */
static pt_tensor *scale_input(void *ctx, pt_tensor *x, pt_tensor *y) {
  (void)y;
  const ia3_layer *l = ctx;
  return pt_mul(x, l->l);
}

typedef struct {
  pt_model *m;
  ia3_layer **tail;
} ia3_attach_ctx;

static pt_status ia3_layer_add(pt_nn_linear *lin, const char *path, void *ctx) {
  ia3_attach_ctx *c = ctx;
  const ia3_opts *o = c->m->opts;
  ia3_layer *l = pt_model_alloc(c->m, sizeof *l);
  if (!l) return pt_error_code();
  l->lin = lin;
  l->feedforward = is_feedforward(&o->feedforward, path);
  int64_t in = lin->weight->shape[1], out = lin->weight->shape[0];
  char name[300];
  method_name(name, sizeof name, path, "ia3_l");
  l->l = l->feedforward ? pt_model_param(c->m, name, 2, PT_SHAPE(1, in), false)
                        : pt_model_param(c->m, name, 2, PT_SHAPE(out, 1), false);
  if (!l->l) return pt_error_code();
  PT_TRY(pt_fill(l->l, 1.0));
  *c->tail = l;
  c->tail = &l->next;
  return l->feedforward ? pt_model_hook(c->m, lin, PT_NN_HOOK_INPUT, scale_input, l)
                        : pt_model_hook(c->m, lin, PT_NN_HOOK_OUTPUT, scale_output, l);
}

/* peft refuses feed-forward modules outside the targets. */
static pt_status check_subset(pt_nn_linear *lin, const char *path, void *ctx) {
  (void)lin;
  const ia3_opts *o = ctx;
  if (is_feedforward(&o->feedforward, path) && !pt_nn_targets_match(&o->targets, path))
    return pt_error(PT_ERR_ARG, "--feedforward-modules: %s is not among --target-modules "
                    "(feed-forward modules must be a subset of the targets)", path);
  return PT_OK;
}

static pt_status ia3_attach(pt_model *m, pt_rng *rng) {
  (void)rng;
  PT_TRY(pt_backbone_visit_linears(m->bb, check_subset, m->opts));
  ia3_layer **first = pt_model_alloc(m, sizeof *first);
  if (!first) return pt_error_code();
  m->state = first;
  ia3_attach_ctx c = {m, first};
  const ia3_opts *o = m->opts;
  return pt_model_visit_targets(m, &o->targets, "--target-modules", ia3_layer_add, &c);
}

/* W ⊙ l: rows (and the bias) for output scaling, columns for input scaling. */
static pt_status ia3_merge(pt_model *m) {
  for (const ia3_layer *l = *(ia3_layer **)m->state; l; l = l->next) {
    pt_tensor *w = l->lin->weight;
    int64_t out = w->shape[0], in = w->shape[1];
    for (int64_t r = 0; r < out; r++)
      for (int64_t c = 0; c < in; c++)
        pt_set(w, r * in + c, pt_get(w, r * in + c) * pt_get(l->l, l->feedforward ? c : r));
    if (!l->feedforward && l->lin->bias)
      for (int64_t r = 0; r < out; r++)
        pt_set(l->lin->bias, r, pt_get(l->lin->bias, r) * pt_get(l->l, r));
  }
  return PT_OK;
}

static pt_status ia3_peft_config(const pt_model *m, json_t *cfg) {
  (void)m;
  json_object_set_new(cfg, "fan_in_fan_out", json_false());
  json_object_set_new(cfg, "init_ia3_weights", json_true());
  return PT_OK;
}

const pt_method pt_method_ia3 = {
    .name = "ia3",
    .summary = "(IA)3: learned vectors rescale keys, values and the feed-forward input (peft's IA3)",
    .options = ia3_options,
    .opts_size = sizeof(ia3_opts),
    .attach = ia3_attach,
    .merge = ia3_merge,
    .peft_type = "IA3",
    .peft_config = ia3_peft_config,
};
