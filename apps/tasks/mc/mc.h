/* The mc task (multiple choice): the COPA reader (read.c) and the task row
 * with its prediction file (task.c). */
#ifndef APPS_TASKS_MC_MC_H
#define APPS_TASKS_MC_MC_H

#include <stdbool.h>
#include <stdint.h>

#include "apps/tasks/classes.h"
#include "apps/tasks/lines.h"

typedef struct {
  char *premise;
  char *question; /* COPA: "cause" or "effect" */
  char *context;  /* "<premise> because" for cause, "<premise> so" for effect */
  char **choices;
  int64_t n_choices;
  int64_t label; /* index of the right choice; -1 when unlabelled */
  int64_t idx;
  int64_t line;
} mc_example;

typedef struct {
  mc_example *ex;
  int64_t n;
  char *path;
  bool has_labels;
} mc_set;

void mc_set_free(mc_set *set);
/* COPA jsonl: premise, choice1, choice2, question (cause|effect), label 0/1. */
pt_status read_mc(const char *path, data_format fmt, const read_opts *opts, mc_set *out);

/* One JSON line per example: {"idx": N, "label": <choice index>}. */
pt_status write_mc_predictions(const mc_set *set, const int64_t *pred, const char *out_path);

/* Example i's prediction line {"idx": N, "label": <choice>} in *out;
 * PT_ERR_ARG when pred[i] is not a choice. */
pt_status mc_example_json(const mc_set *set, const int64_t *pred, int64_t i, json_t **out);

/* Serving (serve.c): the examples of a request's inputs ({"premise",
 * "choices", "question"}) and example i's result (the prediction line with
 * "probabilities": [p per choice]). */
pt_status mc_read_inputs(const task_opts *o, const json_t *inputs, task_data *td);
pt_status mc_serve_json(const task_data *td, const eval_result *r, const label_map *map,
                        int64_t i, json_t **out);

#endif
