/* finetune: every tensor of the backbone trains with the head (the
 * baseline every PEFT method is measured against). No options. */
#include "models/methods/common.h"

static const pt_option finetune_options[] = {{0}};

static pt_status finetune_attach(pt_model *m, pt_rng *rng) {
  (void)rng;
  for (int i = 0; i < m->bb->params.count; i++) PT_TRY(pt_model_adopt(m, m->bb->params.items[i]));
  return PT_OK;
}

const pt_method pt_method_finetune = {
    .name = "finetune",
    .summary = "full fine-tuning: every backbone tensor trains (the baseline)",
    .options = finetune_options,
    .opts_size = 0,
    .attach = finetune_attach,
};
