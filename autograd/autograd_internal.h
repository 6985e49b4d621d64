/* What autograd's own files share and nothing outside autograd/ sees (not
 * installed): the tape's hook for backward, and the gradient-check case
 * family of each ops file, which op_table.c gathers into the op table. */
#ifndef PT_AUTOGRAD_INTERNAL_H
#define PT_AUTOGRAD_INTERNAL_H

#include "autograd/pt_autograd.h"
#include "autograd/pt_op_table.h"

/* Drops the tensors a node saved for its backward and marks it released, so
 * a second backward through it fails clearly (tape.c; backward.c calls it
 * after running each node unless the graph is retained). */
void pt_node_release_saved(pt_node *node);

/* One array per ops file, each ending with an entry whose name is NULL. A
 * new ops file adds its family here and to op_table.c's list. */
extern const pt_op_case pt_op_cases_binary[];
extern const pt_op_case pt_op_cases_matmul[];
extern const pt_op_case pt_op_cases_reduce[];
extern const pt_op_case pt_op_cases_view[];
extern const pt_op_case pt_op_cases_softmax[];
extern const pt_op_case pt_op_cases_layernorm[];
extern const pt_op_case pt_op_cases_loss[];
extern const pt_op_case pt_op_cases_select[];
extern const pt_op_case pt_op_cases_pointwise[];
extern const pt_op_case pt_op_cases_dropout[];
extern const pt_op_case pt_op_cases_where[];
extern const pt_op_case pt_op_cases_embedding[];
extern const pt_op_case pt_op_cases_join[];
extern const pt_op_case pt_op_cases_attention[];
extern const pt_op_case pt_op_cases_lstm[];

#endif
