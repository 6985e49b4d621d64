/* libFuzzer harness: the NER readers of apps/task_data.h — CoNLL text, a JSON
 * array and JSON Lines (tags in any scheme, or SpERT entities) — then label
 * mapping (growing, then fixed to the CoNLL-2003 preset) and BIO completion.
 * The first input byte picks the format and the options. */
#include <stddef.h>
#include <stdint.h>

#include "apps/task_data.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  static const char *const names[] = {"train.conll", "train.json", "train.jsonl", "train.txt"};
  const char *path = fuzz_write(names[data[0] & 3], data + 1, size - 1);
  pt_read_opts opts = {.labels_optional = (data[0] & 4) != 0};
  pt_sentence_set set = {0};
  if (pt_read_ner(path, &opts, &set) == PT_OK) {
    for (int64_t i = 0; i < set.n; i++) /* every string is readable */
      for (int64_t j = 0; j < set.sents[i].n; j++) {
        if (!set.sents[i].words[j]) abort();
        (void)strlen(set.sents[i].words[j]);
        if (set.sents[i].tags && set.sents[i].tags[j]) (void)strlen(set.sents[i].tags[j]);
      }
    pt_label_map map;
    pt_label_map_init(&map);
    if (pt_sentences_map_labels(&set, &map, true) == PT_OK)
      (void)pt_label_map_complete_bio(&map);
    pt_label_map_free(&map);
    const char *const *preset;
    int64_t np;
    if (pt_ner_preset_labels("conll2003", &preset, &np) == PT_OK) {
      pt_label_map_init(&map);
      if (pt_label_map_set(&map, preset, np) == PT_OK)
        (void)pt_sentences_map_labels(&set, &map, false);
      pt_label_map_free(&map);
    }
  }
  pt_sentence_set_free(&set);
  pt_sentence_set_free(&set); /* documented as harmless */
  pt_error_clear();
  return 0;
}
