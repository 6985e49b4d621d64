/* `ptune merge`: a merged model as a plain Hugging Face model directory
 * (see pt_model_io.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/pt_model_io.h"
#include "nn/pt_json.h"
#include "nn/pt_safetensors.h"
#include "tensor/pt_file.h"

/* Hugging Face's class for the backbone and head. */
static const char *architecture(const pt_model *m, char *buf, size_t cap) {
  const char *base = m->bb->bert.cfg.arch == PT_ARCH_ROBERTA ? "Roberta" : "Bert";
  const char *head = "ForSequenceClassification";
  if (m->head.cfg.kind == PT_HEAD_VERBALIZER) head = "ForMaskedLM";
  else if (m->head.cfg.task == PT_TASK_TOKEN_CLASSIFICATION) head = "ForTokenClassification";
  else if (m->head.cfg.task == PT_TASK_QUESTION_ANSWERING) head = "ForQuestionAnswering";
  else if (m->head.cfg.task == PT_TASK_MULTIPLE_CHOICE) head = "ForMultipleChoice";
  snprintf(buf, cap, "%s%s", base, head);
  return buf;
}

static pt_status write_config(const pt_model *m, const char *model_dir, const char *out_dir,
                              int nlabels, const char *const *id2label) {
  char path[4200];
  snprintf(path, sizeof path, "%s/config.json", model_dir);
  json_t *j = pt_json_load_object(path);
  if (!j) return pt_error_code();
  char arch[96];
  json_t *archs = json_array(), *i2l = json_object(), *l2i = json_object();
  json_array_append_new(archs, json_string(architecture(m, arch, sizeof arch)));
  json_object_set_new(j, "architectures", archs);
  for (int i = 0; i < nlabels; i++) {
    char key[24], def[32];
    snprintf(key, sizeof key, "%d", i);
    snprintf(def, sizeof def, "LABEL_%d", i);
    const char *name = id2label && id2label[i] ? id2label[i] : def;
    json_object_set_new(i2l, key, json_string(name));
    json_object_set_new(l2i, name, json_integer(i));
  }
  if (nlabels) {
    json_object_set_new(j, "id2label", i2l);
    json_object_set_new(j, "label2id", l2i);
  } else {
    json_decref(i2l);
    json_decref(l2i);
  }
  char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(j);
  if (!text) return pt_error(PT_ERR_NOMEM, "%s: out of memory", out_dir);
  snprintf(path, sizeof path, "%s/config.json", out_dir);
  pt_status st = pt_write_file_atomic(path, text, strlen(text));
  free(text);
  return st;
}

pt_status pt_model_save_merged(pt_model *m, const char *model_dir, const char *out_dir, int nlabels,
                               const char *const *id2label) {
  if (!m->merged) PT_TRY(pt_model_merge(m));
  PT_TRY(pt_mkdirs(out_dir));
  const pt_params *bb = &m->bb->params, *head = &m->head.params;
  int n = bb->count + head->count;
  const char **names = pt_alloc(sizeof(char *) * (size_t)n);
  const pt_tensor **ts = pt_alloc(sizeof(pt_tensor *) * (size_t)n);
  pt_status st = names && ts ? PT_OK : pt_error_code();
  for (int i = 0; st == PT_OK && i < n; i++) {
    ts[i] = i < bb->count ? bb->items[i] : head->items[i - bb->count];
    names[i] = ts[i]->name;
  }
  char path[4200];
  snprintf(path, sizeof path, "%s/model.safetensors", out_dir);
  const char *keys[] = {"format"}, *vals[] = {"pt"};
  if (st == PT_OK) st = pt_safetensors_write(path, n, names, ts, 1, keys, vals);
  pt_free_bytes(names);
  pt_free_bytes(ts);
  /* the tokenizer, as the base model has it */
  static const char *const tokenizer_files[] = {"vocab.txt",        "vocab.json",
                                                "merges.txt",       "tokenizer.json",
                                                "tokenizer_config.json", "special_tokens_map.json"};
  for (size_t i = 0; st == PT_OK && i < sizeof tokenizer_files / sizeof tokenizer_files[0]; i++) {
    char src[4200];
    snprintf(src, sizeof src, "%s/%s", model_dir, tokenizer_files[i]);
    snprintf(path, sizeof path, "%s/%s", out_dir, tokenizer_files[i]);
    if (access(src, R_OK) == 0) st = pt_copy_file(src, path);
  }
  /* the config last: a directory with one is complete */
  if (st == PT_OK) st = write_config(m, model_dir, out_dir, nlabels, id2label);
  return st;
}
