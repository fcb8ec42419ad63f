/* CSV as RFC 4180 writes it (and pandas reads it): comma-separated fields,
 * optionally in double quotes, where a quoted field may hold commas, line
 * breaks and doubled quotes (""). LF, CRLF and lone CR end records; blank
 * lines are skipped; a UTF-8 byte-order mark at the start is ignored.
 *
 * The reader streams (the Open Images annotation files are about a gigabyte)
 * and is strict: a bare quote inside an unquoted field, a character after a
 * closing quote, an unterminated quote, a NUL byte or a record over 1 MiB is
 * an error naming the file and the line the record starts on. */
#ifndef SSD_DATA_CSV_H
#define SSD_DATA_CSV_H

#include "core/fileio.h"
#include "core/status.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct ssd_csv ssd_csv;

ssd_status ssd_csv_open(ssd_csv **out, const char *path);
/* Reads from memory (borrowed until close); name is used in messages. */
ssd_status ssd_csv_open_mem(ssd_csv **out, const char *name, const void *data, size_t len);
void ssd_csv_close(ssd_csv *c); /* NULL-safe */

/* Reads the next record; *got is false at the end of the input. */
ssd_status ssd_csv_next(ssd_csv *c, bool *got);
int ssd_csv_nfields(const ssd_csv *c);
/* Field i of the current record, NUL-terminated; "" when i is out of range. */
const char *ssd_csv_field(const ssd_csv *c, int i);
/* 1-based line on which the current record starts. */
long ssd_csv_line(const ssd_csv *c);
const char *ssd_csv_name(const ssd_csv *c);

/* Reads the first record as a header and finds each of names[0..n) in it:
 * idx[k] is its column, or -1 where optional[k] and absent. A missing required
 * column, or an empty file, is an error naming the file. optional may be NULL. */
ssd_status ssd_csv_header(ssd_csv *c, int n, const char *const *names, const bool *optional,
                          int *idx);
/* Error unless the current record has exactly n fields ("file:line: ..."). */
ssd_status ssd_csv_expect_fields(const ssd_csv *c, int n);

/* Writes one record: fields quoted only when they hold a comma, quote or line
 * break (as pandas' to_csv does), "\n" at the end. */
ssd_status ssd_csv_write_row(ssd_afile *f, const char *const *fields, int n);

#endif
