/* Status codes and the thread-local error record.
 *
 * Every library function that can fail returns a pt_status (or, for ops that
 * return a tensor, NULL) and records one human-readable line naming the
 * operation, file or shapes involved. The apps print that line and exit; the
 * library never calls exit() or abort() on user input.
 *
 * How the record stays honest (a failure's message is always its own):
 *   - Every failing path records its own code and message where it fails,
 *     before it returns; pt_alloc records PT_ERR_NOMEM with the byte count.
 *     So pt_error_code() and pt_error_message(), read right after a NULL or
 *     a non-OK status, describe that failure and never an older one.
 *   - An op given a NULL input (an upstream failure) returns NULL and leaves
 *     the upstream's record as it is, so a chain of ops can be checked once
 *     at its end. A caller that adds context uses pt_error_context().
 *   - Where the library calls code of yours that can fail (a linear hook, a
 *     gradient-check function, an op's backward), it notes pt_error_serial()
 *     before the call. If the call fails and the serial has not moved, the
 *     callback recorded nothing, and the library records a message of its
 *     own naming the callback (pt_error_if_silent). Callbacks should still
 *     record their own reason with pt_error().
 *   - Success never clears the record: it is meaningful only right after a
 *     failure. pt_error_clear() empties it.
 * tests/test_errors.c walks failing calls after an unrelated earlier failure
 * and checks that no old message leaks into a new one. */
#ifndef PT_STATUS_H
#define PT_STATUS_H

#include <stdint.h>

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

/* Empties the record (code PT_OK, message ""); the serial keeps counting. */
void pt_error_clear(void);

/* How many errors have been recorded on this thread so far: pt_error and
 * pt_error_context count one each. Compare two readings to learn whether a
 * call recorded anything in between. */
uint64_t pt_error_serial(void);

/* For code that calls a callback which can fail: if no error has been
 * recorded on this thread since `serial` (a pt_error_serial() reading taken
 * before the call), records `code` with the message; otherwise leaves the
 * callback's record alone. Returns the code now recorded. */
pt_status pt_error_if_silent(uint64_t serial, pt_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* For a function given a NULL tensor where a failed call's result was
 * passed on (the chain convention above): keeps that failure's record with
 * "what: " in front and returns its code, or records PT_ERR_ARG "what: no
 * tensor" when nothing has been recorded. */
pt_status pt_error_upstream(const char *what);

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
