/* Thread-local error message storage behind pt_status.h. */
#include "pt_status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define PT_ERROR_CAP 1024

static _Thread_local char error_message[PT_ERROR_CAP];
static _Thread_local pt_status error_code = PT_OK;
static _Thread_local uint64_t error_serial;

static void record(pt_status code, const char *fmt, va_list ap) {
  vsnprintf(error_message, sizeof error_message, fmt, ap);
  error_code = code;
  error_serial++;
}

pt_status pt_error(pt_status code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  record(code, fmt, ap);
  va_end(ap);
  return code;
}

pt_status pt_error_if_silent(uint64_t serial, pt_status code, const char *fmt, ...) {
  if (error_serial != serial) return error_code;
  va_list ap;
  va_start(ap, fmt);
  record(code, fmt, ap);
  va_end(ap);
  return code;
}

uint64_t pt_error_serial(void) { return error_serial; }

pt_status pt_error_upstream(const char *what) {
  if (error_code == PT_OK) return pt_error(PT_ERR_ARG, "%s: no tensor", what);
  return pt_error_context(error_code, "%s", what);
}

pt_status pt_error_context(pt_status code, const char *fmt, ...) {
  char prefix[PT_ERROR_CAP];
  char old[PT_ERROR_CAP];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, error_message, sizeof old);
  /* Truncation of an over-long message is acceptable: it stays one line. */
  size_t n = strlen(prefix);
  if (n > PT_ERROR_CAP - 3) n = PT_ERROR_CAP - 3;
  memcpy(error_message, prefix, n);
  memcpy(error_message + n, ": ", 2);
  size_t rest = PT_ERROR_CAP - n - 3;
  size_t m = strlen(old);
  if (m > rest) m = rest;
  memcpy(error_message + n + 2, old, m);
  error_message[n + 2 + m] = '\0';
  if (error_code == PT_OK) error_code = code;
  error_serial++;
  return code;
}

const char *pt_error_message(void) { return error_message; }

pt_status pt_error_code(void) { return error_code; }

void pt_error_clear(void) {
  error_message[0] = '\0';
  error_code = PT_OK;
}

const char *pt_status_name(pt_status code) {
  switch (code) {
    case PT_OK: return "ok";
    case PT_ERR_ARG: return "bad argument";
    case PT_ERR_SHAPE: return "shape error";
    case PT_ERR_DTYPE: return "dtype error";
    case PT_ERR_NOMEM: return "out of memory";
    case PT_ERR_IO: return "I/O error";
    case PT_ERR_FORMAT: return "malformed input";
    case PT_ERR_STATE: return "invalid state";
    case PT_ERR_NUMERIC: return "non-finite value";
  }
  return "unknown error";
}

static void warn_to_stderr(const char *line, void *ctx) {
  (void)ctx;
  fprintf(stderr, "ptune: warning: %s\n", line);
}

static void (*warn_handler)(const char *, void *) = warn_to_stderr;
static void *warn_ctx;

void pt_warn(const char *fmt, ...) {
  if (!warn_handler) return;
  char line[PT_ERROR_CAP];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  warn_handler(line, warn_ctx);
}

void pt_warn_set_handler(void (*handler)(const char *line, void *ctx), void *ctx) {
  warn_handler = handler;
  warn_ctx = ctx;
}

void pt_warn_reset_handler(void) {
  warn_handler = warn_to_stderr;
  warn_ctx = NULL;
}
