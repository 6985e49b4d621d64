/* `ptune train --task-spec NAME:KEY=VALUE,...`: one adapter of a
 * multi-task run (task_spec.c; the run is finetune.c's job).
 *
 * A spec's options are the run's command line (without its --task-spec
 * words) followed by --KEY VALUE for each pair, read by the one option
 * parser: what the command line gives (--method lora --lora-r 8,
 * --max-seq-len 128) applies to every adapter, and a spec's pair overrides
 * it. KEYs are the options of one adapter (option_of_one_task: task, train,
 * dev, method and the method's options, head, label-words, init-adapter,
 * save-format, the task's options); the run's own (--lr, --batch-size,
 * --seed, ...) are given once, outside the specs. A comma followed by text
 * without '=' continues the value: label-words=terrible,great. NAME is
 * letters, digits, '_' and '-' (the adapter's folder OUT/NAME/). */
#ifndef APPS_TRAIN_TASK_SPEC_H
#define APPS_TRAIN_TASK_SPEC_H

#include "apps/cli/options.h"

#define TASK_SPEC_NAME_MAX 64

typedef struct {
  char name[TASK_SPEC_NAME_MAX];
  run_args args; /* its options; strings point into text and the run's argv */
  char *text;    /* owned: the spec's copy, split in place */
  char **argv;   /* owned: the command line it was parsed from */
} task_spec;

/* Parses `spec` (one value of run->task_specs) over the run's command line
 * into *out (task_spec_free releases it, also after a failure). PT_ERR_ARG
 * with "--task-spec NAME: ..." for a malformed spec, a KEY that is not an
 * option of one adapter, a missing task or train, or a bad value. */
pt_status task_spec_parse(const run_args *run, const char *spec, task_spec *out);
void task_spec_free(task_spec *s);

/* The run's own checks of its specs: at least one, names unique, and no
 * --task, --train, --dev or --init-adapter outside them. */
pt_status task_specs_check(const run_args *run);

#endif
