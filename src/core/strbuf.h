/* A growing NUL-terminated string for the writers of JSON, CSV and log lines.
 * An allocation that fails sets `oom` and turns every later append into a
 * no-op, so a writer checks once, at the end, instead of after each append. */
#ifndef SSD_CORE_STRBUF_H
#define SSD_CORE_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *s;    /* NULL until the first append; else NUL-terminated */
    size_t len; /* bytes before the NUL */
    size_t cap;
    bool oom;
} ssd_strbuf;

void ssd_strbuf_printf(ssd_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ssd_strbuf_puts(ssd_strbuf *b, const char *s);
/* s as a JSON string literal, quotes included (ssd_json_escape). */
void ssd_strbuf_json(ssd_strbuf *b, const char *s);
/* Frees the text and empties b (oom cleared). */
void ssd_strbuf_free(ssd_strbuf *b);

#endif
