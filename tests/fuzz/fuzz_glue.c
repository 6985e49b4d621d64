/* libFuzzer harness: the classification and multiple-choice readers of
 * apps/task_data.h — SuperGLUE jsonl (BoolQ, CB, RTE, WiC, WSC, COPA), GLUE
 * tsv (SST-2, RTE, CoLA) and the generic jsonl — then label mapping against
 * the preset's labels and growing. The first input byte picks the format and
 * the options. */
#include <stddef.h>
#include <stdint.h>

#include "apps/task_data.h"
#include "tests/fuzz/fuzz_util.h"

static const pt_data_format formats[] = {
    PT_FMT_GENERIC_JSONL, PT_FMT_BOOLQ,     PT_FMT_CB,       PT_FMT_RTE,       PT_FMT_WIC,
    PT_FMT_WSC,           PT_FMT_COPA,      PT_FMT_GLUE_SST2, PT_FMT_GLUE_RTE, PT_FMT_GLUE_COLA};
#define NFMT (sizeof formats / sizeof formats[0])

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  pt_data_format fmt = formats[(data[0] & 0x7f) % NFMT];
  bool tsv = fmt == PT_FMT_GLUE_SST2 || fmt == PT_FMT_GLUE_RTE || fmt == PT_FMT_GLUE_COLA;
  const char *path = fuzz_write(tsv ? "train.tsv" : "train.jsonl", data + 1, size - 1);
  pt_read_opts opts = {.labels_optional = (data[0] & 0x80) != 0};
  const char *const *preset;
  int64_t np;
  pt_data_format_labels(fmt, &preset, &np);
  (void)pt_data_format_name(fmt);
  if (fmt == PT_FMT_COPA) {
    pt_mc_set set = {0};
    if (pt_read_mc(path, fmt, &opts, &set) == PT_OK)
      for (int64_t i = 0; i < set.n; i++) {
        const pt_mc_example *e = &set.ex[i];
        (void)strlen(e->context);
        for (int64_t c = 0; c < e->n_choices; c++) (void)strlen(e->choices[c]);
        if (e->label < -1 || e->label >= e->n_choices) abort();
      }
    pt_mc_set_free(&set);
    pt_mc_set_free(&set);
    pt_error_clear();
    return 0;
  }
  pt_cls_fields fields = {0};
  char *spec = NULL;
  if (pt_cls_fields_parse("sentence1,sentence2", "label", &fields, &spec) != PT_OK) abort();
  pt_cls_set set = {0};
  if (pt_read_cls(path, fmt, &fields, &opts, &set) == PT_OK) {
    for (int64_t i = 0; i < set.n; i++) {
      (void)strlen(set.ex[i].text_a);
      if (set.ex[i].text_b) (void)strlen(set.ex[i].text_b);
      if (set.ex[i].label) (void)strlen(set.ex[i].label);
    }
    pt_label_map map;
    pt_label_map_init(&map);
    if (np > 0 && pt_label_map_set(&map, preset, np) == PT_OK)
      (void)pt_cls_map_labels(&set, &map, false);
    pt_label_map_free(&map);
    pt_label_map_init(&map);
    (void)pt_cls_map_labels(&set, &map, true);
    pt_label_map_free(&map);
  }
  pt_cls_set_free(&set);
  pt_cls_set_free(&set);
  free(spec);
  pt_error_clear();
  return 0;
}
