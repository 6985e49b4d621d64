/* Atomic file writes (temp + fsync + rename) and directory creation. */
#include "tensor/pt_file.h"

#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

pt_status pt_atomic_open(pt_atomic_file *f, const char *path) {
  size_t len = strlen(path);
  if (len >= sizeof f->path) return pt_error(PT_ERR_ARG, "%.64s...: path too long", path);
  memcpy(f->path, path, len + 1);
  f->tmp[0] = '\0';
  /* /dev/null, a pipe or a terminal is written in place: renaming a file over
   * a device would replace the device (as root) with a regular file. */
  struct stat sb;
  if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
    if (S_ISDIR(sb.st_mode)) return pt_error(PT_ERR_IO, "%s: is a directory", path);
    f->fd = open(path, O_WRONLY | O_CLOEXEC);
    if (f->fd < 0) return pt_error(PT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    return PT_OK;
  }
  snprintf(f->tmp, sizeof f->tmp, "%s.tmp.%ld", path, (long)getpid());
  f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (f->fd < 0) return pt_error(PT_ERR_IO, "%s: cannot create %s: %s", path, f->tmp, strerror(errno));
  return PT_OK;
}

pt_status pt_atomic_write(pt_atomic_file *f, const void *data, size_t n) {
  const char *p = data;
  while (n > 0) {
    ssize_t w = write(f->fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0)
      return pt_error(PT_ERR_IO, "%s: writing failed: %s", f->path, w < 0 ? strerror(errno) : "no progress");
    p += w;
    n -= (size_t)w;
  }
  return PT_OK;
}

void pt_atomic_abort(pt_atomic_file *f) {
  if (f->fd >= 0) close(f->fd);
  f->fd = -1;
  if (f->tmp[0]) unlink(f->tmp);
}

/* fsync of the directory holding the file so the rename is durable (best
 * effort: some file systems refuse to fsync a directory). */
static void sync_parent(const char *path) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash == dir) dir[1] = '\0';
  else if (slash) *slash = '\0';
  else snprintf(dir, sizeof dir, ".");
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

pt_status pt_atomic_commit(pt_atomic_file *f) {
  pt_status st = PT_OK;
  if (!f->tmp[0]) { /* written in place (a device or pipe) */
    if (close(f->fd) != 0) st = pt_error(PT_ERR_IO, "%s: close failed: %s", f->path, strerror(errno));
    f->fd = -1;
    return st;
  }
  if (fsync(f->fd) != 0) st = pt_error(PT_ERR_IO, "%s: fsync failed: %s", f->path, strerror(errno));
  if (close(f->fd) != 0 && st == PT_OK)
    st = pt_error(PT_ERR_IO, "%s: close failed: %s", f->path, strerror(errno));
  f->fd = -1;
  if (st == PT_OK && rename(f->tmp, f->path) != 0)
    st = pt_error(PT_ERR_IO, "%s: cannot rename %s over it: %s", f->path, f->tmp, strerror(errno));
  if (st != PT_OK) {
    unlink(f->tmp);
    return st;
  }
  sync_parent(f->path);
  return PT_OK;
}

pt_status pt_write_file_atomic(const char *path, const void *data, size_t n) {
  pt_atomic_file f;
  PT_TRY(pt_atomic_open(&f, path));
  pt_status st = pt_atomic_write(&f, data, n);
  if (st != PT_OK) {
    pt_atomic_abort(&f);
    return st;
  }
  return pt_atomic_commit(&f);
}

pt_status pt_mkdirs(const char *dir) {
  char buf[4096];
  if (strlen(dir) >= sizeof buf) return pt_error(PT_ERR_ARG, "%.64s...: path too long", dir);
  snprintf(buf, sizeof buf, "%s", dir);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
      return pt_error(PT_ERR_IO, "%s: cannot create directory %s: %s", dir, buf, strerror(errno));
    *p = '/';
  }
  if (mkdir(buf, 0755) != 0 && errno != EEXIST)
    return pt_error(PT_ERR_IO, "%s: cannot create directory: %s", dir, strerror(errno));
  struct stat sb;
  if (stat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode))
    return pt_error(PT_ERR_IO, "%s: exists and is not a directory", dir);
  return PT_OK;
}

pt_status pt_copy_file(const char *src, const char *dst) {
  FILE *f = fopen(src, "rb");
  if (!f) return pt_error(PT_ERR_IO, "%s: cannot open", src);
  char *buf = NULL;
  size_t n = 0, cap = 0, r;
  char chunk[65536];
  pt_status st = PT_OK;
  while ((r = fread(chunk, 1, sizeof chunk, f)) > 0) {
    if (n + r > cap) {
      cap = (n + r) * 2;
      char *nb = realloc(buf, cap);
      if (!nb) {
        st = pt_error(PT_ERR_NOMEM, "%s: out of memory", src);
        break;
      }
      buf = nb;
    }
    memcpy(buf + n, chunk, r);
    n += r;
  }
  fclose(f);
  if (st == PT_OK) st = pt_write_file_atomic(dst, buf ? buf : "", n);
  free(buf);
  return st;
}
