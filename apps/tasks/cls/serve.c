/* cls requests (`ptune serve`): each input is a text, [text, text_pair] or
 * {"text": ..., "text_pair": ...}; each result is the prediction line with
 * the probability of every label. */
#include <stdlib.h>
#include <string.h>

#include "apps/tasks/cls/cls.h"
#include "apps/tasks/inputs.h"
#include "nn/pt_json.h"

static pt_status cls_input(const json_t *v, const char *where, int64_t i, void *ctx) {
  cls_set *set = ctx;
  cls_example *e = &set->ex[i];
  memset(e, 0, sizeof *e);
  e->label_id = -1;
  e->idx = i;
  set->n = i + 1;
  const json_t *a = v, *b = NULL;
  if (json_is_array(v) && (json_array_size(v) == 1 || json_array_size(v) == 2)) {
    a = json_array_get(v, 0);
    b = json_array_get(v, 1);
  } else if (json_is_object(v)) {
    a = json_object_get(v, "text");
    b = json_object_get(v, "text_pair");
    if (json_is_null(b)) b = NULL;
  } else if (!json_is_string(v)) {
    return pt_error(PT_ERR_FORMAT, "%s: a cls input is a text, [text, text_pair] or "
                    "{\"text\": ..., \"text_pair\": ...}, got %s", where, pt_json_type_name(v));
  }
  PT_TRY(input_text(a, where, "text", &e->text_a));
  return b ? input_text(b, where, "text_pair", &e->text_b) : PT_OK;
}

pt_status cls_read_inputs(const task_opts *o, const json_t *inputs, task_data *td) {
  (void)o;
  cls_set *set = td->examples;
  PT_TRY(inputs_alloc(inputs, sizeof *set->ex, (void **)&set->ex, &set->path));
  PT_TRY(inputs_each(inputs, cls_input, set));
  td->n_examples = set->n;
  return PT_OK;
}

pt_status cls_serve_json(const task_data *td, const eval_result *r, const label_map *map,
                         int64_t i, json_t **out) {
  PT_TRY(cls_example_json(td->examples, r->pred, map, i, out));
  json_t *probs = json_object();
  for (int64_t c = 0; probs && c < map->n; c++)
    json_object_set_new(probs, map->names[c], json_real(r->probs[i][c]));
  return result_add(out, "probabilities", probs);
}
