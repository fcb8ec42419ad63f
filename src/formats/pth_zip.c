#include "formats/pth_zip.h"

#include "core/mem.h"
#include "formats/pth_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

enum {
    LOCAL_HEADER = 30,
    CENTRAL_HEADER = 46,
    EOCD = 22,
    ZIP64_EOCD = 56,
    ZIP64_LOCATOR = 20,
    ALIGN = 64, /* torch aligns every entry's data so that it can be mapped */
};

static uint16_t u16(const uint8_t *p) {
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t u64(const uint8_t *p) {
    return (uint64_t)u32(p) | (uint64_t)u32(p + 4) << 32;
}

static int sig(const uint8_t *p, uint8_t a, uint8_t b) {
    return p[0] == 'P' && p[1] == 'K' && p[2] == a && p[3] == b;
}

int zip_is_zip(const uint8_t *data, size_t len) {
    return len >= 4 && sig(data, 3, 4);
}

/* ---- reader --------------------------------------------------------------------------------- */

static int cmp_entry(const void *pa, const void *pb) {
    const zip_entry *a = pa, *b = pb;
    size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
    int c = memcmp(a->name, b->name, n);
    if (c) return c;
    return (a->name_len > b->name_len) - (a->name_len < b->name_len);
}

/* ZIP64 extended information: 64-bit values for the fields saturated at 0xFFFFFFFF. */
static int zip64_extra(zip_entry *e, const uint8_t *x, size_t n, int need_u, int need_c,
                       int need_o) {
    while (n >= 4) {
        uint16_t id = u16(x), sz = u16(x + 2);
        if (sz > n - 4) return 0;
        if (id == 1) {
            const uint8_t *p = x + 4, *end = x + 4 + sz;
            if (need_u) {
                if (end - p < 8) return 0;
                e->usize = u64(p);
                p += 8;
            }
            if (need_c) {
                if (end - p < 8) return 0;
                e->csize = u64(p);
                p += 8;
            }
            if (need_o) {
                if (end - p < 8) return 0;
                e->local_offset = u64(p);
            }
            return 1;
        }
        x += 4 + sz;
        n -= 4 + (size_t)sz;
    }
    return !(need_u || need_c || need_o);
}

ssd_status zip_open(zip_reader *z, const uint8_t *data, size_t len, const char *path) {
    memset(z, 0, sizeof *z);
    z->data = data;
    z->len = len;
    z->path = path;
    if (len < EOCD) return ssd_error_set(SSD_E_FORMAT, "%s: truncated zip archive", path);
    size_t eocd = len - EOCD, stop = len - EOCD > 0xFFFF ? len - EOCD - 0xFFFF : 0;
    while (!sig(data + eocd, 5, 6)) {
        if (eocd == stop)
            return ssd_error_set(SSD_E_FORMAT,
                                 "%s: zip end record not found (truncated or not a zip)", path);
        eocd--;
    }
    const uint8_t *r = data + eocd;
    if (u16(r + 20) > len - eocd - EOCD)
        return ssd_error_set(SSD_E_FORMAT, "%s: zip comment runs past the end", path);
    uint64_t count = u16(r + 10), cd_size = u32(r + 12), cd_off = u32(r + 16);
    uint32_t disks = u16(r + 4) | u16(r + 6);
    if (eocd >= ZIP64_LOCATOR && sig(data + eocd - ZIP64_LOCATOR, 6, 7)) {
        const uint8_t *loc = data + eocd - ZIP64_LOCATOR;
        uint64_t off = u64(loc + 8);
        if (off > len || len - off < ZIP64_EOCD || !sig(data + off, 6, 6))
            return ssd_error_set(SSD_E_FORMAT, "%s: bad zip64 end record", path);
        const uint8_t *r64 = data + off;
        disks |= u32(loc + 4) | u32(r64 + 16) | u32(r64 + 20);
        count = u64(r64 + 32);
        cd_size = u64(r64 + 40);
        cd_off = u64(r64 + 48);
    }
    if (disks) return ssd_error_set(SSD_E_FORMAT, "%s: multi-disk zip archives unsupported", path);
    if (cd_off > len || cd_size > len - cd_off || count > cd_size / CENTRAL_HEADER)
        return ssd_error_set(SSD_E_FORMAT, "%s: zip central directory out of range", path);
    z->e = ssd_calloc(count ? count : 1, sizeof *z->e);
    if (!z->e) return ssd_error_prefix(SSD_E_NOMEM, "%s", path);
    const uint8_t *p = data + cd_off, *end = p + cd_size;
    for (uint64_t i = 0; i < count; i++) {
        if (end - p < CENTRAL_HEADER || !sig(p, 1, 2)) goto corrupt;
        zip_entry *e = &z->e[z->n++];
        e->flags = u16(p + 8);
        e->method = u16(p + 10);
        e->crc = u32(p + 16);
        e->csize = u32(p + 20);
        e->usize = u32(p + 24);
        size_t nlen = u16(p + 28), xlen = u16(p + 30), clen = u16(p + 32);
        e->local_offset = u32(p + 42);
        if ((size_t)(end - p) - CENTRAL_HEADER < nlen + xlen + clen) goto corrupt;
        e->name = (const char *)p + CENTRAL_HEADER;
        e->name_len = nlen;
        if (!zip64_extra(e, p + CENTRAL_HEADER + nlen, xlen, e->usize == 0xFFFFFFFF,
                         e->csize == 0xFFFFFFFF, e->local_offset == 0xFFFFFFFF))
            goto corrupt;
        p += CENTRAL_HEADER + nlen + xlen + clen;
    }
    qsort(z->e, z->n, sizeof *z->e, cmp_entry);
    for (size_t i = 1; i < z->n; i++)
        if (cmp_entry(&z->e[i - 1], &z->e[i]) == 0) {
            char b[128];
            ssd_error_set(SSD_E_FORMAT, "%s: duplicate zip entry '%s'", path,
                          pth_printable(b, sizeof b, z->e[i].name, z->e[i].name_len));
            zip_close(z);
            return SSD_E_FORMAT;
        }
    return SSD_OK;
corrupt:
    zip_close(z);
    return ssd_error_set(SSD_E_FORMAT, "%s: corrupt zip central directory", path);
}

void zip_close(zip_reader *z) {
    if (!z) return;
    ssd_free(z->e);
    z->e = NULL;
    z->n = 0;
}

const zip_entry *zip_find(const zip_reader *z, const char *name, size_t name_len) {
    zip_entry key = {.name = name, .name_len = name_len};
    return bsearch(&key, z->e, z->n, sizeof *z->e, cmp_entry);
}

static void *z_alloc(void *opaque, unsigned items, unsigned size) {
    (void)opaque;
    return ssd_calloc(items, size);
}

static void z_free(void *opaque, void *p) {
    (void)opaque;
    ssd_free(p);
}

static ssd_status inflate_entry(const zip_reader *z, const zip_entry *e, const uint8_t *src,
                                uint8_t *dst, const char *nm) {
    if (e->csize > UINT32_MAX || e->usize > UINT32_MAX)
        return ssd_error_set(SSD_E_FORMAT, "%s: %s: deflated entry over 4 GiB", z->path, nm);
    z_stream s;
    memset(&s, 0, sizeof s);
    s.zalloc = z_alloc;
    s.zfree = z_free;
    if (inflateInit2(&s, -MAX_WBITS) != Z_OK)
        return ssd_error_set(SSD_E_NOMEM, "%s: %s: cannot start inflate", z->path, nm);
    s.next_in = (Bytef *)src;
    s.avail_in = (uInt)e->csize;
    s.next_out = dst;
    s.avail_out = (uInt)e->usize;
    int rc = inflate(&s, Z_FINISH);
    uLong out = s.total_out;
    inflateEnd(&s);
    if (rc != Z_STREAM_END || out != e->usize)
        return ssd_error_set(SSD_E_FORMAT, "%s: %s: corrupt deflate data", z->path, nm);
    return SSD_OK;
}

ssd_status zip_read(const zip_reader *z, const zip_entry *e, uint64_t max_bytes,
                    const uint8_t **out, uint8_t **owned) {
    char nm[128];
    pth_printable(nm, sizeof nm, e->name, e->name_len);
    *out = NULL;
    *owned = NULL;
    if (e->flags & 1) return ssd_error_set(SSD_E_FORMAT, "%s: %s: encrypted", z->path, nm);
    if (e->method != 0 && e->method != 8)
        return ssd_error_set(SSD_E_FORMAT, "%s: %s: unsupported compression method %u", z->path, nm,
                             e->method);
    uint64_t off = e->local_offset;
    if (off > z->len || z->len - off < LOCAL_HEADER || !sig(z->data + off, 3, 4))
        return ssd_error_set(SSD_E_FORMAT, "%s: %s: bad local header", z->path, nm);
    off += LOCAL_HEADER + (uint64_t)u16(z->data + off + 26) + u16(z->data + off + 28);
    if (off > z->len || e->csize > z->len - off)
        return ssd_error_set(SSD_E_FORMAT, "%s: %s: entry data runs past the end (truncated?)",
                             z->path, nm);
    const uint8_t *src = z->data + off;
    if (e->method == 0) {
        if (e->csize != e->usize)
            return ssd_error_set(SSD_E_FORMAT, "%s: %s: stored entry sizes differ", z->path, nm);
        *out = src;
    } else {
        /* deflate expands at most ~1032:1; anything beyond is a lie (or a bomb). */
        if (e->usize > max_bytes || e->usize / 1032 > e->csize + 1)
            return ssd_error_set(SSD_E_FORMAT, "%s: %s: implausible size %llu", z->path, nm,
                                 (unsigned long long)e->usize);
        uint8_t *dst = ssd_malloc(e->usize ? (size_t)e->usize : 1);
        if (!dst) return ssd_error_prefix(SSD_E_NOMEM, "%s: %s", z->path, nm);
        ssd_status st = inflate_entry(z, e, src, dst, nm);
        if (st != SSD_OK) {
            ssd_free(dst);
            return st;
        }
        *out = *owned = dst;
    }
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION /* let the fuzzer past the checksum */
    if ((uint32_t)crc32_z(0, *out, (z_size_t)e->usize) != e->crc) {
        ssd_free(*owned);
        *out = *owned = NULL;
        return ssd_error_set(SSD_E_FORMAT, "%s: %s: CRC mismatch (corrupt file)", z->path, nm);
    }
#endif
    return SSD_OK;
}

/* ---- writer --------------------------------------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v) {
    put16(p, (uint16_t)v);
    put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v) {
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

static void putsig(uint8_t *p, uint8_t a, uint8_t b) {
    p[0] = 'P';
    p[1] = 'K';
    p[2] = a;
    p[3] = b;
}

void zip_writer_init(zip_writer *w, FILE *fp, const char *path) {
    memset(w, 0, sizeof *w);
    w->fp = fp;
    w->path = path;
}

void zip_writer_deinit(zip_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) ssd_free(w->e[i].name);
    ssd_free(w->e);
    w->e = NULL;
    w->n = w->cap = 0;
}

static ssd_status put(zip_writer *w, const void *p, size_t n) {
    if (w->st != SSD_OK) return w->st;
    if (n && fwrite(p, 1, n, w->fp) != n)
        w->st = ssd_error_set(SSD_E_IO, "%s: write failed: %s", w->path, strerror(errno));
    w->pos += n;
    return w->st;
}

/* miniz puts sizes in a data descriptor after the data (0x08), except for empty
 * entries; names are UTF-8 (0x800). */
static uint16_t flags(const zip_wentry *e) {
    return e->declared ? 0x0808 : 0x0800;
}

ssd_status zip_write_begin(zip_writer *w, const char *name, uint64_t size) {
    if (w->st != SSD_OK) return w->st;
    size_t nlen = strlen(name);
    if (nlen > 0xFFFF || w->pos >= 0xFFFFFFFF)
        return w->st = ssd_error_set(SSD_E_UNSUPPORTED, "%s: archive over 4 GiB", w->path);
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        zip_wentry *e = ssd_realloc(w->e, cap * sizeof *e);
        if (!e) return w->st = SSD_E_NOMEM;
        w->e = e;
        w->cap = cap;
    }
    zip_wentry *e = &w->e[w->n];
    memset(e, 0, sizeof *e);
    if (!(e->name = ssd_strdup(name))) return w->st = SSD_E_NOMEM;
    w->n++;
    e->offset = w->pos;
    e->declared = size;
    /* The "FB" extra field carries 'Z' padding so that the data starts on a
     * multiple of 64, exactly as PyTorchStreamWriter lays it out. */
    size_t start = w->pos + LOCAL_HEADER + nlen + 4, pad = (ALIGN - start % ALIGN) % ALIGN;
    uint8_t h[LOCAL_HEADER + 4 + ALIGN];
    memset(h, 0, LOCAL_HEADER);
    putsig(h, 3, 4);
    put16(h + 6, flags(e));
    put16(h + 26, (uint16_t)nlen);
    put16(h + 28, (uint16_t)(4 + pad));
    put(w, h, LOCAL_HEADER);
    put(w, name, nlen);
    h[0] = 'F';
    h[1] = 'B';
    put16(h + 2, (uint16_t)pad);
    memset(h + 4, 'Z', pad);
    return put(w, h, 4 + pad);
}

ssd_status zip_write_data(zip_writer *w, const void *data, size_t len) {
    if (w->st != SSD_OK) return w->st;
    zip_wentry *e = &w->e[w->n - 1];
    e->crc = (uint32_t)crc32_z(e->crc, data, len);
    e->size += len;
    return put(w, data, len);
}

ssd_status zip_write_end(zip_writer *w) {
    if (w->st != SSD_OK) return w->st;
    zip_wentry *e = &w->e[w->n - 1];
    if (e->size >= 0xFFFFFFFF)
        return w->st = ssd_error_set(SSD_E_UNSUPPORTED, "%s: entry over 4 GiB", w->path);
    if (e->size != e->declared)
        return w->st = ssd_error_set(SSD_E_INVAL, "%s: entry size differs from declared", w->path);
    if (!e->declared) return SSD_OK;
    uint8_t d[16];
    putsig(d, 7, 8);
    put32(d + 4, e->crc);
    put32(d + 8, (uint32_t)e->size);
    put32(d + 12, (uint32_t)e->size);
    return put(w, d, sizeof d);
}

ssd_status zip_writer_finish(zip_writer *w) {
    if (w->st != SSD_OK) return w->st;
    uint64_t cd_off = w->pos;
    for (size_t i = 0; i < w->n; i++) {
        const zip_wentry *e = &w->e[i];
        size_t nlen = strlen(e->name);
        uint8_t h[CENTRAL_HEADER];
        memset(h, 0, sizeof h);
        putsig(h, 1, 2);
        put16(h + 8, flags(e));
        put32(h + 16, e->crc);
        put32(h + 20, (uint32_t)e->size);
        put32(h + 24, (uint32_t)e->size);
        put16(h + 28, (uint16_t)nlen);
        put32(h + 42, (uint32_t)e->offset);
        put(w, h, sizeof h);
        put(w, e->name, nlen);
    }
    uint64_t cd_size = w->pos - cd_off, z64_off = w->pos;
    if (w->st != SSD_OK) return w->st;
    if (cd_off + cd_size >= 0xFFFFFFFF)
        return w->st = ssd_error_set(SSD_E_UNSUPPORTED, "%s: archive over 4 GiB", w->path);
    /* miniz always ends with ZIP64 records; torch.load accepts either. */
    uint8_t t[ZIP64_EOCD + ZIP64_LOCATOR + EOCD];
    memset(t, 0, sizeof t);
    uint8_t *r = t;
    putsig(r, 6, 6);
    put64(r + 4, ZIP64_EOCD - 12);
    put16(r + 12, 0x031e); /* made by: unix, 3.0 */
    put16(r + 14, 0x002d); /* needs 4.5 (ZIP64) */
    put64(r + 24, w->n);
    put64(r + 32, w->n);
    put64(r + 40, cd_size);
    put64(r + 48, cd_off);
    r += ZIP64_EOCD;
    putsig(r, 6, 7);
    put64(r + 8, z64_off);
    put32(r + 16, 1);
    r += ZIP64_LOCATOR;
    putsig(r, 5, 6);
    put16(r + 8, (uint16_t)(w->n < 0xFFFF ? w->n : 0xFFFF));
    put16(r + 10, (uint16_t)(w->n < 0xFFFF ? w->n : 0xFFFF));
    put32(r + 12, (uint32_t)cd_size);
    put32(r + 16, (uint32_t)cd_off);
    return put(w, t, sizeof t);
}
