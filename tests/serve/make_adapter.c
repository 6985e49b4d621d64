/* Test helper for the server test: writes an adapter of a method for a task
 * head on a model, its trainable tensors moved off their start by seeded
 * noise (so LoRA's B and IA3's scales matter), in ptune's layout.
 *
 *   make_adapter MODEL OUT METHOD TASK NLABELS SEED [--flag value ...]
 *
 * TASK is a head (sequence_classification, token_classification,
 * question_answering, multiple_choice); labels are CoNLL04's entity tags
 * for token heads and negative/positive/... for sequence heads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/pt_model.h"
#include "models/pt_model_io.h"
#include "ptune.h"

static const char *const tags[] = {"O",     "B-Peop", "I-Peop",  "B-Loc",  "B-Org",
                                   "I-Org", "I-Loc",  "B-Other", "I-Other"};
static const char *const classes[] = {"negative", "positive", "neutral", "mixed"};

static int fail(const char *what) {
  fprintf(stderr, "make_adapter: %s: %s\n", what, pt_error_message());
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 7 || (argc - 7) % 2) {
    fprintf(stderr, "usage: make_adapter MODEL OUT METHOD TASK NLABELS SEED [--flag value ...]\n");
    return 2;
  }
  pt_warn_set_handler(NULL, NULL); /* the unused MLM head of the checkpoint */
  const pt_method *me = pt_method_find(argv[3]);
  pt_task_kind task;
  if (!me) return fail(argv[3]);
  if (pt_task_parse(argv[4], &task) != PT_OK) return fail(argv[4]);
  int nlabels = atoi(argv[5]);
  if (nlabels > (task == PT_TASK_TOKEN_CLASSIFICATION ? 9 : 4)) return fail("too many labels");
  pt_backbone bb;
  if (pt_backbone_load(&bb, argv[1], pt_backbone_parts_for(task, PT_HEAD_LINEAR), false, -1, 0))
    return fail(argv[1]);
  void *opts = calloc(1, me->opts_size ? me->opts_size : 1);
  pt_status st = pt_options_init(me->options, opts);
  for (int i = 7; st == PT_OK && i < argc; i += 2) {
    const pt_option *o = pt_option_find_flag(me->options, argv[i] + 2);
    st = o ? pt_option_set_text(o, opts, argv[i + 1]) : pt_error(PT_ERR_ARG, "no %s", argv[i]);
  }
  pt_model m;
  pt_model_config mc = {{task, PT_HEAD_LINEAR, nlabels, NULL, -1}, 7, NULL, NULL, false};
  if (st == PT_OK) st = pt_model_new(&m, &bb, me, opts, &mc);
  if (st != PT_OK) return fail(argv[3]);
  pt_rng rng;
  pt_rng_init(&rng, (uint64_t)atoll(argv[6]));
  for (int i = 0; i < pt_model_ntrainable(&m); i++) {
    pt_tensor *t = pt_model_trainable(&m, i);
    for (int64_t k = 0; k < pt_numel(t); k++)
      pt_set(t, k, pt_get(t, k) + 0.2 * (pt_rng_uniform(&rng) - 0.5));
  }
  const char *const *labels = task == PT_TASK_TOKEN_CLASSIFICATION ? tags : classes;
  st = pt_model_save(&m, argv[2], PT_LAYOUT_PTUNE, nlabels, labels, argv[1]);
  pt_model_free(&m);
  pt_options_free(me->options, opts);
  free(opts);
  pt_backbone_free(&bb);
  return st == PT_OK ? 0 : fail(argv[2]);
}
