/* Mixed batches: rows of several task models (each a method and a head,
 * pt_model.h) that share one backbone, run in one encoder pass.
 *
 * Each group is one model with its own rows, shaped as pt_model_forward
 * takes them (its own sequence length, its own labels). The groups are
 * stacked along the batch and padded to the longest sequence; then
 *   - prefix methods (ptv2, prefix): each group's prefix keys/values are
 *     padded to the longest prefix with masked keys; a layer where a group
 *     has no prefix masks all of that group's prefix keys;
 *   - prompt methods (prompt, p-tuning): each row's text follows its own
 *     prompt (pt_bert_rows), its positions as its method alone gives them;
 *   - weight-side methods (lora, ia3, adapter, any method's linear hooks):
 *     each model's hooks run on its own rows only (the rows are contiguous
 *     per group, so a hook sees a narrowed view and its result replaces
 *     those rows): the low-rank, scaling or bottleneck products run per
 *     group, as S-LoRA and Punica do;
 *   - each group's head reads its own rows.
 * Row for row the results equal pt_model_forward's for each group alone
 * (within float rounding: the masked keys add exact zeros), in inference
 * and in training: the gradient of sum(losses) reaches each model's tensors
 * as its own loss's gradient would. (Dropout draws one stream over the whole
 * batch, so in training with dropout the masks differ from a batch alone.)
 *
 * Models that train the backbone's own tensors (finetune, bitfit, LoRA's
 * bias option) cannot share a backbone, and a merged model has changed
 * it: neither can be in a mixed batch of more than one group.
 *
 * Ownership: groups and their tensors are borrowed; outs[g] is filled for
 * each group (logits, start/end logits, loss; its encoder field stays
 * empty) and released with pt_model_outputs_free. */
#ifndef PT_MIXED_H
#define PT_MIXED_H

#include "models/pt_model.h"

typedef struct {
  pt_model *model;      /* borrowed; each model at most once per batch */
  pt_model_batch batch; /* its rows */
} pt_mixed_group;

/* One encoder pass over every group's rows; outs has n entries. A single
 * group is pt_model_forward. On failure every outs[g] is empty. */
pt_status pt_mixed_forward(const pt_mixed_group *groups, int n, pt_nn_mode mode,
                           pt_model_outputs *outs);

#endif
