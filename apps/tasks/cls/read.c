/* Classification data: SuperGLUE jsonl (BoolQ, CB, RTE, WiC, WSC), GLUE tsv
 * (SST-2, RTE, CoLA) and generic jsonl with named text and label fields. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/tasks/cls/cls.h"
#include "nn/pt_json.h"

void cls_set_free(cls_set *set) {
  for (int64_t i = 0; i < set->n; i++) {
    free(set->ex[i].text_a);
    free(set->ex[i].text_b);
    free(set->ex[i].label);
  }
  free(set->ex);
  free(set->path);
  memset(set, 0, sizeof *set);
}

pt_status cls_map_labels(cls_set *set, label_map *map, bool grow) {
  if (!set->has_labels) return pt_error(PT_ERR_ARG, "%s: has no labels to map", set->path);
  for (int64_t i = 0; i < set->n; i++) {
    cls_example *e = &set->ex[i];
    char where[512];
    task_where(where, sizeof where, set->path, e->line, i);
    PT_TRY(label_map_lookup(map, e->label, grow, where, &e->label_id));
  }
  return PT_OK;
}

pt_status cls_fields_parse(const char *text_fields, const char *label_field,
                              cls_fields *out, char **spec_buf) {
  memset(out, 0, sizeof *out);
  *spec_buf = NULL;
  if (!text_fields || !text_fields[0])
    return pt_error(PT_ERR_ARG, "--text-fields: expected A or A,B (field names), got nothing");
  if (!label_field || !label_field[0])
    return pt_error(PT_ERR_ARG, "--label-field: expected a field name, got nothing");
  char *buf = strdup_checked(text_fields);
  if (!buf) return PT_ERR_NOMEM;
  char *comma = strchr(buf, ',');
  if (comma) {
    *comma = '\0';
    if (!comma[1] || !buf[0] || strchr(comma + 1, ',')) {
      free(buf);
      return pt_error(PT_ERR_ARG, "--text-fields: expected A or A,B, got '%s'", text_fields);
    }
  }
  out->text_a = buf;
  out->text_b = comma ? comma + 1 : NULL;
  out->label = label_field;
  *spec_buf = buf;
  return PT_OK;
}

/* ---- fields ------------------------------------------------------------- */


/* The label value as a string: strings as they are, true/false as
 * "True"/"False" (HF ClassLabel names), integers in decimal. */
pt_status cls_label_string(const json_t *o, const char *key, const char *where, bool optional,
                           char **out) {
  *out = NULL;
  const json_t *v = json_object_get(o, key);
  if (!v || json_is_null(v))
    return optional ? PT_OK : pt_error(PT_ERR_FORMAT, "%s: '%s' is missing", where, key);
  if (json_is_string(v))
    *out = strdup_checked(json_string_value(v));
  else if (json_is_boolean(v))
    *out = strdup_checked(json_is_true(v) ? "True" : "False");
  else if (json_is_integer(v))
    *out = strprintf("%lld", (long long)json_integer_value(v));
  else
    return pt_error(PT_ERR_FORMAT, "%s: '%s' must be a string, boolean or integer, got %s", where,
                    key, pt_json_type_name(v));
  if (!*out) return PT_ERR_NOMEM;
  if (!(*out)[0]) return pt_error(PT_ERR_FORMAT, "%s: '%s' is empty", where, key);
  return PT_OK;
}

/* A preset label must be one of the preset's names. */
static pt_status check_preset_label(data_format fmt, const char *label, const char *where) {
  const char *const *names;
  int64_t n;
  data_format_labels(fmt, &names, &n);
  if (n == 0 || !label) return PT_OK;
  for (int64_t i = 0; i < n; i++)
    if (strcmp(names[i], label) == 0) return PT_OK;
  char list[128] = "";
  for (int64_t i = 0; i < n; i++) {
    strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
    strncat(list, names[i], sizeof list - strlen(list) - 1);
  }
  return pt_error(PT_ERR_FORMAT, "%s: unknown label '%s' for %s (expected %s)", where, label,
                  data_format_name(fmt), list);
}

/* WSC span texts live in "target" in the official files, top level in HF's. */
static pt_status wsc_span(const json_t *o, const char *key, const char *where, const char **out) {
  const json_t *t = json_object_get(o, "target");
  return pt_json_string(json_is_object(t) ? t : o, where, key, out);
}

static pt_status cls_from_json(const json_t *o, data_format fmt, const cls_fields *f,
                               const char *where, const read_opts *opts, cls_example *e) {
  const char *label_key = "label";
  switch (fmt) {
    case FMT_BOOLQ:
      PT_TRY(json_text_copy(o, "question", where, &e->text_a));
      PT_TRY(json_text_copy(o, "passage", where, &e->text_b));
      break;
    case FMT_CB:
    case FMT_RTE:
      PT_TRY(json_text_copy(o, "premise", where, &e->text_a));
      PT_TRY(json_text_copy(o, "hypothesis", where, &e->text_b));
      break;
    case FMT_WIC: {
      const char *s1, *s2, *w;
      PT_TRY(pt_json_string(o, where, "sentence1", &s1));
      PT_TRY(pt_json_string(o, where, "sentence2", &s2));
      PT_TRY(pt_json_string(o, where, "word", &w));
      e->text_a = strprintf("%s %s Does %s have the same meaning in both sentences?", s1, s2, w);
      if (!e->text_a) return PT_ERR_NOMEM;
      break;
    }
    case FMT_WSC: {
      const char *text, *s1, *s2;
      PT_TRY(pt_json_string(o, where, "text", &text));
      PT_TRY(wsc_span(o, "span1_text", where, &s1));
      PT_TRY(wsc_span(o, "span2_text", where, &s2));
      e->text_a = strprintf("%s: %s", s2, text);
      if (!e->text_a) return PT_ERR_NOMEM;
      if (!(e->text_b = strdup_checked(s1))) return PT_ERR_NOMEM;
      break;
    }
    case FMT_GENERIC_JSONL:
      PT_TRY(json_text_copy(o, f->text_a, where, &e->text_a));
      if (f->text_b) PT_TRY(json_text_copy(o, f->text_b, where, &e->text_b));
      label_key = f->label;
      break;
    default:
      return pt_error(PT_ERR_ARG, "%s: format %s is not a jsonl classification format", where,
                      data_format_name(fmt));
  }
  PT_TRY(cls_label_string(o, label_key, where, opts->labels_optional, &e->label));
  PT_TRY(check_preset_label(fmt, e->label, where));
  int64_t idx;
  PT_TRY(pt_json_int_or(o, where, "idx", e->idx, &idx));
  e->idx = idx;
  return PT_OK;
}

/* ---- jsonl ------------------------------------------------------------------- */

typedef struct {
  cls_set *set;
  int64_t cap;
  int labelled;
  data_format fmt;
  const cls_fields *fields;
  const read_opts *opts;
} jsonl_reading;

static pt_status cls_line(const json_t *o, const char *where, int64_t line, void *ctx) {
  jsonl_reading *r = ctx;
  cls_set *out = r->set;
  PT_TRY(array_grow((void **)&out->ex, &r->cap, out->n, sizeof *out->ex, out->path));
  cls_example *e = &out->ex[out->n++];
  memset(e, 0, sizeof *e);
  e->idx = out->n - 1;
  e->line = line;
  e->label_id = -1;
  PT_TRY(cls_from_json(o, r->fmt, r->fields, where, r->opts, e));
  return labels_consistent(&r->labelled, e->label != NULL, where, "has a label", "has no label",
                           "examples");
}

static pt_status read_cls_jsonl(const char *path, data_format fmt, const cls_fields *f,
                                const read_opts *opts, cls_set *out) {
  jsonl_reading r = {out, 0, -1, fmt, f, opts};
  pt_status st = jsonl_each(path, cls_line, &r);
  out->has_labels = r.labelled == 1;
  return st;
}

/* ---- tsv ------------------------------------------------------------------------ */

/* Splits a line on tabs in place (empty fields kept); returns the count. */
static int split_tabs(char *line, char **cols, int max) {
  int k = 0;
  for (char *p = line;; p++) {
    char *tab = strchr(p, '\t');
    if (k < max) cols[k] = p;
    k++;
    if (!tab) break;
    *tab = '\0';
    p = tab;
  }
  return k;
}

static int find_col(char **cols, int k, const char *name) {
  for (int i = 0; i < k; i++)
    if (strcmp(cols[i], name) == 0) return i;
  return -1;
}

static pt_status read_cls_tsv(const char *path, data_format fmt, const read_opts *opts,
                              cls_set *out) {
  enum { MAXC = 16 };
  line_reader r;
  PT_TRY(lines_open(&r, path));
  int ncols = fmt == FMT_GLUE_COLA ? 4 : -1; /* CoLA has no header */
  int c_a = 3, c_b = -1, c_label = 1, c_idx = -1;
  int64_t cap = 0;
  int labelled = -1;
  pt_status st = PT_OK;
  for (;;) {
    size_t len;
    bool eof;
    if ((st = lines_next(&r, &len, &eof)) != PT_OK || eof) break;
    char where[512];
    task_where(where, sizeof where, path, r.line, 0);
    if (len == 0) continue;
    char *cols[MAXC];
    int k = split_tabs(r.buf, cols, MAXC);
    if (ncols < 0) { /* the header names the columns */
      if (k > MAXC) {
        st = pt_error(PT_ERR_FORMAT, "%s: header has %d columns, at most %d expected", where, k, MAXC);
        break;
      }
      ncols = k;
      const char *a = fmt == FMT_GLUE_SST2 ? "sentence" : "sentence1";
      c_a = find_col(cols, k, a);
      c_b = fmt == FMT_GLUE_RTE ? find_col(cols, k, "sentence2") : -1;
      c_label = find_col(cols, k, "label");
      c_idx = find_col(cols, k, "index");
      if (c_a < 0 || (fmt == FMT_GLUE_RTE && c_b < 0)) {
        st = pt_error(PT_ERR_FORMAT, "%s: expected a header naming the '%s'%s columns, got '%s'",
                      where, a, fmt == FMT_GLUE_RTE ? " and 'sentence2'" : "", cols[0]);
        break;
      }
      if (c_label < 0 && !opts->labels_optional) {
        st = pt_error(PT_ERR_FORMAT, "%s: the header has no 'label' column", where);
        break;
      }
      continue;
    }
    if (k != ncols) {
      st = pt_error(PT_ERR_FORMAT, "%s: expected %d tab-separated columns, got %d", where, ncols, k);
      break;
    }
    if ((st = array_grow((void **)&out->ex, &cap, out->n, sizeof *out->ex, path)) != PT_OK) break;
    cls_example *e = &out->ex[out->n++];
    memset(e, 0, sizeof *e);
    e->idx = out->n - 1;
    e->line = r.line;
    e->label_id = -1;
    if (c_idx >= 0) {
      char *end;
      long long v = strtoll(cols[c_idx], &end, 10);
      if (end == cols[c_idx] || *end) {
        st = pt_error(PT_ERR_FORMAT, "%s: index '%s' is not an integer", where, cols[c_idx]);
        break;
      }
      e->idx = v;
    }
    if (!(e->text_a = strdup_checked(cols[c_a])) ||
        (c_b >= 0 && !(e->text_b = strdup_checked(cols[c_b]))) ||
        (c_label >= 0 && !(e->label = strdup_checked(cols[c_label])))) {
      st = PT_ERR_NOMEM;
      break;
    }
    if (e->label && !e->label[0]) {
      st = pt_error(PT_ERR_FORMAT, "%s: the label is empty", where);
      break;
    }
    if ((st = check_preset_label(fmt, e->label, where)) != PT_OK) break;
    if ((st = labels_consistent(&labelled, e->label != NULL, where, "has a label", "has no label",
                                  "examples")) != PT_OK)
      break;
  }
  lines_close(&r);
  out->has_labels = labelled == 1;
  return st;
}

pt_status read_cls(const char *path, data_format fmt, const cls_fields *fields,
                      const read_opts *opts, cls_set *out) {
  static const read_opts defaults = {0};
  if (!opts) opts = &defaults;
  memset(out, 0, sizeof *out);
  if (fmt == FMT_COPA)
    return pt_error(PT_ERR_ARG, "%s: copa is multiple choice, read it with read_mc", path);
  if (fmt == FMT_GENERIC_JSONL && (!fields || !fields->text_a || !fields->label))
    return pt_error(PT_ERR_ARG, "%s: the generic jsonl format needs --text-fields and --label-field",
                    path);
  if (!(out->path = strdup_checked(path))) return PT_ERR_NOMEM;
  bool tsv = fmt == FMT_GLUE_SST2 || fmt == FMT_GLUE_RTE || fmt == FMT_GLUE_COLA;
  pt_status st = tsv ? read_cls_tsv(path, fmt, opts, out) : read_cls_jsonl(path, fmt, fields, opts, out);
  if (st == PT_OK && out->n == 0)
    st = pt_error(PT_ERR_FORMAT, "%s: no examples found (empty file?)", path);
  if (st != PT_OK) cls_set_free(out); /* the partial example included */
  return st;
}
