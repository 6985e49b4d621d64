/* `ptune score` for any task row: the gold data read as for eval, the
 * predictions file read back by the row (misaligned or incomplete files are
 * errors naming the file and the line or id), and the row's metric, so the
 * line printed is the one `ptune eval` prints for the same predictions. */
#include <stdlib.h>

#include "apps/tasks/task.h"

pt_status task_score_file(const task_def *t, const task_opts *o, const char *data,
                          const char *predictions, char **json) {
  *json = NULL;
  task_opts go = *o;
  if (!data) {
    if (!t->predictions_hold_gold)
      return pt_error(PT_ERR_ARG, "--data is required for --task %s (the gold to score against)",
                      t->name);
    go.gold_in_predictions = true; /* conlleval's reading: gold, then prediction */
    data = predictions;
  }
  if ((go.na_prob_file || go.na_prob_output) && t->head != PT_TASK_QUESTION_ANSWERING)
    return pt_error(PT_ERR_ARG, "--na-prob: only question answering (SQuAD 2.0) has no-answer "
                    "scores, not --task %s", t->name);
  task_data td;
  PT_TRY(task_data_read(t, &go, data, true, &td));
  label_map map;
  label_map_init(&map);
  eval_result r = {0};
  pt_status st = PT_OK;
  if (!td.labelled) st = pt_error(PT_ERR_FORMAT, "%s: has no labels to score against", data);
  if (st == PT_OK) st = task_preset_labels(t, &go, &map);
  if (st == PT_OK) st = task_data_map_labels(&td, &map, true);
  r.n = td.n_examples;
  if (st == PT_OK) st = t->read_predictions(&td, &map, &go, predictions, &r);
  if (st == PT_OK) st = task_score_predictions(&td, &map, &go, &r);
  if (st == PT_OK) {
    *json = r.json;
    r.json = NULL;
  }
  eval_result_free(&r);
  label_map_free(&map);
  task_data_free(&td);
  return st;
}
