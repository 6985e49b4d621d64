/* libFuzzer harness: the model directory configs — config.json through
 * pt_bert_config_load (models/pt_hf.h) and adapter_config.json of either
 * layout through pt_adapter_info_read (models/pt_model_io.h), then the
 * adapter checked against the default base config of its encoder. The
 * first input byte picks the file. */
#include <stddef.h>
#include <stdint.h>

#include "models/pt_hf.h"
#include "models/pt_model_io.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  fuzz_remove("config.json");
  fuzz_remove("adapter_config.json");
  if (data[0] & 1) {
    fuzz_write("adapter_config.json", data + 1, size - 1);
    pt_adapter_info info;
    if (pt_adapter_info_read(fuzz_dir(), NULL, &info) == PT_OK) {
      for (int i = 0; i < info.nlabels; i++) (void)strlen(info.id2label[i]);
      if (!info.method || !info.opts) abort(); /* a read adapter names its method */
      pt_bert_config base;
      pt_bert_config_default(&base, info.has_shape ? info.arch : PT_ARCH_BERT);
      (void)pt_adapter_info_check_base(&info, &base, fuzz_dir());
      pt_adapter_info_free(&info);
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
