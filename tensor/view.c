/* Views that share storage (reshape, permute, narrow, expand, squeeze) and
 * the copies that make data contiguous or change its dtype. */
#include <string.h>

#include "tensor/pt_tensor.h"

#define PT_COPY_PAR_MIN 65536 /* elements: below, the fork/join costs more than it saves */

static pt_tensor *same_storage(const pt_tensor *t, int64_t offset, int ndim,
                               const int64_t *shape, const int64_t *strides) {
  pt_tensor *v = pt_tensor_wrap(t->storage, t->dtype, offset, ndim, shape, strides);
  if (v) v->flags = t->flags & PT_READONLY;
  return v;
}

pt_tensor *pt_raw_alias(const pt_tensor *t) {
  return same_storage(t, t->offset, t->ndim, t->shape, t->strides);
}

/* Reshape: infers one -1 dim and shares t's storage when the source strides
 * allow it (always for contiguous data). Otherwise copies t when may_copy,
 * or fails with PT_ERR_SHAPE. */
static pt_tensor *view_or_copy(const pt_tensor *t, int ndim, const int64_t *shape_in,
                               bool may_copy) {
  char s1[96], s2[96];
  if (ndim < 0 || ndim > PT_MAX_DIMS) {
    pt_error(PT_ERR_SHAPE, "view: %d dimensions", ndim);
    return NULL;
  }
  int64_t shape[PT_MAX_DIMS];
  int infer = -1;
  int64_t known = 1;
  for (int d = 0; d < ndim; d++) {
    shape[d] = shape_in[d];
    if (shape[d] == -1) {
      if (infer >= 0) {
        pt_error(PT_ERR_SHAPE, "view: more than one -1 in %s",
                 pt_dims_str(ndim, shape_in, s1, sizeof s1));
        return NULL;
      }
      infer = d;
    } else if (shape[d] < 0) {
      pt_error(PT_ERR_SHAPE, "view: negative size in %s",
               pt_dims_str(ndim, shape_in, s1, sizeof s1));
      return NULL;
    } else {
      known *= shape[d];
    }
  }
  int64_t n = pt_numel(t);
  if (infer >= 0) {
    if (known == 0 || n % known != 0) {
      pt_error(PT_ERR_SHAPE, "view: cannot view %s as %s", pt_shape_str(t, s1, sizeof s1),
               pt_dims_str(ndim, shape_in, s2, sizeof s2));
      return NULL;
    }
    shape[infer] = n / known;
    known *= shape[infer];
  }
  if (known != n) {
    pt_error(PT_ERR_SHAPE, "view: cannot view %s (%lld elements) as %s",
             pt_shape_str(t, s1, sizeof s1), (long long)n,
             pt_dims_str(ndim, shape, s2, sizeof s2));
    return NULL;
  }
  /* Stride computation as in PyTorch's computeStride: walk chunks of source
   * dims that are mutually contiguous and split them into target dims. */
  int64_t strides[PT_MAX_DIMS];
  if (n == 0) {
    int64_t s = 1;
    for (int d = ndim - 1; d >= 0; d--) {
      strides[d] = s;
      s *= shape[d] ? shape[d] : 1;
    }
    return same_storage(t, t->offset, ndim, shape, strides);
  }
  int view_d = ndim - 1;
  int64_t chunk_base_stride = t->ndim ? t->strides[t->ndim - 1] : 1;
  int64_t tensor_numel = 1, view_numel = 1;
  for (int td = t->ndim - 1; td >= 0; td--) {
    tensor_numel *= t->shape[td];
    if (td == 0 || (t->shape[td - 1] != 1 &&
                    t->strides[td - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        strides[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        view_d--;
      }
      if (view_numel != tensor_numel && may_copy) {
        pt_tensor *c = pt_raw_clone(t);
        pt_tensor *v = c ? view_or_copy(c, ndim, shape, false) : NULL;
        pt_tensor_free(c);
        return v;
      }
      if (view_numel != tensor_numel) {
        pt_error(PT_ERR_SHAPE,
                 "view: %s is not contiguous enough to view as %s (make it contiguous first)",
                 pt_shape_str(t, s1, sizeof s1), pt_dims_str(ndim, shape, s2, sizeof s2));
        return NULL;
      }
      if (td > 0) {
        chunk_base_stride = t->strides[td - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  while (view_d >= 0) { /* leading size-1 dims */
    strides[view_d] = view_numel * chunk_base_stride;
    view_d--;
  }
  return same_storage(t, t->offset, ndim, shape, strides);
}

pt_tensor *pt_raw_view(const pt_tensor *t, int ndim, const int64_t *shape) {
  return view_or_copy(t, ndim, shape, false);
}

pt_tensor *pt_raw_reshape(const pt_tensor *t, int ndim, const int64_t *shape) {
  return view_or_copy(t, ndim, shape, true);
}

pt_tensor *pt_raw_permute(const pt_tensor *t, const int *perm) {
  int64_t shape[PT_MAX_DIMS], strides[PT_MAX_DIMS];
  bool seen[PT_MAX_DIMS] = {false};
  for (int d = 0; d < t->ndim; d++) {
    int p = perm[d] < 0 ? perm[d] + t->ndim : perm[d];
    if (p < 0 || p >= t->ndim || seen[p]) {
      char s[96];
      pt_error(PT_ERR_ARG, "permute: invalid permutation for a tensor of shape %s",
               pt_shape_str(t, s, sizeof s));
      return NULL;
    }
    seen[p] = true;
    shape[d] = t->shape[p];
    strides[d] = t->strides[p];
  }
  return same_storage(t, t->offset, t->ndim, shape, strides);
}

pt_tensor *pt_raw_transpose(const pt_tensor *t, int d0, int d1) {
  int a = pt_dim_index(t, d0, "transpose"), b = pt_dim_index(t, d1, "transpose");
  if (a < 0 || b < 0) return NULL;
  int perm[PT_MAX_DIMS];
  for (int d = 0; d < t->ndim; d++) perm[d] = d;
  perm[a] = b;
  perm[b] = a;
  return pt_raw_permute(t, perm);
}

pt_tensor *pt_raw_narrow(const pt_tensor *t, int dim, int64_t start, int64_t len) {
  int d = pt_dim_index(t, dim, "narrow");
  if (d < 0) return NULL;
  if (start < 0 || len < 0 || start + len > t->shape[d]) {
    char s[96];
    pt_error(PT_ERR_ARG, "narrow: range [%lld, %lld) outside dim %d of %s",
             (long long)start, (long long)(start + len), dim,
             pt_shape_str(t, s, sizeof s));
    return NULL;
  }
  int64_t shape[PT_MAX_DIMS];
  memcpy(shape, t->shape, sizeof shape);
  shape[d] = len;
  return same_storage(t, t->offset + start * t->strides[d], t->ndim, shape, t->strides);
}

pt_tensor *pt_raw_expand(const pt_tensor *t, int ndim, const int64_t *shape) {
  char s1[96], s2[96];
  if (ndim < t->ndim || ndim > PT_MAX_DIMS) {
    pt_error(PT_ERR_SHAPE, "expand: cannot expand %s to %s", pt_shape_str(t, s1, sizeof s1),
             pt_dims_str(ndim, shape, s2, sizeof s2));
    return NULL;
  }
  int64_t out_shape[PT_MAX_DIMS], strides[PT_MAX_DIMS];
  int lead = ndim - t->ndim;
  for (int d = 0; d < ndim; d++) {
    int64_t want = shape[d];
    if (d < lead) {
      if (want < 0) goto bad;
      out_shape[d] = want;
      strides[d] = 0;
      continue;
    }
    int64_t have = t->shape[d - lead];
    if (want == -1) want = have;
    if (have == want) {
      out_shape[d] = have;
      strides[d] = t->strides[d - lead];
    } else if (have == 1) {
      out_shape[d] = want;
      strides[d] = 0;
    } else {
      goto bad;
    }
  }
  return same_storage(t, t->offset, ndim, out_shape, strides);
bad:
  pt_error(PT_ERR_SHAPE, "expand: cannot expand %s to %s", pt_shape_str(t, s1, sizeof s1),
           pt_dims_str(ndim, shape, s2, sizeof s2));
  return NULL;
}

pt_tensor *pt_raw_unsqueeze(const pt_tensor *t, int dim) {
  int d = dim < 0 ? dim + t->ndim + 1 : dim;
  if (d < 0 || d > t->ndim || t->ndim >= PT_MAX_DIMS) {
    char s[96];
    pt_error(PT_ERR_ARG, "unsqueeze: dim %d invalid for shape %s", dim,
             pt_shape_str(t, s, sizeof s));
    return NULL;
  }
  int64_t shape[PT_MAX_DIMS], strides[PT_MAX_DIMS];
  for (int i = 0, j = 0; i <= t->ndim; i++) {
    if (i == d) {
      shape[i] = 1;
      strides[i] = j < t->ndim ? t->strides[j] * t->shape[j] : 1;
    } else {
      shape[i] = t->shape[j];
      strides[i] = t->strides[j];
      j++;
    }
  }
  return same_storage(t, t->offset, t->ndim + 1, shape, strides);
}

pt_tensor *pt_raw_squeeze(const pt_tensor *t, int dim) {
  int d = pt_dim_index(t, dim, "squeeze");
  if (d < 0) return NULL;
  if (t->shape[d] != 1) {
    char s[96];
    pt_error(PT_ERR_SHAPE, "squeeze: dim %d of %s is not 1", dim, pt_shape_str(t, s, sizeof s));
    return NULL;
  }
  int64_t shape[PT_MAX_DIMS], strides[PT_MAX_DIMS];
  for (int i = 0, j = 0; i < t->ndim; i++) {
    if (i == d) continue;
    shape[j] = t->shape[i];
    strides[j] = t->strides[i];
    j++;
  }
  return same_storage(t, t->offset, t->ndim - 1, shape, strides);
}

/* ---- copies ---- */

/* Visits every element of `dst` in row-major order with the matching element
 * of `src` (same shape); contiguous same-dtype pairs take one memcpy. */
pt_status pt_copy_into(pt_tensor *dst, const pt_tensor *src) {
  if (!pt_same_shape(dst, src)) {
    char s1[96], s2[96];
    return pt_error(PT_ERR_SHAPE, "copy: shapes %s and %s differ",
                    pt_shape_str(dst, s1, sizeof s1), pt_shape_str(src, s2, sizeof s2));
  }
  int64_t n = pt_numel(dst);
  if (dst->dtype == src->dtype && pt_is_contiguous(dst) && pt_is_contiguous(src)) {
    memmove(pt_data(dst), pt_data(src), (size_t)n * pt_dtype_size(dst->dtype));
    return PT_OK;
  }
  if (pt_is_contiguous(dst) && pt_is_contiguous(src) && src->dtype == PT_F32 &&
      dst->dtype == PT_BF16) {
    pt_f32_to_bf16_rows(pt_data(src), n, 1, n, pt_data(dst));
    return PT_OK;
  }
  if (pt_is_contiguous(dst) && pt_is_contiguous(src) && src->dtype == PT_BF16 &&
      dst->dtype == PT_F32) {
    pt_bf16_to_f32_rows(pt_data(src), n, 1, n, pt_data(dst));
    return PT_OK;
  }
  if (dst->dtype == PT_F32 && src->dtype == PT_F32) {
    /* Strided float copy, one innermost row at a time; rows contiguous on
     * both sides (a bias broadcast into a linear output, a permuted
     * activation made contiguous) are one memmove each. Large copies split
     * their rows across the OpenMP threads: the destination is usually a
     * fresh, cache-cold buffer (a linear's output), and a serial copy there
     * left the other core spinning idle (perf: 55 ms of a 758 ms BERT-base
     * inference batch). */
    int nd = dst->ndim;
    float *d = dst->storage->data;
    const float *s = src->storage->data;
    int64_t inner = nd ? dst->shape[nd - 1] : 1;
    int64_t isd = nd ? dst->strides[nd - 1] : 1, iss = nd ? src->strides[nd - 1] : 1;
    int64_t rows = inner ? n / inner : 0;
#pragma omp parallel for schedule(static) if (n >= PT_COPY_PAR_MIN && rows > 1)
    for (int64_t r = 0; r < rows; r++) {
      int64_t od = dst->offset, os = src->offset, rem = r;
      for (int ax = nd - 2; ax >= 0; ax--) {
        int64_t i = rem % dst->shape[ax];
        rem /= dst->shape[ax];
        od += i * dst->strides[ax];
        os += i * src->strides[ax];
      }
      if (isd == 1 && iss == 1)
        memmove(d + od, s + os, (size_t)inner * sizeof(float));
      else
        for (int64_t k = 0; k < inner; k++) d[od + k * isd] = s[os + k * iss];
    }
    return PT_OK;
  }
  for (int64_t i = 0; i < n; i++) pt_set(dst, i, pt_get(src, i));
  return PT_OK;
}

pt_tensor *pt_raw_clone(const pt_tensor *t) {
  pt_tensor *c = pt_empty_like(t);
  if (!c) return NULL;
  pt_copy_into(c, t);
  return c;
}

pt_tensor *pt_raw_contiguous(const pt_tensor *t) {
  if (pt_is_contiguous(t)) return pt_tensor_ref((pt_tensor *)t);
  return pt_raw_clone(t);
}

pt_tensor *pt_to_dtype(const pt_tensor *t, pt_dtype dt) {
  pt_tensor *c = pt_empty(dt, t->ndim, t->shape);
  if (!c) return NULL;
  pt_copy_into(c, t);
  return c;
}

pt_status pt_tensor_convert_inplace(pt_tensor *t, pt_dtype dt) {
  if (t->grad || t->grad_fn)
    return pt_error(PT_ERR_STATE, "convert %s: the tensor has a gradient or a history",
                    t->name ? t->name : "tensor");
  if (t->dtype == dt && pt_is_contiguous(t)) return PT_OK;
  pt_tensor *c = pt_to_dtype(t, dt);
  if (!c) return pt_error_code();
  pt_storage_ref(c->storage);
  pt_storage_unref(t->storage);
  t->storage = c->storage;
  t->offset = 0;
  t->dtype = dt;
  memcpy(t->strides, c->strides, sizeof t->strides);
  pt_tensor_free(c);
  return PT_OK;
}

pt_status pt_fill(pt_tensor *t, double value) {
  int64_t n = pt_numel(t);
  if (pt_is_contiguous(t) && t->dtype == PT_F32) {
    float *p = pt_data(t);
    for (int64_t i = 0; i < n; i++) p[i] = (float)value;
  } else if (pt_is_contiguous(t) && t->dtype == PT_F64) {
    double *p = pt_data(t);
    for (int64_t i = 0; i < n; i++) p[i] = value;
  } else {
    for (int64_t i = 0; i < n; i++) pt_set(t, i, value);
  }
  return PT_OK;
}
