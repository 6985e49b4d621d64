/* Pieces the built-in methods share (internal to models/methods/ and the
 * registry in models/method_registry.c). */
#ifndef PT_METHODS_COMMON_H
#define PT_METHODS_COMMON_H

#include "models/pt_model.h"

/* The built-in methods, one per file here; method_registry.c lists them. */
extern const pt_method pt_method_ptv2;
extern const pt_method pt_method_prefix;
extern const pt_method pt_method_prompt;
extern const pt_method pt_method_p_tuning;
extern const pt_method pt_method_lora;
extern const pt_method pt_method_ia3;
extern const pt_method pt_method_bitfit;
extern const pt_method pt_method_adapter;
extern const pt_method pt_method_finetune;

/* How a method's linear layers start. */
typedef enum {
  INIT_HF,    /* weight N(0, init_std), bias 0 (BertPreTrainedModel._init_weights) */
  INIT_TORCH  /* torch.nn.Linear's default: weight and bias U(±1/√in) */
} init_kind;

/* Creates "<prefix>.weight" [out, in] (and "<prefix>.bias" [out]) as
 * trainable tensors of the method, initialized as `kind` says, into *lin. */
pt_status method_linear(pt_model *m, pt_nn_linear *lin, const char *prefix, int64_t in,
                        int64_t out, bool bias, init_kind kind, pt_rng *rng);
/* Creates the trainable embedding "<name>" [n, dim], N(0, std). */
pt_tensor *method_embedding(pt_model *m, const char *name, int64_t n, int64_t dim, double std,
                            pt_rng *rng);

/* All rows of a [P, D] embedding table: weight[0..P) (new reference). */
pt_tensor *method_table_rows(pt_tensor *weight);
/* A [P, D] tensor repeated for `rows` batch rows: an expanded [rows, P, D]
 * view (new reference). */
pt_tensor *method_expand_rows(pt_tensor *table, int64_t rows);

/* THUDM's and peft's prefix layout: raw [rows, P, 2·k·H] viewed as
 * (rows, P, 2k, NH, HD), dropout p, permuted to (2k, rows, NH, P, HD);
 * the i-th of the k layers `layers` gets keys [2i] and values [2i+1] in
 * out->prefix_keys / prefix_values. */
pt_status method_prefix_kv(const pt_model *m, pt_tensor *raw, const int64_t *layers, int64_t k,
                           double dropout, pt_prepared *out);

/* dst += s·src elementwise (same shape; no graph): merging into weights. */
pt_status method_add_scaled(pt_tensor *dst, const pt_tensor *src, double s);

/* "<prefix>.<suffix>" into out. */
void method_name(char *out, size_t cap, const char *prefix, const char *suffix);

#endif
