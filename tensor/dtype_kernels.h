/* Instantiates a kernels file for both compute dtypes (private to tensor/).
 *
 *   #define PT_KERNELS "tensor/softmax_kernels.inc"
 *   #include "tensor/dtype_kernels.h"
 *
 * includes PT_KERNELS twice: with T float, SFX f32 and EXP pt_expf (the
 * vectorizable float exp of pt_vmath.h), then with T double, SFX f64 and
 * EXP exp. Inside, PT_CAT(name, SFX) names a function per dtype
 * (name_f32, name_f64). No include guard: one use per kernels file. */
#include <math.h>

#include "tensor/pt_vmath.h"

#ifndef PT_CAT
#define PT_CAT2(a, b) a##_##b
#define PT_CAT(a, b) PT_CAT2(a, b)
#endif

#define T float
#define SFX f32
#define EXP pt_expf
#include PT_KERNELS
#undef T
#undef SFX
#undef EXP

#define T double
#define SFX f64
#define EXP exp
#include PT_KERNELS
#undef T
#undef SFX
#undef EXP

#undef PT_KERNELS
