/* libFuzzer harness: the safetensors reader on arbitrary files — open and
 * validate, walk names, infos and metadata, take every tensor as a view and as
 * F32/F64/I64 copies, and check every tensor for NaN/Inf. */
#include <stddef.h>
#include <stdint.h>

#include "nn/pt_safetensors.h"
#include "tests/fuzz/fuzz_util.h"

/* Sums a float tensor's elements so every byte of the view is read. */
static void touch(const pt_tensor *t, const char *name) {
  if (!t) return;
  (void)pt_tensor_check_finite(t, name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_write("model.safetensors", data, size);
  pt_safetensors *f = NULL;
  if (pt_safetensors_open(path, &f) != PT_OK) {
    pt_error_clear();
    return 0;
  }
  (void)pt_safetensors_path(f);
  int n = pt_safetensors_count(f);
  for (int i = 0; i < n; i++) {
    const char *name = pt_safetensors_name(f, i);
    if (pt_safetensors_find(f, name) != i) abort(); /* names are unique */
    pt_dtype dt;
    int ndim;
    int64_t shape[PT_MAX_DIMS];
    if (pt_safetensors_info(f, name, &dt, &ndim, shape) != PT_OK) abort();
    pt_tensor *v = pt_safetensors_get(f, name);
    touch(v, name);
    pt_tensor_free(v);
    static const pt_dtype to[] = {PT_F32, PT_F64, PT_I64, PT_I32};
    for (size_t k = 0; k < sizeof to / sizeof to[0]; k++) {
      pt_tensor *c = pt_safetensors_load(f, name, to[k]);
      touch(c, name);
      pt_tensor_free(c);
    }
    (void)pt_safetensors_check_finite(f, name);
  }
  (void)pt_safetensors_check_all_finite(f);
  int nm = pt_safetensors_metadata_count(f);
  for (int i = 0; i < nm; i++) {
    const char *key = pt_safetensors_metadata_key(f, i);
    if (!pt_safetensors_metadata(f, key)) abort();
  }
  (void)pt_safetensors_find(f, "missing");
  pt_tensor *none = pt_safetensors_get(f, "__metadata__");
  pt_tensor_free(none);
  pt_safetensors_close(f);
  pt_error_clear();
  return 0;
}
