/* Streaming CSV reader and row writer; the dialect is described in csv.h. */
#include "data/csv.h"

#include "core/mem.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define CHUNK      (64 * 1024)
#define MAX_RECORD (1 << 20)
#define MAX_FIELDS 4096

struct ssd_csv {
    char *name;
    FILE *fp; /* NULL when reading memory */
    const uint8_t *mem;
    uint8_t *buf; /* file chunk */
    size_t pos, len;
    bool eof;
    long line;        /* line of the next unread byte */
    long record_line; /* line where the current record starts */
    bool skip_lf;     /* the previous byte was a CR that ended a line */
    bool started;     /* past the byte-order mark check */
    char *rec;        /* current record: fields NUL-separated */
    size_t rec_len, rec_cap;
    size_t *off; /* field start offsets into rec */
    int nfields, off_cap;
};

static ssd_status alloc(ssd_csv **out, const char *name) {
    ssd_csv *c = ssd_calloc(1, sizeof *c);
    if (!c) return SSD_E_NOMEM;
    c->name = ssd_strdup(name);
    if (!c->name) {
        ssd_free(c);
        return SSD_E_NOMEM;
    }
    c->line = 1;
    *out = c;
    return SSD_OK;
}

ssd_status ssd_csv_open(ssd_csv **out, const char *path) {
    *out = NULL;
    ssd_csv *c = NULL;
    SSD_TRY(alloc(&c, path));
    c->fp = fopen(path, "rb");
    c->buf = ssd_malloc(CHUNK);
    if (!c->fp || !c->buf) {
        ssd_status st = c->fp
                            ? SSD_E_NOMEM
                            : ssd_error_set(SSD_E_IO, "%s: cannot open: %s", path, strerror(errno));
        ssd_csv_close(c);
        return st;
    }
    *out = c;
    return SSD_OK;
}

ssd_status ssd_csv_open_mem(ssd_csv **out, const char *name, const void *data, size_t len) {
    *out = NULL;
    ssd_csv *c = NULL;
    SSD_TRY(alloc(&c, name));
    c->mem = data;
    c->len = len; /* the whole input is one chunk */
    *out = c;
    return SSD_OK;
}

void ssd_csv_close(ssd_csv *c) {
    if (!c) return;
    if (c->fp) fclose(c->fp);
    ssd_free(c->buf);
    ssd_free(c->rec);
    ssd_free(c->off);
    ssd_free(c->name);
    ssd_free(c);
}

int ssd_csv_nfields(const ssd_csv *c) {
    return c->nfields;
}

const char *ssd_csv_field(const ssd_csv *c, int i) {
    return i >= 0 && i < c->nfields ? c->rec + c->off[i] : "";
}

long ssd_csv_line(const ssd_csv *c) {
    return c->record_line;
}

const char *ssd_csv_name(const ssd_csv *c) {
    return c->name;
}

/* Next byte, or -1 at the end; -2 on a read error (message set). */
static int next_byte(ssd_csv *c) {
    if (c->pos < c->len) return c->fp ? c->buf[c->pos++] : c->mem[c->pos++];
    if (!c->fp) return -1;
    if (c->eof) return -1;
    c->len = ssd_fread_checked(c->buf, CHUNK, c->fp);
    c->pos = 0;
    if (c->len < CHUNK) {
        if (ferror(c->fp) || !feof(c->fp)) {
            ssd_error_set(SSD_E_IO, "%s:%ld: read failed: %s", c->name, c->line,
                          ferror(c->fp) ? strerror(errno) : "short read");
            return -2;
        }
        c->eof = true;
    }
    return c->len ? c->buf[c->pos++] : -1;
}

static ssd_status put(ssd_csv *c, char ch) {
    if (c->rec_len + 1 >= c->rec_cap) {
        if (c->rec_cap >= MAX_RECORD)
            return ssd_error_set(SSD_E_FORMAT, "%s:%ld: record longer than %d bytes", c->name,
                                 c->record_line, MAX_RECORD);
        size_t nc = c->rec_cap ? c->rec_cap * 2 : 256;
        char *n = ssd_realloc(c->rec, nc);
        if (!n) return SSD_E_NOMEM;
        c->rec = n;
        c->rec_cap = nc;
    }
    c->rec[c->rec_len++] = ch;
    return SSD_OK;
}

static ssd_status begin_field(ssd_csv *c) {
    if (c->nfields == c->off_cap) {
        if (c->off_cap >= MAX_FIELDS)
            return ssd_error_set(SSD_E_FORMAT, "%s:%ld: more than %d fields", c->name,
                                 c->record_line, MAX_FIELDS);
        int nc = c->off_cap ? c->off_cap * 2 : 32;
        size_t *n = ssd_realloc(c->off, sizeof *n * (size_t)nc);
        if (!n) return SSD_E_NOMEM;
        c->off = n;
        c->off_cap = nc;
    }
    c->off[c->nfields++] = c->rec_len;
    return SSD_OK;
}

static ssd_status end_field(ssd_csv *c) {
    return put(c, 0);
}

enum { FIELD_START, UNQUOTED, QUOTED, AFTER_QUOTE };

ssd_status ssd_csv_next(ssd_csv *c, bool *got) {
    *got = false;
    for (;;) { /* one record per pass; blank lines loop */
        c->rec_len = 0;
        c->nfields = 0;
        c->record_line = c->line;
        int state = FIELD_START;
        bool any = false, quoted = false;
        for (;;) {
            int ch = next_byte(c);
            if (ch == -2) return SSD_E_IO;
            if (!c->started) {
                c->started = true;
                /* A UTF-8 byte-order mark: spreadsheet exports start with one. */
                if (ch == 0xEF) {
                    int b1 = next_byte(c), b2 = b1 >= 0 ? next_byte(c) : b1;
                    if (b1 == -2 || b2 == -2) return SSD_E_IO;
                    if (b1 != 0xBB || b2 != 0xBF)
                        return ssd_error_set(SSD_E_FORMAT, "%s:1: not UTF-8 text", c->name);
                    ch = next_byte(c);
                    if (ch == -2) return SSD_E_IO;
                }
            }
            if (c->skip_lf) {
                c->skip_lf = false;
                if (ch == '\n') continue;
            }
            if (ch == 0)
                return ssd_error_set(SSD_E_FORMAT, "%s:%ld: NUL byte in a text file", c->name,
                                     c->line);
            if (ch == -1) {
                if (state == QUOTED)
                    return ssd_error_set(SSD_E_FORMAT,
                                         "%s:%ld: quoted field not closed before the end of the "
                                         "file",
                                         c->name, c->record_line);
                if (!any) return SSD_OK; /* nothing after the last line break */
                SSD_TRY(end_field(c));
                break;
            }
            bool eol = ch == '\n' || ch == '\r';
            if (ch == '\r') c->skip_lf = true;
            if (eol && state != QUOTED) {
                c->line++;
                if (!any) break; /* blank line: skipped below */
                SSD_TRY(end_field(c));
                break;
            }
            if (!any) {
                any = true;
                SSD_TRY(begin_field(c));
            }
            switch (state) {
            case FIELD_START:
                if (ch == '"') {
                    state = QUOTED;
                    quoted = true;
                } else if (ch == ',') {
                    SSD_TRY(end_field(c));
                    SSD_TRY(begin_field(c));
                } else {
                    state = UNQUOTED;
                    SSD_TRY(put(c, (char)ch));
                }
                break;
            case UNQUOTED:
                if (ch == ',') {
                    SSD_TRY(end_field(c));
                    SSD_TRY(begin_field(c));
                    state = FIELD_START;
                } else if (ch == '"') {
                    return ssd_error_set(SSD_E_FORMAT,
                                         "%s:%ld: field %d: quote inside an unquoted field",
                                         c->name, c->line, c->nfields);
                } else {
                    SSD_TRY(put(c, (char)ch));
                }
                break;
            case QUOTED:
                if (ch == '"') {
                    state = AFTER_QUOTE;
                } else {
                    /* A CR inside quotes was kept as data; only LF counts lines there. */
                    if (ch == '\r') c->skip_lf = false;
                    if (ch == '\n') c->line++;
                    SSD_TRY(put(c, (char)ch));
                }
                break;
            case AFTER_QUOTE:
                if (ch == '"') {
                    SSD_TRY(put(c, '"'));
                    state = QUOTED;
                } else if (ch == ',') {
                    SSD_TRY(end_field(c));
                    SSD_TRY(begin_field(c));
                    state = FIELD_START;
                } else {
                    return ssd_error_set(SSD_E_FORMAT,
                                         "%s:%ld: field %d: '%c' after the closing quote "
                                         "(a quote inside a quoted field must be doubled)",
                                         c->name, c->line, c->nfields,
                                         ch >= 32 && ch < 127 ? ch : '?');
                }
                break;
            }
        }
        if (!any) continue;
        /* A line holding only "" is a record with one empty field, not a blank line. */
        if (c->nfields == 1 && c->rec[0] == 0 && !quoted) continue;
        *got = true;
        return SSD_OK;
    }
}

ssd_status ssd_csv_header(ssd_csv *c, int n, const char *const *names, const bool *optional,
                          int *idx) {
    bool got;
    SSD_TRY(ssd_csv_next(c, &got));
    if (!got) return ssd_error_set(SSD_E_FORMAT, "%s: empty file (no header line)", c->name);
    for (int k = 0; k < n; k++) {
        idx[k] = -1;
        for (int i = 0; i < c->nfields; i++)
            if (!strcmp(ssd_csv_field(c, i), names[k])) {
                idx[k] = i;
                break;
            }
        if (idx[k] < 0 && !(optional && optional[k]))
            return ssd_error_set(SSD_E_FORMAT, "%s:%ld: the header has no column '%s'", c->name,
                                 c->record_line, names[k]);
    }
    return SSD_OK;
}

ssd_status ssd_csv_expect_fields(const ssd_csv *c, int n) {
    if (c->nfields == n) return SSD_OK;
    return ssd_error_set(SSD_E_FORMAT, "%s:%ld: %d fields, expected %d as in the header", c->name,
                         c->record_line, c->nfields, n);
}

ssd_status ssd_csv_write_row(ssd_afile *f, const char *const *fields, int n) {
    for (int i = 0; i < n; i++) {
        const char *s = fields[i] ? fields[i] : "";
        if (i) ssd_afile_write(f, ",", 1);
        /* A lone empty field is quoted: an empty line would read as no record. */
        if (!s[strcspn(s, ",\"\r\n")] && (*s || n > 1)) {
            ssd_afile_write(f, s, strlen(s));
            continue;
        }
        ssd_afile_write(f, "\"", 1);
        for (const char *p = s; *p;) {
            size_t run = strcspn(p, "\"");
            ssd_afile_write(f, p, run);
            p += run;
            if (*p == '"') {
                ssd_afile_write(f, "\"\"", 2);
                p++;
            }
        }
        ssd_afile_write(f, "\"", 1);
    }
    return ssd_afile_write(f, "\n", 1);
}
