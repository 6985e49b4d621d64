/* Tensor headers, storage, creation, references and inspection. */
#include "tensor/pt_tensor.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Atomic int64_t live_allocations;
static _Atomic int64_t live_bytes;

/* Blocks carry their size in a 64-byte header so the counters can be kept
 * exact and the payload stays 64-byte aligned. */
#define PT_ALIGN 64

static _Atomic int64_t alloc_calls;   /* pt_alloc calls so far */
static _Atomic int64_t alloc_fail_at; /* the call number that fails; 0: none */

void pt_alloc_fail_at(int64_t n) {
  atomic_store(&alloc_fail_at, n > 0 ? atomic_load(&alloc_calls) + n : 0);
}

int64_t pt_alloc_calls(void) { return atomic_load(&alloc_calls); }

void *pt_alloc(size_t nbytes) {
  int64_t call = atomic_fetch_add_explicit(&alloc_calls, 1, memory_order_relaxed) + 1;
  if (call == atomic_load_explicit(&alloc_fail_at, memory_order_relaxed)) {
    pt_error(PT_ERR_NOMEM, "out of memory allocating %zu bytes (injected failure)", nbytes);
    return NULL;
  }
  if (nbytes > SIZE_MAX - 2 * PT_ALIGN) {
    pt_error(PT_ERR_NOMEM, "out of memory: %zu bytes requested", nbytes);
    return NULL;
  }
  size_t total = ((nbytes + PT_ALIGN - 1) / PT_ALIGN) * PT_ALIGN + PT_ALIGN;
  unsigned char *block = aligned_alloc(PT_ALIGN, total);
  if (!block) {
    pt_error(PT_ERR_NOMEM, "out of memory allocating %zu bytes", nbytes);
    return NULL;
  }
  memcpy(block, &nbytes, sizeof nbytes);
  atomic_fetch_add(&live_allocations, 1);
  atomic_fetch_add(&live_bytes, (int64_t)nbytes);
  return block + PT_ALIGN;
}

void pt_free_bytes(void *p) {
  if (!p) return;
  unsigned char *block = (unsigned char *)p - PT_ALIGN;
  size_t nbytes;
  memcpy(&nbytes, block, sizeof nbytes);
  atomic_fetch_sub(&live_allocations, 1);
  atomic_fetch_sub(&live_bytes, (int64_t)nbytes);
  free(block);
}

int64_t pt_live_allocations(void) { return atomic_load(&live_allocations); }
int64_t pt_live_bytes(void) { return atomic_load(&live_bytes); }

size_t pt_dtype_size(pt_dtype dt) {
  switch (dt) {
    case PT_F32: return 4;
    case PT_F64: return 8;
    case PT_I32: return 4;
    case PT_I64: return 8;
    case PT_F16: return 2;
    case PT_BF16: return 2;
    default: return 0;
  }
}

const char *pt_dtype_name(pt_dtype dt) {
  switch (dt) {
    case PT_F32: return "F32";
    case PT_F64: return "F64";
    case PT_I32: return "I32";
    case PT_I64: return "I64";
    case PT_F16: return "F16";
    case PT_BF16: return "BF16";
    default: return "?";
  }
}

bool pt_dtype_is_float(pt_dtype dt) { return dt == PT_F32 || dt == PT_F64; }

/* ---- storage ---- */

/* Storage whose bytes are left as malloc gives them (pt_empty's: zeroing
 * every activation buffer would add a full extra pass over memory). */
static pt_storage *storage_new_uninit(size_t nbytes) {
  pt_storage *st = pt_alloc(sizeof *st);
  if (!st) {
    pt_error(PT_ERR_NOMEM, "out of memory allocating a storage header");
    return NULL;
  }
  st->data = pt_alloc(nbytes ? nbytes : 1);
  if (!st->data) {
    pt_free_bytes(st);
    pt_error(PT_ERR_NOMEM, "out of memory allocating %zu bytes", nbytes);
    return NULL;
  }
  st->nbytes = nbytes;
  st->refcount = 1;
  st->release = NULL;
  st->release_ctx = NULL;
  return st;
}

pt_storage *pt_storage_new(size_t nbytes) {
  pt_storage *st = storage_new_uninit(nbytes);
  if (st) memset(st->data, 0, nbytes);
  return st;
}

pt_storage *pt_storage_wrap(void *data, size_t nbytes, void (*release)(void *),
                            void *release_ctx) {
  pt_storage *st = pt_alloc(sizeof *st);
  if (!st) {
    pt_error(PT_ERR_NOMEM, "out of memory allocating a storage header");
    return NULL;
  }
  st->data = data;
  st->nbytes = nbytes;
  st->refcount = 1;
  st->release = release;
  st->release_ctx = release_ctx;
  return st;
}

void pt_storage_ref(pt_storage *st) {
  if (st) __atomic_add_fetch(&st->refcount, 1, __ATOMIC_RELAXED);
}

void pt_storage_unref(pt_storage *st) {
  if (!st) return;
  if (__atomic_sub_fetch(&st->refcount, 1, __ATOMIC_ACQ_REL) != 0) return;
  if (st->release)
    st->release(st->release_ctx);
  else
    pt_free_bytes(st->data);
  pt_free_bytes(st);
}

/* ---- headers ---- */

static void set_contiguous_strides(pt_tensor *t) {
  int64_t s = 1;
  for (int d = t->ndim - 1; d >= 0; d--) {
    t->strides[d] = s;
    s *= t->shape[d];
  }
}

static pt_status check_dims(int ndim, const int64_t *shape) {
  if (ndim < 0 || ndim > PT_MAX_DIMS)
    return pt_error(PT_ERR_SHAPE, "tensor: %d dimensions (at most %d)", ndim,
                    PT_MAX_DIMS);
  for (int d = 0; d < ndim; d++)
    if (shape[d] < 0)
      return pt_error(PT_ERR_SHAPE, "tensor: negative size %lld in dim %d",
                      (long long)shape[d], d);
  return PT_OK;
}

static pt_tensor *header_new(pt_storage *st, pt_dtype dt, int64_t offset, int ndim,
                             const int64_t *shape, const int64_t *strides) {
  pt_tensor *t = pt_alloc(sizeof *t);
  if (!t) {
    pt_error(PT_ERR_NOMEM, "out of memory allocating a tensor header");
    return NULL;
  }
  memset(t, 0, sizeof *t);
  t->storage = st;
  pt_storage_ref(st);
  t->offset = offset;
  t->ndim = ndim;
  t->dtype = dt;
  t->refcount = 1;
  for (int d = 0; d < ndim; d++) t->shape[d] = shape[d];
  if (strides)
    for (int d = 0; d < ndim; d++) t->strides[d] = strides[d];
  else
    set_contiguous_strides(t);
  return t;
}

pt_tensor *pt_tensor_wrap(pt_storage *st, pt_dtype dt, int64_t offset, int ndim,
                          const int64_t *shape, const int64_t *strides) {
  if (check_dims(ndim, shape) != PT_OK) return NULL;
  return header_new(st, dt, offset, ndim, shape, strides);
}

static int64_t dims_numel(int ndim, const int64_t *shape) {
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) n *= shape[d];
  return n;
}

pt_tensor *pt_empty(pt_dtype dt, int ndim, const int64_t *shape) {
  if (check_dims(ndim, shape) != PT_OK) return NULL;
  if (pt_dtype_size(dt) == 0) {
    pt_error(PT_ERR_DTYPE, "tensor: unknown dtype %d", (int)dt);
    return NULL;
  }
  size_t esz = pt_dtype_size(dt), nbytes = esz;
  for (int d = 0; d < ndim; d++)
    if (__builtin_mul_overflow(nbytes, (size_t)shape[d], &nbytes)) {
      char s[96];
      pt_error(PT_ERR_NOMEM, "tensor: %s %s does not fit in memory",
               pt_dims_str(ndim, shape, s, sizeof s), pt_dtype_name(dt));
      return NULL;
    }
  pt_storage *st = storage_new_uninit(nbytes);
  if (!st) return NULL;
  pt_tensor *t = header_new(st, dt, 0, ndim, shape, NULL);
  pt_storage_unref(st);
  return t;
}

pt_tensor *pt_zeros(pt_dtype dt, int ndim, const int64_t *shape) {
  pt_tensor *t = pt_empty(dt, ndim, shape);
  if (t) memset(t->storage->data, 0, t->storage->nbytes);
  return t;
}

pt_tensor *pt_full(pt_dtype dt, int ndim, const int64_t *shape, double value) {
  pt_tensor *t = pt_empty(dt, ndim, shape);
  if (t && pt_fill(t, value) != PT_OK) {
    pt_tensor_free(t);
    return NULL;
  }
  return t;
}

pt_tensor *pt_ones(pt_dtype dt, int ndim, const int64_t *shape) {
  return pt_full(dt, ndim, shape, 1.0);
}

pt_tensor *pt_scalar(pt_dtype dt, double value) {
  return pt_full(dt, 0, NULL, value);
}

pt_tensor *pt_arange(pt_dtype dt, double start, double stop, double step) {
  if (step == 0 || !isfinite(start) || !isfinite(stop) || !isfinite(step)) {
    pt_error(PT_ERR_ARG, "arange: step must be non-zero and bounds finite");
    return NULL;
  }
  double span = (stop - start) / step;
  int64_t n = span > 0 ? (int64_t)ceil(span) : 0;
  pt_tensor *t = pt_empty(dt, 1, &n);
  if (!t) return NULL;
  for (int64_t i = 0; i < n; i++) pt_set(t, i, start + (double)i * step);
  return t;
}

pt_tensor *pt_from_buffer(pt_dtype dt, int ndim, const int64_t *shape,
                          const void *data) {
  pt_tensor *t = pt_empty(dt, ndim, shape);
  if (!t) return NULL;
  memcpy(pt_data(t), data, (size_t)pt_numel(t) * pt_dtype_size(dt));
  return t;
}

pt_tensor *pt_zeros_like(const pt_tensor *t) {
  return pt_zeros(t->dtype, t->ndim, t->shape);
}

pt_tensor *pt_empty_like(const pt_tensor *t) {
  return pt_empty(t->dtype, t->ndim, t->shape);
}

pt_tensor *pt_tensor_ref(pt_tensor *t) {
  if (t) __atomic_add_fetch(&t->refcount, 1, __ATOMIC_RELAXED);
  return t;
}

void pt_tensor_free(pt_tensor *t) {
  if (!t) return;
  if (__atomic_sub_fetch(&t->refcount, 1, __ATOMIC_ACQ_REL) != 0) return;
  if (t->grad_fn && t->grad_fn_release) t->grad_fn_release(t->grad_fn);
  pt_tensor_free(t->grad);
  pt_storage_unref(t->storage);
  if (t->name) pt_free_bytes(t->name);
  pt_free_bytes(t);
}

pt_status pt_tensor_set_name(pt_tensor *t, const char *name) {
  size_t n = strlen(name);
  char *copy = pt_alloc(n + 1);
  if (!copy) return pt_error(PT_ERR_NOMEM, "out of memory naming a tensor");
  memcpy(copy, name, n + 1);
  if (t->name) pt_free_bytes(t->name);
  t->name = copy;
  return PT_OK;
}

/* ---- inspection ---- */

int64_t pt_numel(const pt_tensor *t) { return dims_numel(t->ndim, t->shape); }

bool pt_is_contiguous(const pt_tensor *t) {
  int64_t s = 1;
  for (int d = t->ndim - 1; d >= 0; d--) {
    if (t->shape[d] != 1 && t->strides[d] != s) return false;
    s *= t->shape[d];
  }
  return true;
}

bool pt_same_shape(const pt_tensor *a, const pt_tensor *b) {
  if (a->ndim != b->ndim) return false;
  for (int d = 0; d < a->ndim; d++)
    if (a->shape[d] != b->shape[d]) return false;
  return true;
}

void *pt_data(const pt_tensor *t) {
  return (char *)t->storage->data + (size_t)t->offset * pt_dtype_size(t->dtype);
}

char *pt_dims_str(int ndim, const int64_t *shape, char *buf, size_t cap) {
  size_t used = 0;
  used += (size_t)snprintf(buf + used, cap - used, "[");
  for (int d = 0; d < ndim && used < cap; d++)
    used += (size_t)snprintf(buf + used, cap - used, d ? ",%lld" : "%lld",
                             (long long)shape[d]);
  if (used < cap) snprintf(buf + used, cap - used, "]");
  return buf;
}

char *pt_shape_str(const pt_tensor *t, char *buf, size_t cap) {
  return pt_dims_str(t->ndim, t->shape, buf, cap);
}

int pt_dim_index(const pt_tensor *t, int dim, const char *op) {
  int n = t->ndim;
  int d = dim < 0 ? dim + n : dim;
  if (d < 0 || d >= n) {
    char s[96];
    pt_error(PT_ERR_ARG, "%s: dim %d out of range for a tensor of shape %s", op,
             dim, pt_shape_str(t, s, sizeof s));
    return -1;
  }
  return d;
}

/* Storage offset (in elements) of the flat row-major index `i`. */
static int64_t flat_to_offset(const pt_tensor *t, int64_t i) {
  int64_t off = t->offset;
  for (int d = t->ndim - 1; d >= 0; d--) {
    int64_t n = t->shape[d];
    off += (i % n) * t->strides[d];
    i /= n;
  }
  return off;
}

double pt_get(const pt_tensor *t, int64_t flat_index) {
  int64_t off = flat_to_offset(t, flat_index);
  const void *base = t->storage->data;
  switch (t->dtype) {
    case PT_F32: return ((const float *)base)[off];
    case PT_F64: return ((const double *)base)[off];
    case PT_I32: return ((const int32_t *)base)[off];
    case PT_I64: return (double)((const int64_t *)base)[off];
    case PT_F16: return pt_f16_to_f32(((const uint16_t *)base)[off]);
    case PT_BF16: return pt_bf16_to_f32(((const uint16_t *)base)[off]);
    default: return 0;
  }
}

void pt_set(pt_tensor *t, int64_t flat_index, double v) {
  int64_t off = flat_to_offset(t, flat_index);
  void *base = t->storage->data;
  switch (t->dtype) {
    case PT_F32: ((float *)base)[off] = (float)v; break;
    case PT_F64: ((double *)base)[off] = v; break;
    case PT_I32: ((int32_t *)base)[off] = (int32_t)v; break;
    case PT_I64: ((int64_t *)base)[off] = (int64_t)v; break;
    case PT_F16: ((uint16_t *)base)[off] = pt_f32_to_f16((float)v); break;
    case PT_BF16: ((uint16_t *)base)[off] = pt_f32_to_bf16((float)v); break;
    default: break;
  }
}

pt_status pt_broadcast_shape(const char *op, int na, const int64_t *sa, int nb,
                             const int64_t *sb, int *nout, int64_t *out) {
  int n = na > nb ? na : nb;
  for (int i = 0; i < n; i++) {
    int64_t da = i < n - na ? 1 : sa[i - (n - na)];
    int64_t db = i < n - nb ? 1 : sb[i - (n - nb)];
    if (da != db && da != 1 && db != 1) {
      char s1[96], s2[96];
      return pt_error(PT_ERR_SHAPE, "%s: shapes %s and %s do not broadcast", op,
                      pt_dims_str(na, sa, s1, sizeof s1),
                      pt_dims_str(nb, sb, s2, sizeof s2));
    }
    out[i] = da == 1 ? db : da;
  }
  *nout = n;
  return PT_OK;
}
