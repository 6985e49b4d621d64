/* The floating-point control bits behind pt_fpmode.h. */
#include "tensor/pt_fpmode.h"

#include <stdint.h>

#if defined(__x86_64__) || defined(__SSE2__)
#include <xmmintrin.h>
#define HAVE_FLUSH 1
/* MXCSR: FTZ (bit 15) flushes denormal results, DAZ (bit 6) reads denormal
 * inputs as zero; both are needed, since a GEMM's operands are what other
 * code produced. */
#define FLUSH_BITS 0x8040u
static void set_this_thread(bool on) {
  unsigned m = _mm_getcsr();
  _mm_setcsr(on ? m | FLUSH_BITS : m & ~FLUSH_BITS);
}
static bool this_thread(void) { return (_mm_getcsr() & FLUSH_BITS) == FLUSH_BITS; }
#elif defined(__aarch64__)
#define HAVE_FLUSH 1
/* FPCR.FZ (bit 24) flushes denormal inputs and results. */
#define FLUSH_BITS ((uint64_t)1 << 24)
static void set_this_thread(bool on) {
  uint64_t r;
  __asm__ volatile("mrs %0, fpcr" : "=r"(r));
  r = on ? r | FLUSH_BITS : r & ~FLUSH_BITS;
  __asm__ volatile("msr fpcr, %0" : : "r"(r));
}
static bool this_thread(void) {
  uint64_t r;
  __asm__ volatile("mrs %0, fpcr" : "=r"(r));
  return (r & FLUSH_BITS) != 0;
}
#else
#define HAVE_FLUSH 0
#endif

bool pt_set_flush_denormal(bool on) {
#if HAVE_FLUSH
  set_this_thread(on);
  /* the control register is per thread: visit each pool thread */
#pragma omp parallel
  set_this_thread(on);
  return true;
#else
  (void)on;
  return false;
#endif
}

bool pt_flush_denormal(void) {
#if HAVE_FLUSH
  return this_thread();
#else
  return false;
#endif
}
