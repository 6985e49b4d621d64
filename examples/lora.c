/* LoRA (Hu et al. 2021) as a new PEFT variant, written only against the
 * public API: no change below models/ was needed.
 *
 * Each attention query and value projection W of a frozen encoder gets a
 * low-rank update: y = x·Wᵀ + b + (α/r)·(x·Aᵀ)·Bᵀ, with A [r, in] ~ N(0, 0.02)
 * and B [out, r] = 0 (so training starts from the base model). The update is
 * attached through pt_nn_linear's hook; A, B and the classifier are the only
 * trainable tensors.
 *
 * The task, made up so the example needs no files: a random tiny BERT tags
 * every token of a random sequence with whether the token id is larger than
 * the id of the token before it — a job that needs attention to the left
 * neighbour, so the frozen encoder alone (a linear probe) cannot do it well.
 *
 *   build/examples/lora [steps]      (default 300) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptune.h"
#include "models/pt_ptv2.h"
#include "optim/pt_optim.h"

#define RANK 4
#define ALPHA 8.0

typedef struct {
  pt_tensor *A, *B; /* borrowed from the model's parameter list */
  pt_nn_linear_hook hook; /* linked into the layer's chain */
} lora;

/* y + (α/r)·(x·Aᵀ)·Bᵀ */
static pt_tensor *lora_hook(void *ctx, pt_tensor *x, pt_tensor *y) {
  const lora *l = ctx;
  pt_tensor *xa = pt_linear(x, l->A, NULL);
  pt_tensor *xab = pt_linear(xa, l->B, NULL);
  pt_tensor *scaled = pt_scale(xab, ALPHA / RANK);
  pt_tensor *out = pt_add(y, scaled);
  pt_tensor_free(xa);
  pt_tensor_free(xab);
  pt_tensor_free(scaled);
  return out;
}

static pt_status add_lora(pt_ptv2_model *m, pt_nn_linear *lin, lora *l, const char *name,
                          pt_rng *rng) {
  int64_t in = lin->weight->shape[1], out = lin->weight->shape[0];
  char a_name[256], b_name[256];
  snprintf(a_name, sizeof a_name, "%s.lora_A", name);
  snprintf(b_name, sizeof b_name, "%s.lora_B", name);
  pt_tensor *A = pt_randn(rng, PT_F32, PT_DIMS(RANK, in));
  pt_tensor *B = pt_zeros(PT_F32, PT_DIMS(out, RANK));
  if (!A || !B) return PT_ERR_NOMEM;
  for (int64_t i = 0; i < pt_numel(A); i++) pt_set(A, i, 0.02 * pt_get(A, i));
  pt_set_requires_grad(A, true);
  pt_set_requires_grad(B, true);
  PT_TRY(pt_params_add(&m->params, A, a_name));
  PT_TRY(pt_params_add(&m->params, B, b_name));
  l->A = A;
  l->B = B;
  pt_tensor_free(A); /* the parameter list keeps them */
  pt_tensor_free(B);
  l->hook = (pt_nn_linear_hook){.stage = PT_NN_HOOK_OUTPUT, .fn = lora_hook, .ctx = l};
  pt_nn_linear_hook_add(lin, &l->hook);
  return PT_OK;
}

/* A batch of random ids and their labels (1 where id > previous id). */
static void make_batch(pt_rng *rng, int64_t B, int64_t S, int64_t vocab, pt_tensor **ids,
                       pt_tensor **labels) {
  *ids = pt_empty(PT_I64, 2, PT_SHAPE(B, S));
  *labels = pt_empty(PT_I64, 2, PT_SHAPE(B, S));
  for (int64_t b = 0; b < B; b++)
    for (int64_t s = 0; s < S; s++) {
      int64_t id = 1 + (int64_t)pt_rng_below(rng, (uint64_t)vocab - 1);
      pt_set(*ids, b * S + s, (double)id);
      int64_t prev = s ? (int64_t)pt_get(*ids, b * S + s - 1) : -1;
      pt_set(*labels, b * S + s, s == 0 ? -100 : (double)(id > prev));
    }
}

static double accuracy(const pt_tensor *logits, const pt_tensor *labels) {
  int64_t n = 0, right = 0, rows = pt_numel(labels);
  for (int64_t i = 0; i < rows; i++) {
    int64_t y = (int64_t)pt_get(labels, i);
    if (y < 0) continue;
    int64_t guess = pt_get(logits, 2 * i + 1) > pt_get(logits, 2 * i);
    right += guess == y;
    n++;
  }
  return n ? (double)right / (double)n : 0;
}

int main(int argc, char **argv) {
  int steps = argc > 1 ? atoi(argv[1]) : 300;
  pt_bert_config bc;
  pt_bert_config_default(&bc, PT_ARCH_BERT);
  bc.vocab_size = 64;
  bc.hidden_size = 64;
  bc.num_layers = 2;
  bc.num_heads = 4;
  bc.intermediate_size = 128;
  bc.max_position = 32;
  bc.hidden_dropout = bc.attention_dropout = 0.0;
  /* "finetune" builds a model without a prefix; freezing the encoder
   * afterwards leaves the classifier trainable, and LoRA adds its own. */
  pt_ptv2_config cfg = {PT_METHOD_FINETUNE, PT_TASK_TOKEN_CLASSIFICATION, 0, false, 0, 2};
  pt_ptv2_model m;
  if (pt_ptv2_model_init(&m, &bc, &cfg, 7) != PT_OK) {
    fprintf(stderr, "lora: %s\n", pt_error_message());
    return 1;
  }
  pt_params_set_trainable(&m.params, "bert.", false);
  pt_rng rng;
  pt_rng_init(&rng, 123);
  lora adapters[2 * 2];
  for (int64_t l = 0; l < bc.num_layers; l++) {
    char name[128];
    snprintf(name, sizeof name, "bert.encoder.layer.%lld.attention.self.query", (long long)l);
    add_lora(&m, &m.bert.layers[l].query, &adapters[2 * l], name, &rng);
    snprintf(name, sizeof name, "bert.encoder.layer.%lld.attention.self.value", (long long)l);
    add_lora(&m, &m.bert.layers[l].value, &adapters[2 * l + 1], name, &rng);
  }
  int64_t trainable = pt_params_numel(&m.params, true), total = pt_params_numel(&m.params, false);
  printf("LoRA r=%d on query/value: %lld of %lld parameters trainable (%.2f%%)\n", RANK,
         (long long)trainable, (long long)total, 100.0 * (double)trainable / (double)total);

  pt_adamw_opts ao = pt_adamw_defaults();
  ao.lr = 3e-3;
  ao.weight_decay = 0.0;
  pt_optim *opt = pt_adamw_new(&ao);
  for (int i = 0; i < m.params.count; i++)
    if (pt_requires_grad(m.params.items[i])) pt_optim_add_param(opt, m.params.items[i], NULL, true);

  pt_rng data;
  pt_rng_init(&data, 5);
  pt_nn_mode train = {true, &rng};
  double first_acc = 0, last_acc = 0;
  for (int step = 1; step <= steps; step++) {
    pt_tensor *ids, *labels;
    make_batch(&data, 16, 24, bc.vocab_size, &ids, &labels);
    pt_ptv2_batch batch = {ids, NULL, NULL, labels, NULL, NULL};
    pt_ptv2_outputs out;
    if (pt_ptv2_forward(&m, &batch, train, false, &out) != PT_OK ||
        pt_backward(out.loss, NULL, false) != PT_OK || pt_optim_step(opt) != PT_OK) {
      fprintf(stderr, "lora: %s\n", pt_error_message());
      return 1;
    }
    pt_optim_zero_grad(opt);
    double acc = accuracy(out.logits, labels);
    if (step == 1) first_acc = acc;
    last_acc = 0.9 * last_acc + 0.1 * acc;
    if (step % 50 == 0 || step == 1)
      printf("step %4d  loss %.4f  accuracy %.3f\n", step, pt_get(out.loss, 0), acc);
    pt_ptv2_outputs_free(&out);
    pt_tensor_free(ids);
    pt_tensor_free(labels);
  }
  printf("accuracy: first batch %.3f, moving average at the end %.3f\n", first_acc, last_acc);
  pt_optim_free(opt);
  pt_ptv2_model_free(&m);
  return last_acc > first_acc + 0.1 ? 0 : 1; /* the example fails if nothing was learned */
}
