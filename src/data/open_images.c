/* Open Images reader; the rules are described in open_images.h. */
#include "data/open_images.h"

#include "core/log.h"
#include "core/mem.h"
#include "core/rng.h"
#include "data/csv.h"
#include "data/data_io.h"
#include "data/voc.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *const ssd_oi_splits[3] = {"train", "validation", "test"};

#define WARN_SHOWN 10

static bool is_file(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static char *csv_path(const char *root, const char *split) {
    return ssd_dio_strfmt("%s/sub-%s-annotations-bbox.csv", root, split);
}

/* ---- reading the CSV ------------------------------------------------------------ */

typedef struct {
    char *id;
    char *cls;
    float box[4]; /* x1 y1 x2 y2, normalised */
    int64_t order;
} oi_row;

typedef struct {
    oi_row *v;
    int64_t n, cap;
} row_list;

static void rows_free(row_list *r) {
    for (int64_t i = 0; i < r->n; i++) {
        ssd_free(r->v[i].id);
        ssd_free(r->v[i].cls);
    }
    ssd_free(r->v);
    memset(r, 0, sizeof *r);
}

static bool parse_float(const char *s, double *v) {
    if (!*s) return false;
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    while (*end == ' ') end++;
    return *end == 0 && errno == 0 && isfinite(*v);
}

enum { C_ID, C_CLS, C_XMIN, C_YMIN, C_XMAX, C_YMAX, C_N };
static const char *const columns[C_N] = {"ImageID", "ClassName", "XMin", "YMin", "XMax", "YMax"};

/* Reads every row of path; with boxes false only ImageID and ClassName are checked. */
static ssd_status read_rows(const char *path, bool boxes, row_list *out) {
    ssd_csv *c = NULL;
    int idx[C_N];
    ssd_status st = ssd_csv_open(&c, path);
    if (st != SSD_OK) return st;
    SSD_CHECK_GOTO(st, ssd_csv_header(c, C_N, columns, NULL, idx), done);
    int nf = ssd_csv_nfields(c);
    for (;;) {
        bool got;
        SSD_CHECK_GOTO(st, ssd_csv_next(c, &got), done);
        if (!got) break;
        SSD_CHECK_GOTO(st, ssd_csv_expect_fields(c, nf), done);
        const char *id = ssd_csv_field(c, idx[C_ID]), *cls = ssd_csv_field(c, idx[C_CLS]);
        if (!*id || !*cls || strchr(id, '/')) {
            st = ssd_error_set(SSD_E_FORMAT, "%s:%ld: %s", path, ssd_csv_line(c),
                               !*id    ? "empty ImageID"
                               : !*cls ? "empty ClassName"
                                       : "ImageID with a '/'");
            goto done;
        }
        oi_row r = {0};
        r.order = out->n;
        if (boxes)
            for (int k = 0; k < 4; k++) {
                double v;
                const char *s = ssd_csv_field(c, idx[C_XMIN + k]);
                if (!parse_float(s, &v)) {
                    st = ssd_error_set(SSD_E_FORMAT, "%s:%ld: %s is not a number: '%s'", path,
                                       ssd_csv_line(c), columns[C_XMIN + k], s);
                    goto done;
                }
                /* columns are XMin, YMin, XMax, YMax: the corner order */
                r.box[k] = (float)v;
            }
        if (out->n == out->cap) {
            int64_t nc = out->cap ? out->cap * 2 : 1024;
            oi_row *nv = ssd_realloc(out->v, sizeof *nv * (size_t)nc);
            if (!nv) {
                st = SSD_E_NOMEM;
                goto done;
            }
            out->v = nv;
            out->cap = nc;
        }
        r.id = ssd_strdup(id);
        r.cls = ssd_strdup(cls);
        out->v[out->n++] = r;
        if (!r.id || !r.cls) {
            st = SSD_E_NOMEM;
            goto done;
        }
    }
done:
    ssd_csv_close(c);
    return st;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

ssd_status ssd_oi_classes(const char *root, char ***names_out, int *count_out) {
    *names_out = NULL;
    *count_out = 0;
    ssd_strlist all = {0};
    row_list rows = {0};
    char **names = NULL;
    int count = 0;
    ssd_status st = SSD_OK;
    bool any = false;
    for (int s = 0; s < 3 && st == SSD_OK; s++) {
        char *p = csv_path(root, ssd_oi_splits[s]);
        if (!p) {
            st = SSD_E_NOMEM;
            break;
        }
        if (is_file(p)) {
            any = true;
            st = read_rows(p, false, &rows);
            for (int64_t i = 0; i < rows.n && st == SSD_OK; i++)
                st = ssd_strlist_push(&all, rows.v[i].cls);
            rows_free(&rows);
        }
        ssd_free(p);
    }
    if (st != SSD_OK) goto done;
    if (!any) {
        st = ssd_error_set(SSD_E_IO, "%s: no sub-{train,validation,test}-annotations-bbox.csv",
                           root);
        goto done;
    }
    qsort(all.v, (size_t)all.n, sizeof *all.v, cmp_str);
    names = ssd_calloc((size_t)all.n + 1, sizeof *names);
    if (!names) {
        st = SSD_E_NOMEM;
        goto done;
    }
    names[count++] = ssd_strdup("BACKGROUND");
    if (!names[0]) st = SSD_E_NOMEM;
    for (int64_t i = 0; i < all.n && st == SSD_OK; i++) {
        if (!strcmp(all.v[i], "BACKGROUND") || (i && !strcmp(all.v[i], all.v[i - 1]))) continue;
        if (!(names[count++] = ssd_strdup(all.v[i]))) st = SSD_E_NOMEM;
    }
    if (st == SSD_OK && count == 1)
        st = ssd_error_set(SSD_E_FORMAT, "%s: the annotation files have no boxes", root);
done:
    ssd_strlist_free(&all);
    rows_free(&rows);
    if (st != SSD_OK) {
        ssd_labels_free(names, count);
        return st;
    }
    *names_out = names;
    *count_out = count;
    return SSD_OK;
}

/* ---- the dataset ------------------------------------------------------------------ */

typedef struct {
    char *id, *path;
    int width, height; /* from the image header */
    int n;
    float *boxes; /* (n,4) normalised */
    int64_t *labels;
} oi_item;

typedef struct {
    oi_item *items;
    int64_t n;
    ssd_oi_stats stats;
    char *csv;
} oi_impl;

static void oi_destroy(ssd_dataset *ds) {
    if (!ds) return;
    oi_impl *o = ds->impl;
    if (o) {
        for (int64_t i = 0; i < o->n; i++) {
            ssd_free(o->items[i].id);
            ssd_free(o->items[i].path);
            ssd_free(o->items[i].boxes);
            ssd_free(o->items[i].labels);
        }
        ssd_free(o->items);
        ssd_free(o->csv);
        ssd_free(o);
    }
    ssd_labels_free(ds->class_names, ds->num_classes);
    ssd_free(ds);
}

static int64_t oi_size(const ssd_dataset *ds) {
    return ((const oi_impl *)ds->impl)->n;
}

static const oi_item *item_at(const ssd_dataset *ds, int64_t i) {
    const oi_impl *o = ds->impl;
    return i >= 0 && i < o->n ? &o->items[i] : NULL;
}

/* The item's boxes in pixels of a w x h image; every object is not difficult. */
static ssd_status scaled(const oi_item *it, int w, int h, ssd_annotation *out) {
    memset(out, 0, sizeof *out);
    if (it->n == 0) return SSD_OK;
    out->boxes = ssd_malloc(sizeof *out->boxes * 4 * (size_t)it->n);
    out->labels = ssd_malloc(sizeof *out->labels * (size_t)it->n);
    out->difficult = ssd_calloc((size_t)it->n, 1);
    if (!out->boxes || !out->labels || !out->difficult) {
        ssd_annotation_free(out);
        return SSD_E_NOMEM;
    }
    for (int k = 0; k < it->n; k++) {
        const float *b = it->boxes + 4 * k;
        float *o = out->boxes + 4 * k;
        o[0] = b[0] * (float)w;
        o[1] = b[1] * (float)h;
        o[2] = b[2] * (float)w;
        o[3] = b[3] * (float)h;
        out->labels[k] = it->labels[k];
    }
    out->n = it->n;
    return SSD_OK;
}

static ssd_status oi_annotation(const ssd_dataset *ds, int64_t i, bool keep_difficult,
                                ssd_annotation *out) {
    (void)keep_difficult; /* Open Images has no difficult flag */
    const oi_item *it = item_at(ds, i);
    if (!it) {
        memset(out, 0, sizeof *out);
        return ssd_error_set(SSD_E_INVAL, "Open Images index %lld out of range", (long long)i);
    }
    return scaled(it, it->width, it->height, out);
}

static ssd_status oi_get(const ssd_dataset *ds, int64_t i, bool keep_difficult, ssd_image *img,
                         ssd_annotation *ann) {
    (void)keep_difficult;
    memset(ann, 0, sizeof *ann);
    memset(img, 0, sizeof *img);
    const oi_item *it = item_at(ds, i);
    if (!it) return ssd_error_set(SSD_E_INVAL, "Open Images index %lld out of range", (long long)i);
    SSD_TRY(ssd_image_load(img, it->path));
    ssd_status st = scaled(it, img->w, img->h, ann);
    if (st != SSD_OK) ssd_image_free(img);
    return st;
}

static const char *oi_image_id(const ssd_dataset *ds, int64_t i) {
    const oi_item *it = item_at(ds, i);
    return it ? it->id : NULL;
}

static const char *oi_image_path(const ssd_dataset *ds, int64_t i) {
    const oi_item *it = item_at(ds, i);
    return it ? it->path : NULL;
}

static const ssd_dataset_ops oi_ops = {oi_size,     oi_annotation, oi_get,
                                       oi_image_id, oi_image_path, oi_destroy};

ssd_status ssd_oi_stats_get(const ssd_dataset *ds, ssd_oi_stats *stats) {
    if (!ds || ds->ops != &oi_ops) return ssd_error_set(SSD_E_INVAL, "not an Open Images dataset");
    const oi_impl *o = ds->impl;
    *stats = o->stats;
    stats->csv_path = o->csv;
    return SSD_OK;
}

/* ---- grouping rows into images ------------------------------------------------------ */

static int cmp_row(const void *a, const void *b) {
    const oi_row *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    if (c) return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int64_t class_index(const ssd_dataset *ds, const char *name) {
    int lo = 1, hi = ds->num_classes - 1; /* [1..] is sorted */
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int c = strcmp(ds->class_names[mid], name);
        if (!c) return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

/* Appends the objects of rows [a, b) (one ImageID) as an item, or drops the image. */
static ssd_status add_image(ssd_dataset *ds, oi_impl *o, const char *root, const char *split,
                            const oi_row *rows, int64_t a, int64_t b) {
    ssd_oi_stats *s = &o->stats;
    oi_item it = {0};
    ssd_status st = SSD_OK;
    s->listed++;
    it.path = ssd_dio_strfmt("%s/%s/%s.jpg", root, split, rows[a].id);
    if (!it.path) return SSD_E_NOMEM;
    if (!is_file(it.path)) {
        if (++s->missing_image <= WARN_SHOWN)
            ssd_warn("missing ImageID %s.jpg - dropping from annotations", rows[a].id);
        goto drop;
    }
    if (ssd_image_size(it.path, &it.width, &it.height) != SSD_OK) {
        if (++s->bad_image <= WARN_SHOWN)
            ssd_warn("unreadable image %s (%s) - dropping from annotations", it.path,
                     ssd_error_message());
        goto drop;
    }
    it.id = ssd_strdup(rows[a].id);
    it.boxes = ssd_malloc(sizeof *it.boxes * 4 * (size_t)(b - a));
    it.labels = ssd_malloc(sizeof *it.labels * (size_t)(b - a));
    if (!it.id || !it.boxes || !it.labels) {
        st = SSD_E_NOMEM;
        goto drop;
    }
    for (int64_t r = a; r < b; r++) {
        float v[4];
        bool clamped = false;
        for (int k = 0; k < 4; k++) {
            v[k] = fminf(fmaxf(rows[r].box[k], 0.f), 1.f);
            clamped |= v[k] != rows[r].box[k];
        }
        if (v[0] >= v[2] || v[1] >= v[3]) {
            if (++s->rejected <= WARN_SHOWN)
                ssd_warn("%s: image %s: %s box %g,%g,%g,%g (XMin,YMin,XMax,YMax) is empty or "
                         "inverted; dropped",
                         o->csv, rows[r].id, rows[r].cls, rows[r].box[0], rows[r].box[1],
                         rows[r].box[2], rows[r].box[3]);
            continue;
        }
        s->clamped += clamped;
        memcpy(it.boxes + 4 * it.n, v, sizeof v);
        it.labels[it.n++] = class_index(ds, rows[r].cls);
    }
    s->objects += it.n;
    o->items[o->n++] = it;
    return SSD_OK;
drop:
    ssd_free(it.id);
    ssd_free(it.path);
    ssd_free(it.boxes);
    ssd_free(it.labels);
    return st;
}

/* --balance-data: every class keeps at most as many of its images as the
 * rarest class has; the union is kept in the original order. */
static ssd_status balance(ssd_dataset *ds, oi_impl *o, uint64_t seed) {
    int L = ds->num_classes;
    int64_t *count = ssd_calloc((size_t)L, sizeof *count);
    int64_t *pick = ssd_malloc(sizeof *pick * (size_t)(o->n ? o->n : 1));
    uint8_t *keep = ssd_calloc((size_t)(o->n ? o->n : 1), 1);
    uint8_t *has = ssd_malloc((size_t)L);
    ssd_status st = SSD_OK;
    if (!count || !pick || !keep || !has) {
        st = SSD_E_NOMEM;
        goto done;
    }
    for (int64_t i = 0; i < o->n; i++) {
        memset(has, 0, (size_t)L);
        for (int k = 0; k < o->items[i].n; k++) has[o->items[i].labels[k]] = 1;
        for (int l = 1; l < L; l++) count[l] += has[l];
    }
    int64_t min = -1;
    for (int l = 1; l < L; l++)
        if (count[l] > 0 && (min < 0 || count[l] < min)) min = count[l];
    o->stats.min_image_num = min;
    if (min < 0) goto done;
    ssd_rng rng;
    for (int l = 1; l < L; l++) {
        int64_t m = 0;
        for (int64_t i = 0; i < o->n; i++)
            for (int k = 0; k < o->items[i].n; k++)
                if (o->items[i].labels[k] == l) {
                    pick[m++] = i;
                    break;
                }
        ssd_rng_init(&rng, seed, ssd_rng_stream(0xba1a, (uint64_t)l));
        ssd_rng_shuffle(&rng, pick, m);
        for (int64_t j = 0; j < m && j < min; j++) keep[pick[j]] = 1;
    }
    int64_t n = 0;
    for (int64_t i = 0; i < o->n; i++) {
        if (keep[i]) {
            o->items[n++] = o->items[i];
            continue;
        }
        o->stats.objects -= o->items[i].n;
        ssd_free(o->items[i].id);
        ssd_free(o->items[i].path);
        ssd_free(o->items[i].boxes);
        ssd_free(o->items[i].labels);
    }
    o->n = n;
done:
    ssd_free(count);
    ssd_free(pick);
    ssd_free(keep);
    ssd_free(has);
    return st;
}

/* The reference prints this summary (its repr) when it opens a dataset. */
static void log_summary(const ssd_dataset *ds, const oi_impl *o) {
    int64_t *per = ssd_calloc((size_t)ds->num_classes, sizeof *per);
    if (!per) return;
    for (int64_t i = 0; i < o->n; i++)
        for (int k = 0; k < o->items[i].n; k++) per[o->items[i].labels[k]]++;
    ssd_info("Dataset Summary: %s", o->csv);
    ssd_info("Number of Images: %lld", (long long)o->n);
    ssd_info("Minimum Number of Images for a Class: %lld", (long long)o->stats.min_image_num);
    ssd_info("Label Distribution:");
    for (int l = 1; l < ds->num_classes; l++)
        ssd_info("\t%s: %lld", ds->class_names[l], (long long)per[l]);
    ssd_free(per);
}

ssd_status ssd_oi_open(ssd_dataset **out, const char *root, const char *split, bool balance_data,
                       uint64_t seed) {
    ssd_status st = SSD_OK;
    row_list rows = {0};
    oi_impl *o = NULL;
    *out = NULL;
    ssd_dataset *ds = ssd_calloc(1, sizeof *ds);
    if (!ds) return SSD_E_NOMEM;
    ds->ops = &oi_ops;
    if (!(o = ssd_calloc(1, sizeof *o))) goto nomem;
    ds->impl = o;
    o->stats.min_image_num = -1;
    if (!(o->csv = csv_path(root, split))) goto nomem;
    if (!is_file(o->csv)) {
        st = ssd_error_set(SSD_E_IO,
                           "%s: not found (an Open Images dataset as `ssd download open-images` "
                           "writes it has sub-{train,validation,test}-annotations-bbox.csv)",
                           o->csv);
        goto fail;
    }
    SSD_CHECK_GOTO(st, ssd_oi_classes(root, &ds->class_names, &ds->num_classes), fail);
    SSD_CHECK_GOTO(st, read_rows(o->csv, true, &rows), fail);
    o->stats.rows = rows.n;
    qsort(rows.v, (size_t)rows.n, sizeof *rows.v, cmp_row);
    int64_t groups = 0;
    for (int64_t i = 0; i < rows.n; i++) groups += !i || strcmp(rows.v[i].id, rows.v[i - 1].id);
    if (!(o->items = ssd_calloc((size_t)(groups ? groups : 1), sizeof *o->items))) goto nomem;
    for (int64_t a = 0; a < rows.n;) {
        int64_t b = a + 1;
        while (b < rows.n && !strcmp(rows.v[b].id, rows.v[a].id)) b++;
        SSD_CHECK_GOTO(st, add_image(ds, o, root, split, rows.v, a, b), fail);
        a = b;
    }
    if (o->stats.missing_image)
        ssd_warn("%s: %lld of %lld images are missing from %s/%s and were dropped", o->csv,
                 (long long)o->stats.missing_image, (long long)o->stats.listed, root, split);
    if (o->stats.bad_image)
        ssd_warn("%s: %lld images could not be read and were dropped", o->csv,
                 (long long)o->stats.bad_image);
    if (o->stats.rejected > WARN_SHOWN)
        ssd_warn("%s: %lld empty or inverted boxes dropped in all (only the first %d shown)",
                 o->csv, (long long)o->stats.rejected, WARN_SHOWN);
    if (o->stats.clamped)
        ssd_info("%s: %lld boxes reaching outside 0..1 were clamped", o->csv,
                 (long long)o->stats.clamped);
    if (balance_data) {
        ssd_info("balancing data");
        SSD_CHECK_GOTO(st, balance(ds, o, seed), fail);
    }
    o->stats.images = o->n;
    ssd_info("num images:  %lld", (long long)o->n);
    log_summary(ds, o);
    rows_free(&rows);
    *out = ds;
    return SSD_OK;
nomem:
    st = SSD_E_NOMEM;
fail:
    rows_free(&rows);
    oi_destroy(ds);
    return st;
}

ssd_status ssd_oi_concat(ssd_dataset **out, const char *const *roots, int n, const char *split,
                         bool balance_data, uint64_t seed) {
    *out = NULL;
    if (n <= 0) return ssd_error_set(SSD_E_INVAL, "no dataset roots given");
    if (n == 1) return ssd_oi_open(out, roots[0], split, balance_data, seed);
    ssd_dataset **parts = ssd_calloc((size_t)n, sizeof *parts);
    if (!parts) return SSD_E_NOMEM;
    ssd_status st = SSD_OK;
    for (int k = 0; k < n && st == SSD_OK; k++)
        st = ssd_oi_open(&parts[k], roots[k], split, balance_data, seed);
    if (st == SSD_OK) {
        st = ssd_dataset_concat(out, parts, n); /* owns parts now */
    } else {
        for (int k = 0; k < n; k++) ssd_dataset_destroy(parts[k]);
    }
    ssd_free(parts);
    return st;
}
