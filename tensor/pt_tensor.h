/* Tensors: refcounted storage + offset + shape + strides + dtype.
 *
 * Shape letters used across ptune: B batch, S sequence, P prefix length,
 * H hidden, NH heads, HD head dim, L layers, I intermediate, V vocab,
 * C classes.
 *
 * Ownership, stated once for the whole library:
 *   - every function that returns a pt_tensor* returns a NEW reference that
 *     the caller owns and drops with pt_tensor_free() (NULL is a no-op);
 *   - tensor arguments are borrowed: the callee takes its own reference if it
 *     keeps one;
 *   - a NULL return means failure, with the reason in pt_error_message()
 *     (tensor/pt_status.h says how the record stays the failure's own).
 *     Ops given a NULL input return NULL without overwriting the message, so a
 *     chain of ops can be checked once at its end.
 *
 * Strides are in elements. Views (reshape of contiguous data, permute,
 * narrow, expand, squeeze, unsqueeze) share storage and copy nothing. */
#ifndef PT_TENSOR_H
#define PT_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor/pt_status.h"

#define PT_MAX_DIMS 8

typedef enum {
  PT_F32 = 0,
  PT_F64,
  PT_I32,
  PT_I64,
  PT_F16,  /* storage only: readable and convertible to F32 */
  PT_BF16, /* storage only: readable and convertible to F32 */
  PT_DTYPE_COUNT
} pt_dtype;

/* Bytes per element; name as in safetensors ("F32", "I64", ...). */
size_t pt_dtype_size(pt_dtype dt);
const char *pt_dtype_name(pt_dtype dt);
bool pt_dtype_is_float(pt_dtype dt); /* F32 or F64: the compute dtypes */

/* Refcounted, 64-byte aligned memory. A storage either owns its bytes or
 * wraps foreign memory (an mmap of a safetensors file) released through
 * `release(release_ctx)` when the last reference goes. */
typedef struct pt_storage {
  void *data;
  size_t nbytes;
  int refcount;
  void (*release)(void *release_ctx); /* NULL: data came from pt_alloc */
  void *release_ctx;
} pt_storage;

/* Tensor flags. */
enum {
  PT_REQUIRES_GRAD = 1u << 0, /* gradients flow to this tensor */
  PT_PARAM = 1u << 1,         /* a model parameter (a leaf) */
  PT_READONLY = 1u << 2       /* backed by read-only memory (mmap) */
};

typedef struct pt_tensor {
  pt_storage *storage;
  int64_t offset; /* in elements */
  int ndim;
  int64_t shape[PT_MAX_DIMS];
  int64_t strides[PT_MAX_DIMS];
  pt_dtype dtype;
  int refcount;
  unsigned flags;
  /* Accumulated gradient of a leaf that requires grad (owned, may be NULL). */
  struct pt_tensor *grad;
  /* The autograd node that produced this tensor, or NULL for leaves. The
   * tensor layer does not know what a node is: it only drops the reference
   * through `grad_fn_release` when the tensor is freed. */
  void *grad_fn;
  void (*grad_fn_release)(void *grad_fn);
  /* Optional name (owned copy), e.g. a Hugging Face parameter name. */
  char *name;
} pt_tensor;

/* ---- memory accounting (for leak and flat-memory tests) ---- */

/* 64-byte aligned allocation counted in the live-allocation counters; NULL
 * with PT_ERR_NOMEM recorded (the byte count in the message) on failure.
 * It leaves malloc's settings alone: tensor/pt_heap.h tunes them for
 * training loops, if the program wants that. */
void *pt_alloc(size_t nbytes);
void pt_free_bytes(void *p);
/* Live blocks and bytes allocated through pt_alloc (storages and headers). */
int64_t pt_live_allocations(void);
int64_t pt_live_bytes(void);
/* For testing failure paths: the n-th pt_alloc call from now (n >= 1) fails
 * as if memory ran out (NULL, PT_ERR_NOMEM recorded); 0 cancels. The count
 * is process-wide. pt_alloc_calls() is the number of calls made so far, so a
 * test can count a workload's allocations and then fail each one in turn. */
void pt_alloc_fail_at(int64_t n);
int64_t pt_alloc_calls(void);

/* ---- creation (all return a new reference, or NULL on failure) ---- */

/* pt_empty leaves the values undefined (write them all); pt_zeros zeroes. */
pt_tensor *pt_empty(pt_dtype dt, int ndim, const int64_t *shape);
pt_tensor *pt_zeros(pt_dtype dt, int ndim, const int64_t *shape);
pt_tensor *pt_ones(pt_dtype dt, int ndim, const int64_t *shape);
pt_tensor *pt_full(pt_dtype dt, int ndim, const int64_t *shape, double value);
/* 0-dim tensor holding `value`. */
pt_tensor *pt_scalar(pt_dtype dt, double value);
/* [start, start+step, ...) below `stop`, 1-D. */
pt_tensor *pt_arange(pt_dtype dt, double start, double stop, double step);
/* Copies `ndim/shape` elements of `dt` from `data` (contiguous, row-major). */
pt_tensor *pt_from_buffer(pt_dtype dt, int ndim, const int64_t *shape,
                          const void *data);
/* A tensor over existing storage (takes its own reference). */
pt_tensor *pt_tensor_wrap(pt_storage *st, pt_dtype dt, int64_t offset, int ndim,
                          const int64_t *shape, const int64_t *strides);
pt_tensor *pt_zeros_like(const pt_tensor *t);
pt_tensor *pt_empty_like(const pt_tensor *t); /* contiguous, same shape/dtype, undefined values */

/* Shape helpers (variadic shape constructors would hide the ndim). */
#define PT_SHAPE(...) ((const int64_t[]){__VA_ARGS__})
#define PT_NDIM(...) ((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
#define PT_DIMS(...) PT_NDIM(__VA_ARGS__), PT_SHAPE(__VA_ARGS__)

/* ---- references ---- */

pt_tensor *pt_tensor_ref(pt_tensor *t);      /* +1, returns t */
void pt_tensor_free(pt_tensor *t);           /* -1; frees at zero; NULL ok */
pt_storage *pt_storage_new(size_t nbytes);   /* refcount 1, zeroed */
pt_storage *pt_storage_wrap(void *data, size_t nbytes,
                            void (*release)(void *), void *release_ctx);
void pt_storage_ref(pt_storage *st);
void pt_storage_unref(pt_storage *st);

/* ---- inspection ---- */

int64_t pt_numel(const pt_tensor *t);
bool pt_is_contiguous(const pt_tensor *t);
bool pt_same_shape(const pt_tensor *a, const pt_tensor *b);
/* Pointer to element 0 (storage data + offset). */
void *pt_data(const pt_tensor *t);
/* "[2,3,4]" into buf; returns buf. */
char *pt_shape_str(const pt_tensor *t, char *buf, size_t cap);
char *pt_dims_str(int ndim, const int64_t *shape, char *buf, size_t cap);
/* Normalizes a possibly negative dim; -1 (with message) if out of range. */
int pt_dim_index(const pt_tensor *t, int dim, const char *op);
/* Element at a flat row-major index, converted to double (any dtype). */
double pt_get(const pt_tensor *t, int64_t flat_index);
void pt_set(pt_tensor *t, int64_t flat_index, double value);
/* Sets the owned name (copied). */
pt_status pt_tensor_set_name(pt_tensor *t, const char *name);

/* ---- raw views and copies (no autograd: these act on data only) ----
 * The autograd layer wraps them as differentiable ops (pt_view, pt_permute,
 * ...). These return tensors that share storage with `t`. */

/* Another shape for the same elements (one dim may be -1: inferred). Fails
 * with PT_ERR_SHAPE when t's strides do not allow a view without a copy. */
pt_tensor *pt_raw_view(const pt_tensor *t, int ndim, const int64_t *shape);
/* The same, but copies t (contiguous) when a view is impossible, as
 * PyTorch's reshape does: the result shares t's storage only if it could. */
pt_tensor *pt_raw_reshape(const pt_tensor *t, int ndim, const int64_t *shape);
pt_tensor *pt_raw_permute(const pt_tensor *t, const int *perm);
pt_tensor *pt_raw_transpose(const pt_tensor *t, int d0, int d1);
pt_tensor *pt_raw_narrow(const pt_tensor *t, int dim, int64_t start, int64_t len);
pt_tensor *pt_raw_expand(const pt_tensor *t, int ndim, const int64_t *shape);
pt_tensor *pt_raw_unsqueeze(const pt_tensor *t, int dim);
pt_tensor *pt_raw_squeeze(const pt_tensor *t, int dim);
/* A new header over the same storage with no autograd state. */
pt_tensor *pt_raw_alias(const pt_tensor *t);
/* A contiguous copy (or a new reference when already contiguous). */
pt_tensor *pt_raw_contiguous(const pt_tensor *t);
/* A contiguous copy always. */
pt_tensor *pt_raw_clone(const pt_tensor *t);
/* Copies src into dst elementwise (same shape; dtypes converted; any strides).
 * Large copies run on all threads, so dst must not overlap src's memory. */
pt_status pt_copy_into(pt_tensor *dst, const pt_tensor *src);
/* A contiguous copy in another dtype (F16/BF16 read, float/int converted). */
pt_tensor *pt_to_dtype(const pt_tensor *t, pt_dtype dt);
/* Converts t's values to dtype dt in place: t keeps its identity (name,
 * flags, the pointers others hold) and gets new contiguous storage; views
 * of the old storage keep the old values. For switching a model's
 * parameters to F64 for a gradient check, or frozen weights to BF16 in half
 * the memory (pt_params_store_frozen; F32 to BF16 rounds to nearest even).
 * Fails on a tensor with a gradient or a history. */
pt_status pt_tensor_convert_inplace(pt_tensor *t, pt_dtype dt);
/* Fills every element with `value`. */
pt_status pt_fill(pt_tensor *t, double value);

/* Broadcast shape of a and b (NumPy rules) into out; PT_ERR_SHAPE naming
 * `op` when they do not broadcast. */
pt_status pt_broadcast_shape(const char *op, int na, const int64_t *sa, int nb,
                             const int64_t *sb, int *nout, int64_t *out);

/* ---- half precision ---- */
float pt_f16_to_f32(uint16_t h);
float pt_bf16_to_f32(uint16_t h);
uint16_t pt_f32_to_f16(float f);
uint16_t pt_f32_to_bf16(float f);
/* A rows x cols block read with leading dimension ld (elements) into a
 * contiguous dst (rows·cols elements), rounding to nearest even; large
 * blocks run on all threads. */
void pt_f32_to_bf16_rows(const float *src, int64_t ld, int64_t rows, int64_t cols, uint16_t *dst);
void pt_bf16_to_f32_rows(const uint16_t *src, int64_t ld, int64_t rows, int64_t cols, float *dst);

#endif
