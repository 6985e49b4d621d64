/* Request inputs (see inputs.h). */
#include "apps/tasks/inputs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/tasks/lines.h"
#include "nn/pt_json.h"

pt_status inputs_each(const json_t *inputs,
                      pt_status (*each)(const json_t *v, const char *where, int64_t i, void *ctx),
                      void *ctx) {
  char where[48];
  for (size_t i = 0; i < json_array_size(inputs); i++) {
    snprintf(where, sizeof where, "inputs[%zu]", i);
    PT_TRY(each(json_array_get(inputs, i), where, (int64_t)i, ctx));
  }
  return PT_OK;
}

pt_status input_text(const json_t *v, const char *where, const char *what, char **out) {
  *out = NULL;
  if (!json_is_string(v))
    return pt_error(PT_ERR_FORMAT, "%s: '%s' must be a string, got %s", where, what,
                    pt_json_type_name(v));
  if (strlen(json_string_value(v)) != json_string_length(v))
    return pt_error(PT_ERR_FORMAT, "%s: '%s' holds a NUL character", where, what);
  *out = strdup_checked(json_string_value(v));
  return *out ? PT_OK : PT_ERR_NOMEM;
}

pt_status inputs_alloc(const json_t *inputs, size_t elem, void **examples, char **path) {
  size_t n = json_array_size(inputs);
  *examples = calloc(n ? n : 1, elem);
  *path = strdup_checked("inputs");
  return *examples && *path ? PT_OK : pt_error(PT_ERR_NOMEM, "inputs: out of memory");
}

pt_status result_add(json_t **out, const char *key, json_t *value) {
  if (value && !json_object_set_new(*out, key, value)) return PT_OK;
  json_decref(*out);
  *out = NULL;
  return pt_error(PT_ERR_NOMEM, "results: out of memory");
}
