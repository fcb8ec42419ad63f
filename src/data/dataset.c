/* Dataset helpers shared by every kind, and the concatenation of several. */
#include "data/dataset.h"

#include "core/mem.h"

#include <string.h>

void ssd_annotation_free(ssd_annotation *a) {
    if (!a) return;
    ssd_free(a->boxes);
    ssd_free(a->labels);
    ssd_free(a->difficult);
    memset(a, 0, sizeof *a);
}

ssd_status ssd_annotation_copy(ssd_annotation *out, const ssd_annotation *a, bool keep_difficult) {
    memset(out, 0, sizeof *out);
    int n = 0;
    for (int i = 0; i < a->n; i++) n += keep_difficult || !a->difficult[i];
    if (n == 0) return SSD_OK;
    out->boxes = ssd_malloc(sizeof *out->boxes * 4 * (size_t)n);
    out->labels = ssd_malloc(sizeof *out->labels * (size_t)n);
    out->difficult = ssd_malloc((size_t)n);
    if (!out->boxes || !out->labels || !out->difficult) {
        ssd_annotation_free(out);
        return SSD_E_NOMEM;
    }
    for (int i = 0; i < a->n; i++) {
        if (!keep_difficult && a->difficult[i]) continue;
        memcpy(out->boxes + 4 * out->n, a->boxes + 4 * i, sizeof *a->boxes * 4);
        out->labels[out->n] = a->labels[i];
        out->difficult[out->n] = a->difficult[i];
        out->n++;
    }
    return SSD_OK;
}

void ssd_dataset_destroy(ssd_dataset *ds) {
    if (ds) ds->ops->destroy(ds);
}

/* ---- concatenation --------------------------------------------------------- */

typedef struct {
    int n;
    ssd_dataset **parts;
    int64_t *start; /* [n+1] prefix sums of the part sizes */
} concat_impl;

static int64_t cat_size(const ssd_dataset *ds) {
    const concat_impl *c = ds->impl;
    return c->start[c->n];
}

/* Part holding global index i; *local gets the index inside it. */
static const ssd_dataset *locate(const ssd_dataset *ds, int64_t i, int64_t *local) {
    const concat_impl *c = ds->impl;
    if (i < 0 || i >= c->start[c->n]) return NULL;
    int lo = 0, hi = c->n - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (c->start[mid] <= i)
            lo = mid;
        else
            hi = mid - 1;
    }
    *local = i - c->start[lo];
    return c->parts[lo];
}

static ssd_status out_of_range(const ssd_dataset *ds, int64_t i) {
    return ssd_error_set(SSD_E_INVAL, "dataset index %lld out of range (size %lld)", (long long)i,
                         (long long)cat_size(ds));
}

static ssd_status cat_annotation(const ssd_dataset *ds, int64_t i, bool keep_difficult,
                                 ssd_annotation *out) {
    int64_t j;
    const ssd_dataset *p = locate(ds, i, &j);
    if (!p) {
        memset(out, 0, sizeof *out);
        return out_of_range(ds, i);
    }
    return p->ops->annotation(p, j, keep_difficult, out);
}

static ssd_status cat_get(const ssd_dataset *ds, int64_t i, bool keep_difficult, ssd_image *img,
                          ssd_annotation *ann) {
    int64_t j;
    const ssd_dataset *p = locate(ds, i, &j);
    if (!p) {
        memset(img, 0, sizeof *img);
        memset(ann, 0, sizeof *ann);
        return out_of_range(ds, i);
    }
    return p->ops->get(p, j, keep_difficult, img, ann);
}

static const char *cat_image_id(const ssd_dataset *ds, int64_t i) {
    int64_t j;
    const ssd_dataset *p = locate(ds, i, &j);
    return p ? p->ops->image_id(p, j) : NULL;
}

static const char *cat_image_path(const ssd_dataset *ds, int64_t i) {
    int64_t j;
    const ssd_dataset *p = locate(ds, i, &j);
    return p ? p->ops->image_path(p, j) : NULL;
}

static void cat_destroy(ssd_dataset *ds) {
    concat_impl *c = ds->impl;
    if (c) {
        for (int k = 0; k < c->n; k++) ssd_dataset_destroy(c->parts[k]);
        ssd_free(c->parts);
        ssd_free(c->start);
        ssd_free(c);
    }
    /* class_names are borrowed from parts[0], which is gone now. */
    ssd_free(ds);
}

static const ssd_dataset_ops concat_ops = {cat_size,     cat_annotation, cat_get,
                                           cat_image_id, cat_image_path, cat_destroy};

static bool same_classes(const ssd_dataset *a, const ssd_dataset *b) {
    if (a->num_classes != b->num_classes) return false;
    for (int k = 0; k < a->num_classes; k++)
        if (strcmp(a->class_names[k], b->class_names[k])) return false;
    return true;
}

ssd_status ssd_dataset_concat(ssd_dataset **out, ssd_dataset **parts, int n) {
    ssd_status st = SSD_OK;
    ssd_dataset *ds = NULL;
    concat_impl *c = NULL;
    *out = NULL;
    if (n <= 0) {
        st = ssd_error_set(SSD_E_INVAL, "no datasets to concatenate");
        goto fail;
    }
    for (int k = 1; k < n; k++)
        if (!same_classes(parts[0], parts[k])) {
            st = ssd_error_set(SSD_E_INVAL,
                               "datasets %d and %d have different class lists (%d and %d classes "
                               "including BACKGROUND); give them the same labels.txt",
                               1, k + 1, parts[0]->num_classes, parts[k]->num_classes);
            goto fail;
        }
    ds = ssd_calloc(1, sizeof *ds);
    c = ssd_calloc(1, sizeof *c);
    if (!ds || !c) goto nomem;
    c->parts = ssd_malloc(sizeof *c->parts * (size_t)n);
    c->start = ssd_malloc(sizeof *c->start * (size_t)(n + 1));
    if (!c->parts || !c->start) goto nomem;
    c->start[0] = 0;
    for (int k = 0; k < n; k++) {
        c->parts[k] = parts[k];
        c->start[k + 1] = c->start[k] + ssd_dataset_size(parts[k]);
    }
    c->n = n;
    ds->ops = &concat_ops;
    ds->impl = c;
    ds->num_classes = parts[0]->num_classes;
    ds->class_names = parts[0]->class_names;
    *out = ds;
    return SSD_OK;
nomem:
    st = SSD_E_NOMEM;
fail:
    if (c) {
        ssd_free(c->parts);
        ssd_free(c->start);
        ssd_free(c);
    }
    ssd_free(ds);
    for (int k = 0; k < n; k++) ssd_dataset_destroy(parts[k]);
    return st;
}
