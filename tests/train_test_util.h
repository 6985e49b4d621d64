/* What the suites of `ptune train` (test_train.c, test_multitask.c) share:
 * a tiny random BERT (vocab 30522 from tests/fixtures/vocab/bert-base-uncased,
 * hidden 32, 2 layers) written into a per-process temp directory, running a
 * command in-process, and comparing adapters. */
#ifndef PT_TESTS_TRAIN_TEST_UTIL_H
#define PT_TESTS_TRAIN_TEST_UTIL_H

#include <check.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/pt_backbone.h"
#include "models/pt_hf.h"
#include "nn/pt_params_io.h"
#include "nn/pt_safetensors.h"
#include "tensor/pt_file.h"

static char root[256];   /* temp dir of this process */
static char model[300];  /* the tiny model */
static char fx[4096];    /* tests/fixtures/data */

static inline void write_text(const char *path, const char *s) {
  ck_assert_int_eq(pt_write_file_atomic(path, s, strlen(s)), PT_OK);
}

static inline void make_model(void) {
  snprintf(root, sizeof root, "/tmp/ptune_train_XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(root));
  snprintf(model, sizeof model, "%s/model", root);
  ck_assert_int_eq(pt_mkdirs(model), PT_OK);
  const char *fix = getenv("PT_FIXTURES");
  ck_assert_ptr_nonnull(fix);
  snprintf(fx, sizeof fx, "%s/data", fix);
  char p[4400], v[4400];
  snprintf(v, sizeof v, "%s/vocab/bert-base-uncased/vocab.txt", fix);
  snprintf(p, sizeof p, "%s/vocab.txt", model);
  ck_assert_int_eq(symlink(v, p), 0);
  snprintf(p, sizeof p, "%s/config.json", model);
  write_text(p, "{\"model_type\": \"bert\", \"vocab_size\": 30522, \"hidden_size\": 32, "
                "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"intermediate_size\": 64, "
                "\"max_position_embeddings\": 512, \"type_vocab_size\": 2, \"pad_token_id\": 0, "
                "\"hidden_dropout_prob\": 0.1, \"attention_probs_dropout_prob\": 0.1}\n");
  pt_bert_config bc;
  ck_assert_int_eq(pt_bert_config_load(model, &bc), PT_OK);
  pt_backbone bb; /* with the pooler, so classification heads find it */
  ck_assert_int_eq(pt_backbone_init(&bb, &bc, (pt_backbone_parts){true, false}, 7), PT_OK);
  snprintf(p, sizeof p, "%s/model.safetensors", model);
  ck_assert_int_eq(pt_params_save_safetensors(&bb.params, p, false, 0, NULL, NULL), PT_OK);
  pt_backbone_free(&bb);
}

static inline void rm_rf(const char *dir) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}

static inline void setup(void) { make_model(); }
/* PT_KEEP=1 keeps the temp directory (model, outputs) for a look. */
static inline void teardown(void) {
  if (!getenv("PT_KEEP")) rm_rf(root);
}

/* Runs a command in-process with argv given as a NULL-terminated list;
 * stdout goes to `capture` when it is not NULL. */
static inline int run(int (*cmd)(int, char **), const char *capture, const char *const *args) {
  char *argv[64];
  int argc = 0;
  while (args[argc]) {
    argv[argc] = (char *)args[argc];
    argc++;
  }
  argv[argc] = NULL;
  int saved = -1;
  if (capture) {
    fflush(stdout);
    saved = dup(1);
    int fd = open(capture, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    dup2(fd, 1);
    close(fd);
  }
  int rc = cmd(argc, argv);
  if (capture) {
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
  }
  return rc;
}

static inline void path(char *out, size_t cap, const char *a, const char *b) {
  snprintf(out, cap, "%s/%s", a, b);
}

static inline bool exists(const char *dir, const char *file) {
  char p[4400];
  path(p, sizeof p, dir, file);
  return access(p, F_OK) == 0;
}

/* The eval JSON line in `file`, parsed. */
static inline json_t *read_json_line(const char *file) {
  json_error_t e;
  json_t *j = json_load_file(file, 0, &e);
  ck_assert_msg(j != NULL, "%s: %s", file, e.text);
  return j;
}

/* The first line of a file (the JSON line a command printed). */
static inline char *first_line(const char *file) {
  static char buf[2][65536];
  static int k;
  char *b = buf[k++ & 1];
  FILE *f = fopen(file, "r");
  ck_assert_msg(f != NULL, "%s", file);
  ck_assert_ptr_nonnull(fgets(b, sizeof buf[0], f));
  fclose(f);
  return b;
}

/* Byte-compares two adapters' tensors. */
static inline void same_adapter(const char *a, const char *b) {
  char pa[4400], pb[4400];
  path(pa, sizeof pa, a, "adapter_model.safetensors");
  path(pb, sizeof pb, b, "adapter_model.safetensors");
  pt_safetensors *fa, *fb;
  ck_assert_msg(pt_safetensors_open(pa, &fa) == PT_OK, "%s", pt_error_message());
  ck_assert_msg(pt_safetensors_open(pb, &fb) == PT_OK, "%s", pt_error_message());
  ck_assert_int_eq(pt_safetensors_count(fa), pt_safetensors_count(fb));
  for (int i = 0; i < pt_safetensors_count(fa); i++) {
    const char *name = pt_safetensors_name(fa, i);
    pt_tensor *x = pt_safetensors_load(fa, name, PT_F32), *y = pt_safetensors_load(fb, name, PT_F32);
    ck_assert_msg(x && y, "%s missing", name);
    ck_assert_int_eq(pt_numel(x), pt_numel(y));
    ck_assert_msg(!memcmp(pt_data(x), pt_data(y), (size_t)pt_numel(x) * 4), "%s differs", name);
    pt_tensor_free(x);
    pt_tensor_free(y);
  }
  pt_safetensors_close(fa);
  pt_safetensors_close(fb);
}

#endif
