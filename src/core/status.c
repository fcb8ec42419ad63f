#include "core/status.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char msg[SSD_ERROR_MSG_CAP];

/* A message cut at the cap ends in "..." so a reader knows text is missing. */
static void mark_truncated(char *buf) {
    memcpy(buf + SSD_ERROR_MSG_CAP - 4, "...", 4);
}

ssd_status ssd_error_vset(ssd_status st, const char *fmt, va_list ap) {
    /* Formatted into a scratch buffer first: callers may pass the current
     * message as an argument ("%s: %s", path, ssd_error_message()), and
     * vsnprintf must not read the buffer it writes. */
    char tmp[SSD_ERROR_MSG_CAP];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    if (n < 0) {
        snprintf(tmp, sizeof tmp, "(unformattable message: %s)", fmt);
    } else if ((size_t)n >= sizeof tmp) {
        mark_truncated(tmp);
    }
    memcpy(msg, tmp, sizeof msg);
    return st;
}

ssd_status ssd_error_set(ssd_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ssd_error_vset(st, fmt, ap);
    va_end(ap);
    return st;
}

ssd_status ssd_error_prefix(ssd_status st, const char *fmt, ...) {
    char out[SSD_ERROR_MSG_CAP];
    va_list ap;
    va_start(ap, fmt);
    int h = vsnprintf(out, sizeof out, fmt, ap);
    va_end(ap);
    if (h < 0) h = 0, out[0] = '\0';
    /* A prefix too long to leave room for ": " and some of the old message
     * is cut to half the buffer. */
    size_t cap = sizeof out, keep = (size_t)h;
    bool cut = false;
    if (keep > cap - 16) keep = cap / 2, cut = true;
    size_t o = strlen(msg), room = cap - 1 - keep - 2;
    if (o > room) o = room, cut = true;
    memcpy(out + keep, ": ", 2);
    memcpy(out + keep + 2, msg, o);
    out[keep + 2 + o] = '\0';
    if (cut) mark_truncated(out);
    memcpy(msg, out, sizeof msg);
    return st;
}

const char *ssd_error_message(void) {
    return msg;
}

void ssd_error_clear(void) {
    msg[0] = '\0';
}

const char *ssd_status_name(ssd_status st) {
    switch (st) {
    case SSD_OK:
        return "ok";
    case SSD_E_INVAL:
        return "invalid argument";
    case SSD_E_NOMEM:
        return "out of memory";
    case SSD_E_IO:
        return "i/o error";
    case SSD_E_FORMAT:
        return "malformed input";
    case SSD_E_UNSUPPORTED:
        return "unsupported";
    case SSD_E_BACKEND:
        return "backend error";
    case SSD_E_INTERRUPTED:
        return "interrupted";
    }
    return "unknown status";
}
