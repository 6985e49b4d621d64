/* Row-major multi-operand walker behind pt_iter.h. */
#include "tensor/pt_iter.h"

#include <omp.h>
#include <string.h>

#define PT_PAR_GRAIN 32768 /* elements per thread below which we stay serial */

static bool all_contiguous(int nops, pt_tensor *const *ts) {
  for (int k = 0; k < nops; k++)
    if (!pt_is_contiguous(ts[k])) return false;
  return true;
}

/* Runs of the outer index space [r0, r1) over the last dim. */
static void walk_rows(int nops, pt_tensor *const *ts, int64_t r0, int64_t r1,
                      pt_iter_fn fn, void *ctx) {
  const pt_tensor *t0 = ts[0];
  int nd = t0->ndim;
  int64_t inner = t0->shape[nd - 1];
  int64_t steps[PT_ITER_MAX];
  size_t esz[PT_ITER_MAX];
  for (int k = 0; k < nops; k++) {
    steps[k] = ts[k]->strides[nd - 1];
    esz[k] = pt_dtype_size(ts[k]->dtype);
  }
  for (int64_t r = r0; r < r1; r++) {
    void *ptrs[PT_ITER_MAX];
    for (int k = 0; k < nops; k++) {
      int64_t off = ts[k]->offset, rem = r;
      for (int d = nd - 2; d >= 0; d--) {
        off += (rem % t0->shape[d]) * ts[k]->strides[d];
        rem /= t0->shape[d];
      }
      ptrs[k] = (char *)ts[k]->storage->data + (size_t)off * esz[k];
    }
    fn(inner, ptrs, steps, ctx);
  }
}

void pt_iter_run(int nops, pt_tensor *const *ts, pt_iter_fn fn, void *ctx) {
  int64_t n = pt_numel(ts[0]);
  if (n == 0) return;
  if (ts[0]->ndim == 0 || all_contiguous(nops, ts)) {
    int64_t steps[PT_ITER_MAX];
    for (int k = 0; k < nops; k++) steps[k] = 1;
    int nthreads = (int)(n / PT_PAR_GRAIN);
    if (nthreads < 1) nthreads = 1;
    if (nthreads > omp_get_max_threads()) nthreads = omp_get_max_threads();
#pragma omp parallel num_threads(nthreads) if (nthreads > 1)
    {
      int nt = omp_get_num_threads(), id = omp_get_thread_num();
      int64_t chunk = (n + nt - 1) / nt;
      chunk = (chunk + 15) & ~(int64_t)15; /* keep runs vector-aligned */
      int64_t lo = (int64_t)id * chunk, hi = lo + chunk > n ? n : lo + chunk;
      if (lo < hi) {
        void *ptrs[PT_ITER_MAX];
        for (int k = 0; k < nops; k++)
          ptrs[k] = (char *)pt_data(ts[k]) + (size_t)lo * pt_dtype_size(ts[k]->dtype);
        fn(hi - lo, ptrs, steps, ctx);
      }
    }
    return;
  }
  int64_t rows = n / ts[0]->shape[ts[0]->ndim - 1];
  int64_t inner = ts[0]->shape[ts[0]->ndim - 1];
  bool par = rows > 1 && n >= 2 * PT_PAR_GRAIN;
  if (!par) {
    walk_rows(nops, ts, 0, rows, fn, ctx);
    return;
  }
#pragma omp parallel
  {
    int nt = omp_get_num_threads(), id = omp_get_thread_num();
    int64_t lo = rows * id / nt, hi = rows * (id + 1) / nt;
    walk_rows(nops, ts, lo, hi, fn, ctx);
  }
  (void)inner;
}
