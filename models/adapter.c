/* Adapter checkpoints (see pt_adapter.h). */
#include "models/pt_adapter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/pt_autograd.h"
#include "autograd/pt_ops.h"
#include "autograd/pt_ops_pointwise.h"
#include "models/pt_hf.h"
#include "nn/pt_json.h"
#include "nn/pt_params_io.h"
#include "nn/pt_safetensors.h"
#include "tensor/pt_file.h"

void pt_adapter_config_free(pt_adapter_config *c) {
  for (int i = 0; i < c->nlabels; i++) free(c->id2label[i]);
  free(c->id2label);
  memset(c, 0, sizeof *c);
}

static pt_status read_labels(json_t *j, const char *path, pt_adapter_config *c) {
  json_t *map = json_object_get(j, "id2label");
  if (!map || json_is_null(map)) return PT_OK;
  if (!json_is_object(map)) return pt_error(PT_ERR_FORMAT, "%s: 'id2label' must be an object", path);
  int n = (int)json_object_size(map);
  c->id2label = calloc((size_t)(n ? n : 1), sizeof(char *));
  if (!c->id2label) return pt_error(PT_ERR_NOMEM, "%s: out of memory", path);
  c->nlabels = n;
  const char *key;
  json_t *val;
  json_object_foreach(map, key, val) {
    char *end;
    long id = strtol(key, &end, 10);
    if (*end || end == key || id < 0 || id >= n)
      return pt_error(PT_ERR_FORMAT, "%s: id2label key '%s' is not an id in [0, %d)", path, key, n);
    if (!json_is_string(val))
      return pt_error(PT_ERR_FORMAT, "%s: id2label['%s'] must be a string", path, key);
    if (c->id2label[id]) return pt_error(PT_ERR_FORMAT, "%s: id2label id %ld given twice", path, id);
    c->id2label[id] = strdup(json_string_value(val));
    if (!c->id2label[id]) return pt_error(PT_ERR_NOMEM, "%s: out of memory", path);
  }
  return PT_OK;
}

pt_status pt_adapter_config_read(const char *dir, pt_adapter_config *c) {
  memset(c, 0, sizeof *c);
  char path[4096];
  snprintf(path, sizeof path, "%s/adapter_config.json", dir);
  json_t *j = pt_json_load_object(path);
  if (!j) return pt_error_code();
  const char *method, *task, *type;
  pt_status st = pt_json_string(j, path, "method", &method);
  if (st == PT_OK) st = pt_method_parse(method, &c->cfg.method);
  if (st == PT_OK) st = pt_json_string(j, path, "task", &task);
  if (st == PT_OK) st = pt_task_parse(task, &c->cfg.task);
  if (st == PT_OK) st = pt_json_int_or(j, path, "pre_seq_len", 0, &c->cfg.pre_seq_len);
  if (st == PT_OK) st = pt_json_bool_or(j, path, "prefix_projection", false, &c->cfg.prefix_projection);
  if (st == PT_OK)
    st = pt_json_int_or(j, path, "prefix_hidden_size", 512, &c->cfg.prefix_hidden_size);
  if (st == PT_OK) st = pt_json_bool_or(j, path, "baked", false, &c->baked);
  if (st == PT_OK) st = pt_json_string(j, path, "model_type", &type);
  if (st == PT_OK) {
    if (!strcmp(type, "bert")) c->arch = PT_ARCH_BERT;
    else if (!strcmp(type, "roberta")) c->arch = PT_ARCH_ROBERTA;
    else st = pt_error(PT_ERR_FORMAT, "%s: unknown model_type '%s'", path, type);
  }
  if (st == PT_OK) st = pt_json_int(j, path, "hidden_size", &c->hidden_size);
  if (st == PT_OK) st = pt_json_int(j, path, "num_hidden_layers", &c->num_layers);
  if (st == PT_OK) st = pt_json_int(j, path, "num_attention_heads", &c->num_heads);
  if (st == PT_OK) st = read_labels(j, path, c);
  if (st == PT_OK && c->cfg.method != PT_METHOD_FINETUNE && c->cfg.pre_seq_len <= 0)
    st = pt_error(PT_ERR_FORMAT, "%s: pre_seq_len must be positive for method %s", path, method);
  if (st == PT_OK) {
    bool needs_labels = c->cfg.task == PT_TASK_SEQUENCE_CLASSIFICATION ||
                        c->cfg.task == PT_TASK_TOKEN_CLASSIFICATION;
    if (needs_labels && c->nlabels < 1)
      st = pt_error(PT_ERR_FORMAT, "%s: id2label is required for %s", path, task);
    c->cfg.num_labels = c->nlabels;
  }
  json_decref(j);
  if (st != PT_OK) pt_adapter_config_free(c);
  return st;
}

pt_status pt_adapter_check_base(const pt_adapter_config *c, const pt_bert_config *b, const char *dir) {
  if (c->arch != b->arch || c->hidden_size != b->hidden_size || c->num_layers != b->num_layers ||
      c->num_heads != b->num_heads)
    return pt_error(PT_ERR_FORMAT,
                    "%s: adapter made for %s H=%lld L=%lld heads=%lld, but the base model is %s "
                    "H=%lld L=%lld heads=%lld",
                    dir, pt_arch_name(c->arch), (long long)c->hidden_size, (long long)c->num_layers,
                    (long long)c->num_heads, pt_arch_name(b->arch), (long long)b->hidden_size,
                    (long long)b->num_layers, (long long)b->num_heads);
  return PT_OK;
}

static pt_status write_config(const pt_ptv2_model *m, const char *dir, const pt_ptv2_config *cfg,
                              bool baked, int nlabels, const char *const *id2label) {
  const pt_bert_config *b = &m->bert.cfg;
  json_t *j = json_object();
  json_t *labels = json_object();
  if (!j || !labels) {
    json_decref(j);
    json_decref(labels);
    return pt_error(PT_ERR_NOMEM, "%s: out of memory", dir);
  }
  json_object_set_new(j, "method", json_string(pt_method_name(cfg->method)));
  json_object_set_new(j, "task", json_string(pt_task_name(cfg->task)));
  json_object_set_new(j, "pre_seq_len", json_integer(cfg->pre_seq_len));
  json_object_set_new(j, "prefix_projection", json_boolean(cfg->prefix_projection));
  json_object_set_new(j, "prefix_hidden_size", json_integer(cfg->prefix_hidden_size));
  if (baked) json_object_set_new(j, "baked", json_true());
  json_object_set_new(j, "model_type", json_string(pt_arch_name(b->arch)));
  json_object_set_new(j, "hidden_size", json_integer(b->hidden_size));
  json_object_set_new(j, "num_hidden_layers", json_integer(b->num_layers));
  json_object_set_new(j, "num_attention_heads", json_integer(b->num_heads));
  for (int i = 0; i < nlabels; i++) {
    char key[32], def[32];
    snprintf(key, sizeof key, "%d", i);
    snprintf(def, sizeof def, "LABEL_%d", i);
    json_object_set_new(labels, key, json_string(id2label && id2label[i] ? id2label[i] : def));
  }
  json_object_set_new(j, "id2label", labels);
  char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(j);
  if (!text) return pt_error(PT_ERR_NOMEM, "%s: out of memory", dir);
  char path[4096];
  snprintf(path, sizeof path, "%s/adapter_config.json", dir);
  size_t n = strlen(text);
  text[n] = '\0';
  pt_status st = pt_write_file_atomic(path, text, n);
  free(text);
  return st;
}

/* Weights first, then the config: a directory with a config always has the
 * weights the config describes. */
pt_status pt_adapter_save(const pt_ptv2_model *m, const char *dir, int nlabels,
                          const char *const *id2label) {
  PT_TRY(pt_mkdirs(dir));
  char path[4096];
  snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
  const char *keys[] = {"format", "method"};
  const char *vals[] = {"pt", pt_method_name(m->cfg.method)};
  PT_TRY(pt_params_save_safetensors(&m->params, path, true, 2, keys, vals));
  return write_config(m, dir, &m->cfg, false, nlabels, id2label);
}

pt_status pt_adapter_export_baked(const pt_ptv2_model *m, const char *dir, int nlabels,
                                  const char *const *id2label) {
  if (m->cfg.method != PT_METHOD_PTV2 || !m->cfg.prefix_projection)
    return pt_adapter_save(m, dir, nlabels, id2label); /* nothing to bake */
  PT_TRY(pt_mkdirs(dir));
  /* The table the MLP computes for prefix positions 0..P-1. */
  int64_t P = m->cfg.pre_seq_len;
  pt_no_grad_enter();
  pt_tensor *ids = pt_arange(PT_I64, 0, (double)P, 1);
  pt_tensor *e = pt_nn_embedding_forward(&m->prefix_embedding, ids);
  pt_tensor *a = pt_nn_linear_forward(&m->prefix_trans0, e);
  pt_tensor *t = pt_tanh(a);
  pt_tensor *table = pt_nn_linear_forward(&m->prefix_trans2, t);
  pt_no_grad_exit();
  pt_tensor *tmp[] = {ids, e, a, t};
  for (int i = 0; i < 4; i++) pt_tensor_free(tmp[i]);
  if (!table) return pt_error_code();
  const char *names[3] = {"prefix_encoder.embedding.weight", m->head.weight->name, m->head.bias->name};
  const pt_tensor *ts[3] = {table, m->head.weight, m->head.bias};
  char path[4096];
  snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
  const char *keys[] = {"format", "method", "baked"};
  const char *vals[] = {"pt", "ptv2", "true"};
  pt_status st = pt_safetensors_write(path, 3, names, ts, 3, keys, vals);
  pt_tensor_free(table);
  if (st != PT_OK) return st;
  pt_ptv2_config baked = m->cfg;
  baked.prefix_projection = false;
  return write_config(m, dir, &baked, true, nlabels, id2label);
}

pt_status pt_adapter_load_weights(pt_ptv2_model *m, const char *dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
  bool *filled = calloc((size_t)(m->params.count ? m->params.count : 1), sizeof(bool));
  if (!filled) return pt_error(PT_ERR_NOMEM, "%s: out of memory", dir);
  pt_load_report r = {0};
  pt_status st = pt_params_load_safetensors(&m->params, path, NULL, NULL, filled, &r);
  if (st == PT_OK && r.unused)
    st = pt_error(PT_ERR_FORMAT, "%s: %d tensors fit no parameter of this model: %s", path,
                  r.unused, r.unused_names);
  for (int i = 0; st == PT_OK && i < m->params.count; i++) {
    const pt_tensor *p = m->params.items[i];
    if (pt_requires_grad(p) && !filled[i])
      st = pt_error(PT_ERR_FORMAT, "%s: tensor '%s' is missing", path, p->name);
  }
  free(filled);
  return st;
}

pt_status pt_adapter_load_model(pt_ptv2_model *m, const char *model_dir, const char *adapter_dir,
                                pt_adapter_config *cfg_out) {
  pt_adapter_config ac;
  PT_TRY(pt_adapter_config_read(adapter_dir, &ac));
  pt_bert_config bc;
  pt_status st = pt_bert_config_load(model_dir, &bc);
  if (st == PT_OK) st = pt_adapter_check_base(&ac, &bc, adapter_dir);
  if (st == PT_OK) st = pt_ptv2_model_from_pretrained(m, model_dir, &ac.cfg, 0);
  if (st == PT_OK) {
    st = pt_adapter_load_weights(m, adapter_dir);
    if (st != PT_OK) pt_ptv2_model_free(m);
  }
  if (st == PT_OK && cfg_out)
    *cfg_out = ac;
  else
    pt_adapter_config_free(&ac);
  return st;
}
