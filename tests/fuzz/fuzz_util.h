/* Shared by the libFuzzer harnesses: the readers take paths, so each input is
 * written to a file in a private temporary directory (removed at exit), and
 * library warnings are silenced so they do not flood the fuzzer's output. */
#ifndef PT_FUZZ_UTIL_H
#define PT_FUZZ_UTIL_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tensor/pt_status.h"

static char fuzz_dir_[64];

static void fuzz_cleanup_(void) {
  if (!fuzz_dir_[0]) return;
  DIR *d = opendir(fuzz_dir_);
  if (d) {
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)))
      if (e->d_name[0] != '.') {
        snprintf(p, sizeof p, "%s/%s", fuzz_dir_, e->d_name);
        unlink(p);
      }
    closedir(d);
  }
  rmdir(fuzz_dir_);
}

/* The private directory (created on first use). */
static inline const char *fuzz_dir(void) {
  if (!fuzz_dir_[0]) {
    strcpy(fuzz_dir_, "/tmp/ptfuzz-XXXXXX");
    if (!mkdtemp(fuzz_dir_)) {
      perror("mkdtemp");
      abort();
    }
    atexit(fuzz_cleanup_);
    pt_warn_set_handler(NULL, NULL);
  }
  return fuzz_dir_;
}

/* Writes size bytes to <dir>/<name> and returns the path (static buffer,
 * overwritten by the next call). */
static inline const char *fuzz_write(const char *name, const uint8_t *data, size_t size) {
  static char path[4][512];
  static int slot;
  char *p = path[slot++ & 3];
  snprintf(p, sizeof path[0], "%s/%s", fuzz_dir(), name);
  FILE *fp = fopen(p, "wb");
  if (!fp || (size && fwrite(data, 1, size, fp) != size) || fclose(fp) != 0) {
    perror(p);
    abort();
  }
  return p;
}

/* Removes <dir>/<name> if it exists. */
static inline void fuzz_remove(const char *name) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", fuzz_dir(), name);
  unlink(p);
}

/* Splits data at the first occurrence of `sep`: the part before goes to
 * (*a, *na), the part after to (*b, *nb) (NULL and 0 when absent). */
static inline void fuzz_split(const uint8_t *data, size_t size, const char *sep, const uint8_t **a,
                       size_t *na, const uint8_t **b, size_t *nb) {
  size_t ls = strlen(sep);
  *a = data, *na = size, *b = NULL, *nb = 0;
  for (size_t i = 0; i + ls <= size; i++)
    if (memcmp(data + i, sep, ls) == 0) {
      *na = i, *b = data + i + ls, *nb = size - i - ls;
      return;
    }
}

#endif
