/* `ptune score`: scores an existing predictions file (ptune predict's, or
 * another system's in the same format) against labelled data; the metrics
 * go to stdout as the JSON line `ptune eval` prints. No model is loaded. */
#include <stdio.h>
#include <stdlib.h>

#include "apps/cli/options.h"
#include "apps/cmd/commands.h"
#include "apps/tasks/task.h"

int cmd_score(int argc, char **argv) {
  run_args a;
  if (run_args_parse(CMD_SCORE, argc, argv, &a) != PT_OK) {
    fprintf(stderr, "ptune score: %s\n", pt_error_message());
    return 2;
  }
  if (a.help) {
    printf("usage: ptune score --task T --data FILE --predictions FILE [options]\n"
           "Prints the metrics of the predictions as `ptune eval` prints them (one JSON line).\n"
           "ner reads a CoNLL file whose last column is the predicted tag (conlleval's input;\n"
           "without --data the column before it is the gold); qa {id: answer} JSON with\n"
           "--na-prob for SQuAD 2.0's best thresholds; cls/mc jsonl {\"idx\", \"label\"}; srl\n"
           "the jsonl ptune predict writes.\n");
    run_args_usage(CMD_SCORE, stdout);
    return 0;
  }
  char *json = NULL;
  pt_status st = task_score_file(a.task, &a.task_options, a.data, a.predictions, &json);
  if (st == PT_OK) printf("%s\n", json);
  else fprintf(stderr, "ptune score: %s\n", pt_error_message());
  free(json);
  return st == PT_OK ? 0 : 1;
}
