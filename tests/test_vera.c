/* The method defined outside the library in examples/vera.c (linked here
 * without its main), checked as the registry test checks the built-in
 * ones, on a tiny random encoder:
 *   - only d, b and the head train; the shared A and B and the backbone
 *     get no gradient and do not move under AdamW;
 *   - gradients reach every vector; a random-direction gradient check of
 *     the whole model in F64 passes, with targets of different shapes
 *     (each layer reads its own slice of A and B);
 *   - saved and read back in ptune's and peft's layouts: the same logits;
 *   - merged into the weights: the same logits without hooks;
 * and its parity with a plain-PyTorch reference that follows peft's VERA
 * (tests/fixtures/vera/make_fixture.py): forward, loss, every trainable
 * gradient, one SGD and three AdamW steps, the merged weights, within 1e-5. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptune.h"
#include "models/pt_hf.h"
#include "models/pt_model.h"
#include "models/pt_model_io.h"
#include "nn/pt_json.h"
#include "nn/pt_params_io.h"
#include "optim/pt_optim.h"
#include "model_test_util.h"
#include "parity_util.h"

extern const pt_method vera_method;

static void register_once(void) {
  if (!pt_method_find("vera")) ck_assert_int_eq(pt_method_register(&vera_method), PT_OK);
}

/* targets of one shape, and of three: query and attention.output.dense
 * 16→16, intermediate.dense 16→24, output.dense 24→16 */
static const char *const target_sets[] = {"query,value", "query,intermediate.dense,output.dense"};
static const pt_task_kind tasks[] = {PT_TASK_SEQUENCE_CLASSIFICATION, PT_TASK_TOKEN_CLASSIFICATION};

typedef struct {
  pt_bert_config bc;
  pt_backbone bb;
  void *opts;
  pt_model m;
  pt_tensor *ids, *mask, *labels;
  pt_model_batch b;
} fixture;

static void open_model(fixture *f, const char *targets, pt_task_kind task) {
  register_once();
  memset(f, 0, sizeof *f);
  tiny_config(&f->bc, PT_ARCH_BERT);
  ck_assert_int_eq(pt_backbone_init(&f->bb, &f->bc, pt_backbone_parts_for(task, PT_HEAD_LINEAR), 5),
                   PT_OK);
  const char *args[] = {"vera-r", "4", "target-modules", targets};
  f->opts = make_opts_n(&vera_method, args, 4);
  pt_model_config mc = {{task, PT_HEAD_LINEAR, 3, NULL, -1}, 17, NULL, NULL, false};
  ck_assert_msg(pt_model_new(&f->m, &f->bb, &vera_method, f->opts, &mc) == PT_OK, "%s",
                pt_error_message());
  /* b starts at 0 (the base model exactly): move every vector off its start */
  perturb_trainable(&f->m, 99, 0.4);
  int64_t B = 2, S = 6;
  f->ids = pt_empty(PT_I64, 2, PT_SHAPE(B, S));
  f->mask = pt_ones(PT_I64, 2, PT_SHAPE(B, S));
  pt_rng rng;
  pt_rng_init(&rng, 3);
  for (int64_t i = 0; i < B * S; i++) {
    bool pad = i >= S && i % S >= S - 2;
    pt_set(f->ids, i, pad ? 0 : (double)(3 + pt_rng_below(&rng, 30)));
    if (pad) pt_set(f->mask, i, 0);
  }
  if (task == PT_TASK_SEQUENCE_CLASSIFICATION) {
    f->labels = pt_from_buffer(PT_I64, 1, PT_SHAPE(B), (int64_t[]){1, 2});
  } else {
    f->labels = pt_empty(PT_I64, 2, PT_SHAPE(B, S));
    for (int64_t i = 0; i < B * S; i++) pt_set(f->labels, i, i % S == 0 ? -100 : (double)(i % 3));
  }
  f->b = (pt_model_batch){f->ids, f->mask, NULL, f->labels, NULL, NULL};
}

static void close_model(fixture *f) {
  pt_tensor_free(f->ids);
  pt_tensor_free(f->mask);
  pt_tensor_free(f->labels);
  pt_model_free(&f->m);
  free_opts(&vera_method, f->opts);
  pt_backbone_free(&f->bb);
}

static pt_tensor *copy_of(const pt_tensor *t) {
  pt_tensor *c = pt_zeros(PT_F64, t->ndim, t->shape);
  for (int64_t i = 0; i < pt_numel(t); i++) pt_set(c, i, pt_get(t, i));
  return c;
}

static bool equal(const pt_tensor *a, const pt_tensor *b) {
  if (pt_numel(a) != pt_numel(b)) return false;
  for (int64_t i = 0; i < pt_numel(a); i++)
    if (pt_get(a, i) != pt_get(b, i)) return false;
  return true;
}

START_TEST(only_the_vectors_and_the_head_train) {
  fixture f;
  open_model(&f, target_sets[_i / 2], tasks[_i % 2]);
  pt_tensor *A = pt_params_find(&f.m.params, "vera_A"), *B = pt_params_find(&f.m.params, "vera_B");
  ck_assert_ptr_nonnull(A);
  ck_assert_ptr_nonnull(B);
  ck_assert(!pt_requires_grad(A) && !pt_requires_grad(B));
  /* A [r, in_max], B [out_max, r]: the largest target's features */
  int64_t wide = _i / 2 ? f.bc.intermediate_size : f.bc.hidden_size;
  ck_assert_int_eq(A->shape[0], 4);
  ck_assert_int_eq(A->shape[1], wide);
  ck_assert_int_eq(B->shape[0], wide);
  ck_assert_int_eq(B->shape[1], 4);
  /* peft's kaiming bounds, and not all zero */
  double amax = 0, bmax = 0;
  for (int64_t i = 0; i < pt_numel(A); i++) amax = fmax(amax, fabs(pt_get(A, i)));
  for (int64_t i = 0; i < pt_numel(B); i++) bmax = fmax(bmax, fabs(pt_get(B, i)));
  ck_assert(amax > 0 && amax <= sqrt(6.0 / (double)wide));
  ck_assert(bmax > 0 && bmax <= sqrt(6.0 / 4.0));
  /* peft's rule: "output.dense" is the attention's and the FFN's */
  int ntargets = _i / 2 ? 4 : 2;
  int n = pt_model_ntrainable(&f.m);
  ck_assert_int_eq(n, 2 * ntargets * (int)f.bc.num_layers + f.m.head.params.count);
  for (int i = 0; i < n; i++) {
    const char *name = pt_model_trainable(&f.m, i)->name;
    ck_assert_msg(strstr(name, ".vera_lambda_") || !strncmp(name, "classifier.", 11), "%s trains", name);
  }
  pt_tensor *A0 = copy_of(A), *B0 = copy_of(B);

  /* one AdamW step: gradients everywhere they should be, nowhere else */
  pt_adamw_opts ao = pt_adamw_defaults();
  ao.lr = 1e-2;
  pt_optim *opt = pt_adamw_new(&ao);
  for (int i = 0; i < n; i++) ck_assert_int_eq(pt_optim_add_param(opt, pt_model_trainable(&f.m, i), NULL, true), PT_OK);
  pt_model_outputs out;
  ck_assert_int_eq(pt_model_forward(&f.m, &f.b, (pt_nn_mode){false, NULL}, false, &out), PT_OK);
  ck_assert(isfinite(pt_get(out.loss, 0)));
  ck_assert_int_eq(pt_backward(out.loss, NULL, false), PT_OK);
  for (int i = 0; i < n; i++) {
    pt_tensor *t = pt_model_trainable(&f.m, i);
    ck_assert_msg(t->grad != NULL, "no gradient reached %s", t->name);
    double g = 0;
    for (int64_t k = 0; k < pt_numel(t->grad); k++) g = fmax(g, fabs(pt_get(t->grad, k)));
    ck_assert_msg(g > 0, "the gradient of %s is zero", t->name);
  }
  ck_assert_ptr_null(A->grad);
  ck_assert_ptr_null(B->grad);
  for (int i = 0; i < f.bb.params.count; i++)
    ck_assert_msg(f.bb.params.items[i]->grad == NULL, "frozen %s got a gradient", f.bb.params.items[i]->name);
  ck_assert_int_eq(pt_optim_step(opt), PT_OK);
  pt_optim_zero_grad(opt);
  pt_model_outputs_free(&out);
  pt_optim_free(opt);
  ck_assert_msg(equal(A, A0) && equal(B, B0), "the shared random matrices moved");
  pt_tensor_free(A0);
  pt_tensor_free(B0);

  /* the whole model along random directions, in F64 */
  ck_assert_int_eq(pt_model_set_dtype(&f.m, PT_F64), PT_OK);
  pt_tensor **in = malloc(sizeof(pt_tensor *) * (size_t)n);
  for (int i = 0; i < n; i++) in[i] = pt_model_trainable(&f.m, i);
  model_loss_ctx c = {&f.m, &f.b};
  pt_gradcheck_result r;
  pt_gradcheck_opts go = {.seed = 7};
  ck_assert_msg(pt_gradcheck_direction(model_loss, &c, n, in, 3, &go, &r) == PT_OK, "%s",
                pt_error_message());
  ck_assert_msg(r.passed, "%s", r.message);
  printf("vera %-38s %-24s gradcheck max |a-n| %.2e\n", target_sets[_i / 2], pt_task_name(tasks[_i % 2]),
         r.max_abs_err);
  free(in);
  close_model(&f);
}
END_TEST

static pt_tensor *logits_of(pt_model *m, const pt_model_batch *b) {
  pt_model_outputs out;
  ck_assert_msg(pt_model_forward(m, b, (pt_nn_mode){false, NULL}, false, &out) == PT_OK, "%s",
                pt_error_message());
  pt_tensor *l = pt_tensor_ref(out.logits);
  pt_model_outputs_free(&out);
  return l;
}

static double max_diff(const pt_tensor *a, const pt_tensor *b) {
  ck_assert_int_eq(pt_numel(a), pt_numel(b));
  double d = 0;
  for (int64_t i = 0; i < pt_numel(a); i++) d = fmax(d, fabs(pt_get(a, i) - pt_get(b, i)));
  return d;
}

START_TEST(adapters_round_trip_in_both_layouts) {
  fixture f;
  open_model(&f, target_sets[1], PT_TASK_SEQUENCE_CLASSIFICATION);
  pt_tensor *want = logits_of(&f.m, &f.b);
  char dir[] = "/tmp/pt_vera_XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  ck_assert_msg(pt_model_save(&f.m, dir, PT_LAYOUT_BOTH, 3, NULL, NULL) == PT_OK, "%s", pt_error_message());
  char sub[64], p[128];
  snprintf(sub, sizeof sub, "%s/peft", dir);
  /* peft's names: the shared pair on the tuner, the vectors on the modules */
  snprintf(p, sizeof p, "%s/adapter_model.safetensors", sub);
  pt_safetensors *st;
  ck_assert_int_eq(pt_safetensors_open(p, &st), PT_OK);
  ck_assert_int_ge(pt_safetensors_find(st, "base_model.vera_A"), 0);
  ck_assert_int_ge(pt_safetensors_find(st, "base_model.vera_B"), 0);
  ck_assert_int_ge(pt_safetensors_find(st, "base_model.model.bert.encoder.layer.1.output.dense.vera_lambda_b"), 0);
  ck_assert_int_ge(pt_safetensors_find(st, "base_model.model.classifier.weight"), 0);
  pt_safetensors_close(st);
  const char *dirs[] = {dir, sub};
  for (int k = 0; k < 2; k++) {
    pt_adapter_info info;
    ck_assert_msg(pt_adapter_info_read(dirs[k], NULL, &info) == PT_OK, "%s", pt_error_message());
    ck_assert_int_eq(info.layout, k ? PT_LAYOUT_PEFT : PT_LAYOUT_PTUNE);
    ck_assert_ptr_eq(info.method, &vera_method);
    pt_backbone bb;
    ck_assert_int_eq(pt_backbone_init(&bb, &f.bc, f.bb.parts, 5), PT_OK);
    for (int i = 0; i < bb.params.count; i++) /* the same frozen weights */
      ck_assert_int_eq(pt_copy_into(bb.params.items[i], f.bb.params.items[i]), PT_OK);
    pt_model m;
    /* another seed and prng key would give other A and B: the file's win */
    ck_assert_msg(pt_model_load(&m, &bb, dirs[k], &info, 12345) == PT_OK, "%s", pt_error_message());
    pt_tensor *got = logits_of(&m, &f.b);
    ck_assert_msg(max_diff(got, want) == 0, "%s layout: logits differ by %.3g", k ? "peft" : "ptune",
                  max_diff(got, want));
    pt_tensor_free(got);
    pt_model_free(&m);
    pt_backbone_free(&bb);
    pt_adapter_info_free(&info);
  }
  snprintf(p, sizeof p, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(p), 0);
  pt_tensor_free(want);
  close_model(&f);
}
END_TEST

START_TEST(merging_gives_the_same_logits) {
  fixture f;
  open_model(&f, target_sets[1], PT_TASK_TOKEN_CLASSIFICATION);
  pt_tensor *want = logits_of(&f.m, &f.b);
  pt_tensor *w0 = copy_of(f.bb.bert.layers[0].out.weight);
  ck_assert_msg(pt_model_merge(&f.m) == PT_OK, "%s", pt_error_message());
  ck_assert_ptr_null(f.m.hooks);
  ck_assert(!equal(f.bb.bert.layers[0].out.weight, w0)); /* W [16, 24] took B[:16]·A[:, :24] */
  pt_tensor *got = logits_of(&f.m, &f.b);
  double d = max_diff(got, want);
  ck_assert_msg(d <= 1e-5, "merged logits differ by %.3g", d);
  printf("vera merged: logits within %.2g\n", d);
  pt_tensor_free(w0);
  pt_tensor_free(got);
  pt_tensor_free(want);
  close_model(&f);
}
END_TEST

/* ---- parity with PyTorch (tests/fixtures/vera) ---- */

static const char *const parity_cases[] = {"vera_bert_seqcls_shapes", "vera_roberta_tokcls"};

typedef struct {
  char dir[4096];
  void *opts;
  pt_backbone bb;
  pt_model m;
  pt_safetensors *inputs, *outputs;
  pt_tensor *ids, *mask, *types, *labels;
  pt_model_batch b;
  parity_tally tally;
} parity_case;

static void load_every(pt_params *ps, const char *path) {
  bool *filled = calloc((size_t)ps->count + 1, 1);
  ck_assert_msg(pt_params_load_safetensors(ps, path, NULL, NULL, filled, NULL) == PT_OK, "%s",
                pt_error_message());
  for (int k = 0; k < ps->count; k++)
    ck_assert_msg(filled[k], "%s is not in %s", ps->items[k]->name, path);
  free(filled);
}

static void open_parity(parity_case *c, int i) {
  register_once();
  memset(c, 0, sizeof *c);
  snprintf(c->dir, sizeof c->dir, "%s/vera/%s", getenv("PT_FIXTURES"), parity_cases[i]);
  c->tally.what = parity_cases[i];
  char p[4200];
  snprintf(p, sizeof p, "%s/method.json", c->dir);
  json_t *j = pt_json_load_object(p);
  ck_assert_msg(j != NULL, "%s", pt_error_message());
  c->opts = make_opts_n(&vera_method, NULL, 0);
  ck_assert_msg(pt_options_from_json(vera_method.options, c->opts, j, p) == PT_OK, "%s",
                pt_error_message());
  const char *task;
  pt_model_config mc = {{0, PT_HEAD_LINEAR, 0, NULL, -1}, 1, NULL, NULL, true};
  ck_assert_int_eq(pt_json_string(j, p, "task", &task), PT_OK);
  ck_assert_int_eq(pt_task_parse(task, &mc.head.task), PT_OK);
  mc.head.num_labels = (int64_t)json_object_size(json_object_get(j, "id2label"));
  json_decref(j);
  pt_bert_config bc;
  ck_assert_msg(pt_bert_config_load(c->dir, &bc) == PT_OK, "%s", pt_error_message());
  ck_assert_int_eq(pt_backbone_init(&c->bb, &bc, pt_backbone_parts_for(mc.head.task, PT_HEAD_LINEAR), 1),
                   PT_OK);
  ck_assert_msg(pt_model_new(&c->m, &c->bb, &vera_method, c->opts, &mc) == PT_OK, "%s",
                pt_error_message());
  snprintf(p, sizeof p, "%s/model.safetensors", c->dir);
  load_every(&c->bb.params, p);
  load_every(&c->m.head.params, p);
  snprintf(p, sizeof p, "%s/method.safetensors", c->dir);
  load_every(&c->m.params, p);
  snprintf(p, sizeof p, "%s/inputs.safetensors", c->dir);
  ck_assert_int_eq(pt_safetensors_open(p, &c->inputs), PT_OK);
  snprintf(p, sizeof p, "%s/outputs.safetensors", c->dir);
  ck_assert_int_eq(pt_safetensors_open(p, &c->outputs), PT_OK);
  c->ids = pt_safetensors_load(c->inputs, "input_ids", PT_I64);
  c->mask = pt_safetensors_load(c->inputs, "attention_mask", PT_I64);
  c->types = pt_safetensors_load(c->inputs, "token_type_ids", PT_I64);
  c->labels = pt_safetensors_load(c->inputs, "labels", PT_I64);
  c->b = (pt_model_batch){c->ids, c->mask, c->types, c->labels, NULL, NULL};
}

static void close_parity(parity_case *c) {
  pt_tensor *t[] = {c->ids, c->mask, c->types, c->labels};
  for (int i = 0; i < 4; i++) pt_tensor_free(t[i]);
  pt_safetensors_close(c->inputs);
  pt_safetensors_close(c->outputs);
  pt_model_free(&c->m);
  pt_backbone_free(&c->bb);
  free_opts(&vera_method, c->opts);
}

/* One optimizer step on the fixture's batch; returns the loss before it. */
static double parity_step(parity_case *c, pt_optim *o) {
  pt_model_outputs out;
  ck_assert_int_eq(pt_model_forward(&c->m, &c->b, (pt_nn_mode){false, NULL}, false, &out), PT_OK);
  double loss = pt_get(out.loss, 0);
  ck_assert_int_eq(pt_backward(out.loss, NULL, false), PT_OK);
  ck_assert_int_eq(pt_optim_step(o), PT_OK);
  pt_optim_zero_grad(o);
  pt_model_outputs_free(&out);
  return loss;
}

static void expect_trainable(parity_case *c, const char *prefix) {
  char name[400];
  for (int i = 0; i < pt_model_ntrainable(&c->m); i++) {
    pt_tensor *t = pt_model_trainable(&c->m, i);
    snprintf(name, sizeof name, "%s%s", prefix, t->name);
    parity_expect(&c->tally, c->outputs, name, t);
  }
}

static void expect_loss_now(parity_case *c, const char *name) {
  pt_model_outputs out;
  ck_assert_int_eq(pt_model_forward(&c->m, &c->b, (pt_nn_mode){false, NULL}, false, &out), PT_OK);
  pt_tensor *l1 = pt_view(out.loss, 1, PT_SHAPE(1));
  parity_expect(&c->tally, c->outputs, name, l1);
  pt_tensor_free(l1);
  pt_model_outputs_free(&out);
}

static pt_optim *optimizer(parity_case *c, pt_optim *o) {
  for (int i = 0; i < pt_model_ntrainable(&c->m); i++)
    ck_assert_int_eq(pt_optim_add_param(o, pt_model_trainable(&c->m, i), NULL, true), PT_OK);
  return o;
}

START_TEST(matches_pytorch) {
  parity_case c;
  open_parity(&c, _i);
  /* forward, loss, every trainable gradient, and exactly the reference's train */
  pt_model_outputs out;
  ck_assert_int_eq(pt_model_forward(&c.m, &c.b, (pt_nn_mode){false, NULL}, false, &out), PT_OK);
  parity_expect(&c.tally, c.outputs, "last_hidden_state", out.encoder.last_hidden);
  parity_expect(&c.tally, c.outputs, "logits", out.logits);
  parity_expect(&c.tally, c.outputs, "loss", out.loss);
  ck_assert_int_eq(pt_backward(out.loss, NULL, false), PT_OK);
  int n = pt_model_ntrainable(&c.m), ngrad = 0;
  char name[400];
  for (int i = 0; i < n; i++) {
    pt_tensor *t = pt_model_trainable(&c.m, i);
    snprintf(name, sizeof name, "grad.%s", t->name);
    parity_expect(&c.tally, c.outputs, name, t->grad);
  }
  for (int k = 0; k < pt_safetensors_count(c.outputs); k++)
    ngrad += !strncmp(pt_safetensors_name(c.outputs, k), "grad.", 5);
  ck_assert_int_eq(ngrad, n);
  pt_model_outputs_free(&out);
  close_parity(&c);

  /* one SGD step, three AdamW steps */
  open_parity(&c, _i);
  pt_sgd_opts so = {.lr = 0.1};
  pt_optim *sgd = optimizer(&c, pt_sgd_new(&so));
  parity_step(&c, sgd);
  expect_trainable(&c, "sgd.");
  expect_loss_now(&c, "sgd.loss_after");
  pt_optim_free(sgd);
  parity_tally kept = c.tally; /* the worst over the whole case */
  close_parity(&c);
  open_parity(&c, _i);
  c.tally = kept;
  pt_adamw_opts ao = pt_adamw_defaults();
  ao.lr = 1e-2;
  ao.weight_decay = 0.01;
  pt_optim *adamw = optimizer(&c, pt_adamw_new(&ao));
  pt_tensor *losses = pt_zeros(PT_F32, 1, PT_SHAPE(3));
  for (int s = 0; s < 3; s++) {
    pt_set(losses, s, parity_step(&c, adamw));
    if (s == 0) expect_trainable(&c, "adamw.step1.");
  }
  expect_trainable(&c, "adamw.");
  parity_expect(&c.tally, c.outputs, "adamw.losses", losses);
  expect_loss_now(&c, "adamw.loss_after");
  pt_tensor_free(losses);
  pt_optim_free(adamw);
  kept = c.tally;
  close_parity(&c);

  /* merged: the targeted weights are the reference's */
  open_parity(&c, _i);
  c.tally = kept;
  ck_assert_int_eq(pt_model_merge(&c.m), PT_OK);
  int merged = 0;
  for (int k = 0; k < pt_safetensors_count(c.outputs); k++) {
    const char *nm = pt_safetensors_name(c.outputs, k);
    if (strncmp(nm, "merged.", 7)) continue;
    pt_tensor *t = pt_params_find(&c.bb.params, nm + 7);
    ck_assert_msg(t != NULL, "no backbone tensor %s", nm + 7);
    parity_expect(&c.tally, c.outputs, nm, t);
    merged++;
  }
  ck_assert_int_gt(merged, 0);
  printf("parity %-28s forward, gradients, SGD, AdamW, %d merged weights: max |diff| %.3g (%s)\n",
         parity_cases[_i], merged, c.tally.worst, c.tally.worst_at);
  close_parity(&c);
}
END_TEST

int main(void) {
  Suite *s = suite_create("vera");
  TCase *tc = tcase_create("vera");
  tcase_set_timeout(tc, 300);
  tcase_add_loop_test(tc, only_the_vectors_and_the_head_train, 0, 4);
  tcase_add_test(tc, adapters_round_trip_in_both_layouts);
  tcase_add_test(tc, merging_gives_the_same_logits);
  tcase_add_loop_test(tc, matches_pytorch, 0, 2);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
