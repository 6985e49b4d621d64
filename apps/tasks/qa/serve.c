/* qa requests (`ptune serve`): each input is {"question": ..., "context":
 * ...} (an "id" optional, else its position); each question gets one
 * answer (SQuAD 1.1 semantics: never the empty answer) with its code-point
 * span in the context and its score (start + end logit). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/tasks/inputs.h"
#include "apps/tasks/qa/squad.h"
#include "nn/pt_json.h"

static pt_status qa_input(const json_t *v, const char *where, int64_t i, void *ctx) {
  squad_set *set = ctx;
  if (!json_is_object(v))
    return pt_error(PT_ERR_FORMAT, "%s: a qa input is {\"question\": ..., \"context\": ...}, "
                    "got %s", where, pt_json_type_name(v));
  squad_question *q = &set->qs[i];
  set->n = i + 1;
  q->para = i;
  q->qa_in_para = 0;
  q->article = q->para_in_article = i;
  PT_TRY(input_text(json_object_get(v, "question"), where, "question", &q->question));
  char *context;
  PT_TRY(input_text(json_object_get(v, "context"), where, "context", &context));
  set->n_paras = i + 1;
  pt_status st = context[0] ? squad_paragraph_init(&set->paras[i], context, strlen(context))
                            : pt_error(PT_ERR_FORMAT, "%s: 'context' is empty", where);
  free(context);
  PT_TRY(st);
  const json_t *id = json_object_get(v, "id");
  if (id && !json_is_null(id)) return input_text(id, where, "id", &q->id);
  q->id = strprintf("%lld", (long long)i);
  return q->id ? PT_OK : PT_ERR_NOMEM;
}

pt_status qa_read_inputs(const task_opts *o, const json_t *inputs, task_data *td) {
  (void)o;
  qa_data *d = td->examples;
  squad_set *set = &d->set;
  PT_TRY(inputs_alloc(inputs, sizeof *set->qs, (void **)&set->qs, &set->path));
  size_t n = json_array_size(inputs);
  set->paras = calloc(n ? n : 1, sizeof *set->paras);
  set->version = strdup_checked("");
  if (!set->paras || !set->version) return pt_error(PT_ERR_NOMEM, "inputs: out of memory");
  PT_TRY(inputs_each(inputs, qa_input, set));
  td->n_examples = set->n;
  return PT_OK;
}

pt_status qa_serve_json(const task_data *td, const eval_result *r, const label_map *map,
                        int64_t i, json_t **out) {
  PT_TRY(qa_result_json(td, r, map, i, out));
  PT_TRY(result_add(out, "start", json_integer(r->spans[2 * i])));
  PT_TRY(result_add(out, "end", json_integer(r->spans[2 * i + 1])));
  return result_add(out, "score", json_real(r->span_scores[i]));
}
