/* Small file helpers for the data layer: whole-file reads, atomic writes and
 * mkdir -p. Internal to src/data (core/fileio.h declares the project-wide
 * versions; these can be folded into it once it is implemented). */
#ifndef SSD_DATA_IO_H
#define SSD_DATA_IO_H

#include "core/status.h"

#include <stddef.h>
#include <stdint.h>

/* *data is NUL-terminated (not counted in *len); free with ssd_free. */
ssd_status ssd_dio_read_all(const char *path, uint8_t **data, size_t *len);
/* Reads at most max bytes from the start of the file. */
ssd_status ssd_dio_read_head(const char *path, uint8_t *buf, size_t max, size_t *len);
/* Writes to a temporary name beside path, then renames it over path. */
ssd_status ssd_dio_write_atomic(const char *path, const void *data, size_t len);
/* mkdir -p; fine if it already is a directory. */
ssd_status ssd_dio_mkdir_p(const char *path);
/* printf into a fresh string (ssd_free); NULL with SSD_E_NOMEM set on failure. */
char *ssd_dio_strfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A growable list of owned strings. */
typedef struct {
    char **v;
    int64_t n, cap;
} ssd_strlist;

ssd_status ssd_strlist_push(ssd_strlist *l, const char *s);
/* Sorts by strcmp (byte order, so the same on every machine). */
void ssd_strlist_sort(ssd_strlist *l);
void ssd_strlist_free(ssd_strlist *l);

/* Lines of a text file, trailing whitespace (and CR) removed, blank lines dropped. */
ssd_status ssd_dio_read_lines(const char *path, ssd_strlist *out);
/* Names of the regular files in dir (not recursive), sorted. */
ssd_status ssd_dio_list_files(const char *dir, ssd_strlist *out);

#endif
