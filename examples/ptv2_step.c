/* One P-Tuning v2 training step, printed stage by stage: the program that
 * docs/tutorial.md walks through. Two tagged sentences go through the
 * tokenizer into token ids and label ids, through the frozen encoder with a
 * trainable 16-position prefix at every layer, into a token-classification
 * loss; backward brings the gradient to the prefix table, and one AdamW step
 * (clipped at 1.0, learning rate 2e-2: the demo's settings) moves it.
 *
 *   ptv2_step MODEL_DIR [LAYER.dot]
 *
 * MODEL_DIR is a BERT directory with its vocab.txt (the demo's
 * assets/tiny-bert-uncased). LAYER.dot receives the autograd graph behind
 * the first encoder layer's output (docs/make_tutorial_graph.sh renders it).
 * Every tensor is freed; the exit status is 0 only if the step ran and the
 * prefix, and nothing else, received a gradient. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/pt_model.h"
#include "models/pt_tokenizer.h"
#include "ptune.h"

enum { B = 2, NLABELS = 9, PREFIX = 16 };

/* CoNLL-2003's tags; a sentence arrives split into words, one tag each. */
static const char *const tag_names[NLABELS] = {"O",     "B-PER", "I-PER",  "B-ORG", "I-ORG",
                                              "B-LOC", "I-LOC", "B-MISC", "I-MISC"};
static const char *const words0[] = {"EU",      "rejects", "German", "call", "to",
                                     "boycott", "British", "lamb",   "."};
static const int tags0[] = {3, 0, 7, 0, 0, 0, 7, 0, 0};
static const char *const words1[] = {"Peter", "Blackburn", "reports", "from", "Brussels"};
static const int tags1[] = {1, 2, 0, 0, 5};
static const char *const *const words[B] = {words0, words1};
static const int *const tags[B] = {tags0, tags1};
static const int64_t nwords[B] = {9, 5};

static int fail(const char *what) {
  fprintf(stderr, "ptv2_step: %s: %s\n", what, pt_error_message());
  return 1;
}

static double norm_of(const pt_tensor *t) {
  double s = 0;
  for (int64_t i = 0; t && i < pt_numel(t); i++) s += pt_get(t, i) * pt_get(t, i);
  return sqrt(s);
}

/* Step 1: words -> WordPiece tokens -> ids; a word's tag goes to its first
 * piece, the other pieces and [CLS]/[SEP]/padding get -100 (ignored by the
 * loss), as apps/tasks/tagging.c does. The batch is padded to its longest
 * row: attention mask 0 there. */
static int make_batch(const pt_tokenizer *tok, pt_tensor **ids, pt_tensor **mask,
                      pt_tensor **types, pt_tensor **labels) {
  pt_encoding enc[B];
  int64_t S = 0;
  for (int b = 0; b < B; b++) {
    if (pt_tokenizer_encode_words(tok, words[b], nwords[b], NULL, &enc[b]) != PT_OK) {
      for (int k = 0; k < b; k++) pt_encoding_free(&enc[k]);
      return fail("tokenize");
    }
    if (enc[b].n > S) S = enc[b].n;
  }
  *ids = pt_zeros(PT_I64, PT_DIMS(B, S)); /* [PAD] is id 0 */
  *mask = pt_zeros(PT_I64, PT_DIMS(B, S));
  *types = pt_zeros(PT_I64, PT_DIMS(B, S));
  *labels = pt_full(PT_I64, PT_DIMS(B, S), -100);
  for (int b = 0; b < B; b++) {
    printf("  row %d:", b);
    int64_t prev = -1;
    for (int64_t i = 0; i < enc[b].n && *labels; i++) {
      int64_t w = enc[b].word_ids[i];
      pt_set(*ids, b * S + i, (double)enc[b].ids[i]);
      pt_set(*mask, b * S + i, 1);
      bool first = w >= 0 && w != prev;
      if (first) pt_set(*labels, b * S + i, tags[b][w]);
      printf(" %s:%lld%s%s", enc[b].tokens[i], (long long)enc[b].ids[i], first ? ":" : "",
             first ? tag_names[tags[b][w]] : "");
      prev = w;
    }
    printf("\n");
    pt_encoding_free(&enc[b]);
  }
  if (!*ids || !*mask || !*types || !*labels) return fail("batch");
  char s[64];
  printf("  input_ids %s, attention_mask, token_type_ids and labels the same shape\n",
         pt_shape_str(*ids, s, sizeof s));
  return 0;
}

/* Step 2: the model: the encoder from MODEL_DIR (frozen), with dropout 0.1
 * as in the demo; on it the ptv2 method (a P x 2·L·H prefix table) and a
 * 9-way classifier, both trainable, drawn from the backbone's
 * initialization stream as ptune train does. */
static int make_model(const char *dir, pt_backbone *bb, pt_model *m) {
  pt_model_config mc = {{PT_TASK_TOKEN_CLASSIFICATION, PT_HEAD_LINEAR, NLABELS, NULL, -1}, 42,
                        NULL, NULL, false};
  if (pt_backbone_load(bb, dir, pt_backbone_parts_for(mc.head.task, mc.head.kind), false, 0.1, 42) !=
      PT_OK)
    return fail("backbone");
  const pt_method *ptv2 = pt_method_find("ptv2");
  char p[16];
  snprintf(p, sizeof p, "%d", PREFIX);
  void *opts = ptv2 ? calloc(1, ptv2->opts_size) : NULL;
  pt_status st = opts ? pt_options_init(ptv2->options, opts) : pt_error_code();
  if (st == PT_OK) /* --pre-seq-len 16; the other options keep their defaults */
    st = pt_option_set_text(pt_option_find_flag(ptv2->options, "pre-seq-len"), opts, p);
  mc.rng = &bb->init_rng;
  if (st == PT_OK) st = pt_model_new(m, bb, ptv2, opts, &mc);
  if (opts) pt_options_free(ptv2->options, opts);
  free(opts);
  if (st != PT_OK) {
    pt_backbone_free(bb);
    return fail("model");
  }
  const pt_bert_config *bc = &bb->bert.cfg;
  int64_t trainable = pt_model_numel(m, true), total = pt_model_numel(m, false);
  printf("  %lld layers x hidden %lld, %lld heads; trainable %lld of %lld parameters (%.2f%%)\n",
         (long long)bc->num_layers, (long long)bc->hidden_size, (long long)bc->num_heads,
         (long long)trainable, (long long)total, 100.0 * (double)trainable / (double)total);
  return 0;
}

/* Steps 6-7: what backward left in the tensors, then one clipped AdamW
 * step on the trainable ones. */
static int check_and_step(const pt_backbone *bb, pt_model *m) {
  pt_tensor *table = pt_model_trainable_find(m, "prefix_encoder.embedding.weight");
  if (!table) return fail("no prefix table");
  int frozen_with_grad = 0;
  const pt_params *lists[3] = {&bb->params, &m->params, &m->head.params};
  for (int l = 0; l < 3; l++)
    for (int i = 0; i < lists[l]->count; i++) {
      pt_tensor *p = lists[l]->items[i];
      if (!pt_requires_grad(p) && p->grad) frozen_with_grad++;
    }
  char s[64];
  printf("  %s %s: |grad| %.6f; frozen tensors with a gradient: %d\n", table->name,
         pt_shape_str(table, s, sizeof s), norm_of(table->grad), frozen_with_grad);
  pt_adamw_opts o = pt_adamw_defaults();
  o.lr = 2e-2;
  pt_optim *opt = pt_adamw_new(&o);
  int64_t no_grad = 0; /* elements dropout zeroed in both rows */
  for (int64_t e = 0; table->grad && e < pt_numel(table->grad); e++)
    no_grad += pt_get(table->grad, e) == 0;
  pt_tensor *before = pt_raw_clone(table);
  double norm = 0;
  pt_status st = opt && before ? PT_OK : pt_error_code();
  for (int i = 0; i < pt_model_ntrainable(m) && st == PT_OK; i++) {
    pt_tensor *t = pt_model_trainable(m, i);
    st = pt_optim_add_param(opt, t, t->name, pt_decay_hf(t->name, NULL));
  }
  if (st == PT_OK) st = pt_optim_clip_grad_norm(opt, 1.0, &norm);
  if (st == PT_OK) st = pt_optim_step(opt);
  if (st == PT_OK) {
    pt_tensor *moved = pt_raw_binary(PT_BIN_SUB, table, before);
    int64_t by_lr = 0; /* Adam's first step: about lr wherever |g| is well above eps */
    for (int64_t e = 0; moved && e < pt_numel(moved); e++)
      by_lr += fabs(pt_get(moved, e)) > 0.95 * o.lr;
    printf("  gradient norm %.6f (clipped to 1.0); the prefix table moved by %.6f\n", norm,
           norm_of(moved));
    printf("  %lld of its %lld elements moved by about lr; %lld had no gradient\n",
           (long long)by_lr, (long long)pt_numel(table), (long long)no_grad);
    pt_tensor_free(moved);
  }
  pt_tensor_free(before);
  pt_optim_free(opt);
  if (st != PT_OK) return fail("adamw");
  return frozen_with_grad || !table->grad ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: ptv2_step MODEL_DIR [LAYER.dot]\n");
    return 2;
  }
  printf("1. text -> token ids (models/tok_wordpiece.c)\n");
  pt_tokenizer *tok = pt_tokenizer_load(argv[1]);
  if (!tok) return fail("tokenizer");
  pt_tensor *ids = NULL, *mask = NULL, *types = NULL, *labels = NULL;
  int rc = make_batch(tok, &ids, &mask, &types, &labels);
  pt_tokenizer_free(tok);
  pt_backbone bb;
  pt_model m;
  printf("2. the model (models/backbone.c, models/bert.c, models/methods/ptv2.c, models/model.c)\n");
  if (rc == 0) rc = make_model(argv[1], &bb, &m);
  if (rc != 0) {
    pt_tensor *t[] = {ids, mask, types, labels};
    for (int i = 0; i < 4; i++) pt_tensor_free(t[i]);
    return rc;
  }
  printf("3-5. forward: prefix, encoder, head, loss\n");
  pt_rng rng;
  pt_rng_init(&rng, 42);
  pt_model_batch batch = {ids, mask, types, labels, NULL, NULL};
  pt_model_outputs out;
  pt_status st = pt_model_forward(&m, &batch, (pt_nn_mode){true, &rng}, true, &out);
  if (st == PT_OK) {
    const pt_bert_config *bc = &bb.bert.cfg;
    char s1[64], s2[64], s3[64];
    printf("  prefix_raw %s -> keys and values of each layer %s\n",
           pt_dims_str(3, PT_SHAPE(B, PREFIX, 2 * bc->num_layers * bc->hidden_size), s1, sizeof s1),
           pt_dims_str(4, PT_SHAPE(B, bc->num_heads, PREFIX, bc->hidden_size / bc->num_heads), s2,
                       sizeof s2));
    printf("  hidden states %s each, logits %s, loss %.6f\n",
           pt_shape_str(out.encoder.last_hidden, s1, sizeof s1),
           pt_shape_str(out.logits, s3, sizeof s3), pt_get(out.loss, 0));
    if (argc > 2) st = pt_graph_write_dot(out.encoder.hidden_states[1], argv[2]);
    if (st == PT_OK && argc > 2) printf("  graph of layer 0's output -> %s\n", argv[2]);
  }
  bool have_out = st == PT_OK || out.loss; /* forward frees its outputs when it fails */
  printf("6. backward (autograd/backward.c)\n");
  if (st == PT_OK) st = pt_backward(out.loss, NULL, false);
  if (have_out) pt_model_outputs_free(&out);
  printf("7. the update (optim/clip.c, optim/adamw.c)\n");
  rc = st == PT_OK ? check_and_step(&bb, &m) : fail("forward/backward");
  pt_model_free(&m);
  pt_backbone_free(&bb);
  pt_tensor *t[] = {ids, mask, types, labels};
  for (int i = 0; i < 4; i++) pt_tensor_free(t[i]);
  return rc;
}
