/* metrics.jsonl of train and pretrain: one JSON object per line, flushed per
 * line so that a killed run keeps its curve. A failed write (a full disk)
 * warns once and the run goes on: the log is a record, the checkpoints are
 * what must not be lost, and their own writes report the same disk. */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "apps/cli/metrics_log.h"
#include "tensor/pt_file.h"

/* Keeps the lines whose "step" is at most `step` (a resumed run rewrites
 * what came after its checkpoint); lines without a step (summaries) go. */
static pt_status keep_until(const char *path, int64_t step) {
  FILE *f = fopen(path, "rb");
  if (!f) return PT_OK; /* nothing logged yet */
  char *keep = NULL, *line = NULL;
  size_t klen = 0, cap = 0;
  FILE *k = open_memstream(&keep, &klen);
  while (k && getline(&line, &cap, f) > 0) {
    json_t *j = json_loads(line, 0, NULL);
    json_t *s = j ? json_object_get(j, "step") : NULL;
    if (s && json_is_integer(s) && json_integer_value(s) <= step) fputs(line, k);
    json_decref(j);
  }
  free(line);
  fclose(f);
  if (!k) return pt_error(PT_ERR_NOMEM, "%s: out of memory", path);
  fclose(k);
  pt_status st = pt_write_file_atomic(path, keep, klen);
  free(keep);
  return st;
}

pt_status metrics_log_open(metrics_log *l, const char *path, int64_t resume_step) {
  memset(l, 0, sizeof *l);
  snprintf(l->path, sizeof l->path, "%s", path);
  if (resume_step >= 0) PT_TRY(keep_until(path, resume_step));
  l->f = fopen(path, resume_step >= 0 ? "ab" : "wb");
  if (!l->f) return pt_error(PT_ERR_IO, "%s: cannot open for writing: %s", path, strerror(errno));
  return PT_OK;
}

void metrics_log_printf(metrics_log *l, const char *fmt, ...) {
  if (!l->f || l->failed) return;
  va_list ap;
  va_start(ap, fmt);
  errno = 0;
  int n = vfprintf(l->f, fmt, ap);
  va_end(ap);
  if (n >= 0 && fflush(l->f) == 0) return;
  l->failed = true;
  pt_warn("%s: write failed (%s); no more metrics are logged in this run", l->path,
          errno ? strerror(errno) : "I/O error");
}

void metrics_log_close(metrics_log *l) {
  if (l->f) fclose(l->f);
  l->f = NULL;
}
