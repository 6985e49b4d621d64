/* mc requests (`ptune serve`): each input is {"premise": ..., "choices":
 * [...], "question": "cause" | "effect"} (the question optional: COPA's
 * context is "<premise> because" or "<premise> so", as the reader builds it;
 * without one the premise alone); each result is the prediction line with
 * the probability of every choice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/tasks/inputs.h"
#include "apps/tasks/mc/mc.h"
#include "nn/pt_json.h"

static pt_status mc_input(const json_t *v, const char *where, int64_t i, void *ctx) {
  mc_set *set = ctx;
  mc_example *e = &set->ex[i];
  memset(e, 0, sizeof *e);
  e->label = -1;
  e->idx = i;
  set->n = i + 1;
  if (!json_is_object(v))
    return pt_error(PT_ERR_FORMAT, "%s: an mc input is {\"premise\": ..., \"choices\": [...], "
                    "\"question\": \"cause\" | \"effect\"}, got %s", where, pt_json_type_name(v));
  PT_TRY(input_text(json_object_get(v, "premise"), where, "premise", &e->premise));
  const json_t *q = json_object_get(v, "question");
  if (q && !json_is_null(q)) {
    PT_TRY(input_text(q, where, "question", &e->question));
    bool cause = !strcmp(e->question, "cause");
    if (!cause && strcmp(e->question, "effect"))
      return pt_error(PT_ERR_FORMAT, "%s: 'question' must be \"cause\" or \"effect\", got \"%s\"",
                      where, e->question);
    e->context = strprintf("%s %s", e->premise, cause ? "because" : "so");
  } else {
    e->context = strdup_checked(e->premise);
  }
  if (!e->context) return PT_ERR_NOMEM;
  const json_t *choices = json_object_get(v, "choices");
  size_t n = json_array_size(choices);
  if (!json_is_array(choices))
    return pt_error(PT_ERR_FORMAT, "%s: 'choices' must be an array of 2 to %d texts, got %s",
                    where, FEATURE_MAX_SEQ, pt_json_type_name(choices));
  if (n < 2 || n > FEATURE_MAX_SEQ)
    return pt_error(PT_ERR_FORMAT, "%s: 'choices' must hold 2 to %d texts, got %zu", where,
                    FEATURE_MAX_SEQ, n);
  if (!(e->choices = calloc(n, sizeof *e->choices)))
    return pt_error(PT_ERR_NOMEM, "inputs: out of memory");
  e->n_choices = (int64_t)n;
  char what[32];
  for (size_t c = 0; c < n; c++) {
    snprintf(what, sizeof what, "choices[%zu]", c);
    PT_TRY(input_text(json_array_get(choices, c), where, what, &e->choices[c]));
  }
  return PT_OK;
}

pt_status mc_read_inputs(const task_opts *o, const json_t *inputs, task_data *td) {
  (void)o;
  mc_set *set = td->examples;
  PT_TRY(inputs_alloc(inputs, sizeof *set->ex, (void **)&set->ex, &set->path));
  PT_TRY(inputs_each(inputs, mc_input, set));
  td->n_examples = set->n;
  return PT_OK;
}

pt_status mc_serve_json(const task_data *td, const eval_result *r, const label_map *map,
                        int64_t i, json_t **out) {
  (void)map;
  const mc_set *set = td->examples;
  PT_TRY(mc_example_json(set, r->pred, i, out));
  json_t *probs = json_array();
  for (int64_t c = 0; probs && c < set->ex[i].n_choices; c++)
    json_array_append_new(probs, json_real(r->probs[i][c]));
  return result_add(out, "probabilities", probs);
}
