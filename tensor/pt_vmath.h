/* Vectorizable float math for row kernels (softmax, cross-entropy, ...).
 *
 * glibc's expf is a scalar call, so a loop over expf never vectorizes
 * without -ffast-math (which ptune never uses). pt_expf is plain arithmetic
 * and selects, inlined, so gcc turns `for (j) y[j] = pt_expf(x[j])` into
 * AVX2/AVX-512 code. Accuracy: within 2 ulp of expf over the normal range
 * (tests/test_norm.c checks it); exp(-inf) = 0, exp(+inf) = +inf, NaN in
 * gives NaN out; results below ~1e-38 are flushed toward zero less exactly
 * than expf (irrelevant next to a row sum ≥ 1). */
#ifndef PT_VMATH_H
#define PT_VMATH_H

#include <stdint.h>
#include <string.h>

static inline float pt_bits_to_f32(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* exp(x) = 2^n · exp(r), n = round(x / ln 2), |r| ≤ ln2 / 2 (Cody–Waite
 * split of ln 2), exp(r) by a degree-6 polynomial (Cephes expf
 * coefficients), 2^n applied as two exact powers of two so that n down to
 * −150 stays representable. */
static inline float pt_expf(float x) {
  float xc = x < -104.0f ? -104.0f : x;
  xc = xc > 88.72283f ? 88.72283f : xc;
  /* round to nearest without a libm call: adding 1.5·2^23 drops the fraction */
  float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t ni = (int32_t)(n == n ? n : 0.0f); /* NaN must not reach the int cast (p is NaN) */
  int32_t n1 = ni >> 1, n2 = ni - n1; /* each in [-75, 64]: a normal power of two */
  float s1 = pt_bits_to_f32((uint32_t)(n1 + 127) << 23);
  float s2 = pt_bits_to_f32((uint32_t)(n2 + 127) << 23);
  float res = p * s1 * s2;
  res = x < -104.0f ? 0.0f : res;
  res = x > 88.7228390f ? __builtin_inff() : res;
  return res;
}

#endif
