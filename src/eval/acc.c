/* Collected ground truth and detections, and the metrics over all classes. */
#include "eval/eval_internal.h"

#include "core/mem.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ssd_eval_metric_params_default(ssd_eval_metric_params *p) {
    p->iou_threshold = 0.5;
    p->use_2007_metric = true;
    p->score_threshold = 0.5;
}

ssd_status ssd_eval_acc_create(ssd_eval_acc **out, int num_classes) {
    *out = NULL;
    if (num_classes < 1)
        return ssd_error_set(SSD_E_INVAL, "eval: %d classes (BACKGROUND included)", num_classes);
    ssd_eval_acc *a = ssd_calloc(1, sizeof *a);
    if (!a) return SSD_E_NOMEM;
    a->num_classes = num_classes;
    *out = a;
    return SSD_OK;
}

void ssd_eval_acc_destroy(ssd_eval_acc *a) {
    if (!a) return;
    ssd_free(a->img);
    ssd_free(a->gt);
    ssd_free(a->det);
    ssd_free(a);
}

int64_t ssd_eval_acc_images(const ssd_eval_acc *a) {
    return a->nimg;
}

/* Grows *p (elements of size sz) to hold need elements; *cap doubles. */
static ssd_status grow(void **p, int64_t *cap, int64_t need, size_t sz) {
    if (need <= *cap) return SSD_OK;
    int64_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *q = ssd_realloc(*p, (size_t)c * sz);
    if (!q) return SSD_E_NOMEM;
    *p = q;
    *cap = c;
    return SSD_OK;
}

ssd_status ssd_eval_acc_add(ssd_eval_acc *a, int64_t image, const ssd_annotation *gt,
                            const ssd_detection *det, int n) {
    int ngt = gt ? gt->n : 0;
    if (ngt < 0 || n < 0) return ssd_error_set(SSD_E_INVAL, "eval: negative object count");
    for (int i = 0; i < ngt; i++)
        if (gt->labels[i] < 0 || gt->labels[i] >= a->num_classes)
            return ssd_error_set(SSD_E_INVAL, "eval: image %lld: label %lld outside 0..%d",
                                 (long long)image, (long long)gt->labels[i], a->num_classes - 1);
    for (int i = 0; i < n; i++)
        if (det[i].label < 1 || det[i].label >= a->num_classes)
            return ssd_error_set(SSD_E_INVAL, "eval: image %lld: detection label %d outside 1..%d",
                                 (long long)image, det[i].label, a->num_classes - 1);
    SSD_TRY(grow((void **)&a->img, &a->cap_img, a->nimg + 1, sizeof *a->img));
    SSD_TRY(grow((void **)&a->gt, &a->cap_gt, a->ngt + ngt, sizeof *a->gt));
    SSD_TRY(grow((void **)&a->det, &a->cap_det, a->ndet + n, sizeof *a->det));
    acc_image *im = &a->img[a->nimg++];
    im->image = image;
    im->gt_off = a->ngt;
    im->ngt = ngt;
    im->det_off = a->ndet;
    im->ndet = n;
    for (int i = 0; i < ngt; i++) {
        acc_gt *g = &a->gt[a->ngt + i];
        memcpy(g->box, gt->boxes + 4 * i, 4 * sizeof(float));
        g->label = (int)gt->labels[i];
        g->difficult = gt->difficult && gt->difficult[i];
    }
    a->ngt += ngt;
    if (n) memcpy(a->det + a->ndet, det, (size_t)n * sizeof *det);
    a->ndet += n;
    return SSD_OK;
}

ssd_status eval_gather_class(const ssd_eval_acc *a, int cls, cls_det **out, int64_t *n) {
    int64_t m = 0;
    for (int64_t i = 0; i < a->ndet; i++) m += a->det[i].label == cls;
    *n = m;
    *out = ssd_malloc((size_t)(m ? m : 1) * sizeof **out);
    if (!*out) return SSD_E_NOMEM;
    m = 0;
    for (int64_t s = 0; s < a->nimg; s++) {
        const acc_image *im = &a->img[s];
        for (int j = 0; j < im->ndet; j++)
            if (a->det[im->det_off + j].label == cls) {
                (*out)[m].det = im->det_off + j;
                (*out)[m].slot = s;
                m++;
            }
    }
    return SSD_OK;
}

/* Merge sort (stable) on score descending; the order among equal scores is kept. */
static void merge_sort(const ssd_eval_acc *a, cls_det *d, cls_det *tmp, int64_t n) {
    if (n < 2) return;
    int64_t h = n / 2;
    merge_sort(a, d, tmp, h);
    merge_sort(a, d + h, tmp, n - h);
    int64_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        /* Take the right one only when strictly higher: equal scores keep their order. */
        if (a->det[d[j].det].prob > a->det[d[i].det].prob)
            tmp[k++] = d[j++];
        else
            tmp[k++] = d[i++];
    }
    while (i < h) tmp[k++] = d[i++];
    while (j < n) tmp[k++] = d[j++];
    memcpy(d, tmp, (size_t)n * sizeof *d);
}

void eval_sort_by_score(const ssd_eval_acc *a, cls_det *d, int64_t n) {
    if (n < 2) return;
    cls_det *tmp = ssd_malloc((size_t)n * sizeof *tmp);
    if (tmp) {
        merge_sort(a, d, tmp, n);
        ssd_free(tmp);
        return;
    }
    /* Out of memory for the buffer: a stable insertion sort in place. */
    for (int64_t i = 1; i < n; i++) {
        cls_det x = d[i];
        int64_t j = i;
        while (j > 0 && a->det[x.det].prob > a->det[d[j - 1].det].prob) {
            d[j] = d[j - 1];
            j--;
        }
        d[j] = x;
    }
}

void ssd_eval_results_free(ssd_eval_results *r) {
    if (!r) return;
    if (r->classes)
        for (int c = 0; c < r->num_classes; c++) {
            ssd_free(r->classes[c].name);
            ssd_free(r->classes[c].curve_precision);
            ssd_free(r->classes[c].curve_recall);
        }
    ssd_free(r->classes);
    r->classes = NULL;
    r->num_classes = 0;
}

/* The mean of the entries > -1 of one area over all classes, IoUs and recall points
 * (pycocotools' summarize), or -1 when there are none. */
static double coco_mean(const double *prec, int ncls, int area, int t_only) {
    double s = 0;
    int64_t n = 0;
    for (int c = 0; c < ncls; c++) {
        const double *p =
            prec + (size_t)c * COCO_A * COCO_T * COCO_R + (size_t)area * COCO_T * COCO_R;
        for (int t = 0; t < COCO_T; t++) {
            if (t_only >= 0 && t != t_only) continue;
            for (int r = 0; r < COCO_R; r++)
                if (p[t * COCO_R + r] > -1) {
                    s += p[t * COCO_R + r];
                    n++;
                }
        }
    }
    return n ? s / (double)n : -1;
}

static void coco_fill(ssd_coco_ap *o, const double *prec, int ncls) {
    o->ap = coco_mean(prec, ncls, 0, -1);
    o->ap50 = coco_mean(prec, ncls, 0, 0);
    o->ap75 = coco_mean(prec, ncls, 0, 5);
    o->ap_small = coco_mean(prec, ncls, 1, -1);
    o->ap_medium = coco_mean(prec, ncls, 2, -1);
    o->ap_large = coco_mean(prec, ncls, 3, -1);
}

static double f1_of(double p, double r) {
    return p + r > 0 ? 2 * p * r / (p + r) : 0;
}

ssd_status ssd_eval_acc_compute(const ssd_eval_acc *a, const char *const *class_names,
                                const ssd_eval_metric_params *p, ssd_eval_results *r) {
    memset(r, 0, sizeof *r);
    r->params = *p;
    if (!(p->iou_threshold >= 0 && p->iou_threshold < 1))
        return ssd_error_set(SSD_E_INVAL, "eval: IoU threshold %g outside [0, 1)",
                             p->iou_threshold);
    int nc = a->num_classes;
    size_t per = (size_t)COCO_A * COCO_T * COCO_R;
    double *prec = ssd_malloc((size_t)nc * per * sizeof(double));
    r->classes = ssd_calloc((size_t)nc, sizeof *r->classes);
    if (!prec || !r->classes) {
        ssd_free(prec);
        ssd_free(r->classes);
        r->classes = NULL;
        return SSD_E_NOMEM;
    }
    r->num_classes = nc;
    r->images = a->nimg;
    ssd_status st = SSD_OK;
    for (size_t i = 0; i < per; i++) prec[i] = -1; /* BACKGROUND */
    for (int c = 0; c < nc && st == SSD_OK; c++) {
        ssd_eval_class *k = &r->classes[c];
        char fallback[32];
        snprintf(fallback, sizeof fallback, "class%d", c);
        k->name = ssd_strdup(class_names && class_names[c] ? class_names[c] : fallback);
        if (!k->name) {
            st = SSD_E_NOMEM;
            break;
        }
        k->ap = k->ap_voc07 = k->ap_voc_area = NAN;
        k->best_f1 = k->best_f1_threshold = NAN;
        k->coco = (ssd_coco_ap){-1, -1, -1, -1, -1, -1};
        if (c == 0) continue;
        st = eval_voc_class(a, c, p, k);
        if (st == SSD_OK) st = eval_coco_class(a, c, prec + (size_t)c * per);
        if (st == SSD_OK) coco_fill(&k->coco, prec + (size_t)c * per, 1);
    }
    if (st != SSD_OK) {
        ssd_free(prec);
        ssd_eval_results_free(r);
        return st;
    }
    /* Means as the reference takes them: a running sum in class order, then / count. */
    double s = 0, s07 = 0, sarea = 0;
    for (int c = 1; c < nc; c++) {
        const ssd_eval_class *k = &r->classes[c];
        r->tp += k->tp;
        r->fp += k->fp;
        r->num_gt += k->num_gt;
        if (!k->present) continue;
        r->num_present++;
        s += k->ap;
        s07 += k->ap_voc07;
        sarea += k->ap_voc_area;
    }
    r->map = r->num_present ? s / r->num_present : NAN;
    r->map_voc07 = r->num_present ? s07 / r->num_present : NAN;
    r->map_voc_area = r->num_present ? sarea / r->num_present : NAN;
    coco_fill(&r->coco, prec, nc);
    r->precision = r->tp + r->fp ? (double)r->tp / (double)(r->tp + r->fp) : 0;
    r->recall = r->num_gt ? (double)r->tp / (double)r->num_gt : 0;
    r->f1 = f1_of(r->precision, r->recall);
    ssd_free(prec);
    return SSD_OK;
}
