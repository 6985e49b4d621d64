/* `ptune eval`: scores an adapter on labelled data; the metrics go to stdout
 * as one JSON line. */
#include <omp.h>
#include <stdio.h>

#include "apps/cmd/commands.h"
#include "apps/cli/options.h"
#include "apps/tasks/task.h"

int cmd_eval(int argc, char **argv) {
  run_args a;
  if (run_args_parse(CMD_EVAL, argc, argv, &a) != PT_OK) {
    fprintf(stderr, "ptune eval: %s\n", pt_error_message());
    return 2;
  }
  if (a.help) {
    printf("usage: ptune eval --task T --model DIR --adapter DIR --data FILE [options]\n"
           "Prints the metrics as one JSON line.\n");
    run_args_usage(CMD_EVAL, stdout);
    return 0;
  }
  infer_session in;
  eval_result r = {0};
  if (a.threads > 0) omp_set_num_threads((int)a.threads);
  pt_status st = infer_setup(a.task, &a.task_options, a.max_seq_len_set, a.model, a.adapter,
                             a.data, true, &in);
  if (st == PT_OK) st = task_evaluate(&in.model, &in.data, &in.map, &in.opts, a.batch_size,
                       pt_tokenizer_pad_id(in.tok), &r);
  if (st == PT_OK) printf("%s\n", r.json);
  else fprintf(stderr, "ptune eval: %s\n", pt_error_message());
  eval_result_free(&r);
  infer_free(&in);
  return st == PT_OK ? 0 : 1;
}
