/* Counter-based RNG: SplitMix64 finalizers applied to (seed, counter). */
#include "tensor/pt_rng.h"

#include <math.h>

uint64_t pt_rng_bits(uint64_t seed, uint64_t i) { return pt_rng_bits_keyed(pt_rng_key(seed), i); }

void pt_rng_init(pt_rng *rng, uint64_t seed) {
  rng->seed = seed;
  rng->counter = 0;
}

uint64_t pt_rng_take(pt_rng *rng, uint64_t n) {
  uint64_t first = rng->counter;
  rng->counter += n;
  return first;
}

double pt_rng_uniform(pt_rng *rng) {
  return pt_rng_u01(pt_rng_bits(rng->seed, pt_rng_take(rng, 1)));
}

uint64_t pt_rng_below(pt_rng *rng, uint64_t n) {
  /* 64-bit multiply-high keeps the bias below 2^-64 * n. */
  uint64_t bits = pt_rng_bits(rng->seed, pt_rng_take(rng, 1));
  return (uint64_t)(((unsigned __int128)bits * n) >> 64);
}

/* Normal deviate for counter i: Box-Muller on two independent streams. */
static double normal_at(uint64_t seed, uint64_t i) {
  double u1 = pt_rng_u01(pt_rng_bits(seed, 2 * i)) ;
  double u2 = pt_rng_u01(pt_rng_bits(seed, 2 * i + 1));
  return sqrt(-2.0 * log(1.0 - u1)) * cos(2.0 * M_PI * u2);
}

pt_status pt_rng_fill_uniform(pt_rng *rng, pt_tensor *t, double lo, double hi) {
  if (!pt_dtype_is_float(t->dtype))
    return pt_error(PT_ERR_DTYPE, "rand_uniform: needs F32 or F64, got %s", pt_dtype_name(t->dtype));
  int64_t n = pt_numel(t);
  uint64_t base = pt_rng_take(rng, (uint64_t)n);
  for (int64_t i = 0; i < n; i++)
    pt_set(t, i, lo + (hi - lo) * pt_rng_u01(pt_rng_bits(rng->seed, base + (uint64_t)i)));
  return PT_OK;
}

pt_status pt_rng_fill_normal(pt_rng *rng, pt_tensor *t, double mean, double std) {
  if (!pt_dtype_is_float(t->dtype))
    return pt_error(PT_ERR_DTYPE, "randn: needs F32 or F64, got %s", pt_dtype_name(t->dtype));
  int64_t n = pt_numel(t);
  uint64_t base = pt_rng_take(rng, (uint64_t)n);
  if (pt_is_contiguous(t) && t->dtype == PT_F32) {
    float *p = pt_data(t);
#pragma omp parallel for if (n > 65536) schedule(static)
    for (int64_t i = 0; i < n; i++) p[i] = (float)(mean + std * normal_at(rng->seed, base + (uint64_t)i));
    return PT_OK;
  }
  for (int64_t i = 0; i < n; i++) pt_set(t, i, mean + std * normal_at(rng->seed, base + (uint64_t)i));
  return PT_OK;
}

pt_tensor *pt_randn(pt_rng *rng, pt_dtype dt, int ndim, const int64_t *shape) {
  pt_tensor *t = pt_empty(dt, ndim, shape);
  if (t && pt_rng_fill_normal(rng, t, 0.0, 1.0) != PT_OK) {
    pt_tensor_free(t);
    return NULL;
  }
  return t;
}

pt_tensor *pt_rand_uniform(pt_rng *rng, pt_dtype dt, int ndim, const int64_t *shape,
                           double lo, double hi) {
  pt_tensor *t = pt_empty(dt, ndim, shape);
  if (t && pt_rng_fill_uniform(rng, t, lo, hi) != PT_OK) {
    pt_tensor_free(t);
    return NULL;
  }
  return t;
}
