/* What the tasks' request readers share (task_def.read_inputs, inputs.c):
 * a walk over a request's "inputs" array naming each element "inputs[i]",
 * and its texts copied with their checks. The per-task readers live in
 * each task's folder (serve.c) beside its serve_json. */
#ifndef APPS_TASKS_INPUTS_H
#define APPS_TASKS_INPUTS_H

#include <jansson.h>
#include <stdint.h>

#include "tensor/pt_status.h"

/* Calls each(v, where, i, ctx) for inputs[i], i = 0.. (where is "inputs[i]");
 * stops at the first failure, which it returns. `inputs` must be an array. */
pt_status inputs_each(const json_t *inputs,
                      pt_status (*each)(const json_t *v, const char *where, int64_t i, void *ctx),
                      void *ctx);

/* Zeroed room for one example (elem bytes) per input in *examples and the
 * set's path "inputs" in *path, both the caller's to free(). */
pt_status inputs_alloc(const json_t *inputs, size_t elem, void **examples, char **path);

/* Sets key to `value` (a new reference, stolen) in the result object *out;
 * when that fails *out is released and set to NULL. */
pt_status result_add(json_t **out, const char *key, json_t *value);

/* A copy of the string v (the caller frees it): PT_ERR_FORMAT "where: 'what'
 * must be a string, got ..." for anything else, or when it holds a NUL. */
pt_status input_text(const json_t *v, const char *where, const char *what, char **out);

#endif
