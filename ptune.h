/* ptune: everything public in one include. */
#ifndef PTUNE_H
#define PTUNE_H

#include "tensor/pt_status.h"
#include "tensor/pt_tensor.h"
#include "tensor/pt_rng.h"
#include "tensor/pt_elementwise.h"
#include "tensor/pt_reduce.h"
#include "tensor/pt_matmul.h"
#include "tensor/pt_blas_core.h"
#include "tensor/pt_fpmode.h"
#include "tensor/pt_heap.h"
#include "tensor/pt_threads.h"
#include "autograd/pt_autograd.h"
#include "autograd/pt_ops.h"
#include "autograd/pt_ops_index.h"
#include "autograd/pt_ops_norm.h"
#include "autograd/pt_ops_pointwise.h"
#include "autograd/pt_ops_rnn.h"
#include "autograd/pt_gradcheck.h"
#include "autograd/pt_op_table.h"
#include "nn/pt_safetensors.h"
#include "models/pt_tokenizer.h"
#include "optim/pt_optim.h"
#include "dist/pt_dist.h"

#endif
