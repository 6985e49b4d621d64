/* safetensors files: a validating, zero-copy reader and an atomic writer.
 *
 * Layout: u64 little-endian header length N, N bytes of JSON header, then
 * the data section. Each header entry maps a name to {"dtype", "shape",
 * "data_offsets": [begin, end]} with offsets relative to the data section;
 * the optional "__metadata__" entry maps strings to strings.
 *
 * The reader mmaps the file and checks everything before trusting it: the
 * header length fits in the file and is at most 100 MB, the header is a JSON
 * object without duplicate names, every dtype is one of F32 F16 BF16 F64 I64
 * I32, shapes are non-negative with no overflow, offsets lie inside the data
 * section and span exactly numel x dtype size, and no two tensors overlap.
 * Every error is one line starting with the path ("model.safetensors: ...").
 * Codes: PT_ERR_IO (open/stat/mmap), PT_ERR_DTYPE (unknown dtype or a
 * conversion that loses integers), PT_ERR_FORMAT (everything else that is
 * wrong inside the file), PT_ERR_ARG (no tensor of that name). */
#ifndef PT_SAFETENSORS_H
#define PT_SAFETENSORS_H

#include <stdbool.h>
#include <stdint.h>

#include "tensor/pt_status.h"
#include "tensor/pt_tensor.h"

/* Largest header the reader accepts. */
#define PT_SAFETENSORS_MAX_HEADER (100u * 1000u * 1000u)

typedef struct pt_safetensors pt_safetensors; /* an open, validated file */

/* Opens and validates `path`; on success *out owns the file (close it with
 * pt_safetensors_close). On failure *out is NULL and the message names path. */
pt_status pt_safetensors_open(const char *path, pt_safetensors **out);
/* Closes the file. Tensor views obtained from it stay valid: they keep the
 * mapping alive until the last one is freed. NULL is a no-op. */
void pt_safetensors_close(pt_safetensors *f);

/* The path given to open (borrowed). */
const char *pt_safetensors_path(const pt_safetensors *f);
/* Number of tensors (the metadata entry is not one). */
int pt_safetensors_count(const pt_safetensors *f);
/* Name of tensor i in header (file) order; borrowed, valid until close. */
const char *pt_safetensors_name(const pt_safetensors *f, int i);
/* Index of `name`, or -1. */
int pt_safetensors_find(const pt_safetensors *f, const char *name);
/* Stored dtype and shape of `name` (shape needs PT_MAX_DIMS slots; either
 * out pointer may be NULL). PT_ERR_ARG when absent. */
pt_status pt_safetensors_info(const pt_safetensors *f, const char *name, pt_dtype *dtype,
                              int *ndim, int64_t *shape);

/* A read-only view of tensor `name` (new reference, PT_READONLY flag, stored
 * dtype). Zero-copy over the mapping when the bytes are aligned for the dtype
 * (always so for files written by pt_safetensors_write or the official
 * library); otherwise an owned copy, since the format does not promise
 * alignment. NULL with PT_ERR_ARG when absent. */
pt_tensor *pt_safetensors_get(const pt_safetensors *f, const char *name);
/* An owned contiguous copy of `name` converted to `dt` (F16/BF16 -> F32, F32
 * <-> F64, integers -> floats, I64 <-> I32 when the values fit). Floats are
 * never converted to integers (PT_ERR_DTYPE). */
pt_tensor *pt_safetensors_load(const pt_safetensors *f, const char *name, pt_dtype dt);

/* Metadata value of `key`, or NULL (borrowed, valid until close). */
const char *pt_safetensors_metadata(const pt_safetensors *f, const char *key);
int pt_safetensors_metadata_count(const pt_safetensors *f);
/* Key i of the metadata in file order (borrowed). */
const char *pt_safetensors_metadata_key(const pt_safetensors *f, int i);

/* PT_ERR_NUMERIC naming the file, tensor and flat element when float tensor
 * `name` holds a NaN or an infinity; PT_OK for integer tensors. */
pt_status pt_safetensors_check_finite(const pt_safetensors *f, const char *name);
/* The same over every tensor of the file (stops at the first bad one). */
pt_status pt_safetensors_check_all_finite(const pt_safetensors *f);
/* PT_ERR_NUMERIC "<what>: NaN at element i of [shape]" for a float tensor of
 * any strides and dtype; PT_OK for integer tensors. */
pt_status pt_tensor_check_finite(const pt_tensor *t, const char *what);

/* Writes `n` tensors (any strides; F32 F64 I64 I32 F16 BF16) named
 * names[i], plus `nmeta` metadata pairs (may be 0 / NULL), to `path`.
 * The header lists "__metadata__" first, then the tensors in the given
 * order, and is padded with spaces so the data starts 8-byte aligned; data
 * are laid out by decreasing element size so every tensor is aligned too.
 * The bytes go to "<path>.tmp.<pid>", which is fsynced and renamed over
 * `path`: a reader sees the old file or the new one, never half of one. On
 * failure the temporary file is removed and any old file is untouched.
 * Names must be unique, non-NULL and not "__metadata__". */
pt_status pt_safetensors_write(const char *path, int n, const char *const *names,
                               const pt_tensor *const *tensors, int nmeta,
                               const char *const *meta_keys,
                               const char *const *meta_values);

#endif
