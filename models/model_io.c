/* Adapter directories in ptune's and peft's layouts (see pt_model_io.h). */
#include "models/pt_model_io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "autograd/pt_autograd.h"
#include "nn/pt_json.h"
#include "nn/pt_params_io.h"
#include "nn/pt_safetensors.h"
#include "tensor/pt_file.h"

static const char *const layout_names[] = {NULL, "ptune", "peft", "both"};

const char *pt_adapter_layout_name(pt_adapter_layout l) { return layout_names[l]; }

pt_status pt_adapter_layout_parse(const char *s, pt_adapter_layout *out) {
  for (int i = 1; i <= 3; i++)
    if (!strcmp(s, layout_names[i])) return *out = (pt_adapter_layout)i, PT_OK;
  return pt_error(PT_ERR_ARG, "--save-format: '%s' is not ptune, peft or both", s);
}

/* peft's TaskType for a task (multiple choice has none). */
static const char *peft_task_type(pt_task_kind t) {
  switch (t) {
    case PT_TASK_SEQUENCE_CLASSIFICATION: return "SEQ_CLS";
    case PT_TASK_TOKEN_CLASSIFICATION: return "TOKEN_CLS";
    case PT_TASK_QUESTION_ANSWERING: return "QUESTION_ANS";
    default: return NULL;
  }
}

void pt_adapter_info_free(pt_adapter_info *info) {
  if (info->opts) {
    pt_options_free(info->method->options, info->opts);
    free(info->opts);
  }
  for (int i = 0; i < info->nlabels; i++) free(info->id2label[i]);
  free(info->id2label);
  free(info->words);
  free(info->base_model);
  memset(info, 0, sizeof *info);
}

/* id2label {"0": "O", ...} -> info (none there: nothing read). */
static pt_status read_labels(const json_t *map, const char *path, pt_adapter_info *info) {
  if (!map || json_is_null(map)) return PT_OK;
  if (!json_is_object(map)) return pt_error(PT_ERR_FORMAT, "%s: 'id2label' must be an object", path);
  int n = (int)json_object_size(map);
  char **names = calloc((size_t)(n ? n : 1), sizeof(char *));
  if (!names) return pt_error(PT_ERR_NOMEM, "%s: out of memory", path);
  const char *key;
  json_t *val;
  pt_status st = PT_OK;
  json_object_foreach((json_t *)map, key, val) {
    char *end;
    long id = strtol(key, &end, 10);
    if (*end || end == key || id < 0 || id >= n) {
      st = pt_error(PT_ERR_FORMAT, "%s: id2label key '%s' is not an id in [0, %d)", path, key, n);
    } else if (!json_is_string(val)) {
      st = pt_error(PT_ERR_FORMAT, "%s: id2label['%s'] must be a string", path, key);
    } else if (names[id]) {
      st = pt_error(PT_ERR_FORMAT, "%s: id2label id %ld given twice", path, id);
    } else if (!(names[id] = strdup(json_string_value(val)))) {
      st = pt_error(PT_ERR_NOMEM, "%s: out of memory", path);
    }
    if (st != PT_OK) break;
  }
  if (st != PT_OK) {
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    return st;
  }
  info->id2label = names;
  info->nlabels = n;
  return PT_OK;
}

/* task, head, labels, label words and the encoder's shape: the keys ptune
 * writes (flat in its own config, under "ptune" in peft's). */
static pt_status read_ptune_keys(const json_t *j, const char *path, pt_adapter_info *info,
                                 bool task_required) {
  const char *task = NULL, *head = "linear", *type = NULL;
  if (pt_json_has(j, "task") || task_required) {
    PT_TRY(pt_json_string(j, path, "task", &task));
    PT_TRY(pt_task_parse(task, &info->head.task));
  }
  PT_TRY(pt_json_string_or(j, path, "head", "linear", &head));
  PT_TRY(pt_head_kind_parse(head, &info->head.kind));
  if (pt_json_has(j, "id2label")) {
    PT_TRY(read_labels(json_object_get(j, "id2label"), path, info));
    info->labels_from = "the adapter's config";
  }
  if (info->head.kind == PT_HEAD_VERBALIZER) {
    const json_t *w = json_object_get(j, "label_words");
    if (!json_is_object(w) || (int)json_object_size(w) != info->nlabels || !info->nlabels)
      return pt_error(PT_ERR_FORMAT, "%s: a verbalizer needs 'label_words' with an id for each of "
                      "the %d labels", path, info->nlabels);
    info->words = malloc(sizeof(int64_t) * (size_t)info->nlabels);
    if (!info->words) return pt_error(PT_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; i < info->nlabels; i++) {
      char key[24];
      snprintf(key, sizeof key, "%d", i);
      const json_t *v = json_object_get(w, key);
      if (!json_is_integer(v))
        return pt_error(PT_ERR_FORMAT, "%s: label_words['%s'] must be a token id", path, key);
      info->words[i] = json_integer_value(v);
    }
    info->head.label_words = info->words;
    PT_TRY(pt_json_int(j, path, "mask_token_id", &info->head.mask_token_id));
  } else {
    info->head.mask_token_id = -1;
  }
  if (pt_json_has(j, "model_type") && pt_json_has(j, "hidden_size")) { /* the encoder's shape */
    PT_TRY(pt_json_string(j, path, "model_type", &type));
    if (!strcmp(type, "bert")) info->arch = PT_ARCH_BERT;
    else if (!strcmp(type, "roberta")) info->arch = PT_ARCH_ROBERTA;
    else return pt_error(PT_ERR_FORMAT, "%s: unknown model_type '%s'", path, type);
    PT_TRY(pt_json_int(j, path, "hidden_size", &info->hidden_size));
    PT_TRY(pt_json_int(j, path, "num_hidden_layers", &info->num_layers));
    PT_TRY(pt_json_int(j, path, "num_attention_heads", &info->num_heads));
    info->has_shape = true;
  }
  return PT_OK;
}

static pt_status new_opts(pt_adapter_info *info, const pt_method *me) {
  info->method = me;
  info->opts = calloc(1, me->opts_size ? me->opts_size : 1);
  if (!info->opts) return pt_error(PT_ERR_NOMEM, "out of memory");
  pt_status st = pt_options_init(me->options, info->opts);
  if (st != PT_OK) {
    free(info->opts);
    info->opts = NULL;
  }
  return st;
}

static pt_status read_ptune_layout(const json_t *j, const char *path, pt_adapter_info *info) {
  const char *name;
  PT_TRY(pt_json_string(j, path, "method", &name));
  const pt_method *me = pt_method_find(name);
  if (!me) return pt_error_context(PT_ERR_FORMAT, "%s", path);
  PT_TRY(new_opts(info, me));
  PT_TRY(pt_options_from_json(me->options, info->opts, j, path));
  info->legacy = !pt_json_has(j, "format");
  if (info->legacy && !strcmp(name, "prompt") && !pt_json_has(j, "num_virtual_tokens") &&
      pt_json_has(j, "pre_seq_len")) {
    json_t *compat = json_pack("{sO}", "num_virtual_tokens", json_object_get(j, "pre_seq_len"));
    pt_status st = compat ? pt_options_from_json(me->options, info->opts, compat, path)
                          : pt_error(PT_ERR_NOMEM, "%s: out of memory", path);
    json_decref(compat);
    PT_TRY(st);
  }
  return read_ptune_keys(j, path, info, true);
}

/* The method a peft config names: the one ptune's extra key names when it
 * writes that peft_type, else the first registered one that does. */
static const pt_method *peft_method(const char *type, const json_t *extra, const char *path) {
  const char *named = json_string_value(json_object_get(extra, "method"));
  int n;
  const pt_method *const *all = pt_methods(&n);
  for (int i = 0; named && i < n; i++)
    if (!strcmp(all[i]->name, named) && all[i]->peft_type && !strcmp(all[i]->peft_type, type))
      return all[i];
  for (int i = 0; i < n; i++)
    if (all[i]->peft_type && !strcmp(all[i]->peft_type, type) && !all[i]->peft_alias) return all[i];
  char types[512] = ""; /* the registry's, a program's own methods included */
  for (int i = 0; i < n; i++) {
    if (!all[i]->peft_type || all[i]->peft_alias) continue;
    size_t used = strlen(types);
    snprintf(types + used, sizeof types - used, "%s%s", used ? ", " : "", all[i]->peft_type);
  }
  pt_error(PT_ERR_FORMAT, "%s: peft_type '%s' is not a method ptune reads (%s)", path, type, types);
  return NULL;
}

static pt_status read_base_labels(const char *model_dir, pt_adapter_info *info) {
  char path[4200];
  snprintf(path, sizeof path, "%s/config.json", model_dir);
  json_t *j = pt_json_load_object(path);
  if (!j) return pt_error_code();
  const json_t *map = json_object_get(j, "id2label");
  pt_status st = read_labels(map, path, info);
  if (st == PT_OK && info->nlabels) info->labels_from = "the base model's config.json";
  json_decref(j);
  return st;
}

static pt_status read_peft_layout(const json_t *j, const char *path, const char *model_dir,
                                  pt_adapter_info *info) {
  const char *type;
  PT_TRY(pt_json_string(j, path, "peft_type", &type));
  const json_t *extra = json_object_get(j, "ptune");
  if (extra && !json_is_object(extra))
    return pt_error(PT_ERR_FORMAT, "%s: 'ptune' must be an object", path);
  const pt_method *me = peft_method(type, extra, path);
  if (!me) return pt_error_code();
  PT_TRY(new_opts(info, me));
  PT_TRY(pt_options_from_json(me->options, info->opts, j, path));
  if (me->peft_read) PT_TRY(me->peft_read(info->opts, j, path));
  const json_t *opts = json_object_get(extra, "options");
  if (opts) PT_TRY(pt_options_from_json(me->options, info->opts, opts, path));
  if (me->peft_prompt_learning && me->bake_options) me->bake_options(info->opts);
  if (extra) PT_TRY(read_ptune_keys(extra, path, info, false));
  if (!extra || !pt_json_has(extra, "task")) {
    const char *tt = json_string_value(json_object_get(j, "task_type"));
    bool found = false;
    for (int t = 0; tt && t < 3 && !found; t++)
      if (!strcmp(tt, peft_task_type((pt_task_kind)t))) info->head.task = (pt_task_kind)t, found = true;
    if (!found)
      return pt_error(PT_ERR_FORMAT, "%s: task_type %s%s%s is not one ptune reads (SEQ_CLS, "
                      "TOKEN_CLS, QUESTION_ANS) and ptune's 'ptune' key names no task", path,
                      tt ? "'" : "", tt ? tt : "null", tt ? "'" : "");
  }
  if (!info->head.label_words) info->head.mask_token_id = -1;
  bool classes = info->head.task == PT_TASK_SEQUENCE_CLASSIFICATION ||
                 info->head.task == PT_TASK_TOKEN_CLASSIFICATION;
  if (classes && !info->nlabels && model_dir) PT_TRY(read_base_labels(model_dir, info));
  if (classes && !info->nlabels)
    return pt_error(PT_ERR_FORMAT, "%s: no labels: peft keeps none; ptune writes them under "
                    "\"ptune\": {\"id2label\": ...}, and the base model's config.json%s%s has no "
                    "id2label either", path, model_dir ? " in " : "", model_dir ? model_dir : "");
  const char *base = json_string_value(json_object_get(j, "base_model_name_or_path"));
  if (base && !(info->base_model = strdup(base))) return pt_error(PT_ERR_NOMEM, "out of memory");
  return PT_OK;
}

pt_status pt_adapter_info_read(const char *dir, const char *model_dir, pt_adapter_info *out) {
  memset(out, 0, sizeof *out);
  char path[4200];
  snprintf(path, sizeof path, "%s/adapter_config.json", dir);
  json_t *j = pt_json_load_object(path);
  if (!j) return pt_error_code();
  pt_status st;
  if (pt_json_has(j, "peft_type")) {
    out->layout = PT_LAYOUT_PEFT;
    st = read_peft_layout(j, path, model_dir, out);
  } else if (pt_json_has(j, "method")) {
    out->layout = PT_LAYOUT_PTUNE;
    st = read_ptune_layout(j, path, out);
  } else {
    st = pt_error(PT_ERR_FORMAT, "%s: neither ptune's adapter config (no 'method') nor peft's "
                  "(no 'peft_type')", path);
  }
  if (st == PT_OK) {
    out->head.num_labels = out->nlabels;
    bool classes = out->head.task == PT_TASK_SEQUENCE_CLASSIFICATION ||
                   out->head.task == PT_TASK_TOKEN_CLASSIFICATION;
    if (classes && out->nlabels < 1)
      st = pt_error(PT_ERR_FORMAT, "%s: id2label is required for %s", path,
                    pt_task_name(out->head.task));
  }
  json_decref(j);
  if (st != PT_OK) pt_adapter_info_free(out);
  return st;
}

pt_status pt_adapter_info_check_base(const pt_adapter_info *c, const pt_bert_config *b,
                                     const char *dir) {
  if (!c->has_shape) return PT_OK;
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

/* ---- writing ---- */

/* task, head, labels, label words, the encoder's shape into j */
static pt_status put_ptune_keys(const pt_model *m, json_t *j, int nlabels,
                                const char *const *id2label) {
  const pt_bert_config *bc = &m->bb->bert.cfg;
  json_t *labels = json_object();
  if (!labels) return pt_error(PT_ERR_NOMEM, "out of memory");
  json_object_set_new(j, "task", json_string(pt_task_name(m->head.cfg.task)));
  json_object_set_new(j, "head", json_string(pt_head_kind_name(m->head.cfg.kind)));
  for (int i = 0; i < nlabels; i++) {
    char key[24], def[32];
    snprintf(key, sizeof key, "%d", i);
    snprintf(def, sizeof def, "LABEL_%d", i);
    json_object_set_new(labels, key, json_string(id2label && id2label[i] ? id2label[i] : def));
  }
  json_object_set_new(j, "id2label", labels);
  if (m->head.cfg.kind == PT_HEAD_VERBALIZER) {
    json_t *w = json_object();
    for (int64_t i = 0; w && i < m->head.cfg.num_labels; i++) {
      char key[24];
      snprintf(key, sizeof key, "%lld", (long long)i);
      json_object_set_new(w, key, json_integer(m->head.label_words[i]));
    }
    json_object_set_new(j, "label_words", w);
    json_object_set_new(j, "mask_token_id", json_integer(m->head.cfg.mask_token_id));
  }
  json_object_set_new(j, "model_type", json_string(pt_arch_name(bc->arch)));
  json_object_set_new(j, "hidden_size", json_integer(bc->hidden_size));
  json_object_set_new(j, "num_hidden_layers", json_integer(bc->num_layers));
  json_object_set_new(j, "num_attention_heads", json_integer(bc->num_heads));
  return PT_OK;
}

static pt_status write_json(json_t *j, const char *dir, const char *file) {
  char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  if (!text) return pt_error(PT_ERR_NOMEM, "%s: out of memory", dir);
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  pt_status st = pt_write_file_atomic(path, text, strlen(text));
  free(text);
  return st;
}

/* Every tensor a model's adapter holds, in trainable order (a method's
 * frozen tensors too): borrowed pointers, caller frees the array. */
static pt_tensor **adapter_tensors(const pt_model *m, int *n) {
  int cap = m->nadopted + m->params.count + m->head.params.count;
  pt_tensor **ts = pt_alloc(sizeof(pt_tensor *) * (size_t)(cap ? cap : 1));
  if (!ts) return NULL;
  int k = 0;
  for (int i = 0; i < m->nadopted; i++) ts[k++] = m->adopted[i];
  for (int i = 0; i < m->params.count; i++) ts[k++] = m->params.items[i];
  for (int i = 0; i < m->head.params.count; i++) ts[k++] = m->head.params.items[i];
  *n = k;
  return ts;
}

static pt_status save_ptune(const pt_model *m, const char *dir, int nlabels,
                            const char *const *id2label) {
  PT_TRY(pt_mkdirs(dir));
  int n;
  pt_tensor **ts = adapter_tensors(m, &n);
  if (!ts) return pt_error_code();
  const char **names = pt_alloc(sizeof(char *) * (size_t)(n ? n : 1));
  pt_status st = names ? PT_OK : pt_error_code();
  for (int i = 0; st == PT_OK && i < n; i++) names[i] = ts[i]->name;
  char path[4200];
  snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
  const char *keys[] = {"format", "method"}, *vals[] = {"pt", m->method->name};
  if (st == PT_OK)
    st = pt_safetensors_write(path, n, names, (const pt_tensor *const *)ts, 2, keys, vals);
  pt_free_bytes(names);
  pt_free_bytes(ts);
  PT_TRY(st);
  json_t *j = json_object();
  if (!j) return pt_error(PT_ERR_NOMEM, "%s: out of memory", dir);
  json_object_set_new(j, "format", json_string("ptune"));
  json_object_set_new(j, "method", json_string(m->method->name));
  st = pt_options_to_json(m->method->options, m->opts, j, false);
  if (st == PT_OK) st = put_ptune_keys(m, j, nlabels, id2label);
  if (st == PT_OK) st = write_json(j, dir, "adapter_config.json");
  json_decref(j);
  return st;
}

/* peft's key of tensor t: the method's names ("base_model.model.<name>"
 * unless the method says otherwise), the head's through modules_to_save. */
static void peft_key(const pt_model *m, const pt_tensor *t, bool head, char *out, size_t cap) {
  const pt_method *me = m->method;
  if (head) snprintf(out, cap, "%s%s", me->peft_prompt_learning ? "base_model." : "base_model.model.", t->name);
  else if (me->peft_name) me->peft_name(m, t->name, out, cap);
  else snprintf(out, cap, "base_model.model.%s", t->name);
}

pt_status pt_adapter_layout_check(const pt_method *me, pt_head_kind head, pt_adapter_layout layout) {
  if (!(layout & PT_LAYOUT_PEFT)) return PT_OK;
  if (!me->peft_type)
    return pt_error(PT_ERR_ARG, "%s has no peft layout (peft has LoRA, IA3, prefix tuning, prompt "
                    "tuning and P-tuning): save it in ptune's format", me->name);
  if (head == PT_HEAD_VERBALIZER)
    return pt_error(PT_ERR_ARG, "a verbalizer head has no peft layout: save it in ptune's format");
  return PT_OK;
}

pt_status pt_model_layout_check(const pt_model *m, pt_adapter_layout layout) {
  const pt_method *me = m->method;
  PT_TRY(pt_adapter_layout_check(me, m->head.cfg.kind, layout));
  if (!(layout & PT_LAYOUT_PEFT) || !me->peft_config) return PT_OK;
  /* the method's own refusals, which depend on the model (ptv2 with a
   * prefix on some layers only): its config keys, written and dropped */
  json_t *scratch = json_object();
  if (!scratch) return pt_error(PT_ERR_NOMEM, "%s: out of memory", me->name);
  pt_status st = me->peft_config(m, scratch);
  json_decref(scratch);
  return st;
}

static pt_status save_peft(const pt_model *m, const char *dir, int nlabels,
                           const char *const *id2label, const char *base_model) {
  const pt_method *me = m->method;
  PT_TRY(pt_model_layout_check(m, PT_LAYOUT_PEFT));
  json_t *j = json_object(), *extra = json_object(), *opts = json_object();
  if (!j || !extra || !opts) {
    json_decref(j);
    json_decref(extra);
    json_decref(opts);
    return pt_error(PT_ERR_NOMEM, "%s: out of memory", dir);
  }
  const char *tt = peft_task_type(m->head.cfg.task);
  json_object_set_new(j, "peft_type", json_string(me->peft_type));
  json_object_set_new(j, "task_type", tt ? json_string(tt) : json_null());
  json_object_set_new(j, "base_model_name_or_path", base_model ? json_string(base_model) : json_null());
  json_object_set_new(j, "revision", json_null());
  json_object_set_new(j, "inference_mode", json_true());
  pt_status st = pt_options_to_json(me->options, m->opts, j, true);
  json_t *mts = json_array();
  if (m->head.cfg.task == PT_TASK_QUESTION_ANSWERING) {
    json_array_append_new(mts, json_string("qa_outputs"));
  } else { /* what peft's PeftModelFor{Sequence,Token}Classification add */
    json_array_append_new(mts, json_string("classifier"));
    json_array_append_new(mts, json_string("score"));
  }
  json_object_set_new(j, "modules_to_save", mts);
  if (st == PT_OK && me->peft_config) st = me->peft_config(m, j);
  if (st == PT_OK) {
    json_object_set_new(extra, "format", json_string("ptune"));
    json_object_set_new(extra, "method", json_string(me->name));
    st = pt_options_to_json(me->options, m->opts, opts, false);
    json_object_set_new(extra, "options", opts);
    opts = NULL;
  }
  if (st == PT_OK) st = put_ptune_keys(m, extra, nlabels, id2label);
  if (st == PT_OK) {
    json_object_set_new(j, "ptune", extra);
    extra = NULL;
  }
  /* the tensors */
  int n = 0;
  pt_tensor **ts = NULL;
  pt_tensor *table = NULL;
  const pt_tensor **out = NULL;
  char **names = NULL;
  if (st == PT_OK) ts = adapter_tensors(m, &n);
  if (st == PT_OK && !ts) st = pt_error_code();
  if (st == PT_OK) {
    out = pt_alloc(sizeof(pt_tensor *) * (size_t)(n + 1));
    names = calloc((size_t)(n + 1), sizeof(char *));
    if (!out || !names) st = out ? pt_error(PT_ERR_NOMEM, "%s: out of memory", dir) : pt_error_code();
  }
  int k = 0;
  if (st == PT_OK && me->peft_prompt_learning) {
    table = me->table(m);
    if (!table) st = pt_error_code();
    out[k] = table;
    names[k] = strdup("prompt_embeddings");
    if (st == PT_OK && !names[k]) st = pt_error(PT_ERR_NOMEM, "%s: out of memory", dir);
    k++;
  }
  int method_end = m->nadopted + m->params.count;
  for (int i = 0; st == PT_OK && i < n; i++) {
    bool head = i >= method_end;
    if (me->peft_prompt_learning && !head) continue; /* in the table */
    char key[512];
    peft_key(m, ts[i], head, key, sizeof key);
    out[k] = ts[i];
    names[k] = strdup(key);
    if (!names[k++]) st = pt_error(PT_ERR_NOMEM, "%s: out of memory", dir);
  }
  if (st == PT_OK) st = pt_mkdirs(dir);
  char path[4200];
  snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
  const char *mk[] = {"format"}, *mv[] = {"pt"};
  if (st == PT_OK) st = pt_safetensors_write(path, k, (const char *const *)names, out, 1, mk, mv);
  if (st == PT_OK) st = write_json(j, dir, "adapter_config.json");
  for (int i = 0; names && i < k; i++) free(names[i]);
  free(names);
  pt_free_bytes(out);
  pt_free_bytes(ts);
  pt_tensor_free(table);
  json_decref(j);
  json_decref(extra);
  json_decref(opts);
  return st;
}

pt_status pt_model_save(const pt_model *m, const char *dir, pt_adapter_layout layout, int nlabels,
                        const char *const *id2label, const char *base_model) {
  if (layout == PT_LAYOUT_PEFT) return save_peft(m, dir, nlabels, id2label, base_model);
  /* both: check that peft's layout exists before writing anything */
  PT_TRY(pt_model_layout_check(m, layout));
  PT_TRY(save_ptune(m, dir, nlabels, id2label));
  if (layout != PT_LAYOUT_BOTH) return PT_OK;
  char sub[4200];
  snprintf(sub, sizeof sub, "%s/peft", dir);
  return save_peft(m, sub, nlabels, id2label, base_model);
}

/* ---- loading ---- */

/* file name -> model tensor name, for peft's layout */
typedef struct {
  const pt_model *m;
  char (*peft)[512]; /* the peft key of each adapter tensor */
  pt_tensor **ts;
  int n;
  bool table;        /* prompt learning: "prompt_embeddings" fills the method's one tensor */
} peft_names;

static bool map_peft(const char *file_name, char *out, size_t cap, void *ctx) {
  const peft_names *p = ctx;
  char name[512];
  snprintf(name, sizeof name, "%s", file_name);
  /* older peft: <module>.modules_to_save.<name>; the frozen original: none of ours */
  if (strstr(name, ".original_module.")) return false;
  char *mts = strstr(name, ".modules_to_save.");
  if (mts) memmove(mts, mts + 16, strlen(mts + 16) + 1);
  if (p->table && !strcmp(name, "prompt_embeddings")) {
    snprintf(out, cap, "%s", p->m->params.items[0]->name);
    return true;
  }
  for (int i = 0; i < p->n; i++)
    if (!strcmp(p->peft[i], name)) {
      snprintf(out, cap, "%s", p->ts[i]->name);
      return true;
    }
  return false;
}

/* ptune's first release named the prompt table as THUDM's code does */
static bool map_legacy(const char *file_name, char *out, size_t cap, void *ctx) {
  (void)ctx;
  snprintf(out, cap, "%s", strcmp(file_name, "prefix_encoder.weight")
                               ? file_name
                               : "prompt_encoder.embedding.weight");
  return true;
}

pt_status pt_model_load_tensors(pt_model *m, const char *dir, const pt_adapter_info *info) {
  int n;
  pt_tensor **ts = adapter_tensors(m, &n);
  if (!ts) return pt_error_code();
  pt_params set = {0}; /* the adapter's tensors, by name (extra references) */
  pt_status st = PT_OK;
  for (int i = 0; st == PT_OK && i < n; i++) st = pt_params_add(&set, ts[i], ts[i]->name);
  peft_names pn = {m, NULL, ts, n, false};
  bool peft = info->layout == PT_LAYOUT_PEFT;
  if (st == PT_OK && peft) {
    pn.peft = pt_alloc(sizeof(char[512]) * (size_t)(n ? n : 1));
    if (!pn.peft) st = pt_error_code();
    for (int i = 0; st == PT_OK && i < n; i++)
      peft_key(m, ts[i], i >= m->nadopted + m->params.count, pn.peft[i], sizeof pn.peft[i]);
    pn.table = m->method->peft_prompt_learning;
    if (pn.table && m->params.count != 1)
      st = pt_error(PT_ERR_STATE, "%s: a peft prompt-learning adapter fills one table, but the "
                    "model holds %d tensors", dir, m->params.count);
  }
  char path[4200];
  snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
  bool *filled = calloc((size_t)(n ? n : 1), sizeof(bool));
  if (st == PT_OK && !filled) st = pt_error(PT_ERR_NOMEM, "%s: out of memory", dir);
  pt_load_report r = {0};
  pt_name_map map = peft ? map_peft : info->legacy ? map_legacy : NULL;
  if (st == PT_OK) st = pt_params_load_safetensors(&set, path, map, &pn, filled, &r);
  if (st == PT_OK && r.unused && !peft)
    st = pt_error(PT_ERR_FORMAT, "%s: %d tensors fit no tensor of this %s model: %s", path,
                  r.unused, m->method->name, r.unused_names);
  if (st == PT_OK && r.unused)
    pt_warn("%s: %d tensors were not used: %s", path, r.unused, r.unused_names);
  int method_end = m->nadopted + m->params.count;
  for (int i = 0; st == PT_OK && i < n; i++) {
    if (filled[i]) continue;
    const char *want = !peft ? ts[i]->name : pn.table && i < method_end ? "prompt_embeddings"
                                                                        : pn.peft[i];
    st = pt_error(PT_ERR_FORMAT, "%s: tensor '%s' is missing", path, want);
  }
  free(filled);
  pt_free_bytes(pn.peft);
  pt_params_free(&set);
  pt_free_bytes(ts);
  return st;
}

pt_status pt_model_load(pt_model *m, pt_backbone *bb, const char *dir, const pt_adapter_info *info,
                        uint64_t seed) {
  PT_TRY(pt_adapter_info_check_base(info, &bb->bert.cfg, dir));
  pt_model_config mc = {info->head, seed, NULL, NULL, true};
  /* the options are the file's: name it (a bad value's message names the option) */
  pt_status st = pt_model_new(m, bb, info->method, info->opts, &mc);
  if (st != PT_OK) return pt_error_context(st, "%s/adapter_config.json", dir);
  st = pt_model_load_tensors(m, dir, info);
  if (st != PT_OK) pt_model_free(m);
  return st;
}
