/* Adapter checkpoints: a directory holding only what a PEFT method trains.
 *
 *   adapter_config.json        method, pre_seq_len, prefix_projection,
 *                              prefix_hidden_size, task, id2label, and the
 *                              base model's model_type, hidden_size,
 *                              num_hidden_layers, num_attention_heads
 *   adapter_model.safetensors  the trainable tensors under THUDM's state-dict
 *                              names (prefix_encoder.embedding.weight,
 *                              prefix_encoder.trans.{0,2}.{weight,bias},
 *                              classifier.* or qa_outputs.*), the MLP kept
 *
 * A "baked" export replaces the reparameterization MLP by the table it
 * computes (P × 2·L·H), stored as a projection-free prefix: inference needs
 * no MLP, and the result is the same model. Files are written to a temp name
 * and renamed, so a reader never sees half a checkpoint. */
#ifndef PT_ADAPTER_H
#define PT_ADAPTER_H

#include "models/pt_ptv2.h"

typedef struct {
  pt_ptv2_config cfg;
  pt_arch arch;
  int64_t hidden_size, num_layers, num_heads;
  int nlabels;
  char **id2label; /* [nlabels], owned */
  bool baked;
} pt_adapter_config;

pt_status pt_adapter_config_read(const char *dir, pt_adapter_config *out);
void pt_adapter_config_free(pt_adapter_config *c);
/* PT_ERR_FORMAT naming the adapter directory when it was made for another
 * encoder shape. */
pt_status pt_adapter_check_base(const pt_adapter_config *c, const pt_bert_config *base,
                                const char *dir);

/* Writes the adapter of `m` (its trainable tensors) into `dir` (created if
 * needed). id2label may be NULL (labels become "LABEL_i"). */
pt_status pt_adapter_save(const pt_ptv2_model *m, const char *dir, int nlabels,
                          const char *const *id2label);
/* The same with the prefix MLP folded into its output table. */
pt_status pt_adapter_export_baked(const pt_ptv2_model *m, const char *dir, int nlabels,
                                  const char *const *id2label);

/* Fills the model's trainable tensors from `dir`/adapter_model.safetensors:
 * every tensor must match a parameter of the model (by name and shape) and
 * every adapter parameter of the method must be present. */
pt_status pt_adapter_load_weights(pt_ptv2_model *m, const char *dir);

/* Everything at once: the base model from `model_dir` with the adapter's
 * config, then the adapter's weights. On success *cfg_out (if not NULL)
 * receives the adapter config (caller frees). */
pt_status pt_adapter_load_model(pt_ptv2_model *m, const char *model_dir, const char *adapter_dir,
                                pt_adapter_config *cfg_out);

#endif
