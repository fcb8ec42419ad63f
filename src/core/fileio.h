/* Checked file I/O: whole-file reads, atomic writes (temporary name, then
 * rename, so an interrupted run never leaves a half-written file), mkdir -p
 * and small path helpers. Every error names the file. */
#ifndef SSD_CORE_FILEIO_H
#define SSD_CORE_FILEIO_H

#include "core/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Reads the whole file; *data is NUL-terminated (not counted in *len); free with ssd_free. */
ssd_status ssd_file_read_all(const char *path, uint8_t **data, size_t *len);
/* Writes data to path atomically (path.tmp.<pid> then rename). */
ssd_status ssd_file_write_atomic(const char *path, const void *data, size_t len);

/* Streaming atomic writer. */
typedef struct {
    FILE *fp;
    char *path, *tmp;
    ssd_status st; /* first error; later writes are no-ops */
} ssd_afile;
ssd_status ssd_afile_open(ssd_afile *f, const char *path);
ssd_status ssd_afile_write(ssd_afile *f, const void *data, size_t len);
/* fsyncs, closes and renames onto the final name; on any earlier error removes the temp file. */
ssd_status ssd_afile_commit(ssd_afile *f);
/* Closes and removes the temporary file (NULL-safe after commit). */
void ssd_afile_abort(ssd_afile *f);

/* mkdir -p; ok if it exists as a directory. */
ssd_status ssd_mkdir_p(const char *path);
bool ssd_path_exists(const char *path);
bool ssd_path_is_dir(const char *path);
/* Joins a and b with one '/', into a fresh string (ssd_free). NULL on OOM. */
char *ssd_path_join(const char *a, const char *b);
/* Pointer to the last component of path (after the last '/'). */
const char *ssd_path_basename(const char *path);
/* Expands a leading "~/" with $HOME into a fresh string (ssd_free). */
char *ssd_path_expand_user(const char *path);

/* Fault injection for tests: the k-th read through ssd_file_read_all /
 * ssd_fread_checked (from 1) returns short. 0 disables. */
void ssd_read_fail_at(long k);
/* Reads through the hook since the last ssd_read_fail_at, so a test can loop k
 * over every read a parser makes. */
long ssd_read_count(void);
/* fread that honours the fault-injection hook; returns the bytes read. */
size_t ssd_fread_checked(void *p, size_t n, FILE *fp);

#endif
