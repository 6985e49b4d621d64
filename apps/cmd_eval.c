/* `ptune eval`: scores an adapter on labelled data; the metrics go to stdout
 * as one JSON line. */
#include <stdio.h>

#include "apps/commands.h"
#include "apps/train.h"

int pt_cmd_eval(int argc, char **argv) {
  pt_run_args a;
  if (pt_run_args_parse(PT_CMD_EVAL, argc, argv, &a) != PT_OK) {
    fprintf(stderr, "ptune eval: %s\n", pt_error_message());
    return 2;
  }
  if (a.help) {
    printf("usage: ptune eval --task T --model DIR --adapter DIR --data FILE [options]\n"
           "Prints the metrics as one JSON line.\n");
    pt_run_args_usage(PT_CMD_EVAL, stdout);
    return 0;
  }
  pt_infer in;
  pt_eval_result r = {0};
  pt_status st = pt_infer_setup(&a, true, &in);
  if (st == PT_OK) st = pt_evaluate(&in.model, &in.data, &in.map, &a, pt_tokenizer_pad_id(in.tok), &r);
  if (st == PT_OK) printf("%s\n", r.json);
  else fprintf(stderr, "ptune eval: %s\n", pt_error_message());
  pt_eval_result_free(&r);
  pt_infer_free(&in);
  return st == PT_OK ? 0 : 1;
}
