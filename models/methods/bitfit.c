/* bitfit (Ben Zaken et al. 2022): only the encoder's bias terms train, with
 * the head: every linear's bias (query, key, value, the attention output,
 * the feed-forward layers, the pooler) and every LayerNorm's. The tensors
 * are the backbone's own, so an adapter saves them under their Hugging Face
 * names and merging is copying them into the model. peft has no BitFit. */
#include <string.h>

#include "models/methods/common.h"

static const pt_option bitfit_options[] = {{0}};

/* A bias of the encoder (not of a masked-LM head kept for a verbalizer). */
static bool encoder_bias(const pt_model *m, const char *name) {
  size_t n = strlen(name), pl = strlen(m->bb->bert.prefix);
  return n > 5 && !strcmp(name + n - 5, ".bias") && !strncmp(name, m->bb->bert.prefix, pl) &&
         name[pl] == '.';
}

static pt_status bitfit_attach(pt_model *m, pt_rng *rng) {
  (void)rng;
  for (int i = 0; i < m->bb->params.count; i++) {
    pt_tensor *t = m->bb->params.items[i];
    if (encoder_bias(m, t->name)) PT_TRY(pt_model_adopt(m, t));
  }
  return PT_OK;
}

/* The trained biases are the backbone's: merged already. */
static pt_status bitfit_merge(pt_model *m) {
  (void)m;
  return PT_OK;
}

const pt_method pt_method_bitfit = {
    .name = "bitfit",
    .summary = "BitFit: only the encoder's biases train (linear and LayerNorm)",
    .options = bitfit_options,
    .opts_size = 0,
    .attach = bitfit_attach,
    .merge = bitfit_merge,
};
