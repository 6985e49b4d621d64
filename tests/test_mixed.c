/* Mixed batches (models/pt_mixed.h): rows of many adapters of different
 * methods and tasks in one encoder pass, on a tiny random BERT and RoBERTa.
 *   - every row's logits equal those of its adapter's batch alone
 *     (within 1e-5), for several orders and subsets of the groups;
 *   - one training step over the mixed batch (the sum of the groups'
 *     losses) gives every adapter's tensors the gradients of its own step
 *     alone (within 1e-5), and the frozen backbone none;
 *   - a model's forward alone after a mixed one is unchanged;
 *   - on a shared backbone, methods that train backbone biases (bitfit,
 *     LoRA's bias options) train private copies and compute what they
 *     compute alone;
 *   - what cannot be mixed is refused with a message. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptune.h"
#include "models/pt_mixed.h"
#include "model_test_util.h"

/* One adapter: a method with options on a task, and its batch's size. */
typedef struct {
  const char *method;
  const char *args[6]; /* flag, value, ... */
  pt_task_kind task;
  pt_head_kind head;
  int64_t labels, B, S;
} adapter_spec;

static const adapter_spec specs[] = {
    {"ptv2", {"pre-seq-len", "4"}, PT_TASK_SEQUENCE_CLASSIFICATION, PT_HEAD_LINEAR, 3, 2, 7},
    {"lora", {"lora-r", "2", "target-modules", "query,value,intermediate.dense"},
     PT_TASK_TOKEN_CLASSIFICATION, PT_HEAD_LINEAR, 5, 3, 5},
    {"prompt", {"num-virtual-tokens", "3"}, PT_TASK_QUESTION_ANSWERING, PT_HEAD_LINEAR, 0, 2, 8},
    {"ia3", {NULL}, PT_TASK_MULTIPLE_CHOICE, PT_HEAD_LINEAR, 0, 2, 6},
    {"prefix", {"num-virtual-tokens", "2", "prefix-projection", "true", "encoder-hidden-size", "6"},
     PT_TASK_TOKEN_CLASSIFICATION, PT_HEAD_LINEAR, 4, 1, 9},
    {"p-tuning", {"encoder-type", "LSTM", "num-virtual-tokens", "5"},
     PT_TASK_SEQUENCE_CLASSIFICATION, PT_HEAD_LINEAR, 2, 2, 4},
    {"adapter", {"reduction-factor", "4"}, PT_TASK_QUESTION_ANSWERING, PT_HEAD_LINEAR, 0, 2, 6},
    {"ptv2", {"pre-seq-len", "6", "prefix-layers", "top:1"}, PT_TASK_SEQUENCE_CLASSIFICATION,
     PT_HEAD_VERBALIZER, 2, 2, 6},
    {"lora", {"lora-r", "3", "target-modules", "value,dense"}, PT_TASK_SEQUENCE_CLASSIFICATION,
     PT_HEAD_LINEAR, 3, 3, 3},
    /* biases on the shared backbone: private copies (pt_backbone.shared) */
    {"bitfit", {NULL}, PT_TASK_TOKEN_CLASSIFICATION, PT_HEAD_LINEAR, 3, 2, 6},
    {"lora", {"lora-bias", "lora_only", "lora-r", "2"}, PT_TASK_MULTIPLE_CHOICE, PT_HEAD_LINEAR,
     0, 1, 5},
};
enum { NSPECS = sizeof specs / sizeof specs[0] };

#define MASK_ID 4
static const int64_t label_words[] = {7, 9, 11};

typedef struct {
  pt_tensor *ids, *mask, *types, *labels, *starts, *ends;
  pt_model_batch b;
} batch;

/* Adapter k's batch: random ids, the last row padded by 2, a [MASK] per
 * row for the verbalizer. */
static void make_batch(batch *x, const adapter_spec *sp, const pt_bert_config *bc, uint64_t seed) {
  memset(x, 0, sizeof *x);
  pt_rng rng;
  pt_rng_init(&rng, seed);
  bool mc = sp->task == PT_TASK_MULTIPLE_CHOICE;
  int64_t B = sp->B, C = mc ? 3 : 1, S = sp->S, pad = bc->pad_token_id;
  int ndim = mc ? 3 : 2;
  const int64_t *shape = mc ? PT_SHAPE(B, C, S) : PT_SHAPE(B, S);
  x->ids = pt_empty(PT_I64, ndim, shape);
  x->mask = pt_ones(PT_I64, ndim, shape);
  x->types = pt_zeros(PT_I64, ndim, shape);
  for (int64_t r = 0; r < B * C; r++)
    for (int64_t s = 0; s < S; s++) {
      int64_t i = r * S + s;
      bool padded = r == B * C - 1 && S > 3 && s >= S - 2;
      int64_t id = padded ? pad : s == 1 && sp->head == PT_HEAD_VERBALIZER
                                      ? MASK_ID
                                      : 5 + (int64_t)pt_rng_below(&rng, (uint64_t)bc->vocab_size - 5);
      pt_set(x->ids, i, (double)id);
      if (padded) pt_set(x->mask, i, 0);
      if (s >= S / 2 && !padded && bc->type_vocab_size > 1) pt_set(x->types, i, 1);
    }
  if (sp->task == PT_TASK_SEQUENCE_CLASSIFICATION || mc) {
    x->labels = pt_empty(PT_I64, 1, PT_SHAPE(B));
    for (int64_t b = 0; b < B; b++)
      pt_set(x->labels, b, (double)pt_rng_below(&rng, (uint64_t)(mc ? C : sp->labels)));
  } else if (sp->task == PT_TASK_TOKEN_CLASSIFICATION) {
    x->labels = pt_empty(PT_I64, 2, PT_SHAPE(B, S));
    for (int64_t i = 0; i < B * S; i++)
      pt_set(x->labels, i, i % S == 0 ? -100 : (double)pt_rng_below(&rng, (uint64_t)sp->labels));
  } else {
    x->starts = pt_empty(PT_I64, 1, PT_SHAPE(B));
    x->ends = pt_empty(PT_I64, 1, PT_SHAPE(B));
    for (int64_t b = 0; b < B; b++) {
      int64_t s0 = (int64_t)pt_rng_below(&rng, (uint64_t)(S - 3));
      pt_set(x->starts, b, (double)s0);
      pt_set(x->ends, b, (double)(s0 + 1));
    }
  }
  x->b = (pt_model_batch){x->ids, x->mask, x->types, x->labels, x->starts, x->ends};
}

static void free_batch(batch *x) {
  pt_tensor *t[] = {x->ids, x->mask, x->types, x->labels, x->starts, x->ends};
  for (int i = 0; i < 6; i++) pt_tensor_free(t[i]);
}

/* Every adapter on one backbone, with its batch. */
typedef struct {
  pt_bert_config bc;
  pt_backbone bb;
  pt_model m[NSPECS];
  batch x[NSPECS];
} world;

static void world_init(world *w, pt_arch arch) {
  tiny_config(&w->bc, arch);
  ck_assert_int_eq(pt_backbone_init(&w->bb, &w->bc, (pt_backbone_parts){true, true}, 5), PT_OK);
  w->bb.shared = true;
  for (int k = 0; k < NSPECS; k++) {
    const adapter_spec *sp = &specs[k];
    const pt_method *me = pt_method_find(sp->method);
    ck_assert_ptr_nonnull(me);
    void *opts = make_opts_n(me, sp->args, 6);
    pt_model_config mc = {{sp->task, sp->head, sp->labels,
                           sp->head == PT_HEAD_VERBALIZER ? label_words : NULL, MASK_ID},
                          (uint64_t)(100 + k), NULL, NULL, false};
    ck_assert_msg(pt_model_new(&w->m[k], &w->bb, me, opts, &mc) == PT_OK, "%s: %s", sp->method,
                  pt_error_message());
    free_opts(me, opts);
    perturb_trainable(&w->m[k], (uint64_t)(7 + k), 0.3);
    make_batch(&w->x[k], sp, &w->bc, (uint64_t)(31 + k));
  }
}

static void world_free(world *w) {
  for (int k = 0; k < NSPECS; k++) {
    pt_model_free(&w->m[k]);
    free_batch(&w->x[k]);
  }
  pt_backbone_free(&w->bb);
}

static double max_diff(const pt_tensor *a, const pt_tensor *b, const char *what) {
  ck_assert_msg(a && b && pt_same_shape(a, b), "%s: shapes differ", what);
  double worst = 0;
  for (int64_t i = 0; i < pt_numel(a); i++) worst = fmax(worst, fabs(pt_get(a, i) - pt_get(b, i)));
  return worst;
}

static const pt_nn_mode eval_mode = {false, NULL};

/* Each adapter's outputs from a batch of its own. */
static void alone(world *w, pt_model_outputs *out) {
  for (int k = 0; k < NSPECS; k++)
    ck_assert_msg(pt_model_forward(&w->m[k], &w->x[k].b, eval_mode, false, &out[k]) == PT_OK,
                  "%s: %s", specs[k].method, pt_error_message());
}

static double compare_outputs(const pt_model_outputs *got, const pt_model_outputs *want, int k) {
  char what[64];
  snprintf(what, sizeof what, "adapter %d (%s)", k, specs[k].method);
  double d = max_diff(got->logits, want->logits, what);
  if (want->start_logits) {
    d = fmax(d, max_diff(got->start_logits, want->start_logits, what));
    d = fmax(d, max_diff(got->end_logits, want->end_logits, what));
  }
  d = fmax(d, max_diff(got->loss, want->loss, what));
  ck_assert_msg(d <= 1e-5, "%s: mixed differs from alone by %.3g", what, d);
  return d;
}

/* The groups `order[0..n)` in one mixed batch against each alone. */
static double mixed_against_alone(world *w, const int *order, int n, const pt_model_outputs *want) {
  pt_mixed_group g[NSPECS];
  pt_model_outputs out[NSPECS];
  for (int i = 0; i < n; i++) g[i] = (pt_mixed_group){&w->m[order[i]], w->x[order[i]].b};
  ck_assert_msg(pt_mixed_forward(g, n, eval_mode, out) == PT_OK, "%s", pt_error_message());
  double worst = 0;
  for (int i = 0; i < n; i++) {
    worst = fmax(worst, compare_outputs(&out[i], &want[order[i]], order[i]));
    pt_model_outputs_free(&out[i]);
  }
  return worst;
}

static void check_inference(pt_arch arch) {
  world w;
  world_init(&w, arch);
  pt_model_outputs want[NSPECS];
  pt_no_grad_enter();
  alone(&w, want);
  int all[NSPECS], rev[NSPECS];
  for (int k = 0; k < NSPECS; k++) all[k] = k, rev[k] = NSPECS - 1 - k;
  double worst = mixed_against_alone(&w, all, NSPECS, want);
  worst = fmax(worst, mixed_against_alone(&w, rev, NSPECS, want));
  /* pairs: each kind of method beside each other kind */
  for (int a = 0; a < NSPECS; a++)
    for (int b = 0; b < NSPECS; b++)
      if (a != b) worst = fmax(worst, mixed_against_alone(&w, (int[]){a, b}, 2, want));
  /* a lone model's forward after mixed ones is what it was */
  pt_model_outputs again[NSPECS];
  alone(&w, again);
  for (int k = 0; k < NSPECS; k++) {
    ck_assert_msg(max_diff(again[k].logits, want[k].logits, specs[k].method) == 0,
                  "%s: a forward alone changed after mixed batches", specs[k].method);
    pt_model_outputs_free(&again[k]);
    pt_model_outputs_free(&want[k]);
  }
  pt_no_grad_exit();
  printf("mixed %-7s inference: %d adapters, %d orders and pairs, worst |diff| %.3g\n",
         pt_arch_name(arch), NSPECS, 2 + NSPECS * (NSPECS - 1), worst);
  world_free(&w);
}

START_TEST(mixed_logits_equal_each_adapter_alone) { check_inference(_i ? PT_ARCH_ROBERTA : PT_ARCH_BERT); }
END_TEST

/* Copies of every trainable gradient of model m (caller frees); NULL for a
 * tensor the loss does not reach (bitfit's pooler bias under a token head). */
static pt_tensor **take_grads(pt_model *m) {
  int n = pt_model_ntrainable(m);
  pt_tensor **g = calloc((size_t)n, sizeof *g);
  for (int i = 0; i < n; i++) {
    pt_tensor *t = pt_model_trainable(m, i);
    g[i] = t->grad ? pt_raw_clone(t->grad) : NULL;
    pt_zero_grad(t);
  }
  return g;
}

static void check_training(pt_arch arch) {
  world w;
  world_init(&w, arch);
  pt_rng rng;
  pt_rng_init(&rng, 3);
  pt_nn_mode train = {true, &rng};
  /* each adapter's own step */
  pt_tensor **want[NSPECS];
  for (int k = 0; k < NSPECS; k++) {
    pt_model_outputs out;
    ck_assert_msg(pt_model_forward(&w.m[k], &w.x[k].b, train, false, &out) == PT_OK, "%s: %s",
                  specs[k].method, pt_error_message());
    ck_assert_int_eq(pt_backward(out.loss, NULL, false), PT_OK);
    pt_model_outputs_free(&out);
    want[k] = take_grads(&w.m[k]);
  }
  /* one mixed step over all of them: the sum of the losses */
  pt_mixed_group g[NSPECS];
  pt_model_outputs out[NSPECS];
  for (int k = 0; k < NSPECS; k++) g[k] = (pt_mixed_group){&w.m[k], w.x[k].b};
  ck_assert_msg(pt_mixed_forward(g, NSPECS, train, out) == PT_OK, "%s", pt_error_message());
  pt_tensor *total = pt_tensor_ref(out[0].loss);
  for (int k = 1; k < NSPECS; k++) {
    pt_tensor *sum = pt_add(total, out[k].loss);
    pt_tensor_free(total);
    total = sum;
  }
  ck_assert_int_eq(pt_backward(total, NULL, false), PT_OK);
  pt_tensor_free(total);
  double worst = 0;
  int checked = 0;
  for (int k = 0; k < NSPECS; k++) {
    pt_model_outputs_free(&out[k]);
    pt_tensor **got = take_grads(&w.m[k]);
    int n = pt_model_ntrainable(&w.m[k]);
    for (int i = 0; i < n; i++) {
      char what[300];
      snprintf(what, sizeof what, "adapter %d (%s) %s", k, specs[k].method,
               pt_model_trainable(&w.m[k], i)->name);
      /* a tensor the loss does not read: no gradient alone, and at most
       * zeros mixed (the other groups' rows pass through its layer) */
      const pt_tensor *one = got[i] ? got[i] : want[k][i];
      double d = 0;
      if (!got[i] || !want[k][i])
        for (int64_t e = 0; one && e < pt_numel(one); e++) d = fmax(d, fabs(pt_get(one, e)));
      else
        d = max_diff(got[i], want[k][i], what);
      ck_assert_msg(d <= 1e-5, "%s: mixed gradient differs by %.3g", what, d);
      worst = fmax(worst, d);
      checked++;
      pt_tensor_free(got[i]);
      pt_tensor_free(want[k][i]);
    }
    free(got);
    free(want[k]);
  }
  for (int i = 0; i < w.bb.params.count; i++)
    ck_assert_msg(w.bb.params.items[i]->grad == NULL, "frozen %s received a gradient",
                  w.bb.params.items[i]->name);
  printf("mixed %-7s training: %d tensors of %d adapters, worst |diff| %.3g\n",
         pt_arch_name(arch), checked, NSPECS, worst);
  world_free(&w);
}

START_TEST(mixed_step_gives_each_adapter_its_own_gradients) {
  check_training(_i ? PT_ARCH_ROBERTA : PT_ARCH_BERT);
}
END_TEST

/* A model that trains backbone biases computes the same on a shared
 * backbone (private copies added by hooks) as alone with the biases
 * adopted: logits and every gradient, by name. */
static void check_shared_bias_copies(const char *method, const char *const *args, int nargs,
                                     pt_task_kind task) {
  pt_bert_config bc;
  tiny_config(&bc, PT_ARCH_BERT);
  const pt_method *me = pt_method_find(method);
  void *opts = make_opts_n(me, args, nargs);
  pt_model_config mc = {{task, PT_HEAD_LINEAR, 3, NULL, -1}, 17, NULL, NULL, false};
  adapter_spec sp = {method, {NULL}, task, PT_HEAD_LINEAR, 3, 2, 6};
  batch x;
  make_batch(&x, &sp, &bc, 77);
  pt_backbone own, shared;
  ck_assert_int_eq(pt_backbone_init(&own, &bc, pt_backbone_parts_for(task, PT_HEAD_LINEAR), 5),
                   PT_OK);
  ck_assert_int_eq(pt_backbone_init(&shared, &bc, pt_backbone_parts_for(task, PT_HEAD_LINEAR), 5),
                   PT_OK);
  shared.shared = true;
  pt_model a, b, other;
  ck_assert_int_eq(pt_model_new(&a, &own, me, opts, &mc), PT_OK);
  ck_assert_int_eq(pt_model_new(&other, &shared, pt_method_find("lora"), NULL, &mc), PT_OK);
  ck_assert_msg(pt_model_new(&b, &shared, me, opts, &mc) == PT_OK, "%s", pt_error_message());
  ck_assert_int_eq(a.nadopted > 0, true);
  ck_assert_int_eq(b.nadopted, 0);
  ck_assert_int_eq(pt_model_ntrainable(&a), pt_model_ntrainable(&b));
  perturb_trainable(&a, 5, 0.3);
  int n = pt_model_ntrainable(&a);
  for (int i = 0; i < n; i++) {
    pt_tensor *t = pt_model_trainable(&a, i), *u = pt_model_trainable_find(&b, t->name);
    ck_assert_msg(u != NULL, "%s: no %s on the shared backbone", method, t->name);
    ck_assert_int_eq(pt_copy_into(u, t), PT_OK);
  }
  pt_nn_mode eval = {false, NULL};
  pt_model_outputs oa, ob;
  ck_assert_int_eq(pt_model_forward(&a, &x.b, eval, false, &oa), PT_OK);
  ck_assert_int_eq(pt_model_forward(&b, &x.b, eval, false, &ob), PT_OK);
  double worst = max_diff(oa.logits, ob.logits, method);
  ck_assert_int_eq(pt_backward(oa.loss, NULL, false), PT_OK);
  ck_assert_int_eq(pt_backward(ob.loss, NULL, false), PT_OK);
  for (int i = 0; i < n; i++) {
    pt_tensor *t = pt_model_trainable(&a, i), *u = pt_model_trainable_find(&b, t->name);
    worst = fmax(worst, max_diff(t->grad, u->grad, t->name));
  }
  ck_assert_msg(worst <= 1e-5, "%s: shared copies differ from adoption by %.3g", method, worst);
  printf("shared backbone %s: %d tensors as private copies, worst |diff| %.3g\n", method, n, worst);
  /* the shared backbone's own tensors stay frozen and untouched */
  for (int i = 0; i < shared.params.count; i++)
    ck_assert_msg(!pt_requires_grad(shared.params.items[i]) && !shared.params.items[i]->grad,
                  "%s trains on the shared backbone", shared.params.items[i]->name);
  ck_assert_int_eq(pt_model_merge(&b), PT_ERR_STATE);
  pt_model_outputs_free(&oa);
  pt_model_outputs_free(&ob);
  pt_model_free(&a);
  pt_model_free(&b);
  pt_model_free(&other);
  free_batch(&x);
  free_opts(me, opts);
  pt_backbone_free(&own);
  pt_backbone_free(&shared);
}

START_TEST(shared_backbone_trains_bias_copies) {
  check_shared_bias_copies("bitfit", NULL, 0, PT_TASK_TOKEN_CLASSIFICATION);
  const char *lora_all[] = {"lora-bias", "all"};
  check_shared_bias_copies("lora", lora_all, 2, PT_TASK_SEQUENCE_CLASSIFICATION);
  /* what is not a bias cannot be shared */
  pt_bert_config bc;
  tiny_config(&bc, PT_ARCH_BERT);
  pt_backbone shared;
  ck_assert_int_eq(pt_backbone_init(&shared, &bc, (pt_backbone_parts){true, false}, 5), PT_OK);
  shared.shared = true;
  pt_model ft;
  pt_model_config mc = {{PT_TASK_SEQUENCE_CLASSIFICATION, PT_HEAD_LINEAR, 2, NULL, -1}, 1, NULL, NULL,
                        false};
  ck_assert_int_eq(pt_model_new(&ft, &shared, pt_method_find("finetune"), NULL, &mc), PT_ERR_STATE);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "trains the biases of its linears"));
  pt_backbone_free(&shared);
}
END_TEST

START_TEST(what_cannot_be_mixed_is_refused) {
  world w;
  world_init(&w, PT_ARCH_BERT);
  pt_model_outputs out[3];
  pt_mixed_group twice[2] = {{&w.m[0], w.x[0].b}, {&w.m[0], w.x[0].b}};
  ck_assert_int_eq(pt_mixed_forward(twice, 2, eval_mode, out), PT_ERR_ARG);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "same model"));
  /* a group whose batch does not fit its head */
  pt_mixed_group wrong[2] = {{&w.m[3], w.x[0].b}, {&w.m[1], w.x[1].b}};
  ck_assert_int_eq(pt_mixed_forward(wrong, 2, eval_mode, out), PT_ERR_SHAPE);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "[B, choices, S]"));
  ck_assert_ptr_null(out[0].logits);
  /* a model on another backbone */
  pt_backbone other;
  ck_assert_int_eq(pt_backbone_init(&other, &w.bc, (pt_backbone_parts){true, false}, 6), PT_OK);
  pt_model lone;
  pt_model_config mc = {{PT_TASK_SEQUENCE_CLASSIFICATION, PT_HEAD_LINEAR, 3, NULL, -1}, 1, NULL, NULL, false};
  ck_assert_int_eq(pt_model_new(&lone, &other, pt_method_find("lora"), NULL, &mc), PT_OK);
  pt_mixed_group apart[2] = {{&w.m[0], w.x[0].b}, {&lone, w.x[0].b}};
  ck_assert_int_eq(pt_mixed_forward(apart, 2, eval_mode, out), PT_ERR_ARG);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "another backbone"));
  ck_assert_int_eq(pt_mixed_forward(apart, 0, eval_mode, out), PT_ERR_ARG);
  pt_model_free(&lone);
  pt_backbone_free(&other);
  /* the models' hooks are on every row again after the failures */
  for (int k = 0; k < NSPECS; k++) ck_assert(!w.m[k].row_group);
  world_free(&w);
}
END_TEST

/* pt_bert_rows.width: rows of different prompts computed on T positions
 * instead of prompt + S give the same outputs on them; a width outside
 * [1, prompt + S] or short of a row's prompt + text is refused. */
START_TEST(rows_width_drops_padding_only) {
  world w;
  world_init(&w, PT_ARCH_BERT);
  int64_t H = w.bc.hidden_size, S = 5, Pm = 3;
  const int64_t ids_v[] = {2, 11, 12, 0, 0, 2, 13, 14, 15, 3};
  const int64_t mask_v[] = {1, 1, 1, 0, 0, 1, 1, 1, 1, 1};
  pt_tensor *ids = pt_from_buffer(PT_I64, 2, PT_SHAPE(2, S), ids_v);
  pt_tensor *mask = pt_from_buffer(PT_I64, 2, PT_SHAPE(2, S), mask_v);
  pt_rng rng;
  pt_rng_init(&rng, 3);
  pt_tensor *prompt = pt_randn(&rng, PT_F32, 3, PT_SHAPE(2, Pm, H));
  const int64_t row_prompt[] = {Pm, 0};
  pt_bert_rows rows = {NULL, row_prompt, 0};
  pt_bert_inputs in = {ids, mask, NULL, NULL, NULL, prompt, false, &rows};
  pt_bert_outputs full, cut;
  ck_assert_int_eq(pt_bert_forward(&w.bb.bert, &in, eval_mode, &full), PT_OK);
  ck_assert_int_eq(full.last_hidden->shape[1], Pm + S);
  /* row 0: prompt 3 + text 3; row 1: text 5 */
  rows.width = 6;
  ck_assert_int_eq(pt_bert_forward(&w.bb.bert, &in, eval_mode, &cut), PT_OK);
  ck_assert_int_eq(cut.last_hidden->shape[1], 6);
  pt_tensor *kept = pt_narrow(full.last_hidden, 1, 0, 6);
  pt_tensor *row0 = pt_narrow(kept, 0, 0, 1), *row0_cut = pt_narrow(cut.last_hidden, 0, 0, 1);
  pt_tensor *a = pt_narrow(row0, 1, 0, 6), *b = pt_narrow(row0_cut, 1, 0, 6);
  ck_assert_double_le(max_diff(a, b, "row 0"), 1e-6);
  pt_tensor *row1 = pt_narrow(kept, 0, 1, 1), *row1_cut = pt_narrow(cut.last_hidden, 0, 1, 1);
  pt_tensor *c = pt_narrow(row1, 1, 0, 5), *d = pt_narrow(row1_cut, 1, 0, 5);
  ck_assert_double_le(max_diff(c, d, "row 1"), 1e-6);
  pt_tensor *t[] = {kept, row0, row0_cut, a, b, row1, row1_cut, c, d};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) pt_tensor_free(t[i]);
  pt_bert_outputs_free(&cut);
  pt_bert_outputs_free(&full);
  const struct { int64_t width; const char *says; } bad[] = {
      {5, "row 0's prompt 3 + text 3 exceeds the rows' width 5"},
      {9, "width 9 is outside [1, 8]"},
      {-1, "width -1 is outside [1, 8]"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    rows.width = bad[i].width;
    ck_assert_int_eq(pt_bert_forward(&w.bb.bert, &in, eval_mode, &cut), PT_ERR_ARG);
    ck_assert_msg(strstr(pt_error_message(), bad[i].says), "%s", pt_error_message());
    ck_assert_ptr_null(cut.last_hidden);
  }
  pt_tensor_free(ids);
  pt_tensor_free(mask);
  pt_tensor_free(prompt);
  world_free(&w);
}
END_TEST

int main(void) {
  Suite *s = suite_create("mixed");
  TCase *tc = tcase_create("mixed");
  tcase_set_timeout(tc, 900);
  tcase_add_loop_test(tc, mixed_logits_equal_each_adapter_alone, 0, 2);
  tcase_add_loop_test(tc, mixed_step_gives_each_adapter_its_own_gradients, 0, 2);
  tcase_add_test(tc, what_cannot_be_mixed_is_refused);
  tcase_add_test(tc, rows_width_drops_padding_only);
  tcase_add_test(tc, shared_backbone_trains_bias_copies);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
