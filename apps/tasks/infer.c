/* What `ptune eval` and `ptune predict` share: the base model with a trained
 * adapter, the adapter's label set, and the data read and encoded. */
#include <stdio.h>
#include <string.h>

#include "apps/tasks/task.h"

void infer_free(infer_session *in) {
  if (in->model_ok) pt_model_free(&in->model);
  pt_backbone_free(&in->bb);
  pt_adapter_info_free(&in->info);
  pt_tokenizer_free(in->tok);
  label_map_free(&in->map);
  task_data_free(&in->data);
  memset(in, 0, sizeof *in);
}

pt_status infer_setup(const task_def *t, const task_opts *o, bool max_seq_len_given,
                      const char *model, const char *adapter, const char *data, bool need_labels,
                      pt_dtype backbone_dtype, infer_session *in) {
  memset(in, 0, sizeof *in);
  label_map_init(&in->map);
  in->opts = *o;
  PT_TRY(pt_adapter_info_read(adapter, model, &in->info));
  const pt_adapter_info *info = &in->info;
  if (info->head.task != t->head)
    return pt_error(PT_ERR_ARG, "%s: adapter is for %s, not --task %s", adapter,
                    pt_task_name(info->head.task), t->name);
  if (t->adapter_labels)
    PT_TRY(label_map_set(&in->map, (const char *const *)info->id2label, info->nlabels));
  in->opts.mask_after_first = info->head.kind == PT_HEAD_VERBALIZER;
  PT_TRY(pt_backbone_load(&in->bb, model, pt_backbone_parts_for(info->head.task, info->head.kind),
                          false, -1, 0));
  PT_TRY(pt_model_load(&in->model, &in->bb, adapter, info, 0));
  in->model_ok = true;
  PT_TRY(backbone_dtype_set(&in->bb, backbone_dtype));
  PT_TRY(task_fit_max_seq_len(&in->opts, max_seq_len_given, &in->model, model));
  in->tok = pt_tokenizer_load(model);
  if (!in->tok) return pt_error_code();
  PT_TRY(task_data_read(t, o, data, need_labels, &in->data));
  if (need_labels && !in->data.labelled)
    return pt_error(PT_ERR_FORMAT, "%s: no labels to score against", data);
  if (!need_labels) in->data.labelled = false;
  PT_TRY(task_data_map_labels(&in->data, &in->map, false));
  return task_data_encode(&in->data, in->tok, &in->opts);
}

pt_status backbone_dtype_set(pt_backbone *bb, pt_dtype dt) {
  if (dt == PT_F32) return PT_OK; /* as loaded */
  if (pt_backbone_set_weight_dtype(bb, dt) == PT_OK) return PT_OK;
  if (pt_error_code() != PT_ERR_ARG) return pt_error_code(); /* out of memory: its message */
  return pt_error(PT_ERR_ARG, "--backbone-dtype bf16: this method trains the backbone's matrices "
                  "and ptune keeps no f32 master copy of a bf16 weight (use --backbone-dtype f32)");
}

pt_status infer_evaluate(infer_session *in, int64_t batch_size, eval_result *r) {
  return task_evaluate(&in->model, &in->data, &in->map, &in->opts, batch_size,
                       pt_tokenizer_pad_id(in->tok), r);
}

pt_status task_fit_max_seq_len(task_opts *o, bool given, const pt_model *m,
                               const char *model_dir) {
  const pt_bert_config *bc = &m->bb->bert.cfg;
  int64_t P = pt_model_positions(m);
  int64_t off = bc->arch == PT_ARCH_ROBERTA ? bc->pad_token_id + 1 : 0;
  int64_t room = bc->max_position - P - off;
  if (o->max_seq_len <= room) return PT_OK;
  if (!given && room >= 4) {
    o->max_seq_len = room;
    return PT_OK;
  }
  char pre[96] = ""; /* the method's share, when it takes positions */
  const char *flag = m->method->positions_flag;
  if (P > 0 && flag) snprintf(pre, sizeof pre, "--%s %lld + ", flag, (long long)P);
  else if (P > 0) snprintf(pre, sizeof pre, "%s's %lld positions + ", m->method->name, (long long)P);
  return pt_error(PT_ERR_ARG,
                  "%s/config.json: %s--max-seq-len %lld%s exceeds "
                  "max_position_embeddings %lld",
                  model_dir, pre, (long long)o->max_seq_len,
                  off ? " + RoBERTa's position offset" : "", (long long)bc->max_position);
}
