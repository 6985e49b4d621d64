/* `ptune train`: fits an adapter (or the whole model) on a task; see
 * apps/train/finetune.c for the loop and apps/cli/options.c for the options. */
#include <stdio.h>

#include "apps/cmd/commands.h"
#include "apps/train/train.h"

int cmd_train(int argc, char **argv) {
  run_args a;
  if (run_args_parse(CMD_TRAIN, argc, argv, &a) != PT_OK) {
    fprintf(stderr, "ptune train: %s\n", pt_error_message());
    return 2;
  }
  if (a.help) {
    printf("usage: ptune train --task T --model DIR --train FILE [--dev FILE] --out DIR [options]\n"
           "Writes OUT/metrics.jsonl, OUT/best and OUT/last (adapters) and checkpoints.\n");
    run_args_usage(CMD_TRAIN, stdout);
    return 0;
  }
  if (train_run(&a) != PT_OK) {
    fprintf(stderr, "ptune train: %s\n", pt_error_message());
    return 1;
  }
  return 0;
}
