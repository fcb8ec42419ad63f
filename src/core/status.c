#include "core/status.h"

#include <stdio.h>
#include <string.h>

#define MSG_CAP 1024

static _Thread_local char msg[MSG_CAP];

ssd_status ssd_error_vset(ssd_status st, const char *fmt, va_list ap) {
    vsnprintf(msg, sizeof msg, fmt, ap);
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
    char head[MSG_CAP], old[MSG_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, msg, sizeof old);
    size_t h = strlen(head);
    if (h > MSG_CAP - 3) h = MSG_CAP - 3;
    memcpy(msg, head, h);
    memcpy(msg + h, ": ", 2);
    size_t rest = MSG_CAP - h - 3, o = strnlen(old, rest);
    memcpy(msg + h + 2, old, o);
    msg[h + 2 + o] = '\0';
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
    case SSD_OK: return "ok";
    case SSD_E_INVAL: return "invalid argument";
    case SSD_E_NOMEM: return "out of memory";
    case SSD_E_IO: return "i/o error";
    case SSD_E_FORMAT: return "malformed input";
    case SSD_E_UNSUPPORTED: return "unsupported";
    case SSD_E_BACKEND: return "backend error";
    case SSD_E_INTERRUPTED: return "interrupted";
    }
    return "unknown status";
}
