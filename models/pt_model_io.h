/* Adapter directories of a pt_model, in two layouts, told apart by their
 * adapter_config.json:
 *
 *   ptune's (lossless, resumable): "format": "ptune", the method and every
 *     option under its JSON key, the task, the head, id2label, the encoder's
 *     shape; adapter_model.safetensors holds every tensor that trains under
 *     ptune's names (a prefix MLP or P-tuning's LSTM is kept, so training
 *     can go on; backbone tensors a method trains keep their HF names).
 *     Adapters of ptune's first release (no "format" key; ptv2, prompt or
 *     finetune) are read too (tests/fixtures/legacy_adapters).
 *
 *   peft's (utils/save_and_load.py): "peft_type", "task_type" and peft's
 *     option keys (r, lora_alpha, target_modules, num_virtual_tokens, ...);
 *     adapter_model.safetensors with peft's names: LoRA/IA3
 *     "base_model.model.<module>.lora_A.weight" / ".ia3_l" (trained biases as
 *     peft names them), prompt learning "prompt_embeddings" (the table its
 *     encoder computes: peft keeps no MLP or LSTM), the head through
 *     modules_to_save ("base_model.model.classifier.weight"; prompt learning
 *     "base_model.classifier.weight"). peft keeps no label map: ptune writes
 *     its own under the extra key "ptune" (which recent peft ignores); a peft
 *     adapter without it takes id2label from the base model's config.json,
 *     as transformers does, or the read fails asking for labels.
 *
 * `--save-format both` writes ptune's layout in DIR and peft's in DIR/peft.
 *
 * Ownership: pt_adapter_info is caller-owned (pt_adapter_info_free). Files
 * are written to a temporary name and renamed: a directory with a config
 * always has the weights that config describes. */
#ifndef PT_MODEL_IO_H
#define PT_MODEL_IO_H

#include <stdbool.h>

#include "models/pt_model.h"

typedef enum { PT_LAYOUT_PTUNE = 1, PT_LAYOUT_PEFT = 2, PT_LAYOUT_BOTH = 3 } pt_adapter_layout;

/* "ptune" | "peft" | "both". */
const char *pt_adapter_layout_name(pt_adapter_layout l);
pt_status pt_adapter_layout_parse(const char *s, pt_adapter_layout *out);

/* What an adapter directory says about itself. */
typedef struct {
  pt_adapter_layout layout;   /* detected */
  const pt_method *method;    /* borrowed (the registry's) */
  void *opts;                 /* its options (owned) */
  pt_head_config head;        /* label_words points into `words` */
  int64_t *words;             /* verbalizer label words (owned) or NULL */
  int nlabels;
  char **id2label;            /* [nlabels] (owned) */
  const char *labels_from;    /* where id2label came from (static text) */
  bool has_shape;             /* the encoder's shape is known (ptune's layout) */
  bool legacy;                /* ptune's layout as written before the method table (no
                               * "format" key: pt_adapter_save of ptune's first release):
                               * prompt's P was "pre_seq_len" and its table
                               * "prefix_encoder.weight"; both are read as today's */
  pt_arch arch;
  int64_t hidden_size, num_layers, num_heads;
  char *base_model;           /* peft's base_model_name_or_path (owned) or NULL */
} pt_adapter_info;

/* Reads DIR/adapter_config.json of either layout. model_dir (may be NULL)
 * is the base model, whose config.json supplies id2label for a peft
 * adapter without ptune's labels. */
pt_status pt_adapter_info_read(const char *dir, const char *model_dir, pt_adapter_info *out);
void pt_adapter_info_free(pt_adapter_info *info);
/* PT_ERR_FORMAT naming the adapter when it was made for another encoder. */
pt_status pt_adapter_info_check_base(const pt_adapter_info *info, const pt_bert_config *bc,
                                     const char *dir);

/* PT_ERR_ARG when `layout` includes peft's and the method (or a verbalizer
 * head) has none: what pt_model_save refuses, checked before training. */
pt_status pt_adapter_layout_check(const pt_method *me, pt_head_kind head, pt_adapter_layout layout);
/* The same for a built model, with the method's own refusals that depend on
 * it (ptv2 with --prefix-layers on some layers only has no peft layout). */
pt_status pt_model_layout_check(const pt_model *m, pt_adapter_layout layout);

/* Writes m's adapter into dir (created) in the layout(s) asked for; labels
 * may be NULL ("LABEL_i"); base_model is recorded in peft's config (may be
 * NULL). A method without a peft layout asked for peft's is PT_ERR_ARG. */
pt_status pt_model_save(const pt_model *m, const char *dir, pt_adapter_layout layout, int nlabels,
                        const char *const *id2label, const char *base_model);

/* Builds the model the adapter describes on bb and fills its tensors from
 * the adapter's file (every tensor that trains must be there, and every
 * tensor of the file must fit one). seed initializes what the file then
 * overwrites. */
pt_status pt_model_load(pt_model *m, pt_backbone *bb, const char *dir, const pt_adapter_info *info,
                        uint64_t seed);
/* Fills the model's tensors from an adapter of the same method and options
 * (--init-adapter, checkpoints), in either layout. */
pt_status pt_model_load_tensors(pt_model *m, const char *dir, const pt_adapter_info *info);

/* `ptune merge`: the method folded into the backbone (lora, ia3, bitfit),
 * written with the head as a plain Hugging Face model directory: config.json
 * (model_dir's, with architectures and id2label set), model.safetensors
 * (every backbone tensor and the head, HF names) and model_dir's tokenizer
 * files. The model is merged in place. */
pt_status pt_model_save_merged(pt_model *m, const char *model_dir, const char *out_dir, int nlabels,
                               const char *const *id2label);

#endif
