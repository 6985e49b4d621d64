/* Elementwise kernels on data (no autograd). F32 and F64; binary kernels
 * broadcast with NumPy rules and both operands must share a dtype. Results
 * are new contiguous tensors owned by the caller. */
#ifndef PT_ELEMENTWISE_H
#define PT_ELEMENTWISE_H

#include "tensor/pt_tensor.h"

typedef enum { PT_BIN_ADD, PT_BIN_SUB, PT_BIN_MUL, PT_BIN_DIV } pt_binary_kind;

pt_tensor *pt_raw_binary(pt_binary_kind kind, const pt_tensor *a, const pt_tensor *b);

/* dst += alpha * src (src broadcast to dst's shape). dst is written in
 * place; any strides. */
pt_status pt_raw_axpy_into(pt_tensor *dst, double alpha, const pt_tensor *src);

/* alpha * x + beta, a new tensor. */
pt_tensor *pt_raw_affine(const pt_tensor *x, double alpha, double beta);

#endif
