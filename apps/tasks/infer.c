/* What `ptune eval` and `ptune predict` share: the base model with a trained
 * adapter, the adapter's label set, and the data read and encoded. */
#include <string.h>
#include <omp.h>

#include "apps/cli/options.h"
#include "apps/tasks/task.h"
#include "models/pt_adapter.h"

void infer_free(infer_session *in) {
  if (in->model_ok) pt_ptv2_model_free(&in->model);
  pt_tokenizer_free(in->tok);
  label_map_free(&in->map);
  task_data_free(&in->data);
  memset(in, 0, sizeof *in);
}

pt_status infer_setup(const run_args *a, bool need_labels, infer_session *in) {
  memset(in, 0, sizeof *in);
  label_map_init(&in->map);
  if (a->threads > 0) omp_set_num_threads((int)a->threads);
  pt_adapter_config ac = {0};
  PT_TRY(pt_adapter_load_model(&in->model, a->model, a->adapter, &ac));
  in->model_ok = true;
  pt_status st = PT_OK;
  if (ac.cfg.task != app_task_head(a->task))
    st = pt_error(PT_ERR_ARG, "%s: adapter is for %s, not --task %s", a->adapter,
                  pt_task_name(ac.cfg.task), app_task_name(a->task));
  if (st == PT_OK && (a->task == TASK_NER || a->task == TASK_SRL || a->task == TASK_CLS))
    st = label_map_set(&in->map, (const char *const *)ac.id2label, ac.nlabels);
  pt_adapter_config_free(&ac);
  PT_TRY(st);
  run_args fit = *a; /* max_seq_len may shrink to fit the model */
  int64_t P = in->model.cfg.method == PT_METHOD_FINETUNE ? 0 : in->model.cfg.pre_seq_len;
  PT_TRY(fit_max_seq_len(&fit, &in->model.bert.cfg, P));
  in->tok = pt_tokenizer_load(a->model);
  if (!in->tok) return pt_error_code();
  PT_TRY(task_data_read(a, a->data, need_labels, &in->data));
  if (need_labels && !in->data.labelled)
    return pt_error(PT_ERR_FORMAT, "%s: no labels to score against", a->data);
  if (!need_labels) in->data.labelled = false;
  PT_TRY(task_data_map_labels(&in->data, &in->map, false));
  return task_data_encode(&in->data, in->tok, &fit);
}
