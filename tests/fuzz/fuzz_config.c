/* libFuzzer harness: the model directory configs — config.json through
 * pt_bert_config_load (models/pt_hf.h) and adapter_config.json through
 * pt_adapter_config_read (models/pt_adapter.h), then the adapter checked
 * against the default base configs. The first input byte picks the file. */
#include <stddef.h>
#include <stdint.h>

#include "models/pt_adapter.h"
#include "models/pt_hf.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  fuzz_remove("config.json");
  fuzz_remove("adapter_config.json");
  if (data[0] & 1) {
    fuzz_write("adapter_config.json", data + 1, size - 1);
    pt_adapter_config c;
    if (pt_adapter_config_read(fuzz_dir(), &c) == PT_OK) {
      for (int i = 0; i < c.nlabels; i++) (void)strlen(c.id2label[i]);
      pt_bert_config base;
      pt_bert_config_default(&base, c.arch);
      (void)pt_adapter_check_base(&c, &base, fuzz_dir());
      pt_adapter_config_free(&c);
    }
  } else {
    fuzz_write("config.json", data + 1, size - 1);
    pt_bert_config cfg;
    if (pt_bert_config_load(fuzz_dir(), &cfg) == PT_OK) {
      (void)pt_arch_name(cfg.arch);
      if (pt_bert_config_validate(&cfg, "config.json") != PT_OK) abort(); /* load validated it */
    }
  }
  pt_error_clear();
  return 0;
}
