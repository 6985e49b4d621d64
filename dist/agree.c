/* The start-up agreement check: every rank hashes what it was given
 * (options, data files, the model directory, its own executable) and rank 0
 * compares. Ranks that would silently train on different data, or run
 * different builds (whose float results differ), stop before anything is
 * written. */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dist/dist_internal.h"

/* ---- the hash: four independent 64-bit lanes over 32-byte blocks, each
 * lane a multiply-rotate round, folded with the length at the end ---- */

#define P1 0x9e3779b185ebca87ULL
#define P2 0xc2b2ae3d27d4eb4fULL

static inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static inline uint64_t round64(uint64_t lane, uint64_t w) { return rotl(lane + w * P2, 31) * P1; }
static inline uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t pt_dist_hash(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  uint64_t lane[4] = {h + P1 + P2, h + P2, h, h - P1};
  size_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int k = 0; k < 4; k++) {
      uint64_t w;
      memcpy(&w, p + i + 8 * k, 8);
      lane[k] = round64(lane[k], w);
    }
  uint64_t tail = 0;
  for (size_t j = 0; i + j < n; j++) {
    tail = rotl(tail, 8) ^ p[i + j];
    if (j % 8 == 7 || i + j + 1 == n) lane[j / 8 % 4] = round64(lane[j / 8 % 4], tail), tail = 0;
  }
  uint64_t out = (uint64_t)n * P1;
  for (int k = 0; k < 4; k++) out = mix(out ^ rotl(lane[k], 7 * k + 1));
  return out;
}

static pt_status hash_file(const char *path, uint64_t *h) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return pt_error(PT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  size_t cap = (size_t)4 << 20;
  char *buf = malloc(cap);
  if (!buf) {
    close(fd);
    return pt_error(PT_ERR_NOMEM, "%s: out of memory", path);
  }
  pt_status st = PT_OK;
  for (;;) {
    ssize_t got = read(fd, buf, cap);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      st = pt_error(PT_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
      break;
    }
    if (got == 0) break;
    *h = pt_dist_hash(*h, buf, (size_t)got);
  }
  free(buf);
  close(fd);
  return st;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file of a directory (not recursive), in name order, name
 * and contents. */
static pt_status hash_dir(const char *path, uint64_t *h) {
  DIR *d = opendir(path);
  if (!d) return pt_error(PT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  char **names = NULL;
  size_t n = 0, cap = 0;
  pt_status st = PT_OK;
  for (struct dirent *e; st == PT_OK && (e = readdir(d));) {
    char full[4200];
    snprintf(full, sizeof full, "%s/%s", path, e->d_name);
    struct stat sb;
    if (e->d_name[0] == '.' || stat(full, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
    if (n == cap) {
      cap = cap ? 2 * cap : 16;
      char **bigger = realloc(names, sizeof *names * cap);
      if (!bigger) {
        st = pt_error(PT_ERR_NOMEM, "%s: out of memory", path);
        break;
      }
      names = bigger;
    }
    if (!(names[n] = strdup(e->d_name))) st = pt_error(PT_ERR_NOMEM, "%s: out of memory", path);
    else n++;
  }
  closedir(d);
  if (names) qsort(names, n, sizeof *names, by_name);
  for (size_t i = 0; st == PT_OK && i < n; i++) {
    char full[4200];
    snprintf(full, sizeof full, "%s/%s", path, names[i]);
    *h = pt_dist_hash(*h, names[i], strlen(names[i]) + 1);
    st = hash_file(full, h);
  }
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  return st;
}

pt_status pt_dist_hash_path(const char *path, uint64_t *h) {
  struct stat sb;
  if (stat(path, &sb) != 0) return pt_error(PT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  *h = 0;
  return S_ISDIR(sb.st_mode) ? hash_dir(path, h) : hash_file(path, h);
}

/* ---- the check ---- */

/* One rank's findings: per item a hash, or `readable` 0 when it could not
 * be read; item 0 is the build. */
typedef struct {
  uint64_t hash;
  int32_t readable;
  int32_t pad;
} item_hash;

/* The running code: the executable and, when it differs (a program linked
 * to libptune.so), the shared object holding this function. */
static pt_status hash_build(uint64_t *h) {
  PT_TRY(hash_file("/proc/self/exe", h));
  Dl_info info;
  char exe[4096];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  exe[len > 0 ? len : 0] = '\0';
  if (dladdr((void *)pt_dist_check_same, &info) && info.dli_fname && strcmp(info.dli_fname, exe) &&
      strchr(info.dli_fname, '/'))
    PT_TRY(hash_file(info.dli_fname, h));
  return PT_OK;
}

/* Rank 0's verdict from everyone's hashes: PT_OK or a message. */
static pt_status compare(const pt_dist_item *items, int n, const item_hash *all) {
  for (int r = 1; r < dist_g.size; r++)
    for (int i = 0; i <= n; i++) {
      const item_hash *a = &all[i], *b = &all[(size_t)r * (size_t)(n + 1) + (size_t)i];
      if (a->readable == b->readable && a->hash == b->hash) continue;
      char what[4300];
      if (i == 0)
        snprintf(what, sizeof what, "build (the executable and libptune)");
      else if (items[i - 1].path)
        snprintf(what, sizeof what, "%s (%s)", items[i - 1].name, items[i - 1].path);
      else
        snprintf(what, sizeof what, "%s", items[i - 1].name);
      if (!a->readable || !b->readable)
        return pt_error(PT_ERR_STATE, "mpi: ranks disagree: rank %d cannot read %s", a->readable ? r : 0,
                        what);
      return pt_error(PT_ERR_STATE,
                      "mpi: ranks disagree: rank %d's %s differs from rank 0's; every rank must run "
                      "the same program on the same files",
                      r, what);
    }
  return PT_OK;
}

pt_status pt_dist_check_same(const pt_dist_item *items, int n) {
  if (dist_g.size == 1) return PT_OK;
  if (n < 0) return pt_error(PT_ERR_ARG, "mpi: %d items to check", n);
  int32_t count = n;
  /* the number of items first: ranks running different commands check
   * different lists */
  int32_t *counts = NULL;
  PT_TRY(pt_dist_gather(&count, sizeof count, (void **)&counts, NULL));
  pt_status verdict = PT_OK;
  for (int r = 1; dist_g.rank == 0 && r < dist_g.size && verdict == PT_OK; r++)
    if (counts[r] != count)
      verdict = pt_error(PT_ERR_STATE,
                         "mpi: ranks disagree: rank %d checks %d items, rank 0 %d (a different "
                         "command or options)",
                         r, counts[r], count);
  free(counts);
  PT_TRY(pt_dist_agree(verdict));
  item_hash *mine = calloc((size_t)n + 1, sizeof *mine);
  if (!mine) return pt_dist_agree(pt_error(PT_ERR_NOMEM, "mpi: out of memory"));
  mine[0].readable = hash_build(&mine[0].hash) == PT_OK;
  for (int i = 0; i < n; i++) {
    uint64_t h = 0;
    if (items[i].path)
      mine[i + 1].readable = pt_dist_hash_path(items[i].path, &h) == PT_OK;
    else
      mine[i + 1].readable = 1, h = pt_dist_hash(0, items[i].data, items[i].n);
    mine[i + 1].hash = h;
  }
  item_hash *all = NULL;
  pt_status st = pt_dist_gather(mine, sizeof *mine * ((size_t)n + 1), (void **)&all, NULL);
  free(mine);
  PT_TRY(st);
  verdict = dist_g.rank == 0 ? compare(items, n, all) : PT_OK;
  free(all);
  return pt_dist_agree(verdict);
}
