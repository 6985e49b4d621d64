/* OpenBLAS's kernel set for this CPU, from CPUID (see pt_blas_core.h). */
#include "tensor/pt_blas_core.h"

#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>

static unsigned long long xcr0(void) {
  unsigned eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (unsigned long long)edx << 32 | eax;
}
#endif

void pt_cpu_features_read(pt_cpu_features *cpu) {
  memset(cpu, 0, sizeof *cpu);
#if defined(__x86_64__)
  unsigned a = 0, b = 0, c = 0, d = 0, max_leaf = 0;
  if (!__get_cpuid(0, &max_leaf, &b, &c, &d)) return;
  char vendor[13];
  memcpy(vendor, &b, 4);
  memcpy(vendor + 4, &d, 4);
  memcpy(vendor + 8, &c, 4);
  vendor[12] = 0;
  cpu->amd = !strcmp(vendor, "AuthenticAMD") || !strcmp(vendor, "HygonGenuine");
  __get_cpuid(1, &a, &b, &c, &d);
  int base = (int)(a >> 8 & 0xf);
  cpu->family = base == 0xf ? base + (int)(a >> 20 & 0xff) : base;
  bool osxsave = c >> 27 & 1, avx = c >> 28 & 1;
  unsigned long long xcr = osxsave ? xcr0() : 0;
  bool ymm = (xcr & 0x6) == 0x6, zmm = ymm && (xcr & 0xe0) == 0xe0;
  cpu->avx = avx && ymm;
  if (max_leaf < 7) return;
  __get_cpuid_count(7, 0, &a, &b, &c, &d);
  cpu->avx2 = cpu->avx && (b >> 5 & 1);
  cpu->avx512 = cpu->avx2 && zmm && (b >> 31 & 1);
  unsigned max7 = a;
  if (max7 >= 1) {
    __get_cpuid_count(7, 1, &a, &b, &c, &d);
    cpu->avx512_bf16 = cpu->avx512 && (a >> 5 & 1);
  }
#endif
}

const char *pt_blas_core_for(const pt_cpu_features *cpu) {
  if (cpu->amd && cpu->family <= 0x19) return NULL; /* OpenBLAS knows them, Zen kernels */
  if (cpu->avx512) return "SkylakeX"; /* also with BF16: see the header */
  if (cpu->avx2) return "Haswell";
  if (cpu->avx) return "Sandybridge";
  return NULL;
}

const char *pt_blas_core_for_cpu(void) {
  pt_cpu_features cpu;
  pt_cpu_features_read(&cpu);
  return pt_blas_core_for(&cpu);
}
