/* Reading and writing the tasks' text files: lines, JSON Lines, checks,
 * text buffers. */
#define _GNU_SOURCE /* vasprintf */
#include "apps/tasks/lines.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

#include "nn/pt_json.h"
#include "tensor/pt_file.h"

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
    utf8proc_ssize_t k =
        utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &cp);
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
      return pt_error(PT_ERR_IO, "%s:%lld: read failed: %s", r->path, (long long)r->line + 1,
                      strerror(errno ? errno : EIO));
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

bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

pt_status jsonl_each(const char *path,
                     pt_status (*each)(const json_t *o, const char *where, int64_t line, void *ctx),
                     void *ctx) {
  line_reader r;
  PT_TRY(lines_open(&r, path));
  pt_status st = PT_OK;
  for (;;) {
    json_t *o;
    if ((st = jsonl_next(&r, path, &o)) != PT_OK || !o) break;
    char where[512];
    st = each(o, task_where(where, sizeof where, path, r.line, 0), r.line, ctx);
    json_decref(o);
    if (st != PT_OK) break;
  }
  lines_close(&r);
  return st;
}

pt_status json_tokens(const json_t *o, const char *where, const json_t **toks, int64_t *n) {
  const json_t *t = json_object_get(o, "tokens");
  if (!t) t = json_object_get(o, "words");
  if (!json_is_array(t))
    return pt_error(PT_ERR_FORMAT, "%s: %s", where,
                    t ? "'tokens' must be an array of strings" : "'tokens' is missing");
  *n = (int64_t)json_array_size(t);
  if (*n == 0) return pt_error(PT_ERR_FORMAT, "%s: 'tokens' is empty", where);
  *toks = t;
  return PT_OK;
}

pt_status json_token(const json_t *toks, int64_t j, const char *where, const char **word) {
  const json_t *w = json_array_get(toks, (size_t)j);
  if (!json_is_string(w))
    return pt_error(PT_ERR_FORMAT, "%s: token %lld is %s, expected a string", where, (long long)j,
                    pt_json_type_name(w));
  *word = json_string_value(w);
  return PT_OK;
}

pt_status array_grow(void **arr, int64_t *cap, int64_t n, size_t elem, const char *path) {
  if (n < *cap) return PT_OK;
  int64_t nc = *cap ? 2 * *cap : 64;
  void *p = realloc(*arr, (size_t)nc * elem);
  if (!p) return pt_error(PT_ERR_NOMEM, "%s: out of memory", path);
  *arr = p;
  *cap = nc;
  return PT_OK;
}

pt_status labels_consistent(int *state, bool has, const char *where, const char *has_text,
                            const char *has_not_text, const char *items) {
  if (*state < 0) *state = has;
  if (*state != (int)has)
    return pt_error(PT_ERR_FORMAT, "%s: %s, unlike the %s before it", where,
                    has ? has_text : has_not_text, items);
  return PT_OK;
}

pt_status text_put(text_buffer *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return pt_error(PT_ERR_NOMEM, "predictions: out of memory for %zu bytes", cap);
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
  return PT_OK;
}

pt_status text_puts(text_buffer *b, const char *s) { return text_put(b, s, strlen(s)); }

pt_status text_write(text_buffer *b, const char *path) {
  pt_status st = pt_write_file_atomic(path, b->p ? b->p : "", b->n);
  free(b->p);
  memset(b, 0, sizeof *b);
  return st;
}

pt_status jsonl_write(const char *path, int64_t n,
                      pt_status (*line)(int64_t i, const void *ctx, json_t **out),
                      const void *ctx) {
  text_buffer b = {0};
  pt_status st = PT_OK;
  for (int64_t i = 0; i < n && st == PT_OK; i++) {
    json_t *o = NULL;
    if ((st = line(i, ctx, &o)) != PT_OK) break;
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!s) st = pt_error(PT_ERR_NOMEM, "%s: out of memory", path);
    if (st == PT_OK) st = text_puts(&b, s);
    if (st == PT_OK) st = text_puts(&b, "\n");
    free(s);
  }
  if (st != PT_OK) {
    free(b.p);
    return st;
  }
  return text_write(&b, path);
}

pt_status json_text_copy(const json_t *o, const char *key, const char *where, char **out) {
  const char *s;
  PT_TRY(pt_json_string(o, where, key, &s));
  if (!(*out = strdup_checked(s))) return PT_ERR_NOMEM;
  return PT_OK;
}
