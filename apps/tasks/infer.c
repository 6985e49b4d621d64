/* What `ptune eval` and `ptune predict` share: the base model with a trained
 * adapter, the adapter's label set, and the data read and encoded. */
#include <stdio.h>
#include <string.h>

#include "apps/tasks/task.h"
#include "models/pt_adapter.h"

void infer_free(infer_session *in) {
  if (in->model_ok) pt_ptv2_model_free(&in->model);
  pt_tokenizer_free(in->tok);
  label_map_free(&in->map);
  task_data_free(&in->data);
  memset(in, 0, sizeof *in);
}

pt_status infer_setup(const task_def *t, const task_opts *o, bool max_seq_len_given,
                      const char *model, const char *adapter, const char *data, bool need_labels,
                      infer_session *in) {
  memset(in, 0, sizeof *in);
  label_map_init(&in->map);
  in->opts = *o;
  pt_adapter_config ac = {0};
  PT_TRY(pt_adapter_load_model(&in->model, model, adapter, &ac));
  in->model_ok = true;
  pt_status st = PT_OK;
  if (ac.cfg.task != t->head)
    st = pt_error(PT_ERR_ARG, "%s: adapter is for %s, not --task %s", adapter,
                  pt_task_name(ac.cfg.task), t->name);
  if (st == PT_OK && t->adapter_labels)
    st = label_map_set(&in->map, (const char *const *)ac.id2label, ac.nlabels);
  pt_adapter_config_free(&ac);
  PT_TRY(st);
  int64_t P = in->model.cfg.method == PT_METHOD_FINETUNE ? 0 : in->model.cfg.pre_seq_len;
  PT_TRY(task_fit_max_seq_len(&in->opts, max_seq_len_given, &in->model.bert.cfg, P, model));
  in->tok = pt_tokenizer_load(model);
  if (!in->tok) return pt_error_code();
  PT_TRY(task_data_read(t, o, data, need_labels, &in->data));
  if (need_labels && !in->data.labelled)
    return pt_error(PT_ERR_FORMAT, "%s: no labels to score against", data);
  if (!need_labels) in->data.labelled = false;
  PT_TRY(task_data_map_labels(&in->data, &in->map, false));
  return task_data_encode(&in->data, in->tok, &in->opts);
}

pt_status infer_evaluate(const infer_session *in, int64_t batch_size, eval_result *r) {
  return task_evaluate(&in->model, &in->data, &in->map, &in->opts, batch_size,
                       pt_tokenizer_pad_id(in->tok), r);
}

pt_status task_fit_max_seq_len(task_opts *o, bool given, const pt_bert_config *bc, int64_t P,
                               const char *model_dir) {
  int64_t off = bc->arch == PT_ARCH_ROBERTA ? bc->pad_token_id + 1 : 0;
  int64_t room = bc->max_position - P - off;
  if (o->max_seq_len <= room) return PT_OK;
  if (!given && room >= 4) {
    o->max_seq_len = room;
    return PT_OK;
  }
  char pre[48] = ""; /* the prefix's share, when there is one */
  if (P > 0) snprintf(pre, sizeof pre, "--pre-seq-len %lld + ", (long long)P);
  return pt_error(PT_ERR_ARG,
                  "%s/config.json: %s--max-seq-len %lld%s exceeds "
                  "max_position_embeddings %lld",
                  model_dir, pre, (long long)o->max_seq_len,
                  off ? " + RoBERTa's position offset" : "", (long long)bc->max_position);
}
