/* Helpers for the task data suites (test_conll, test_seqeval, test_glue):
 * fixture paths, temporary input files, and checking a reader's one-line
 * error message. */
#ifndef PT_TESTS_TASK_TEST_UTIL_H
#define PT_TESTS_TASK_TEST_UTIL_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tensor/pt_status.h"

/* tests/fixtures/data/<rel> (PT_FIXTURES is set by tests/meson.build). */
static inline const char *fixture(const char *rel) {
  static char buf[4096];
  const char *d = getenv("PT_FIXTURES");
  snprintf(buf, sizeof buf, "%s/data/%s", d ? d : "tests/fixtures", rel);
  return buf;
}

/* Writes `len` bytes (strlen when len < 0) to a fresh file named `name` in a
 * per-process temporary directory; returns its path (valid until
 * tmp_cleanup). */
static char tmp_dir_[256];
static char tmp_paths_[32][512];
static int tmp_n_;

static inline const char *tmp_file(const char *name, const char *data, long len) {
  char *dir = tmp_dir_;
  ck_assert_int_lt(tmp_n_, 32);
  char *path = tmp_paths_[tmp_n_++];
  if (!dir[0]) {
    snprintf(tmp_dir_, sizeof tmp_dir_, "/tmp/pt_task_test_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
  }
  snprintf(path, sizeof tmp_paths_[0], "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  size_t n = len < 0 ? strlen(data) : (size_t)len;
  ck_assert_uint_eq(fwrite(data, 1, n, f), n);
  fclose(f);
  return path;
}

/* Removes the files tmp_file wrote and their directory. */
static inline void tmp_cleanup(void) {
  for (int i = 0; i < tmp_n_; i++) unlink(tmp_paths_[i]);
  if (tmp_dir_[0]) rmdir(tmp_dir_);
  tmp_n_ = 0;
  tmp_dir_[0] = '\0';
}

/* The message must be "<path><rest>". */
static inline void expect_msg(const char *path, const char *rest) {
  char want[1024];
  snprintf(want, sizeof want, "%s%s", path, rest);
  ck_assert_str_eq(pt_error_message(), want);
}

#endif
