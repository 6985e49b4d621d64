/* A named list of parameters: what an optimizer updates, what a checkpoint
 * saves, and what `ptune inspect` counts. Names are Hugging Face dotted names
 * (stored in each tensor's ->name). The list holds its own reference to each
 * tensor; pt_params_free drops them. */
#ifndef PT_PARAMS_H
#define PT_PARAMS_H

#include <stdbool.h>

#include "tensor/pt_rng.h"
#include "tensor/pt_tensor.h"

typedef struct {
  pt_tensor **items;
  int count, cap;
} pt_params;

/* Names `t` (copy of name) and appends it with its own reference. Fails on
 * a duplicate name. */
pt_status pt_params_add(pt_params *ps, pt_tensor *t, const char *name);
/* The tensor named `name` (borrowed) or NULL. */
pt_tensor *pt_params_find(const pt_params *ps, const char *name);
void pt_params_free(pt_params *ps);
/* Elements in all parameters, or only those that require grad. */
int64_t pt_params_numel(const pt_params *ps, bool trainable_only);
/* Sets requires_grad on every parameter whose name starts with `prefix`
 * ("" for all). Fails on the first that cannot train (a BF16 matrix:
 * PT_ERR_DTYPE, message naming it); those before it are set. */
pt_status pt_params_set_trainable(pt_params *ps, const char *prefix, bool trainable);
void pt_params_zero_grad(pt_params *ps);
/* Stores every frozen matrix (a 2-D F32/BF16 parameter that does not
 * require grad) whose name starts with `prefix` in dtype dt (F32 or BF16),
 * in place (pt_tensor_convert_inplace: layers keep their pointers). BF16 halves
 * their memory; linear and embedding ops read BF16 weights (frozen only).
 * *converted (may be NULL) counts the tensors changed. On a CPU without
 * bf16 dot products (pt_gemm_bf16_native) it says through pt_warn, in one
 * line, that their products are widened to f32. */
pt_status pt_params_store_frozen(pt_params *ps, const char *prefix, pt_dtype dt, int *converted);

/* ---- Hugging Face initialization (BertPreTrainedModel._init_weights) ---- */
/* N(0, std) into t (F32/F64). */
pt_status pt_init_normal(pt_tensor *t, pt_rng *rng, double std);

#endif
