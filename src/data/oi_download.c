/* The Open Images downloader's selection and fetch steps; see oi_download.h. */
#include "data/oi_download.h"

#include "core/fileio.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/rng.h"
#include "core/strbuf.h"
#include "data/csv.h"
#include "data/data_io.h"
#include "data/image.h"
#include "data/open_images.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void ssd_oi_download_cfg_default(ssd_oi_download_cfg *c) {
    memset(c, 0, sizeof *c);
    c->root = "data";
    c->max_images = -1;
    c->max_annotations_per_class = -1;
    c->class_list_url = SSD_OI_CLASS_LIST_URL;
    c->annotations_url = SSD_OI_ANNOTATIONS_URL;
    c->images_url = SSD_OI_IMAGES_URL;
    ssd_http_cfg_default(&c->http);
}

/* ---- the selection ------------------------------------------------------------- */

typedef struct {
    char *blob;           /* the source fields, NUL-separated */
    const char *image_id; /* into blob */
    int cls;              /* index into the selection's classes */
    float box[4];         /* XMin, YMin, XMax, YMax */
    bool group;
} sel_row;

typedef struct {
    sel_row *v;
    int64_t n, cap;
    char **header;
    int nheader;
} split_rows;

struct ssd_oi_selection {
    int nclasses;
    char **class_ids, **class_names; /* in the class list's order */
    int *by_id;                      /* class indices sorted by id, for lookups */
    split_rows split[3];
};

static void strs_free(char **v, int n) {
    if (!v) return;
    for (int i = 0; i < n; i++) ssd_free(v[i]);
    ssd_free(v);
}

void ssd_oi_selection_free(ssd_oi_selection *s) {
    if (!s) return;
    for (int d = 0; d < 3; d++) {
        for (int64_t i = 0; i < s->split[d].n; i++) ssd_free(s->split[d].v[i].blob);
        ssd_free(s->split[d].v);
        strs_free(s->split[d].header, s->split[d].nheader);
    }
    strs_free(s->class_ids, s->nclasses);
    strs_free(s->class_names, s->nclasses);
    ssd_free(s->by_id);
    ssd_free(s);
}

static char *trim(char *s) {
    while (*s && isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = 0;
    return s;
}

/* ---- step 1a: fetching the lists --------------------------------------------------- */

static ssd_status fetch_lists(const ssd_oi_download_cfg *cfg) {
    char *urls[4] = {0}, *dests[4] = {0};
    ssd_http_item items[4];
    ssd_status st = SSD_OK;
    memset(items, 0, sizeof items);
    urls[0] = ssd_strdup(cfg->class_list_url);
    dests[0] = ssd_dio_strfmt("%s/class-descriptions-boxable.csv", cfg->root);
    for (int d = 0; d < 3; d++) {
        const char *s = ssd_oi_splits[d];
        urls[d + 1] = ssd_dio_strfmt("%s/%s/%s-annotations-bbox.csv", cfg->annotations_url, s, s);
        dests[d + 1] = ssd_dio_strfmt("%s/%s-annotations-bbox.csv", cfg->root, s);
    }
    for (int k = 0; k < 4; k++) {
        if (!urls[k] || !dests[k]) {
            st = SSD_E_NOMEM;
            goto done;
        }
        items[k].url = urls[k];
        items[k].dest = dests[k];
        if (ssd_path_exists(dests[k]))
            ssd_info("%s is already there.", dests[k]);
        else
            ssd_info("Download %s.", urls[k]);
    }
    ssd_http_cfg h = cfg->http;
    h.verify = NULL;
    h.label = cfg->http.label ? "annotations" : NULL;
    h.log_every = 0;
    ssd_http_summary sum;
    SSD_CHECK_GOTO(st, ssd_http_fetch(items, 4, &h, &sum), done);
    for (int k = 0; k < 4; k++)
        if (items[k].result == SSD_HTTP_NOT_FOUND || items[k].result == SSD_HTTP_FAILED) {
            st = ssd_error_set(SSD_E_IO, "%s: cannot download: %s", urls[k], items[k].error);
            goto done;
        }
done:
    for (int k = 0; k < 4; k++) {
        ssd_free(urls[k]);
        ssd_free(dests[k]);
    }
    return st;
}

/* ---- step 1b: the classes ----------------------------------------------------------- */

static const ssd_oi_selection *sort_ctx;
static int cmp_by_id(const void *a, const void *b) {
    return strcmp(sort_ctx->class_ids[*(const int *)a], sort_ctx->class_ids[*(const int *)b]);
}

static int find_class(const ssd_oi_selection *s, const char *id) {
    int lo = 0, hi = s->nclasses - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int c = strcmp(s->class_ids[s->by_id[mid]], id);
        if (!c) return s->by_id[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

static ssd_status add_class(ssd_oi_selection *s, const char *id, const char *name) {
    char **ni = ssd_realloc(s->class_ids, sizeof *ni * (size_t)(s->nclasses + 1));
    if (!ni) return SSD_E_NOMEM;
    s->class_ids = ni;
    char **nn = ssd_realloc(s->class_names, sizeof *nn * (size_t)(s->nclasses + 1));
    if (!nn) return SSD_E_NOMEM;
    s->class_names = nn;
    ni[s->nclasses] = ssd_strdup(id);
    nn[s->nclasses] = ssd_strdup(name);
    s->nclasses++;
    return ni[s->nclasses - 1] && nn[s->nclasses - 1] ? SSD_OK : SSD_E_NOMEM;
}

static ssd_status match_classes(const ssd_oi_download_cfg *cfg, ssd_oi_selection *s) {
    char *want = NULL, *path = NULL;
    char **names = NULL;
    bool *found = NULL;
    int nwant = 0;
    ssd_csv *c = NULL;
    ssd_status st = SSD_OK;
    if (!cfg->class_names || !*cfg->class_names)
        return ssd_error_set(SSD_E_INVAL, "--class-names is required (comma-separated)");
    if (!(want = ssd_strdup(cfg->class_names))) return SSD_E_NOMEM;
    size_t len = strlen(want);
    names = ssd_calloc(len / 2 + 2, sizeof *names);
    if (!names) {
        st = SSD_E_NOMEM;
        goto done;
    }
    for (char *tok = want, *next; tok; tok = next) {
        next = strchr(tok, ',');
        if (next) *next++ = 0;
        char *t = trim(tok);
        if (*t) names[nwant++] = t;
    }
    if (nwant == 0) {
        st = ssd_error_set(SSD_E_INVAL, "--class-names '%s' names no class", cfg->class_names);
        goto done;
    }
    if (!(found = ssd_calloc((size_t)nwant, sizeof *found))) {
        st = SSD_E_NOMEM;
        goto done;
    }
    if (!(path = ssd_dio_strfmt("%s/class-descriptions-boxable.csv", cfg->root))) {
        st = SSD_E_NOMEM;
        goto done;
    }
    SSD_CHECK_GOTO(st, ssd_csv_open(&c, path), done);
    for (;;) {
        bool got;
        SSD_CHECK_GOTO(st, ssd_csv_next(c, &got), done);
        if (!got) break;
        SSD_CHECK_GOTO(st, ssd_csv_expect_fields(c, 2), done);
        const char *id = ssd_csv_field(c, 0), *name = ssd_csv_field(c, 1);
        bool match = false;
        for (int k = 0; k < nwant; k++)
            if (!strcasecmp(names[k], name)) match = found[k] = true;
        if (match) SSD_CHECK_GOTO(st, add_class(s, id, name), done);
    }
    ssd_info("Requested %d classes, found %d classes", nwant, s->nclasses);
    {
        size_t cap = strlen(cfg->class_names) + 1, used = 0;
        char *missing = ssd_calloc(cap, 1);
        if (!missing) {
            st = SSD_E_NOMEM;
            goto done;
        }
        for (int k = 0; k < nwant; k++)
            if (!found[k]) {
                ssd_warn("Couldn't find class '%s'", names[k]);
                used +=
                    (size_t)snprintf(missing + used, cap - used, "%s%s", used ? "," : "", names[k]);
            }
        if (used)
            st = ssd_error_set(SSD_E_INVAL,
                               "Couldn't find classes '%s' in the Open Images dataset (%s). Please "
                               "confirm that the --class-names argument contains valid classes.",
                               missing, path);
        ssd_free(missing);
        if (st != SSD_OK) goto done;
    }
    if (!(s->by_id = ssd_malloc(sizeof *s->by_id * (size_t)s->nclasses))) {
        st = SSD_E_NOMEM;
        goto done;
    }
    for (int k = 0; k < s->nclasses; k++) s->by_id[k] = k;
    sort_ctx = s;
    qsort(s->by_id, (size_t)s->nclasses, sizeof *s->by_id, cmp_by_id);
    sort_ctx = NULL;
done:
    ssd_csv_close(c);
    ssd_free(path);
    ssd_free(found);
    ssd_free(names);
    ssd_free(want);
    return st;
}

/* ---- step 1c: the annotations -------------------------------------------------------- */

enum { A_ID, A_LABEL, A_XMIN, A_YMIN, A_XMAX, A_YMAX, A_DEPICTION, A_GROUP, A_N };
static const char *const acols[A_N] = {"ImageID", "LabelName", "XMin",        "YMin",
                                       "XMax",    "YMax",      "IsDepiction", "IsGroupOf"};
static const bool aoptional[A_N] = {false, false, false, false, false, false, true, true};

static ssd_status push_row(split_rows *r, const sel_row *row) {
    if (r->n == r->cap) {
        int64_t nc = r->cap ? r->cap * 2 : 1024;
        sel_row *nv = ssd_realloc(r->v, sizeof *nv * (size_t)nc);
        if (!nv) return SSD_E_NOMEM;
        r->v = nv;
        r->cap = nc;
    }
    r->v[r->n++] = *row;
    return SSD_OK;
}

/* The current record's fields joined with NULs (each field's own NUL kept). */
static char *join_fields(const ssd_csv *c, int n, int id_col, const char **id_out) {
    size_t len = 0;
    for (int i = 0; i < n; i++) len += strlen(ssd_csv_field(c, i)) + 1;
    char *b = ssd_malloc(len ? len : 1);
    if (!b) return NULL;
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        const char *f = ssd_csv_field(c, i);
        size_t l = strlen(f) + 1;
        memcpy(b + at, f, l);
        if (i == id_col) *id_out = b + at;
        at += l;
    }
    return b;
}

static bool parse_num(const char *s, double *v) {
    if (!*s) return false;
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return *end == 0 && errno == 0 && isfinite(*v);
}

static ssd_status read_split(const ssd_oi_download_cfg *cfg, ssd_oi_selection *s, int d) {
    split_rows *r = &s->split[d];
    char *path = ssd_dio_strfmt("%s/%s-annotations-bbox.csv", cfg->root, ssd_oi_splits[d]);
    if (!path) return SSD_E_NOMEM;
    ssd_csv *c = NULL;
    int idx[A_N];
    int64_t depictions = 0;
    ssd_info("Read annotation file %s", path);
    ssd_status st = ssd_csv_open(&c, path);
    if (st != SSD_OK) goto done;
    SSD_CHECK_GOTO(st, ssd_csv_header(c, A_N, acols, aoptional, idx), done);
    int nf = ssd_csv_nfields(c);
    if (!(r->header = ssd_calloc((size_t)nf + 2, sizeof *r->header))) goto nomem;
    for (int i = 0; i < nf; i++)
        if (!(r->header[r->nheader++] = ssd_strdup(ssd_csv_field(c, i)))) goto nomem;
    /* The reference's merge with the class list adds these two columns. */
    if (!(r->header[r->nheader++] = ssd_strdup("id"))) goto nomem;
    if (!(r->header[r->nheader++] = ssd_strdup("ClassName"))) goto nomem;
    for (;;) {
        bool got;
        SSD_CHECK_GOTO(st, ssd_csv_next(c, &got), done);
        if (!got) break;
        SSD_CHECK_GOTO(st, ssd_csv_expect_fields(c, nf), done);
        int cls = find_class(s, ssd_csv_field(c, idx[A_LABEL]));
        if (cls < 0) continue;
        double dep = 0, grp = 0;
        if (idx[A_DEPICTION] >= 0 && !parse_num(ssd_csv_field(c, idx[A_DEPICTION]), &dep)) dep = 0;
        if (idx[A_GROUP] >= 0 && !parse_num(ssd_csv_field(c, idx[A_GROUP]), &grp)) grp = 0;
        if (!cfg->include_depiction && dep == 1) {
            depictions++;
            continue;
        }
        sel_row row = {0};
        row.cls = cls;
        row.group = grp == 1;
        static const int order[4] = {A_XMIN, A_YMIN, A_XMAX, A_YMAX};
        for (int k = 0; k < 4; k++) {
            double v;
            const char *f = ssd_csv_field(c, idx[order[k]]);
            if (!parse_num(f, &v)) {
                st = ssd_error_set(SSD_E_FORMAT, "%s:%ld: %s is not a number: '%s'", path,
                                   ssd_csv_line(c), acols[order[k]], f);
                goto done;
            }
            row.box[k] = (float)v;
        }
        const char *id = ssd_csv_field(c, idx[A_ID]);
        if (!*id || strchr(id, '/') || !strcmp(id, ".") || !strcmp(id, "..")) {
            st = ssd_error_set(SSD_E_FORMAT, "%s:%ld: bad ImageID '%s'", path, ssd_csv_line(c), id);
            goto done;
        }
        if (!(row.blob = join_fields(c, nf, idx[A_ID], &row.image_id))) goto nomem;
        st = push_row(r, &row);
        if (st != SSD_OK) {
            ssd_free(row.blob);
            goto done;
        }
    }
    if (depictions) ssd_debug("%s: %lld depiction boxes dropped", path, (long long)depictions);
    goto done;
nomem:
    st = SSD_E_NOMEM;
done:
    ssd_csv_close(c);
    ssd_free(path);
    return st;
}

/* ---- step 1d: filters and caps --------------------------------------------------------- */

static const split_rows *cmp_rows_ctx;
static int cmp_image_class(const void *a, const void *b) {
    const sel_row *x = &cmp_rows_ctx->v[*(const int64_t *)a],
                  *y = &cmp_rows_ctx->v[*(const int64_t *)b];
    int c = strcmp(x->image_id, y->image_id);
    if (c) return c;
    if (x->cls != y->cls) return x->cls < y->cls ? -1 : 1;
    return *(const int64_t *)a < *(const int64_t *)b ? -1 : 1;
}

/* Row indices ordered by (ImageID, class, position). */
static int64_t *sorted_rows(const split_rows *r) {
    int64_t *ix = ssd_malloc(sizeof *ix * (size_t)(r->n ? r->n : 1));
    if (!ix) return NULL;
    for (int64_t i = 0; i < r->n; i++) ix[i] = i;
    cmp_rows_ctx = r;
    qsort(ix, (size_t)r->n, sizeof *ix, cmp_image_class);
    cmp_rows_ctx = NULL;
    return ix;
}

/* Drops the rows whose keep[] is 0, keeping the order. */
static void compact(split_rows *r, const uint8_t *keep) {
    int64_t n = 0;
    for (int64_t i = 0; i < r->n; i++) {
        if (keep[i])
            r->v[n++] = r->v[i];
        else
            ssd_free(r->v[i].blob);
    }
    r->n = n;
}

static double covered_fraction(const float *single, const float *group) {
    double w = fmin(single[2], group[2]) - fmax(single[0], group[0]);
    double h = fmin(single[3], group[3]) - fmax(single[1], group[1]);
    double area = ((double)single[2] - single[0]) * ((double)single[3] - single[1]);
    if (w <= 0 || h <= 0 || area <= 0) return 0;
    return w * h / area;
}

/* A single (not IsGroupOf) box at least half inside a group box of its class
 * in the same image duplicates what the group box says: drop it. */
static ssd_status remove_overlapped(split_rows *r, int64_t *removed) {
    int64_t *ix = sorted_rows(r);
    uint8_t *keep = ssd_malloc((size_t)(r->n ? r->n : 1));
    if (!ix || !keep) {
        ssd_free(ix);
        ssd_free(keep);
        return SSD_E_NOMEM;
    }
    memset(keep, 1, (size_t)r->n);
    for (int64_t a = 0; a < r->n;) {
        int64_t b = a + 1;
        const sel_row *ra = &r->v[ix[a]];
        while (b < r->n && r->v[ix[b]].cls == ra->cls &&
               !strcmp(r->v[ix[b]].image_id, ra->image_id))
            b++;
        for (int64_t i = a; i < b; i++) {
            const sel_row *single = &r->v[ix[i]];
            if (single->group) continue;
            for (int64_t j = a; j < b; j++) {
                const sel_row *g = &r->v[ix[j]];
                if (g->group && covered_fraction(single->box, g->box) >= 0.5) {
                    keep[ix[i]] = 0;
                    (*removed)++;
                    break;
                }
            }
        }
        a = b;
    }
    compact(r, keep);
    ssd_free(ix);
    ssd_free(keep);
    return SSD_OK;
}

/* The distinct ImageIDs of r, sorted (pointers into the rows). */
static ssd_status unique_images(const split_rows *r, const char ***out, int64_t *n) {
    *out = NULL;
    *n = 0;
    int64_t *ix = sorted_rows(r);
    const char **ids = ssd_malloc(sizeof *ids * (size_t)(r->n ? r->n : 1));
    if (!ix || !ids) {
        ssd_free(ix);
        ssd_free(ids);
        return SSD_E_NOMEM;
    }
    int64_t m = 0;
    for (int64_t i = 0; i < r->n; i++) {
        const char *id = r->v[ix[i]].image_id;
        if (!m || strcmp(ids[m - 1], id)) ids[m++] = id;
    }
    ssd_free(ix);
    *out = ids;
    *n = m;
    return SSD_OK;
}

static int64_t count_images(const split_rows *r) {
    const char **ids = NULL;
    int64_t n = 0;
    if (unique_images(r, &ids, &n) != SSD_OK) return -1;
    ssd_free(ids);
    return n;
}

static int cmp_cstr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Keeps the rows whose image is in ids[0..n) (sorted). */
static ssd_status keep_images(split_rows *r, const char **ids, int64_t n) {
    uint8_t *keep = ssd_malloc((size_t)(r->n ? r->n : 1));
    if (!keep) return SSD_E_NOMEM;
    qsort(ids, (size_t)n, sizeof *ids, cmp_cstr);
    for (int64_t i = 0; i < r->n; i++)
        keep[i] = bsearch(&r->v[i].image_id, ids, (size_t)n, sizeof *ids, cmp_cstr) != NULL;
    compact(r, keep);
    ssd_free(keep);
    return SSD_OK;
}

static ssd_status cap_images(const ssd_oi_download_cfg *cfg, ssd_oi_selection *s, int64_t total) {
    for (int d = 0; d < 3; d++) {
        split_rows *r = &s->split[d];
        const char **ids = NULL;
        int64_t n = 0;
        SSD_TRY(unique_images(r, &ids, &n));
        /* The reference's share: int(max * n / total), each split on its own. */
        int64_t k = (int64_t)floor((double)cfg->max_images * ((double)n / (double)total));
        ssd_rng rng;
        ssd_rng_init(&rng, cfg->seed, ssd_rng_stream(0x1a6e, (uint64_t)d));
        for (int64_t i = n - 1; i > 0; i--) { /* Fisher-Yates over the pointers */
            int64_t j = ssd_rng_int(&rng, 0, i + 1);
            const char *t = ids[i];
            ids[i] = ids[j];
            ids[j] = t;
        }
        if (k > n) k = n;
        /* The kept ids point into rows that keep_images may free: copy them first. */
        char **kept = ssd_calloc((size_t)(k ? k : 1), sizeof *kept);
        ssd_status st = kept ? SSD_OK : SSD_E_NOMEM;
        for (int64_t i = 0; i < k && st == SSD_OK; i++)
            if (!(kept[i] = ssd_strdup(ids[i]))) st = SSD_E_NOMEM;
        ssd_free(ids);
        if (st == SSD_OK) st = keep_images(r, (const char **)kept, k);
        strs_free(kept, (int)k);
        SSD_TRY(st);
        ssd_info("Limiting %s dataset to:  %lld images (%lld boxes)", ssd_oi_splits[d],
                 (long long)k, (long long)r->n);
    }
    return SSD_OK;
}

static ssd_status cap_boxes(const ssd_oi_download_cfg *cfg, ssd_oi_selection *s) {
    int64_t cap = cfg->max_annotations_per_class;
    for (int d = 0; d < 3; d++) {
        split_rows *r = &s->split[d];
        if (!r->n) continue;
        uint8_t *keep = ssd_malloc((size_t)r->n);
        int64_t *ix = ssd_malloc(sizeof *ix * (size_t)r->n);
        if (!keep || !ix) {
            ssd_free(keep);
            ssd_free(ix);
            return SSD_E_NOMEM;
        }
        memset(keep, 1, (size_t)r->n);
        for (int c = 0; c < s->nclasses; c++) {
            int64_t m = 0;
            for (int64_t i = 0; i < r->n; i++)
                if (r->v[i].cls == c) ix[m++] = i;
            if (m <= cap) continue;
            ssd_rng rng;
            ssd_rng_init(&rng, cfg->seed, ssd_rng_stream(0xb0c5 + (uint64_t)d, (uint64_t)c));
            ssd_rng_shuffle(&rng, ix, m);
            for (int64_t j = cap; j < m; j++) keep[ix[j]] = 0;
            ssd_info("Limiting '%s' in %s dataset to:  %lld boxes", s->class_names[c],
                     ssd_oi_splits[d], (long long)cap);
        }
        compact(r, keep);
        ssd_free(keep);
        ssd_free(ix);
    }
    return SSD_OK;
}

void ssd_oi_selection_counts(const ssd_oi_selection *s, ssd_oi_counts *c) {
    memset(c, 0, sizeof *c);
    for (int d = 0; d < 3; d++) {
        c->images[d] = count_images(&s->split[d]);
        c->boxes[d] = s->split[d].n;
        c->total_images += c->images[d];
        c->total_boxes += c->boxes[d];
    }
}

ssd_status ssd_oi_select(const ssd_oi_download_cfg *cfg, ssd_oi_selection **out) {
    *out = NULL;
    ssd_oi_selection *s = ssd_calloc(1, sizeof *s);
    if (!s) return SSD_E_NOMEM;
    ssd_status st = ssd_mkdir_p(cfg->root);
    if (st == SSD_OK) st = fetch_lists(cfg);
    if (st == SSD_OK) st = match_classes(cfg, s);
    for (int d = 0; d < 3 && st == SSD_OK; d++) {
        st = read_split(cfg, s, d);
        int64_t removed = 0;
        if (st == SSD_OK && cfg->remove_overlapped) {
            st = remove_overlapped(&s->split[d], &removed);
            ssd_info("Removed %lld single boxes covered by group boxes from %s", (long long)removed,
                     ssd_oi_splits[d]);
        }
        if (st == SSD_OK) {
            ssd_info("Available %s images:  %lld", ssd_oi_splits[d],
                     (long long)count_images(&s->split[d]));
            ssd_info("Available %s boxes:   %lld", ssd_oi_splits[d], (long long)s->split[d].n);
        }
    }
    ssd_oi_counts n;
    if (st == SSD_OK) {
        ssd_oi_selection_counts(s, &n);
        ssd_info("Total available images: %lld", (long long)n.total_images);
        ssd_info("Total available boxes:  %lld", (long long)n.total_boxes);
        if (cfg->max_images > 0 && n.total_images > cfg->max_images)
            st = cap_images(cfg, s, n.total_images);
    }
    if (st == SSD_OK && cfg->max_annotations_per_class > 0) {
        st = cap_boxes(cfg, s);
        ssd_oi_selection_counts(s, &n);
        ssd_info("Total images after limiting annotations per-class: %lld",
                 (long long)n.total_images);
        ssd_info("Total boxes after limiting annotations per-class:  %lld",
                 (long long)n.total_boxes);
    }
    if (st != SSD_OK) {
        ssd_oi_selection_free(s);
        return st;
    }
    *out = s;
    return SSD_OK;
}

/* ---- step 2: statistics ------------------------------------------------------------------ */

typedef struct {
    const char *name;
    int64_t n;
} class_count;

static int cmp_count(const void *a, const void *b) {
    const class_count *x = a, *y = b;
    if (x->n != y->n) return x->n > y->n ? -1 : 1;
    return strcmp(x->name, y->name);
}

char *ssd_oi_stats_format(const ssd_oi_selection *s) {
    ssd_strbuf b = {0};
    ssd_oi_counts n;
    ssd_oi_selection_counts(s, &n);
    class_count *cc = ssd_calloc((size_t)s->nclasses + 1, sizeof *cc);
    if (!cc) return NULL;
    static const char *rule = "-------------------------------------";
    for (int d = 0; d < 3; d++) {
        const split_rows *r = &s->split[d];
        ssd_strbuf_printf(&b, "\n%s\n '%s' set statistics\n%s\n", rule, ssd_oi_splits[d], rule);
        ssd_strbuf_printf(&b, "  Image count:  %lld\n", (long long)n.images[d]);
        ssd_strbuf_printf(&b, "  Bounding box count:  %lld\n", (long long)r->n);
        ssd_strbuf_printf(&b, "  Bounding box distribution: \n");
        for (int c = 0; c < s->nclasses; c++) {
            cc[c].name = s->class_names[c];
            cc[c].n = 0;
        }
        for (int64_t i = 0; i < r->n; i++) cc[r->v[i].cls].n++;
        qsort(cc, (size_t)s->nclasses, sizeof *cc, cmp_count);
        for (int c = 0; c < s->nclasses; c++)
            if (cc[c].n)
                ssd_strbuf_printf(&b, "    %s:  %lld/%lld = %.2f\n", cc[c].name, (long long)cc[c].n,
                                  (long long)r->n, (double)cc[c].n / (double)r->n);
        ssd_strbuf_printf(&b, " \n");
    }
    ssd_strbuf_printf(&b, "\n%s\n Overall statistics\n%s\n", rule, rule);
    ssd_strbuf_printf(&b, "  Image count:  %lld\n", (long long)n.total_images);
    ssd_strbuf_printf(&b, "  Bounding box count:  %lld\n\n", (long long)n.total_boxes);
    ssd_free(cc);
    if (b.oom) {
        ssd_strbuf_free(&b);
        ssd_error_set(SSD_E_NOMEM, "out of memory");
        return NULL;
    }
    return b.s;
}

/* ---- step 3: the files ---------------------------------------------------------------------- */

static ssd_status write_sub_csv(const char *root, const ssd_oi_selection *s, int d) {
    const split_rows *r = &s->split[d];
    char *path = ssd_dio_strfmt("%s/sub-%s-annotations-bbox.csv", root, ssd_oi_splits[d]);
    const char **f = ssd_malloc(sizeof *f * (size_t)(r->nheader ? r->nheader : 1));
    ssd_afile af = {0};
    ssd_status st = path && f ? SSD_OK : SSD_E_NOMEM;
    if (st == SSD_OK) {
        ssd_info("Saving '%s' data to %s.", ssd_oi_splits[d], path);
        st = ssd_afile_open(&af, path);
    }
    if (st == SSD_OK) st = ssd_csv_write_row(&af, (const char *const *)r->header, r->nheader);
    for (int64_t i = 0; i < r->n && st == SSD_OK; i++) {
        const char *p = r->v[i].blob;
        for (int k = 0; k < r->nheader - 2; k++) {
            f[k] = p;
            p += strlen(p) + 1;
        }
        f[r->nheader - 2] = s->class_ids[r->v[i].cls];
        f[r->nheader - 1] = s->class_names[r->v[i].cls];
        st = ssd_csv_write_row(&af, f, r->nheader);
    }
    if (st == SSD_OK)
        st = ssd_afile_commit(&af);
    else if (af.fp)
        ssd_afile_abort(&af);
    ssd_free(path);
    ssd_free(f);
    return st;
}

static bool verify_image(const char *path, void *ctx, char *why, size_t n) {
    (void)ctx;
    ssd_image img;
    ssd_status st = ssd_image_load(&img, path);
    if (st != SSD_OK) {
        snprintf(why, n, "%s", ssd_error_message());
        return false;
    }
    ssd_image_free(&img);
    return true;
}

ssd_status ssd_oi_fetch_images(const ssd_oi_download_cfg *cfg, const ssd_oi_selection *s,
                               ssd_oi_fetch_result *res) {
    memset(res, 0, sizeof *res);
    ssd_status st = SSD_OK;
    int64_t total = 0;
    for (int d = 0; d < 3 && st == SSD_OK; d++) {
        char *dir = ssd_dio_strfmt("%s/%s", cfg->root, ssd_oi_splits[d]);
        st = dir ? ssd_mkdir_p(dir) : SSD_E_NOMEM;
        ssd_free(dir);
        if (st == SSD_OK) st = write_sub_csv(cfg->root, s, d);
        total += s->split[d].n; /* an upper bound on the images */
    }
    if (st != SSD_OK) return st;
    ssd_http_item *items = ssd_calloc((size_t)(total ? total : 1), sizeof *items);
    if (!items) return SSD_E_NOMEM;
    int64_t n = 0;
    for (int d = 0; d < 3 && st == SSD_OK; d++) {
        const char **ids = NULL;
        int64_t m = 0;
        st = unique_images(&s->split[d], &ids, &m);
        for (int64_t i = 0; i < m && st == SSD_OK; i++) {
            const char *sp = ssd_oi_splits[d];
            items[n].url = ssd_dio_strfmt("%s/%s/%s.jpg", cfg->images_url, sp, ids[i]);
            items[n].dest = ssd_dio_strfmt("%s/%s/%s.jpg", cfg->root, sp, ids[i]);
            n++;
            if (!items[n - 1].url || !items[n - 1].dest) st = SSD_E_NOMEM;
        }
        ssd_free(ids);
    }
    res->images = n;
    if (st == SSD_OK) {
        ssd_info("Starting to download %lld images.", (long long)n);
        ssd_http_cfg h = cfg->http;
        h.verify = verify_image;
        if (h.label) h.label = "images";
        st = ssd_http_fetch(items, n, &h, &res->http);
    }
    for (int64_t i = 0; i < n; i++) {
        ssd_free((char *)items[i].url);
        ssd_free((char *)items[i].dest);
    }
    ssd_free(items);
    return st;
}
