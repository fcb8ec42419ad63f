#include "train/tensorboard.h"

#include "core/fileio.h"
#include "core/mem.h"

#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

uint32_t ssd_crc32c(uint32_t crc, const void *data, size_t n) {
    static uint32_t table[256];
    static int ready;
    if (!ready) { /* benign race: every thread computes the same table */
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
            table[i] = c;
        }
        ready = 1;
    }
    const uint8_t *p = data;
    crc = ~crc;
    while (n--) crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static uint32_t masked(const void *p, size_t n) {
    uint32_t c = ssd_crc32c(0, p, n);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

/* --- minimal protobuf encoding ------------------------------------------- */

typedef struct {
    uint8_t b[512];
    size_t n;
} pbuf;

static void varint(pbuf *p, uint64_t v) {
    while (v >= 0x80 && p->n < sizeof p->b) {
        p->b[p->n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    if (p->n < sizeof p->b) p->b[p->n++] = (uint8_t)v;
}

static void raw(pbuf *p, const void *d, size_t n) {
    if (p->n + n > sizeof p->b) n = sizeof p->b - p->n;
    memcpy(p->b + p->n, d, n);
    p->n += n;
}

static void field_bytes(pbuf *p, int num, const void *d, size_t n) {
    varint(p, (uint64_t)num << 3 | 2);
    varint(p, n);
    raw(p, d, n);
}

static double wall_time(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

static ssd_status write_record(ssd_tb_writer *w, const pbuf *ev) {
    uint64_t len = ev->n;
    uint32_t lc = masked(&len, 8), dc = masked(ev->b, ev->n);
    if (fwrite(&len, 8, 1, w->fp) != 1 || fwrite(&lc, 4, 1, w->fp) != 1 ||
        fwrite(ev->b, 1, ev->n, w->fp) != ev->n || fwrite(&dc, 4, 1, w->fp) != 1 ||
        fflush(w->fp) != 0)
        return ssd_error_set(SSD_E_IO, "%s: write failed", w->path);
    return SSD_OK;
}

static void event_head(pbuf *p, int64_t step) {
    double t = wall_time();
    varint(p, 1 << 3 | 1);
    raw(p, &t, 8);
    varint(p, 2 << 3 | 0);
    varint(p, (uint64_t)step);
}

ssd_status ssd_tb_open(ssd_tb_writer *w, const char *dir) {
    memset(w, 0, sizeof *w);
    SSD_TRY(ssd_mkdir_p(dir));
    char host[64] = "localhost", name[160];
    gethostname(host, sizeof host - 1);
    snprintf(name, sizeof name, "events.out.tfevents.%lld.%s", (long long)time(NULL), host);
    w->path = ssd_path_join(dir, name);
    if (!w->path) return SSD_E_NOMEM;
    w->fp = fopen(w->path, "wb");
    if (!w->fp) {
        ssd_status st = ssd_error_set(SSD_E_IO, "%s: cannot create", w->path);
        ssd_free(w->path);
        w->path = NULL;
        return st;
    }
    pbuf p = {.n = 0};
    double t = wall_time();
    varint(&p, 1 << 3 | 1);
    raw(&p, &t, 8);
    field_bytes(&p, 3, "brain.Event:2", 13);
    return write_record(w, &p);
}

ssd_status ssd_tb_scalar(ssd_tb_writer *w, const char *tag, int64_t step, float value) {
    if (!w->fp) return SSD_OK;
    pbuf val = {.n = 0}, sum = {.n = 0}, ev = {.n = 0};
    field_bytes(&val, 1, tag, strlen(tag));
    varint(&val, 2 << 3 | 5);
    raw(&val, &value, 4);
    field_bytes(&sum, 1, val.b, val.n);
    event_head(&ev, step);
    field_bytes(&ev, 5, sum.b, sum.n);
    return write_record(w, &ev);
}

void ssd_tb_close(ssd_tb_writer *w) {
    if (w->fp) fclose(w->fp);
    ssd_free(w->path);
    memset(w, 0, sizeof *w);
}

/* --- reader ---------------------------------------------------------------- */

typedef struct {
    const uint8_t *p, *end;
    int bad;
} rd;

static uint64_t rd_varint(rd *r) {
    uint64_t v = 0;
    for (int s = 0; s < 64; s += 7) {
        if (r->p >= r->end) break;
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << s;
        if (!(b & 0x80)) return v;
    }
    r->bad = 1;
    return 0;
}

/* Skips or returns a field; for wire type 2 sets *sub to the payload. */
static int rd_field(rd *r, int *num, int *wt, uint64_t *v, rd *sub) {
    if (r->p >= r->end || r->bad) return 0;
    uint64_t key = rd_varint(r);
    *num = (int)(key >> 3);
    *wt = (int)(key & 7);
    switch (*wt) {
    case 0:
        *v = rd_varint(r);
        break;
    case 1:
        if (r->end - r->p < 8) return r->bad = 1, 0;
        memcpy(v, r->p, 8);
        r->p += 8;
        break;
    case 5:
        if (r->end - r->p < 4) return r->bad = 1, 0;
        *v = 0;
        memcpy(v, r->p, 4);
        r->p += 4;
        break;
    case 2: {
        uint64_t n = rd_varint(r);
        if (n > (uint64_t)(r->end - r->p)) return r->bad = 1, 0;
        sub->p = r->p;
        sub->end = r->p + n;
        sub->bad = 0;
        r->p += n;
        break;
    }
    default:
        return r->bad = 1, 0;
    }
    return !r->bad;
}

ssd_status ssd_tb_read(const char *path, ssd_tb_scalar_event **out, int *n) {
    *out = NULL;
    *n = 0;
    uint8_t *data;
    size_t len;
    SSD_TRY(ssd_file_read_all(path, &data, &len));
    ssd_status st = SSD_OK;
    size_t off = 0;
    int cap = 0;
    while (off < len && st == SSD_OK) {
        uint64_t rl;
        uint32_t lc, dc;
        if (len - off < 12) {
            st = ssd_error_set(SSD_E_FORMAT, "%s: truncated record at byte %zu", path, off);
            break;
        }
        memcpy(&rl, data + off, 8);
        memcpy(&lc, data + off + 8, 4);
        if (lc != masked(data + off, 8) || rl > len - off - 16) {
            st = ssd_error_set(SSD_E_FORMAT, "%s: bad record length at byte %zu", path, off);
            break;
        }
        const uint8_t *ev = data + off + 12;
        memcpy(&dc, ev + rl, 4);
        if (dc != masked(ev, rl)) {
            st = ssd_error_set(SSD_E_FORMAT, "%s: bad record checksum at byte %zu", path, off);
            break;
        }
        off += 16 + rl;
        rd r = {ev, ev + rl, 0}, sum, val, tag;
        int num, wt;
        uint64_t v;
        ssd_tb_scalar_event e;
        memset(&e, 0, sizeof e);
        int has = 0;
        while (rd_field(&r, &num, &wt, &v, &sum)) {
            if (num == 1 && wt == 1)
                memcpy(&e.wall_time, &v, 8);
            else if (num == 2 && wt == 0)
                e.step = (int64_t)v;
            else if (num == 5 && wt == 2) {
                while (rd_field(&sum, &num, &wt, &v, &val)) {
                    if (num != 1 || wt != 2) continue;
                    while (rd_field(&val, &num, &wt, &v, &tag)) {
                        if (num == 1 && wt == 2) {
                            size_t tl = (size_t)(tag.end - tag.p);
                            if (tl >= sizeof e.tag) tl = sizeof e.tag - 1;
                            memcpy(e.tag, tag.p, tl);
                            e.tag[tl] = '\0';
                        } else if (num == 2 && wt == 5) {
                            uint32_t u = (uint32_t)v;
                            memcpy(&e.value, &u, 4);
                            has = 1;
                        }
                    }
                }
            }
        }
        if (r.bad) {
            st = ssd_error_set(SSD_E_FORMAT, "%s: malformed event", path);
            break;
        }
        if (!has) continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            ssd_tb_scalar_event *ne = ssd_realloc(*out, (size_t)cap * sizeof *ne);
            if (!ne) {
                st = SSD_E_NOMEM;
                break;
            }
            *out = ne;
        }
        (*out)[(*n)++] = e;
    }
    ssd_free(data);
    if (st != SSD_OK) {
        ssd_free(*out);
        *out = NULL;
        *n = 0;
    }
    return st;
}
