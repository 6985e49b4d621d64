/* `ptune predict`: labels data with a trained adapter, in the task's
 * prediction format (task_def.write). */
#include "apps/cmd/commands.h"

static int predict(run_args *a) {
  infer_session in;
  eval_result r = {0};
  pt_status st = infer_setup(a->task, &a->task_options, option_given(a, "--max-seq-len"), a->model,
                             a->adapter, a->data, false, a->backbone_dtype, &in);
  if (st == PT_OK) st = infer_evaluate(&in, a->batch_size, &r);
  if (st == PT_OK) st = task_write_predictions(&in.data, &r, &in.map, &in.opts, a->output);
  eval_result_free(&r);
  infer_free(&in);
  return command_exit(a, st);
}

static const command predict_command = {
    .name = "predict",
    .summary = "label data with an adapter",
    .usage =
        "predict --task T --model DIR --adapter DIR --data FILE --output FILE [options]\n"
        "ner: CoNLL with a predicted-tag column; qa: {id: answer}; cls/mc: jsonl idx+label;\n"
        "srl: jsonl with predicted tags.",
    .defaults =
        "--batch-size 8 --doc-stride 128 --n-best 20 --max-answer-len 30 "
        "--null-threshold 0",
    .required = "--task --model --adapter --data --output",
    .run = predict,
};
COMMAND_REGISTER(predict_command);
