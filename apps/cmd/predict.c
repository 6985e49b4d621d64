/* `ptune predict`: labels data with a trained adapter. Output by task:
 * ner the CoNLL file with a predicted-tag column; qa {id: answer} JSON as the
 * official SQuAD evaluator reads it; cls and mc jsonl {"idx", "label"};
 * srl jsonl {"tokens", "verb_indicator", "tags"} with the predicted tags. */
#include <omp.h>
#include <stdio.h>

#include "apps/cmd/commands.h"
#include "apps/cli/options.h"
#include "apps/tasks/task.h"

int cmd_predict(int argc, char **argv) {
  run_args a;
  if (run_args_parse(CMD_PREDICT, argc, argv, &a) != PT_OK) {
    fprintf(stderr, "ptune predict: %s\n", pt_error_message());
    return 2;
  }
  if (a.help) {
    printf("usage: ptune predict --task T --model DIR --adapter DIR --data FILE --output FILE\n"
           "ner: CoNLL with a predicted-tag column; qa: {id: answer}; cls/mc: jsonl idx+label;\n"
           "srl: jsonl with predicted tags.\n");
    run_args_usage(CMD_PREDICT, stdout);
    return 0;
  }
  infer_session in;
  eval_result r = {0};
  if (a.threads > 0) omp_set_num_threads((int)a.threads);
  pt_status st = infer_setup(a.task, &a.task_options, a.max_seq_len_set, a.model, a.adapter,
                             a.data, false, &in);
  if (st == PT_OK)
    st = task_evaluate(&in.model, &in.data, &in.map, &in.opts, a.batch_size,
                       pt_tokenizer_pad_id(in.tok), &r);
  if (st == PT_OK) st = task_write_predictions(&in.data, &r, &in.map, &in.opts, a.output);
  if (st != PT_OK) fprintf(stderr, "ptune predict: %s\n", pt_error_message());
  eval_result_free(&r);
  infer_free(&in);
  return st == PT_OK ? 0 : 1;
}
