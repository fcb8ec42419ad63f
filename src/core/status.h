/* Status codes and the thread-local error message that goes with them.
 *
 * Every fallible function returns an ssd_status; on failure it also leaves a
 * one-line message (with file names, keys, line numbers) that callers may
 * prefix with context. Nothing under src/ exits: only main maps a status to
 * an exit code. */
#ifndef SSD_CORE_STATUS_H
#define SSD_CORE_STATUS_H

#include <stdarg.h>

typedef enum {
    SSD_OK = 0,
    SSD_E_INVAL,       /* bad argument or flag */
    SSD_E_NOMEM,       /* allocation failed */
    SSD_E_IO,          /* file could not be opened, read or written */
    SSD_E_FORMAT,      /* file contents are malformed */
    SSD_E_UNSUPPORTED, /* valid request this build cannot do */
    SSD_E_BACKEND,     /* oneDNN / CUDA reported an error */
    SSD_E_INTERRUPTED, /* stopped by a signal (Ctrl-C) */
} ssd_status;

/* Size of the message buffer, NUL included; longer messages are cut and end in "...". */
#define SSD_ERROR_MSG_CAP 2048

/* Sets the message for the calling thread and returns `st`, so that
 * `return ssd_error_set(SSD_E_FORMAT, "%s: bad magic", path);` reads well. */
ssd_status ssd_error_set(ssd_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
ssd_status ssd_error_vset(ssd_status st, const char *fmt, va_list ap);

/* Prepends "context: " to the current message; returns `st` unchanged. The
 * arguments may include ssd_error_message() itself. */
ssd_status ssd_error_prefix(ssd_status st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The calling thread's last message ("" if none). */
const char *ssd_error_message(void);
void ssd_error_clear(void);

const char *ssd_status_name(ssd_status st);

/* Propagates a failure: `SSD_TRY(load(x));` inside a function returning ssd_status. */
#define SSD_TRY(expr)                                                                              \
    do {                                                                                           \
        ssd_status ssd_try_st_ = (expr);                                                           \
        if (ssd_try_st_ != SSD_OK) return ssd_try_st_;                                             \
    } while (0)

/* Jumps to a cleanup label on failure, keeping the status in `st`. */
#define SSD_CHECK_GOTO(st, expr, label)                                                            \
    do {                                                                                           \
        (st) = (expr);                                                                             \
        if ((st) != SSD_OK) goto label;                                                            \
    } while (0)

/* Allocation hook for fault-injection tests: when set, the k-th call of
 * ssd_malloc (counting from 1) fails. 0 disables. */
void ssd_alloc_fail_at(long k);
long ssd_alloc_count(void);

#endif
