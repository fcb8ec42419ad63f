/* Small file helpers for the data layer on top of core/fileio.h: header
 * reads, string lists, line files and directory listings. */
#ifndef SSD_DATA_IO_H
#define SSD_DATA_IO_H

#include "core/fileio.h"
#include "core/status.h"

#include <stddef.h>
#include <stdint.h>

/* Reads at most max bytes from the start of the file. */
ssd_status ssd_dio_read_head(const char *path, uint8_t *buf, size_t max, size_t *len);
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
