/* Small helpers over jansson shared by every JSON reader (config.json,
 * tokenizer files, adapter configs, data sets): loading with a one-line
 * "file:LINE:COL: message" error, and typed getters whose errors name the key
 * and the file.
 *
 * Ownership: pt_json_load_* return a new jansson reference (json_decref it).
 * Strings returned by the getters are borrowed from the JSON value and live
 * as long as it does. A JSON null counts as absent. */
#ifndef PT_JSON_H
#define PT_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor/pt_status.h"

/* Parses `path` (duplicate keys rejected). NULL on failure with PT_ERR_IO
 * ("config.json: cannot open: No such file or directory") or PT_ERR_FORMAT
 * ("config.json:3:14: unexpected token near '}'"). */
json_t *pt_json_load_file(const char *path);
/* The same over a buffer; `name` stands for the file in messages. */
json_t *pt_json_load_buffer(const char *data, size_t len, const char *name);
/* Like pt_json_load_file but the top level must be an object. */
json_t *pt_json_load_object(const char *path);

/* True when obj is an object holding `key` with a non-null value. */
bool pt_json_has(const json_t *obj, const char *key);

/* Required getters: PT_ERR_FORMAT naming file and key when the key is absent
 * or has the wrong type ("config.json: 'hidden_size' must be an integer,
 * got a string"). Integers accept integral reals (768.0); doubles accept
 * integers. */
pt_status pt_json_int(const json_t *obj, const char *file, const char *key, int64_t *out);
pt_status pt_json_double(const json_t *obj, const char *file, const char *key, double *out);
pt_status pt_json_bool(const json_t *obj, const char *file, const char *key, bool *out);
pt_status pt_json_string(const json_t *obj, const char *file, const char *key,
                         const char **out);

/* Optional getters: `def` when the key is absent or null, an error only when
 * it is present with the wrong type. */
pt_status pt_json_int_or(const json_t *obj, const char *file, const char *key, int64_t def,
                         int64_t *out);
pt_status pt_json_double_or(const json_t *obj, const char *file, const char *key, double def,
                            double *out);
pt_status pt_json_bool_or(const json_t *obj, const char *file, const char *key, bool def,
                          bool *out);
pt_status pt_json_string_or(const json_t *obj, const char *file, const char *key,
                            const char *def, const char **out);

/* "an integer", "a string", ... for messages; "nothing" for NULL (a missing
 * key), so callers may pass json_object_get's result unchecked. */
const char *pt_json_type_name(const json_t *v);

#endif
