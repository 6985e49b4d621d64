/* `ptune train`: fits an adapter (or the whole model) on a task; see
 * apps/trainer.c for the loop and apps/args.c for the options. */
#include <stdio.h>

#include "apps/commands.h"
#include "apps/train.h"

int pt_cmd_train(int argc, char **argv) {
  pt_run_args a;
  if (pt_run_args_parse(PT_CMD_TRAIN, argc, argv, &a) != PT_OK) {
    fprintf(stderr, "ptune train: %s\n", pt_error_message());
    return 2;
  }
  if (a.help) {
    printf("usage: ptune train --task T --model DIR --train FILE [--dev FILE] --out DIR [options]\n"
           "Writes OUT/metrics.jsonl, OUT/best and OUT/last (adapters) and checkpoints.\n");
    pt_run_args_usage(PT_CMD_TRAIN, stdout);
    return 0;
  }
  if (pt_train_run(&a) != PT_OK) {
    fprintf(stderr, "ptune train: %s\n", pt_error_message());
    return 1;
  }
  return 0;
}
