/* models/: Hugging Face directory loading into a backbone (name variants,
 * missing and unused tensors, RoBERTa without a pooler, shards), adapter
 * directories of ptv2 (round trip, baked export, wrong base), what the
 * ptv2, prompt and fine-tuning methods train, the multiple-choice head, the
 * bf16 backbone, and input checks. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ptune.h"
#include "models/pt_hf.h"
#include "models/pt_model.h"
#include "models/pt_model_io.h"
#include "nn/pt_params_io.h"
#include "nn/pt_safetensors.h"
#include "tensor/pt_file.h"

static pt_bert_config tiny(pt_arch arch) {
  pt_bert_config c;
  pt_bert_config_default(&c, arch);
  c.vocab_size = 50;
  c.hidden_size = 16;
  c.num_layers = 2;
  c.num_heads = 2;
  c.intermediate_size = 24;
  c.max_position = 40;
  c.init_std = 0.2;
  return c;
}

/* A model of `method` with options given as flag/value pairs (NULL ends
 * them) on bb, started from seed. */
static void new_model(pt_model *m, pt_backbone *bb, const char *method, pt_task_kind task,
                      int64_t labels, uint64_t seed, const char *const *args) {
  const pt_method *me = pt_method_find(method);
  ck_assert_ptr_nonnull(me);
  void *opts = calloc(1, me->opts_size + 1);
  ck_assert_int_eq(pt_options_init(me->options, opts), PT_OK);
  for (int i = 0; args && args[i]; i += 2)
    ck_assert_msg(pt_option_set_text(pt_option_find_flag(me->options, args[i]), opts, args[i + 1]) ==
                      PT_OK, "%s", pt_error_message());
  pt_model_config mc = {{task, PT_HEAD_LINEAR, labels, NULL, -1}, seed, NULL, NULL, false};
  ck_assert_msg(pt_model_new(m, bb, me, opts, &mc) == PT_OK, "%s", pt_error_message());
  pt_options_free(me->options, opts);
  free(opts);
}

static const char *const PTV2_P4[] = {"pre-seq-len", "4", NULL};
static const char *const PTV2_P4_MLP[] = {"pre-seq-len", "4", "prefix-projection", "true",
                                          "prefix-hidden-size", "8", NULL};

static pt_backbone_parts parts_for(pt_task_kind task) {
  return pt_backbone_parts_for(task, PT_HEAD_LINEAR);
}

static char tmpdir[256];

static void setup(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/pt_models_%ld", (long)getpid());
  ck_assert_int_eq(pt_mkdirs(tmpdir), PT_OK);
}

static void write_config(const char *dir, const pt_bert_config *c, const char *extra) {
  char path[512], text[1024];
  snprintf(path, sizeof path, "%s/config.json", dir);
  int n = snprintf(text, sizeof text,
                   "{\"model_type\": \"%s\", \"vocab_size\": %lld, \"hidden_size\": %lld, "
                   "\"num_hidden_layers\": %lld, \"num_attention_heads\": %lld, "
                   "\"intermediate_size\": %lld, \"max_position_embeddings\": %lld, "
                   "\"type_vocab_size\": %lld, \"pad_token_id\": %lld, \"layer_norm_eps\": %g%s}",
                   pt_arch_name(c->arch), (long long)c->vocab_size, (long long)c->hidden_size,
                   (long long)c->num_layers, (long long)c->num_heads,
                   (long long)c->intermediate_size, (long long)c->max_position,
                   (long long)c->type_vocab_size, (long long)c->pad_token_id, c->layer_norm_eps,
                   extra ? extra : "");
  ck_assert_int_eq(pt_write_file_atomic(path, text, (size_t)n), PT_OK);
}

/* Saves the encoder tensors of `bb` (names renamed by `style`: 0 as is,
 * 1 without the base prefix and with LayerNorm gamma/beta) plus two that
 * no task model takes: an MLM head tensor, which loading skips quietly, and
 * a stray one, which it warns about; skipping `skip` (NULL: none). */
static void write_checkpoint(const char *dir, const pt_backbone *bb, int style, const char *skip) {
  const char *names[256];
  const pt_tensor *ts[256];
  char buf[256][128];
  int n = 0;
  size_t bl = strlen(bb->bert.prefix);
  for (int i = 0; i < bb->params.count; i++) {
    const char *name = bb->params.items[i]->name;
    if (strncmp(name, bb->bert.prefix, bl)) continue;
    if (skip && strstr(name, skip)) continue;
    if (style == 1) {
      snprintf(buf[n], sizeof buf[n], "%s", name + bl + 1);
      char *ln = strstr(buf[n], "LayerNorm.");
      if (ln && !strcmp(ln, "LayerNorm.weight")) strcpy(ln, "LayerNorm.gamma");
      if (ln && !strcmp(ln, "LayerNorm.bias")) strcpy(ln, "LayerNorm.beta");
    } else {
      snprintf(buf[n], sizeof buf[n], "%s", name);
    }
    names[n] = buf[n];
    ts[n++] = bb->params.items[i];
  }
  pt_tensor *mlm = pt_zeros(PT_F32, 1, PT_SHAPE(bb->bert.cfg.vocab_size));
  names[n] = "cls.predictions.bias";
  ts[n++] = mlm;
  names[n] = "old_classifier.bias";
  ts[n++] = mlm;
  char path[512];
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  ck_assert_int_eq(pt_safetensors_write(path, n, names, ts, 0, NULL, NULL), PT_OK);
  pt_tensor_free(mlm);
}

static int warnings;
static char last_warning[512];
static void count_warning(const char *line, void *ctx) {
  (void)ctx;
  warnings++;
  snprintf(last_warning, sizeof last_warning, "%s", line);
}

static bool same_encoder(const pt_backbone *a, const pt_backbone *b) {
  int n = 0;
  for (int i = 0; i < a->params.count; i++) {
    const pt_tensor *p = a->params.items[i];
    if (strncmp(p->name, a->bert.prefix, strlen(a->bert.prefix))) continue;
    const pt_tensor *q = pt_params_find(&b->params, p->name);
    if (!q || memcmp(pt_data(p), pt_data(q), (size_t)pt_numel(p) * 4)) return false;
    n++;
  }
  return n > 0;
}

START_TEST(loads_hf_directories_with_either_naming) {
  setup();
  pt_bert_config bc = tiny(PT_ARCH_BERT);
  pt_backbone_parts parts = parts_for(PT_TASK_SEQUENCE_CLASSIFICATION);
  pt_backbone src, dst;
  ck_assert_int_eq(pt_backbone_init(&src, &bc, parts, 1), PT_OK);
  write_config(tmpdir, &bc, NULL);
  pt_warn_set_handler(count_warning, NULL);
  for (int style = 0; style <= 1; style++) {
    write_checkpoint(tmpdir, &src, style, NULL);
    warnings = 0;
    ck_assert_msg(pt_backbone_load(&dst, tmpdir, parts, false, -1, 99) == PT_OK, "%s",
                  pt_error_message());
    ck_assert(same_encoder(&src, &dst));
    ck_assert_int_eq(warnings, 1); /* the stray tensor; the MLM head goes unmentioned */
    ck_assert_msg(strstr(last_warning, "1 checkpoint tensors were not used: old_classifier.bias"),
                  "%s", last_warning);
    pt_backbone_free(&dst);
  }
  /* a missing encoder tensor is an error that names it */
  write_checkpoint(tmpdir, &src, 0, "layer.1.output.dense.weight");
  ck_assert_int_eq(pt_backbone_load(&dst, tmpdir, parts, false, -1, 99), PT_ERR_FORMAT);
  ck_assert(strstr(pt_error_message(), "bert.encoder.layer.1.output.dense.weight") != NULL);
  pt_warn_reset_handler();
  pt_backbone_free(&src);
}
END_TEST

START_TEST(roberta_without_pooler_warns_and_loads) {
  setup();
  pt_bert_config bc = tiny(PT_ARCH_ROBERTA);
  pt_backbone_parts parts = parts_for(PT_TASK_SEQUENCE_CLASSIFICATION);
  ck_assert(parts.pooler);
  pt_backbone src, dst;
  ck_assert_int_eq(pt_backbone_init(&src, &bc, parts, 1), PT_OK);
  write_config(tmpdir, &bc, NULL);
  write_checkpoint(tmpdir, &src, 0, "pooler");
  pt_warn_set_handler(count_warning, NULL);
  warnings = 0;
  ck_assert_msg(pt_backbone_load(&dst, tmpdir, parts, false, -1, 5) == PT_OK, "%s",
                pt_error_message());
  pt_warn_reset_handler();
  ck_assert_int_eq(warnings, 2); /* no pooler + the stray tensor */
  pt_backbone_free(&src);
  pt_backbone_free(&dst);
}
END_TEST

START_TEST(bad_configs_and_shapes_are_clear_errors) {
  setup();
  pt_bert_config bc = tiny(PT_ARCH_BERT), got;
  char path[512];
  snprintf(path, sizeof path, "%s/config.json", tmpdir);
  const char *bad_type = "{\"model_type\": \"gpt2\"}";
  pt_write_file_atomic(path, bad_type, strlen(bad_type));
  ck_assert_int_eq(pt_bert_config_load(tmpdir, &got), PT_ERR_FORMAT);
  ck_assert(strstr(pt_error_message(), "unknown model_type 'gpt2'") != NULL);
  bc.num_heads = 3;
  write_config(tmpdir, &bc, NULL);
  ck_assert_int_eq(pt_bert_config_load(tmpdir, &got), PT_ERR_FORMAT);
  ck_assert(strstr(pt_error_message(), "not a multiple of num_attention_heads") != NULL);
  bc.num_heads = 2;
  write_config(tmpdir, &bc, ", \"hidden_act\": \"relu\"");
  ck_assert_int_eq(pt_bert_config_load(tmpdir, &got), PT_ERR_FORMAT);
  /* a checkpoint whose tensor has the wrong shape */
  pt_bert_config small = bc;
  small.intermediate_size = 20;
  pt_backbone_parts parts = parts_for(PT_TASK_SEQUENCE_CLASSIFICATION);
  pt_backbone other, dst;
  ck_assert_int_eq(pt_backbone_init(&other, &small, parts, 1), PT_OK);
  write_config(tmpdir, &bc, NULL);
  write_checkpoint(tmpdir, &other, 0, NULL);
  ck_assert_int_eq(pt_backbone_load(&dst, tmpdir, parts, false, -1, 1), PT_ERR_SHAPE);
  ck_assert(strstr(pt_error_message(), "intermediate.dense.weight") != NULL);
  pt_backbone_free(&other);
}
END_TEST

static pt_tensor *ids_tensor(int64_t B, int64_t S, int64_t vocab, uint64_t seed) {
  pt_tensor *t = pt_empty(PT_I64, 2, PT_SHAPE(B, S));
  pt_rng rng;
  pt_rng_init(&rng, seed);
  for (int64_t i = 0; i < B * S; i++) pt_set(t, i, (double)(3 + pt_rng_below(&rng, (uint64_t)vocab - 3)));
  return t;
}

static pt_tensor *logits_of(pt_model *m, const pt_tensor *ids) {
  pt_model_batch b = {ids, NULL, NULL, NULL, NULL, NULL};
  pt_model_outputs out;
  pt_nn_mode eval = {false, NULL};
  ck_assert_msg(pt_model_forward(m, &b, eval, false, &out) == PT_OK, "%s", pt_error_message());
  pt_tensor *l = pt_tensor_ref(out.logits);
  pt_model_outputs_free(&out);
  return l;
}

static double max_diff(const pt_tensor *a, const pt_tensor *b) {
  double w = 0;
  for (int64_t i = 0; i < pt_numel(a); i++) w = fmax(w, fabs(pt_get(a, i) - pt_get(b, i)));
  return w;
}

/* the adapter's --prefix-projection */
static bool projection_of(const pt_adapter_info *info) {
  char *v = pt_option_text(pt_option_find_flag(info->method->options, "prefix-projection"),
                           info->opts);
  bool on = v && !strcmp(v, "true");
  free(v);
  return on;
}

START_TEST(adapters_round_trip_and_bake) {
  setup();
  pt_bert_config bc = tiny(PT_ARCH_BERT);
  pt_backbone_parts parts = parts_for(PT_TASK_TOKEN_CLASSIFICATION);
  pt_backbone bb, loaded;
  ck_assert_int_eq(pt_backbone_init(&bb, &bc, parts, 3), PT_OK);
  pt_model m, back, baked;
  new_model(&m, &bb, "ptv2", PT_TASK_TOKEN_CLASSIFICATION, 3, 3, PTV2_P4_MLP);
  write_config(tmpdir, &bc, NULL);
  write_checkpoint(tmpdir, &bb, 0, NULL);
  char adir[512], bdir[512];
  snprintf(adir, sizeof adir, "%s/adapter", tmpdir);
  snprintf(bdir, sizeof bdir, "%s/baked", tmpdir);
  const char *labels[] = {"O", "B-X", "I-X"};
  ck_assert_int_eq(pt_model_save(&m, adir, PT_LAYOUT_PTUNE, 3, labels, NULL), PT_OK);
  pt_tensor *ids = ids_tensor(2, 7, bc.vocab_size, 11);
  pt_tensor *want = logits_of(&m, ids);
  int64_t trained = pt_model_numel(&m, true);
  /* the baked export: the MLP folded into its table */
  ck_assert_int_eq(pt_model_bake(&m), PT_OK);
  ck_assert_int_eq(pt_model_save(&m, bdir, PT_LAYOUT_PTUNE, 3, labels, NULL), PT_OK);
  pt_model_free(&m);
  pt_backbone_free(&bb);
  /* both read back on the backbone loaded from the directory */
  pt_warn_set_handler(NULL, NULL);
  ck_assert_msg(pt_backbone_load(&loaded, tmpdir, parts, false, -1, 7) == PT_OK, "%s",
                pt_error_message());
  pt_adapter_info ac, bac;
  ck_assert_msg(pt_adapter_info_read(adir, tmpdir, &ac) == PT_OK, "%s", pt_error_message());
  ck_assert_str_eq(ac.id2label[1], "B-X");
  ck_assert(projection_of(&ac));
  ck_assert_msg(pt_model_load(&back, &loaded, adir, &ac, 5) == PT_OK, "%s", pt_error_message());
  pt_tensor *got = logits_of(&back, ids);
  ck_assert_int_eq(memcmp(pt_data(got), pt_data(want), (size_t)pt_numel(want) * 4), 0);
  ck_assert_msg(pt_adapter_info_read(bdir, tmpdir, &bac) == PT_OK, "%s", pt_error_message());
  ck_assert(!projection_of(&bac));
  ck_assert_msg(pt_model_load(&baked, &loaded, bdir, &bac, 5) == PT_OK, "%s", pt_error_message());
  ck_assert_int_eq(baked.params.count, 1);
  ck_assert_int_lt(pt_model_numel(&baked, true), trained);
  pt_tensor *gb = logits_of(&baked, ids);
  ck_assert_double_lt(max_diff(gb, want), 1e-5);
  /* an adapter made for another encoder shape is refused */
  pt_bert_config wide = bc;
  wide.hidden_size = 32;
  pt_backbone wbb;
  ck_assert_int_eq(pt_backbone_init(&wbb, &wide, parts, 1), PT_OK);
  pt_model x;
  ck_assert_int_eq(pt_model_load(&x, &wbb, adir, &ac, 5), PT_ERR_FORMAT);
  ck_assert(strstr(pt_error_message(), "adapter made for bert H=16") != NULL);
  pt_backbone_free(&wbb);
  pt_warn_reset_handler();
  pt_tensor *f[] = {ids, want, got, gb};
  for (int i = 0; i < 4; i++) pt_tensor_free(f[i]);
  pt_adapter_info_free(&ac);
  pt_adapter_info_free(&bac);
  pt_model_free(&back);
  pt_model_free(&baked);
  pt_backbone_free(&loaded);
}
END_TEST

/* Every tensor of bb and m gets a gradient exactly when it trains. */
static void expect_grads_where_trained(const pt_backbone *bb, const pt_model *m) {
  const pt_params *lists[3] = {&bb->params, &m->params, &m->head.params};
  for (int l = 0; l < 3; l++)
    for (int i = 0; i < lists[l]->count; i++) {
      const pt_tensor *p = lists[l]->items[i];
      ck_assert_msg(pt_requires_grad(p) == (p->grad != NULL), "%s", p->name);
    }
}

START_TEST(methods_train_the_right_parameters) {
  pt_bert_config bc = tiny(PT_ARCH_ROBERTA);
  int64_t H = bc.hidden_size, L = bc.num_layers, P = 4, C = 3;
  const char *const prompt_p4[] = {"num-virtual-tokens", "4", NULL};
  const struct {
    const char *method;
    const char *const *args;
    int64_t trainable;
  } cases[] = {
      {"ptv2", PTV2_P4, P * 2 * L * H + H * C + C},
      {"ptv2", PTV2_P4_MLP, P * H + (H * 8 + 8) + (8 * 2 * L * H + 2 * L * H) + H * C + C},
      {"prompt", prompt_p4, P * H + H * C + C},
  };
  pt_tensor *ids = ids_tensor(2, 6, bc.vocab_size, 4);
  pt_tensor *labels = pt_zeros(PT_I64, 2, PT_SHAPE(2, 6));
  pt_backbone bb;
  ck_assert_int_eq(pt_backbone_init(&bb, &bc, parts_for(PT_TASK_TOKEN_CLASSIFICATION), 2), PT_OK);
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    pt_model m;
    new_model(&m, &bb, cases[k].method, PT_TASK_TOKEN_CLASSIFICATION, C, 2, cases[k].args);
    ck_assert_int_eq(pt_model_numel(&m, true), cases[k].trainable);
    ck_assert_int_eq(pt_params_numel(&bb.params, true), 0);
    pt_model_batch b = {ids, NULL, NULL, labels, NULL, NULL};
    pt_model_outputs out;
    pt_nn_mode eval = {false, NULL};
    ck_assert_int_eq(pt_model_forward(&m, &b, eval, false, &out), PT_OK);
    ck_assert_int_eq(out.logits->shape[1], 6); /* prompt positions are not labelled */
    ck_assert_int_eq(pt_backward(out.loss, NULL, false), PT_OK);
    expect_grads_where_trained(&bb, &m);
    pt_model_outputs_free(&out);
    pt_model_free(&m);
    pt_params_zero_grad(&bb.params);
  }
  pt_model m;
  new_model(&m, &bb, "finetune", PT_TASK_TOKEN_CLASSIFICATION, C, 2, NULL);
  ck_assert_int_eq(pt_model_numel(&m, true), pt_model_numel(&m, false));
  pt_model_free(&m);
  pt_backbone_free(&bb);
  pt_tensor_free(ids);
  pt_tensor_free(labels);
}
END_TEST

/* --backbone-dtype bf16 at the library level: which tensors change, what
 * stays f32, what is refused, and the way back. */
START_TEST(bf16_backbone_converts_frozen_matrices_only) {
  pt_bert_config bc = tiny(PT_ARCH_BERT);
  pt_backbone bb;
  ck_assert_int_eq(pt_backbone_init(&bb, &bc, parts_for(PT_TASK_TOKEN_CLASSIFICATION), 5), PT_OK);
  pt_model m;
  new_model(&m, &bb, "ptv2", PT_TASK_TOKEN_CLASSIFICATION, 3, 5, PTV2_P4_MLP);
  pt_tensor *word = pt_params_find(&bb.params, "bert.embeddings.word_embeddings.weight");
  pt_tensor *query = pt_params_find(&bb.params, "bert.encoder.layer.1.attention.self.query.weight");
  pt_tensor *before = pt_raw_clone(query);
  ck_assert_int_eq(pt_backbone_set_weight_dtype(&bb, PT_BF16), PT_OK);
  ck_assert_ptr_eq(query, bb.bert.layers[1].query.weight); /* converted in place */
  for (int i = 0; i < bb.params.count; i++) {
    pt_tensor *p = bb.params.items[i];
    ck_assert_msg((p->dtype == PT_BF16) == (p->ndim == 2), "%s is %s", p->name, pt_dtype_name(p->dtype));
  }
  const pt_params *own[2] = {&m.params, &m.head.params}; /* what trains stays f32 */
  for (int l = 0; l < 2; l++)
    for (int i = 0; i < own[l]->count; i++)
      ck_assert_int_eq(own[l]->items[i]->dtype, PT_F32);
  for (int64_t i = 0; i < pt_numel(query); i++) /* rounded to nearest even */
    ck_assert(pt_get(query, i) == pt_bf16_to_f32(pt_f32_to_bf16((float)pt_get(before, i))));
  /* the bf16 table gives f32 rows */
  pt_tensor *ids = ids_tensor(2, 5, bc.vocab_size, 1);
  pt_tensor *e = pt_embedding(word, ids, -1);
  ck_assert_int_eq(e->dtype, PT_F32);
  for (int64_t i = 0; i < pt_numel(e); i++) {
    int64_t row = (int64_t)pt_get(ids, i / bc.hidden_size);
    ck_assert(pt_get(e, i) == pt_get(word, row * bc.hidden_size + i % bc.hidden_size));
  }
  pt_tensor_free(e);
  /* it trains: the prefix and head get gradients, the bf16 matrices none */
  pt_tensor *labels = pt_zeros(PT_I64, 2, PT_SHAPE(2, 5));
  pt_model_batch b = {ids, NULL, NULL, labels, NULL, NULL};
  pt_model_outputs out;
  pt_nn_mode eval = {false, NULL};
  ck_assert_int_eq(pt_model_forward(&m, &b, eval, false, &out), PT_OK);
  ck_assert_int_eq(pt_backward(out.loss, NULL, false), PT_OK);
  expect_grads_where_trained(&bb, &m);
  ck_assert_int_gt(pt_model_ntrainable(&m), 0);
  pt_model_outputs_free(&out);
  /* a bf16 matrix cannot be made trainable: refused by name */
  ck_assert_int_eq(pt_params_set_trainable(&bb.params, "bert.encoder.layer.0.", true), PT_ERR_DTYPE);
  ck_assert_msg(strstr(pt_error_message(), "bert.encoder.layer.0.") &&
                    strstr(pt_error_message(), "not BF16"),
                "%s", pt_error_message());
  ck_assert_int_eq(pt_params_set_trainable(&bb.params, "bert.", false), PT_OK);
  /* and back to f32: the bf16 values, widened */
  ck_assert_int_eq(pt_backbone_set_weight_dtype(&bb, PT_F32), PT_OK);
  ck_assert_int_eq(query->dtype, PT_F32);
  ck_assert(pt_get(query, 3) == pt_bf16_to_f32(pt_f32_to_bf16((float)pt_get(before, 3))));
  pt_model_free(&m);
  /* fine-tuning trains the encoder: refused with a reason */
  new_model(&m, &bb, "finetune", PT_TASK_TOKEN_CLASSIFICATION, 3, 2, NULL);
  ck_assert_int_eq(pt_backbone_set_weight_dtype(&bb, PT_BF16), PT_ERR_ARG);
  ck_assert_msg(strstr(pt_error_message(), "trains (fine-tuning") != NULL, "%s", pt_error_message());
  ck_assert_int_eq(pt_backbone_set_weight_dtype(&bb, PT_F16), PT_ERR_DTYPE);
  pt_model_free(&m);
  pt_backbone_free(&bb);
  pt_tensor_free(before);
  pt_tensor_free(ids);
  pt_tensor_free(labels);
}
END_TEST

START_TEST(multiple_choice_scores_each_choice) {
  pt_bert_config bc = tiny(PT_ARCH_BERT);
  pt_backbone bb;
  ck_assert_int_eq(pt_backbone_init(&bb, &bc, parts_for(PT_TASK_MULTIPLE_CHOICE), 2), PT_OK);
  pt_model m;
  new_model(&m, &bb, "ptv2", PT_TASK_MULTIPLE_CHOICE, 0, 2, PTV2_P4);
  pt_tensor *flat = ids_tensor(6, 5, bc.vocab_size, 9);
  pt_tensor *ids = pt_raw_view(flat, 3, PT_SHAPE(3, 2, 5)); /* 3 questions x 2 choices */
  int64_t lab[3] = {0, 1, 1};
  pt_tensor *labels = pt_from_buffer(PT_I64, 1, PT_SHAPE(3), lab);
  pt_model_batch b = {ids, NULL, NULL, labels, NULL, NULL};
  pt_model_outputs out;
  pt_nn_mode eval = {false, NULL};
  ck_assert_msg(pt_model_forward(&m, &b, eval, false, &out) == PT_OK, "%s", pt_error_message());
  ck_assert_int_eq(out.logits->ndim, 2);
  ck_assert_int_eq(out.logits->shape[0], 3);
  ck_assert_int_eq(out.logits->shape[1], 2);
  /* loss = mean CE over the choices, computed by hand */
  double want = 0;
  for (int q = 0; q < 3; q++) {
    double a = pt_get(out.logits, 2 * q), c = pt_get(out.logits, 2 * q + 1);
    double mx = fmax(a, c), lse = mx + log(exp(a - mx) + exp(c - mx));
    want += lse - (lab[q] ? c : a);
  }
  ck_assert_double_eq_tol(pt_get(out.loss, 0), want / 3, 1e-5);
  pt_model_outputs_free(&out);
  pt_tensor_free(flat);
  pt_tensor_free(ids);
  pt_tensor_free(labels);
  pt_model_free(&m);
  pt_backbone_free(&bb);
}
END_TEST

START_TEST(prefix_plus_sequence_must_fit_the_position_table) {
  pt_bert_config bc = tiny(PT_ARCH_BERT); /* max_position 40 */
  pt_backbone bb;
  ck_assert_int_eq(pt_backbone_init(&bb, &bc, parts_for(PT_TASK_SEQUENCE_CLASSIFICATION), 2), PT_OK);
  pt_model m;
  new_model(&m, &bb, "ptv2", PT_TASK_SEQUENCE_CLASSIFICATION, 3, 2, PTV2_P4);
  pt_tensor *ok = ids_tensor(1, 36, bc.vocab_size, 1), *bad = ids_tensor(1, 37, bc.vocab_size, 1);
  pt_tensor *l = logits_of(&m, ok);
  pt_tensor_free(l);
  pt_model_batch b = {bad, NULL, NULL, NULL, NULL, NULL};
  pt_model_outputs out;
  pt_nn_mode eval = {false, NULL};
  ck_assert_int_eq(pt_model_forward(&m, &b, eval, false, &out), PT_ERR_ARG);
  ck_assert(strstr(pt_error_message(), "prefix 4 + sequence 37 exceeds max_position_embeddings 40") != NULL);
  pt_tensor_free(ok);
  pt_tensor_free(bad);
  pt_model_free(&m);
  pt_backbone_free(&bb);
}
END_TEST

/* model.safetensors.index.json naming two shards (each shard once). */
START_TEST(loads_sharded_checkpoints) {
  setup();
  char dir[512];
  snprintf(dir, sizeof dir, "%s/sharded", tmpdir);
  ck_assert_int_eq(pt_mkdirs(dir), PT_OK);
  pt_bert_config bc = tiny(PT_ARCH_BERT);
  pt_backbone_parts parts = parts_for(PT_TASK_TOKEN_CLASSIFICATION);
  pt_backbone src, dst;
  ck_assert_int_eq(pt_backbone_init(&src, &bc, parts, 4), PT_OK);
  write_config(dir, &bc, NULL);
  const char *names[2][128];
  const pt_tensor *ts[2][128];
  int n[2] = {0, 0};
  char index[16384] = "{\"metadata\": {}, \"weight_map\": {";
  for (int i = 0; i < src.params.count; i++) {
    const pt_tensor *p = src.params.items[i];
    if (strncmp(p->name, "bert.", 5)) continue;
    int shard = strstr(p->name, "layer.1") != NULL;
    names[shard][n[shard]] = p->name;
    ts[shard][n[shard]++] = p;
    size_t u = strlen(index);
    snprintf(index + u, sizeof index - u, "%s\"%s\": \"model-0000%d-of-00002.safetensors\"",
             n[0] + n[1] > 1 ? ", " : "", p->name, shard + 1);
  }
  strcat(index, "}}");
  for (int k = 0; k < 2; k++) {
    char path[600];
    snprintf(path, sizeof path, "%s/model-0000%d-of-00002.safetensors", dir, k + 1);
    ck_assert_int_eq(pt_safetensors_write(path, n[k], names[k], ts[k], 0, NULL, NULL), PT_OK);
  }
  char ipath[600];
  snprintf(ipath, sizeof ipath, "%s/model.safetensors.index.json", dir);
  ck_assert_int_eq(pt_write_file_atomic(ipath, index, strlen(index)), PT_OK);
  ck_assert_msg(pt_backbone_load(&dst, dir, parts, false, -1, 77) == PT_OK, "%s", pt_error_message());
  ck_assert(same_encoder(&src, &dst));
  pt_backbone_free(&dst);
  /* an index naming a file outside the directory is refused */
  const char *evil = "{\"weight_map\": {\"bert.x\": \"../model.safetensors\"}}";
  ck_assert_int_eq(pt_write_file_atomic(ipath, evil, strlen(evil)), PT_OK);
  ck_assert_int_eq(pt_backbone_load(&dst, dir, parts, false, -1, 77), PT_ERR_FORMAT);
  ck_assert(strstr(pt_error_message(), "must name a file in the same directory") != NULL);
  pt_backbone_free(&src);
}
END_TEST

int main(void) {
  Suite *s = suite_create("models");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, loads_hf_directories_with_either_naming);
  tcase_add_test(tc, roberta_without_pooler_warns_and_loads);
  tcase_add_test(tc, loads_sharded_checkpoints);
  tcase_add_test(tc, bad_configs_and_shapes_are_clear_errors);
  tcase_add_test(tc, adapters_round_trip_and_bake);
  tcase_add_test(tc, methods_train_the_right_parameters);
  tcase_add_test(tc, multiple_choice_scores_each_choice);
  tcase_add_test(tc, bf16_backbone_converts_frozen_matrices_only);
  tcase_add_test(tc, prefix_plus_sequence_must_fit_the_position_table);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
