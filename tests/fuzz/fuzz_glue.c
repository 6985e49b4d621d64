/* libFuzzer harness: the classification and multiple-choice readers of
 * apps/tasks/cls/cls.h and mc/mc.h — SuperGLUE jsonl (BoolQ, CB, RTE, WiC, WSC, COPA), GLUE
 * tsv (SST-2, RTE, CoLA) and the generic jsonl — then label mapping against
 * the preset's labels and growing. The first input byte picks the format and
 * the options. */
#include <stddef.h>
#include <stdint.h>

#include "apps/tasks/cls/cls.h"
#include "apps/tasks/mc/mc.h"
#include "tests/fuzz/fuzz_util.h"

static const data_format formats[] = {
    FMT_GENERIC_JSONL, FMT_BOOLQ,     FMT_CB,       FMT_RTE,       FMT_WIC,
    FMT_WSC,           FMT_COPA,      FMT_GLUE_SST2, FMT_GLUE_RTE, FMT_GLUE_COLA};
#define NFMT (sizeof formats / sizeof formats[0])

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  data_format fmt = formats[(data[0] & 0x7f) % NFMT];
  bool tsv = fmt == FMT_GLUE_SST2 || fmt == FMT_GLUE_RTE || fmt == FMT_GLUE_COLA;
  const char *path = fuzz_write(tsv ? "train.tsv" : "train.jsonl", data + 1, size - 1);
  read_opts opts = {.labels_optional = (data[0] & 0x80) != 0};
  const char *const *preset;
  int64_t np;
  data_format_labels(fmt, &preset, &np);
  (void)data_format_name(fmt);
  if (fmt == FMT_COPA) {
    mc_set set = {0};
    if (read_mc(path, fmt, &opts, &set) == PT_OK)
      for (int64_t i = 0; i < set.n; i++) {
        const mc_example *e = &set.ex[i];
        (void)strlen(e->context);
        for (int64_t c = 0; c < e->n_choices; c++) (void)strlen(e->choices[c]);
        if (e->label < -1 || e->label >= e->n_choices) abort();
      }
    mc_set_free(&set);
    mc_set_free(&set);
    pt_error_clear();
    return 0;
  }
  cls_fields fields = {0};
  char *spec = NULL;
  if (cls_fields_parse("sentence1,sentence2", "label", &fields, &spec) != PT_OK) abort();
  cls_set set = {0};
  if (read_cls(path, fmt, &fields, &opts, &set) == PT_OK) {
    for (int64_t i = 0; i < set.n; i++) {
      (void)strlen(set.ex[i].text_a);
      if (set.ex[i].text_b) (void)strlen(set.ex[i].text_b);
      if (set.ex[i].label) (void)strlen(set.ex[i].label);
    }
    label_map map;
    label_map_init(&map);
    if (np > 0 && label_map_set(&map, preset, np) == PT_OK)
      (void)cls_map_labels(&set, &map, false);
    label_map_free(&map);
    label_map_init(&map);
    (void)cls_map_labels(&set, &map, true);
    label_map_free(&map);
  }
  cls_set_free(&set);
  cls_set_free(&set);
  free(spec);
  pt_error_clear();
  return 0;
}
