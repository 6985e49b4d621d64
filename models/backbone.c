/* The backbone PEFT models attach to (see pt_backbone.h). */
#include "models/pt_backbone.h"

#include <string.h>

#include "autograd/pt_autograd.h"
#include "models/pt_hf.h"
#include "models/pt_mlm.h"

pt_backbone_parts pt_backbone_parts_for(pt_task_kind task, pt_head_kind kind) {
  pt_backbone_parts p = {pt_task_uses_pooler(task) && kind == PT_HEAD_LINEAR,
                         kind == PT_HEAD_VERBALIZER};
  return p;
}

pt_status pt_backbone_init(pt_backbone *bb, const pt_bert_config *cfg, pt_backbone_parts parts,
                           uint64_t seed) {
  memset(bb, 0, sizeof *bb);
  bb->parts = parts;
  pt_rng rng;
  pt_rng_init(&rng, seed);
  pt_status st = pt_bert_init(&bb->bert, &bb->params, cfg, parts.pooler, &rng);
  if (st == PT_OK && parts.mlm_head)
    st = pt_mlm_head_init(&bb->params, cfg, &rng, &bb->mlm_transform, &bb->mlm_ln, &bb->mlm_bias);
  bb->init_rng = rng;
  if (st != PT_OK) {
    pt_backbone_free(bb);
    return st;
  }
  pt_params_set_trainable(&bb->params, "", false);
  return PT_OK;
}

pt_status pt_backbone_load(pt_backbone *bb, const char *dir, pt_backbone_parts parts,
                           bool random_weights, double dropout_override, uint64_t seed) {
  pt_bert_config cfg;
  PT_TRY(pt_bert_config_load(dir, &cfg));
  if (dropout_override >= 0) cfg.hidden_dropout = cfg.attention_dropout = dropout_override;
  PT_TRY(pt_backbone_init(bb, &cfg, parts, seed));
  if (random_weights) return PT_OK;
  const char *mlm = cfg.arch == PT_ARCH_ROBERTA ? "lm_head." : "cls.predictions.";
  pt_status st = pt_bert_load_weights(&bb->params, &bb->bert, dir, parts.mlm_head ? mlm : NULL);
  if (st != PT_OK) pt_backbone_free(bb);
  return st;
}

void pt_backbone_free(pt_backbone *bb) {
  pt_bert_free(&bb->bert);
  pt_params_free(&bb->params);
  pt_free_bytes(bb->models);
  memset(bb, 0, sizeof *bb);
}

pt_status pt_backbone_visit_linears(pt_backbone *bb, pt_nn_linear_visit_fn fn, void *ctx) {
  return pt_bert_visit_linears(&bb->bert, fn, ctx);
}

pt_mlm_head_ref pt_backbone_mlm_head(const pt_backbone *bb) {
  pt_mlm_head_ref r = {0};
  if (!bb->parts.mlm_head) return r;
  r.transform = &bb->mlm_transform;
  r.ln = &bb->mlm_ln;
  r.decoder = bb->bert.word.weight;
  r.bias = bb->mlm_bias;
  return r;
}

pt_status pt_backbone_set_dtype(pt_backbone *bb, pt_dtype dt) {
  for (int i = 0; i < bb->params.count; i++) PT_TRY(pt_tensor_convert_inplace(bb->params.items[i], dt));
  return PT_OK;
}

pt_status pt_backbone_set_weight_dtype(pt_backbone *bb, pt_dtype dt) {
  for (int i = 0; i < bb->params.count; i++) {
    const pt_tensor *t = bb->params.items[i];
    if (dt == PT_BF16 && t->ndim == 2 && pt_requires_grad(t))
      return pt_error(PT_ERR_ARG, "backbone dtype bf16: %s trains (fine-tuning, or a method that "
                      "adopts backbone matrices), and ptune trains f32 weights only: use backbone "
                      "dtype f32", t->name);
  }
  return pt_params_store_frozen(&bb->params, "", dt, NULL);
}
