/* Which of OpenBLAS's kernel sets ("cores") suits this CPU, from its features.
 *
 * A DYNAMIC_ARCH OpenBLAS (Debian's) picks its kernels by CPU model as it
 * starts. A model newer than the release can miss that table: Debian 12's
 * 0.3.21 takes Intel family 6 model 207 (a Xeon with AVX-512 and
 * AVX512_BF16) for a Pentium 4 and runs its SSE3 "Prescott" kernels, and
 * sgemm then made 58-66 GFLOP/s on 2 cores where the AVX-512 kernels make
 * ~290. OpenBLAS reads OPENBLAS_CORETYPE once, in its constructor; the
 * `ptune` command sets it to pt_blas_core_for_cpu() there when the
 * environment does not (apps/main.c). A program using the library directly
 * can do the same before OpenBLAS starts, or export the variable.
 *
 * The choice follows OpenBLAS's own rule for CPUs it does not know (0.3.21's
 * fallback): AVX-512 (VL, with the OS saving zmm state) -> SkylakeX, AVX2
 * -> Haswell, AVX -> Sandybridge. A CPU with AVX512_BF16 gets SkylakeX too,
 * not Cooperlake: 0.3.21's OPENBLAS_CORETYPE does not accept that name, and
 * Cooperlake's kernels are SkylakeX's plus bf16 ones ptune does not call (its
 * bf16 products run on oneDNN); sgemm measured 313 GFLOP/s with SkylakeX
 * and 299 with Cooperlake on that Xeon, 159 with Haswell. On the CPUs
 * OpenBLAS does know, the rule names the kernels it picks itself (Cooper
 * Lake and Sapphire Rapids: SkylakeX's sgemm instead of the same kernel
 * under Cooperlake's name), except AMD's Zen families up to 19h, which get
 * Zen kernels: there it returns NULL and leaves OpenBLAS's choice. Pure functions of CPUID, safe to call before
 * libc has finished starting (no allocation, no errors to set). */
#ifndef PT_BLAS_CORE_H
#define PT_BLAS_CORE_H

#include <stdbool.h>

typedef struct {
  bool amd;           /* AuthenticAMD or HygonGenuine */
  int family;         /* display family (base + extended) */
  bool avx, avx2;     /* with the OS saving ymm state */
  bool avx512;        /* AVX512VL, with the OS saving zmm and opmask state */
  bool avx512_bf16;
} pt_cpu_features;

/* This CPU's features; all false off x86-64. */
void pt_cpu_features_read(pt_cpu_features *cpu);

/* The OPENBLAS_CORETYPE name for `cpu` (a static string), or NULL to leave
 * OpenBLAS's own choice. */
const char *pt_blas_core_for(const pt_cpu_features *cpu);

/* pt_blas_core_for of this CPU. */
const char *pt_blas_core_for_cpu(void);

#endif
