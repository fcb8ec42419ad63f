#include "core/strbuf.h"

#include "core/json.h"
#include "core/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Room for `more` bytes and the NUL after len; false (and oom) when not. */
static bool reserve(ssd_strbuf *b, size_t more) {
    if (b->oom) return false;
    if (b->s && b->len + more < b->cap) return true;
    if (more > (size_t)-1 / 4 - b->len) {
        b->oom = true;
        return false;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap <= b->len + more) cap *= 2;
    char *s = ssd_realloc(b->s, cap);
    if (!s) {
        b->oom = true;
        return false;
    }
    b->s = s;
    b->cap = cap;
    return true;
}

void ssd_strbuf_printf(ssd_strbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true; /* an encoding error: the text would be wrong, so no text */
        return;
    }
    if (!reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void ssd_strbuf_puts(ssd_strbuf *b, const char *s) {
    size_t n = strlen(s);
    if (!reserve(b, n)) return;
    memcpy(b->s + b->len, s, n + 1);
    b->len += n;
}

void ssd_strbuf_json(ssd_strbuf *b, const char *s) {
    size_t n = ssd_json_escape(NULL, 0, s);
    if (!reserve(b, n)) return;
    ssd_json_escape(b->s + b->len, n + 1, s);
    b->len += n;
}

void ssd_strbuf_free(ssd_strbuf *b) {
    ssd_free(b->s);
    *b = (ssd_strbuf){0};
}
