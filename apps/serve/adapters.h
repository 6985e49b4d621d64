/* The adapters a server holds on its one backbone, by name: loaded at
 * start and while serving (POST /v1/adapters/NAME), unloaded while serving
 * (DELETE), described for GET /v1/adapters.
 *
 * An adapter is a task model (models/pt_model.h) read from its directory
 * onto the backbone, which the registry marks shared (a method that trains
 * backbone biases, bitfit or LoRA's bias options, gets private copies;
 * one that trains other backbone tensors, finetune, is refused), with its
 * task row (apps/tasks/task.h: cls for sequence classification,
 * ner for token classification, qa, mc), the task's default options fitted
 * to the model, and its label names.
 *
 * Concurrency: the list has its own lock; a request holds a reference to
 * the adapter it uses (adapters_get / adapters_put), so an unloaded adapter
 * stays alive until the last request using it is answered. Attaching and
 * detaching models changes the backbone's hooks, so it happens under
 * `compute`, the lock the batches run under.
 *
 * Errors are pt_status with one line naming the adapter: PT_ERR_STATE for a
 * name already loaded, PT_ERR_ARG for a bad name, others from reading the
 * directory. */
#ifndef APPS_SERVE_ADAPTERS_H
#define APPS_SERVE_ADAPTERS_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>

#include "apps/tasks/task.h"
#include "models/pt_model.h"

#define ADAPTER_NAME_MAX 64

typedef struct serve_adapter {
  char name[ADAPTER_NAME_MAX + 1];
  char *dir;
  pt_model model;
  const task_def *task;
  task_opts opts;
  label_map map;
  int refs;                    /* the list's (while loaded) and requests' */
  struct serve_adapter *next;
} serve_adapter;

typedef struct {
  pthread_mutex_t lock; /* the list and the references */
  serve_adapter *list;
  int count;
  pt_backbone *bb;      /* borrowed */
  const char *model_dir;
  pthread_mutex_t *compute; /* borrowed: held while the backbone computes */
  uint64_t seed;
} adapter_registry;

void adapters_init(adapter_registry *r, pt_backbone *bb, const char *model_dir,
                   pthread_mutex_t *compute);
/* Unloads everything (no request may hold an adapter any more). */
void adapters_free(adapter_registry *r);

/* Names: 1 to 64 of [A-Za-z0-9._-]. */
bool adapter_name_ok(const char *name);
/* Loads `dir` as `name`; *out (may be NULL) receives its description. */
pt_status adapters_load(adapter_registry *r, const char *name, const char *dir, json_t **out);
/* Unloads `name` (PT_ERR_ARG when not loaded); requests holding it finish. */
pt_status adapters_unload(adapter_registry *r, const char *name);
/* The adapter `name` with a reference for the caller, or NULL. */
serve_adapter *adapters_get(adapter_registry *r, const char *name);
void adapters_put(adapter_registry *r, serve_adapter *a);

/* {"name", "path", "method", "task", "head", "labels", "trainable_parameters"}. */
json_t *adapter_json(const serve_adapter *a);
/* [adapter_json of each, in load order] (a new reference). */
json_t *adapters_list_json(adapter_registry *r);
int adapters_count(adapter_registry *r);

#endif
