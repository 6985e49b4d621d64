/* safetensors writer: header JSON padded to 8 bytes, data by decreasing
 * element size, written through pt_atomic_file (temp file, fsync, rename). */
#include "nn/pt_safetensors.h"

#include "tensor/pt_file.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK (1u << 20) /* bytes packed per write for strided tensors */

/* Writes t's elements in row-major order (any strides) through a bounce
 * buffer; contiguous tensors go out directly. Bytes are copied as they are,
 * so I64 values above 2^53 survive. */
static pt_status write_tensor(pt_atomic_file *f, const pt_tensor *t, unsigned char *buf) {
  size_t es = pt_dtype_size(t->dtype);
  int64_t n = pt_numel(t);
  if (n == 0) return PT_OK;
  if (pt_is_contiguous(t)) return pt_atomic_write(f, pt_data(t), (size_t)n * es);
  const unsigned char *base = t->storage->data;
  int nd = t->ndim;
  int64_t idx[PT_MAX_DIMS] = {0};
  int64_t off = t->offset;
  size_t used = 0;
  for (int64_t i = 0; i < n; i++) {
    memcpy(buf + used, base + (size_t)off * es, es);
    used += es;
    if (used + es > CHUNK) {
      PT_TRY(pt_atomic_write(f, buf, used));
      used = 0;
    }
    for (int ax = nd - 1; ax >= 0; ax--) {
      off += t->strides[ax];
      if (++idx[ax] < t->shape[ax]) break;
      off -= t->strides[ax] * t->shape[ax];
      idx[ax] = 0;
    }
  }
  return pt_atomic_write(f, buf, used);
}

static int by_size_desc(const void *a, const void *b) {
  const int64_t *x = a, *y = b; /* {element size, index} pairs */
  if (x[0] != y[0]) return x[0] > y[0] ? -1 : 1;
  return x[1] < y[1] ? -1 : x[1] > y[1]; /* stable: keep the caller's order */
}

/* Builds the padded header; *order receives the data layout order. */
static char *build_header(const char *path, int n, const char *const *names,
                          const pt_tensor *const *tensors, int nmeta,
                          const char *const *keys, const char *const *values,
                          int64_t (*order)[2], size_t *hlen) {
  json_t *root = json_object();
  json_t *meta = nmeta > 0 ? json_object() : NULL;
  char *text = NULL;
  if (!root || (nmeta > 0 && !meta)) goto nomem;
  if (meta) {
    for (int i = 0; i < nmeta; i++)
      if (json_object_set_new(meta, keys[i], json_string(values[i])) != 0) {
        pt_error(PT_ERR_ARG, "%s: metadata key %d is not valid UTF-8 text", path, i);
        goto fail;
      }
    json_object_set_new(root, "__metadata__", meta);
    meta = NULL;
  }
  for (int i = 0; i < n; i++) {
    order[i][0] = (int64_t)pt_dtype_size(tensors[i]->dtype);
    order[i][1] = i;
  }
  qsort(order, (size_t)n, sizeof order[0], by_size_desc);
  uint64_t *begin = malloc(sizeof(uint64_t) * (size_t)(n > 0 ? n : 1));
  if (!begin) goto nomem;
  uint64_t off = 0;
  for (int k = 0; k < n; k++) {
    int i = (int)order[k][1];
    begin[i] = off;
    off += (uint64_t)pt_numel(tensors[i]) * pt_dtype_size(tensors[i]->dtype);
  }
  for (int i = 0; i < n; i++) {
    const pt_tensor *t = tensors[i];
    json_t *shape = json_array();
    for (int d = 0; d < t->ndim; d++) json_array_append_new(shape, json_integer(t->shape[d]));
    uint64_t nb = (uint64_t)pt_numel(t) * pt_dtype_size(t->dtype);
    json_t *e = json_pack("{s:s, s:o, s:[I,I]}", "dtype", pt_dtype_name(t->dtype), "shape",
                          shape, "data_offsets", (json_int_t)begin[i],
                          (json_int_t)(begin[i] + nb));
    if (!e || json_object_set_new(root, names[i], e) != 0) {
      free(begin);
      pt_error(PT_ERR_ARG, "%s: cannot encode tensor %d ('%.80s') in the header", path, i,
               names[i]);
      goto fail;
    }
  }
  free(begin);
  text = json_dumps(root, JSON_COMPACT);
  if (!text) goto nomem;
  size_t len = strlen(text);
  size_t padded = len + (8 - (8 + len) % 8) % 8;
  char *out = malloc(padded);
  if (!out) goto nomem;
  memcpy(out, text, len);
  memset(out + len, ' ', padded - len);
  free(text);
  json_decref(root);
  *hlen = padded;
  return out;
nomem:
  pt_error(PT_ERR_NOMEM, "%s: out of memory building the header", path);
fail:
  free(text);
  json_decref(meta);
  json_decref(root);
  return NULL;
}

static pt_status check_args(const char *path, int n, const char *const *names,
                            const pt_tensor *const *tensors, int nmeta,
                            const char *const *keys, const char *const *values) {
  if (n < 0 || nmeta < 0 || (n > 0 && (!names || !tensors)) ||
      (nmeta > 0 && (!keys || !values)))
    return pt_error(PT_ERR_ARG, "%s: write: bad tensor or metadata list", path);
  for (int i = 0; i < nmeta; i++)
    if (!keys[i] || !values[i])
      return pt_error(PT_ERR_ARG, "%s: write: metadata entry %d is NULL", path, i);
  for (int i = 0; i < n; i++) {
    if (!names[i] || !tensors[i])
      return pt_error(PT_ERR_ARG, "%s: write: tensor %d has no name or no tensor", path, i);
    if (strcmp(names[i], "__metadata__") == 0)
      return pt_error(PT_ERR_ARG, "%s: write: '__metadata__' is not a tensor name", path);
    if ((unsigned)tensors[i]->dtype >= PT_DTYPE_COUNT)
      return pt_error(PT_ERR_DTYPE, "%s: write: tensor '%.80s' has an unknown dtype", path,
                      names[i]);
    for (int j = 0; j < i; j++)
      if (strcmp(names[i], names[j]) == 0)
        return pt_error(PT_ERR_ARG, "%s: write: tensor name '%.80s' appears twice", path,
                        names[i]);
  }
  return PT_OK;
}

pt_status pt_safetensors_write(const char *path, int n, const char *const *names,
                               const pt_tensor *const *tensors, int nmeta,
                               const char *const *meta_keys,
                               const char *const *meta_values) {
  PT_TRY(check_args(path, n, names, tensors, nmeta, meta_keys, meta_values));
  int64_t(*order)[2] = malloc(sizeof *order * (size_t)(n > 0 ? n : 1));
  unsigned char *buf = malloc(CHUNK);
  char *header = NULL;
  pt_status s = PT_OK;
  if (!order || !buf) {
    s = pt_error(PT_ERR_NOMEM, "%s: out of memory", path);
    goto done;
  }
  size_t hlen = 0;
  header = build_header(path, n, names, tensors, nmeta, meta_keys, meta_values, order, &hlen);
  if (!header) {
    s = pt_error_code();
    goto done;
  }
  pt_atomic_file f;
  s = pt_atomic_open(&f, path);
  if (s != PT_OK) goto done;
  unsigned char le[8];
  for (int i = 0; i < 8; i++) le[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
  s = pt_atomic_write(&f, le, 8);
  if (s == PT_OK) s = pt_atomic_write(&f, header, hlen);
  for (int k = 0; k < n && s == PT_OK; k++) s = write_tensor(&f, tensors[order[k][1]], buf);
  if (s == PT_OK)
    s = pt_atomic_commit(&f);
  else
    pt_atomic_abort(&f);
done:
  free(order);
  free(buf);
  free(header);
  return s;
}
