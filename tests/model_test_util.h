/* Pieces the model-level suites share: a tiny random encoder's config,
 * method options from command-line text, and noise on a model's trainable
 * tensors. */
#ifndef PT_TESTS_MODEL_TEST_UTIL_H
#define PT_TESTS_MODEL_TEST_UTIL_H

#include <check.h>
#include <stdlib.h>

#include "models/pt_model.h"

/* A 2-layer, 16-wide encoder over 40 ids, without dropout. */
static inline void tiny_config(pt_bert_config *bc, pt_arch arch) {
  pt_bert_config_default(bc, arch);
  bc->vocab_size = 40;
  bc->hidden_size = 16;
  bc->num_layers = 2;
  bc->num_heads = 2;
  bc->intermediate_size = 24;
  bc->max_position = 48;
  bc->hidden_dropout = bc->attention_dropout = 0.0;
}

/* A method's options with `args` (flag, value, ... up to nargs entries or a
 * NULL flag) applied on top of its defaults; free with free_opts. */
static inline void *make_opts_n(const pt_method *me, const char *const *args, int nargs) {
  void *opts = calloc(1, me->opts_size ? me->opts_size : 1);
  ck_assert_int_eq(pt_options_init(me->options, opts), PT_OK);
  for (int i = 0; args && i + 1 < nargs && args[i]; i += 2) {
    const pt_option *o = pt_option_find_flag(me->options, args[i]);
    ck_assert_msg(o != NULL, "%s has no --%s", me->name, args[i]);
    ck_assert_msg(pt_option_set_text(o, opts, args[i + 1]) == PT_OK, "%s", pt_error_message());
  }
  return opts;
}

static inline void free_opts(const pt_method *me, void *opts) {
  pt_options_free(me->options, opts);
  free(opts);
}

/* Uniform noise of width `amplitude` on every trainable tensor, so that no
 * gradient is zero by its start (LoRA's B, IA3's ones) rather than by the
 * model. */
static inline void perturb_trainable(pt_model *m, uint64_t seed, double amplitude) {
  pt_rng rng;
  pt_rng_init(&rng, seed);
  int n = pt_model_ntrainable(m);
  for (int i = 0; i < n; i++) {
    pt_tensor *t = pt_model_trainable(m, i);
    for (int64_t k = 0; k < pt_numel(t); k++)
      pt_set(t, k, pt_get(t, k) + amplitude * (pt_rng_uniform(&rng) - 0.5));
  }
}

/* The whole-model gradient check's function (pt_gradcheck_direction): the
 * model's loss on one batch in eval mode (dropout off); the checked inputs
 * are the model's own trainable tensors, so `in` is not read. */
typedef struct {
  pt_model *m;
  const pt_model_batch *b;
} model_loss_ctx;

static inline pt_tensor *model_loss(pt_tensor *const *in, int n, void *ctx) {
  (void)in;
  (void)n;
  model_loss_ctx *c = ctx;
  pt_model_outputs out;
  if (pt_model_forward(c->m, c->b, (pt_nn_mode){false, NULL}, false, &out) != PT_OK) return NULL;
  pt_tensor *loss = pt_tensor_ref(out.loss);
  pt_model_outputs_free(&out);
  return loss;
}

#endif
