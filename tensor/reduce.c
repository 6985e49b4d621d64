/* Sums over chosen dims: reduced dims are moved last, then each output
 * element sums one contiguous row (accumulating in double). */
#include "tensor/pt_reduce.h"

#include <string.h>

pt_status pt_reduce_dims_mask(const pt_tensor *t, int ndims, const int *dims,
                              const char *op, bool *mask) {
  for (int d = 0; d < PT_MAX_DIMS; d++) mask[d] = ndims == 0;
  for (int i = 0; i < ndims; i++) {
    int d = pt_dim_index(t, dims[i], op);
    if (d < 0) return PT_ERR_ARG;
    if (mask[d]) return pt_error(PT_ERR_ARG, "%s: dim %d given twice", op, dims[i]);
    mask[d] = true;
  }
  return PT_OK;
}

pt_tensor *pt_raw_sum(const pt_tensor *t, int ndims, const int *dims, bool keepdim) {
  if (!pt_dtype_is_float(t->dtype)) {
    pt_error(PT_ERR_DTYPE, "sum: needs F32 or F64, got %s", pt_dtype_name(t->dtype));
    return NULL;
  }
  bool mask[PT_MAX_DIMS];
  if (pt_reduce_dims_mask(t, ndims, dims, "sum", mask) != PT_OK) return NULL;
  int perm[PT_MAX_DIMS], np = 0;
  int64_t out_shape[PT_MAX_DIMS], keep_shape[PT_MAX_DIMS];
  int nout = 0;
  int64_t rows = 1, cols = 1;
  for (int d = 0; d < t->ndim; d++) {
    keep_shape[d] = mask[d] ? 1 : t->shape[d];
    if (!mask[d]) {
      perm[np++] = d;
      out_shape[nout++] = t->shape[d];
      rows *= t->shape[d];
    }
  }
  for (int d = 0; d < t->ndim; d++)
    if (mask[d]) {
      perm[np++] = d;
      cols *= t->shape[d];
    }
  pt_tensor *out = keepdim ? pt_zeros(t->dtype, t->ndim, keep_shape)
                           : pt_zeros(t->dtype, nout, out_shape);
  if (!out) return NULL;
  /* Fast path: contiguous input whose reduced dims all lead (a bias
   * gradient: [B,S,H] -> [H]): accumulate whole rows, no copy. */
  bool leading = pt_is_contiguous(t);
  for (int d = 0, seen_kept = 0; d < t->ndim && leading; d++) {
    if (!mask[d]) seen_kept = 1;
    else if (seen_kept && t->shape[d] != 1) leading = false;
  }
  if (leading && t->dtype == PT_F32) {
    /* x is [cols reduced][rows kept]: walk each reduced row contiguously into
     * a block of double accumulators, blocks of outputs split over threads.
     * Each output still sums c = 0..cols-1 in order, whatever the threads. */
    const float *x = pt_data(t);
    float *o = pt_data(out);
    enum { BLOCK = 512 };
    int64_t nblocks = (rows + BLOCK - 1) / BLOCK;
#pragma omp parallel for if (rows * cols > 65536) schedule(static)
    for (int64_t b = 0; b < nblocks; b++) {
      double acc[BLOCK];
      int64_t r0 = b * BLOCK, n = rows - r0 < BLOCK ? rows - r0 : BLOCK;
      for (int64_t r = 0; r < n; r++) acc[r] = 0;
      for (int64_t c = 0; c < cols; c++) {
        const float *row = x + c * rows + r0;
        for (int64_t r = 0; r < n; r++) acc[r] += row[r];
      }
      for (int64_t r = 0; r < n; r++) o[r0 + r] = (float)acc[r];
    }
    return out;
  }
  pt_tensor *p = pt_raw_permute(t, perm);
  pt_tensor *pc = p ? pt_raw_contiguous(p) : NULL;
  pt_tensor_free(p);
  if (!pc) {
    pt_tensor_free(out);
    return NULL;
  }
  if (t->dtype == PT_F32) {
    const float *x = pt_data(pc);
    float *o = pt_data(out);
#pragma omp parallel for if (rows * cols > 65536) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
      double acc = 0;
      for (int64_t c = 0; c < cols; c++) acc += x[r * cols + c];
      o[r] = (float)acc;
    }
  } else {
    const double *x = pt_data(pc);
    double *o = pt_data(out);
#pragma omp parallel for if (rows * cols > 65536) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
      double acc = 0;
      for (int64_t c = 0; c < cols; c++) acc += x[r * cols + c];
      o[r] = acc;
    }
  }
  pt_tensor_free(pc);
  return out;
}

pt_tensor *pt_raw_sum_to_shape(const pt_tensor *t, int ndim, const int64_t *shape) {
  char s1[96], s2[96];
  if (ndim > t->ndim) goto bad;
  int lead = t->ndim - ndim;
  int dims[PT_MAX_DIMS], nd = 0;
  bool same = ndim == t->ndim;
  for (int d = 0; d < t->ndim; d++) {
    if (d < lead) {
      dims[nd++] = d;
      continue;
    }
    int64_t want = shape[d - lead];
    if (want == t->shape[d]) continue;
    if (want != 1) goto bad;
    dims[nd++] = d;
    same = false;
  }
  if (same) return pt_tensor_ref((pt_tensor *)t);
  pt_tensor *s = pt_raw_sum(t, nd, dims, true);
  if (!s) return NULL;
  pt_tensor *v = pt_raw_view(s, ndim, shape);
  pt_tensor_free(s);
  return v;
bad:
  pt_error(PT_ERR_SHAPE, "sum_to_shape: %s does not broadcast to %s",
           pt_dims_str(ndim, shape, s1, sizeof s1), pt_shape_str(t, s2, sizeof s2));
  return NULL;
}
