/* libFuzzer harness: the SRL JSON Lines reader of apps/tasks/srl/srl.h, then
 * label mapping. The first input byte picks the options. */
#include <stddef.h>
#include <stdint.h>

#include "apps/tasks/srl/srl.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const char *path = fuzz_write("train.jsonl", data + 1, size - 1);
  read_opts opts = {.labels_optional = (data[0] & 1) != 0};
  srl_set set = {0};
  if (read_srl(path, &opts, &set) == PT_OK) {
    for (int64_t i = 0; i < set.n; i++) {
      const srl_example *e = &set.ex[i];
      int64_t marked = 0;
      for (int64_t j = 0; j < e->s.n; j++) {
        (void)strlen(e->s.words[j]);
        marked += e->verb_mask[j] != 0;
      }
      if (marked != e->n_pred_words) abort();
      if (e->pred_index >= 0 && (e->pred_index >= e->s.n || e->pred_word != e->s.words[e->pred_index]))
        abort();
    }
    label_map map;
    label_map_init(&map);
    (void)srl_map_labels(&set, &map, true);
    label_map_free(&map);
  }
  srl_set_free(&set);
  srl_set_free(&set);
  pt_error_clear();
  return 0;
}
