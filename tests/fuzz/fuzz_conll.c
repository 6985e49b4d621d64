/* libFuzzer harness: the NER readers of apps/tasks/ner/ner.h — CoNLL text, a JSON
 * array and JSON Lines (tags in any scheme, or SpERT entities) — then label
 * mapping (growing, then fixed to the CoNLL-2003 preset) and BIO completion.
 * The first input byte picks the format and the options. */
#include <stddef.h>
#include <stdint.h>

#include "apps/tasks/ner/ner.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  static const char *const names[] = {"train.conll", "train.json", "train.jsonl", "train.txt"};
  const char *path = fuzz_write(names[data[0] & 3], data + 1, size - 1);
  read_opts opts = {.labels_optional = (data[0] & 4) != 0};
  sentence_set set = {0};
  if (read_ner(path, &opts, &set) == PT_OK) {
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
