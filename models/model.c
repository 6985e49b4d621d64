/* Task models: a method and a head on a backbone (see pt_model.h). */
#include "models/pt_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/pt_autograd.h"
#include "autograd/pt_ops.h"
#include "autograd/pt_ops_index.h"

struct pt_model_hooked {
  pt_nn_linear_hook node; /* linked into lin's (or ln's) chain; runs run_model_hook */
  pt_nn_linear *lin;
  pt_nn_layernorm *ln;    /* a LayerNorm's output hook instead (shared-backbone biases) */
  pt_model *m;
  pt_nn_hook_fn fn;       /* the method's */
  void *ctx;
  pt_model_hooked *next;
};

/* A block of pt_model_alloc memory; the bytes follow the header. */
typedef struct alloc_block {
  struct alloc_block *next;
  max_align_t align_;
} alloc_block;

/* ---- the backbone's list of attached models ---- */

static pt_status join_backbone(pt_model *m) {
  pt_backbone *bb = m->bb;
  for (int i = 0; i < bb->nmodels; i++)
    if (bb->models[i]->nadopted)
      return pt_error(PT_ERR_STATE, "%s: a %s model trains this backbone's own tensors; it cannot "
                      "share the backbone with another model", m->method->name,
                      bb->models[i]->method->name);
  if (bb->nmodels == bb->cap_models) {
    int cap = bb->cap_models ? 2 * bb->cap_models : 4;
    pt_model **grown = pt_alloc(sizeof(pt_model *) * (size_t)cap);
    if (!grown) return pt_error(PT_ERR_NOMEM, "out of memory attaching a model");
    if (bb->nmodels) memcpy(grown, bb->models, sizeof(pt_model *) * (size_t)bb->nmodels);
    pt_free_bytes(bb->models);
    bb->models = grown;
    bb->cap_models = cap;
  }
  bb->models[bb->nmodels++] = m;
  return PT_OK;
}

static void leave_backbone(pt_model *m) {
  pt_backbone *bb = m->bb;
  for (int i = 0; bb && i < bb->nmodels; i++)
    if (bb->models[i] == m) {
      memmove(bb->models + i, bb->models + i + 1, sizeof(pt_model *) * (size_t)(bb->nmodels - i - 1));
      bb->nmodels--;
      return;
    }
}

/* ---- for methods ---- */

void *pt_model_alloc(pt_model *m, size_t bytes) {
  alloc_block *b = pt_alloc(sizeof(alloc_block) + bytes);
  if (!b) {
    pt_error(PT_ERR_NOMEM, "%s: out of memory", m->method->name);
    return NULL;
  }
  memset(b, 0, sizeof(alloc_block) + bytes);
  b->next = m->allocs_;
  m->allocs_ = b;
  return b + 1;
}

pt_dtype pt_model_dtype(const pt_model *m) {
  pt_dtype dt = m->bb->bert.word.weight->dtype;
  return dt == PT_BF16 ? PT_F32 : dt; /* bf16 matrices compute in f32 */
}

pt_tensor *pt_model_param(pt_model *m, const char *name, int ndim, const int64_t *shape,
                          bool frozen) {
  pt_tensor *t = pt_zeros(pt_model_dtype(m), ndim, shape);
  if (!t) return NULL;
  pt_status st = pt_params_add(&m->params, t, name);
  pt_tensor_free(t); /* the list holds it */
  if (st != PT_OK) return NULL;
  if (!frozen) pt_set_requires_grad(t, true);
  return t;
}

/* t with rows [start, start + rows->shape[0]) along dim 0 replaced by
 * `rows` (a new reference; the gradient of the replaced rows goes to
 * `rows`). Without a graph to record, and when nothing else holds t or its
 * storage (the hook chain's own tensor), the rows are written in place:
 * a batch of many adapters then copies only each adapter's rows. */
static pt_tensor *splice_rows(pt_tensor *t, int64_t start, pt_tensor *rows) {
  int64_t n = rows->shape[0], after = t->shape[0] - start - n;
  bool graph = pt_grad_enabled() && (pt_requires_grad(t) || pt_requires_grad(rows));
  if (!graph && t->refcount == 1 && t->storage->refcount == 1) {
    pt_tensor *dst = pt_narrow(t, 0, start, n);
    pt_status st = dst ? pt_copy_into(dst, rows) : pt_error_code();
    pt_tensor_free(dst);
    return st == PT_OK ? pt_tensor_ref(t) : NULL;
  }
  pt_tensor *parts[3];
  int k = 0;
  if (start) parts[k++] = pt_narrow(t, 0, 0, start);
  parts[k++] = pt_tensor_ref(rows);
  if (after) parts[k++] = pt_narrow(t, 0, start + n, after);
  bool ok = true;
  for (int i = 0; i < k; i++) ok &= parts[i] != NULL;
  pt_tensor *out = ok ? pt_concat(k, parts, 0) : NULL;
  for (int i = 0; i < k; i++) pt_tensor_free(parts[i]);
  return out;
}

/* The method's hook on the model's rows: all of them outside a mixed
 * batch, else x and y narrowed to the model's row group and the result
 * spliced back. */
static pt_tensor *run_model_hook(void *ctx, pt_tensor *x, pt_tensor *y) {
  pt_model_hooked *h = ctx;
  const pt_model *m = h->m;
  pt_tensor *whole = y ? y : x;
  if (!m->row_group || (m->row_start == 0 && m->row_count == whole->shape[0]))
    return h->fn(h->ctx, x, y);
  pt_tensor *xg = pt_narrow(x, 0, m->row_start, m->row_count);
  pt_tensor *yg = y ? pt_narrow(y, 0, m->row_start, m->row_count) : NULL;
  pt_tensor *r = xg && (!y || yg) ? h->fn(h->ctx, xg, yg) : NULL;
  pt_tensor_free(xg); /* views of `whole`: gone before it may be written */
  pt_tensor_free(yg);
  pt_tensor *out = r ? splice_rows(whole, m->row_start, r) : NULL;
  pt_tensor_free(r);
  return out;
}

static void unhook(pt_model_hooked *h) {
  if (h->ln) pt_nn_layernorm_hook_remove(h->ln, &h->node);
  else pt_nn_linear_hook_remove(h->lin, &h->node);
}

/* Installs fn on lin (stage) or as ln's output hook. */
static pt_status install_hook(pt_model *m, pt_nn_linear *lin, pt_nn_layernorm *ln,
                              pt_nn_hook_stage stage, pt_nn_hook_fn fn, void *ctx) {
  pt_model_hooked *h = pt_alloc(sizeof *h);
  if (!h) return pt_error(PT_ERR_NOMEM, "%s: out of memory installing a hook", m->method->name);
  h->node = (pt_nn_linear_hook){stage, run_model_hook, h, &m->active, NULL};
  h->m = m;
  h->fn = fn;
  h->ctx = ctx;
  h->lin = lin;
  h->ln = ln;
  h->next = m->hooks;
  m->hooks = h;
  if (ln) pt_nn_layernorm_hook_add(ln, &h->node);
  else pt_nn_linear_hook_add(lin, &h->node);
  return PT_OK;
}

pt_status pt_model_hook(pt_model *m, pt_nn_linear *lin, pt_nn_hook_stage stage, pt_nn_hook_fn fn,
                        void *ctx) {
  return install_hook(m, lin, NULL, stage, fn, ctx);
}

/* ---- biases trained as private copies on a shared backbone ---- */

typedef struct {
  pt_tensor *orig, *copy; /* the backbone's bias (frozen) and the model's */
} bias_copy;

/* y + (copy - orig): the layer's output as if its bias were the copy. */
static pt_tensor *bias_delta(void *ctx, pt_tensor *x, pt_tensor *y) {
  (void)x;
  const bias_copy *b = ctx;
  pt_tensor *d = pt_sub(b->copy, b->orig);
  pt_tensor *out = pt_add(y, d);
  pt_tensor_free(d);
  return out;
}

typedef struct {
  const pt_tensor *bias;
  pt_nn_linear *lin;
} bias_owner;

static pt_status find_bias_owner(pt_nn_linear *lin, const char *path, void *ctx) {
  (void)path;
  bias_owner *o = ctx;
  if (lin->bias == o->bias) o->lin = lin;
  return PT_OK;
}

/* The LayerNorm of the backbone whose bias t is, or NULL. */
static pt_nn_layernorm *layernorm_of(pt_backbone *bb, const pt_tensor *t) {
  pt_bert *b = &bb->bert;
  if (b->emb_ln.bias == t) return &b->emb_ln;
  if (bb->parts.mlm_head && bb->mlm_ln.bias == t) return &bb->mlm_ln;
  for (int64_t l = 0; l < b->cfg.num_layers; l++) {
    if (b->layers[l].attn_ln.bias == t) return &b->layers[l].attn_ln;
    if (b->layers[l].out_ln.bias == t) return &b->layers[l].out_ln;
  }
  return NULL;
}

/* pt_model_adopt on a shared backbone: a trainable copy of the bias t
 * (same name, same values) in the model's tensors, and a hook on its layer
 * adding copy - t to the output. */
static pt_status adopt_copy(pt_model *m, pt_tensor *t) {
  bias_owner o = {t, NULL};
  PT_TRY(pt_backbone_visit_linears(m->bb, find_bias_owner, &o));
  if (!o.lin && m->bb->parts.mlm_head && m->bb->mlm_transform.bias == t)
    o.lin = &m->bb->mlm_transform;
  pt_nn_layernorm *ln = o.lin ? NULL : layernorm_of(m->bb, t);
  if (!o.lin && !ln)
    return pt_error(PT_ERR_STATE, "%s trains %s, which a shared backbone cannot give it (a "
                    "model on a shared backbone trains the biases of its linears and LayerNorms "
                    "only)", m->method->name, t->name ? t->name : "a backbone tensor");
  bias_copy *b = pt_model_alloc(m, sizeof *b);
  if (!b) return pt_error_code();
  b->orig = t;
  b->copy = pt_model_param(m, t->name, t->ndim, t->shape, false);
  if (!b->copy) return pt_error_code();
  PT_TRY(pt_copy_into(b->copy, t));
  return install_hook(m, o.lin, ln, PT_NN_HOOK_OUTPUT, bias_delta, b);
}

pt_status pt_model_adopt(pt_model *m, pt_tensor *t) {
  if (m->bb->shared) return adopt_copy(m, t);
  if (m->bb->nmodels > 1)
    return pt_error(PT_ERR_STATE, "%s trains the backbone's own tensors: it cannot share the "
                    "backbone with another model", m->method->name);
  if (m->nadopted == m->cap_adopted) {
    int cap = m->cap_adopted ? 2 * m->cap_adopted : 64;
    pt_tensor **grown = pt_alloc(sizeof(pt_tensor *) * (size_t)cap);
    if (!grown) return pt_error(PT_ERR_NOMEM, "%s: out of memory", m->method->name);
    if (m->nadopted) memcpy(grown, m->adopted, sizeof(pt_tensor *) * (size_t)m->nadopted);
    pt_free_bytes(m->adopted);
    m->adopted = grown;
    m->cap_adopted = cap;
  }
  if (t->dtype == PT_BF16)
    return pt_error(PT_ERR_ARG, "%s trains %s, which the backbone keeps frozen in bf16: use "
                    "backbone dtype f32", m->method->name, t->name);
  m->adopted[m->nadopted++] = t;
  return pt_set_requires_grad(t, true);
}

typedef struct {
  const pt_nn_targets *targets;
  pt_nn_linear_visit_fn fn;
  void *ctx;
  int hits;
} target_visit;

static pt_status visit_matching(pt_nn_linear *lin, const char *path, void *ctx) {
  target_visit *v = ctx;
  if (!pt_nn_targets_match(v->targets, path)) return PT_OK;
  v->hits++;
  return v->fn(lin, path, v->ctx);
}

pt_status pt_model_visit_targets(pt_model *m, const pt_nn_targets *targets, const char *what,
                                 pt_nn_linear_visit_fn fn, void *ctx) {
  target_visit v = {targets, fn, ctx, 0};
  PT_TRY(pt_backbone_visit_linears(m->bb, visit_matching, &v));
  if (v.hits) return PT_OK;
  char *text = pt_nn_targets_text(targets);
  pt_status st = pt_error(PT_ERR_ARG, "%s: '%s' matched no module of the model (e.g. "
                          "%s.encoder.layer.0.attention.self.query)",
                          what, text ? text : "", m->bb->bert.prefix);
  free(text);
  return st;
}

typedef struct {
  const char *path;
  pt_nn_linear *found;
} linear_lookup;

static pt_status find_linear(pt_nn_linear *lin, const char *path, void *ctx) {
  linear_lookup *l = ctx;
  if (!strcmp(path, l->path)) l->found = lin;
  return PT_OK;
}

pt_nn_linear *pt_model_linear(pt_model *m, const char *path) {
  linear_lookup l = {path, NULL};
  pt_backbone_visit_linears(m->bb, find_linear, &l);
  return l.found;
}

/* ---- life cycle ---- */

/* Undoes attach: hooks out of the layers, adopted tensors frozen again,
 * the method's tensors and state released. */
static void detach_method(pt_model *m) {
  for (pt_model_hooked *h = m->hooks, *next; h; h = next) {
    next = h->next;
    unhook(h);
    pt_free_bytes(h);
  }
  m->hooks = NULL;
  for (int i = 0; i < m->nadopted; i++) {
    pt_zero_grad(m->adopted[i]);
    pt_set_requires_grad(m->adopted[i], false);
  }
  pt_free_bytes(m->adopted);
  m->adopted = NULL;
  m->nadopted = m->cap_adopted = 0;
  pt_params_free(&m->params);
  for (alloc_block *b = m->allocs_, *next; b; b = next) {
    next = b->next;
    pt_free_bytes(b);
  }
  m->allocs_ = NULL;
  m->state = NULL;
}

void pt_model_free(pt_model *m) {
  if (!m->method) return;
  detach_method(m);
  leave_backbone(m);
  pt_head_free(&m->head);
  if (m->opts) {
    pt_options_free(m->method->options, m->opts);
    free(m->opts);
  }
  memset(m, 0, sizeof *m);
}

pt_status pt_model_new(pt_model *m, pt_backbone *bb, const pt_method *method, const void *opts,
                       const pt_model_config *cfg) {
  memset(m, 0, sizeof *m);
  m->bb = bb;
  m->method = method;
  m->active = true;
  m->opts = calloc(1, method->opts_size ? method->opts_size : 1);
  if (!m->opts) return pt_error(PT_ERR_NOMEM, "%s: out of memory", method->name);
  pt_status st = opts ? pt_options_copy(method->options, m->opts, opts)
                      : pt_options_init(method->options, m->opts);
  if (st != PT_OK) {
    free(m->opts);
    m->opts = NULL;
    m->method = NULL;
    return st;
  }
  if (method->check) st = method->check(m->opts, &bb->bert.cfg);
  if (st == PT_OK) st = join_backbone(m);
  if (st == PT_OK && cfg->head.kind == PT_HEAD_VERBALIZER && !bb->parts.mlm_head)
    st = pt_error(PT_ERR_ARG, "the verbalizer head needs a backbone with its masked-LM head");
  if (st == PT_OK && pt_task_uses_pooler(cfg->head.task) && cfg->head.kind == PT_HEAD_LINEAR &&
      !bb->parts.pooler)
    st = pt_error(PT_ERR_ARG, "%s needs a backbone with its pooler", pt_task_name(cfg->head.task));
  pt_rng rng;
  if (cfg->rng) rng = *cfg->rng;
  else pt_rng_init(&rng, cfg->seed);
  m->tokenizer = cfg->tokenizer;
  m->loading = cfg->loading;
  if (st == PT_OK) st = method->attach(m, &rng);
  m->tokenizer = NULL;
  m->loading = false;
  if (st == PT_OK) st = pt_head_init(&m->head, &cfg->head, &bb->bert.cfg, &rng);
  if (st == PT_OK && pt_model_dtype(m) != PT_F32)
    for (int i = 0; st == PT_OK && i < m->head.params.count; i++)
      st = pt_tensor_convert_inplace(m->head.params.items[i], pt_model_dtype(m));
  if (st != PT_OK) pt_model_free(m);
  return st;
}

/* ---- queries ---- */

int64_t pt_model_positions(const pt_model *m) {
  return m->method->positions ? m->method->positions(m->opts) : 0;
}

int64_t pt_model_prompt_positions(const pt_model *m) {
  return m->method->prompt ? pt_model_positions(m) : 0;
}

int pt_model_ntrainable(const pt_model *m) {
  int n = m->nadopted;
  for (int i = 0; i < m->params.count; i++) n += pt_requires_grad(m->params.items[i]);
  for (int i = 0; i < m->head.params.count; i++) n += pt_requires_grad(m->head.params.items[i]);
  return n;
}

pt_tensor *pt_model_trainable(const pt_model *m, int i) {
  if (i < m->nadopted) return i >= 0 ? m->adopted[i] : NULL;
  i -= m->nadopted;
  const pt_params *lists[2] = {&m->params, &m->head.params};
  for (int l = 0; l < 2; l++)
    for (int k = 0; k < lists[l]->count; k++)
      if (pt_requires_grad(lists[l]->items[k]) && i-- == 0) return lists[l]->items[k];
  return NULL;
}

pt_tensor *pt_model_trainable_find(const pt_model *m, const char *name) {
  int n = pt_model_ntrainable(m);
  for (int i = 0; i < n; i++) {
    pt_tensor *t = pt_model_trainable(m, i);
    if (!strcmp(t->name, name)) return t;
  }
  return NULL;
}

int64_t pt_model_numel(const pt_model *m, bool trainable_only) {
  if (trainable_only) {
    int64_t total = 0;
    int n = pt_model_ntrainable(m);
    for (int i = 0; i < n; i++) total += pt_numel(pt_model_trainable(m, i));
    return total;
  }
  return pt_params_numel(&m->bb->params, false) + pt_params_numel(&m->params, false) +
         pt_params_numel(&m->head.params, false);
}

/* ---- forward ---- */

void pt_model_outputs_free(pt_model_outputs *out) {
  pt_tensor_free(out->logits);
  pt_tensor_free(out->start_logits);
  pt_tensor_free(out->end_logits);
  pt_tensor_free(out->loss);
  pt_bert_outputs_free(&out->encoder);
  memset(out, 0, sizeof *out);
}

/* Flattens [B, C, S] multiple-choice inputs to [B·C, S] (views). */
static pt_tensor *flat_choices(const pt_tensor *t) {
  if (!t || t->ndim != 3) return t ? pt_tensor_ref((pt_tensor *)t) : NULL;
  pt_tensor *c = pt_raw_contiguous(t);
  pt_tensor *v = c ? pt_raw_view(c, 2, PT_SHAPE(t->shape[0] * t->shape[1], t->shape[2])) : NULL;
  pt_tensor_free(c);
  return v;
}

pt_status pt_model_forward(pt_model *m, const pt_model_batch *b, pt_nn_mode mode,
                           bool keep_hidden_states, pt_model_outputs *out) {
  memset(out, 0, sizeof *out);
  if (!b->input_ids) return pt_error(PT_ERR_ARG, "%s: no input_ids", m->method->name);
  bool mc = m->head.cfg.task == PT_TASK_MULTIPLE_CHOICE;
  if (mc && b->input_ids->ndim != 3)
    return pt_error(PT_ERR_SHAPE, "multiple_choice: input_ids must be [B, choices, S]");
  for (int i = 0; i < m->bb->nmodels; i++) m->bb->models[i]->active = m->bb->models[i] == m;
  int64_t B_orig = b->input_ids->shape[0];
  int64_t L = m->bb->bert.cfg.num_layers;
  pt_tensor *ids = flat_choices(b->input_ids);
  pt_tensor *mask = flat_choices(b->attention_mask);
  pt_tensor *types = flat_choices(b->token_type_ids);
  pt_tensor **kv = pt_alloc(sizeof(pt_tensor *) * (size_t)(2 * L));
  pt_prepared p = {.rows = ids ? ids->shape[0] : 0, .input_ids = ids, .mode = mode};
  /* each failure above recorded why; a missing mask or type ids must not
   * pass for "none given" */
  pt_status st = ids && (mask || !b->attention_mask) && (types || !b->token_type_ids) && kv
                     ? PT_OK
                     : pt_error_code();
  if (kv) memset(kv, 0, sizeof(pt_tensor *) * (size_t)(2 * L));
  p.prefix_keys = kv;
  p.prefix_values = kv ? kv + L : NULL;
  m->mode = mode;
  if (st == PT_OK && m->method->prepare && !m->merged) st = m->method->prepare(m, &p);
  bool prefix = false;
  for (int64_t i = 0; kv && i < 2 * L; i++) prefix |= kv[i] != NULL;
  if (st == PT_OK) {
    pt_bert_inputs in = {ids,      mask,     types, prefix ? kv : NULL, prefix ? kv + L : NULL,
                         p.prompt, keep_hidden_states, NULL};
    st = pt_bert_forward(&m->bb->bert, &in, mode, &out->encoder);
  }
  if (st == PT_OK) {
    pt_mlm_head_ref mlm = pt_backbone_mlm_head(m->bb);
    pt_head_inputs hi = {&out->encoder, ids, b->attention_mask, b->labels, b->start_positions,
                         b->end_positions, p.prompt ? p.prompt->shape[1] : 0, B_orig, &mlm};
    pt_head_outputs ho;
    st = pt_head_forward(&m->head, &hi, mode, &ho);
    if (st == PT_OK) {
      out->logits = ho.logits;
      out->start_logits = ho.start_logits;
      out->end_logits = ho.end_logits;
      out->loss = ho.loss;
    }
  }
  for (int64_t i = 0; kv && i < 2 * L; i++) pt_tensor_free(kv[i]);
  pt_free_bytes(kv);
  pt_tensor_free(p.prompt);
  pt_tensor_free(ids);
  pt_tensor_free(mask);
  pt_tensor_free(types);
  if (st != PT_OK) pt_model_outputs_free(out);
  return st;
}

/* ---- transformations ---- */

pt_status pt_model_bake(pt_model *m) {
  const pt_method *me = m->method;
  if (!me->table || !me->bake_options) return PT_OK; /* nothing to bake */
  void *baked = calloc(1, me->opts_size ? me->opts_size : 1);
  if (!baked) return pt_error(PT_ERR_NOMEM, "%s: out of memory", me->name);
  pt_status st = pt_options_copy(me->options, baked, m->opts);
  if (st != PT_OK) {
    free(baked);
    return st;
  }
  me->bake_options(baked);
  pt_tensor *table = me->table(m);
  if (!table) st = pt_error_code();
  if (st == PT_OK) {
    detach_method(m);
    pt_options_free(me->options, m->opts);
    free(m->opts);
    m->opts = baked;
    baked = NULL;
    pt_rng rng; /* the table overwrites whatever attach draws */
    pt_rng_init(&rng, 0);
    m->loading = true;
    st = me->attach(m, &rng);
    m->loading = false;
  }
  if (st == PT_OK) {
    pt_tensor *dst = m->params.count == 1 ? m->params.items[0] : NULL;
    if (!dst || !pt_same_shape(dst, table))
      st = pt_error(PT_ERR_STATE, "%s: the baked form must hold one tensor shaped like the table",
                    me->name);
    else
      st = pt_copy_into(dst, table);
  }
  pt_tensor_free(table);
  if (baked) {
    pt_options_free(me->options, baked);
    free(baked);
  }
  return st;
}

pt_status pt_model_merge(pt_model *m) {
  if (!m->method->merge)
    return pt_error(PT_ERR_STATE, "%s cannot be merged into the backbone's weights (lora, ia3 and "
                    "bitfit can)", m->method->name);
  if (m->merged) return pt_error(PT_ERR_STATE, "%s: merged already", m->method->name);
  if (m->bb->shared)
    return pt_error(PT_ERR_STATE, "%s: a shared backbone is not merged into (its other models "
                    "would change)", m->method->name);
  pt_no_grad_enter();
  pt_status st = m->method->merge(m);
  pt_no_grad_exit();
  PT_TRY(st);
  for (pt_model_hooked *h = m->hooks, *next; h; h = next) {
    next = h->next;
    unhook(h);
    pt_free_bytes(h);
  }
  m->hooks = NULL;
  m->merged = true;
  return PT_OK;
}

pt_status pt_model_set_dtype(pt_model *m, pt_dtype dt) {
  PT_TRY(pt_backbone_set_dtype(m->bb, dt));
  const pt_params *lists[2] = {&m->params, &m->head.params};
  for (int l = 0; l < 2; l++)
    for (int i = 0; i < lists[l]->count; i++)
      PT_TRY(pt_tensor_convert_inplace(lists[l]->items[i], dt));
  return PT_OK;
}
