/* Elementwise unary kernels on data (no autograd): exp, log, sqrt, rsqrt,
 * tanh, sigmoid, relu, gelu (erf), gelu_tanh, pow. F32 and F64, any strides
 * in; results are new contiguous tensors owned by the caller. F32 is
 * computed in float (libm's float functions, except sigmoid and the GELUs,
 * which use the vectorizable pt_expf: within 5e-7 of PyTorch's float
 * results over [-10, 10]); F64 uses libm in double. */
#ifndef PT_UNARY_H
#define PT_UNARY_H

#include <stdbool.h>

#include "tensor/pt_tensor.h"

typedef enum {
  PT_UN_EXP,
  PT_UN_LOG,
  PT_UN_SQRT,
  PT_UN_RSQRT,
  PT_UN_TANH,
  PT_UN_SIGMOID,
  PT_UN_RELU,
  PT_UN_GELU,      /* 0.5·x·(1 + erf(x/√2)), PyTorch's F.gelu default */
  PT_UN_GELU_TANH, /* 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))), approximate='tanh' */
  PT_UN_POW,       /* x^param */
  PT_UN_COUNT
} pt_unary_kind;

/* The kind's name ("exp", "gelu_tanh", ...), used in error messages. */
const char *pt_unary_name(pt_unary_kind kind);

/* True when the derivative is cheapest from the output y (exp, sqrt, rsqrt,
 * tanh, sigmoid, relu), false when it needs the input x (log, gelu,
 * gelu_tanh, pow). An autograd op saves that one tensor. */
bool pt_unary_grad_uses_output(pt_unary_kind kind);

/* y = f(x). `param` is the exponent for PT_UN_POW and ignored otherwise.
 * Errors name `op` (NULL: the kind's name). */
pt_tensor *pt_raw_unary(pt_unary_kind kind, const pt_tensor *x, double param, const char *op);

/* dx = g · f'(·), where `saved` is y or x as pt_unary_grad_uses_output
 * says; g and saved have the same shape and dtype (any strides). Returns a
 * new contiguous tensor (does not accumulate). */
pt_tensor *pt_raw_unary_backward(pt_unary_kind kind, const pt_tensor *g, const pt_tensor *saved,
                                 double param);

/* GELU (erf) in place over a rows x cols F32 or F64 block with leading
 * dimension ld: PT_UN_GELU's values, for a GEMM's epilogue (pt_gemm_run). */
void pt_gelu_rows(pt_dtype dt, void *x, int64_t rows, int64_t cols, int64_t ld);

#endif
