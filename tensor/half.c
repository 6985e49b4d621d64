/* IEEE half and bfloat16 conversions (round to nearest even on the way in). */
#include <string.h>

#include "tensor/pt_tensor.h"

static float bits_to_f32(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

static uint32_t f32_to_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

float pt_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t man = h & 0x3ff;
  if (exp == 0) {
    if (man == 0) return bits_to_f32(sign);
    /* subnormal: value = man * 2^-24 */
    float v = (float)man * (1.0f / 16777216.0f);
    return sign ? -v : v;
  }
  if (exp == 31) return bits_to_f32(sign | 0x7f800000u | (man << 13));
  return bits_to_f32(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t pt_f32_to_f16(float f) {
  uint32_t u = f32_to_bits(f);
  uint32_t sign = (u >> 16) & 0x8000;
  uint32_t exp = (u >> 23) & 0xff;
  uint32_t man = u & 0x7fffff;
  if (exp == 0xff) return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
  int32_t e = (int32_t)exp - 127 + 15;
  if (e >= 31) return (uint16_t)(sign | 0x7c00);
  if (e <= 0) {
    if (e < -10) return (uint16_t)sign;
    man |= 0x800000;
    uint32_t shift = (uint32_t)(14 - e);
    uint32_t half = man >> shift;
    uint32_t rem = man & ((1u << shift) - 1);
    uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) half++;
    return (uint16_t)(sign | half);
  }
  uint32_t out = sign | ((uint32_t)e << 10) | (man >> 13);
  uint32_t rem = man & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (out & 1))) out++;
  return (uint16_t)out;
}

float pt_bf16_to_f32(uint16_t h) { return bits_to_f32((uint32_t)h << 16); }

uint16_t pt_f32_to_bf16(float f) {
  uint32_t u = f32_to_bits(f);
  if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 0x40);
  u += 0x7fff + ((u >> 16) & 1);
  return (uint16_t)(u >> 16);
}

/* Bulk conversions for GEMM operands: rows of a strided matrix into a
 * contiguous one, split across the OpenMP threads when large. Written as
 * plain integer arithmetic so that gcc vectorizes the rounding. */
enum { BULK_PAR_MIN = 1 << 16 };

void pt_f32_to_bf16_rows(const float *src, int64_t ld, int64_t rows, int64_t cols, uint16_t *dst) {
#pragma omp parallel for schedule(static) if (rows * cols >= BULK_PAR_MIN && rows > 1)
  for (int64_t r = 0; r < rows; r++) {
    const float *s = src + r * ld;
    uint16_t *d = dst + r * cols;
    for (int64_t c = 0; c < cols; c++) {
      uint32_t u = f32_to_bits(s[c]);
      uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
      uint32_t quiet = (u >> 16) | 0x40u; /* a NaN stays a NaN */
      d[c] = (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? quiet : rounded);
    }
  }
}

void pt_bf16_to_f32_rows(const uint16_t *src, int64_t ld, int64_t rows, int64_t cols, float *dst) {
#pragma omp parallel for schedule(static) if (rows * cols >= BULK_PAR_MIN && rows > 1)
  for (int64_t r = 0; r < rows; r++) {
    const uint16_t *s = src + r * ld;
    float *d = dst + r * cols;
    for (int64_t c = 0; c < cols; c++) d[c] = bits_to_f32((uint32_t)s[c] << 16);
  }
}
