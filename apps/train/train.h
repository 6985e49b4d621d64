/* `ptune train`: the training job over a task (finetune.c). */
#ifndef APPS_TRAIN_TRAIN_H
#define APPS_TRAIN_TRAIN_H

#include "apps/cli/options.h"

/* Builds the model (base + optional --init-adapter), trains and writes
 * OUT/metrics.jsonl, OUT/best, OUT/last and checkpoints. */
pt_status train_run(const run_args *a);

#endif
