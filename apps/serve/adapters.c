/* The server's adapters (see adapters.h). */
#include "apps/serve/adapters.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/tasks/lines.h"
#include "models/pt_model_io.h"

void adapters_init(adapter_registry *r, pt_backbone *bb, const char *model_dir,
                   pthread_mutex_t *compute) {
  memset(r, 0, sizeof *r);
  bb->shared = true; /* every adapter's model leaves the backbone's tensors as loaded */
  pthread_mutex_init(&r->lock, NULL);
  r->bb = bb;
  r->model_dir = model_dir;
  r->compute = compute;
  r->seed = 42;
}

bool adapter_name_ok(const char *name) {
  size_t n = strlen(name);
  if (n < 1 || n > ADAPTER_NAME_MAX) return false;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '.' || c == '_' || c == '-'))
      return false;
  }
  return true;
}

/* The task row serving a head: ner for token classification (srl's rows
 * need a predicate marker a request does not carry). */
static const task_def *task_of_head(pt_task_kind head) {
  switch (head) {
    case PT_TASK_SEQUENCE_CLASSIFICATION: return task_find("cls");
    case PT_TASK_TOKEN_CLASSIFICATION: return task_find("ner");
    case PT_TASK_QUESTION_ANSWERING: return task_find("qa");
    case PT_TASK_MULTIPLE_CHOICE: return task_find("mc");
  }
  return NULL;
}

/* Releases what an adapter holds; its model detaches under `compute`. */
static void adapter_free(adapter_registry *r, serve_adapter *a) {
  if (a->model.method) {
    pthread_mutex_lock(r->compute);
    pt_model_free(&a->model);
    pthread_mutex_unlock(r->compute);
  }
  label_map_free(&a->map);
  free(a->dir);
  free(a);
}

void adapters_free(adapter_registry *r) {
  while (r->list) {
    serve_adapter *a = r->list;
    r->list = a->next;
    adapter_free(r, a);
  }
  pthread_mutex_destroy(&r->lock);
}

static serve_adapter *find(adapter_registry *r, const char *name) {
  for (serve_adapter *a = r->list; a; a = a->next)
    if (!strcmp(a->name, name)) return a;
  return NULL;
}

/* The model, task, options and labels of `dir`. */
static pt_status adapter_read(adapter_registry *r, serve_adapter *a, const char *dir) {
  pt_adapter_info info;
  PT_TRY(pt_adapter_info_read(dir, r->model_dir, &info));
  pt_status st = pt_adapter_info_check_base(&info, &r->bb->bert.cfg, dir);
  a->task = task_of_head(info.head.task);
  if (st == PT_OK && (!a->task || !a->task->read_inputs))
    st = pt_error(PT_ERR_ARG, "%s: %s adapters cannot be served", dir,
                  pt_task_name(info.head.task));
  if (st == PT_OK && a->task->adapter_labels)
    st = label_map_set(&a->map, (const char *const *)info.id2label, info.nlabels);
  if (st == PT_OK) { /* on the shared backbone: biases a method trains are private copies */
    pthread_mutex_lock(r->compute);
    st = pt_model_load(&a->model, r->bb, dir, &info, r->seed);
    pthread_mutex_unlock(r->compute);
  }
  pt_adapter_info_free(&info);
  PT_TRY(st);
  if (a->task->adapter_labels && a->map.n != a->model.head.cfg.num_labels)
    return pt_error(PT_ERR_FORMAT, "%s: %lld label names for a head of %lld labels", dir,
                    (long long)a->map.n, (long long)a->model.head.cfg.num_labels);
  a->opts = (task_opts){.max_seq_len = a->task->max_seq_len, .doc_stride = 128, .n_best = 20,
                        .max_answer_len = 30,
                        .mask_after_first = a->model.head.cfg.kind == PT_HEAD_VERBALIZER};
  return task_fit_max_seq_len(&a->opts, false, &a->model, r->model_dir);
}

pt_status adapters_load(adapter_registry *r, const char *name, const char *dir, json_t **out) {
  if (out) *out = NULL;
  if (!adapter_name_ok(name))
    return pt_error(PT_ERR_ARG, "adapter name '%.80s': 1 to %d letters, digits, '.', '_' or '-'",
                    name, ADAPTER_NAME_MAX);
  pthread_mutex_lock(&r->lock);
  bool taken = find(r, name) != NULL;
  pthread_mutex_unlock(&r->lock);
  if (taken) return pt_error(PT_ERR_STATE, "adapter '%s' is loaded already", name);
  serve_adapter *a = calloc(1, sizeof *a);
  if (!a) return pt_error(PT_ERR_NOMEM, "adapter '%s': out of memory", name);
  snprintf(a->name, sizeof a->name, "%s", name);
  label_map_init(&a->map);
  a->refs = 1;
  pt_status st = (a->dir = strdup_checked(dir)) ? adapter_read(r, a, dir) : PT_ERR_NOMEM;
  if (st == PT_ERR_STATE) { /* PT_ERR_STATE says "name taken" to the caller */
    char why[512];
    snprintf(why, sizeof why, "%s", pt_error_message());
    st = pt_error(PT_ERR_ARG, "%s", why);
  }
  if (st == PT_OK) {
    pthread_mutex_lock(&r->lock);
    if (find(r, name)) { /* loaded meanwhile by another request */
      st = pt_error(PT_ERR_STATE, "adapter '%s' is loaded already", name);
    } else {
      serve_adapter **at = &r->list;
      while (*at) at = &(*at)->next;
      *at = a;
      r->count++;
    }
    pthread_mutex_unlock(&r->lock);
  }
  if (st != PT_OK) {
    adapter_free(r, a);
    return st;
  }
  if (out) *out = adapter_json(a);
  return PT_OK;
}

serve_adapter *adapters_get(adapter_registry *r, const char *name) {
  pthread_mutex_lock(&r->lock);
  serve_adapter *a = find(r, name);
  if (a) a->refs++;
  pthread_mutex_unlock(&r->lock);
  return a;
}

void adapters_put(adapter_registry *r, serve_adapter *a) {
  pthread_mutex_lock(&r->lock);
  bool last = --a->refs == 0;
  pthread_mutex_unlock(&r->lock);
  if (last) adapter_free(r, a);
}

pt_status adapters_unload(adapter_registry *r, const char *name) {
  pthread_mutex_lock(&r->lock);
  serve_adapter **at = &r->list;
  while (*at && strcmp((*at)->name, name)) at = &(*at)->next;
  serve_adapter *a = *at;
  if (a) {
    *at = a->next;
    a->next = NULL;
    r->count--;
  }
  pthread_mutex_unlock(&r->lock);
  if (!a) return pt_error(PT_ERR_ARG, "no adapter named '%.80s' is loaded", name);
  adapters_put(r, a);
  return PT_OK;
}

json_t *adapter_json(const serve_adapter *a) {
  json_t *labels = json_array();
  for (int64_t i = 0; labels && i < a->map.n; i++)
    json_array_append_new(labels, json_string(a->map.names[i]));
  return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:I, s:I}", "name", a->name, "path", a->dir,
                   "method", a->model.method->name, "task", a->task->name, "head",
                   pt_head_kind_name(a->model.head.cfg.kind), "labels",
                   labels ? labels : json_array(), "trainable_parameters",
                   (json_int_t)pt_model_numel(&a->model, true), "positions",
                   (json_int_t)pt_model_positions(&a->model));
}

json_t *adapters_list_json(adapter_registry *r) {
  json_t *list = json_array();
  pthread_mutex_lock(&r->lock);
  for (serve_adapter *a = r->list; list && a; a = a->next) json_array_append_new(list, adapter_json(a));
  pthread_mutex_unlock(&r->lock);
  return list;
}

int adapters_count(adapter_registry *r) {
  pthread_mutex_lock(&r->lock);
  int n = r->count;
  pthread_mutex_unlock(&r->lock);
  return n;
}
