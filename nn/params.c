/* The named parameter list. */
#include "nn/pt_params.h"

#include <string.h>

#include "autograd/pt_autograd.h"
#include "tensor/pt_heap.h"
#include "tensor/pt_matmul.h"

pt_status pt_params_add(pt_params *ps, pt_tensor *t, const char *name) {
  if (pt_params_find(ps, name)) return pt_error(PT_ERR_ARG, "parameter '%s' registered twice", name);
  if (ps->count == ps->cap) {
    int cap = ps->cap ? ps->cap * 2 : 64;
    pt_tensor **items = pt_alloc(sizeof(pt_tensor *) * (size_t)cap);
    if (!items) return pt_error(PT_ERR_NOMEM, "out of memory registering '%s'", name);
    if (ps->items) {
      memcpy(items, ps->items, sizeof(pt_tensor *) * (size_t)ps->count);
      pt_free_bytes(ps->items);
    }
    ps->items = items;
    ps->cap = cap;
  }
  PT_TRY(pt_tensor_set_name(t, name));
  t->flags |= PT_PARAM;
  ps->items[ps->count++] = pt_tensor_ref(t);
  return PT_OK;
}

pt_tensor *pt_params_find(const pt_params *ps, const char *name) {
  for (int i = 0; i < ps->count; i++)
    if (ps->items[i]->name && !strcmp(ps->items[i]->name, name)) return ps->items[i];
  return NULL;
}

void pt_params_free(pt_params *ps) {
  for (int i = 0; i < ps->count; i++) pt_tensor_free(ps->items[i]);
  pt_free_bytes(ps->items);
  memset(ps, 0, sizeof *ps);
}

int64_t pt_params_numel(const pt_params *ps, bool trainable_only) {
  int64_t n = 0;
  for (int i = 0; i < ps->count; i++)
    if (!trainable_only || pt_requires_grad(ps->items[i])) n += pt_numel(ps->items[i]);
  return n;
}

pt_status pt_params_set_trainable(pt_params *ps, const char *prefix, bool trainable) {
  size_t n = strlen(prefix);
  for (int i = 0; i < ps->count; i++)
    if (!strncmp(ps->items[i]->name, prefix, n) &&
        pt_set_requires_grad(ps->items[i], trainable) != PT_OK)
      return pt_error_context(pt_error_code(), "%s", ps->items[i]->name);
  return PT_OK;
}

pt_status pt_params_store_frozen(pt_params *ps, const char *prefix, pt_dtype dt, int *converted) {
  if (dt != PT_F32 && dt != PT_BF16)
    return pt_error(PT_ERR_DTYPE, "frozen weights are stored as F32 or BF16, not %s",
                    pt_dtype_name(dt));
  size_t n = strlen(prefix);
  int count = 0;
  for (int i = 0; i < ps->count; i++) {
    pt_tensor *p = ps->items[i];
    bool matrix = p->ndim == 2 && (p->dtype == PT_F32 || p->dtype == PT_BF16);
    if (!matrix || p->dtype == dt || pt_requires_grad(p) || strncmp(p->name, prefix, n)) continue;
    PT_TRY(pt_tensor_convert_inplace(p, dt));
    count++;
  }
  if (count) pt_heap_release_free(); /* the f32 copies' pages */
  if (count && dt == PT_BF16 && !pt_gemm_bf16_native())
    pt_warn("bf16 weights: this CPU has no bf16 dot products (oneDNN ISA %s), so they are widened "
            "to f32 for each product: half the memory, f32 speed at best", pt_gemm_isa());
  if (converted) *converted = count;
  return PT_OK;
}

void pt_params_zero_grad(pt_params *ps) {
  for (int i = 0; i < ps->count; i++) pt_zero_grad(ps->items[i]);
}

pt_status pt_init_normal(pt_tensor *t, pt_rng *rng, double std) {
  return pt_rng_fill_normal(rng, t, 0.0, std);
}
