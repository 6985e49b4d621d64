/* Hugging Face model directories: config.json + model.safetensors (or a
 * sharded model.safetensors.index.json), for model_type bert and roberta. */
#ifndef PT_HF_H
#define PT_HF_H

#include "models/pt_bert.h"

/* Reads the encoder config from `dir`/config.json. */
pt_status pt_bert_config_load(const char *dir, pt_bert_config *cfg);

/* Fills the encoder parameters (and head parameters the checkpoint happens
 * to hold, e.g. `classifier.*`) of `ps` from the checkpoint in `dir`.
 * Accepts names with or without the "bert."/"roberta." prefix and the
 * legacy LayerNorm names gamma/beta. Checkpoint tensors that belong to no
 * parameter are reported with pt_warn, except the pretraining heads
 * (`cls.predictions.*`, `cls.seq_relationship.*`, `lm_head.*`) and the
 * pooler, which task models leave behind as a rule, so that the warning
 * means something; encoder
 * parameters, and those whose names start with `also_required` (NULL:
 * none), missing from the checkpoint are an error listing them, except a
 * RoBERTa pooler, which keeps its random init with a warning, as HF does. */
pt_status pt_bert_load_weights(pt_params *ps, const pt_bert *bert, const char *dir,
                               const char *also_required);

#endif
