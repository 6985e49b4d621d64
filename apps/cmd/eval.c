/* `ptune eval`: scores an adapter on labelled data; the metrics go to stdout
 * as one JSON line. */
#include "apps/cmd/commands.h"

static int eval(run_args *a) {
  infer_session in;
  eval_result r = {0};
  pt_status st = infer_setup(a->task, &a->task_options, option_given(a, "--max-seq-len"), a->model,
                             a->adapter, a->data, true, a->backbone_dtype, &in);
  if (st == PT_OK) st = infer_evaluate(&in, a->batch_size, &r);
  if (st == PT_OK) printf("%s\n", r.json);
  eval_result_free(&r);
  infer_free(&in);
  return command_exit(a, st);
}

static const command eval_command = {
    .name = "eval",
    .summary = "score an adapter on labelled data (one JSON line)",
    .usage =
        "eval --task T --model DIR --adapter DIR --data FILE [options]\n"
        "Prints the metrics as one JSON line.",
    .defaults =
        "--batch-size 8 --doc-stride 128 --n-best 20 --max-answer-len 30 "
        "--null-threshold 0 --ner-mode default --scheme IOB2",
    .required = "--task --model --adapter --data",
    .run = eval,
};
COMMAND_REGISTER(eval_command);
