/* Row gathers (embedding) and slice gathers (index_select) with their
 * scatter-add reverses. Ids are read through a contiguous copy, so any id
 * strides work; rows are copied with the weight's own strides. */
#include "tensor/pt_gather.h"

#include <omp.h>
#include <string.h>

#include "tensor/pt_elementwise.h"

/* ids as a contiguous I64/I32 block; *is64 tells which. */
static pt_tensor *ids_block(const pt_tensor *ids, const char *op, bool *is64) {
  if (ids->dtype != PT_I64 && ids->dtype != PT_I32) {
    pt_error(PT_ERR_DTYPE, "%s: ids must be I64 or I32, got %s", op, pt_dtype_name(ids->dtype));
    return NULL;
  }
  *is64 = ids->dtype == PT_I64;
  return pt_raw_contiguous(ids);
}

static inline int64_t id_at(const void *p, bool is64, int64_t i) {
  return is64 ? ((const int64_t *)p)[i] : (int64_t)((const int32_t *)p)[i];
}

pt_status pt_raw_check_ids(const pt_tensor *ids, int64_t limit, const char *op) {
  bool is64 = false;
  pt_tensor *c = ids_block(ids, op, &is64);
  if (!c) return pt_error_code();
  const void *p = pt_data(c);
  int64_t n = pt_numel(c);
  pt_status st = PT_OK;
  for (int64_t i = 0; i < n; i++) {
    int64_t id = id_at(p, is64, i);
    if (id < 0 || id >= limit) {
      char s[96];
      st = pt_error(PT_ERR_ARG, "%s: id %lld at position %lld of ids %s is outside [0, %lld)", op,
                    (long long)id, (long long)i, pt_shape_str(ids, s, sizeof s),
                    (long long)limit);
      break;
    }
  }
  pt_tensor_free(c);
  return st;
}

/* out [N, H] (contiguous) row i = w row ids[i]; w [V, H] with any strides. */
#define GATHER_ROWS(T)                                                                \
  do {                                                                              \
    const T *wp = pt_data(weight);                                                  \
    T *op_ = pt_data(out);                                                          \
    _Pragma("omp parallel for schedule(static) if (N * H > 32768)")                 \
    for (int64_t i = 0; i < N; i++) {                                               \
      const T *src = wp + id_at(idp, is64, i) * s0;                                 \
      T *dst = op_ + i * H;                                                         \
      if (s1 == 1)                                                                  \
        memcpy(dst, src, sizeof(T) * (size_t)H);                                    \
      else                                                                          \
        for (int64_t h = 0; h < H; h++) dst[h] = src[h * s1];                       \
    }                                                                               \
  } while (0)

pt_tensor *pt_raw_embedding(const pt_tensor *weight, const pt_tensor *ids) {
  char s1b[96], s2b[96];
  if (!pt_dtype_is_float(weight->dtype) && weight->dtype != PT_BF16) {
    pt_error(PT_ERR_DTYPE, "embedding: weight must be F32, F64 or BF16, got %s",
             pt_dtype_name(weight->dtype));
    return NULL;
  }
  if (weight->ndim != 2 || ids->ndim + 1 > PT_MAX_DIMS) {
    pt_error(PT_ERR_SHAPE, "embedding: weight %s must be [V, H] (ids %s)",
             pt_shape_str(weight, s1b, sizeof s1b), pt_shape_str(ids, s2b, sizeof s2b));
    return NULL;
  }
  int64_t V = weight->shape[0], H = weight->shape[1];
  if (pt_raw_check_ids(ids, V, "embedding") != PT_OK) return NULL;
  bool is64 = false;
  pt_tensor *c = ids_block(ids, "embedding", &is64);
  if (!c) return NULL;
  int64_t shape[PT_MAX_DIMS];
  memcpy(shape, ids->shape, sizeof(int64_t) * (size_t)ids->ndim);
  shape[ids->ndim] = H;
  /* a bf16 table (a frozen one stored in half the memory) gives F32 rows */
  pt_tensor *out = pt_empty(weight->dtype == PT_BF16 ? PT_F32 : weight->dtype, ids->ndim + 1, shape);
  if (out) {
    const void *idp = pt_data(c);
    int64_t N = pt_numel(c), s0 = weight->strides[0], s1 = weight->strides[1];
    if (weight->dtype == PT_F32)
      GATHER_ROWS(float);
    else if (weight->dtype == PT_F64)
      GATHER_ROWS(double);
    else
      for (int64_t i = 0; i < N; i++) {
        const uint16_t *src = (const uint16_t *)pt_data(weight) + id_at(idp, is64, i) * s0;
        float *dst = (float *)pt_data(out) + i * H;
        if (s1 == 1)
          pt_bf16_to_f32_rows(src, H, 1, H, dst);
        else
          for (int64_t h = 0; h < H; h++) dst[h] = pt_bf16_to_f32(src[h * s1]);
      }
  }
  pt_tensor_free(c);
  return out;
}

/* dw [V, H] (contiguous, zeroed) row ids[i] += g row i, g [N, H] contiguous.
 * Threads own column ranges, so repeated ids never race and the sum order
 * (ids in order) does not depend on the thread count. */
#define SCATTER_ROWS(T)                                                               \
  do {                                                                              \
    const T *gp = pt_data(gc);                                                      \
    T *dp = pt_data(dw);                                                            \
    _Pragma("omp parallel if (N * H > 32768)")                                      \
    {                                                                               \
      int nt = omp_get_num_threads(), t = omp_get_thread_num();                     \
      int64_t h0 = H * t / nt, h1 = H * (t + 1) / nt;                               \
      for (int64_t i = 0; i < N; i++) {                                             \
        int64_t id = id_at(idp, is64, i);                                           \
        if (id == padding_idx) continue;                                            \
        T *dst = dp + id * H;                                                       \
        const T *src = gp + i * H;                                                  \
        for (int64_t h = h0; h < h1; h++) dst[h] += src[h];                         \
      }                                                                             \
    }                                                                               \
  } while (0)

pt_tensor *pt_raw_embedding_backward(const pt_tensor *g, const pt_tensor *ids, int64_t V,
                                     int64_t padding_idx) {
  int64_t H = g->ndim ? g->shape[g->ndim - 1] : 1;
  bool is64 = false;
  pt_tensor *c = ids_block(ids, "embedding", &is64);
  pt_tensor *gc = c ? pt_raw_contiguous(g) : NULL;
  pt_tensor *dw = gc ? pt_zeros(g->dtype, 2, PT_SHAPE(V, H)) : NULL;
  if (dw) {
    const void *idp = pt_data(c);
    int64_t N = pt_numel(c);
    if (g->dtype == PT_F32)
      SCATTER_ROWS(float);
    else
      SCATTER_ROWS(double);
  }
  pt_tensor_free(c);
  pt_tensor_free(gc);
  return dw;
}

pt_tensor *pt_raw_index_select(const pt_tensor *x, int dim, const pt_tensor *index) {
  char s[96];
  int d = pt_dim_index(x, dim, "index_select");
  if (d < 0) return NULL;
  if (index->ndim != 1) {
    pt_error(PT_ERR_SHAPE, "index_select: index must be 1-D, got %s",
             pt_shape_str(index, s, sizeof s));
    return NULL;
  }
  if (pt_raw_check_ids(index, x->shape[d], "index_select") != PT_OK) return NULL;
  bool is64 = false;
  pt_tensor *c = ids_block(index, "index_select", &is64);
  if (!c) return NULL;
  int64_t n = index->shape[0], shape[PT_MAX_DIMS];
  memcpy(shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
  shape[d] = n;
  pt_tensor *out = pt_empty(x->dtype, x->ndim, shape);
  pt_status st = out ? PT_OK : pt_error_code();
  /* One strided slice copy per index: out[.., i, ..] = x[.., index[i], ..]. */
  for (int64_t i = 0; i < n && st == PT_OK; i++) {
    pt_tensor *dst = pt_raw_narrow(out, d, i, 1);
    pt_tensor *src = pt_raw_narrow(x, d, id_at(pt_data(c), is64, i), 1);
    st = dst && src ? pt_copy_into(dst, src) : pt_error_code();
    pt_tensor_free(dst);
    pt_tensor_free(src);
  }
  pt_tensor_free(c);
  if (st != PT_OK) {
    pt_tensor_free(out);
    return NULL;
  }
  return out;
}

pt_tensor *pt_raw_index_add(const pt_tensor *g, int dim, const pt_tensor *index, int ndim,
                            const int64_t *shape) {
  bool is64 = false;
  pt_tensor *c = ids_block(index, "index_select", &is64);
  pt_tensor *z = c ? pt_zeros(g->dtype, ndim, shape) : NULL;
  pt_status st = z ? PT_OK : pt_error_code();
  int64_t n = pt_numel(c ? c : index);
  /* Serial over the index, so repeated entries accumulate in order. */
  for (int64_t i = 0; i < n && st == PT_OK; i++) {
    pt_tensor *dst = pt_raw_narrow(z, dim, id_at(pt_data(c), is64, i), 1);
    pt_tensor *src = pt_raw_narrow(g, dim, i, 1);
    st = dst && src ? pt_raw_axpy_into(dst, 1.0, src) : pt_error_code();
    pt_tensor_free(dst);
    pt_tensor_free(src);
  }
  pt_tensor_free(c);
  if (st != PT_OK) {
    pt_tensor_free(z);
    return NULL;
  }
  return z;
}
