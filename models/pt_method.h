/* PEFT methods as plugins: one definition in one file (models/methods/),
 * registered in one table and walked by a test, like the op table.
 *
 * A method is
 *   - a name ("lora") and a one-line summary;
 *   - one option table that serves the command line and adapter_config.json
 *     alike: for each option its flag (--lora-r), JSON key (r, peft's key
 *     where peft has one), type, default and help; the values live in the
 *     method's own options struct (opts_size bytes, located by offsetof);
 *   - attach: create its tensors (in the model's list, under the names its
 *     adapter files use), decide what trains, install linear hooks;
 *   - optionally prepare: per batch, the prefix keys/values or the prompt
 *     embeddings it feeds the encoder, for any number of rows;
 *   - the positions it takes from the position table (a prefix or a prompt);
 *   - optionally table (the reparameterization's output, for baked exports
 *     and peft's prompt_embeddings) and merge (fold into the backbone's
 *     weights: lora, ia3, bitfit);
 *   - its layout in peft's files (peft_type and tensor names).
 * docs/writing-a-method.md walks through writing one; examples/vera.c
 * defines one outside the library.
 *
 * Options struct rule: the values are laid out by type as
 *   PT_OPT_INT int64_t, PT_OPT_REAL double, PT_OPT_BOOL bool,
 *   PT_OPT_STRING / PT_OPT_CHOICE char * (owned, NULL: unset),
 *   PT_OPT_TARGETS pt_nn_targets (owned).
 * pt_options_* below fill, copy, read, write and free such a struct from
 * its table; a method never frees its strings itself. */
#ifndef PT_METHOD_H
#define PT_METHOD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "models/pt_bert.h"
#include "nn/pt_targets.h"

struct pt_model;

typedef enum {
  PT_OPT_INT = 0,
  PT_OPT_REAL,
  PT_OPT_BOOL,
  PT_OPT_STRING,
  PT_OPT_CHOICE,  /* one of `choices` ("none|all|lora_only") */
  PT_OPT_TARGETS, /* module names or a regular expression (pt_targets.h) */
} pt_option_type;

typedef struct {
  const char *flag;    /* command-line flag without "--" ("lora-r"); NULL: JSON only */
  const char *key;     /* adapter_config.json key ("r") */
  pt_option_type type;
  size_t offset;       /* of the value in the options struct */
  const char *def;     /* default as typed on the command line; NULL: none (unset) */
  const char *choices; /* PT_OPT_CHOICE: the values, '|'-separated */
  const char *help;
  bool peft;           /* the key is peft's (written into peft-layout configs) */
} pt_option;

/* ---- option values (a table ends with an entry whose key is NULL) ---- */

/* Zeroes the struct and sets every default. */
pt_status pt_options_init(const pt_option *table, void *opts);
/* Releases owned strings and targets (the struct itself is the caller's). */
void pt_options_free(const pt_option *table, void *opts);
/* Deep copy of src into dst (dst uninitialized). */
pt_status pt_options_copy(const pt_option *table, void *dst, const void *src);
/* The option of `table` with command-line flag `flag` (no "--"), or NULL. */
const pt_option *pt_option_find_flag(const pt_option *table, const char *flag);
/* Sets one option from command-line text ("8", "true", "query,value");
 * errors name the flag. A bool flag given without a value is "true". */
pt_status pt_option_set_text(const pt_option *o, void *opts, const char *text);
/* Reads every key of the table that `j` holds (others keep their value);
 * a value of the wrong JSON type is an error naming `path` and the key. */
pt_status pt_options_from_json(const pt_option *table, void *opts, const json_t *j,
                               const char *path);
/* Writes every option (peft_only: only those marked peft) into object j. */
pt_status pt_options_to_json(const pt_option *table, const void *opts, json_t *j, bool peft_only);
/* One option as command-line text (owned string, free()); "" when unset. */
char *pt_option_text(const pt_option *o, const void *opts);
/* "--flag TYPE  help (default ...)" lines, one per option with a flag. */
void pt_options_usage(const pt_option *table, FILE *f);

/* ---- what a method's prepare returns, per batch ---- */

typedef struct {
  /* in */
  int64_t rows;               /* encoder rows (multiple choice: B·choices) */
  const pt_tensor *input_ids; /* [rows, S] */
  pt_nn_mode mode;
  /* out (new references; leave NULL what the method does not use) */
  pt_tensor **prefix_keys;    /* [num_layers] entries of [rows, NH, P, HD] or NULL */
  pt_tensor **prefix_values;  /* (the arrays belong to the caller, zeroed) */
  pt_tensor *prompt;          /* [rows, P, H] prepended to the word embeddings */
} pt_prepared;

/* ---- the method ---- */

typedef struct pt_method {
  const char *name;    /* "lora": --method NAME, "method" in adapter_config.json */
  const char *summary; /* one line for `ptune methods` */
  const pt_option *options; /* ends with {0}; may be a lone {0} */
  size_t opts_size;         /* sizeof its options struct */

  /* Checks option values together against the encoder (e.g. r > 0, layers
   * that exist); messages name the flag. Optional. */
  pt_status (*check)(const void *opts, const pt_bert_config *bc);
  /* Positions taken from the position table before the text: a prefix of
   * keys/values or a prompt of P positions. Optional (0). */
  int64_t (*positions)(const void *opts);
  /* The option that sets them ("pre-seq-len"), named in messages. */
  const char *positions_flag;
  /* The positions are a prompt before the text (prepare's `prompt`), so
   * every row of a batch it joins is that much longer; false: a prefix of
   * keys/values, which only the attention sees. */
  bool prompt;
  /* Creates the method's tensors in m->params (pt_model_param), installs
   * its hooks (pt_model_hook) and adopts the backbone tensors it trains
   * (pt_model_adopt). rng initializes its tensors. */
  pt_status (*attach)(struct pt_model *m, pt_rng *rng);
  /* Per batch: fills out's prefix or prompt for out->rows rows. Optional. */
  pt_status (*prepare)(const struct pt_model *m, pt_prepared *out);
  /* The reparameterized table ([P, D], new reference, no graph): what a
   * baked export stores and peft saves as prompt_embeddings. Optional. */
  pt_tensor *(*table)(const struct pt_model *m);
  /* Turns opts into those of the table-only form (projection off, ...),
   * whose one tensor is the embedding the table fills. With table. */
  void (*bake_options)(void *opts);
  /* Folds the method into the backbone's weights (the model's hooks are
   * removed afterwards by pt_model_merge). Optional. */
  pt_status (*merge)(struct pt_model *m);

  /* peft's layout (utils/save_and_load.py); peft_type NULL: none. */
  const char *peft_type; /* "LORA", "IA3", "PREFIX_TUNING", "PROMPT_TUNING", "P_TUNING" */
  /* Prompt learning: the method saves "prompt_embeddings" = table(m) and
   * the head under "base_model.<name>"; otherwise every method tensor is
   * saved as "base_model.model.<name>" and the head likewise. */
  bool peft_prompt_learning;
  /* The method writes another method's peft_type (ptv2 writes
   * PREFIX_TUNING): a peft file is read as this method only when ptune's
   * extra key names it. */
  bool peft_alias;
  /* peft's name of a tensor of the method or an adopted backbone tensor
   * (LoRA's biases: "<module>.base_layer.bias"). Optional. */
  void (*peft_name)(const struct pt_model *m, const char *name, char *out, size_t cap);
  /* peft config keys beyond the option table (num_layers, token_dim,
   * feedforward_modules, ...). Optional. */
  pt_status (*peft_config)(const struct pt_model *m, json_t *cfg);
  /* Reads what a peft config says into opts (keys the option table does
   * not hold under the same name, e.g. ptv2's num_virtual_tokens). Optional. */
  pt_status (*peft_read)(void *opts, const json_t *cfg, const char *path);
} pt_method;

/* ---- the registry ----
 * The built-in methods (models/method_registry.c lists them) and any a
 * program adds with pt_method_register before using them. */

/* Every registered method, built-ins first; *count receives how many. */
const pt_method *const *pt_methods(int *count);
/* The method named `name`, or NULL with a message listing the names. */
const pt_method *pt_method_find(const char *name);
/* Adds a method defined outside the library (borrowed: it must outlive
 * its use). A name already taken, or a method without a name or attach,
 * is PT_ERR_ARG. */
pt_status pt_method_register(const pt_method *m);

#endif
