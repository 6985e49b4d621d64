/* libFuzzer harness: the NER readers of apps/tasks/ner/ner.h — CoNLL text, a JSON
 * array and JSON Lines (tags in any scheme, or SpERT entities), or a CoNLL
 * predictions file's last or next-to-last column — then label mapping
 * (growing, then fixed to the CoNLL-2003 preset) and BIO completion; and the
 * file scored as its own gold and predictions, as `ptune score --task ner`
 * without --data does (default mode, or strict in one of the schemes). The
 * first input byte picks the format and the options. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "apps/tasks/ner/ner.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  static const char *const names[] = {"train.conll", "train.json", "train.jsonl", "train.txt"};
  const char *path = fuzz_write(names[data[0] & 3], data + 1, size - 1);
  read_opts opts = {.labels_optional = (data[0] & 4) != 0};
  int columns = (data[0] >> 3) & 3; /* 0: read_ner; 1, 2: that column from the end */
  sentence_set set = {0};
  pt_status st = columns ? read_ner_columns(path, &opts, columns, (data[0] & 32) != 0, &set)
                         : read_ner(path, &opts, &set);
  if (columns == 2) {
    task_opts o = {.ner_mode = (data[0] >> 6) != 0, .scheme = (tag_scheme)((data[0] >> 6) % 3)};
    char *line = NULL;
    if (task_score_file(task_find("ner"), &o, NULL, path, &line) == PT_OK) free(line);
  }
  if (st == PT_OK) {
    for (int64_t i = 0; i < set.n; i++) /* every string is readable */
      for (int64_t j = 0; j < set.sents[i].n; j++) {
        if (!set.sents[i].words[j]) abort();
        (void)strlen(set.sents[i].words[j]);
        if (set.sents[i].tags && set.sents[i].tags[j]) (void)strlen(set.sents[i].tags[j]);
      }
    label_map map;
    label_map_init(&map);
    if (sentences_map_labels(&set, &map, true) == PT_OK)
      (void)label_map_complete_bio(&map);
    label_map_free(&map);
    const char *const *preset;
    int64_t np;
    if (ner_preset_labels("conll2003", &preset, &np) == PT_OK) {
      label_map_init(&map);
      if (label_map_set(&map, preset, np) == PT_OK)
        (void)sentences_map_labels(&set, &map, false);
      label_map_free(&map);
    }
  }
  sentence_set_free(&set);
  sentence_set_free(&set); /* documented as harmless */
  pt_error_clear();
  return 0;
}
