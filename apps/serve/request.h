/* The JSON bodies a server reads, checked before anything runs:
 *   POST /v1/predict        {"adapter": NAME, "inputs": [...], "timeout_ms": N?}
 *   POST /v1/adapters/NAME  {"path": DIR}
 * Each problem is one line naming the key; a body that is not JSON, a key
 * of the wrong type or an unknown key is PT_ERR_FORMAT (HTTP 400), more
 * inputs than allowed PT_ERR_ARG (413). What the inputs hold is the task's
 * to check (task_def.read_inputs, 422). */
#ifndef APPS_SERVE_REQUEST_H
#define APPS_SERVE_REQUEST_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor/pt_status.h"

typedef struct {
  json_t *root;          /* owned */
  const char *adapter;   /* borrowed from root */
  const json_t *inputs;  /* a non-empty array, borrowed from root */
  int64_t timeout_ms;    /* -1: the server's */
} predict_request;

pt_status predict_request_parse(const char *body, size_t len, int64_t max_inputs,
                                predict_request *out);
void predict_request_free(predict_request *r);

/* *path: a new string (free()). */
pt_status load_request_parse(const char *body, size_t len, char **path);

#endif
