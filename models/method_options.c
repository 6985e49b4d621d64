/* Method option tables: one table fills, copies, reads and writes a
 * method's options struct for the command line and adapter_config.json
 * (see pt_method.h). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/pt_method.h"
#include "nn/pt_json.h"

#define FIELD(opts, o, type) ((type *)((char *)(opts) + (o)->offset))
#define CFIELD(opts, o, type) ((const type *)((const char *)(opts) + (o)->offset))

/* "--flag" or the key, for messages. */
static const char *label(const pt_option *o, char *buf, size_t cap) {
  if (o->flag) snprintf(buf, cap, "--%s", o->flag);
  else snprintf(buf, cap, "%s", o->key);
  return buf;
}

static bool choice_ok(const pt_option *o, const char *v) {
  size_t n = strlen(v);
  for (const char *c = o->choices; c && *c;) {
    const char *bar = strchr(c, '|');
    size_t len = bar ? (size_t)(bar - c) : strlen(c);
    if (len == n && !strncmp(c, v, n)) return true;
    c = bar ? bar + 1 : c + len;
  }
  return false;
}

static pt_status set_string(char **slot, const char *v, const char *what) {
  char *copy = v ? strdup(v) : NULL;
  if (v && !copy) return pt_error(PT_ERR_NOMEM, "%s: out of memory", what);
  free(*slot);
  *slot = copy;
  return PT_OK;
}

pt_status pt_option_set_text(const pt_option *o, void *opts, const char *text) {
  char what[96];
  label(o, what, sizeof what);
  if (!text) text = o->type == PT_OPT_BOOL ? "true" : "";
  char *end = NULL;
  errno = 0;
  switch (o->type) {
    case PT_OPT_INT: {
      long long v = strtoll(text, &end, 10);
      if (!*text || *end || errno)
        return pt_error(PT_ERR_ARG, "%s: '%s' is not an integer", what, text);
      *FIELD(opts, o, int64_t) = v;
      return PT_OK;
    }
    case PT_OPT_REAL: {
      double v = strtod(text, &end);
      if (!*text || *end || errno || !isfinite(v))
        return pt_error(PT_ERR_ARG, "%s: '%s' is not a finite number", what, text);
      *FIELD(opts, o, double) = v;
      return PT_OK;
    }
    case PT_OPT_BOOL:
      if (!strcmp(text, "true") || !strcmp(text, "1")) *FIELD(opts, o, bool) = true;
      else if (!strcmp(text, "false") || !strcmp(text, "0")) *FIELD(opts, o, bool) = false;
      else return pt_error(PT_ERR_ARG, "%s: '%s' is not true or false", what, text);
      return PT_OK;
    case PT_OPT_CHOICE:
      if (!choice_ok(o, text))
        return pt_error(PT_ERR_ARG, "%s: '%s' is not one of %s", what, text, o->choices);
      return set_string(FIELD(opts, o, char *), text, what);
    case PT_OPT_STRING:
      return set_string(FIELD(opts, o, char *), text, what);
    case PT_OPT_TARGETS:
      return pt_nn_targets_parse(text, what, FIELD(opts, o, pt_nn_targets));
  }
  return pt_error(PT_ERR_ARG, "%s: unknown option type", what);
}

void pt_options_free(const pt_option *table, void *opts) {
  for (const pt_option *o = table; o->key; o++) {
    if (o->type == PT_OPT_STRING || o->type == PT_OPT_CHOICE) {
      free(*FIELD(opts, o, char *));
      *FIELD(opts, o, char *) = NULL;
    } else if (o->type == PT_OPT_TARGETS) {
      pt_nn_targets_free(FIELD(opts, o, pt_nn_targets));
    }
  }
}

pt_status pt_options_init(const pt_option *table, void *opts) {
  for (const pt_option *o = table; o->key; o++) { /* the struct's size is not known here */
    size_t size = o->type == PT_OPT_INT ? sizeof(int64_t) : o->type == PT_OPT_REAL ? sizeof(double)
                  : o->type == PT_OPT_BOOL ? sizeof(bool) : o->type == PT_OPT_TARGETS
                  ? sizeof(pt_nn_targets) : sizeof(char *);
    memset((char *)opts + o->offset, 0, size);
  }
  for (const pt_option *o = table; o->key; o++) {
    if (!o->def) continue;
    pt_status st = pt_option_set_text(o, opts, o->def);
    if (st != PT_OK) {
      pt_options_free(table, opts);
      return pt_error_context(st, "default of %s", o->key);
    }
  }
  return PT_OK;
}

pt_status pt_options_copy(const pt_option *table, void *dst, const void *src) {
  PT_TRY(pt_options_init(table, dst));
  for (const pt_option *o = table; o->key; o++) {
    pt_status st = PT_OK;
    switch (o->type) {
      case PT_OPT_INT: *FIELD(dst, o, int64_t) = *CFIELD(src, o, int64_t); break;
      case PT_OPT_REAL: *FIELD(dst, o, double) = *CFIELD(src, o, double); break;
      case PT_OPT_BOOL: *FIELD(dst, o, bool) = *CFIELD(src, o, bool); break;
      case PT_OPT_STRING:
      case PT_OPT_CHOICE:
        st = set_string(FIELD(dst, o, char *), *CFIELD(src, o, char *), o->key);
        break;
      case PT_OPT_TARGETS: {
        pt_nn_targets *d = FIELD(dst, o, pt_nn_targets);
        pt_nn_targets_free(d);
        st = pt_nn_targets_copy(CFIELD(src, o, pt_nn_targets), d);
        break;
      }
    }
    if (st != PT_OK) {
      pt_options_free(table, dst);
      return st;
    }
  }
  return PT_OK;
}

const pt_option *pt_option_find_flag(const pt_option *table, const char *flag) {
  for (const pt_option *o = table; o->key; o++)
    if (o->flag && !strcmp(o->flag, flag)) return o;
  return NULL;
}

pt_status pt_options_from_json(const pt_option *table, void *opts, const json_t *j,
                               const char *path) {
  for (const pt_option *o = table; o->key; o++) {
    const json_t *v = json_object_get(j, o->key);
    if (!v) continue;
    if (json_is_null(v)) { /* unset (peft writes null for unused keys); numbers keep theirs */
      if (o->type == PT_OPT_STRING || o->type == PT_OPT_CHOICE) {
        free(*FIELD(opts, o, char *));
        *FIELD(opts, o, char *) = NULL;
      } else if (o->type == PT_OPT_TARGETS) {
        pt_nn_targets_free(FIELD(opts, o, pt_nn_targets));
      }
      continue;
    }
    char what[4200];
    snprintf(what, sizeof what, "%s: '%s'", path, o->key);
    switch (o->type) {
      case PT_OPT_INT:
        PT_TRY(pt_json_int(j, path, o->key, FIELD(opts, o, int64_t)));
        break;
      case PT_OPT_REAL:
        PT_TRY(pt_json_double(j, path, o->key, FIELD(opts, o, double)));
        break;
      case PT_OPT_BOOL:
        PT_TRY(pt_json_bool(j, path, o->key, FIELD(opts, o, bool)));
        break;
      case PT_OPT_STRING:
      case PT_OPT_CHOICE: {
        const char *s;
        PT_TRY(pt_json_string(j, path, o->key, &s));
        if (o->type == PT_OPT_CHOICE && !choice_ok(o, s))
          return pt_error(PT_ERR_FORMAT, "%s is '%s', not one of %s", what, s, o->choices);
        PT_TRY(set_string(FIELD(opts, o, char *), s, what));
        break;
      }
      case PT_OPT_TARGETS: {
        pt_nn_targets *t = FIELD(opts, o, pt_nn_targets);
        if (json_is_string(v)) { /* peft: a string is a regular expression */
          PT_TRY(pt_nn_targets_set_regex(t, json_string_value(v), what));
        } else if (json_is_array(v)) {
          size_t n = json_array_size(v);
          const char **names = calloc(n ? n : 1, sizeof(char *));
          if (!names) return pt_error(PT_ERR_NOMEM, "%s: out of memory", path);
          for (size_t i = 0; i < n; i++) {
            names[i] = json_string_value(json_array_get(v, i));
            if (!names[i]) {
              free(names);
              return pt_error(PT_ERR_FORMAT, "%s must hold strings", what);
            }
          }
          pt_status st = n ? pt_nn_targets_set_list(t, (int)n, names, what)
                           : pt_error(PT_ERR_FORMAT, "%s is an empty list", what);
          free(names);
          PT_TRY(st);
        } else {
          return pt_error(PT_ERR_FORMAT, "%s must be a list of module names or a regular "
                          "expression, got %s", what, pt_json_type_name(v));
        }
        break;
      }
    }
  }
  return PT_OK;
}

pt_status pt_options_to_json(const pt_option *table, const void *opts, json_t *j, bool peft_only) {
  for (const pt_option *o = table; o->key; o++) {
    if (peft_only && !o->peft) continue;
    json_t *v = NULL;
    switch (o->type) {
      case PT_OPT_INT: v = json_integer(*CFIELD(opts, o, int64_t)); break;
      case PT_OPT_REAL: v = json_real(*CFIELD(opts, o, double)); break;
      case PT_OPT_BOOL: v = json_boolean(*CFIELD(opts, o, bool)); break;
      case PT_OPT_STRING:
      case PT_OPT_CHOICE: {
        const char *s = *CFIELD(opts, o, char *);
        v = s ? json_string(s) : json_null();
        break;
      }
      case PT_OPT_TARGETS: {
        const pt_nn_targets *t = CFIELD(opts, o, pt_nn_targets);
        if (t->regex) {
          v = json_string(t->regex);
        } else if (t->n) {
          v = json_array();
          for (int i = 0; v && i < t->n; i++) json_array_append_new(v, json_string(t->names[i]));
        } else {
          v = json_null();
        }
        break;
      }
    }
    if (!v || json_object_set_new(j, o->key, v))
      return pt_error(PT_ERR_NOMEM, "writing option %s: out of memory", o->key);
  }
  return PT_OK;
}

char *pt_option_text(const pt_option *o, const void *opts) {
  char buf[64];
  switch (o->type) {
    case PT_OPT_INT:
      snprintf(buf, sizeof buf, "%lld", (long long)*CFIELD(opts, o, int64_t));
      return strdup(buf);
    case PT_OPT_REAL:
      snprintf(buf, sizeof buf, "%.17g", *CFIELD(opts, o, double));
      return strdup(buf);
    case PT_OPT_BOOL:
      return strdup(*CFIELD(opts, o, bool) ? "true" : "false");
    case PT_OPT_STRING:
    case PT_OPT_CHOICE: {
      const char *s = *CFIELD(opts, o, char *);
      return strdup(s ? s : "");
    }
    case PT_OPT_TARGETS:
      return pt_nn_targets_text(CFIELD(opts, o, pt_nn_targets));
  }
  return NULL;
}

void pt_options_usage(const pt_option *table, FILE *f) {
  static const char *const kinds[] = {"N", "X", "[true|false]", "TEXT", NULL, "MODULES"};
  for (const pt_option *o = table; o->key; o++) {
    if (!o->flag) continue;
    char arg[160];
    snprintf(arg, sizeof arg, "--%s %s", o->flag, o->type == PT_OPT_CHOICE ? o->choices : kinds[o->type]);
    fprintf(f, "  %-40s %s", arg, o->help);
    if (o->def && *o->def) fprintf(f, " (default %s)", o->def);
    fprintf(f, "\n");
  }
}
