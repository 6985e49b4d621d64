/* Files that appear whole or not at all: data goes to "<path>.tmp.<pid>",
 * is fsynced, then renamed over `path` (and the directory fsynced). A crash
 * or a full disk at any point leaves the previous file intact and, after
 * pt_atomic_abort, no temp file. An existing target that is not a regular
 * file (/dev/null, a pipe) is written in place instead. */
#ifndef PT_FILE_H
#define PT_FILE_H

#include <stddef.h>

#include "tensor/pt_status.h"

typedef struct {
  int fd;
  char path[4096];
  char tmp[4200];
} pt_atomic_file;

pt_status pt_atomic_open(pt_atomic_file *f, const char *path);
pt_status pt_atomic_write(pt_atomic_file *f, const void *data, size_t n);
/* fsync + rename; on failure the temp file is removed. */
pt_status pt_atomic_commit(pt_atomic_file *f);
/* Closes and removes the temp file (after a failed write). */
void pt_atomic_abort(pt_atomic_file *f);

/* The whole sequence for data already in memory. */
pt_status pt_write_file_atomic(const char *path, const void *data, size_t n);

/* Copies the file src to dst (written atomically). */
pt_status pt_copy_file(const char *src, const char *dst);

/* mkdir -p: creates `dir` and its missing parents. */
pt_status pt_mkdirs(const char *dir);

#endif
