/* `ptune score`: scores an existing predictions file (ptune predict's, or
 * another system's in the same format) against labelled data; the metrics
 * go to stdout as the JSON line `ptune eval` prints. No model is loaded. */
#include <stdlib.h>

#include "apps/cmd/commands.h"

static int score(run_args *a) {
  char *json = NULL;
  pt_status st = task_score_file(a->task, &a->task_options, a->data, a->predictions, &json);
  if (st == PT_OK) printf("%s\n", json);
  free(json);
  return command_exit(a, st);
}

static const command score_command = {
    .name = "score",
    .summary = "score a predictions file against labelled data (eval's JSON line)",
    .usage = "score --task T --data FILE --predictions FILE [options]\n"
             "Prints the metrics of the predictions as `ptune eval` prints them (one JSON line).\n"
             "ner reads a CoNLL file whose last column is the predicted tag (conlleval's input;\n"
             "without --data the column before it is the gold); qa {id: answer} JSON with\n"
             "--na-prob for SQuAD 2.0's best thresholds; cls/mc jsonl {\"idx\", \"label\"}; srl\n"
             "the jsonl ptune predict writes.",
    .defaults = "--na-prob-thresh 1.0 --ner-mode default --scheme IOB2",
    .required = "--task --predictions",
    .run = score,
};
COMMAND_REGISTER(score_command);
