/* Inverted dropout with a counter-based mask (see pt_dropout.h). */
#include "tensor/pt_dropout.h"

#include <math.h>

#include "tensor/pt_iter.h"
#include "tensor/pt_rng.h"

/* u = (bits >> 11) / 2^53 >= p  <=>  (bits >> 11) >= ceil(p · 2^53): the
 * same test as pt_rng_u01(bits) >= p, in integers. */
static uint64_t keep_threshold(double p) { return (uint64_t)ceil(p * 9007199254740992.0); }

bool pt_dropout_keep(uint64_t seed, uint64_t i, double p) {
  return (pt_rng_bits(seed, i) >> 11) >= keep_threshold(p);
}

typedef struct {
  uint64_t key, base, threshold; /* key = pt_rng_key(seed), hashed once */
  double scale;
  const void *out0; /* y's first element: y is contiguous, so the flat
                       index of an element is its distance from here */
} dropout_ctx;

/* Layout: ptrs {y (contiguous), x (any step)}; the run starts at flat index
 * (y − out0). The hash is plain 64-bit integer arithmetic, inlined, so the
 * unit-step loop vectorizes (AVX-512DQ has the 64-bit multiply). */
#define DROPOUT_LOOP(NAME, T)                                                        \
  static void NAME(int64_t n, void **p, const int64_t *s, void *ctx) {              \
    const dropout_ctx *c = ctx;                                                      \
    T *y = p[0];                                                                     \
    const T *x = p[1];                                                               \
    const T scale = (T)c->scale;                                                     \
    const uint64_t key = c->key, thr = c->threshold;                                 \
    const uint64_t i0 = c->base + (uint64_t)(y - (const T *)c->out0);                \
    const int64_t sx = s[1];                                                         \
    if (sx == 1) {                                                                   \
      for (int64_t i = 0; i < n; i++) {                                              \
        bool keep = (pt_rng_bits_keyed(key, i0 + (uint64_t)i) >> 11) >= thr;         \
        y[i] = keep ? x[i] * scale : (T)0;                                           \
      }                                                                              \
    } else {                                                                         \
      for (int64_t i = 0; i < n; i++) {                                              \
        bool keep = (pt_rng_bits_keyed(key, i0 + (uint64_t)i) >> 11) >= thr;         \
        y[i] = keep ? x[i * sx] * scale : (T)0;                                      \
      }                                                                              \
    }                                                                                \
  }
DROPOUT_LOOP(dropout_f32, float)
DROPOUT_LOOP(dropout_f64, double)

pt_status pt_dropout_check(const pt_tensor *x, double p) {
  if (!pt_dtype_is_float(x->dtype))
    return pt_error(PT_ERR_DTYPE, "dropout: needs F32 or F64, got %s", pt_dtype_name(x->dtype));
  if (!(p >= 0.0 && p <= 1.0))
    return pt_error(PT_ERR_ARG, "dropout: p must be in [0, 1], got %g", p);
  return PT_OK;
}

pt_tensor *pt_raw_dropout(const pt_tensor *x, double p, uint64_t seed, uint64_t base) {
  if (pt_dropout_check(x, p) != PT_OK) return NULL;
  pt_tensor *y = pt_empty_like(x);
  if (!y) return NULL;
  dropout_ctx c = {pt_rng_key(seed), base, keep_threshold(p), p < 1.0 ? 1.0 / (1.0 - p) : 0.0, pt_data(y)};
  pt_tensor *ops[2] = {y, (pt_tensor *)x};
  pt_iter_run(2, ops, x->dtype == PT_F32 ? dropout_f32 : dropout_f64, &c);
  return y;
}
