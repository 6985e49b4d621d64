/* The error record (tensor/pt_status.h): a failure's code and message are
 * always its own. An earlier, already handled failure never shows through a
 * later one; a user callback that returns NULL without recording anything
 * gets a message naming it; every pt_alloc failure on the way through a
 * training step is reported as out of memory and leaks nothing. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

#include "ptune.h"
#include "nn/pt_json.h"
#include "tensor/pt_file.h"
#include "models/pt_hf.h"
#include "models/pt_mlm.h"
#include "models/pt_model.h"
#include "models/pt_model_io.h"

/* The earlier, unrelated failures every case below runs after. */
#define STALE_DIR "/nonexistent-stale-marker"

static void fail_earlier_with_io(void) {
  pt_bert_config cfg;
  ck_assert_int_ne(pt_bert_config_load(STALE_DIR, &cfg), PT_OK);
  ck_assert_ptr_nonnull(strstr(pt_error_message(), STALE_DIR));
}

static void fail_earlier_with_shape(void) {
  ck_assert_ptr_null(pt_empty(PT_F32, 2, PT_SHAPE(-7, 3)));
  ck_assert_ptr_nonnull(strstr(pt_error_message(), "-7"));
}

/* The failure must be the new one: its code, a message, no trace of the old. */
static void assert_own_failure(pt_status st, pt_status want, const char *want_text,
                               const char *what) {
  ck_assert_msg(st != PT_OK, "%s: did not fail", what);
  ck_assert_msg(st == want, "%s: status %s, want %s (%s)", what, pt_status_name(st),
                pt_status_name(want), pt_error_message());
  ck_assert_msg(pt_error_code() == st, "%s: pt_error_code() is %s, the call returned %s", what,
                pt_status_name(pt_error_code()), pt_status_name(st));
  ck_assert_msg(!strstr(pt_error_message(), "stale-marker") && !strstr(pt_error_message(), "-7"),
                "%s: an older failure leaks into the message: %s", what, pt_error_message());
  ck_assert_msg(strstr(pt_error_message(), want_text), "%s: message '%s' lacks '%s'", what,
                pt_error_message(), want_text);
}

static pt_bert_config tiny_bert(void) {
  pt_bert_config c;
  pt_bert_config_default(&c, PT_ARCH_BERT);
  c.vocab_size = 30;
  c.hidden_size = 8;
  c.num_layers = 2;
  c.num_heads = 2;
  c.intermediate_size = 12;
  c.max_position = 24;
  return c;
}

static pt_tensor *token_ids(int64_t B, int64_t S) {
  pt_tensor *t = pt_empty(PT_I64, 2, PT_SHAPE(B, S));
  for (int64_t i = 0; t && i < B * S; i++) pt_set(t, i, (double)(3 + (i * 7) % 25));
  return t;
}

/* ---- the reproduction ---- */

static pt_tensor *silent_null_hook(void *ctx, pt_tensor *x, pt_tensor *y) {
  (void)x, (void)y, (void)ctx;
  return NULL;
}

static pt_tensor *reporting_null_hook(void *ctx, pt_tensor *x, pt_tensor *y) {
  (void)x, (void)y, (void)ctx;
  pt_error(PT_ERR_ARG, "my-method: rank 0 is not allowed");
  return NULL;
}

/* The options of method `me` from flag/value pairs (n entries, or fewer
 * ending with NULL) into *out (calloc'd: not one of pt_alloc's). */
static pt_status make_opts(const pt_method *me, const char *const *args, int n, void **out) {
  *out = calloc(1, me->opts_size + 1);
  if (!*out) return pt_error(PT_ERR_NOMEM, "out of memory");
  pt_status st = pt_options_init(me->options, *out);
  for (int i = 0; st == PT_OK && i < n && args[i]; i += 2)
    st = pt_option_set_text(pt_option_find_flag(me->options, args[i]), *out, args[i + 1]);
  return st;
}

static void free_opts(const pt_method *me, void *opts) {
  if (opts) pt_options_free(me->options, opts);
  free(opts);
}

/* An eval-mode forward of a tiny P-Tuning v2 classifier over `ids` (taken),
 * with `fn` (or none) hooked at `stage` on layer 1's value projection. */
static pt_status forward_tiny(pt_tensor *ids, pt_nn_hook_fn fn, pt_nn_hook_stage stage) {
  pt_bert_config bc = tiny_bert();
  const pt_method *me = pt_method_find("ptv2");
  const char *const args[] = {"pre-seq-len", "3"};
  void *opts;
  ck_assert_msg(make_opts(me, args, 2, &opts) == PT_OK, "%s", pt_error_message());
  pt_backbone bb;
  pt_model m;
  pt_model_config mc = {{PT_TASK_SEQUENCE_CLASSIFICATION, PT_HEAD_LINEAR, 2, NULL, -1}, 1, NULL,
                        NULL, false};
  ck_assert_msg(pt_backbone_init(&bb, &bc, pt_backbone_parts_for(mc.head.task, PT_HEAD_LINEAR), 1) ==
                    PT_OK, "%s", pt_error_message());
  ck_assert_msg(pt_model_new(&m, &bb, me, opts, &mc) == PT_OK, "%s", pt_error_message());
  free_opts(me, opts);
  pt_nn_linear_hook hook = {stage, fn, NULL, NULL, NULL};
  if (fn) pt_nn_linear_hook_add(&bb.bert.layers[1].value, &hook);
  pt_model_batch b = {ids, NULL, NULL, NULL, NULL, NULL};
  pt_model_outputs out;
  pt_nn_mode eval = {false, NULL};
  pt_status st = pt_model_forward(&m, &b, eval, false, &out);
  if (st == PT_OK) pt_model_outputs_free(&out);
  pt_nn_linear_hook_remove(&bb.bert.layers[1].value, &hook);
  pt_tensor_free(ids);
  pt_model_free(&m);
  pt_backbone_free(&bb);
  return st;
}

static pt_status forward_with_hook(pt_nn_hook_fn fn, pt_nn_hook_stage stage) {
  return forward_tiny(token_ids(2, 5), fn, stage);
}

START_TEST(a_silent_hook_is_named_not_an_older_file) {
  for (int stage = PT_NN_HOOK_INPUT; stage <= PT_NN_HOOK_OUTPUT; stage++) {
    const char *want = stage == PT_NN_HOOK_INPUT
                           ? "the input hook of linear layer bert.encoder.layer.1.attention.self.value"
                           : "the output hook of linear layer bert.encoder.layer.1.attention.self.value";
    fail_earlier_with_io();
    pt_status st = forward_with_hook(silent_null_hook, (pt_nn_hook_stage)stage);
    assert_own_failure(st, PT_ERR_STATE, want, "silent hook");
    /* and the same without any earlier failure */
    pt_error_clear();
    st = forward_with_hook(silent_null_hook, (pt_nn_hook_stage)stage);
    assert_own_failure(st, PT_ERR_STATE, want, "silent hook, clean record");
  }
}
END_TEST

START_TEST(a_hook_that_records_its_reason_keeps_it) {
  fail_earlier_with_io();
  pt_status st = forward_with_hook(reporting_null_hook, PT_NN_HOOK_OUTPUT);
  assert_own_failure(st, PT_ERR_ARG, "my-method: rank 0 is not allowed", "reporting hook");
}
END_TEST

/* ---- callbacks of the other extension points ---- */

static pt_tensor *silent_null_fn(pt_tensor *const *in, int n, void *ctx) {
  (void)in, (void)n, (void)ctx;
  return NULL;
}

static pt_status silent_backward(pt_node *node, const pt_tensor *g, pt_tensor **gin) {
  (void)node, (void)g, (void)gin;
  return PT_ERR_NUMERIC;
}

PT_OP_DEFINE(op_silent, "silent_test_op", silent_backward);

/* y = x through an op whose backward fails without a message. */
static pt_tensor *silent_op(pt_tensor *x) {
  pt_tensor *y = pt_raw_clone(x);
  pt_status st;
  pt_node *n = pt_node_new(&op_silent, 1, (pt_tensor *[]){x}, &st);
  return pt_node_finish(n, st, y);
}

/* ---- a walk over failing calls of every floor ---- */

typedef struct {
  const char *what;
  pt_status want;
  const char *want_text; /* a piece of the message the failure must carry */
  pt_status (*call)(void);
} failing_call;

static pt_status null_is(const void *p) { return p ? PT_OK : pt_error_code(); }

static pt_status empty_negative(void) { return null_is(pt_empty(PT_F32, 1, PT_SHAPE(-2))); }

static pt_status empty_too_large(void) {
  pt_tensor *t = pt_empty(PT_F32, 3, PT_SHAPE(INT64_C(1) << 40, INT64_C(1) << 40, 1 << 20));
  return null_is(t);
}

static pt_status alloc_too_large(void) { return null_is(pt_alloc(SIZE_MAX - 8)); }

static pt_status add_mismatch(void) {
  pt_tensor *a = pt_zeros(PT_F32, 2, PT_SHAPE(2, 3)), *b = pt_zeros(PT_F32, 2, PT_SHAPE(4, 5));
  pt_tensor *c = pt_add(a, b);
  pt_status st = null_is(c);
  pt_tensor_free(a), pt_tensor_free(b), pt_tensor_free(c);
  return st;
}

static pt_status matmul_vectors(void) {
  pt_tensor *a = pt_zeros(PT_F32, 1, PT_SHAPE(3));
  pt_tensor *c = pt_matmul(a, a);
  pt_status st = null_is(c);
  pt_tensor_free(a), pt_tensor_free(c);
  return st;
}

static pt_status softmax_of_ids(void) {
  pt_tensor *a = pt_zeros(PT_I64, 1, PT_SHAPE(3));
  pt_tensor *c = pt_softmax(a, -1);
  pt_status st = null_is(c);
  pt_tensor_free(a), pt_tensor_free(c);
  return st;
}

static pt_status embedding_out_of_range(void) {
  pt_tensor *w = pt_zeros(PT_F32, 2, PT_SHAPE(4, 2)), *ids = pt_full(PT_I64, 1, PT_SHAPE(2), 9);
  pt_tensor *c = pt_embedding(w, ids, -1);
  pt_status st = null_is(c);
  pt_tensor_free(w), pt_tensor_free(ids), pt_tensor_free(c);
  return st;
}

static pt_status backward_without_grad(void) {
  pt_tensor *a = pt_zeros(PT_F32, 0, NULL);
  pt_status st = pt_backward(a, NULL, false);
  pt_tensor_free(a);
  return st;
}

static pt_status backward_of_a_silent_op(void) {
  pt_tensor *x = pt_ones(PT_F64, 1, PT_SHAPE(3));
  pt_set_requires_grad(x, true);
  pt_tensor *y = silent_op(x);
  pt_tensor *s = pt_sum(y, 0, NULL, false);
  pt_status st = pt_backward(s, NULL, false);
  pt_tensor_free(s), pt_tensor_free(y), pt_tensor_free(x);
  return st;
}

static pt_status gradcheck_of_a_silent_fn(void) {
  pt_tensor *x = pt_ones(PT_F64, 1, PT_SHAPE(3));
  pt_set_requires_grad(x, true);
  pt_gradcheck_result r;
  pt_status st = pt_gradcheck(silent_null_fn, NULL, 1, &x, NULL, &r);
  pt_tensor_free(x);
  return st;
}

static pt_status json_malformed(void) {
  json_t *j = pt_json_load_buffer("{\"a\": ", 6, "inline.json");
  pt_status st = null_is(j);
  json_decref(j);
  return st;
}

static pt_status safetensors_missing(void) {
  pt_safetensors *f = NULL;
  pt_status st = pt_safetensors_open("/nonexistent-dir/model.safetensors", &f);
  pt_safetensors_close(f);
  return st;
}

static pt_status tokenizer_missing(void) {
  pt_tokenizer *t = pt_tokenizer_load("/nonexistent-tokenizer-dir");
  pt_status st = null_is(t);
  pt_tokenizer_free(t);
  return st;
}

static pt_status adamw_bad_lr(void) {
  pt_adamw_opts o = pt_adamw_defaults();
  o.lr = -1;
  pt_optim *opt = pt_adamw_new(&o);
  pt_status st = null_is(opt);
  pt_optim_free(opt);
  return st;
}

static pt_status forward_ids_past_vocab(void) {
  return forward_tiny(pt_full(PT_I64, 2, PT_SHAPE(1, 4), 77), NULL, PT_NN_HOOK_OUTPUT);
}

static const failing_call failing_calls[] = {
    {"pt_empty, negative size", PT_ERR_SHAPE, "negative size", empty_negative},
    {"pt_empty, too large", PT_ERR_NOMEM, "does not fit in memory", empty_too_large},
    {"pt_alloc, too large", PT_ERR_NOMEM, "bytes", alloc_too_large},
    {"pt_add, shapes", PT_ERR_SHAPE, "do not broadcast", add_mismatch},
    {"pt_matmul, 1-D", PT_ERR_SHAPE, "matmul", matmul_vectors},
    {"pt_softmax, I64", PT_ERR_DTYPE, "softmax", softmax_of_ids},
    {"pt_embedding, id range", PT_ERR_ARG, "embedding", embedding_out_of_range},
    {"pt_backward, no grad", PT_ERR_STATE, "does not require grad", backward_without_grad},
    {"pt_backward, silent op", PT_ERR_NUMERIC, "silent_test_op backward", backward_of_a_silent_op},
    {"pt_gradcheck, silent fn", PT_ERR_STATE, "gradcheck: the checked function",
     gradcheck_of_a_silent_fn},
    {"pt_json_load_buffer", PT_ERR_FORMAT, "inline.json", json_malformed},
    {"pt_safetensors_open", PT_ERR_IO, "/nonexistent-dir/model.safetensors", safetensors_missing},
    {"pt_tokenizer_load", PT_ERR_IO, "/nonexistent-tokenizer-dir", tokenizer_missing},
    {"pt_adamw_new, lr", PT_ERR_ARG, "lr", adamw_bad_lr},
    {"pt_model_forward, ids", PT_ERR_ARG, "embedding", forward_ids_past_vocab},
};

START_TEST(an_unrelated_earlier_failure_never_leaks) {
  int n = (int)(sizeof failing_calls / sizeof failing_calls[0]);
  for (int i = 0; i < n; i++) {
    const failing_call *c = &failing_calls[i];
    for (int earlier = 0; earlier < 3; earlier++) {
      if (earlier == 0) pt_error_clear();
      if (earlier == 1) fail_earlier_with_io();
      if (earlier == 2) fail_earlier_with_shape();
      int64_t live = pt_live_allocations();
      uint64_t serial = pt_error_serial();
      pt_status st = c->call();
      char what[160];
      snprintf(what, sizeof what, "%s after earlier failure %d", c->what, earlier);
      assert_own_failure(st, c->want, c->want_text, what);
      ck_assert_msg(pt_error_serial() != serial, "%s: recorded nothing", what);
      ck_assert_msg(pt_live_allocations() == live, "%s: leaked %lld blocks", what,
                    (long long)(pt_live_allocations() - live));
    }
  }
}
END_TEST

/* ---- every allocation failure of a training step ---- */

/* One training step on a tiny model, everything freed at the end whatever
 * happens: a method with its options on a backbone, forward with a loss
 * (mask given, token types where asked), backward, clip, AdamW over every
 * tensor that trains. *result: the loss plus the gradient norm. */
typedef struct {
  const char *method;
  const char *args[6]; /* flag, value, ... */
  pt_arch arch;
  pt_task_kind task;
  bool types;              /* token type ids given */
  bool keep_hidden_states;
} model_kind;

static const model_kind model_kinds[] = {
    {"lora", {"lora-bias", "all", "lora-dropout", "0.1"}, PT_ARCH_BERT, PT_TASK_TOKEN_CLASSIFICATION, false, false},
    {"ia3", {NULL}, PT_ARCH_ROBERTA, PT_TASK_MULTIPLE_CHOICE, false, false},
    {"p-tuning", {"encoder-type", "LSTM", "encoder-hidden-size", "4", "num-virtual-tokens", "2"},
     PT_ARCH_BERT, PT_TASK_SEQUENCE_CLASSIFICATION, false, false},
    {"ptv2", {"prefix-projection", "true", "prefix-layers", "top:1", "pre-seq-len", "2"},
     PT_ARCH_BERT, PT_TASK_QUESTION_ANSWERING, false, false},
    {"adapter", {"reduction-factor", "4"}, PT_ARCH_BERT, PT_TASK_SEQUENCE_CLASSIFICATION, false,
     false},
    {"ptv2", {"pre-seq-len", "3", "prefix-projection", "true", "prefix-hidden-size", "6"},
     PT_ARCH_BERT, PT_TASK_TOKEN_CLASSIFICATION, true, false},
    {"ptv2", {"pre-seq-len", "3"}, PT_ARCH_ROBERTA, PT_TASK_SEQUENCE_CLASSIFICATION, true, true},
    {"prompt", {"num-virtual-tokens", "3"}, PT_ARCH_BERT, PT_TASK_QUESTION_ANSWERING, true, false},
    {"finetune", {NULL}, PT_ARCH_BERT, PT_TASK_MULTIPLE_CHOICE, true, false},
};

static pt_status model_step(const model_kind *k, double *result) {
  pt_bert_config bc = tiny_bert();
  bc.arch = k->arch;
  if (k->arch == PT_ARCH_ROBERTA) bc.pad_token_id = 1, bc.max_position = 30, bc.type_vocab_size = 1;
  const pt_method *me = pt_method_find(k->method);
  void *opts;
  pt_status st = make_opts(me, k->args, 6, &opts);
  pt_backbone bb = {0};
  pt_model m = {0};
  if (st == PT_OK) st = pt_backbone_init(&bb, &bc, pt_backbone_parts_for(k->task, PT_HEAD_LINEAR), 7);
  pt_model_config mc = {{k->task, PT_HEAD_LINEAR, 3, NULL, -1}, 7, NULL, NULL, false};
  if (st == PT_OK) st = pt_model_new(&m, &bb, me, opts, &mc);
  bool mc_task = k->task == PT_TASK_MULTIPLE_CHOICE, qa = k->task == PT_TASK_QUESTION_ANSWERING;
  pt_tensor *ids2 = token_ids(4, 6);
  pt_tensor *ids = mc_task && ids2 ? pt_raw_view(ids2, 3, PT_SHAPE(2, 2, 6)) : pt_tensor_ref(ids2);
  pt_tensor *mask = ids ? pt_ones(PT_I64, ids->ndim, ids->shape) : NULL;
  if (mask) pt_set(mask, 5, 0);
  pt_tensor *types = ids && k->types ? pt_zeros(PT_I64, ids->ndim, ids->shape) : NULL;
  int64_t B = mc_task ? 2 : 4;
  pt_tensor *labels = k->task == PT_TASK_TOKEN_CLASSIFICATION ? pt_full(PT_I64, 2, PT_SHAPE(4, 6), 1)
                                                             : pt_full(PT_I64, 1, PT_SHAPE(B), 1);
  pt_tensor *ends = pt_full(PT_I64, 1, PT_SHAPE(4), 3);
  pt_optim *opt = pt_adamw_new(&(pt_adamw_opts){.lr = 1e-2, .beta1 = 0.9, .beta2 = 0.999,
                                                .eps = 1e-8, .weight_decay = 0.01});
  if (st == PT_OK && (!ids2 || !ids || !mask || (k->types && !types) || !labels || !ends || !opt))
    st = pt_error_code();
  for (int i = 0; st == PT_OK && i < pt_model_ntrainable(&m); i++)
    st = pt_optim_add_param(opt, pt_model_trainable(&m, i), NULL, true);
  pt_rng rng;
  pt_rng_init(&rng, 3);
  pt_model_batch b = {ids, mask, types, qa ? NULL : labels, qa ? labels : NULL, qa ? ends : NULL};
  pt_model_outputs out;
  double norm = 0;
  if (st == PT_OK)
    st = pt_model_forward(&m, &b, (pt_nn_mode){true, &rng}, k->keep_hidden_states, &out);
  if (st == PT_OK) {
    *result = pt_get(out.loss, 0);
    st = pt_backward(out.loss, NULL, false);
    pt_model_outputs_free(&out);
  }
  if (st == PT_OK) st = pt_optim_clip_grad_norm(opt, 1.0, &norm);
  if (st == PT_OK) st = pt_optim_step(opt);
  *result += norm;
  pt_optim_free(opt);
  pt_tensor *own[] = {ids2, ids, mask, types, labels, ends};
  for (int i = 0; i < 6; i++) pt_tensor_free(own[i]);
  pt_model_free(&m);
  pt_backbone_free(&bb);
  free_opts(me, opts);
  return st;
}

static pt_status lora_step(double *r) { return model_step(&model_kinds[0], r); }
static pt_status ia3_mc_step(double *r) { return model_step(&model_kinds[1], r); }
static pt_status ptuning_lstm_step(double *r) { return model_step(&model_kinds[2], r); }
static pt_status ptv2_depth_qa_step(double *r) { return model_step(&model_kinds[3], r); }
static pt_status adapter_step(double *r) { return model_step(&model_kinds[4], r); }
static pt_status ptv2_token_step(double *r) { return model_step(&model_kinds[5], r); }
static pt_status roberta_cls_step(double *r) { return model_step(&model_kinds[6], r); }
static pt_status prompt_qa_step(double *r) { return model_step(&model_kinds[7], r); }
static pt_status finetune_mc_step(double *r) { return model_step(&model_kinds[8], r); }

/* ---- files: every failure leaves no half-written file behind ---- */

static char tmpdir[256], base_dir[300], out_dir[300], adapter_dir[300];

static void make_dirs(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/pt_errors_%ld", (long)getpid());
  snprintf(base_dir, sizeof base_dir, "%s/base", tmpdir);
  snprintf(out_dir, sizeof out_dir, "%s/out", tmpdir);
  snprintf(adapter_dir, sizeof adapter_dir, "%s/adapter", tmpdir);
  ck_assert_int_eq(pt_mkdirs(base_dir), PT_OK);
  pt_mlm_model m;
  pt_bert_config bc = tiny_bert();
  ck_assert_int_eq(pt_mlm_init(&m, &bc, 5), PT_OK);
  ck_assert_msg(pt_mlm_save_pretrained(&m, base_dir, NULL, 5, PT_F16) == PT_OK, "%s",
                pt_error_message());
  pt_mlm_free(&m);
}

static void remove_dirs(void) {
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  ck_assert_int_eq(system(cmd), 0);
}

/* No "<file>.tmp.<pid>" may survive a failure. */
static bool temp_files_left(void) {
  char cmd[400];
  snprintf(cmd, sizeof cmd, "find '%s' -name '*.tmp.*' | grep -q .", tmpdir);
  return system(cmd) == 0;
}

/* Load the MLM model, one masked-LM step, save it; load a P-Tuning v2 model
 * from the same directory, save its adapter and load it back. */
static pt_status files_round_trip(double *r) {
  pt_mlm_model m;
  pt_status st = pt_mlm_from_pretrained(&m, base_dir);
  if (st != PT_OK) return st;
  pt_tensor *ids = token_ids(2, 6);
  pt_tensor *labels = ids ? pt_full(PT_I64, 2, PT_SHAPE(2, 6), -100) : NULL;
  if (labels) pt_set(labels, 2, 7), pt_set(labels, 9, 4);
  pt_mlm_outputs out = {0};
  pt_nn_mode eval = {false, NULL};
  st = ids && labels ? pt_mlm_forward(&m, ids, NULL, labels, eval, false, &out) : pt_error_code();
  if (st == PT_OK) {
    *r = pt_get(out.loss, 0);
    st = pt_backward(out.loss, NULL, false);
  }
  pt_mlm_outputs_free(&out);
  pt_tensor_free(ids);
  pt_tensor_free(labels);
  if (st == PT_OK) st = pt_mlm_save_pretrained(&m, out_dir, NULL, 5, PT_F32);
  pt_mlm_free(&m);
  if (st != PT_OK) return st;
  const pt_method *me = pt_method_find("ptv2");
  const char *const args[] = {"pre-seq-len", "2", "prefix-projection", "true",
                              "prefix-hidden-size", "4"};
  void *opts;
  st = make_opts(me, args, 6, &opts);
  pt_backbone bb = {0};
  pt_model a = {0}, b = {0};
  pt_model_config mc = {{PT_TASK_TOKEN_CLASSIFICATION, PT_HEAD_LINEAR, 3, NULL, -1}, 9, NULL, NULL,
                        false};
  if (st == PT_OK)
    st = pt_backbone_load(&bb, out_dir, pt_backbone_parts_for(mc.head.task, PT_HEAD_LINEAR), false,
                          -1, 9);
  if (st == PT_OK) st = pt_model_new(&a, &bb, me, opts, &mc);
  free_opts(me, opts);
  if (st == PT_OK) st = pt_model_save(&a, adapter_dir, PT_LAYOUT_PTUNE, 3, NULL, NULL);
  pt_model_free(&a);
  pt_adapter_info info = {0};
  if (st == PT_OK) st = pt_adapter_info_read(adapter_dir, out_dir, &info);
  if (st == PT_OK) st = pt_model_load(&b, &bb, adapter_dir, &info, 1);
  if (st == PT_OK) *r += pt_get(pt_model_trainable_find(&b, "prefix_encoder.trans.2.weight"), 3);
  pt_model_free(&b);
  pt_adapter_info_free(&info);
  if (bb.params.count) pt_backbone_free(&bb);
  return st;
}

/* A LoRA model on the MLM directory: its adapter in both layouts, read
 * back in peft's, and merged into a Hugging Face directory. */
static pt_status model_files_round_trip(double *r) {
  pt_backbone bb;
  pt_status st = pt_backbone_load(&bb, base_dir, (pt_backbone_parts){false, false}, false, -1, 3);
  if (st != PT_OK) return st;
  pt_model a = {0}, b = {0};
  pt_model_config mc = {{PT_TASK_TOKEN_CLASSIFICATION, PT_HEAD_LINEAR, 3, NULL, -1}, 9, NULL, NULL, false};
  st = pt_model_new(&a, &bb, pt_method_find("lora"), NULL, &mc);
  if (st == PT_OK) st = pt_model_save(&a, adapter_dir, PT_LAYOUT_BOTH, 3, NULL, base_dir);
  char peft[400];
  snprintf(peft, sizeof peft, "%s/peft", adapter_dir);
  pt_adapter_info info = {0};
  if (st == PT_OK) st = pt_adapter_info_read(peft, base_dir, &info);
  pt_model_free(&a);
  if (st == PT_OK) st = pt_model_load(&b, &bb, peft, &info, 1);
  if (st == PT_OK) {
    *r = pt_get(pt_model_trainable(&b, 0), 3);
    st = pt_model_save_merged(&b, base_dir, out_dir, 3, NULL);
  }
  pt_model_free(&b);
  pt_adapter_info_free(&info);
  pt_backbone_free(&bb);
  return st;
}

/* Every variant of every registered op case: its inputs (built once, in
 * op_inputs_make, outside the failures), then forward with grad on and
 * backward of a weighted sum; the result is the sum of all outputs and
 * input gradients. */
#define MAX_OP_RUNS 512
static pt_tensor *op_inputs[MAX_OP_RUNS][PT_CASE_MAX_INPUTS];
static int op_ninputs[MAX_OP_RUNS];

static void op_inputs_make(void) {
  int ncases, k = 0;
  const pt_op_case *cases = pt_op_cases(&ncases);
  for (int c = 0; c < ncases; c++)
    for (int v = 0; v < cases[c].nvariants; v++, k++) {
      ck_assert_int_lt(k, MAX_OP_RUNS);
      pt_rng rng;
      pt_rng_init(&rng, (uint64_t)k);
      op_ninputs[k] = cases[c].make_inputs(&rng, v, op_inputs[k]);
      ck_assert_msg(op_ninputs[k] >= 0, "%s: %s", cases[c].name, pt_error_message());
    }
}

static void op_inputs_free(void) {
  for (int k = 0; k < MAX_OP_RUNS; k++)
    for (int i = 0; i < PT_CASE_MAX_INPUTS; i++) {
      pt_tensor_free(op_inputs[k][i]);
      op_inputs[k][i] = NULL;
    }
}

static pt_status every_op_forward_backward(double *r) {
  int ncases, k = 0;
  const pt_op_case *cases = pt_op_cases(&ncases);
  pt_status st = PT_OK;
  for (int c = 0; c < ncases && st == PT_OK; c++)
    for (int v = 0; v < cases[c].nvariants && st == PT_OK; v++, k++) {
      pt_tensor **in = op_inputs[k];
      int n = op_ninputs[k];
      for (int i = 0; i < n; i++)
        if (in[i]) pt_zero_grad(in[i]);
      pt_tensor *y = cases[c].fn(in, n, &v);
      pt_tensor *w = y ? pt_full(y->dtype, y->ndim, y->shape, 0.75) : NULL;
      if (!w) st = pt_error_code();
      for (int64_t e = 0; w && e < pt_numel(y); e++) *r += pt_get(y, e);
      if (st == PT_OK && pt_requires_grad(y)) st = pt_backward(y, w, false);
      for (int i = 0; i < n; i++)
        for (int64_t e = 0; st == PT_OK && in[i] && in[i]->grad && e < pt_numel(in[i]); e++)
          *r += pt_get(in[i]->grad, e);
      pt_tensor_free(w);
      pt_tensor_free(y);
    }
  for (int i = 0; i < k; i++) /* no gradient outlives the run */
    for (int j = 0; j < op_ninputs[i]; j++)
      if (op_inputs[i][j]) pt_zero_grad(op_inputs[i][j]);
  return st;
}

typedef struct {
  const char *name;
  pt_status (*run)(double *result);
  void (*setup)(void), (*teardown)(void); /* outside the failures; may be NULL */
  bool writes_files; /* check for temporary files left behind */
} workload;

static const workload workloads[] = {
    {"ptv2 + MLP, token classification", ptv2_token_step, NULL, NULL, false},
    {"roberta ptv2, sequence classification, hidden states", roberta_cls_step, NULL, NULL, false},
    {"prompt tuning, question answering", prompt_qa_step, NULL, NULL, false},
    {"fine-tuning, multiple choice", finetune_mc_step, NULL, NULL, false},
    {"MLM step and checkpoint / adapter files", files_round_trip, NULL, NULL, true},
    {"lora (bias all, dropout), token classification", lora_step, NULL, NULL, false},
    {"ia3, roberta multiple choice", ia3_mc_step, NULL, NULL, false},
    {"p-tuning with an LSTM, sequence classification", ptuning_lstm_step, NULL, NULL, false},
    {"ptv2 top layer + MLP, question answering", ptv2_depth_qa_step, NULL, NULL, false},
    {"houlsby adapters, sequence classification", adapter_step, NULL, NULL, false},
    {"lora adapter files in both layouts, merged directory", model_files_round_trip, NULL, NULL, true},
    {"every op case, forward and backward", every_op_forward_backward, op_inputs_make,
     op_inputs_free, false},
};

START_TEST(every_allocation_failure_is_reported) {
  const workload *w = &workloads[_i];
  make_dirs();
  if (w->setup) w->setup();
  int64_t live = pt_live_allocations();
  int64_t before = pt_alloc_calls();
  double clean = 0;
  ck_assert_msg(w->run(&clean) == PT_OK, "%s: %s", w->name, pt_error_message());
  int64_t calls = pt_alloc_calls() - before;
  ck_assert_int_eq(pt_live_allocations(), live);
  ck_assert_int_gt(calls, 100);
  int64_t failed = 0;
  for (int64_t k = 1; k <= calls; k++) {
    fail_earlier_with_io();
    pt_alloc_fail_at(k);
    double got = 0;
    pt_status st = w->run(&got);
    pt_alloc_fail_at(0);
    char what[160];
    snprintf(what, sizeof what, "%s, allocation %lld of %lld", w->name, (long long)k,
             (long long)calls);
    if (st != PT_OK) {
      failed++;
      assert_own_failure(st, PT_ERR_NOMEM, "out of memory", what);
    } else { /* a failure the code could work around must not change the result */
      ck_assert_msg(got == clean, "%s: survived with %.9g instead of %.9g", what, got, clean);
    }
    ck_assert_msg(pt_live_allocations() == live, "%s: %lld blocks leaked", what,
                  (long long)(pt_live_allocations() - live));
    ck_assert_msg(!w->writes_files || !temp_files_left(), "%s: a temporary file was left behind", what);
  }
  /* Only freeing a deep graph may work around a failure (by recursion when
   * its stack cannot grow): almost every failure must surface. */
  ck_assert_msg(failed >= calls - calls / 20, "%s: only %lld of %lld allocation failures surfaced",
                w->name, (long long)failed, (long long)calls);
  if (w->teardown) w->teardown();
  remove_dirs();
}
END_TEST

int main(void) {
  pt_warn_set_handler(NULL, NULL); /* the checkpoints' unused tensors, thousands of times */
  Suite *s = suite_create("errors");
  TCase *tc = tcase_create("record");
  tcase_add_test(tc, a_silent_hook_is_named_not_an_older_file);
  tcase_add_test(tc, a_hook_that_records_its_reason_keeps_it);
  tcase_add_test(tc, an_unrelated_earlier_failure_never_leaks);
  tcase_add_loop_test(tc, every_allocation_failure_is_reported, 0,
                      (int)(sizeof workloads / sizeof workloads[0]));
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
