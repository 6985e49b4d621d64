/* libFuzzer harness: the SQuAD reader (apps/tasks/qa/squad.h) and what runs on its
 * output — the official evaluator with the first gold answers as
 * predictions, the predictions and na_prob file readers, and the sliding
 * windows of the first questions with bert-base-uncased and roberta-base.
 * Input: one mode byte, then up to three sections separated by "\n@@@@\n":
 * the SQuAD JSON, a predictions file and a scores file. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "apps/tasks/qa/squad.h"
#include "tests/fuzz/fuzz_util.h"

#ifndef PT_FUZZ_VOCAB_DIR
#error "PT_FUZZ_VOCAB_DIR must name tests/fixtures/vocab"
#endif

#define SEP "\n@@@@\n"

static pt_tokenizer *toks[2];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  static const char *const names[] = {"bert-base-uncased", "roberta-base"};
  pt_warn_set_handler(NULL, NULL);
  for (int i = 0; i < 2; i++) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", PT_FUZZ_VOCAB_DIR, names[i]);
    toks[i] = pt_tokenizer_load(dir);
    if (!toks[i]) {
      fprintf(stderr, "%s\n", pt_error_message());
      abort();
    }
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  unsigned mode = data[0];
  const uint8_t *sq, *rest, *preds = NULL, *scores = NULL;
  size_t nsq, nrest, npreds = 0, nscores = 0;
  fuzz_split(data + 1, size - 1, SEP, &sq, &nsq, &rest, &nrest);
  if (rest) fuzz_split(rest, nrest, SEP, &preds, &npreds, &scores, &nscores);
  const char *path = fuzz_write("dev.json", sq, nsq);
  read_opts opts = {.labels_optional = mode & 1};
  squad_set set = {0};
  if (read_squad(path, &opts, &set) != PT_OK) {
    squad_set_free(&set);
    pt_error_clear();
    return 0;
  }
  for (int64_t p = 0; p < set.n_paras; p++) {
    const squad_paragraph *pg = &set.paras[p];
    if (pg->char_to_byte[pg->n_chars] != (int32_t)pg->len) abort();
  }
  /* The evaluator, with each question's first answer (or "") predicted. */
  const char **pred = calloc(set.n ? (size_t)set.n : 1, sizeof *pred);
  double *na = calloc(set.n ? (size_t)set.n : 1, sizeof *na);
  if (pred && na) {
    for (int64_t i = 0; i < set.n; i++) {
      pred[i] = set.qs[i].n_answers ? set.qs[i].answers[0].text : "";
      na[i] = (double)(i % 3) / 2.0;
    }
    squad_scores sc;
    if (squad_evaluate(&set, pred, (mode & 2) ? na : NULL, NULL, 1.0, &sc) == PT_OK)
      free(squad_scores_json(&sc, set.v2));
  }
  free(pred);
  free(na);
  if (preds) {
    char **pr = NULL;
    if (read_squad_predictions(fuzz_write("predictions.json", preds, npreds), &set, &pr) == PT_OK)
      squad_predictions_free(pr, set.n);
  }
  if (scores) {
    double *s = NULL;
    int64_t *order = NULL;
    if (read_squad_scores(fuzz_write("na_prob.json", scores, nscores), &set, &s, &order) ==
        PT_OK) {
      free(s);
      free(order);
    }
  }
  /* Windows of the first questions, small so contexts need several. */
  qa_feature_opts fo = {.max_seq_len = 24 + (mode >> 3 & 7) * 8,
                           .doc_stride = 4 + (mode >> 6) * 4,
                           .pad_to_max_length = mode & 4};
  const pt_tokenizer *tok = toks[(mode >> 2) & 1];
  qa_features fs = {0};
  for (int64_t i = 0; i < set.n && i < 4; i++)
    (void)qa_question_features(tok, &set, i, &fo, &fs);
  for (int64_t k = 0; k < fs.n; k++) {
    const qa_feature *f = &fs.f[k];
    const squad_paragraph *pg = &set.paras[set.qs[f->question].para];
    for (int64_t t = 0; t < f->n; t++)
      if (f->offsets[2 * t] > f->offsets[2 * t + 1] || f->offsets[2 * t + 1] > pg->n_chars) abort();
    if (f->start_pos < 0 || f->start_pos >= f->n || f->end_pos < 0 || f->end_pos >= f->n) abort();
  }
  qa_features_free(&fs);
  squad_set_free(&set);
  squad_set_free(&set);
  pt_error_clear();
  return 0;
}
