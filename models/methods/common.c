/* Pieces the built-in methods share. */
#include "models/methods/common.h"

#include <math.h>
#include <stdio.h>

#include "autograd/pt_autograd.h"
#include "autograd/pt_ops.h"
#include "autograd/pt_ops_index.h"
#include "autograd/pt_ops_pointwise.h"

pt_status method_linear(pt_model *m, pt_nn_linear *lin, const char *prefix, int64_t in,
                        int64_t out, bool bias, init_kind kind, pt_rng *rng) {
  char name[300];
  snprintf(name, sizeof name, "%s.weight", prefix);
  lin->weight = pt_model_param(m, name, 2, PT_SHAPE(out, in), false);
  lin->bias = NULL;
  lin->hooks = NULL;
  if (!lin->weight) return pt_error_code();
  double bound = 1.0 / sqrt((double)in);
  if (kind == INIT_HF)
    PT_TRY(pt_rng_fill_normal(rng, lin->weight, 0.0, m->bb->bert.cfg.init_std));
  else
    PT_TRY(pt_rng_fill_uniform(rng, lin->weight, -bound, bound));
  if (!bias) return PT_OK;
  snprintf(name, sizeof name, "%s.bias", prefix);
  lin->bias = pt_model_param(m, name, 1, PT_SHAPE(out), false);
  if (!lin->bias) return pt_error_code();
  return kind == INIT_HF ? PT_OK : pt_rng_fill_uniform(rng, lin->bias, -bound, bound);
}

pt_status method_add_scaled(pt_tensor *dst, const pt_tensor *src, double s) {
  if (!pt_same_shape(dst, src)) {
    char s1[96], s2[96];
    return pt_error(PT_ERR_SHAPE, "merge: %s into %s", pt_shape_str(src, s1, sizeof s1),
                    pt_shape_str(dst, s2, sizeof s2));
  }
  for (int64_t i = 0; i < pt_numel(dst); i++) pt_set(dst, i, pt_get(dst, i) + s * pt_get(src, i));
  return PT_OK;
}

void method_name(char *out, size_t cap, const char *prefix, const char *suffix) {
  snprintf(out, cap, "%s.%s", prefix, suffix);
}

pt_tensor *method_embedding(pt_model *m, const char *name, int64_t n, int64_t dim, double std,
                            pt_rng *rng) {
  pt_tensor *w = pt_model_param(m, name, 2, PT_SHAPE(n, dim), false);
  if (w && pt_rng_fill_normal(rng, w, 0.0, std) != PT_OK) return NULL;
  return w;
}

pt_tensor *method_table_rows(pt_tensor *weight) {
  pt_tensor *ids = pt_arange(PT_I64, 0, (double)weight->shape[0], 1);
  pt_tensor *e = ids ? pt_embedding(weight, ids, -1) : NULL;
  pt_tensor_free(ids);
  return e;
}

pt_tensor *method_expand_rows(pt_tensor *table, int64_t rows) {
  pt_tensor *u = pt_unsqueeze(table, 0);
  pt_tensor *x = u ? pt_expand(u, 3, PT_SHAPE(rows, table->shape[0], table->shape[1])) : NULL;
  pt_tensor_free(u);
  return x;
}

pt_status method_prefix_kv(const pt_model *m, pt_tensor *raw, const int64_t *layers, int64_t k,
                           double dropout, pt_prepared *out) {
  const pt_bert_config *bc = &m->bb->bert.cfg;
  int64_t B = raw->shape[0], P = raw->shape[1], NH = bc->num_heads, HD = bc->hidden_size / NH;
  pt_tensor *d = pt_dropout(raw, dropout, out->mode.training, out->mode.rng);
  pt_tensor *c = pt_contiguous(d); /* eval mode keeps the expanded view */
  pt_tensor *v = pt_reshape(c, 5, PT_SHAPE(B, P, 2 * k, NH, HD));
  pt_tensor *p = pt_permute(v, (const int[]){2, 0, 3, 1, 4});
  pt_tensor_free(d);
  pt_tensor_free(c);
  pt_tensor_free(v);
  if (!p) return pt_error_code();
  pt_status st = PT_OK;
  for (int64_t i = 0; i < k && st == PT_OK; i++) {
    pt_tensor *kn = pt_narrow(p, 0, 2 * i, 1), *vn = pt_narrow(p, 0, 2 * i + 1, 1);
    int64_t l = layers[i];
    out->prefix_keys[l] = pt_squeeze(kn, 0);
    out->prefix_values[l] = pt_squeeze(vn, 0);
    pt_tensor_free(kn);
    pt_tensor_free(vn);
    if (!out->prefix_keys[l] || !out->prefix_values[l]) st = pt_error_code();
  }
  pt_tensor_free(p);
  return st;
}
