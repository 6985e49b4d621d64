/* Line reading, JSON Lines parsing and string helpers for the task readers. */
#define _GNU_SOURCE /* vasprintf */
#include "apps/tasks/lines.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

pt_status lines_open(line_reader *r, const char *path) {
  memset(r, 0, sizeof *r);
  r->path = path;
  struct stat sb;
  if (stat(path, &sb) != 0)
    return pt_error(PT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  if (S_ISDIR(sb.st_mode)) return pt_error(PT_ERR_IO, "%s: is a directory, expected a file", path);
  r->fp = fopen(path, "rb");
  if (!r->fp) return pt_error(PT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  return PT_OK;
}

void lines_close(line_reader *r) {
  if (r->fp) fclose(r->fp);
  free(r->buf);
  memset(r, 0, sizeof *r);
}

/* Byte offset of the first invalid UTF-8 sequence, or -1. */
static int64_t bad_utf8(const char *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    if ((unsigned char)s[i] < 0x80) {
      i++;
      continue;
    }
    utf8proc_int32_t cp;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
                                          (utf8proc_ssize_t)(len - i), &cp);
    if (k <= 0) return (int64_t)i;
    i += (size_t)k;
  }
  return -1;
}

pt_status lines_next(line_reader *r, size_t *len, bool *eof) {
  *eof = false;
  *len = 0;
  errno = 0;
  ssize_t n = getline(&r->buf, &r->cap, r->fp);
  if (n < 0) {
    if (ferror(r->fp))
      return pt_error(PT_ERR_IO, "%s:%lld: read failed: %s", r->path,
                      (long long)r->line + 1, strerror(errno ? errno : EIO));
    *eof = true;
    return PT_OK;
  }
  r->line++;
  size_t m = (size_t)n;
  if (memchr(r->buf, '\0', m))
    return pt_error(PT_ERR_FORMAT, "%s:%lld: contains a NUL byte (not a text file?)", r->path,
                    (long long)r->line);
  if (m && r->buf[m - 1] == '\n') m--;
  if (m && r->buf[m - 1] == '\r') m--;
  r->buf[m] = '\0';
  char *s = r->buf;
  if (r->line == 1 && m >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) { /* BOM */
    memmove(s, s + 3, m - 2);
    m -= 3;
  }
  int64_t bad = bad_utf8(s, m);
  if (bad >= 0)
    return pt_error(PT_ERR_FORMAT, "%s:%lld: invalid UTF-8 at byte %lld", r->path,
                    (long long)r->line, (long long)bad + 1);
  *len = m;
  return PT_OK;
}

/* jansson's message with control bytes replaced, so it stays one line. */
static void one_line(char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20) *s = '?';
}

json_t *jsonl_object(const char *line, size_t len, const char *path, int64_t lineno) {
  json_error_t err;
  json_t *v = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err);
  if (!v) {
    one_line(err.text);
    pt_error(PT_ERR_FORMAT, "%s:%lld: invalid JSON at column %d: %s", path, (long long)lineno,
             err.column, err.text);
    return NULL;
  }
  if (!json_is_object(v)) {
    pt_error(PT_ERR_FORMAT, "%s:%lld: expected a JSON object, got %s", path, (long long)lineno,
             json_is_array(v) ? "an array" : "a scalar");
    json_decref(v);
    return NULL;
  }
  return v;
}

pt_status jsonl_next(line_reader *r, const char *path, json_t **obj) {
  *obj = NULL;
  for (;;) {
    size_t len;
    bool eof;
    PT_TRY(lines_next(r, &len, &eof));
    if (eof) return PT_OK;
    if (is_blank(r->buf)) continue;
    *obj = jsonl_object(r->buf, len, path, r->line);
    return *obj ? PT_OK : pt_error_code();
  }
}

bool is_blank(const char *s) {
  for (; *s; s++)
    if (*s != ' ' && *s != '\t') return false;
  return true;
}

char *strdup_checked(const char *s) {
  char *d = strdup(s);
  if (!d) pt_error(PT_ERR_NOMEM, "out of memory copying a %zu-byte string", strlen(s));
  return d;
}

char *strprintf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = NULL;
  int n = vasprintf(&s, fmt, ap);
  va_end(ap);
  if (n < 0) {
    pt_error(PT_ERR_NOMEM, "out of memory formatting a string");
    return NULL;
  }
  return s;
}

const char *task_where(char *buf, size_t cap, const char *path, int64_t line, int64_t item) {
  if (line > 0)
    snprintf(buf, cap, "%s:%lld", path, (long long)line);
  else
    snprintf(buf, cap, "%s: item %lld", path, (long long)item + 1);
  return buf;
}
