/* libFuzzer harness: the JSON helpers of nn/pt_json.h as config readers use
 * them (buffer and file loading, then every typed getter on every key and on
 * the usual config.json keys). */
#include <stddef.h>
#include <stdint.h>

#include "nn/pt_json.h"
#include "tests/fuzz/fuzz_util.h"

static const char *const config_keys[] = {
    "hidden_size", "num_attention_heads", "num_hidden_layers", "intermediate_size",
    "vocab_size", "max_position_embeddings", "type_vocab_size", "layer_norm_eps",
    "hidden_act", "model_type", "pad_token_id", "do_lower_case", "pre_seq_len",
    "prefix_projection", "id2label", "label2id", NULL};

static void probe(const json_t *obj, const char *key) {
  int64_t i;
  double d;
  bool b;
  const char *s;
  (void)pt_json_has(obj, key);
  (void)pt_json_int(obj, "config.json", key, &i);
  (void)pt_json_double(obj, "config.json", key, &d);
  (void)pt_json_bool(obj, "config.json", key, &b);
  (void)pt_json_string(obj, "config.json", key, &s);
  (void)pt_json_int_or(obj, "config.json", key, 7, &i);
  (void)pt_json_double_or(obj, "config.json", key, 0.5, &d);
  (void)pt_json_bool_or(obj, "config.json", key, true, &b);
  (void)pt_json_string_or(obj, "config.json", key, "x", &s);
}

static void walk(const json_t *v, int depth) {
  if (depth > 8) return;
  (void)pt_json_type_name(v);
  if (json_is_object(v)) {
    const char *key;
    json_t *child;
    json_object_foreach((json_t *)v, key, child) {
      probe(v, key);
      walk(child, depth + 1);
    }
  } else if (json_is_array(v)) {
    size_t i;
    json_t *child;
    json_array_foreach(v, i, child) walk(child, depth + 1);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  json_t *root = pt_json_load_buffer((const char *)data, size, "config.json");
  if (root) {
    walk(root, 0);
    for (int k = 0; config_keys[k]; k++) probe(root, config_keys[k]);
    probe(root, "");
    json_decref(root);
  }
  /* The file path: the same parser through stdio, and the object check. */
  const char *path = fuzz_write("config.json", data, size);
  root = pt_json_load_object(path);
  json_decref(root);
  pt_error_clear();
  return 0;
}
