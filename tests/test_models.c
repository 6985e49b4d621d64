/* models/: Hugging Face directory loading (name variants, missing and
 * unused tensors, RoBERTa without a pooler), adapter checkpoints (round trip,
 * baked export, wrong base), methods and heads beyond the parity fixtures
 * (prompt tuning, fine-tuning, multiple choice), and input checks. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ptune.h"
#include "models/pt_adapter.h"
#include "models/pt_hf.h"
#include "models/pt_ptv2.h"
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

static pt_ptv2_config ptv2_cfg(pt_task_kind task, bool proj) {
  pt_ptv2_config c = {PT_METHOD_PTV2, task, 4, proj, 8, 3};
  return c;
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

/* Saves the encoder tensors of `m` (names renamed by `style`: 0 as is,
 * 1 without the base prefix and with LayerNorm gamma/beta) plus an unused
 * MLM tensor, skipping `skip` (NULL: none). */
static void write_checkpoint(const char *dir, const pt_ptv2_model *m, int style, const char *skip) {
  const char *names[256];
  const pt_tensor *ts[256];
  char buf[256][128];
  int n = 0;
  size_t bl = strlen(m->bert.prefix);
  for (int i = 0; i < m->params.count; i++) {
    const char *name = m->params.items[i]->name;
    if (strncmp(name, m->bert.prefix, bl)) continue;
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
    ts[n++] = m->params.items[i];
  }
  pt_tensor *mlm = pt_zeros(PT_F32, 1, PT_SHAPE(m->bert.cfg.vocab_size));
  names[n] = "cls.predictions.bias";
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

static bool same_encoder(const pt_ptv2_model *a, const pt_ptv2_model *b) {
  for (int i = 0; i < a->params.count; i++) {
    const pt_tensor *p = a->params.items[i];
    if (strncmp(p->name, a->bert.prefix, strlen(a->bert.prefix))) continue;
    const pt_tensor *q = pt_params_find(&b->params, p->name);
    if (!q || memcmp(pt_data(p), pt_data(q), (size_t)pt_numel(p) * 4)) return false;
  }
  return true;
}

START_TEST(loads_hf_directories_with_either_naming) {
  setup();
  pt_bert_config bc = tiny(PT_ARCH_BERT);
  pt_ptv2_config cfg = ptv2_cfg(PT_TASK_SEQUENCE_CLASSIFICATION, true);
  pt_ptv2_model src, dst;
  ck_assert_int_eq(pt_ptv2_model_init(&src, &bc, &cfg, 1), PT_OK);
  write_config(tmpdir, &bc, NULL);
  pt_warn_set_handler(count_warning, NULL);
  for (int style = 0; style <= 1; style++) {
    write_checkpoint(tmpdir, &src, style, NULL);
    warnings = 0;
    ck_assert_msg(pt_ptv2_model_from_pretrained(&dst, tmpdir, &cfg, 99) == PT_OK, "%s",
                  pt_error_message());
    ck_assert(same_encoder(&src, &dst));
    ck_assert_int_eq(warnings, 1); /* the unused MLM tensor */
    ck_assert(strstr(last_warning, "cls.predictions.bias") != NULL);
    pt_ptv2_model_free(&dst);
  }
  /* a missing encoder tensor is an error that names it */
  write_checkpoint(tmpdir, &src, 0, "layer.1.output.dense.weight");
  ck_assert_int_eq(pt_ptv2_model_from_pretrained(&dst, tmpdir, &cfg, 99), PT_ERR_FORMAT);
  ck_assert(strstr(pt_error_message(), "bert.encoder.layer.1.output.dense.weight") != NULL);
  pt_warn_reset_handler();
  pt_ptv2_model_free(&src);
}
END_TEST

START_TEST(roberta_without_pooler_warns_and_loads) {
  setup();
  pt_bert_config bc = tiny(PT_ARCH_ROBERTA);
  pt_ptv2_config cfg = ptv2_cfg(PT_TASK_SEQUENCE_CLASSIFICATION, false);
  pt_ptv2_model src, dst;
  ck_assert_int_eq(pt_ptv2_model_init(&src, &bc, &cfg, 1), PT_OK);
  write_config(tmpdir, &bc, NULL);
  write_checkpoint(tmpdir, &src, 0, "pooler");
  pt_warn_set_handler(count_warning, NULL);
  warnings = 0;
  ck_assert_msg(pt_ptv2_model_from_pretrained(&dst, tmpdir, &cfg, 5) == PT_OK, "%s",
                pt_error_message());
  pt_warn_reset_handler();
  ck_assert_int_eq(warnings, 2); /* no pooler + the unused MLM tensor */
  pt_ptv2_model_free(&src);
  pt_ptv2_model_free(&dst);
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
  pt_ptv2_config cfg = ptv2_cfg(PT_TASK_SEQUENCE_CLASSIFICATION, false);
  pt_ptv2_model other, dst;
  ck_assert_int_eq(pt_ptv2_model_init(&other, &small, &cfg, 1), PT_OK);
  write_config(tmpdir, &bc, NULL);
  write_checkpoint(tmpdir, &other, 0, NULL);
  ck_assert_int_eq(pt_ptv2_model_from_pretrained(&dst, tmpdir, &cfg, 1), PT_ERR_SHAPE);
  ck_assert(strstr(pt_error_message(), "intermediate.dense.weight") != NULL);
  pt_ptv2_model_free(&other);
}
END_TEST

static pt_tensor *ids_tensor(int64_t B, int64_t S, int64_t vocab, uint64_t seed) {
  pt_tensor *t = pt_empty(PT_I64, 2, PT_SHAPE(B, S));
  pt_rng rng;
  pt_rng_init(&rng, seed);
  for (int64_t i = 0; i < B * S; i++) pt_set(t, i, (double)(3 + pt_rng_below(&rng, (uint64_t)vocab - 3)));
  return t;
}

static pt_tensor *logits_of(const pt_ptv2_model *m, const pt_tensor *ids) {
  pt_ptv2_batch b = {ids, NULL, NULL, NULL, NULL, NULL};
  pt_ptv2_outputs out;
  pt_nn_mode eval = {false, NULL};
  ck_assert_msg(pt_ptv2_forward(m, &b, eval, false, &out) == PT_OK, "%s", pt_error_message());
  pt_tensor *l = pt_tensor_ref(out.logits);
  pt_ptv2_outputs_free(&out);
  return l;
}

static double max_diff(const pt_tensor *a, const pt_tensor *b) {
  double w = 0;
  for (int64_t i = 0; i < pt_numel(a); i++) w = fmax(w, fabs(pt_get(a, i) - pt_get(b, i)));
  return w;
}

START_TEST(adapters_round_trip_and_bake) {
  setup();
  pt_bert_config bc = tiny(PT_ARCH_BERT);
  pt_ptv2_config cfg = ptv2_cfg(PT_TASK_TOKEN_CLASSIFICATION, true);
  pt_ptv2_model m, back, baked;
  ck_assert_int_eq(pt_ptv2_model_init(&m, &bc, &cfg, 3), PT_OK);
  write_config(tmpdir, &bc, NULL);
  write_checkpoint(tmpdir, &m, 0, NULL);
  char adir[512], bdir[512];
  snprintf(adir, sizeof adir, "%s/adapter", tmpdir);
  snprintf(bdir, sizeof bdir, "%s/baked", tmpdir);
  const char *labels[] = {"O", "B-X", "I-X"};
  ck_assert_int_eq(pt_adapter_save(&m, adir, 3, labels), PT_OK);
  ck_assert_int_eq(pt_adapter_export_baked(&m, bdir, 3, labels), PT_OK);
  pt_tensor *ids = ids_tensor(2, 7, bc.vocab_size, 11);
  pt_tensor *want = logits_of(&m, ids);
  pt_adapter_config ac;
  pt_warn_set_handler(NULL, NULL);
  ck_assert_msg(pt_adapter_load_model(&back, tmpdir, adir, &ac) == PT_OK, "%s", pt_error_message());
  ck_assert_str_eq(ac.id2label[1], "B-X");
  ck_assert(ac.cfg.prefix_projection);
  pt_tensor *got = logits_of(&back, ids);
  ck_assert_int_eq(memcmp(pt_data(got), pt_data(want), (size_t)pt_numel(want) * 4), 0);
  pt_adapter_config bac;
  ck_assert_msg(pt_adapter_load_model(&baked, tmpdir, bdir, &bac) == PT_OK, "%s", pt_error_message());
  ck_assert(bac.baked && !bac.cfg.prefix_projection);
  ck_assert_int_lt(pt_params_numel(&baked.params, true), pt_params_numel(&m.params, true));
  pt_tensor *gb = logits_of(&baked, ids);
  ck_assert_double_lt(max_diff(gb, want), 1e-5);
  /* an adapter made for another encoder shape is refused */
  pt_bert_config wide = bc;
  wide.hidden_size = 32;
  write_config(tmpdir, &wide, NULL);
  pt_ptv2_model x;
  ck_assert_int_eq(pt_adapter_load_model(&x, tmpdir, adir, NULL), PT_ERR_FORMAT);
  ck_assert(strstr(pt_error_message(), "adapter made for bert H=16") != NULL);
  pt_warn_reset_handler();
  pt_tensor *f[] = {ids, want, got, gb};
  for (int i = 0; i < 4; i++) pt_tensor_free(f[i]);
  pt_adapter_config_free(&ac);
  pt_adapter_config_free(&bac);
  pt_ptv2_model_free(&m);
  pt_ptv2_model_free(&back);
  pt_ptv2_model_free(&baked);
}
END_TEST

START_TEST(methods_train_the_right_parameters) {
  pt_bert_config bc = tiny(PT_ARCH_ROBERTA);
  int64_t H = bc.hidden_size, L = bc.num_layers, P = 4, C = 3;
  const struct {
    pt_peft_method method;
    bool proj;
    int64_t trainable;
  } cases[] = {
      {PT_METHOD_PTV2, false, P * 2 * L * H + H * C + C},
      {PT_METHOD_PTV2, true, P * H + (H * 8 + 8) + (8 * 2 * L * H + 2 * L * H) + H * C + C},
      {PT_METHOD_PROMPT, false, P * H + H * C + C},
  };
  pt_tensor *ids = ids_tensor(2, 6, bc.vocab_size, 4);
  pt_tensor *labels = pt_zeros(PT_I64, 2, PT_SHAPE(2, 6));
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    pt_ptv2_config cfg = {cases[k].method, PT_TASK_TOKEN_CLASSIFICATION, P, cases[k].proj, 8, C};
    pt_ptv2_model m;
    ck_assert_int_eq(pt_ptv2_model_init(&m, &bc, &cfg, 2), PT_OK);
    ck_assert_int_eq(pt_params_numel(&m.params, true), cases[k].trainable);
    pt_ptv2_batch b = {ids, NULL, NULL, labels, NULL, NULL};
    pt_ptv2_outputs out;
    pt_nn_mode eval = {false, NULL};
    ck_assert_int_eq(pt_ptv2_forward(&m, &b, eval, false, &out), PT_OK);
    ck_assert_int_eq(out.logits->shape[1], 6); /* prompt positions are not labelled */
    ck_assert_int_eq(pt_backward(out.loss, NULL, false), PT_OK);
    for (int i = 0; i < m.params.count; i++) {
      pt_tensor *p = m.params.items[i];
      ck_assert_msg(pt_requires_grad(p) == (p->grad != NULL), "%s", p->name);
    }
    pt_ptv2_outputs_free(&out);
    pt_ptv2_model_free(&m);
  }
  pt_ptv2_config ft = {PT_METHOD_FINETUNE, PT_TASK_TOKEN_CLASSIFICATION, 0, false, 0, C};
  pt_ptv2_model m;
  ck_assert_int_eq(pt_ptv2_model_init(&m, &bc, &ft, 2), PT_OK);
  ck_assert_int_eq(pt_params_numel(&m.params, true), pt_params_numel(&m.params, false));
  pt_ptv2_model_free(&m);
  pt_tensor_free(ids);
  pt_tensor_free(labels);
}
END_TEST

/* --backbone-dtype bf16 at the library level: which tensors change, what
 * stays f32, what is refused, and the way back. */
START_TEST(bf16_backbone_converts_frozen_matrices_only) {
  pt_bert_config bc = tiny(PT_ARCH_BERT);
  pt_ptv2_config cfg = ptv2_cfg(PT_TASK_TOKEN_CLASSIFICATION, true);
  pt_ptv2_model m;
  ck_assert_int_eq(pt_ptv2_model_init(&m, &bc, &cfg, 5), PT_OK);
  pt_tensor *word = pt_params_find(&m.params, "bert.embeddings.word_embeddings.weight");
  pt_tensor *query = pt_params_find(&m.params, "bert.encoder.layer.1.attention.self.query.weight");
  pt_tensor *before = pt_raw_clone(query);
  ck_assert_int_eq(pt_ptv2_model_set_backbone_dtype(&m, PT_BF16), PT_OK);
  ck_assert_ptr_eq(query, m.bert.layers[1].query.weight); /* converted in place */
  for (int i = 0; i < m.params.count; i++) {
    pt_tensor *p = m.params.items[i];
    bool matrix = !strncmp(p->name, "bert.", 5) && p->ndim == 2;
    ck_assert_msg((p->dtype == PT_BF16) == matrix, "%s is %s", p->name, pt_dtype_name(p->dtype));
  }
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
  pt_ptv2_batch b = {ids, NULL, NULL, labels, NULL, NULL};
  pt_ptv2_outputs out;
  pt_nn_mode eval = {false, NULL};
  ck_assert_int_eq(pt_ptv2_forward(&m, &b, eval, false, &out), PT_OK);
  ck_assert_int_eq(pt_backward(out.loss, NULL, false), PT_OK);
  for (int i = 0; i < m.params.count; i++)
    ck_assert_msg((m.params.items[i]->grad != NULL) == pt_requires_grad(m.params.items[i]), "%s",
                  m.params.items[i]->name);
  pt_ptv2_outputs_free(&out);
  /* a bf16 matrix cannot be made trainable: refused by name */
  ck_assert_int_eq(pt_params_set_trainable(&m.params, "bert.encoder.layer.0.", true), PT_ERR_DTYPE);
  ck_assert_msg(strstr(pt_error_message(), "bert.encoder.layer.0.") &&
                    strstr(pt_error_message(), "not BF16"),
                "%s", pt_error_message());
  ck_assert_int_eq(pt_params_set_trainable(&m.params, "bert.", false), PT_OK);
  /* and back to f32: the bf16 values, widened */
  ck_assert_int_eq(pt_ptv2_model_set_backbone_dtype(&m, PT_F32), PT_OK);
  ck_assert_int_eq(query->dtype, PT_F32);
  ck_assert(pt_get(query, 3) == pt_bf16_to_f32(pt_f32_to_bf16((float)pt_get(before, 3))));
  pt_ptv2_model_free(&m);
  /* fine-tuning trains the encoder: refused with a reason */
  pt_ptv2_config ft = {PT_METHOD_FINETUNE, PT_TASK_TOKEN_CLASSIFICATION, 0, false, 0, 3};
  ck_assert_int_eq(pt_ptv2_model_init(&m, &bc, &ft, 2), PT_OK);
  ck_assert_int_eq(pt_ptv2_model_set_backbone_dtype(&m, PT_BF16), PT_ERR_ARG);
  ck_assert(strstr(pt_error_message(), "fine-tuning trains the encoder") != NULL);
  ck_assert_int_eq(pt_ptv2_model_set_backbone_dtype(&m, PT_F16), PT_ERR_DTYPE);
  pt_ptv2_model_free(&m);
  pt_tensor_free(before);
  pt_tensor_free(ids);
  pt_tensor_free(labels);
}
END_TEST

START_TEST(multiple_choice_scores_each_choice) {
  pt_bert_config bc = tiny(PT_ARCH_BERT);
  pt_ptv2_config cfg = {PT_METHOD_PTV2, PT_TASK_MULTIPLE_CHOICE, 4, false, 0, 0};
  pt_ptv2_model m;
  ck_assert_int_eq(pt_ptv2_model_init(&m, &bc, &cfg, 2), PT_OK);
  pt_tensor *flat = ids_tensor(6, 5, bc.vocab_size, 9);
  pt_tensor *ids = pt_raw_view(flat, 3, PT_SHAPE(3, 2, 5)); /* 3 questions x 2 choices */
  int64_t lab[3] = {0, 1, 1};
  pt_tensor *labels = pt_from_buffer(PT_I64, 1, PT_SHAPE(3), lab);
  pt_ptv2_batch b = {ids, NULL, NULL, labels, NULL, NULL};
  pt_ptv2_outputs out;
  pt_nn_mode eval = {false, NULL};
  ck_assert_msg(pt_ptv2_forward(&m, &b, eval, false, &out) == PT_OK, "%s", pt_error_message());
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
  pt_ptv2_outputs_free(&out);
  pt_tensor_free(flat);
  pt_tensor_free(ids);
  pt_tensor_free(labels);
  pt_ptv2_model_free(&m);
}
END_TEST

START_TEST(prefix_plus_sequence_must_fit_the_position_table) {
  pt_bert_config bc = tiny(PT_ARCH_BERT); /* max_position 40 */
  pt_ptv2_config cfg = ptv2_cfg(PT_TASK_SEQUENCE_CLASSIFICATION, false);
  pt_ptv2_model m;
  ck_assert_int_eq(pt_ptv2_model_init(&m, &bc, &cfg, 2), PT_OK);
  pt_tensor *ok = ids_tensor(1, 36, bc.vocab_size, 1), *bad = ids_tensor(1, 37, bc.vocab_size, 1);
  pt_tensor *l = logits_of(&m, ok);
  pt_tensor_free(l);
  pt_ptv2_batch b = {bad, NULL, NULL, NULL, NULL, NULL};
  pt_ptv2_outputs out;
  pt_nn_mode eval = {false, NULL};
  ck_assert_int_eq(pt_ptv2_forward(&m, &b, eval, false, &out), PT_ERR_ARG);
  ck_assert(strstr(pt_error_message(), "prefix 4 + sequence 37 exceeds max_position_embeddings 40") != NULL);
  pt_tensor_free(ok);
  pt_tensor_free(bad);
  pt_ptv2_model_free(&m);
}
END_TEST

/* model.safetensors.index.json naming two shards (each shard once). */
START_TEST(loads_sharded_checkpoints) {
  setup();
  char dir[512];
  snprintf(dir, sizeof dir, "%s/sharded", tmpdir);
  ck_assert_int_eq(pt_mkdirs(dir), PT_OK);
  pt_bert_config bc = tiny(PT_ARCH_BERT);
  pt_ptv2_config cfg = ptv2_cfg(PT_TASK_TOKEN_CLASSIFICATION, false);
  pt_ptv2_model src, dst;
  ck_assert_int_eq(pt_ptv2_model_init(&src, &bc, &cfg, 4), PT_OK);
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
  ck_assert_msg(pt_ptv2_model_from_pretrained(&dst, dir, &cfg, 77) == PT_OK, "%s", pt_error_message());
  ck_assert(same_encoder(&src, &dst));
  pt_ptv2_model_free(&dst);
  /* an index naming a file outside the directory is refused */
  const char *evil = "{\"weight_map\": {\"bert.x\": \"../model.safetensors\"}}";
  ck_assert_int_eq(pt_write_file_atomic(ipath, evil, strlen(evil)), PT_OK);
  ck_assert_int_eq(pt_ptv2_model_from_pretrained(&dst, dir, &cfg, 77), PT_ERR_FORMAT);
  ck_assert(strstr(pt_error_message(), "must name a file in the same directory") != NULL);
  pt_ptv2_model_free(&src);
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
