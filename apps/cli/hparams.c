/* `ptune train --hparams NAME`: the hyperparameters of THUDM/P-tuning-v2's
 * run scripts (run_script/run_<data set>_<model>.sh, commit 2873f47): batch
 * size, learning rate, hidden dropout (attention dropout stays the model's),
 * prefix length and projection (for --method ptv2, the default), epochs,
 * max_seq_length, seed, and the schedule its trainer uses (ExponentialLR
 * x0.95 per epoch for ner, srl and qa; HF's linear decay otherwise). BERT scripts (bert-large) where THUDM has them, RoBERTa
 * (roberta-large) for conll03, conll05 and squad. Options given on the
 * command line override the preset. */
#include <stdio.h>
#include <string.h>

#include "apps/cli/options.h"

typedef struct {
  const char *name;
  int64_t bs;
  double lr, dropout;
  int64_t psl, epochs, max_seq_len;
  uint64_t seed;
  bool projection, exp_schedule;
} hparams;

static const hparams table[] = {
    {"boolq", 32, 5e-3, 0.1, 40, 100, 128, 11, false, false},
    {"copa", 16, 1e-2, 0.1, 16, 80, 128, 44, false, false},
    {"rte", 32, 1e-2, 0.1, 20, 60, 128, 11, false, false},
    {"wic", 16, 1e-4, 0.1, 20, 80, 128, 44, true, false},
    {"wsc", 16, 5e-3, 0.1, 20, 80, 128, 44, false, false},
    {"conll03", 16, 3e-2, 0.1, 11, 30, 152, 11, false, true},
    {"conll04", 32, 2e-2, 0.2, 128, 40, 128, 11, false, true},
    {"conll05", 16, 6e-3, 0.1, 224, 15, 128, 11, false, true},
    {"squad", 8, 5e-3, 0.2, 16, 30, 384, 11, false, true},
};

pt_status hparams_apply(const char *name, run_args *a) {
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    const hparams *h = &table[i];
    if (strcmp(name, h->name)) continue;
    a->batch_size = h->bs;
    a->lr = h->lr;
    a->dropout = h->dropout;
    a->dropout_hidden_only = true; /* applies: the hidden dropout only */
    a->epochs = h->epochs;
    a->task_options.max_seq_len = h->max_seq_len;
    option_mark_given(a, "--max-seq-len"); /* a preset's length does not shrink to fit */
    a->seed = h->seed;
    if (a->method && !strcmp(a->method->name, "ptv2")) { /* the prefix is P-Tuning v2's */
      char psl[32];
      snprintf(psl, sizeof psl, "%lld", (long long)h->psl);
      PT_TRY(run_args_method_option(a, "pre-seq-len", psl));
      PT_TRY(run_args_method_option(a, "prefix-projection", h->projection ? "true" : "false"));
    }
    a->optimizer = PT_OPTIM_ADAMW;
    a->weight_decay = 0;
    a->schedule = h->exp_schedule ? PT_SCHED_EXPONENTIAL : PT_SCHED_LINEAR;
    a->gamma = 0.95;
    return PT_OK;
  }
  return pt_error(PT_ERR_ARG,
                  "--hparams: unknown preset '%s' (boolq, copa, rte, wic, wsc, conll03, conll04, "
                  "conll05, squad)",
                  name);
}
