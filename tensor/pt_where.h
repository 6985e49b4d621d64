/* Selection on data (no autograd): out = cond ? a : b elementwise. */
#ifndef PT_WHERE_H
#define PT_WHERE_H

#include "tensor/pt_tensor.h"

/* cond, a and b broadcast together (NumPy rules); a and b share a float
 * dtype (F32/F64), cond may be any dtype (non-zero = true; F16/BF16 −0 is
 * false, NaN true). Errors name `op` (NULL: "where"). Returns a new
 * contiguous tensor of the broadcast shape (caller owns). */
pt_tensor *pt_raw_where(const pt_tensor *cond, const pt_tensor *a, const pt_tensor *b,
                        const char *op);

#endif
