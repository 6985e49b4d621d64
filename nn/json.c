/* jansson helpers: file loading with line:column errors, typed getters. */
#include "nn/pt_json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Copies jansson's message with control bytes replaced, so it stays one line. */
static const char *one_line(const char *s, char *buf, size_t cap) {
  size_t n = 0;
  for (; s[n] && n + 1 < cap; n++) buf[n] = (unsigned char)s[n] < 0x20 ? '?' : s[n];
  buf[n] = '\0';
  return buf;
}

static json_t *parse_error(const char *name, const json_error_t *err) {
  char tb[JSON_ERROR_TEXT_LENGTH + 1];
  if (err->line > 0)
    pt_error(PT_ERR_FORMAT, "%s:%d:%d: %s", name, err->line, err->column,
             one_line(err->text, tb, sizeof tb));
  else
    pt_error(PT_ERR_FORMAT, "%s: %s", name, one_line(err->text, tb, sizeof tb));
  return NULL;
}

json_t *pt_json_load_file(const char *path) {
  struct stat sb;
  if (stat(path, &sb) != 0) {
    pt_error(PT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    return NULL;
  }
  if (S_ISDIR(sb.st_mode)) {
    pt_error(PT_ERR_IO, "%s: is a directory, expected a JSON file", path);
    return NULL;
  }
  FILE *fp = fopen(path, "rb");
  if (!fp) {
    pt_error(PT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    return NULL;
  }
  json_error_t err;
  json_t *root = json_loadf(fp, JSON_REJECT_DUPLICATES, &err);
  fclose(fp);
  return root ? root : parse_error(path, &err);
}

json_t *pt_json_load_buffer(const char *data, size_t len, const char *name) {
  json_error_t err;
  json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &err);
  return root ? root : parse_error(name, &err);
}

json_t *pt_json_load_object(const char *path) {
  json_t *root = pt_json_load_file(path);
  if (root && !json_is_object(root)) {
    pt_error(PT_ERR_FORMAT, "%s: expected a JSON object at the top level, got %s", path,
             pt_json_type_name(root));
    json_decref(root);
    return NULL;
  }
  return root;
}

const char *pt_json_type_name(const json_t *v) {
  if (!v) return "nothing"; /* an absent key (json_object_get gave NULL) */
  switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
  }
  return "?";
}

bool pt_json_has(const json_t *obj, const char *key) {
  const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
  return v && !json_is_null(v);
}

/* The value of key, or NULL with a message (absent) when required. */
static const json_t *member(const json_t *obj, const char *file, const char *key,
                            bool required, pt_status *s) {
  *s = PT_OK;
  if (!json_is_object(obj)) {
    *s = pt_error(PT_ERR_FORMAT, "%s: expected a JSON object holding '%s'", file, key);
    return NULL;
  }
  const json_t *v = json_object_get(obj, key);
  if (v && json_is_null(v)) v = NULL;
  if (!v && required) *s = pt_error(PT_ERR_FORMAT, "%s: '%s' is missing", file, key);
  return v;
}

static pt_status wrong(const char *file, const char *key, const char *want, const json_t *v) {
  return pt_error(PT_ERR_FORMAT, "%s: '%s' must be %s, got %s", file, key, want,
                  pt_json_type_name(v));
}

static pt_status get_int(const json_t *obj, const char *file, const char *key, bool req,
                         int64_t def, int64_t *out) {
  pt_status s;
  const json_t *v = member(obj, file, key, req, &s);
  if (!v) {
    if (s == PT_OK) *out = def;
    return s;
  }
  if (json_is_integer(v)) {
    *out = json_integer_value(v);
    return PT_OK;
  }
  double d = json_is_real(v) ? json_real_value(v) : NAN;
  if (d == floor(d) && fabs(d) < 9.0e18) {
    *out = (int64_t)d;
    return PT_OK;
  }
  return wrong(file, key, "an integer", v);
}

static pt_status get_double(const json_t *obj, const char *file, const char *key, bool req,
                            double def, double *out) {
  pt_status s;
  const json_t *v = member(obj, file, key, req, &s);
  if (!v) {
    if (s == PT_OK) *out = def;
    return s;
  }
  if (!json_is_number(v)) return wrong(file, key, "a number", v);
  *out = json_number_value(v);
  return PT_OK;
}

static pt_status get_bool(const json_t *obj, const char *file, const char *key, bool req,
                          bool def, bool *out) {
  pt_status s;
  const json_t *v = member(obj, file, key, req, &s);
  if (!v) {
    if (s == PT_OK) *out = def;
    return s;
  }
  if (!json_is_boolean(v)) return wrong(file, key, "true or false", v);
  *out = json_is_true(v);
  return PT_OK;
}

static pt_status get_string(const json_t *obj, const char *file, const char *key, bool req,
                            const char *def, const char **out) {
  pt_status s;
  const json_t *v = member(obj, file, key, req, &s);
  if (!v) {
    if (s == PT_OK) *out = def;
    return s;
  }
  if (!json_is_string(v)) return wrong(file, key, "a string", v);
  *out = json_string_value(v);
  return PT_OK;
}

pt_status pt_json_int(const json_t *obj, const char *file, const char *key, int64_t *out) {
  return get_int(obj, file, key, true, 0, out);
}
pt_status pt_json_double(const json_t *obj, const char *file, const char *key, double *out) {
  return get_double(obj, file, key, true, 0, out);
}
pt_status pt_json_bool(const json_t *obj, const char *file, const char *key, bool *out) {
  return get_bool(obj, file, key, true, false, out);
}
pt_status pt_json_string(const json_t *obj, const char *file, const char *key,
                         const char **out) {
  return get_string(obj, file, key, true, NULL, out);
}
pt_status pt_json_int_or(const json_t *obj, const char *file, const char *key, int64_t def,
                         int64_t *out) {
  return get_int(obj, file, key, false, def, out);
}
pt_status pt_json_double_or(const json_t *obj, const char *file, const char *key, double def,
                            double *out) {
  return get_double(obj, file, key, false, def, out);
}
pt_status pt_json_bool_or(const json_t *obj, const char *file, const char *key, bool def,
                          bool *out) {
  return get_bool(obj, file, key, false, def, out);
}
pt_status pt_json_string_or(const json_t *obj, const char *file, const char *key,
                            const char *def, const char **out) {
  return get_string(obj, file, key, false, def, out);
}
