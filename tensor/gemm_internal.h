/* Between matmul.c (the one GEMM entry, pt_gemm_run) and gemm_onednn.c
 * (its oneDNN backend). Not installed. */
#ifndef PT_GEMM_INTERNAL_H
#define PT_GEMM_INTERNAL_H

#include <stdio.h>

#include "tensor/pt_matmul.h"

/* oneDNN's engine could be created (once per process). */
bool pt_onednn_available(void);
/* Runs `g` through a cached oneDNN matmul; false when oneDNN has no
 * implementation for it (nothing written then). Dtypes as oneDNN takes
 * them: both F32 or both BF16 (never F64: false). */
bool pt_onednn_gemm(const pt_gemm_desc *g);
/* oneDNN's implementation name for `g` ("none" when it has none). */
const char *pt_onednn_impl(const pt_gemm_desc *g, char *buf, size_t cap);
const char *pt_onednn_isa(void);
bool pt_onednn_native_bf16(void);

#endif
