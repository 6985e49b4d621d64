/* Request bodies (see request.h). */
#include "apps/serve/request.h"

#include <stdlib.h>
#include <string.h>

#include "nn/pt_json.h"

/* The body as a JSON object whose keys are all in `keys` (NULL-terminated). */
static json_t *body_object(const char *body, size_t len, const char *const *keys) {
  json_t *root = pt_json_load_buffer(body, len, "body");
  if (!root) return NULL;
  if (!json_is_object(root)) {
    pt_error(PT_ERR_FORMAT, "body: must be a JSON object, got %s", pt_json_type_name(root));
    json_decref(root);
    return NULL;
  }
  const char *key;
  json_t *v;
  json_object_foreach(root, key, v) {
    const char *const *k = keys;
    while (*k && strcmp(*k, key)) k++;
    if (!*k) {
      pt_error(PT_ERR_FORMAT, "body: unknown key '%.60s'", key);
      json_decref(root);
      return NULL;
    }
  }
  return root;
}

pt_status predict_request_parse(const char *body, size_t len, int64_t max_inputs,
                                predict_request *out) {
  static const char *const keys[] = {"adapter", "inputs", "timeout_ms", NULL};
  memset(out, 0, sizeof *out);
  out->timeout_ms = -1;
  json_t *root = body_object(body, len, keys);
  if (!root) return pt_error_code();
  out->root = root;
  pt_status st = pt_json_string(root, "body", "adapter", &out->adapter);
  out->inputs = json_object_get(root, "inputs");
  if (st == PT_OK && !json_is_array(out->inputs))
    st = pt_error(PT_ERR_FORMAT, "body: 'inputs' must be an array, got %s",
                  pt_json_type_name(out->inputs));
  if (st == PT_OK && json_array_size(out->inputs) == 0)
    st = pt_error(PT_ERR_FORMAT, "body: 'inputs' is empty");
  if (st == PT_OK && (int64_t)json_array_size(out->inputs) > max_inputs)
    st = pt_error(PT_ERR_ARG, "body: %zu inputs, at most %lld in one request",
                  json_array_size(out->inputs), (long long)max_inputs);
  if (st == PT_OK) st = pt_json_int_or(root, "body", "timeout_ms", -1, &out->timeout_ms);
  if (st == PT_OK && pt_json_has(root, "timeout_ms") && out->timeout_ms < 0)
    st = pt_error(PT_ERR_FORMAT, "body: 'timeout_ms' must be at least 0, got %lld",
                  (long long)out->timeout_ms);
  if (st != PT_OK) predict_request_free(out);
  return st;
}

void predict_request_free(predict_request *r) {
  json_decref(r->root);
  memset(r, 0, sizeof *r);
  r->timeout_ms = -1;
}

pt_status load_request_parse(const char *body, size_t len, char **path) {
  static const char *const keys[] = {"path", NULL};
  *path = NULL;
  json_t *root = body_object(body, len, keys);
  if (!root) return pt_error_code();
  const char *p;
  pt_status st = pt_json_string(root, "body", "path", &p);
  if (st == PT_OK && (!p[0] || strlen(p) != json_string_length(json_object_get(root, "path"))))
    st = pt_error(PT_ERR_FORMAT, "body: 'path' is empty or holds a NUL character");
  if (st == PT_OK && !(*path = strdup(p))) st = pt_error(PT_ERR_NOMEM, "body: out of memory");
  json_decref(root);
  return st;
}
