/* libFuzzer harness: the bodies `ptune serve` reads (apps/serve/request.h)
 * and, for a predict body that parses, the served tasks' readers of its
 * inputs (task_def.read_inputs: ner texts split by pt_text_words or token
 * lists, cls texts and pairs, qa questions and contexts, mc premises and
 * choices) with the features encoded by bert-base-uncased, as a request's
 * thread does before its job is queued. Byte 0 picks the body kind (bit 0:
 * the adapter-load body) and the task (bits 1-2); the body follows.
 * Invariants checked on success: word spans inside the text and in order,
 * every feature within max_seq_len. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/serve/request.h"
#include "apps/tasks/tagging.h"
#include "apps/tasks/task.h"
#include "tests/fuzz/fuzz_util.h"

#ifndef PT_FUZZ_VOCAB_DIR
#error "PT_FUZZ_VOCAB_DIR must name tests/fixtures/vocab"
#endif

static pt_tokenizer *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  pt_warn_set_handler(NULL, NULL);
  tok = pt_tokenizer_load(PT_FUZZ_VOCAB_DIR "/bert-base-uncased");
  if (!tok) {
    fprintf(stderr, "%s\n", pt_error_message());
    abort();
  }
  return 0;
}

static void check_ner(const task_data *td) {
  const sentence_set *set = td->examples;
  for (int64_t i = 0; i < set->n; i++) {
    const sentence *s = &set->sents[i];
    size_t len = strlen(s->text);
    for (int64_t w = 0; w < s->n; w++) {
      const pt_text_span *sp = &s->spans[w];
      if (sp->byte_start < 0 || sp->byte_end > (int64_t)len || sp->byte_start >= sp->byte_end ||
          sp->char_start >= sp->char_end || (w && sp->byte_start < s->spans[w - 1].byte_end))
        abort();
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const char *body = (const char *)data + 1;
  size_t len = size - 1;
  if (data[0] & 1) {
    char *path = NULL;
    if (load_request_parse(body, len, &path) == PT_OK && (!path || !path[0])) abort();
    free(path);
    pt_error_clear();
    return 0;
  }
  static const char *const tasks[] = {"ner", "cls", "qa", "mc"};
  const task_def *t = task_find(tasks[(data[0] >> 1) & 3]);
  predict_request r;
  if (predict_request_parse(body, len, 64, &r) == PT_OK) {
    if (!r.adapter || !json_is_array(r.inputs) || json_array_size(r.inputs) == 0) abort();
    task_opts o = {.max_seq_len = t->max_seq_len, .doc_stride = 128, .n_best = 20,
                   .max_answer_len = 30};
    task_data td;
    if (task_data_from_inputs(t, &o, r.inputs, &td) == PT_OK) {
      if (t->head == PT_TASK_TOKEN_CLASSIFICATION) check_ner(&td);
      if (task_data_encode(&td, tok, &o) == PT_OK)
        for (int64_t i = 0; i < td.n; i++)
          for (int k = 0; k < td.f[i].nseq; k++)
            if (td.f[i].len[k] < 1 || td.f[i].len[k] > o.max_seq_len) abort();
      task_data_free(&td);
    }
    predict_request_free(&r);
  }
  pt_error_clear();
  return 0;
}
