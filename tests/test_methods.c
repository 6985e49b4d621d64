/* The method registry, walked as test_op_table.c walks the ops: every
 * registered method (with its default options, and the variants below)
 * on every task head of a tiny random encoder:
 *   - only its tensors and the head train: every other backbone tensor is
 *     frozen and receives no gradient;
 *   - gradients reach every tensor that trains (non-zero, except where the
 *     exact gradient is zero: see zero_gradient_ok);
 *   - a random-direction gradient check of the whole model in F64 passes;
 *   - its `prompt` flag matches what its prepare gives (a prompt or not);
 * and the option tables are complete (flag or JSON-only key, help, a
 * default that parses). Also: models sharing one backbone, merging. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptune.h"
#include "models/pt_model.h"
#include "models/pt_model_io.h"
#include "models/pt_tokenizer.h"
#include "nn/pt_json.h"
#include "tensor/pt_file.h"
#include "model_test_util.h"

/* A method with command-line options applied on top of its defaults. */
typedef struct {
  const char *method;
  const char *args[8]; /* flag, value, flag, value, ... */
} variant;

static const variant variants[] = {
    {"lora", {"lora-bias", "all", "use-rslora", "true", "lora-r", "3"}},
    {"lora", {"lora-bias", "lora_only", "target-modules", ".*\\.(key|dense)"}},
    {"ptv2", {"prefix-projection", "true", "prefix-hidden-size", "8", "prefix-layers", "top:1"}},
    {"ptv2", {"prefix-layers", "0", "pre-seq-len", "3"}},
    {"prefix", {"prefix-projection", "true", "encoder-hidden-size", "6"}},
    {"p-tuning", {"encoder-type", "LSTM", "encoder-hidden-size", "5"}},
    {"p-tuning", {"encoder-type", "LSTM", "encoder-num-layers", "1"}},
    {"adapter", {"adapter-type", "pfeiffer", "reduction-factor", "4"}},
    {"ia3", {"target-modules", "query,intermediate.dense", "feedforward-modules",
             "intermediate.dense"}},
    {"prompt", {"prompt-init", "SAMPLE_VOCAB", "num-virtual-tokens", "2"}},
};
enum { NVARIANTS = sizeof variants / sizeof variants[0] };

static const pt_task_kind tasks[] = {PT_TASK_SEQUENCE_CLASSIFICATION, PT_TASK_TOKEN_CLASSIFICATION,
                                     PT_TASK_QUESTION_ANSWERING, PT_TASK_MULTIPLE_CHOICE};

static void *make_opts(const pt_method *me, const char *const *args) {
  return make_opts_n(me, args, 8);
}

/* A batch for the task: B 2 (mc: 2 × 3 choices), S 7, the second row padded. */
typedef struct {
  pt_tensor *ids, *mask, *types, *labels, *starts, *ends;
  pt_model_batch b;
} batch;

static void make_batch(batch *x, pt_task_kind task, const pt_bert_config *bc, uint64_t seed) {
  int64_t vocab = bc->vocab_size, pad = bc->pad_token_id;
  memset(x, 0, sizeof *x);
  pt_rng rng;
  pt_rng_init(&rng, seed);
  bool mc = task == PT_TASK_MULTIPLE_CHOICE;
  int64_t B = 2, C = mc ? 3 : 1, S = 7;
  int ndim = mc ? 3 : 2;
  const int64_t *shape = mc ? PT_SHAPE(B, C, S) : PT_SHAPE(B, S);
  x->ids = pt_empty(PT_I64, ndim, shape);
  x->mask = pt_ones(PT_I64, ndim, shape);
  x->types = pt_zeros(PT_I64, ndim, shape);
  for (int64_t r = 0; r < B * C; r++)
    for (int64_t s = 0; s < S; s++) {
      int64_t i = r * S + s;
      bool padded = r % 2 == 1 && s >= S - 2;
      pt_set(x->ids, i, padded ? (double)pad : (double)(3 + pt_rng_below(&rng, (uint64_t)vocab - 3)));
      if (padded) pt_set(x->mask, i, 0);
      if (s >= 4 && !padded && bc->type_vocab_size > 1) pt_set(x->types, i, 1);
    }
  if (task == PT_TASK_SEQUENCE_CLASSIFICATION || mc) {
    x->labels = pt_from_buffer(PT_I64, 1, PT_SHAPE(B), (int64_t[]){1, 2});
  } else if (task == PT_TASK_TOKEN_CLASSIFICATION) {
    x->labels = pt_empty(PT_I64, 2, PT_SHAPE(B, S));
    for (int64_t i = 0; i < B * S; i++) pt_set(x->labels, i, i % S == 0 ? -100 : (double)(i % 3));
  } else {
    x->starts = pt_from_buffer(PT_I64, 1, PT_SHAPE(B), (int64_t[]){2, 1});
    x->ends = pt_from_buffer(PT_I64, 1, PT_SHAPE(B), (int64_t[]){4, 3});
  }
  x->b = (pt_model_batch){x->ids, x->mask, x->types, x->labels, x->starts, x->ends};
}

static void free_batch(batch *x) {
  pt_tensor *t[] = {x->ids, x->mask, x->types, x->labels, x->starts, x->ends};
  for (int i = 0; i < 6; i++) pt_tensor_free(t[i]);
}

/* Exactly zero gradients where the mathematics says so: the key bias adds
 * the same score to every key of a query (softmax is shift invariant)
 * unless a prefix of keys without it is there; qa_outputs.bias shifts every
 * start (end) logit alike; a multiple-choice classifier's bias every
 * choice's score alike. */
static bool zero_gradient_ok(const pt_model *m, const char *name) {
  size_t n = strlen(name);
  if (n > 23 && !strcmp(name + n - 23, "attention.self.key.bias")) return true;
  if (!strcmp(name, "qa_outputs.bias")) return true;
  return m->head.cfg.task == PT_TASK_MULTIPLE_CHOICE && !strcmp(name, "classifier.bias");
}

static bool is_trainable(const pt_model *m, const pt_tensor *t) {
  int n = pt_model_ntrainable(m);
  for (int i = 0; i < n; i++)
    if (pt_model_trainable(m, i) == t) return true;
  return false;
}

static void check_method(const pt_method *me, const char *const *args, pt_task_kind task,
                         pt_arch arch, const char *label) {
  pt_bert_config bc;
  tiny_config(&bc, arch);
  pt_backbone bb;
  ck_assert_int_eq(pt_backbone_init(&bb, &bc, pt_backbone_parts_for(task, PT_HEAD_LINEAR), 5), PT_OK);
  void *opts = make_opts(me, args);
  pt_model m;
  pt_model_config mc = {{task, PT_HEAD_LINEAR, 3, NULL, -1}, 17, NULL, NULL, false};
  ck_assert_msg(pt_model_new(&m, &bb, me, opts, &mc) == PT_OK, "%s: %s", label, pt_error_message());
  ck_assert_int_gt(pt_model_ntrainable(&m), 0);
  perturb_trainable(&m, 99, 0.2);
  batch x;
  make_batch(&x, task, &bc, 3);
  pt_model_outputs out;
  pt_nn_mode eval = {false, NULL};
  if (me->prepare && x.b.input_ids->ndim == 2) {
    /* its flag says truly whether its positions are a prompt (the server
     * sizes mixed batches by it: pt_model_prompt_positions) */
    int64_t L = bc.num_layers;
    pt_tensor **kv = calloc((size_t)(2 * L), sizeof *kv);
    pt_prepared prep = {.rows = x.b.input_ids->shape[0], .input_ids = x.b.input_ids,
                        .mode = eval, .prefix_keys = kv, .prefix_values = kv + L};
    m.mode = eval;
    ck_assert_msg(me->prepare(&m, &prep) == PT_OK, "%s: %s", label, pt_error_message());
    ck_assert_msg((prep.prompt ? prep.prompt->shape[1] : 0) == pt_model_prompt_positions(&m),
                  "%s: prompt %s, pt_model_prompt_positions %lld", label,
                  prep.prompt ? "prepared" : "none", (long long)pt_model_prompt_positions(&m));
    ck_assert_int_eq(me->prompt, prep.prompt != NULL);
    for (int64_t l = 0; l < 2 * L; l++) pt_tensor_free(kv[l]);
    pt_tensor_free(prep.prompt);
    free(kv);
  }
  ck_assert_msg(pt_model_forward(&m, &x.b, eval, false, &out) == PT_OK, "%s: %s", label,
                pt_error_message());
  ck_assert_int_eq(pt_backward(out.loss, NULL, false), PT_OK);
  /* the backbone: frozen unless adopted, and then it is trainable */
  for (int i = 0; i < bb.params.count; i++) {
    pt_tensor *t = bb.params.items[i];
    if (is_trainable(&m, t)) continue;
    ck_assert_msg(!pt_requires_grad(t), "%s: %s trains but is not the model's", label, t->name);
    ck_assert_msg(t->grad == NULL, "%s: frozen %s received a gradient", label, t->name);
  }
  /* gradients reach everything that trains */
  int n = pt_model_ntrainable(&m);
  for (int i = 0; i < n; i++) {
    pt_tensor *t = pt_model_trainable(&m, i);
    ck_assert_msg(pt_requires_grad(t), "%s: %s listed but frozen", label, t->name);
    ck_assert_msg(t->grad != NULL, "%s: no gradient reached %s", label, t->name);
    double g = 0;
    for (int64_t k = 0; k < pt_numel(t->grad); k++) g = fmax(g, fabs(pt_get(t->grad, k)));
    ck_assert_msg(g > 0 || zero_gradient_ok(&m, t->name), "%s: the gradient of %s is zero", label,
                  t->name);
  }
  pt_model_outputs_free(&out);
  /* the whole model along random directions, in F64 */
  /* (not the embeddings with a padding row: PyTorch's padding_idx gives
   * that row a zero gradient by definition, though a QA head reads the
   * padded positions) */
  pt_tensor **in = malloc(sizeof(pt_tensor *) * (size_t)n);
  int nin = 0;
  for (int i = 0; i < n; i++) {
    pt_tensor *t = pt_model_trainable(&m, i);
    pt_zero_grad(t);
    if (!strstr(t->name, "word_embeddings") && !strstr(t->name, "position_embeddings"))
      in[nin++] = t;
  }
  ck_assert_int_eq(pt_model_set_dtype(&m, PT_F64), PT_OK);
  model_loss_ctx c = {&m, &x.b};
  pt_gradcheck_result r;
  pt_gradcheck_opts go = {.seed = 7};
  ck_assert_msg(pt_gradcheck_direction(model_loss, &c, nin, in, 3, &go, &r) == PT_OK, "%s: %s",
                label, pt_error_message());
  ck_assert_msg(r.passed, "%s: %s", label, r.message);
  for (int i = 0; i < bb.params.count; i++)
    if (!is_trainable(&m, bb.params.items[i]))
      ck_assert_msg(bb.params.items[i]->grad == NULL, "%s: frozen %s received a gradient", label,
                    bb.params.items[i]->name);
  for (int i = 0; i < n; i++) pt_zero_grad(pt_model_trainable(&m, i));
  free(in);
  free_batch(&x);
  pt_model_free(&m);
  free_opts(me, opts);
  pt_backbone_free(&bb);
}

START_TEST(every_method_trains_its_tensors_on_every_task) {
  int count;
  const pt_method *const *all = pt_methods(&count);
  const pt_method *me = all[_i];
  for (int t = 0; t < 4; t++) {
    char label[128];
    snprintf(label, sizeof label, "%s on %s", me->name, pt_task_name(tasks[t]));
    check_method(me, NULL, tasks[t], t % 2 ? PT_ARCH_ROBERTA : PT_ARCH_BERT, label);
  }
}
END_TEST

START_TEST(method_variants_train_their_tensors) {
  const variant *v = &variants[_i];
  const pt_method *me = pt_method_find(v->method);
  ck_assert_ptr_nonnull(me);
  char label[256];
  snprintf(label, sizeof label, "%s --%s %s", v->method, v->args[0], v->args[1]);
  check_method(me, v->args, tasks[_i % 4], _i % 3 ? PT_ARCH_BERT : PT_ARCH_ROBERTA, label);
}
END_TEST

START_TEST(option_tables_are_complete) {
  int count;
  const pt_method *const *all = pt_methods(&count);
  ck_assert_int_ge(count, 9);
  for (int i = 0; i < count; i++) {
    const pt_method *me = all[i];
    ck_assert_msg(me->name && me->summary && me->attach && me->options, "method %d", i);
    ck_assert_ptr_eq(pt_method_find(me->name), me);
    for (const pt_option *o = me->options; o->key; o++) {
      ck_assert_msg(o->help && o->help[0], "%s.%s has no help", me->name, o->key);
      ck_assert_msg(o->type != PT_OPT_CHOICE || o->choices, "%s.%s: no choices", me->name, o->key);
      ck_assert_msg(o->offset < me->opts_size, "%s.%s: offset outside the struct", me->name, o->key);
    }
    void *opts = make_opts(me, NULL);
    /* the defaults round-trip through JSON */
    json_t *j = json_object();
    ck_assert_int_eq(pt_options_to_json(me->options, opts, j, false), PT_OK);
    void *back = make_opts(me, NULL);
    ck_assert_int_eq(pt_options_from_json(me->options, back, j, "test"), PT_OK);
    for (const pt_option *o = me->options; o->key; o++) {
      char *a = pt_option_text(o, opts), *b = pt_option_text(o, back);
      ck_assert_msg(!strcmp(a, b), "%s.%s: '%s' came back as '%s'", me->name, o->key, a, b);
      free(a);
      free(b);
    }
    json_decref(j);
    free_opts(me, back);
    free_opts(me, opts);
  }
  ck_assert_ptr_null(pt_method_find("no-such-method"));
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "lora"));
}
END_TEST

/* Logits of `method` on a fresh backbone of its own. */
static pt_tensor *alone_logits(const char *method, const batch *x, const pt_bert_config *bc) {
  pt_backbone bb;
  ck_assert_int_eq(pt_backbone_init(&bb, bc, (pt_backbone_parts){true, false}, 5), PT_OK);
  pt_model m;
  pt_model_config mc = {{PT_TASK_SEQUENCE_CLASSIFICATION, PT_HEAD_LINEAR, 3, NULL, -1}, 17, NULL, NULL, false};
  ck_assert_int_eq(pt_model_new(&m, &bb, pt_method_find(method), NULL, &mc), PT_OK);
  perturb_trainable(&m, 4, 0.2);
  pt_model_outputs out;
  ck_assert_int_eq(pt_model_forward(&m, &x->b, (pt_nn_mode){false, NULL}, false, &out), PT_OK);
  pt_tensor *logits = pt_tensor_ref(out.logits);
  pt_model_outputs_free(&out);
  pt_model_free(&m);
  pt_backbone_free(&bb);
  return logits;
}

static pt_status no_hooks_left(pt_nn_linear *lin, const char *path, void *ctx) {
  (void)ctx;
  ck_assert_msg(lin->hooks == NULL, "%s keeps a hook after its models were freed", path);
  return PT_OK;
}

START_TEST(models_share_a_backbone) {
  pt_bert_config bc;
  tiny_config(&bc, PT_ARCH_BERT);
  batch x;
  make_batch(&x, PT_TASK_SEQUENCE_CLASSIFICATION, &bc, 8);
  const char *names[] = {"lora", "ia3", "ptv2", "adapter"};
  pt_backbone bb;
  ck_assert_int_eq(pt_backbone_init(&bb, &bc, (pt_backbone_parts){true, false}, 5), PT_OK);
  pt_model ms[4];
  pt_model_config mc = {{PT_TASK_SEQUENCE_CLASSIFICATION, PT_HEAD_LINEAR, 3, NULL, -1}, 17, NULL, NULL, false};
  for (int i = 0; i < 4; i++) {
    ck_assert_int_eq(pt_model_new(&ms[i], &bb, pt_method_find(names[i]), NULL, &mc), PT_OK);
    perturb_trainable(&ms[i], 4, 0.2);
  }
  ck_assert_int_eq(bb.nmodels, 4);
  /* lora and ia3 both hook the value projections: each model's forward runs its own */
  for (int round = 0; round < 2; round++)
    for (int i = 3; i >= 0; i--) {
      pt_tensor *want = alone_logits(names[i], &x, &bc);
      pt_model_outputs out;
      ck_assert_int_eq(pt_model_forward(&ms[i], &x.b, (pt_nn_mode){false, NULL}, false, &out), PT_OK);
      for (int64_t k = 0; k < pt_numel(want); k++)
        ck_assert_msg(pt_get(out.logits, k) == pt_get(want, k), "%s: logit %lld differs on a shared "
                      "backbone", names[i], (long long)k);
      pt_model_outputs_free(&out);
      pt_tensor_free(want);
    }
  /* a model that trains the backbone's own tensors does not share it */
  pt_model ft;
  ck_assert_int_eq(pt_model_new(&ft, &bb, pt_method_find("bitfit"), NULL, &mc), PT_ERR_STATE);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "cannot share"));
  for (int i = 0; i < 4; i++) pt_model_free(&ms[i]);
  ck_assert_int_eq(bb.nmodels, 0);
  ck_assert_int_eq(pt_backbone_visit_linears(&bb, no_hooks_left, NULL), PT_OK);
  ck_assert_int_eq(pt_model_new(&ft, &bb, pt_method_find("finetune"), NULL, &mc), PT_OK);
  ck_assert_int_eq(pt_model_new(&ms[0], &bb, pt_method_find("lora"), NULL, &mc), PT_ERR_STATE);
  pt_model_free(&ft);
  for (int i = 0; i < bb.params.count; i++) ck_assert(!pt_requires_grad(bb.params.items[i]));
  pt_backbone_free(&bb);
  free_batch(&x);
}
END_TEST

/* Logits of a model in eval mode (new reference). */
static pt_tensor *logits_of(pt_model *m, const batch *x) {
  pt_model_outputs out;
  ck_assert_msg(pt_model_forward(m, &x->b, (pt_nn_mode){false, NULL}, false, &out) == PT_OK, "%s",
                pt_error_message());
  pt_tensor *l = pt_tensor_ref(out.logits);
  pt_model_outputs_free(&out);
  return l;
}

/* Saves m in `layout`, loads it on a fresh backbone built the same way and
 * returns the largest logit difference. */
static double save_load_diff(pt_model *m, const pt_bert_config *bc, pt_backbone_parts parts,
                             const batch *x, pt_adapter_layout layout, const char *dir) {
  const char *labels[] = {"neg", "neutral", "pos"};
  ck_assert_msg(pt_model_save(m, dir, layout, 3, labels, NULL) == PT_OK, "%s: %s", m->method->name,
                pt_error_message());
  pt_backbone bb;
  ck_assert_int_eq(pt_backbone_init(&bb, bc, parts, 5), PT_OK);
  pt_adapter_info info;
  ck_assert_msg(pt_adapter_info_read(dir, NULL, &info) == PT_OK, "%s", pt_error_message());
  ck_assert_int_eq(info.layout, layout);
  ck_assert_str_eq(info.method->name, m->method->name);
  ck_assert_int_eq(info.head.task, m->head.cfg.task);
  if (m->head.cfg.task == PT_TASK_SEQUENCE_CLASSIFICATION) {
    ck_assert_int_eq(info.nlabels, 3);
    ck_assert_str_eq(info.id2label[2], "pos");
  }
  pt_model back;
  ck_assert_msg(pt_model_load(&back, &bb, dir, &info, 123) == PT_OK, "%s %s: %s", m->method->name,
                pt_adapter_layout_name(layout), pt_error_message());
  pt_tensor *a = logits_of(m, x), *b = logits_of(&back, x);
  double worst = 0;
  for (int64_t k = 0; k < pt_numel(a); k++) worst = fmax(worst, fabs(pt_get(a, k) - pt_get(b, k)));
  pt_tensor_free(a);
  pt_tensor_free(b);
  pt_model_free(&back);
  pt_adapter_info_free(&info);
  pt_backbone_free(&bb);
  return worst;
}

/* Every method's adapter, saved in ptune's layout (and peft's where it has
 * one) and loaded on a fresh backbone, gives the same logits. */
START_TEST(adapters_round_trip_in_both_layouts) {
  int count;
  const pt_method *me = pt_methods(&count)[_i];
  char dir[] = "/tmp/pt_methods_XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  for (int t = 0; t < 4; t++) {
    pt_task_kind task = tasks[t];
    pt_bert_config bc;
    tiny_config(&bc, t % 2 ? PT_ARCH_ROBERTA : PT_ARCH_BERT);
    pt_backbone_parts parts = pt_backbone_parts_for(task, PT_HEAD_LINEAR);
    pt_backbone bb;
    ck_assert_int_eq(pt_backbone_init(&bb, &bc, parts, 5), PT_OK);
    pt_model m;
    pt_model_config mc = {{task, PT_HEAD_LINEAR, 3, NULL, -1}, 17, NULL, NULL, false};
    ck_assert_int_eq(pt_model_new(&m, &bb, me, NULL, &mc), PT_OK);
    perturb_trainable(&m, 31, 0.2);
    batch x;
    make_batch(&x, task, &bc, 12);
    char sub[64];
    snprintf(sub, sizeof sub, "%s/ptune%d", dir, t);
    double d = save_load_diff(&m, &bc, parts, &x, PT_LAYOUT_PTUNE, sub);
    ck_assert_msg(d == 0, "%s on %s: ptune's layout changes the logits by %g", me->name,
                  pt_task_name(task), d);
    snprintf(sub, sizeof sub, "%s/peft%d", dir, t);
    if (me->peft_type) {
      d = save_load_diff(&m, &bc, parts, &x, PT_LAYOUT_PEFT, sub);
      ck_assert_msg(d <= 1e-6, "%s on %s: peft's layout changes the logits by %g", me->name,
                    pt_task_name(task), d);
    } else {
      ck_assert_int_eq(pt_model_save(&m, sub, PT_LAYOUT_PEFT, 3, NULL, NULL), PT_ERR_ARG);
      ck_assert_ptr_nonnull(strstr(pt_error_message(), "ptune's format"));
    }
    free_batch(&x);
    pt_model_free(&m);
    pt_backbone_free(&bb);
  }
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* Methods that merge: the backbone alone then computes the model. */
START_TEST(merged_models_compute_the_same) {
  int count;
  const pt_method *me = pt_methods(&count)[_i];
  if (!me->merge) return;
  pt_bert_config bc;
  tiny_config(&bc, PT_ARCH_BERT);
  pt_backbone bb;
  ck_assert_int_eq(pt_backbone_init(&bb, &bc, (pt_backbone_parts){true, false}, 5), PT_OK);
  pt_model m;
  pt_model_config mc = {{PT_TASK_SEQUENCE_CLASSIFICATION, PT_HEAD_LINEAR, 3, NULL, -1}, 17, NULL, NULL, false};
  ck_assert_int_eq(pt_model_new(&m, &bb, me, NULL, &mc), PT_OK);
  perturb_trainable(&m, 77, 0.2);
  batch x;
  make_batch(&x, PT_TASK_SEQUENCE_CLASSIFICATION, &bc, 21);
  pt_tensor *before = logits_of(&m, &x);
  ck_assert_int_eq(pt_model_merge(&m), PT_OK);
  ck_assert_ptr_null(m.hooks);
  pt_tensor *after = logits_of(&m, &x);
  for (int64_t k = 0; k < pt_numel(before); k++)
    ck_assert_msg(fabs(pt_get(before, k) - pt_get(after, k)) <= 1e-5, "%s: merged logit %lld "
                  "moved", me->name, (long long)k);
  pt_tensor_free(before);
  pt_tensor_free(after);
  free_batch(&x);
  pt_model_free(&m);
  pt_backbone_free(&bb);
}
END_TEST

/* peft keeps no labels: ptune's extra key, else the base model's
 * config.json (as transformers), else a clear error. */
START_TEST(peft_labels_come_from_ptune_or_the_base_model) {
  pt_bert_config bc;
  tiny_config(&bc, PT_ARCH_BERT);
  pt_backbone bb;
  ck_assert_int_eq(pt_backbone_init(&bb, &bc, (pt_backbone_parts){true, false}, 5), PT_OK);
  pt_model m;
  pt_model_config mc = {{PT_TASK_SEQUENCE_CLASSIFICATION, PT_HEAD_LINEAR, 2, NULL, -1}, 17, NULL, NULL, false};
  ck_assert_int_eq(pt_model_new(&m, &bb, pt_method_find("lora"), NULL, &mc), PT_OK);
  char dir[] = "/tmp/pt_labels_XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  const char *labels[] = {"bad", "good"};
  ck_assert_int_eq(pt_model_save(&m, dir, PT_LAYOUT_PEFT, 2, labels, "base"), PT_OK);
  pt_adapter_info info;
  ck_assert_int_eq(pt_adapter_info_read(dir, NULL, &info), PT_OK);
  ck_assert_str_eq(info.id2label[1], "good");
  ck_assert_str_eq(info.base_model, "base");
  pt_adapter_info_free(&info);
  /* without ptune's key (as peft writes it) */
  char path[400];
  snprintf(path, sizeof path, "%s/adapter_config.json", dir);
  json_t *j = pt_json_load_object(path);
  json_object_del(j, "ptune");
  ck_assert_int_eq(json_dump_file(j, path, 0), 0);
  json_decref(j);
  ck_assert_int_eq(pt_adapter_info_read(dir, NULL, &info), PT_ERR_FORMAT);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "no labels"));
  char base[300];
  snprintf(base, sizeof base, "%s/base", dir);
  ck_assert_int_eq(pt_mkdirs(base), PT_OK);
  snprintf(path, sizeof path, "%s/config.json", base);
  FILE *fp = fopen(path, "w");
  fputs("{\"model_type\": \"bert\", \"id2label\": {\"0\": \"NEG\", \"1\": \"POS\"}}", fp);
  fclose(fp);
  ck_assert_msg(pt_adapter_info_read(dir, base, &info) == PT_OK, "%s", pt_error_message());
  ck_assert_int_eq(info.nlabels, 2);
  ck_assert_str_eq(info.id2label[0], "NEG");
  ck_assert_str_eq(info.labels_from, "the base model's config.json");
  ck_assert_int_eq(info.head.task, PT_TASK_SEQUENCE_CLASSIFICATION);
  pt_adapter_info_free(&info);
  /* a config that is neither */
  snprintf(path, sizeof path, "%s/adapter_config.json", dir);
  fp = fopen(path, "w");
  fputs("{\"r\": 8}", fp);
  fclose(fp);
  ck_assert_int_eq(pt_adapter_info_read(dir, base, &info), PT_ERR_FORMAT);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "peft_type"));
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
  pt_model_free(&m);
  pt_backbone_free(&bb);
}
END_TEST

/* --prompt-init TEXT: the word embeddings of the tokenized text, special
 * tokens included (HF's tokenizer call), repeated to P; SAMPLE_VOCAB: rows
 * of the word embeddings. */
START_TEST(prompt_starts_from_text_or_the_vocabulary) {
  char dir[4200];
  snprintf(dir, sizeof dir, "%s/vocab/bert-base-uncased", getenv("PT_FIXTURES"));
  pt_tokenizer *tok = pt_tokenizer_load(dir);
  ck_assert_msg(tok != NULL, "%s", pt_error_message());
  pt_bert_config bc;
  tiny_config(&bc, PT_ARCH_BERT);
  bc.vocab_size = pt_tokenizer_vocab_size(tok);
  pt_backbone bb;
  ck_assert_int_eq(pt_backbone_init(&bb, &bc, (pt_backbone_parts){true, false}, 5), PT_OK);
  const pt_method *me = pt_method_find("prompt");
  void *opts = make_opts(me, (const char *[]){"prompt-init", "TEXT", "prompt-init-text",
                                              "hello world", "num-virtual-tokens", "6", NULL});
  pt_model m;
  pt_model_config mc = {{PT_TASK_SEQUENCE_CLASSIFICATION, PT_HEAD_LINEAR, 2, NULL, -1}, 1, NULL, NULL, false};
  ck_assert_int_eq(pt_model_new(&m, &bb, me, opts, &mc), PT_ERR_ARG); /* no tokenizer */
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "tokenizer"));
  mc.tokenizer = tok;
  ck_assert_msg(pt_model_new(&m, &bb, me, opts, &mc) == PT_OK, "%s", pt_error_message());
  /* [CLS] hello world [SEP] [CLS] hello */
  const int64_t want[] = {101, 7592, 2088, 102, 101, 7592};
  pt_tensor *p = m.params.items[0], *words = bb.bert.word.weight;
  int64_t H = bc.hidden_size;
  for (int i = 0; i < 6; i++)
    for (int64_t j = 0; j < H; j++)
      ck_assert_msg(pt_get(p, i * H + j) == pt_get(words, want[i] * H + j), "row %d", i);
  pt_model_free(&m);
  free_opts(me, opts);
  opts = make_opts(me, (const char *[]){"prompt-init", "SAMPLE_VOCAB", NULL});
  ck_assert_int_eq(pt_model_new(&m, &bb, me, opts, &mc), PT_OK);
  p = m.params.items[0];
  for (int64_t i = 0; i < p->shape[0]; i++) { /* every row is some word's */
    bool found = false;
    for (int64_t w = 0; w < bc.vocab_size && !found; w++) {
      bool same = true;
      for (int64_t j = 0; j < H && same; j++) same = pt_get(p, i * H + j) == pt_get(words, w * H + j);
      found = same;
    }
    ck_assert_msg(found, "prompt row %lld is no word embedding", (long long)i);
  }
  pt_model_free(&m);
  free_opts(me, opts);
  opts = make_opts(me, (const char *[]){"prompt-init", "TEXT", NULL});
  ck_assert_int_eq(pt_model_new(&m, &bb, me, opts, &mc), PT_ERR_ARG);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "--prompt-init-text"));
  free_opts(me, opts);
  pt_backbone_free(&bb);
  pt_tokenizer_free(tok);
}
END_TEST

int main(void) {
  Suite *s = suite_create("methods");
  TCase *tc = tcase_create("registry");
  tcase_set_timeout(tc, 900);
  int count;
  pt_methods(&count);
  tcase_add_test(tc, option_tables_are_complete);
  tcase_add_test(tc, models_share_a_backbone);
  tcase_add_loop_test(tc, every_method_trains_its_tensors_on_every_task, 0, count);
  tcase_add_loop_test(tc, method_variants_train_their_tensors, 0, NVARIANTS);
  tcase_add_loop_test(tc, adapters_round_trip_in_both_layouts, 0, count);
  tcase_add_loop_test(tc, merged_models_compute_the_same, 0, count);
  tcase_add_test(tc, peft_labels_come_from_ptune_or_the_base_model);
  tcase_add_test(tc, prompt_starts_from_text_or_the_vocabulary);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
