/* Parity of every PEFT method with a plain-PyTorch reference written from
 * peft's code (tests/fixtures/methods: make_fixtures.py and peft_ref.py),
 * through the model API (models/pt_model.h), and of the 15 P-Tuning v2 /
 * prompt / fine-tuning cases of tests/fixtures/ptv2 run through the same
 * API. For each case: forward (last hidden state, logits, loss), the
 * gradient of every tensor that trains (and that exactly those train), one
 * SGD step and three AdamW steps; for lora and ia3 merging into the
 * backbone's weights. The ptv2 cases also hold every hidden state, the
 * position ids, the pooled output, the prefix encoder's output and the
 * gradient of every tensor with nothing frozen (full fine-tuning); those are
 * checked too, and adapters as ptune's first release wrote them
 * (tests/fixtures/legacy_adapters) are read. Tolerance 1e-5; the worst
 * difference of each case is printed. */
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
#include "parity_util.h"

typedef struct {
  const char *dir; /* fixtures subdirectory */
  const char *name;
} case_ref;

static const case_ref cases[] = {
    {"methods", "ptv2_depth_bert_tokcls"},
    {"methods", "ptv2_depth_roberta_seqcls_proj"},
    {"methods", "ptv2_bert_qa_peft"},
    {"methods", "prefix_bert_seqcls_proj"},
    {"methods", "prefix_roberta_qa"},
    {"methods", "prompt_bert_mc"},
    {"methods", "prompt_roberta_tokcls"},
    {"methods", "ptuning_mlp_bert_seqcls"},
    {"methods", "ptuning_lstm_roberta_tokcls"},
    {"methods", "lora_bert_seqcls"},
    {"methods", "lora_roberta_tokcls_all_rslora"},
    {"methods", "lora_bert_qa_lora_only"},
    {"methods", "ia3_bert_seqcls"},
    {"methods", "ia3_roberta_mc"},
    {"methods", "bitfit_bert_tokcls"},
    {"methods", "bitfit_roberta_seqcls"},
    {"methods", "adapter_houlsby_bert_seqcls"},
    {"methods", "adapter_pfeiffer_roberta_tokcls"},
    {"methods", "ptv2_verbalizer_bert_seqcls"},
    /* THUDM's P-Tuning v2 and the first prompt / fine-tuning cases */
    {"ptv2", "bert_seqcls_p4_proj"},
    {"ptv2", "bert_seqcls_p8_noproj"},
    {"ptv2", "bert_tokcls_p8_noproj"},
    {"ptv2", "bert_qa_p4_proj"},
    {"ptv2", "roberta_seqcls_p8_proj"},
    {"ptv2", "roberta_tokcls_p4_proj"},
    {"ptv2", "roberta_tokcls_p8_noproj"},
    {"ptv2", "roberta_qa_p8_noproj"},
    {"ptv2", "bert_mc_p4_proj"},
    {"ptv2", "roberta_mc_p8_noproj"},
    {"ptv2", "bert_prompt_tokcls_p4"},
    {"ptv2", "roberta_prompt_seqcls_p4"},
    {"ptv2", "bert_prompt_qa_p4"},
    {"ptv2", "bert_finetune_seqcls"},
    {"ptv2", "roberta_finetune_tokcls"},
};
enum { NCASES = sizeof cases / sizeof cases[0] };

typedef struct {
  char dir[4096];
  bool legacy; /* a tests/fixtures/ptv2 case */
  const pt_method *method;
  void *opts;
  pt_model_config mc;
  int64_t words[16];
  pt_backbone bb;
  pt_model m;
  pt_safetensors *inputs, *outputs;
  pt_tensor *ids, *mask, *types, *labels, *starts, *ends;
  parity_tally tally;
} fixture;

/* The ptv2 fixtures name the prompt "prefix_encoder.weight"; the prompt
 * method (as peft) "prompt_encoder.embedding.weight". */
static bool legacy_names(const char *file_name, char *out, size_t cap, void *ctx) {
  (void)ctx;
  snprintf(out, cap, "%s", strcmp(file_name, "prefix_encoder.weight") ? file_name
                                                                       : "prompt_encoder.embedding.weight");
  return true;
}

static void file_in(char *out, size_t cap, const fixture *f, const char *file) {
  snprintf(out, cap, "%s/%s", f->dir, file);
}

/* method, options, task and head: method.json, or config.json's
 * THUDM keys for the ptv2 cases */
static void read_spec(fixture *f) {
  char p[4200];
  file_in(p, sizeof p, f, f->legacy ? "config.json" : "method.json");
  json_t *j = pt_json_load_object(p);
  ck_assert_msg(j != NULL, "%s", pt_error_message());
  const char *method, *task, *head = "linear";
  ck_assert_int_eq(pt_json_string(j, p, "method", &method), PT_OK);
  f->method = pt_method_find(method);
  ck_assert_msg(f->method != NULL, "%s", pt_error_message());
  f->opts = calloc(1, f->method->opts_size + 1);
  ck_assert_int_eq(pt_options_init(f->method->options, f->opts), PT_OK);
  ck_assert_msg(pt_options_from_json(f->method->options, f->opts, j, p) == PT_OK, "%s",
                pt_error_message());
  if (f->legacy && !strcmp(method, "prompt")) {
    int64_t P;
    ck_assert_int_eq(pt_json_int(j, p, "pre_seq_len", &P), PT_OK);
    char text[32];
    snprintf(text, sizeof text, "%lld", (long long)P);
    ck_assert_int_eq(pt_option_set_text(pt_option_find_flag(f->method->options, "num-virtual-tokens"),
                                        f->opts, text),
                     PT_OK);
  }
  ck_assert_int_eq(pt_json_string(j, p, "task", &task), PT_OK);
  ck_assert_int_eq(pt_task_parse(task, &f->mc.head.task), PT_OK);
  ck_assert_int_eq(pt_json_string_or(j, p, "head", "linear", &head), PT_OK);
  ck_assert_int_eq(pt_head_kind_parse(head, &f->mc.head.kind), PT_OK);
  f->mc.head.num_labels = (int64_t)json_object_size(json_object_get(j, "id2label"));
  f->mc.head.mask_token_id = -1;
  if (f->mc.head.kind == PT_HEAD_VERBALIZER) {
    json_t *w = json_object_get(j, "label_words");
    for (int64_t i = 0; i < f->mc.head.num_labels; i++) {
      char key[24];
      snprintf(key, sizeof key, "%lld", (long long)i);
      f->words[i] = json_integer_value(json_object_get(w, key));
    }
    f->mc.head.label_words = f->words;
    ck_assert_int_eq(pt_json_int(j, p, "mask_token_id", &f->mc.head.mask_token_id), PT_OK);
  }
  f->mc.seed = 1;
  json_decref(j);
}

static void load_all(pt_params *ps, const char *path, pt_name_map map, bool *filled) {
  ck_assert_msg(pt_params_load_safetensors(ps, path, map, NULL, filled, NULL) == PT_OK, "%s",
                pt_error_message());
}

static void open_case(fixture *f, int i) {
  memset(f, 0, sizeof *f);
  const char *root = getenv("PT_FIXTURES");
  ck_assert_msg(root != NULL, "PT_FIXTURES is not set");
  snprintf(f->dir, sizeof f->dir, "%s/%s/%s", root, cases[i].dir, cases[i].name);
  f->legacy = !strcmp(cases[i].dir, "ptv2");
  f->tally.what = cases[i].name;
  read_spec(f);
  pt_bert_config bc;
  ck_assert_msg(pt_bert_config_load(f->dir, &bc) == PT_OK, "%s", pt_error_message());
  ck_assert_int_eq(pt_backbone_init(&f->bb, &bc, pt_backbone_parts_for(f->mc.head.task, f->mc.head.kind), 1),
                   PT_OK);
  ck_assert_msg(pt_model_new(&f->m, &f->bb, f->method, f->opts, &f->mc) == PT_OK, "%s: %s",
                cases[i].name, pt_error_message());
  /* every tensor from the fixture's files */
  char p[4200];
  bool *bb_filled = calloc((size_t)f->bb.params.count + 1, 1);
  bool *head_filled = calloc((size_t)f->m.head.params.count + 1, 1);
  bool *method_filled = calloc((size_t)f->m.params.count + 1, 1);
  file_in(p, sizeof p, f, "model.safetensors");
  load_all(&f->bb.params, p, NULL, bb_filled);
  load_all(&f->m.head.params, p, NULL, head_filled);
  file_in(p, sizeof p, f, f->legacy ? "prefix.safetensors" : "method.safetensors");
  if (f->m.params.count) load_all(&f->m.params, p, legacy_names, method_filled);
  const pt_params *lists[3] = {&f->bb.params, &f->m.head.params, &f->m.params};
  bool *filled[3] = {bb_filled, head_filled, method_filled};
  for (int l = 0; l < 3; l++) {
    for (int k = 0; k < lists[l]->count; k++)
      ck_assert_msg(filled[l][k], "%s: %s is not in the fixture", cases[i].name,
                    lists[l]->items[k]->name);
    free(filled[l]);
  }
  file_in(p, sizeof p, f, "inputs.safetensors");
  ck_assert_int_eq(pt_safetensors_open(p, &f->inputs), PT_OK);
  file_in(p, sizeof p, f, "outputs.safetensors");
  ck_assert_int_eq(pt_safetensors_open(p, &f->outputs), PT_OK);
  f->ids = pt_safetensors_load(f->inputs, "input_ids", PT_I64);
  f->mask = pt_safetensors_load(f->inputs, "attention_mask", PT_I64);
  f->types = pt_safetensors_load(f->inputs, "token_type_ids", PT_I64);
  if (pt_safetensors_find(f->inputs, "labels") >= 0)
    f->labels = pt_safetensors_load(f->inputs, "labels", PT_I64);
  if (pt_safetensors_find(f->inputs, "start_positions") >= 0) {
    f->starts = pt_safetensors_load(f->inputs, "start_positions", PT_I64);
    f->ends = pt_safetensors_load(f->inputs, "end_positions", PT_I64);
  }
}

static void close_case(fixture *f) {
  pt_tensor *t[] = {f->ids, f->mask, f->types, f->labels, f->starts, f->ends};
  for (int i = 0; i < 6; i++) pt_tensor_free(t[i]);
  pt_safetensors_close(f->inputs);
  pt_safetensors_close(f->outputs);
  pt_model_free(&f->m);
  pt_backbone_free(&f->bb);
  pt_options_free(f->method->options, f->opts);
  free(f->opts);
}

/* keep: every layer's hidden states too */
static pt_tensor *forward_kept(fixture *f, pt_model_outputs *out, bool keep) {
  pt_model_batch b = {f->ids, f->mask, f->types, f->labels, f->starts, f->ends};
  pt_nn_mode eval = {false, NULL};
  ck_assert_msg(pt_model_forward(&f->m, &b, eval, keep, out) == PT_OK, "%s: %s", f->tally.what,
                pt_error_message());
  return out->loss;
}

static pt_tensor *forward_loss(fixture *f, pt_model_outputs *out) {
  return forward_kept(f, out, false);
}

static void check_outputs(fixture *f, pt_model_outputs *out) {
  parity_expect(&f->tally, f->outputs, "last_hidden_state", out->encoder.last_hidden);
  parity_expect(&f->tally, f->outputs, "logits", out->logits);
  if (out->start_logits) {
    parity_expect(&f->tally, f->outputs, "start_logits", out->start_logits);
    parity_expect(&f->tally, f->outputs, "end_logits", out->end_logits);
  }
  parity_expect(&f->tally, f->outputs, "loss", out->loss);
}

/* The index in cases[] of the tests/fixtures/ptv2 case `name`. */
static int ptv2_case(const char *name) {
  for (int k = 0; k < NCASES; k++)
    if (!strcmp(cases[k].dir, "ptv2") && !strcmp(cases[k].name, name)) return k;
  ck_abort_msg("no ptv2 case %s", name);
  return -1;
}

/* The fixture's name of a trainable tensor. */
static const char *fixture_name(const fixture *f, const pt_tensor *t) {
  return f->legacy && !strcmp(t->name, "prompt_encoder.embedding.weight") ? "prefix_encoder.weight"
                                                                          : t->name;
}

/* What the ptv2 cases hold beyond the methods' cases: every hidden state,
 * the position ids, the pooled output and the prefix encoder's output
 * prefix_raw [B, P, 2·L·H] (the method's table, the same for every row in
 * evaluation); prompt and fine-tuning cases have no prefix_raw. */
static void check_legacy_outputs(fixture *f, pt_model_outputs *out) {
  char name[64];
  ck_assert_int_gt(out->encoder.n_hidden_states, 1);
  for (int l = 0; l < out->encoder.n_hidden_states; l++) {
    snprintf(name, sizeof name, "hidden_states.%d", l);
    parity_expect(&f->tally, f->outputs, name, out->encoder.hidden_states[l]);
  }
  snprintf(name, sizeof name, "hidden_states.%d", out->encoder.n_hidden_states);
  ck_assert_msg(pt_safetensors_find(f->outputs, name) < 0, "%s: more hidden states than %d",
                f->tally.what, out->encoder.n_hidden_states);
  parity_expect(&f->tally, f->outputs, "position_ids", out->encoder.position_ids);
  if (out->encoder.pooled) parity_expect(&f->tally, f->outputs, "pooled_output", out->encoder.pooled);
  if (strcmp(f->method->name, "ptv2")) {
    ck_assert_int_lt(pt_safetensors_find(f->outputs, "prefix_raw"), 0);
    return;
  }
  pt_tensor *table = f->method->table(&f->m);
  ck_assert_msg(table != NULL, "%s", pt_error_message());
  int64_t rows = out->encoder.last_hidden->shape[0];
  pt_tensor *u = pt_unsqueeze(table, 0);
  pt_tensor *x = pt_expand(u, 3, PT_SHAPE(rows, table->shape[0], table->shape[1]));
  pt_tensor *raw = pt_raw_contiguous(x);
  parity_expect(&f->tally, f->outputs, "prefix_raw", raw);
  pt_tensor *t[] = {table, u, x, raw};
  for (int i = 0; i < 4; i++) pt_tensor_free(t[i]);
}

START_TEST(forward_and_gradients_match) {
  fixture f;
  open_case(&f, _i);
  pt_model_outputs out;
  pt_tensor *loss = forward_kept(&f, &out, f.legacy);
  check_outputs(&f, &out);
  if (f.legacy) check_legacy_outputs(&f, &out);
  ck_assert_int_eq(pt_backward(loss, NULL, false), PT_OK);
  int n = pt_model_ntrainable(&f.m);
  char name[400];
  for (int i = 0; i < n; i++) {
    pt_tensor *t = pt_model_trainable(&f.m, i);
    snprintf(name, sizeof name, "grad.%s", fixture_name(&f, t));
    parity_expect(&f.tally, f.outputs, name, t->grad);
  }
  /* exactly the reference's tensors train */
  int ngrad = 0;
  for (int k = 0; k < pt_safetensors_count(f.outputs); k++)
    ngrad += !strncmp(pt_safetensors_name(f.outputs, k), "grad.", 5);
  ck_assert_msg(ngrad == n, "%s: %d tensors train, the reference trains %d", f.tally.what, n, ngrad);
  for (int k = 0; k < f.bb.params.count; k++) {
    pt_tensor *t = f.bb.params.items[k];
    if (!pt_requires_grad(t)) ck_assert_msg(!t->grad, "frozen %s got a gradient", t->name);
  }
  ck_assert_int_gt(n, 0);
  if (!strcmp(f.method->name, "finetune")) /* the backbone and the head: everything */
    ck_assert_int_eq(n, f.bb.params.count + f.m.head.params.count);
  printf("parity %-34s forward+grads  max |diff| %.3g (%s)\n", f.tally.what, f.tally.worst,
         f.tally.worst_at);
  pt_model_outputs_free(&out);
  close_case(&f);
}
END_TEST

/* The ptv2 cases: the gradient of every tensor with nothing frozen
 * (full_ft_grads.safetensors; for fine-tuning, the trainable gradients). */
START_TEST(full_finetuning_gradients_match) {
  int ci = -1;
  for (int k = 0, seen = 0; k < NCASES && ci < 0; k++)
    if (!strcmp(cases[k].dir, "ptv2") && seen++ == _i) ci = k;
  ck_assert_int_ge(ci, 0);
  fixture f;
  open_case(&f, ci);
  char p[4200];
  file_in(p, sizeof p, &f, "full_ft_grads.safetensors");
  pt_safetensors *full = NULL;
  FILE *fp = fopen(p, "rb");
  if (fp) {
    fclose(fp);
    ck_assert_int_eq(pt_safetensors_open(p, &full), PT_OK);
  }
  bool finetune = !strcmp(f.method->name, "finetune");
  ck_assert_msg(full || finetune, "%s: no full_ft_grads.safetensors", f.tally.what);
  pt_params *lists[3] = {&f.bb.params, &f.m.params, &f.m.head.params};
  int total = 0;
  for (int l = 0; l < 3; l++) {
    ck_assert_int_eq(pt_params_set_trainable(lists[l], "", true), PT_OK);
    total += lists[l]->count;
  }
  pt_model_outputs out;
  pt_tensor *loss = forward_loss(&f, &out);
  ck_assert_int_eq(pt_backward(loss, NULL, false), PT_OK);
  char name[400];
  for (int l = 0; l < 3; l++)
    for (int k = 0; k < lists[l]->count; k++) {
      pt_tensor *t = lists[l]->items[k];
      snprintf(name, sizeof name, "%s%s", full ? "" : "grad.", fixture_name(&f, t));
      parity_expect(&f.tally, full ? full : f.outputs, name, t->grad);
    }
  if (full) ck_assert_int_eq(pt_safetensors_count(full), total);
  printf("parity %-34s full-FT grads  max |diff| %.3g (%s)\n", f.tally.what, f.tally.worst,
         f.tally.worst_at);
  pt_model_outputs_free(&out);
  if (full) pt_safetensors_close(full);
  close_case(&f);
}
END_TEST

static pt_optim *optimizer_for(fixture *f, pt_optim *o) {
  int n = pt_model_ntrainable(&f->m);
  for (int i = 0; i < n; i++)
    ck_assert_int_eq(pt_optim_add_param(o, pt_model_trainable(&f->m, i), NULL, true), PT_OK);
  return o;
}

static double step_once(fixture *f, pt_optim *o) {
  pt_model_outputs out;
  pt_tensor *loss = forward_loss(f, &out);
  double value = pt_get(loss, 0);
  ck_assert_int_eq(pt_backward(loss, NULL, false), PT_OK);
  ck_assert_int_eq(pt_optim_step(o), PT_OK);
  pt_optim_zero_grad(o);
  pt_model_outputs_free(&out);
  return value;
}

static void expect_params(fixture *f, const char *prefix, int adamw_steps) {
  char name[400];
  int n = pt_model_ntrainable(&f->m);
  for (int i = 0; i < n; i++) {
    pt_tensor *t = pt_model_trainable(&f->m, i);
    pt_tensor *g = NULL;
    if (adamw_steps) {
      snprintf(name, sizeof name, "grad.%s", fixture_name(f, t));
      g = pt_safetensors_load(f->outputs, name, PT_F64);
      f->tally.noise_grad = g;
      f->tally.noise_bound = 2.02 * 1e-2 * adamw_steps;
    }
    snprintf(name, sizeof name, "%s%s", prefix, fixture_name(f, t));
    parity_expect(&f->tally, f->outputs, name, t);
    f->tally.noise_grad = NULL;
    pt_tensor_free(g);
  }
}

static void expect_loss_now(fixture *f, const char *name) {
  pt_model_outputs out;
  pt_no_grad_enter();
  forward_loss(f, &out);
  pt_no_grad_exit();
  pt_tensor *l1 = pt_view(out.loss, 1, PT_SHAPE(1));
  parity_expect(&f->tally, f->outputs, name, l1);
  pt_tensor_free(l1);
  pt_model_outputs_free(&out);
}

START_TEST(sgd_and_adamw_steps_match) {
  fixture f;
  open_case(&f, _i);
  pt_sgd_opts so = {.lr = 0.1};
  pt_optim *sgd = optimizer_for(&f, pt_sgd_new(&so));
  step_once(&f, sgd);
  expect_params(&f, "sgd.", 0);
  expect_loss_now(&f, "sgd.loss_after");
  pt_optim_free(sgd);
  close_case(&f);

  open_case(&f, _i);
  pt_adamw_opts ao = pt_adamw_defaults();
  ao.lr = 1e-2;
  ao.weight_decay = 0.01;
  pt_optim *adamw = optimizer_for(&f, pt_adamw_new(&ao));
  pt_tensor *losses = pt_zeros(PT_F32, 1, PT_SHAPE(3));
  bool step1 = pt_safetensors_find(f.outputs, "adamw.step1.classifier.weight") >= 0 ||
               pt_safetensors_find(f.outputs, "adamw.step1.qa_outputs.weight") >= 0;
  /* the ptv2 cases have the first step, except fine-tuning */
  if (f.legacy) ck_assert_int_eq(step1, strcmp(f.method->name, "finetune") != 0);
  for (int s = 0; s < 3; s++) {
    pt_set(losses, s, step_once(&f, adamw));
    if (s == 0 && step1) expect_params(&f, "adamw.step1.", 1);
  }
  expect_params(&f, "adamw.", 3);
  parity_expect(&f.tally, f.outputs, "adamw.losses", losses);
  expect_loss_now(&f, "adamw.loss_after");
  printf("parity %-34s SGD+AdamW      max |diff| %.3g (%s); %lld noise-gradient elements\n",
         f.tally.what, f.tally.worst, f.tally.worst_at, (long long)f.tally.noise_elements);
  pt_tensor_free(losses);
  pt_optim_free(adamw);
  close_case(&f);
}
END_TEST

/* lora and ia3: the merged weights are the reference's, and the merged
 * backbone alone gives the model's logits. */
START_TEST(merging_matches) {
  fixture f;
  open_case(&f, _i);
  bool has_merged = false;
  for (int k = 0; k < pt_safetensors_count(f.outputs); k++)
    has_merged |= !strncmp(pt_safetensors_name(f.outputs, k), "merged.", 7);
  if (!has_merged) {
    close_case(&f);
    return;
  }
  ck_assert_int_eq(pt_model_merge(&f.m), PT_OK);
  ck_assert_int_eq(pt_model_merge(&f.m), PT_ERR_STATE);
  char name[400];
  int checked = 0;
  for (int k = 0; k < pt_safetensors_count(f.outputs); k++) {
    const char *n = pt_safetensors_name(f.outputs, k);
    if (strncmp(n, "merged.", 7)) continue;
    pt_tensor *t = pt_params_find(&f.bb.params, n + 7);
    ck_assert_msg(t != NULL, "%s: no backbone tensor %s", f.tally.what, n + 7);
    snprintf(name, sizeof name, "%s", n);
    parity_expect(&f.tally, f.outputs, name, t);
    checked++;
  }
  ck_assert_int_gt(checked, 0);
  ck_assert_ptr_null(f.m.hooks);
  pt_model_outputs out;
  forward_loss(&f, &out);
  parity_expect(&f.tally, f.outputs, "logits", out.logits);
  pt_model_outputs_free(&out);
  /* written as a plain Hugging Face directory, read back as a base model
   * with its head: the same logits */
  char dir[] = "/tmp/pt_merged_XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  ck_assert_msg(pt_model_save_merged(&f.m, f.dir, dir, (int)f.mc.head.num_labels, NULL) == PT_OK,
                "%s", pt_error_message());
  pt_backbone bb;
  pt_warn_set_handler(NULL, NULL); /* the head's tensors are no backbone's */
  ck_assert_msg(pt_backbone_load(&bb, dir, f.bb.parts, false, -1, 1) == PT_OK, "%s",
                pt_error_message());
  pt_warn_reset_handler();
  pt_model plain;
  pt_model_config mc = f.mc;
  ck_assert_int_eq(pt_model_new(&plain, &bb, pt_method_find("finetune"), NULL, &mc), PT_OK);
  char p[4300];
  snprintf(p, sizeof p, "%s/model.safetensors", dir);
  pt_load_report r = {0};
  ck_assert_int_eq(pt_params_load_safetensors(&plain.head.params, p, NULL, NULL, NULL, &r), PT_OK);
  ck_assert_int_eq(r.loaded, plain.head.params.count);
  pt_model_batch b = {f.ids, f.mask, f.types, f.labels, f.starts, f.ends};
  ck_assert_int_eq(pt_model_forward(&plain, &b, (pt_nn_mode){false, NULL}, false, &out), PT_OK);
  parity_expect(&f.tally, f.outputs, "logits", out.logits);
  pt_model_outputs_free(&out);
  pt_model_free(&plain);
  pt_backbone_free(&bb);
  snprintf(p, sizeof p, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(p), 0);
  printf("parity %-34s merged         max |diff| %.3g (%s), %d tensors\n", f.tally.what,
         f.tally.worst, f.tally.worst_at, checked);
  close_case(&f);
}
END_TEST

static bool has_peft_dir(const fixture *f, char *out, size_t cap) {
  snprintf(out, cap, "%s/peft/adapter_config.json", f->dir);
  FILE *fp = fopen(out, "r");
  if (fp) fclose(fp);
  snprintf(out, cap, "%s/peft", f->dir);
  return fp != NULL;
}

/* The reference's peft adapter, read by ptune on the fixture's backbone,
 * gives the reference's logits. */
START_TEST(peft_adapter_gives_the_reference_logits) {
  fixture f;
  open_case(&f, _i);
  char dir[4200];
  if (!has_peft_dir(&f, dir, sizeof dir)) {
    close_case(&f);
    return;
  }
  pt_model_free(&f.m); /* the backbone alone, as the fixture's base model */
  pt_adapter_info info;
  ck_assert_msg(pt_adapter_info_read(dir, f.dir, &info) == PT_OK, "%s", pt_error_message());
  ck_assert_int_eq(info.layout, PT_LAYOUT_PEFT);
  ck_assert_str_eq(info.method->name, f.method->name);
  pt_model m;
  ck_assert_msg(pt_model_load(&m, &f.bb, dir, &info, 3) == PT_OK, "%s: %s", f.tally.what,
                pt_error_message());
  pt_model_batch b = {f.ids, f.mask, f.types, f.labels, f.starts, f.ends};
  pt_model_outputs out;
  ck_assert_int_eq(pt_model_forward(&m, &b, (pt_nn_mode){false, NULL}, false, &out), PT_OK);
  parity_expect(&f.tally, f.outputs, "logits", out.logits);
  parity_expect(&f.tally, f.outputs, "loss", out.loss);
  printf("parity %-34s peft -> ptune  max |diff| %.3g (%s)\n", f.tally.what, f.tally.worst,
         f.tally.worst_at);
  pt_model_outputs_free(&out);
  pt_model_free(&m);
  pt_adapter_info_free(&info);
  close_case(&f);
}
END_TEST

/* Adapters of ptune's first release (tests/fixtures/legacy_adapters: its
 * pt_adapter_save and baked export, from the ptv2 cases' tensors), read on
 * the case's backbone, give the reference's outputs. The fine-tuning
 * adapter holds the backbone: it is scrambled first, so its values must
 * come from the file. */
static const struct {
  const char *adapter, *fixture, *label2; /* label2: the adapter's id2label[2] or NULL */
  bool baked;
} legacy_adapters[] = {
    {"ptv2_proj_bert_seqcls", "bert_seqcls_p4_proj", "pos", false},
    {"ptv2_baked_bert_seqcls", "bert_seqcls_p4_proj", "pos", true},
    {"ptv2_roberta_qa", "roberta_qa_p8_noproj", NULL, false},
    {"ptv2_roberta_mc", "roberta_mc_p8_noproj", NULL, false},
    {"prompt_bert_tokcls", "bert_prompt_tokcls_p4", "I-X", false},
    {"finetune_bert_seqcls", "bert_finetune_seqcls", "pos", false},
};
enum { NLEGACY = sizeof legacy_adapters / sizeof legacy_adapters[0] };

START_TEST(first_release_adapters_give_the_reference_outputs) {
  int ci = ptv2_case(legacy_adapters[_i].fixture);
  fixture f;
  open_case(&f, ci);
  f.tally.what = legacy_adapters[_i].adapter;
  int64_t positions = pt_model_positions(&f.m);
  int nparams = f.m.params.count;
  pt_model_free(&f.m);
  if (!strcmp(f.method->name, "finetune")) {
    pt_rng rng;
    pt_rng_init(&rng, 99);
    for (int k = 0; k < f.bb.params.count; k++)
      ck_assert_int_eq(pt_rng_fill_normal(&rng, f.bb.params.items[k], 0.0, 0.5), PT_OK);
  }
  char dir[4200];
  snprintf(dir, sizeof dir, "%s/legacy_adapters/%s", getenv("PT_FIXTURES"),
           legacy_adapters[_i].adapter);
  pt_adapter_info info;
  ck_assert_msg(pt_adapter_info_read(dir, f.dir, &info) == PT_OK, "%s", pt_error_message());
  ck_assert_int_eq(info.layout, PT_LAYOUT_PTUNE);
  ck_assert(info.legacy);
  ck_assert_str_eq(info.method->name, f.method->name);
  ck_assert_int_eq(info.head.task, f.mc.head.task);
  if (legacy_adapters[_i].label2) ck_assert_str_eq(info.id2label[2], legacy_adapters[_i].label2);
  pt_model m;
  ck_assert_msg(pt_model_load(&m, &f.bb, dir, &info, 3) == PT_OK, "%s: %s", f.tally.what,
                pt_error_message());
  ck_assert_int_eq(pt_model_positions(&m), positions);
  /* baked: the MLP's table alone; the MLP itself otherwise */
  ck_assert_int_eq(m.params.count, legacy_adapters[_i].baked ? 1 : nparams);
  ck_assert(!legacy_adapters[_i].baked || nparams > 1);
  pt_model_batch b = {f.ids, f.mask, f.types, f.labels, f.starts, f.ends};
  pt_model_outputs out;
  ck_assert_int_eq(pt_model_forward(&m, &b, (pt_nn_mode){false, NULL}, false, &out), PT_OK);
  check_outputs(&f, &out);
  printf("parity %-34s first release  max |diff| %.3g (%s)\n", f.tally.what, f.tally.worst,
         f.tally.worst_at);
  pt_model_outputs_free(&out);
  pt_model_free(&m);
  pt_adapter_info_free(&info);
  close_case(&f);
}
END_TEST

/* ptune writes the peft adapter the reference writes: the same tensors
 * under the same names (within 1e-6: prompt tables are computed), and the
 * same values for every key of the reference's adapter_config.json. */
START_TEST(ptune_writes_peft_as_the_reference) {
  fixture f;
  open_case(&f, _i);
  char want_dir[4200];
  if (!has_peft_dir(&f, want_dir, sizeof want_dir)) {
    close_case(&f);
    return;
  }
  char dir[] = "/tmp/pt_peft_XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  int n = (int)f.mc.head.num_labels;
  ck_assert_msg(pt_model_save(&f.m, dir, PT_LAYOUT_PEFT, n, NULL, NULL) == PT_OK, "%s",
                pt_error_message());
  char p[4300], q[4300];
  snprintf(p, sizeof p, "%s/adapter_model.safetensors", dir);
  snprintf(q, sizeof q, "%s/adapter_model.safetensors", want_dir);
  pt_safetensors *got, *want;
  ck_assert_int_eq(pt_safetensors_open(p, &got), PT_OK);
  ck_assert_int_eq(pt_safetensors_open(q, &want), PT_OK);
  ck_assert_int_eq(pt_safetensors_count(got), pt_safetensors_count(want));
  for (int k = 0; k < pt_safetensors_count(want); k++) {
    const char *name = pt_safetensors_name(want, k);
    ck_assert_msg(pt_safetensors_find(got, name) >= 0, "%s: ptune's peft adapter has no %s",
                  f.tally.what, name);
    pt_tensor *a = pt_safetensors_load(got, name, PT_F64), *b = pt_safetensors_load(want, name, PT_F64);
    ck_assert(pt_same_shape(a, b));
    for (int64_t i = 0; i < pt_numel(a); i++)
      ck_assert_msg(fabs(pt_get(a, i) - pt_get(b, i)) <= 1e-6, "%s: %s[%lld] %.8g, want %.8g",
                    f.tally.what, name, (long long)i, pt_get(a, i), pt_get(b, i));
    pt_tensor_free(a);
    pt_tensor_free(b);
  }
  pt_safetensors_close(got);
  pt_safetensors_close(want);
  snprintf(p, sizeof p, "%s/adapter_config.json", dir);
  snprintf(q, sizeof q, "%s/adapter_config.json", want_dir);
  json_t *jg = pt_json_load_object(p), *jw = pt_json_load_object(q);
  ck_assert_ptr_nonnull(jg);
  ck_assert_ptr_nonnull(jw);
  const char *key;
  json_t *val;
  json_object_foreach(jw, key, val) {
    if (!strcmp(key, "ptune")) continue;
    ck_assert_msg(json_equal(val, json_object_get(jg, key)), "%s: adapter_config.json '%s' differs "
                  "from the reference's", f.tally.what, key);
  }
  json_decref(jg);
  json_decref(jw);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
  close_case(&f);
}
END_TEST

/* ---- the bf16 backbone against PyTorch's bf16 autocast ----
 * tests/fixtures/bf16 (make_bf16_fixtures.py) holds, for four of the ptv2
 * cases, PyTorch's logits, loss and trainable gradients under
 * torch.autocast("cpu", bfloat16) with the frozen encoder matrices rounded
 * to bf16 (as ptune stores them), and err64.<name>: autocast's own largest
 * error on that tensor against the same model in float64.
 *
 * Tolerance, derived: ptune rounds to bf16 a subset of what autocast rounds
 * (the inputs of the frozen encoder's linears, whose weights both hold in
 * bf16, and the FFN pre-activation kept for GELU's backward; autocast also
 * rounds every linear's and matmul's output, the prefix MLP, the head and
 * the attention products, and runs GELU in bf16), with
 * the same unit roundoff 2^-9. Each implementation is then within about
 * autocast's error e of the exact answer, and the two within the sum:
 * |ptune − autocast| ≤ 2e + 1e-5 (1e-5: the f32 parity bound). A tensor's
 * own err64 can be small by luck where errors cancel (the loss, a mean over
 * rows, came out 0.013% off in a case whose logits were 0.3% off), so e is
 * the larger of err64 and the logits' relative error err64(logits) /
 * max|logits| times the tensor's largest magnitude. The test also checks
 * that bf16 really ran (the logits leave the f32 parity bound) and that the
 * matrices take half the bytes; with ONEDNN_MAX_CPU_ISA=AVX2 (meson's
 * method_parity_avx2) the bf16 weights are widened instead. */
static const char *const bf16_cases[] = {"bert_tokcls_p8_noproj", "roberta_seqcls_p8_proj",
                                         "bert_qa_p4_proj", "bert_prompt_tokcls_p4"};
enum { NBF16 = sizeof bf16_cases / sizeof bf16_cases[0] };

static double max_abs(const pt_tensor *t) {
  double m = 0;
  for (int64_t i = 0; i < pt_numel(t); i++) m = fmax(m, fabs(pt_get(t, i)));
  return m;
}

/* autocast's error on `name` against float64 (err64.<name>). */
static double autocast_error(pt_safetensors *ref, const char *name) {
  char ename[420];
  snprintf(ename, sizeof ename, "err64.%s", name);
  pt_tensor *e = pt_safetensors_load(ref, ename, PT_F64);
  ck_assert_msg(e != NULL, "%s: %s", ename, pt_error_message());
  double v = pt_get(e, 0);
  pt_tensor_free(e);
  return v;
}

/* rel: autocast's relative error on the logits; *share: the largest
 * difference seen as a share of its tolerance, `at` what it was. */
static void expect_autocast(pt_safetensors *ref, const char *name, const pt_tensor *got, double rel,
                            double *share, char *at, size_t cap) {
  pt_tensor *want = pt_safetensors_load(ref, name, PT_F64);
  ck_assert_msg(want && got, "%s (%s)", name, pt_error_message());
  ck_assert_int_eq(pt_numel(want), pt_numel(got));
  double e = fmax(autocast_error(ref, name), rel * max_abs(want)), tol = 2 * e + PARITY_TOL;
  double worst = 0;
  for (int64_t i = 0; i < pt_numel(want); i++)
    worst = fmax(worst, fabs(pt_get(got, i) - pt_get(want, i)));
  ck_assert_msg(worst <= tol, "bf16: %s differs from autocast by %.3g (tolerance %.3g = 2 x %.3g + 1e-5)",
                name, worst, tol, e);
  if (worst / tol > *share) {
    *share = worst / tol;
    snprintf(at, cap, "%s: %.3g of %.3g", name, worst, tol);
  }
  pt_tensor_free(want);
}

static void keep_note(const char *line, void *ctx) { snprintf(ctx, 512, "%s", line); }

static int64_t param_bytes(const pt_params *ps) {
  int64_t n = 0;
  for (int i = 0; i < ps->count; i++)
    n += pt_numel(ps->items[i]) * (int64_t)pt_dtype_size(ps->items[i]->dtype);
  return n;
}

START_TEST(bf16_backbone_matches_autocast) {
  int ci = ptv2_case(bf16_cases[_i]);
  fixture f;
  open_case(&f, ci);
  char p[4200];
  snprintf(p, sizeof p, "%s/bf16/%s.safetensors", getenv("PT_FIXTURES"), bf16_cases[_i]);
  pt_safetensors *ref;
  ck_assert_msg(pt_safetensors_open(p, &ref) == PT_OK, "%s", pt_error_message());
  int64_t before = param_bytes(&f.bb.params);
  char note[512] = "";
  pt_warn_set_handler(keep_note, note);
  ck_assert_msg(pt_backbone_set_weight_dtype(&f.bb, PT_BF16) == PT_OK, "%s", pt_error_message());
  pt_warn_reset_handler();
  /* one line where the CPU has no bf16 dot products, silence where it has */
  ck_assert_msg(pt_gemm_bf16_native() ? !note[0] : strstr(note, "widened to f32") != NULL, "note '%s'",
                note);
  int matrices = 0;
  for (int i = 0; i < f.bb.params.count; i++) {
    pt_tensor *t = f.bb.params.items[i];
    ck_assert_msg((t->dtype == PT_BF16) == (t->ndim == 2), "%s is %s", t->name, pt_dtype_name(t->dtype));
    matrices += t->ndim == 2;
  }
  ck_assert_int_ge(matrices, 5);
  int64_t after = param_bytes(&f.bb.params);
  ck_assert_int_lt(after, before * 6 / 10); /* the matrices are most of the bytes */

  pt_model_outputs out;
  pt_tensor *loss = forward_loss(&f, &out);
  ck_assert_int_eq(pt_backward(loss, NULL, false), PT_OK);
  pt_tensor *f32_logits = pt_safetensors_load(f.outputs, "logits", PT_F64);
  double from_f32 = 0;
  for (int64_t i = 0; i < pt_numel(f32_logits); i++)
    from_f32 = fmax(from_f32, fabs(pt_get(out.logits, i) - pt_get(f32_logits, i)));
  pt_tensor_free(f32_logits);
  ck_assert_msg(from_f32 > 10 * PARITY_TOL, "bf16 logits equal the f32 ones (%.3g): bf16 did not run",
                from_f32);
  pt_tensor *ref_logits = pt_safetensors_load(ref, "logits", PT_F64);
  double rel = autocast_error(ref, "logits") / max_abs(ref_logits), share = 0;
  pt_tensor_free(ref_logits);
  char at[480] = "";
  expect_autocast(ref, "logits", out.logits, rel, &share, at, sizeof at);
  expect_autocast(ref, "loss", loss, rel, &share, at, sizeof at);
  if (out.start_logits) {
    expect_autocast(ref, "start_logits", out.start_logits, rel, &share, at, sizeof at);
    expect_autocast(ref, "end_logits", out.end_logits, rel, &share, at, sizeof at);
  }
  int n = pt_model_ntrainable(&f.m);
  char name[420];
  for (int i = 0; i < n; i++) {
    pt_tensor *t = pt_model_trainable(&f.m, i);
    snprintf(name, sizeof name, "grad.%s", fixture_name(&f, t));
    expect_autocast(ref, name, t->grad, rel, &share, at, sizeof at);
  }
  ck_assert_int_gt(n, 0);
  printf("parity %-34s bf16 (%s) vs autocast: worst %.0f%% of the tolerance (%s); logits %.3g "
         "from f32; backbone %lld -> %lld bytes\n",
         bf16_cases[_i], pt_gemm_bf16_native() ? "native" : "widened", 100 * share, at, from_f32,
         (long long)before, (long long)after);
  pt_model_outputs_free(&out);
  pt_safetensors_close(ref);
  close_case(&f);
}
END_TEST

/* Fine-tuning trains the backbone's matrices: bf16 is refused either way
 * round (converting under a fine-tuning model, or attaching one to a bf16
 * backbone), naming the tensor. */
START_TEST(bf16_backbone_refuses_trained_matrices) {
  int ci = ptv2_case("bert_finetune_seqcls");
  fixture f;
  open_case(&f, ci);
  ck_assert_int_eq(pt_backbone_set_weight_dtype(&f.bb, PT_BF16), PT_ERR_ARG);
  ck_assert_msg(strstr(pt_error_message(), "bert.embeddings.word_embeddings.weight trains"), "%s",
                pt_error_message());
  pt_model_free(&f.m);
  ck_assert_int_eq(pt_backbone_set_weight_dtype(&f.bb, PT_BF16), PT_OK);
  ck_assert_int_eq(pt_model_new(&f.m, &f.bb, f.method, f.opts, &f.mc), PT_ERR_ARG);
  ck_assert_msg(strstr(pt_error_message(), "finetune trains bert.") &&
                    strstr(pt_error_message(), "frozen in bf16"),
                "%s", pt_error_message());
  ck_assert_int_eq(pt_backbone_set_weight_dtype(&f.bb, PT_F16), PT_ERR_DTYPE);
  close_case(&f);
}
END_TEST

int main(void) {
  Suite *s = suite_create("method_parity");
  TCase *tc = tcase_create("methods");
  tcase_set_timeout(tc, 900);
  tcase_add_loop_test(tc, forward_and_gradients_match, 0, NCASES);
  tcase_add_loop_test(tc, sgd_and_adamw_steps_match, 0, NCASES);
  int nptv2 = 0;
  for (int k = 0; k < NCASES; k++) nptv2 += !strcmp(cases[k].dir, "ptv2");
  tcase_add_loop_test(tc, full_finetuning_gradients_match, 0, nptv2);
  tcase_add_loop_test(tc, merging_matches, 0, NCASES);
  tcase_add_loop_test(tc, peft_adapter_gives_the_reference_logits, 0, NCASES);
  tcase_add_loop_test(tc, ptune_writes_peft_as_the_reference, 0, NCASES);
  tcase_add_loop_test(tc, first_release_adapters_give_the_reference_outputs, 0, NLEGACY);
  suite_add_tcase(s, tc);
  TCase *bf16 = tcase_create("bf16");
  tcase_set_timeout(bf16, 900);
  tcase_add_loop_test(bf16, bf16_backbone_matches_autocast, 0, NBF16);
  tcase_add_test(bf16, bf16_backbone_refuses_trained_matrices);
  suite_add_tcase(s, bf16);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
