/* Mixed batches (see pt_mixed.h). Shape letters: R rows of the whole
 * batch, r a group's rows (multiple choice: its examples × choices), S the
 * longest sequence, P the longest prefix, Pm the longest prompt, L layers,
 * NH heads, HD head dim, H hidden. */
#include "models/pt_mixed.h"

#include <string.h>

#include "autograd/pt_autograd.h"
#include "autograd/pt_ops.h"
#include "autograd/pt_ops_index.h"

typedef struct {
  pt_model *m;
  const pt_model_batch *b;
  int64_t start, rows, seq; /* first row in the batch, r, its S */
  pt_tensor *ids;           /* [r, seq] view of the batch's ids */
  pt_prepared prep;         /* what the method prepared for its rows */
  int64_t P, prompt;        /* its prefix and prompt lengths */
} group;

typedef struct {
  int n;
  group *g;
  pt_tensor **kv;           /* [2L] of every group's prepared tensors, one block */
  int64_t R, S, P, Pm, L;
  pt_tensor *ids, *mask, *types;  /* [R, S] */
  pt_tensor **keys, **values;     /* [L] each: [R, NH, P, HD] or NULL */
  pt_tensor *prompt;              /* [R, Pm, H] or NULL */
  int64_t *row_prefix, *row_prompt;
  pt_bert_outputs enc;
} mixed;

static pt_status check_groups(const pt_mixed_group *groups, int n) {
  pt_backbone *bb = groups[0].model->bb;
  for (int i = 0; i < n; i++) {
    const pt_model *m = groups[i].model;
    const pt_tensor *ids = groups[i].batch.input_ids;
    if (m->bb != bb)
      return pt_error(PT_ERR_ARG, "mixed batch: group %d's %s model is on another backbone", i,
                      m->method->name);
    if (m->merged || m->nadopted)
      return pt_error(PT_ERR_STATE, "mixed batch: group %d's %s model %s the backbone's own "
                      "tensors: it cannot share a batch", i, m->method->name,
                      m->merged ? "was merged into" : "trains");
    for (int j = 0; j < i; j++)
      if (groups[j].model == m)
        return pt_error(PT_ERR_ARG, "mixed batch: groups %d and %d have the same model", j, i);
    bool mc = m->head.cfg.task == PT_TASK_MULTIPLE_CHOICE;
    if (!ids || ids->ndim != (mc ? 3 : 2) || ids->shape[0] < 1 || ids->shape[ids->ndim - 1] < 1)
      return pt_error(PT_ERR_SHAPE, "mixed batch: group %d's input_ids must be non-empty %s", i,
                      mc ? "[B, choices, S]" : "[B, S]");
    const pt_tensor *other[2] = {groups[i].batch.attention_mask, groups[i].batch.token_type_ids};
    for (int k = 0; k < 2; k++)
      if (other[k] && !pt_same_shape(other[k], ids))
        return pt_error(PT_ERR_SHAPE, "mixed batch: group %d's %s does not match its input_ids", i,
                        k ? "token_type_ids" : "attention_mask");
  }
  return PT_OK;
}

/* The groups stacked along the batch, padded to the longest sequence:
 * ids (pad id), mask (0 on padding) and types, [R, S] each. */
static pt_status stack_inputs(mixed *x, int64_t pad_id) {
  x->ids = pt_full(PT_I64, 2, PT_SHAPE(x->R, x->S), (double)pad_id);
  x->mask = pt_zeros(PT_I64, 2, PT_SHAPE(x->R, x->S));
  x->types = pt_zeros(PT_I64, 2, PT_SHAPE(x->R, x->S));
  if (!x->ids || !x->mask || !x->types) return pt_error_code();
  int64_t *ids = pt_data(x->ids), *mask = pt_data(x->mask), *types = pt_data(x->types);
  for (int i = 0; i < x->n; i++) {
    const group *g = &x->g[i];
    for (int64_t r = 0; r < g->rows; r++)
      for (int64_t s = 0; s < g->seq; s++) {
        int64_t src = r * g->seq + s, dst = (g->start + r) * x->S + s;
        ids[dst] = (int64_t)pt_get(g->b->input_ids, src);
        mask[dst] = g->b->attention_mask ? (int64_t)pt_get(g->b->attention_mask, src) : 1;
        types[dst] = g->b->token_type_ids ? (int64_t)pt_get(g->b->token_type_ids, src) : 0;
      }
    pt_tensor *rows = pt_narrow(x->ids, 0, g->start, g->rows);
    x->g[i].ids = rows ? pt_narrow(rows, 1, 0, g->seq) : NULL;
    pt_tensor_free(rows);
    if (!x->g[i].ids) return pt_error_code();
  }
  return PT_OK;
}

/* Each method's prefix or prompt for its own rows. */
static pt_status prepare_groups(mixed *x, pt_nn_mode mode) {
  int64_t L = x->L;
  for (int i = 0; i < x->n; i++) {
    group *g = &x->g[i];
    g->prep = (pt_prepared){.rows = g->rows, .input_ids = g->ids, .mode = mode,
                            .prefix_keys = x->kv + 2 * L * i,
                            .prefix_values = x->kv + 2 * L * i + L};
    g->m->mode = mode;
    if (g->m->method->prepare) PT_TRY(g->m->method->prepare(g->m, &g->prep));
    for (int64_t l = 0; l < L; l++) {
      pt_tensor *k = g->prep.prefix_keys[l];
      if (k && k->ndim == 4) g->P = k->shape[2];
    }
    g->prompt = g->prep.prompt ? g->prep.prompt->shape[1] : 0;
    if (g->P > x->P) x->P = g->P;
    if (g->prompt > x->Pm) x->Pm = g->prompt;
  }
  return PT_OK;
}

/* t (or nothing) widened to `len` along `dim` with zeros, as `shape` says
 * otherwise: [t ; 0]. A new reference. */
static pt_tensor *pad_to(pt_tensor *t, int ndim, const int64_t *shape, int dim, int64_t len,
                         pt_dtype dt) {
  int64_t have = t ? t->shape[dim] : 0;
  if (have == len) return pt_tensor_ref(t);
  int64_t zshape[PT_MAX_DIMS];
  memcpy(zshape, shape, sizeof(int64_t) * (size_t)ndim);
  zshape[dim] = len - have;
  pt_tensor *z = pt_zeros(dt, ndim, zshape);
  if (!t || !z) return z;
  pt_tensor *parts[2] = {t, z};
  pt_tensor *out = pt_concat(2, parts, dim);
  pt_tensor_free(z);
  return out;
}

/* Every group's piece of one input, padded and stacked along the rows. */
typedef pt_tensor *(*piece_fn)(const mixed *x, const group *g, int64_t l);

static pt_tensor *stack_pieces(const mixed *x, piece_fn piece, int64_t l) {
  pt_tensor **parts = pt_alloc(sizeof(pt_tensor *) * (size_t)x->n);
  if (!parts) return NULL;
  bool ok = true;
  for (int i = 0; i < x->n; i++) ok &= (parts[i] = piece(x, &x->g[i], l)) != NULL;
  pt_tensor *out = ok ? pt_concat(x->n, parts, 0) : NULL;
  for (int i = 0; i < x->n; i++) pt_tensor_free(parts[i]);
  pt_free_bytes(parts);
  return out;
}

static pt_tensor *key_piece(const mixed *x, const group *g, int64_t l) {
  const pt_bert_config *bc = &g->m->bb->bert.cfg;
  int64_t NH = bc->num_heads, HD = bc->hidden_size / NH;
  return pad_to(g->prep.prefix_keys[l], 4, PT_SHAPE(g->rows, NH, x->P, HD), 2, x->P,
                pt_model_dtype(g->m));
}

static pt_tensor *value_piece(const mixed *x, const group *g, int64_t l) {
  const pt_bert_config *bc = &g->m->bb->bert.cfg;
  int64_t NH = bc->num_heads, HD = bc->hidden_size / NH;
  return pad_to(g->prep.prefix_values[l], 4, PT_SHAPE(g->rows, NH, x->P, HD), 2, x->P,
                pt_model_dtype(g->m));
}

static pt_tensor *prompt_piece(const mixed *x, const group *g, int64_t l) {
  (void)l;
  int64_t H = g->m->bb->bert.cfg.hidden_size;
  return pad_to(g->prep.prompt, 3, PT_SHAPE(g->rows, x->Pm, H), 1, x->Pm, pt_model_dtype(g->m));
}

/* The stacked prefix of each layer that any group has one at, the stacked
 * prompt, and what each row sees of them. */
static pt_status stack_prepared(mixed *x) {
  int64_t L = x->L, R = x->R;
  x->row_prefix = pt_alloc(sizeof(int64_t) * (size_t)(L * R + R));
  x->keys = pt_alloc(sizeof(pt_tensor *) * (size_t)(2 * L));
  if (!x->row_prefix || !x->keys) return pt_error_code();
  x->row_prompt = x->row_prefix + L * R;
  memset(x->keys, 0, sizeof(pt_tensor *) * (size_t)(2 * L));
  x->values = x->keys + L;
  for (int i = 0; i < x->n; i++)
    for (int64_t r = 0; r < x->g[i].rows; r++) {
      const group *g = &x->g[i];
      x->row_prompt[g->start + r] = g->prompt;
      for (int64_t l = 0; l < L; l++)
        x->row_prefix[l * R + g->start + r] = g->prep.prefix_keys[l] ? g->P : 0;
    }
  for (int64_t l = 0; x->P && l < L; l++) {
    bool any = false;
    for (int i = 0; i < x->n; i++) any |= x->g[i].prep.prefix_keys[l] != NULL;
    if (!any) continue;
    x->keys[l] = stack_pieces(x, key_piece, l);
    x->values[l] = stack_pieces(x, value_piece, l);
    if (!x->keys[l] || !x->values[l]) return pt_error_code();
  }
  if (x->Pm && !(x->prompt = stack_pieces(x, prompt_piece, 0))) return pt_error_code();
  return PT_OK;
}

/* Group g's head on its rows of the encoder's output. */
static pt_status group_head(const mixed *x, const group *g, pt_nn_mode mode,
                            pt_model_outputs *out) {
  pt_tensor *rows = pt_narrow(x->enc.last_hidden, 0, g->start, g->rows);
  int64_t T = g->prompt + g->seq;
  pt_tensor *cut = rows && T < rows->shape[1] ? pt_narrow(rows, 1, 0, T) : pt_tensor_ref(rows);
  pt_bert_outputs enc = {0};
  enc.last_hidden = pt_contiguous(cut); /* the verbalizer views it flat */
  enc.pooled = x->enc.pooled ? pt_narrow(x->enc.pooled, 0, g->start, g->rows) : NULL;
  pt_tensor_free(rows);
  pt_tensor_free(cut);
  pt_status st = enc.last_hidden && (!x->enc.pooled || enc.pooled) ? PT_OK : pt_error_code();
  if (st == PT_OK) {
    pt_mlm_head_ref mlm = pt_backbone_mlm_head(g->m->bb);
    const pt_model_batch *b = g->b;
    pt_head_inputs hi = {&enc, g->ids, b->attention_mask, b->labels, b->start_positions,
                         b->end_positions, g->prompt, b->input_ids->shape[0], &mlm};
    pt_head_outputs ho;
    st = pt_head_forward(&g->m->head, &hi, mode, &ho);
    if (st == PT_OK) {
      out->logits = ho.logits;
      out->start_logits = ho.start_logits;
      out->end_logits = ho.end_logits;
      out->loss = ho.loss;
    }
  }
  pt_bert_outputs_free(&enc);
  return st;
}

static void mixed_free(mixed *x) {
  for (int64_t i = 0; x->kv && i < 2 * x->L * x->n; i++) pt_tensor_free(x->kv[i]);
  for (int i = 0; x->g && i < x->n; i++) {
    pt_tensor_free(x->g[i].prep.prompt);
    pt_tensor_free(x->g[i].ids);
  }
  for (int64_t l = 0; x->keys && l < 2 * x->L; l++) pt_tensor_free(x->keys[l]);
  pt_tensor *t[] = {x->ids, x->mask, x->types, x->prompt};
  for (int i = 0; i < 4; i++) pt_tensor_free(t[i]);
  pt_bert_outputs_free(&x->enc);
  pt_free_bytes(x->kv);
  pt_free_bytes(x->g);
  pt_free_bytes(x->keys);
  pt_free_bytes(x->row_prefix);
}

pt_status pt_mixed_forward(const pt_mixed_group *groups, int n, pt_nn_mode mode,
                           pt_model_outputs *outs) {
  for (int i = 0; i < n; i++) memset(&outs[i], 0, sizeof outs[i]);
  if (n < 1) return pt_error(PT_ERR_ARG, "mixed batch: no groups");
  if (n == 1) return pt_model_forward(groups[0].model, &groups[0].batch, mode, false, outs);
  PT_TRY(check_groups(groups, n));
  pt_backbone *bb = groups[0].model->bb;
  mixed x = {.n = n, .L = bb->bert.cfg.num_layers};
  x.g = pt_alloc(sizeof(group) * (size_t)n);
  x.kv = pt_alloc(sizeof(pt_tensor *) * (size_t)(2 * x.L * n));
  pt_status st = x.g && x.kv ? PT_OK : pt_error_code();
  if (st == PT_OK) {
    memset(x.g, 0, sizeof(group) * (size_t)n);
    memset(x.kv, 0, sizeof(pt_tensor *) * (size_t)(2 * x.L * n));
    for (int i = 0; i < n; i++) {
      const pt_tensor *ids = groups[i].batch.input_ids;
      group *g = &x.g[i];
      g->m = groups[i].model;
      g->b = &groups[i].batch;
      g->start = x.R;
      g->seq = ids->shape[ids->ndim - 1];
      g->rows = pt_numel(ids) / g->seq;
      x.R += g->rows;
      if (g->seq > x.S) x.S = g->seq;
    }
    /* every model of the batch runs its hooks on its own rows; others none */
    for (int i = 0; i < bb->nmodels; i++) bb->models[i]->active = false;
    for (int i = 0; i < n; i++) {
      pt_model *m = x.g[i].m;
      m->active = m->row_group = true;
      m->row_start = x.g[i].start;
      m->row_count = x.g[i].rows;
    }
    st = stack_inputs(&x, bb->bert.cfg.pad_token_id);
  }
  if (st == PT_OK) st = prepare_groups(&x, mode);
  if (st == PT_OK) st = stack_prepared(&x);
  if (st == PT_OK) {
    /* the longest group's prompt + text: shorter rows do not pad to S + Pm */
    int64_t width = 0;
    for (int i = 0; i < n; i++)
      if (x.g[i].prompt + x.g[i].seq > width) width = x.g[i].prompt + x.g[i].seq;
    pt_bert_rows rows = {x.P ? x.row_prefix : NULL, x.Pm ? x.row_prompt : NULL,
                         x.Pm ? width : 0};
    pt_bert_inputs in = {x.ids,    x.mask,    x.types, x.P ? x.keys : NULL, x.P ? x.values : NULL,
                         x.prompt, false,     &rows};
    st = pt_bert_forward(&bb->bert, &in, mode, &x.enc);
  }
  for (int i = 0; st == PT_OK && i < n; i++) st = group_head(&x, &x.g[i], mode, &outs[i]);
  for (int i = 0; i < n; i++) groups[i].model->row_group = false;
  mixed_free(&x);
  if (st != PT_OK)
    for (int i = 0; i < n; i++) pt_model_outputs_free(&outs[i]);
  return st;
}
