/* Internal helpers shared by the task readers (apps/read_*.c): a line reader
 * that counts lines and rejects NUL bytes and invalid UTF-8, JSON Lines
 * parsing with "file:line:" messages, and small string utilities. */
#ifndef APPS_TASKS_LINES_H
#define APPS_TASKS_LINES_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "tensor/pt_status.h"

typedef struct {
  FILE *fp;
  const char *path; /* borrowed */
  char *buf;        /* the current line, without "\n" / "\r\n" */
  size_t cap;
  int64_t line;     /* 1-based number of the current line */
} line_reader;

/* Opens `path` for reading (a directory or missing file is PT_ERR_IO). */
pt_status lines_open(line_reader *r, const char *path);
/* Reads the next line into r->buf (length *len); *eof is set at the end.
 * A NUL byte or invalid UTF-8 is PT_ERR_FORMAT "file:line: ...". */
pt_status lines_next(line_reader *r, size_t *len, bool *eof);
void lines_close(line_reader *r);

/* Parses one JSON Lines line as an object; NULL with "file:line: ..." set. */
json_t *jsonl_object(const char *line, size_t len, const char *path, int64_t lineno);

/* The next non-blank line of a JSON Lines file, parsed as an object: *obj
 * is a new reference, or NULL at the end of the file. */
pt_status jsonl_next(line_reader *r, const char *path, json_t **obj);

/* True when the line holds only spaces and tabs. */
bool is_blank(const char *s);
/* strdup that sets PT_ERR_NOMEM on failure. */
char *strdup_checked(const char *s);
/* printf into a new string (NULL with PT_ERR_NOMEM). */
char *strprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "path:line" or, for line 0 (JSON arrays), "path: item N". Writes into buf. */
const char *task_where(char *buf, size_t cap, const char *path, int64_t line, int64_t item);

#endif
