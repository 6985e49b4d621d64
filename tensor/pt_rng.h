/* A counter-based random generator: the i-th number drawn from a seed is a
 * pure function of (seed, i), so results do not depend on the thread count
 * or on how work is split. A pt_rng remembers how many numbers it has handed
 * out, so successive draws continue the stream (and its state can be saved
 * in a checkpoint as two integers). */
#ifndef PT_RNG_H
#define PT_RNG_H

#include <stdint.h>

#include "tensor/pt_tensor.h"

typedef struct {
  uint64_t seed;
  uint64_t counter; /* numbers consumed so far */
} pt_rng;

void pt_rng_init(pt_rng *rng, uint64_t seed);

/* 64 random bits for counter value `i` of `seed` (stateless). */
uint64_t pt_rng_bits(uint64_t seed, uint64_t i);

/* pt_rng_bits in two halves, inline, so a loop over many counter values of
 * one seed hashes the seed once and vectorizes:
 * pt_rng_bits(seed, i) == pt_rng_bits_keyed(pt_rng_key(seed), i). */
static inline uint64_t pt_rng_mix64(uint64_t z) { /* SplitMix64 finalizer */
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
static inline uint64_t pt_rng_key(uint64_t seed) { return pt_rng_mix64(seed + 0x9e3779b97f4a7c15ULL); }
static inline uint64_t pt_rng_bits_keyed(uint64_t key, uint64_t i) {
  return pt_rng_mix64(key ^ (i * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL));
}
/* Uniform in [0, 1) with 24 (float) or 53 (double) random bits. */
static inline float pt_rng_u01f(uint64_t bits) { return (float)(bits >> 40) * (1.0f / 16777216.0f); }
static inline double pt_rng_u01(uint64_t bits) { return (double)(bits >> 11) * (1.0 / 9007199254740992.0); }

/* Reserves `n` counter values and returns the first. */
uint64_t pt_rng_take(pt_rng *rng, uint64_t n);
/* One uniform double in [0,1) / one integer in [0, n). */
double pt_rng_uniform(pt_rng *rng);
uint64_t pt_rng_below(pt_rng *rng, uint64_t n);

/* Fill a float tensor (any strides) in row-major order. */
pt_status pt_rng_fill_uniform(pt_rng *rng, pt_tensor *t, double lo, double hi);
pt_status pt_rng_fill_normal(pt_rng *rng, pt_tensor *t, double mean, double std);

/* New tensors (caller owns). */
pt_tensor *pt_randn(pt_rng *rng, pt_dtype dt, int ndim, const int64_t *shape);
pt_tensor *pt_rand_uniform(pt_rng *rng, pt_dtype dt, int ndim, const int64_t *shape,
                           double lo, double hi);

#endif
