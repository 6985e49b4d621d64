/* `ptune predict`: labels data with a trained adapter. Output by task:
 * ner the CoNLL file with a predicted-tag column; qa {id: answer} JSON as the
 * official SQuAD evaluator reads it; cls and mc jsonl {"idx", "label"};
 * srl jsonl {"tokens", "verb_indicator", "tags"} with the predicted tags. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/cmd/commands.h"
#include "apps/cli/options.h"
#include "apps/tasks/task.h"
#include "tensor/pt_file.h"

static pt_status write_srl(const srl_set *set, char **const *tags, const char *path) {
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  pt_status st = buf ? PT_OK : pt_error(PT_ERR_NOMEM, "predict: out of memory");
  for (int64_t i = 0; st == PT_OK && i < set->n; i++) {
    const srl_example *x = &set->ex[i];
    json_t *toks = json_array(), *verb = json_array(), *tg = json_array();
    for (int64_t w = 0; w < x->s.n; w++) {
      json_array_append_new(toks, json_string(x->s.words[w]));
      json_array_append_new(verb, json_integer(x->verb_mask[w]));
      json_array_append_new(tg, json_string(tags[i][w]));
    }
    json_t *o = json_pack("{s:o, s:o, s:o}", "tokens", toks, "verb_indicator", verb, "tags", tg);
    char *line = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!line) {
      st = pt_error(PT_ERR_NOMEM, "predict: out of memory");
      break;
    }
    size_t n = strlen(line);
    while (len + n + 2 > cap) {
      char *nb = realloc(buf, cap *= 2);
      if (!nb) {
        st = pt_error(PT_ERR_NOMEM, "predict: out of memory");
        break;
      }
      buf = nb;
    }
    if (st == PT_OK) {
      memcpy(buf + len, line, n);
      len += n;
      buf[len++] = '\n';
    }
    free(line);
  }
  if (st == PT_OK) st = pt_write_file_atomic(path, buf, len);
  free(buf);
  return st;
}

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
  pt_status st = infer_setup(&a, false, &in);
  if (st == PT_OK)
    st = task_evaluate(&in.model, &in.data, &in.map, &a, pt_tokenizer_pad_id(in.tok), &r);
  if (st == PT_OK) {
    switch (a.task) {
      case TASK_NER: st = write_ner_predictions(&in.data.ner, r.tags, a.output); break;
      case TASK_SRL: st = write_srl(&in.data.srl, r.tags, a.output); break;
      case TASK_CLS: st = write_cls_predictions(&in.data.cls, r.pred, &in.map, a.output); break;
      case TASK_MC: st = write_mc_predictions(&in.data.mc, r.pred, a.output); break;
      case TASK_QA:
        st = write_squad_predictions(&in.data.squad, (const char *const *)r.answers, a.output);
        break;
    }
  }
  if (st != PT_OK) fprintf(stderr, "ptune predict: %s\n", pt_error_message());
  eval_result_free(&r);
  infer_free(&in);
  return st == PT_OK ? 0 : 1;
}
