/* Parity with PyTorch: the 15 golden cases of tests/fixtures/ptv2 (written by
 * make_fixtures.py from the plain-PyTorch reference, itself bit-identical to
 * Hugging Face transformers + THUDM/P-tuning-v2, extended with multiple
 * choice, peft-style prompt tuning and plain fine-tuning). Each case's
 * config.json names its method (ptv2, prompt, finetune) and task. For each
 * case: every hidden state, position ids, the prefix-encoder output (ptv2),
 * logits, loss, the gradient of every trainable tensor, the gradient of every
 * parameter with nothing frozen (for finetune
 * these are the trainable gradients), parameters after one SGD step and after
 * three AdamW steps (and after the first, except for finetune).
 * Tolerance 1e-5 absolute (values are O(1)); the worst error of each case is
 * printed. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptune.h"
#include "models/pt_hf.h"
#include "models/pt_ptv2.h"
#include "nn/pt_json.h"
#include "nn/pt_params_io.h"
#include "nn/pt_safetensors.h"
#include "optim/pt_optim.h"
#include "parity_util.h"

static const char *const cases[] = {
    "bert_seqcls_p4_proj",    "bert_seqcls_p8_noproj",  "bert_tokcls_p8_noproj",
    "bert_qa_p4_proj",        "roberta_seqcls_p8_proj", "roberta_tokcls_p4_proj",
    "roberta_tokcls_p8_noproj", "roberta_qa_p8_noproj",
    /* multiple choice (THUDM *PrefixForMultipleChoice) */
    "bert_mc_p4_proj",        "roberta_mc_p8_noproj",
    /* prompt tuning (peft semantics, see models/pt_ptv2.h) */
    "bert_prompt_tokcls_p4",  "roberta_prompt_seqcls_p4", "bert_prompt_qa_p4",
    /* full fine-tuning, no prefix */
    "bert_finetune_seqcls",   "roberta_finetune_tokcls",
};

typedef struct {
  char dir[4096];
  pt_peft_method method;
  pt_ptv2_model model;
  pt_safetensors *inputs, *outputs, *full;
  pt_tensor *ids, *mask, *types, *labels, *starts, *ends;
  parity_tally tally;
} fixture;

static void path_of(char *out, size_t cap, const fixture *f, const char *file) {
  snprintf(out, cap, "%s/%s", f->dir, file);
}

static void open_case(fixture *f, const char *name) {
  memset(f, 0, sizeof *f);
  const char *root = getenv("PT_FIXTURES");
  ck_assert_msg(root != NULL, "PT_FIXTURES is not set");
  snprintf(f->dir, sizeof f->dir, "%s/ptv2/%s", root, name);
  f->tally.what = f->dir;
  char p[4200];
  path_of(p, sizeof p, f, "config.json");
  json_t *j = pt_json_load_object(p);
  ck_assert_msg(j != NULL, "%s", pt_error_message());
  const char *task, *method;
  pt_ptv2_config cfg = {0};
  ck_assert_int_eq(pt_json_string(j, p, "method", &method), PT_OK);
  ck_assert_int_eq(pt_method_parse(method, &cfg.method), PT_OK);
  f->method = cfg.method;
  ck_assert_int_eq(pt_json_string(j, p, "task", &task), PT_OK);
  ck_assert_int_eq(pt_task_parse(task, &cfg.task), PT_OK);
  ck_assert_int_eq(pt_json_int(j, p, "pre_seq_len", &cfg.pre_seq_len), PT_OK);
  ck_assert_int_eq(pt_json_bool(j, p, "prefix_projection", &cfg.prefix_projection), PT_OK);
  ck_assert_int_eq(pt_json_int(j, p, "prefix_hidden_size", &cfg.prefix_hidden_size), PT_OK);
  cfg.num_labels = (int64_t)json_object_size(json_object_get(j, "id2label"));
  json_decref(j);
  pt_bert_config bc;
  ck_assert_msg(pt_bert_config_load(f->dir, &bc) == PT_OK, "%s", pt_error_message());
  ck_assert_msg(pt_ptv2_model_init(&f->model, &bc, &cfg, 1) == PT_OK, "%s", pt_error_message());
  /* Every parameter must come from the fixture files. */
  bool *filled = calloc((size_t)f->model.params.count, sizeof(bool));
  path_of(p, sizeof p, f, "model.safetensors");
  ck_assert_msg(pt_params_load_safetensors(&f->model.params, p, NULL, NULL, filled, NULL) == PT_OK,
                "%s", pt_error_message());
  if (f->method != PT_METHOD_FINETUNE) { /* fine-tuning has no prefix encoder */
    path_of(p, sizeof p, f, "prefix.safetensors");
    ck_assert_msg(pt_params_load_safetensors(&f->model.params, p, NULL, NULL, filled, NULL) == PT_OK,
                  "%s", pt_error_message());
  }
  for (int i = 0; i < f->model.params.count; i++)
    ck_assert_msg(filled[i], "%s: parameter %s not in the fixture", name,
                  f->model.params.items[i]->name);
  free(filled);
  path_of(p, sizeof p, f, "inputs.safetensors");
  ck_assert_int_eq(pt_safetensors_open(p, &f->inputs), PT_OK);
  path_of(p, sizeof p, f, "outputs.safetensors");
  ck_assert_int_eq(pt_safetensors_open(p, &f->outputs), PT_OK);
  /* Left out of the finetune cases (outputs' grad.* are the same). */
  path_of(p, sizeof p, f, "full_ft_grads.safetensors");
  FILE *full = fopen(p, "rb");
  if (full) {
    fclose(full);
    ck_assert_int_eq(pt_safetensors_open(p, &f->full), PT_OK);
  }
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
  if (f->full) pt_safetensors_close(f->full);
  pt_ptv2_model_free(&f->model);
}

/* max |got − want| over every element; records the case's worst. */
static void expect_close(fixture *f, pt_safetensors *file, const char *name, const pt_tensor *got) {
  parity_expect(&f->tally, file, name, got);
}

static pt_ptv2_batch batch_of(const fixture *f) {
  return (pt_ptv2_batch){f->ids, f->mask, f->types, f->labels, f->starts, f->ends};
}

static pt_tensor *forward_loss(fixture *f, pt_ptv2_outputs *out, bool keep) {
  pt_ptv2_batch b = batch_of(f);
  pt_nn_mode eval = {false, NULL};
  ck_assert_msg(pt_ptv2_forward(&f->model, &b, eval, keep, out) == PT_OK, "%s: %s", f->dir,
                pt_error_message());
  return out->loss;
}

static void check_forward_and_grads(fixture *f) {
  pt_ptv2_outputs out;
  pt_tensor *loss = forward_loss(f, &out, true);
  char name[64];
  for (int l = 0; l < out.encoder.n_hidden_states; l++) {
    snprintf(name, sizeof name, "hidden_states.%d", l);
    expect_close(f, f->outputs, name, out.encoder.hidden_states[l]);
  }
  expect_close(f, f->outputs, "last_hidden_state", out.encoder.last_hidden);
  expect_close(f, f->outputs, "position_ids", out.encoder.position_ids);
  if (f->method == PT_METHOD_PTV2) {
    expect_close(f, f->outputs, "prefix_raw", out.prefix_raw);
  } else {
    ck_assert_ptr_null(out.prefix_raw);
    ck_assert_int_lt(pt_safetensors_find(f->outputs, "prefix_raw"), 0);
  }
  expect_close(f, f->outputs, "logits", out.logits);
  if (out.encoder.pooled) expect_close(f, f->outputs, "pooled_output", out.encoder.pooled);
  if (out.start_logits) {
    expect_close(f, f->outputs, "start_logits", out.start_logits);
    expect_close(f, f->outputs, "end_logits", out.end_logits);
  }
  expect_close(f, f->outputs, "loss", loss);
  ck_assert_int_eq(pt_backward(loss, NULL, false), PT_OK);
  int trainable = 0;
  for (int i = 0; i < f->model.params.count; i++) {
    pt_tensor *p = f->model.params.items[i];
    snprintf(name, sizeof name, "grad.%s", p->name);
    if (pt_requires_grad(p)) {
      trainable++;
      expect_close(f, f->outputs, name, p->grad);
    } else {
      ck_assert_msg(p->grad == NULL, "frozen %s received a gradient", p->name);
      ck_assert_int_lt(pt_safetensors_find(f->outputs, name), 0);
    }
  }
  ck_assert_int_gt(trainable, 0);
  if (f->method == PT_METHOD_FINETUNE) ck_assert_int_eq(trainable, f->model.params.count);
  pt_ptv2_outputs_free(&out);
}

START_TEST(forward_and_trainable_gradients_match) {
  fixture f;
  open_case(&f, cases[_i]);
  check_forward_and_grads(&f);
  printf("parity %-26s forward+grads  max |diff| %.3g (%s)\n", cases[_i], f.tally.worst, f.tally.worst_at);
  close_case(&f);
}
END_TEST

START_TEST(full_finetuning_gradients_match) {
  fixture f;
  open_case(&f, cases[_i]);
  /* every case has them: full_ft_grads.safetensors, or for finetune grad.* */
  ck_assert_msg(f.full || f.method == PT_METHOD_FINETUNE, "%s: no full_ft_grads.safetensors",
                cases[_i]);
  pt_params_set_trainable(&f.model.params, "", true);
  pt_ptv2_outputs out;
  pt_tensor *loss = forward_loss(&f, &out, false);
  ck_assert_int_eq(pt_backward(loss, NULL, false), PT_OK);
  char name[200];
  for (int i = 0; i < f.model.params.count; i++) {
    pt_tensor *p = f.model.params.items[i];
    if (f.full) {
      expect_close(&f, f.full, p->name, p->grad);
    } else { /* finetune: the trainable gradients are the full ones */
      snprintf(name, sizeof name, "grad.%s", p->name);
      expect_close(&f, f.outputs, name, p->grad);
    }
  }
  if (f.full) ck_assert_int_eq(pt_safetensors_count(f.full), f.model.params.count);
  printf("parity %-26s full-FT grads  max |diff| %.3g (%s)\n", cases[_i], f.tally.worst, f.tally.worst_at);
  pt_ptv2_outputs_free(&out);
  close_case(&f);
}
END_TEST

static pt_optim *optimizer_for(fixture *f, pt_optim *o) {
  for (int i = 0; i < f->model.params.count; i++)
    if (pt_requires_grad(f->model.params.items[i]))
      ck_assert_int_eq(pt_optim_add_param(o, f->model.params.items[i], NULL, true), PT_OK);
  return o;
}

static double step_once(fixture *f, pt_optim *o) {
  pt_ptv2_outputs out;
  pt_tensor *loss = forward_loss(f, &out, false);
  double value = pt_get(loss, 0);
  ck_assert_int_eq(pt_backward(loss, NULL, false), PT_OK);
  ck_assert_int_eq(pt_optim_step(o), PT_OK);
  pt_optim_zero_grad(o);
  pt_ptv2_outputs_free(&out);
  return value;
}

/* adamw_steps > 0: AdamW after that many steps (see noise_grad). */
static void expect_params(fixture *f, const char *prefix, int adamw_steps) {
  char name[200];
  for (int i = 0; i < f->model.params.count; i++) {
    pt_tensor *p = f->model.params.items[i];
    if (!pt_requires_grad(p)) continue;
    pt_tensor *g = NULL;
    if (adamw_steps) {
      snprintf(name, sizeof name, "grad.%s", p->name);
      g = pt_safetensors_load(f->outputs, name, PT_F64);
      f->tally.noise_grad = g;
      f->tally.noise_bound = 2.02 * 1e-2 * adamw_steps;
    }
    snprintf(name, sizeof name, "%s%s", prefix, p->name);
    expect_close(f, f->outputs, name, p);
    f->tally.noise_grad = NULL;
    pt_tensor_free(g);
  }
}

static pt_tensor *loss_now(fixture *f) {
  pt_ptv2_outputs out;
  pt_no_grad_enter();
  pt_tensor *loss = pt_tensor_ref(forward_loss(f, &out, false));
  pt_no_grad_exit();
  pt_ptv2_outputs_free(&out);
  return loss;
}

START_TEST(sgd_and_adamw_steps_match) {
  fixture f;
  open_case(&f, cases[_i]);
  pt_sgd_opts so = {.lr = 0.1};
  pt_optim *sgd = optimizer_for(&f, pt_sgd_new(&so));
  step_once(&f, sgd);
  expect_params(&f, "sgd.", 0);
  pt_tensor *after = loss_now(&f);
  pt_tensor *after1 = pt_view(after, 1, PT_SHAPE(1));
  expect_close(&f, f.outputs, "sgd.loss_after", after1);
  pt_tensor_free(after);
  pt_tensor_free(after1);
  pt_optim_free(sgd);
  close_case(&f);

  /* A fresh copy of the case for AdamW (lr 1e-2, wd 0.01 on every tensor). */
  open_case(&f, cases[_i]);
  pt_adamw_opts ao = pt_adamw_defaults();
  ao.lr = 1e-2;
  ao.weight_decay = 0.01;
  pt_optim *adamw = optimizer_for(&f, pt_adamw_new(&ao));
  pt_tensor *losses = pt_zeros(PT_F32, 1, PT_SHAPE(3));
  for (int s = 0; s < 3; s++) {
    pt_set(losses, s, step_once(&f, adamw));
    if (s == 0 && f.method != PT_METHOD_FINETUNE) expect_params(&f, "adamw.step1.", 1);
  }
  expect_params(&f, "adamw.", 3);
  expect_close(&f, f.outputs, "adamw.losses", losses);
  after = loss_now(&f);
  after1 = pt_view(after, 1, PT_SHAPE(1));
  expect_close(&f, f.outputs, "adamw.loss_after", after1);
  printf("parity %-26s SGD+AdamW      max |diff| %.3g (%s); %lld noise-gradient elements\n",
         cases[_i], f.tally.worst, f.tally.worst_at, (long long)f.tally.noise_elements);
  pt_tensor_free(after);
  pt_tensor_free(after1);
  pt_tensor_free(losses);
  pt_optim_free(adamw);
  close_case(&f);
}
END_TEST

int main(void) {
  Suite *s = suite_create("parity");
  TCase *tc = tcase_create("ptv2");
  tcase_set_timeout(tc, 600);
  int n = (int)(sizeof cases / sizeof cases[0]);
  tcase_add_loop_test(tc, forward_and_trainable_gradients_match, 0, n);
  tcase_add_loop_test(tc, full_finetuning_gradients_match, 0, n);
  tcase_add_loop_test(tc, sgd_and_adamw_steps_match, 0, n);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
