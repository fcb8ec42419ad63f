/* Just enough zip for PyTorch checkpoints.
 *
 * Reader: the central directory (ZIP64 included) of an archive held in
 * memory; entries stored or deflated, CRC-checked on read.
 * Writer: what torch 1.13's PyTorchStreamWriter (miniz) produces: stored
 * entries with zero timestamps, a data descriptor after each, data aligned to
 * 64 bytes through an "FB" extra field of 'Z' padding, and ZIP64 end records. */
#ifndef SSD_FORMATS_PTH_ZIP_H
#define SSD_FORMATS_PTH_ZIP_H

#include "core/status.h"

#include <stdint.h>
#include <stdio.h>

typedef struct {
    const char *name; /* into the archive bytes, not NUL-terminated */
    size_t name_len;
    uint64_t local_offset, csize, usize;
    uint32_t crc;
    uint16_t method, flags;
} zip_entry;

typedef struct {
    const uint8_t *data;
    size_t len;
    const char *path; /* for messages */
    zip_entry *e;     /* sorted by name */
    size_t n;
} zip_reader;

/* True if data starts like a zip archive. */
int zip_is_zip(const uint8_t *data, size_t len);
ssd_status zip_open(zip_reader *z, const uint8_t *data, size_t len, const char *path);
void zip_close(zip_reader *z);
const zip_entry *zip_find(const zip_reader *z, const char *name, size_t name_len);
/* Contents of e: *out points into the archive (stored) or at *owned (inflated, ssd_free it).
 * Fails if the entry would inflate beyond max_bytes. */
ssd_status zip_read(const zip_reader *z, const zip_entry *e, uint64_t max_bytes,
                    const uint8_t **out, uint8_t **owned);

typedef struct {
    char *name;
    uint32_t crc;
    uint64_t declared, size, offset;
} zip_wentry;

typedef struct {
    FILE *fp;
    const char *path; /* for messages */
    uint64_t pos;
    zip_wentry *e;
    size_t n, cap;
    ssd_status st; /* first error; later calls do nothing */
} zip_writer;

void zip_writer_init(zip_writer *w, FILE *fp, const char *path);
/* Writes a stored entry of `size` bytes; the data may come in pieces: begin, data..., end. */
ssd_status zip_write_begin(zip_writer *w, const char *name, uint64_t size);
ssd_status zip_write_data(zip_writer *w, const void *data, size_t len);
ssd_status zip_write_end(zip_writer *w);
/* Central directory and end records. */
ssd_status zip_writer_finish(zip_writer *w);
void zip_writer_deinit(zip_writer *w);

#endif
