/* CCPD -> Pascal VOC. The labels live in the file names (see convert.h). */
#include "data/convert.h"

#include "core/log.h"
#include "core/mem.h"
#include "data/data_io.h"
#include "data/image.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- file names -------------------------------------------------------------- */

/* Reads a non-negative decimal from *p up to the next non-digit. */
static bool read_int(const char **p, int *v) {
    const char *s = *p;
    long x = 0;
    int n = 0;
    while (isdigit((unsigned char)*s) && n < 7) x = x * 10 + (*s++ - '0'), n++;
    if (n == 0 || isdigit((unsigned char)*s)) return false;
    *v = (int)x;
    *p = s;
    return true;
}

/* "x&y" pairs joined by '_', exactly n of them, filling the whole field [s, end). */
static bool read_pairs(const char *s, const char *end, int n, int *xs, int *ys) {
    for (int k = 0; k < n; k++) {
        if (!read_int(&s, &xs[k]) || *s++ != '&' || !read_int(&s, &ys[k])) return false;
        if (k + 1 < n && *s++ != '_') return false;
    }
    return s == end;
}

ssd_status ssd_ccpd_parse_name(const char *name, ssd_ccpd_label *out) {
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    const char *dot = strrchr(base, '.');
    const char *stop = dot ? dot : base + strlen(base);
    const char *f[8];
    int nf = 0;
    f[nf++] = base;
    for (const char *s = base; s < stop; s++)
        if (*s == '-') {
            if (nf == 7) return ssd_error_set(SSD_E_FORMAT, "%s: not a CCPD name", name);
            f[nf++] = s + 1;
        }
    if (nf != 7) return ssd_error_set(SSD_E_FORMAT, "%s: not a CCPD name (%d fields)", name, nf);
    int bx[2], by[2];
    if (!read_pairs(f[2], f[3] - 1, 2, bx, by) || !read_pairs(f[3], f[4] - 1, 4, out->vx, out->vy))
        return ssd_error_set(SSD_E_FORMAT, "%s: CCPD name without a box", name);
    out->x1 = bx[0];
    out->y1 = by[0];
    out->x2 = bx[1];
    out->y2 = by[1];
    if (out->x1 >= out->x2 || out->y1 >= out->y2)
        return ssd_error_set(SSD_E_FORMAT, "%s: CCPD box %d,%d,%d,%d is empty or inverted", name,
                             out->x1, out->y1, out->x2, out->y2);
    return SSD_OK;
}

/* ---- the source tree ----------------------------------------------------------- */

static const char *const split_names[3] = {"train", "val", "test"};

typedef struct {
    char *rel; /* path relative to src */
    char *id;  /* file name without extension */
    int split; /* 0 train, 1 val, 2 test */
    ssd_ccpd_label label;
} entry;

typedef struct {
    entry *v;
    int64_t n, cap;
} entry_list;

static void entries_free(entry_list *l) {
    for (int64_t i = 0; i < l->n; i++) {
        ssd_free(l->v[i].rel);
        ssd_free(l->v[i].id);
    }
    ssd_free(l->v);
}

static bool is_image_name(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

static bool is_dir(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool is_file(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

#define SHOWN 5 /* per kind of skipped name; the rest are only counted */

static ssd_status add_entry(entry_list *l, const char *src, const char *rel, int split,
                            ssd_ccpd_stats *stats) {
    ssd_ccpd_label lab;
    if (ssd_ccpd_parse_name(rel, &lab) != SSD_OK) {
        if (++stats->unparsed <= SHOWN) ssd_warn("%s/%s: no box in the name; skipped", src, rel);
        return SSD_OK;
    }
    if (l->n == l->cap) {
        int64_t nc = l->cap ? l->cap * 2 : 256;
        entry *nv = ssd_realloc(l->v, sizeof *nv * (size_t)nc);
        if (!nv) return SSD_E_NOMEM;
        l->v = nv;
        l->cap = nc;
    }
    const char *base = strrchr(rel, '/');
    base = base ? base + 1 : rel;
    entry *e = &l->v[l->n];
    e->rel = ssd_strdup(rel);
    e->id = ssd_strdup(base);
    e->split = split;
    e->label = lab;
    if (!e->rel || !e->id) {
        ssd_free(e->rel);
        ssd_free(e->id);
        return SSD_E_NOMEM;
    }
    *strrchr(e->id, '.') = 0; /* is_image_name or the parser saw an extension */
    l->n++;
    return SSD_OK;
}

/* CCPD2019: splits/train.txt etc. hold paths relative to src. */
static ssd_status gather_lists(entry_list *l, const char *src, ssd_ccpd_stats *stats) {
    ssd_status st = SSD_OK;
    for (int s = 0; s < 3 && st == SSD_OK; s++) {
        char *list = ssd_dio_strfmt("%s/splits/%s.txt", src, split_names[s]);
        if (!list) return SSD_E_NOMEM;
        ssd_strlist lines = {0};
        if (is_file(list)) st = ssd_dio_read_lines(list, &lines);
        for (int64_t i = 0; i < lines.n && st == SSD_OK; i++) {
            const char *rel = lines.v[i];
            while (rel[0] == '.' && rel[1] == '/') rel += 2;
            char *full = ssd_dio_strfmt("%s/%s", src, rel);
            if (!full) {
                st = SSD_E_NOMEM;
                break;
            }
            if (!is_image_name(rel)) {
                if (++stats->unparsed <= SHOWN) ssd_warn("%s: not a .jpg; skipped", full);
            } else if (!is_file(full)) {
                if (++stats->missing <= SHOWN)
                    ssd_warn("%s: listed in %s but missing; skipped", full, list);
            } else {
                st = add_entry(l, src, rel, s, stats);
            }
            ssd_free(full);
        }
        ssd_strlist_free(&lines);
        ssd_free(list);
    }
    return st;
}

/* CCPD2020: train/ val/ test/ folders. */
static ssd_status gather_dirs(entry_list *l, const char *src, ssd_ccpd_stats *stats) {
    ssd_status st = SSD_OK;
    for (int s = 0; s < 3 && st == SSD_OK; s++) {
        char *dir = ssd_dio_strfmt("%s/%s", src, split_names[s]);
        if (!dir) return SSD_E_NOMEM;
        ssd_strlist names = {0};
        if (is_dir(dir)) st = ssd_dio_list_files(dir, &names);
        for (int64_t i = 0; i < names.n && st == SSD_OK; i++) {
            if (!is_image_name(names.v[i])) continue;
            char *rel = ssd_dio_strfmt("%s/%s", split_names[s], names.v[i]);
            if (!rel) {
                st = SSD_E_NOMEM;
                break;
            }
            st = add_entry(l, src, rel, s, stats);
            ssd_free(rel);
        }
        ssd_strlist_free(&names);
        ssd_free(dir);
    }
    return st;
}

static int cmp_entry_id(const void *a, const void *b) {
    const entry *x = *(entry *const *)a, *y = *(entry *const *)b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x < y ? -1 : x > y); /* earlier entries first */
}

/* The same name twice (CCPD2019 folders overlap in places) would put one image
 * in two splits; the first occurrence, in split then list order, wins. */
static ssd_status drop_duplicates(entry_list *l, const char *src, ssd_ccpd_stats *stats) {
    if (l->n < 2) return SSD_OK;
    entry **order = ssd_malloc(sizeof *order * (size_t)l->n);
    uint8_t *drop = ssd_calloc((size_t)l->n, 1);
    if (!order || !drop) {
        ssd_free(order);
        ssd_free(drop);
        return SSD_E_NOMEM;
    }
    for (int64_t i = 0; i < l->n; i++) order[i] = &l->v[i];
    qsort(order, (size_t)l->n, sizeof *order, cmp_entry_id);
    for (int64_t i = 1; i < l->n; i++) {
        if (strcmp(order[i]->id, order[i - 1]->id)) continue;
        drop[order[i] - l->v] = 1;
        if (++stats->duplicates <= SHOWN)
            ssd_warn("%s/%s: same name as %s/%s; skipped", src, order[i]->rel, src,
                     order[i - 1]->rel);
    }
    int64_t k = 0;
    for (int64_t i = 0; i < l->n; i++) {
        if (drop[i]) {
            ssd_free(l->v[i].rel);
            ssd_free(l->v[i].id);
        } else {
            l->v[k++] = l->v[i];
        }
    }
    l->n = k;
    ssd_free(order);
    ssd_free(drop);
    return SSD_OK;
}

/* ---- writing ---------------------------------------------------------------- */

/* The five characters XML cannot carry as text ('&' is in every CCPD name). */
static char *xml_escape(const char *s) {
    size_t n = 0;
    for (const char *p = s; *p; p++)
        n += *p == '&' ? 5 : *p == '<' || *p == '>' ? 4 : *p == '"' || *p == '\'' ? 6 : 1;
    char *o = ssd_malloc(n + 1), *q = o;
    if (!o) return NULL;
    for (const char *p = s; *p; p++) {
        const char *r = *p == '&'    ? "&amp;"
                        : *p == '<'  ? "&lt;"
                        : *p == '>'  ? "&gt;"
                        : *p == '"'  ? "&quot;"
                        : *p == '\'' ? "&apos;"
                                     : NULL;
        if (r) {
            size_t k = strlen(r);
            memcpy(q, r, k);
            q += k;
        } else {
            *q++ = *p;
        }
    }
    *q = 0;
    return o;
}

/* VOC coordinates are 1-based: the file name's 0-based value plus one. */
static ssd_status write_xml(const char *path, const entry *e, int w, int h, int depth) {
    const ssd_ccpd_label *b = &e->label;
    char *id = xml_escape(e->id), *rel = xml_escape(e->rel);
    char *xml = NULL;
    ssd_status st = SSD_E_NOMEM;
    if (!id || !rel) goto done;
    char verts[512];
    int o = 0;
    for (int k = 0; k < 4; k++)
        o += snprintf(verts + o, sizeof verts - (size_t)o,
                      "\t\t\t<x%d>%d</x%d>\n\t\t\t<y%d>%d</y%d>\n", k + 1, b->vx[k] + 1, k + 1,
                      k + 1, b->vy[k] + 1, k + 1);
    xml = ssd_dio_strfmt("<annotation>\n"
                         "\t<folder>JPEGImages</folder>\n"
                         "\t<filename>%s.jpg</filename>\n"
                         "\t<source>\n"
                         "\t\t<database>CCPD</database>\n"
                         "\t\t<original>%s</original>\n"
                         "\t</source>\n"
                         "\t<size>\n"
                         "\t\t<width>%d</width>\n"
                         "\t\t<height>%d</height>\n"
                         "\t\t<depth>%d</depth>\n"
                         "\t</size>\n"
                         "\t<segmented>0</segmented>\n"
                         "\t<object>\n"
                         "\t\t<name>plate</name>\n"
                         "\t\t<pose>Unspecified</pose>\n"
                         "\t\t<truncated>0</truncated>\n"
                         "\t\t<difficult>0</difficult>\n"
                         "\t\t<bndbox>\n"
                         "\t\t\t<xmin>%d</xmin>\n"
                         "\t\t\t<ymin>%d</ymin>\n"
                         "\t\t\t<xmax>%d</xmax>\n"
                         "\t\t\t<ymax>%d</ymax>\n"
                         "\t\t</bndbox>\n"
                         "\t\t<vertices>\n"
                         "%s"
                         "\t\t</vertices>\n"
                         "\t</object>\n"
                         "</annotation>\n",
                         id, rel, w, h, depth, b->x1 + 1, b->y1 + 1, b->x2 + 1, b->y2 + 1, verts);
    if (!xml) goto done;
    st = ssd_file_write_atomic(path, xml, strlen(xml));
done:
    ssd_free(id);
    ssd_free(rel);
    ssd_free(xml);
    return st;
}

static bool same_content(const char *a, const char *b) {
    uint8_t *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    bool same = ssd_file_read_all(a, &x, &nx) == SSD_OK &&
                ssd_file_read_all(b, &y, &ny) == SSD_OK && nx == ny && !memcmp(x, y, nx);
    ssd_free(x);
    ssd_free(y);
    ssd_error_clear();
    return same;
}

/* dst becomes a hard link to src, or a copy when linking is not possible
 * (another file system, or a file we do not own under protected_hardlinks).
 * Left alone when it already is that file or a byte-identical copy. */
static ssd_status link_or_copy(const char *src, const char *dst, ssd_ccpd_stats *stats) {
    struct stat a, b;
    if (stat(src, &a) != 0) return ssd_error_set(SSD_E_IO, "%s: %s", src, strerror(errno));
    if (stat(dst, &b) == 0) {
        if (a.st_dev == b.st_dev && a.st_ino == b.st_ino) return SSD_OK;
        if (S_ISREG(b.st_mode) && a.st_size == b.st_size && same_content(src, dst)) return SSD_OK;
    }
    static atomic_uint counter;
    char *tmp = ssd_dio_strfmt("%s.tmp.%ld.%u", dst, (long)getpid(), atomic_fetch_add(&counter, 1));
    if (!tmp) return SSD_E_NOMEM;
    ssd_status st = SSD_OK;
    if (link(src, tmp) == 0) {
        stats->linked++;
    } else {
        uint8_t *data = NULL;
        size_t len = 0;
        st = ssd_file_read_all(src, &data, &len);
        if (st == SSD_OK) st = ssd_file_write_atomic(tmp, data, len);
        ssd_free(data);
        if (st != SSD_OK) goto done;
        stats->copied++;
    }
    if (rename(tmp, dst) != 0) {
        st = ssd_error_set(SSD_E_IO, "%s: cannot rename into place: %s", dst, strerror(errno));
        unlink(tmp);
    }
done:
    ssd_free(tmp);
    return st;
}

static ssd_status write_list(const char *dst, const char *name, const entry_list *l,
                             const uint8_t *keep, int want_a, int want_b) {
    size_t cap = 1, n = 0;
    for (int64_t i = 0; i < l->n; i++) cap += strlen(l->v[i].id) + 1;
    char *buf = ssd_malloc(cap);
    char *path = ssd_dio_strfmt("%s/ImageSets/Main/%s", dst, name);
    ssd_status st = SSD_E_NOMEM;
    if (!buf || !path) goto done;
    /* trainval lists train then val, as the two files would read one after the other. */
    for (int pass = 0; pass < 2; pass++) {
        int want = pass == 0 ? want_a : want_b;
        if (want < 0) continue;
        for (int64_t i = 0; i < l->n; i++) {
            if (!keep[i] || l->v[i].split != want) continue;
            size_t k = strlen(l->v[i].id);
            memcpy(buf + n, l->v[i].id, k);
            buf[n + k] = '\n';
            n += k + 1;
        }
    }
    st = ssd_file_write_atomic(path, buf, n);
done:
    ssd_free(buf);
    ssd_free(path);
    return st;
}

ssd_status ssd_ccpd_convert(const char *src, const char *dst, ssd_ccpd_stats *stats) {
    entry_list l = {0};
    uint8_t *keep = NULL;
    char *p = NULL;
    ssd_status st = SSD_OK;
    memset(stats, 0, sizeof *stats);
    if (!is_dir(src)) return ssd_error_set(SSD_E_IO, "%s: CCPD folder not found", src);
    bool lists = false;
    for (int s = 0; s < 3; s++) {
        p = ssd_dio_strfmt("%s/splits/%s.txt", src, split_names[s]);
        if (!p) return SSD_E_NOMEM;
        lists |= is_file(p);
        ssd_free(p);
        p = NULL;
    }
    stats->from_lists = lists;
    SSD_CHECK_GOTO(st, lists ? gather_lists(&l, src, stats) : gather_dirs(&l, src, stats), done);
    SSD_CHECK_GOTO(st, drop_duplicates(&l, src, stats), done);
    if (l.n == 0) {
        st = ssd_error_set(SSD_E_FORMAT,
                           "%s: no CCPD images found (expected splits/train.txt, val.txt, test.txt "
                           "or train/ val/ test/ folders of .jpg files named with their boxes)",
                           src);
        goto done;
    }
    static const char *sub[] = {"Annotations", "JPEGImages", "ImageSets/Main"};
    for (int k = 0; k < 3; k++) {
        p = ssd_dio_strfmt("%s/%s", dst, sub[k]);
        if (!p) goto nomem;
        SSD_CHECK_GOTO(st, ssd_mkdir_p(p), done);
        ssd_free(p);
        p = NULL;
    }
    keep = ssd_calloc((size_t)l.n, 1);
    if (!keep) goto nomem;
    for (int64_t i = 0; i < l.n; i++) {
        const entry *e = &l.v[i];
        p = ssd_dio_strfmt("%s/%s", src, e->rel);
        if (!p) goto nomem;
        int w, h, c;
        if (ssd_image_info(p, &w, &h, &c) != SSD_OK) {
            if (++stats->unreadable <= SHOWN) ssd_warn("%s; skipped", ssd_error_message());
            ssd_free(p);
            p = NULL;
            continue;
        }
        char *img = ssd_dio_strfmt("%s/JPEGImages/%s.jpg", dst, e->id);
        char *xml = ssd_dio_strfmt("%s/Annotations/%s.xml", dst, e->id);
        st = img && xml ? link_or_copy(p, img, stats) : SSD_E_NOMEM;
        /* The reader decodes to RGB whatever is stored, so depth says 3 for colour JPEGs. */
        if (st == SSD_OK) st = write_xml(xml, e, w, h, c == 1 ? 1 : 3);
        ssd_free(img);
        ssd_free(xml);
        ssd_free(p);
        p = NULL;
        if (st != SSD_OK) goto done;
        keep[i] = 1;
        stats->images[e->split]++;
    }
    stats->test_from_val = stats->images[2] == 0;
    SSD_CHECK_GOTO(st, write_list(dst, "train.txt", &l, keep, 0, -1), done);
    SSD_CHECK_GOTO(st, write_list(dst, "val.txt", &l, keep, 1, -1), done);
    SSD_CHECK_GOTO(st, write_list(dst, "trainval.txt", &l, keep, 0, 1), done);
    SSD_CHECK_GOTO(st, write_list(dst, "test.txt", &l, keep, stats->test_from_val ? 1 : 2, -1),
                   done);
    p = ssd_dio_strfmt("%s/labels.txt", dst);
    if (!p) goto nomem;
    st = ssd_file_write_atomic(p, "plate\n", 6);
    goto done;
nomem:
    st = SSD_E_NOMEM;
done:
    ssd_free(p);
    ssd_free(keep);
    entries_free(&l);
    return st;
}
