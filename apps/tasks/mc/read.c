/* Multiple-choice data: SuperGLUE COPA jsonl. */
#include <stdlib.h>
#include <string.h>

#include "apps/tasks/mc/mc.h"
#include "nn/pt_json.h"

void mc_set_free(mc_set *set) {
  for (int64_t i = 0; i < set->n; i++) {
    mc_example *e = &set->ex[i];
    free(e->premise);
    free(e->question);
    free(e->context);
    for (int64_t c = 0; c < e->n_choices; c++) free(e->choices ? e->choices[c] : NULL);
    free(e->choices);
  }
  free(set->ex);
  free(set->path);
  memset(set, 0, sizeof *set);
}

static pt_status mc_from_json(const json_t *o, const char *where, const read_opts *opts,
                              mc_example *e) {
  PT_TRY(json_text_copy(o, "premise", where, &e->premise));
  PT_TRY(json_text_copy(o, "question", where, &e->question));
  bool cause = strcmp(e->question, "cause") == 0;
  if (!cause && strcmp(e->question, "effect") != 0)
    return pt_error(PT_ERR_FORMAT, "%s: 'question' must be \"cause\" or \"effect\", got \"%s\"",
                    where, e->question);
  /* THUDM: text_a = f"{premise} {'because' if cause else 'so'}" */
  if (!(e->context = strprintf("%s %s", e->premise, cause ? "because" : "so"))) return PT_ERR_NOMEM;
  if (!(e->choices = calloc(2, sizeof *e->choices)))
    return pt_error(PT_ERR_NOMEM, "%s: out of memory", where);
  e->n_choices = 2;
  PT_TRY(json_text_copy(o, "choice1", where, &e->choices[0]));
  PT_TRY(json_text_copy(o, "choice2", where, &e->choices[1]));
  e->label = -1;
  const json_t *v = json_object_get(o, "label");
  if (!v || json_is_null(v)) {
    if (!opts->labels_optional) return pt_error(PT_ERR_FORMAT, "%s: 'label' is missing", where);
  } else {
    int64_t l;
    PT_TRY(pt_json_int(o, where, "label", &l));
    if (l < 0 || l >= e->n_choices)
      return pt_error(PT_ERR_FORMAT, "%s: label %lld is not a choice (0 or 1)", where,
                      (long long)l);
    e->label = l;
  }
  int64_t idx;
  PT_TRY(pt_json_int_or(o, where, "idx", e->idx, &idx));
  e->idx = idx;
  return PT_OK;
}

typedef struct {
  mc_set *set;
  int64_t cap;
  int labelled;
  const read_opts *opts;
} jsonl_reading;

static pt_status mc_line(const json_t *o, const char *where, int64_t line, void *ctx) {
  jsonl_reading *r = ctx;
  mc_set *out = r->set;
  PT_TRY(array_grow((void **)&out->ex, &r->cap, out->n, sizeof *out->ex, out->path));
  mc_example *e = &out->ex[out->n++];
  memset(e, 0, sizeof *e);
  e->idx = out->n - 1;
  e->line = line;
  PT_TRY(mc_from_json(o, where, r->opts, e));
  return labels_consistent(&r->labelled, e->label >= 0, where, "has a label", "has no label",
                           "examples");
}

pt_status read_mc(const char *path, data_format fmt, const read_opts *opts, mc_set *out) {
  static const read_opts defaults = {0};
  if (!opts) opts = &defaults;
  memset(out, 0, sizeof *out);
  if (fmt != FMT_COPA)
    return pt_error(PT_ERR_ARG, "%s: multiple choice reads copa only, not %s", path,
                    data_format_name(fmt));
  if (!(out->path = strdup_checked(path))) return PT_ERR_NOMEM;
  jsonl_reading r = {out, 0, -1, opts};
  pt_status st = jsonl_each(path, mc_line, &r);
  if (st == PT_OK && out->n == 0)
    st = pt_error(PT_ERR_FORMAT, "%s: no examples found (empty file?)", path);
  out->has_labels = r.labelled == 1;
  if (st != PT_OK) mc_set_free(out);
  return st;
}
