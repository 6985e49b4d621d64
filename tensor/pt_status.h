/* Status codes and the thread-local error message.
 *
 * Every library function that can fail returns a pt_status (or, for ops that
 * return a tensor, NULL) and records one human-readable line naming the
 * operation, file or shapes involved. The apps print that line and exit; the
 * library never calls exit() or abort() on user input. */
#ifndef PT_STATUS_H
#define PT_STATUS_H

typedef enum {
  PT_OK = 0,
  PT_ERR_ARG,    /* a bad argument: unknown name, out-of-range value */
  PT_ERR_SHAPE,  /* shapes that do not fit together */
  PT_ERR_DTYPE,  /* a dtype the operation does not take */
  PT_ERR_NOMEM,  /* an allocation failed */
  PT_ERR_IO,     /* a file could not be opened, read or written */
  PT_ERR_FORMAT, /* a file's contents are malformed or lie about themselves */
  PT_ERR_STATE,  /* the call is not valid now (e.g. backward twice) */
  PT_ERR_NUMERIC /* NaN or Inf where a finite number is required */
} pt_status;

/* Records the message (printf-style) for this thread and returns `code`, so a
 * failing function can `return pt_error(PT_ERR_SHAPE, "...", ...)`. */
pt_status pt_error(pt_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prepends "context: " to the current message, e.g. the file being read.
 * Returns `code` unchanged. */
pt_status pt_error_context(pt_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The last message recorded on this thread ("" if none). Borrowed; valid until
 * the next pt_error call on this thread. */
const char *pt_error_message(void);

/* The code passed to the last pt_error on this thread (PT_OK if none). */
pt_status pt_error_code(void);

void pt_error_clear(void);

/* A short name for a status ("shape error", ...). Static storage. */
const char *pt_status_name(pt_status code);

/* A warning the library wants a person to see (a RoBERTa checkpoint
 * without a pooler, tensors of a checkpoint left unused). By default printed
 * to stderr as "ptune: warning: ..."; pt_warn_set_handler(NULL, NULL)
 * silences them, or a handler receives each line. */
void pt_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pt_warn_set_handler(void (*handler)(const char *line, void *ctx), void *ctx);
/* Restores the default stderr printer. */
void pt_warn_reset_handler(void);

/* Propagates a failing status to the caller. */
#define PT_TRY(expr)                   \
  do {                                 \
    pt_status pt_try_s_ = (expr);      \
    if (pt_try_s_ != PT_OK) return pt_try_s_; \
  } while (0)

#endif
