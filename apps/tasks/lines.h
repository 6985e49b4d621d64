/* Reading and writing the tasks' text files (lines.c): a line reader that
 * counts lines and rejects NUL bytes and invalid UTF-8, JSON Lines parsing
 * with "file:line:" messages, the checks every reader makes, a growable
 * text buffer and the JSON Lines writer of the prediction files. */
#ifndef APPS_TASKS_LINES_H
#define APPS_TASKS_LINES_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "tensor/pt_status.h"

typedef struct {
  bool labels_optional; /* accept unlabelled data (predict): tags/labels NULL */
} read_opts;

typedef struct {
  FILE *fp;
  const char *path; /* borrowed */
  char *buf;        /* the current line, without "\n" / "\r\n" */
  size_t cap;
  int64_t line; /* 1-based number of the current line */
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

/* Calls each(o, where, line, ctx) for every object of the JSON Lines file
 * `path` (blank lines skipped; where is "path:line"); stops at the first
 * failure, which it returns. */
pt_status jsonl_each(const char *path,
                     pt_status (*each)(const json_t *o, const char *where, int64_t line, void *ctx),
                     void *ctx);

/* The "tokens" (or "words") array of o: present, an array, not empty. */
pt_status json_tokens(const json_t *o, const char *where, const json_t **toks, int64_t *n);
/* The string field `key` of o, copied into *out (the caller frees it). */
pt_status json_text_copy(const json_t *o, const char *key, const char *where, char **out);
/* Element j of a tokens array as a string (the message names token j). */
pt_status json_token(const json_t *toks, int64_t j, const char *where, const char **word);

/* Room for element n of *arr (capacity *cap elements of `elem` bytes),
 * doubling from 64; PT_ERR_NOMEM naming `path`. */
pt_status array_grow(void **arr, int64_t *cap, int64_t n, size_t elem, const char *path);

/* Whether a file has labels is decided by its first example: *state starts
 * at -1; a later example with (has) or without them is PT_ERR_FORMAT "where:
 * has X, unlike the <items> before it". */
pt_status labels_consistent(int *state, bool has, const char *where, const char *has_text,
                            const char *has_not_text, const char *items);

/* A growable NUL-terminated text. */
typedef struct {
  char *p;
  size_t n, cap;
} text_buffer;

pt_status text_put(text_buffer *b, const char *s, size_t n);
pt_status text_puts(text_buffer *b, const char *s);
/* Writes the text to `path` atomically and frees it. */
pt_status text_write(text_buffer *b, const char *path);

/* A JSON Lines file of n compact objects, line i made by line(i, ctx, &o)
 * (a new reference; a failure stops and is returned), written atomically. */
pt_status jsonl_write(const char *path, int64_t n,
                      pt_status (*line)(int64_t i, const void *ctx, json_t **out), const void *ctx);

/* True when the line holds only spaces and tabs. */
bool is_blank(const char *s);
/* strdup that sets PT_ERR_NOMEM on failure. */
char *strdup_checked(const char *s);
/* printf into a new string (NULL with PT_ERR_NOMEM). */
char *strprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* True when s ends with `suffix`. */
bool ends_with(const char *s, const char *suffix);
/* "path:line" or, for line 0 (JSON arrays), "path: item N". Writes into buf. */
const char *task_where(char *buf, size_t cap, const char *path, int64_t line, int64_t item);

#endif
