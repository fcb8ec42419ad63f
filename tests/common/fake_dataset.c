#include "fake_dataset.h"

#include "core/mem.h"
#include "core/rng.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    fake_dataset_cfg cfg;
    int64_t *bad;
    char (*names)[32]; /* (n) "fake/%06d.jpg" */
    atomic_long gets;
} fake;

static int64_t fake_size(const ssd_dataset *ds) {
    return ((const fake *)ds->impl)->cfg.n;
}

static bool is_bad(const fake *f, int64_t i) {
    for (int k = 0; k < f->cfg.n_bad; k++)
        if (f->bad[k] == i) return true;
    return false;
}

/* Size and boxes of sample i; the image RNG continues from the same stream. */
static ssd_status make_annotation(const fake *f, int64_t i, ssd_rng *r, int *w, int *h,
                                  ssd_annotation *a) {
    const fake_dataset_cfg *c = &f->cfg;
    memset(a, 0, sizeof *a);
    ssd_rng_init(r, c->seed, (uint64_t)i);
    *w = (int)ssd_rng_int(r, c->min_side, c->max_side + 1);
    *h = (int)ssd_rng_int(r, c->min_side, c->max_side + 1);
    int n = c->max_boxes > 0 ? (int)ssd_rng_int(r, 1, c->max_boxes + 1) : 0;
    a->boxes = ssd_malloc((size_t)(n ? n : 1) * 4 * sizeof(float));
    a->labels = ssd_malloc((size_t)(n ? n : 1) * sizeof(int64_t));
    a->difficult = ssd_calloc((size_t)(n ? n : 1), 1);
    if (!a->boxes || !a->labels || !a->difficult) {
        ssd_annotation_free(a);
        return SSD_E_NOMEM;
    }
    for (int k = 0; k < n; k++) {
        float bw = (float)ssd_rng_range(r, 0.1 * *w, 0.8 * *w);
        float bh = (float)ssd_rng_range(r, 0.1 * *h, 0.8 * *h);
        float x1 = (float)(int)ssd_rng_range(r, 0, *w - bw);
        float y1 = (float)(int)ssd_rng_range(r, 0, *h - bh);
        float *b = a->boxes + 4 * k;
        b[0] = x1, b[1] = y1, b[2] = (float)(int)(x1 + bw), b[3] = (float)(int)(y1 + bh);
        a->labels[k] = c->num_classes > 1 ? ssd_rng_int(r, 1, c->num_classes) : 1;
    }
    a->n = n;
    return SSD_OK;
}

static ssd_status fake_annotation(const ssd_dataset *ds, int64_t i, bool keep_difficult,
                                  ssd_annotation *out) {
    (void)keep_difficult;
    const fake *f = ds->impl;
    ssd_rng r;
    int w, h;
    if (i < 0 || i >= f->cfg.n) return ssd_error_set(SSD_E_INVAL, "fake: index %lld", (long long)i);
    return make_annotation(f, i, &r, &w, &h, out);
}

static ssd_status fake_get(const ssd_dataset *ds, int64_t i, bool keep_difficult, ssd_image *img,
                           ssd_annotation *ann) {
    (void)keep_difficult;
    fake *f = ds->impl;
    atomic_fetch_add(&f->gets, 1);
    memset(img, 0, sizeof *img);
    memset(ann, 0, sizeof *ann);
    if (i < 0 || i >= f->cfg.n) return ssd_error_set(SSD_E_INVAL, "fake: index %lld", (long long)i);
    if (is_bad(f, i))
        return ssd_error_set(SSD_E_FORMAT, "fake/%06lld.jpg: corrupt JPEG data", (long long)i);
    ssd_rng r;
    int w, h;
    SSD_TRY(make_annotation(f, i, &r, &w, &h, ann));
    ssd_status st = ssd_image_alloc(img, w, h, 3);
    if (st != SSD_OK) {
        ssd_annotation_free(ann);
        return st;
    }
    float base[3], gx[3], gy[3];
    for (int c = 0; c < 3; c++) {
        base[c] = (float)ssd_rng_range(&r, 0, 255);
        gx[c] = (float)ssd_rng_range(&r, -200, 200) / w;
        gy[c] = (float)ssd_rng_range(&r, -200, 200) / h;
    }
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            uint8_t *p = img->px + ((size_t)y * w + x) * 3;
            uint32_t noise = ssd_rng_u32(&r);
            for (int c = 0; c < 3; c++) {
                float v = base[c] + gx[c] * x + gy[c] * y + (float)((noise >> (8 * c)) & 31) - 16;
                p[c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
    }
    for (int k = 0; k < ann->n; k++) {
        const float *b = ann->boxes + 4 * k;
        uint8_t col[3] = {(uint8_t)(40 * ann->labels[k]), (uint8_t)(255 - 30 * k), 128};
        for (int y = (int)b[1]; y < (int)b[3]; y++)
            for (int x = (int)b[0]; x < (int)b[2]; x++)
                if ((x + y) % 3) memcpy(img->px + ((size_t)y * w + x) * 3, col, 3);
    }
    return SSD_OK;
}

static const char *fake_id(const ssd_dataset *ds, int64_t i) {
    const fake *f = ds->impl;
    return i >= 0 && i < f->cfg.n ? f->names[i] : "fake/?";
}

static void fake_destroy(ssd_dataset *ds) {
    if (!ds) return;
    fake *f = ds->impl;
    if (f) {
        ssd_free(f->bad);
        ssd_free(f->names);
    }
    ssd_free(f);
    if (ds->class_names) {
        for (int c = 0; c < ds->num_classes; c++) ssd_free(ds->class_names[c]);
        ssd_free(ds->class_names);
    }
    ssd_free(ds);
}

static const ssd_dataset_ops fake_ops = {
    .size = fake_size,
    .annotation = fake_annotation,
    .get = fake_get,
    .image_id = fake_id,
    .image_path = fake_id,
    .destroy = fake_destroy,
};

ssd_status fake_dataset_create(ssd_dataset **out, const fake_dataset_cfg *cfg) {
    *out = NULL;
    if (cfg->n < 0 || cfg->min_side < 1 || cfg->max_side < cfg->min_side)
        return ssd_error_set(SSD_E_INVAL, "fake dataset: bad config");
    ssd_dataset *ds = ssd_calloc(1, sizeof *ds);
    fake *f = ssd_calloc(1, sizeof *f);
    if (!ds || !f) {
        ssd_free(ds);
        ssd_free(f);
        return SSD_E_NOMEM;
    }
    ds->ops = &fake_ops;
    ds->impl = f;
    f->cfg = *cfg;
    ds->num_classes = cfg->num_classes > 1 ? cfg->num_classes : 2;
    ds->class_names = ssd_calloc((size_t)ds->num_classes, sizeof(char *));
    f->bad = ssd_malloc((size_t)(cfg->n_bad > 0 ? cfg->n_bad : 1) * sizeof(int64_t));
    f->names = ssd_malloc((size_t)(cfg->n > 0 ? cfg->n : 1) * sizeof *f->names);
    if (!ds->class_names || !f->bad || !f->names) goto fail;
    for (int64_t i = 0; i < cfg->n; i++)
        snprintf(f->names[i], sizeof f->names[i], "fake/%06lld.jpg", (long long)i);
    if (cfg->n_bad > 0) memcpy(f->bad, cfg->bad, (size_t)cfg->n_bad * sizeof(int64_t));
    f->cfg.bad = f->bad;
    for (int c = 0; c < ds->num_classes; c++) {
        char nm[32];
        snprintf(nm, sizeof nm, c == 0 ? "BACKGROUND" : "class%d", c);
        ds->class_names[c] = ssd_strdup(nm);
        if (!ds->class_names[c]) goto fail;
    }
    *out = ds;
    return SSD_OK;
fail:
    fake_destroy(ds);
    return SSD_E_NOMEM;
}

long fake_dataset_gets(const ssd_dataset *ds) {
    return atomic_load(&((fake *)ds->impl)->gets);
}
