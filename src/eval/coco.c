/* COCO-style AP with pycocotools' algorithm (COCOeval.evaluateImg + accumulate) for
 * boxes: per image, detections by score (stable) and at most 100; greedy matching at
 * each IoU threshold 0.50:0.05:0.95 to the best unmatched object with IoU >= threshold,
 * difficult objects playing COCO's "ignore"; precision interpolated at 101 recall points.
 * Areas are box areas in pixels. */
#include "eval/eval_internal.h"

#include "core/mem.h"

#include <string.h>

#define MAX_DETS 100

static const double area_lo[COCO_A] = {0, 0, 32 * 32, 96 * 96};
static const double area_hi[COCO_A] = {1e10, 32 * 32, 96 * 96, 1e10};

/* np.linspace(.5, .95, 10) and np.linspace(0, 1, 101), computed as numpy computes them. */
static double iou_thr(int t) {
    if (t == COCO_T - 1) return 0.95;
    double step = (0.95 - 0.5) / (COCO_T - 1);
    return (double)t * step + 0.5;
}
static double rec_thr(int r) {
    if (r == COCO_R - 1) return 1.0;
    return (double)r * (1.0 / (COCO_R - 1)) + 0.0;
}

/* maskApi's bbIou on (x, y, w, h) boxes in double, as loadRes makes them from corners. */
typedef struct {
    double x, y, w, h, area;
} xywh;

static xywh to_xywh(const float *b) {
    xywh o = {b[0], b[1], (double)b[2] - b[0], (double)b[3] - b[1], 0};
    o.area = o.w * o.h;
    return o;
}

static double bb_iou(const xywh *d, const xywh *g) {
    double dx2 = d->x + d->w, gx2 = g->x + g->w, dy2 = d->y + d->h, gy2 = g->y + g->h;
    double w = (dx2 < gx2 ? dx2 : gx2) - (d->x > g->x ? d->x : g->x);
    if (w <= 0) return 0;
    double h = (dy2 < gy2 ? dy2 : gy2) - (d->y > g->y ? d->y : g->y);
    if (h <= 0) return 0;
    double i = w * h;
    return i / (d->area + g->area - i);
}

ssd_status eval_coco_class(const ssd_eval_acc *a, int cls, double *prec) {
    for (int i = 0; i < COCO_A * COCO_T * COCO_R; i++) prec[i] = -1;
    ssd_status st = SSD_OK;
    cls_det *all = NULL, *kept = NULL;
    int64_t n = 0, nk = 0;
    uint8_t *dt_m = NULL, *dt_ig = NULL; /* (A, T, nk) */
    xywh *dbox = NULL, *gbox = NULL;
    uint8_t *g_ig = NULL, *g_m = NULL;
    double *iou = NULL, *pr = NULL, *rc = NULL;
    int64_t npig[COCO_A] = {0};
    int max_g = 0;
    for (int64_t s = 0; s < a->nimg; s++)
        if (a->img[s].ngt > max_g) max_g = a->img[s].ngt;

    st = eval_gather_class(a, cls, &all, &n);
    if (st != SSD_OK) goto done;
    kept = ssd_malloc((size_t)(n ? n : 1) * sizeof *kept);
    dbox = ssd_malloc((size_t)(n ? n : 1) * sizeof *dbox);
    dt_m = ssd_calloc((size_t)COCO_A * COCO_T * (size_t)(n ? n : 1), 1);
    dt_ig = ssd_calloc((size_t)COCO_A * COCO_T * (size_t)(n ? n : 1), 1);
    gbox = ssd_malloc((size_t)(max_g ? max_g : 1) * sizeof *gbox);
    g_ig = ssd_malloc((size_t)(max_g ? max_g : 1));
    g_m = ssd_malloc((size_t)(max_g ? max_g : 1));
    iou = ssd_malloc((size_t)(max_g ? max_g : 1) * MAX_DETS * sizeof *iou);
    pr = ssd_malloc((size_t)(n ? n : 1) * sizeof *pr);
    rc = ssd_malloc((size_t)(n ? n : 1) * sizeof *rc);
    if (!kept || !dbox || !dt_m || !dt_ig || !gbox || !g_ig || !g_m || !iou || !pr || !rc) {
        st = SSD_E_NOMEM;
        goto done;
    }
    /* Per image: its detections by score, the first MAX_DETS. */
    for (int64_t lo = 0; lo < n;) {
        int64_t hi = lo;
        while (hi < n && all[hi].slot == all[lo].slot) hi++;
        eval_sort_by_score(a, all + lo, hi - lo);
        int64_t take = hi - lo < MAX_DETS ? hi - lo : MAX_DETS;
        for (int64_t j = 0; j < take; j++) {
            kept[nk] = all[lo + j];
            float b[4];
            eval_ref_box(b, a->det[all[lo + j].det].box);
            dbox[nk] = to_xywh(b);
            nk++;
        }
        lo = hi;
    }
    /* Matching, image by image (images without detections still bring their objects). */
    int64_t k0 = 0;
    for (int64_t s = 0; s < a->nimg; s++) {
        const acc_image *im = &a->img[s];
        int64_t k1 = k0;
        while (k1 < nk && kept[k1].slot == s) k1++;
        int nd = (int)(k1 - k0);
        for (int ar = 0; ar < COCO_A; ar++) {
            /* The image's objects of the class, ignored ones last (stable). */
            int ng = 0;
            for (int pass = 0; pass < 2; pass++)
                for (int j = 0; j < im->ngt; j++) {
                    const acc_gt *g = &a->gt[im->gt_off + j];
                    if (g->label != cls) continue;
                    xywh gb = to_xywh(g->box);
                    int ig = g->difficult || gb.area < area_lo[ar] || gb.area > area_hi[ar];
                    if (ig != pass) continue;
                    gbox[ng] = gb;
                    g_ig[ng] = (uint8_t)ig;
                    npig[ar] += !ig;
                    ng++;
                }
            for (int di = 0; di < nd; di++)
                for (int gi = 0; gi < ng; gi++)
                    iou[(size_t)di * (max_g ? max_g : 1) + gi] = bb_iou(&dbox[k0 + di], &gbox[gi]);
            for (int t = 0; t < COCO_T; t++) {
                uint8_t *m = dt_m + ((size_t)ar * COCO_T + t) * n;
                uint8_t *ig = dt_ig + ((size_t)ar * COCO_T + t) * n;
                memset(g_m, 0, (size_t)(ng ? ng : 1));
                double thr = iou_thr(t) < 1 - 1e-10 ? iou_thr(t) : 1 - 1e-10;
                for (int di = 0; di < nd; di++) {
                    double best = thr;
                    int mi = -1;
                    for (int gi = 0; gi < ng; gi++) {
                        if (g_m[gi]) continue;
                        if (mi > -1 && !g_ig[mi] && g_ig[gi]) break;
                        double v = iou[(size_t)di * (max_g ? max_g : 1) + gi];
                        if (v < best) continue;
                        best = v;
                        mi = gi;
                    }
                    if (mi >= 0) {
                        ig[k0 + di] = g_ig[mi];
                        m[k0 + di] = 1;
                        g_m[mi] = 1;
                    } else {
                        double ad = dbox[k0 + di].area;
                        ig[k0 + di] = ad < area_lo[ar] || ad > area_hi[ar];
                    }
                }
            }
        }
        k0 = k1;
    }
    /* accumulate: all images' kept detections by score (stable); .slot now holds the
     * position in kept, which indexes dt_m / dt_ig. */
    for (int64_t k = 0; k < nk; k++) all[k] = (cls_det){kept[k].det, k};
    eval_sort_by_score(a, all, nk);
    for (int ar = 0; ar < COCO_A; ar++) {
        if (npig[ar] == 0) continue;
        for (int t = 0; t < COCO_T; t++) {
            const uint8_t *m = dt_m + ((size_t)ar * COCO_T + t) * n;
            const uint8_t *ig = dt_ig + ((size_t)ar * COCO_T + t) * n;
            double tp = 0, fp = 0;
            for (int64_t i = 0; i < nk; i++) {
                int64_t k = all[i].slot;
                tp += m[k] && !ig[k];
                fp += !m[k] && !ig[k];
                rc[i] = tp / (double)npig[ar];
                pr[i] = tp / (fp + tp + 2.220446049250313e-16); /* np.spacing(1) */
            }
            for (int64_t i = nk - 1; i > 0; i--)
                if (pr[i] > pr[i - 1]) pr[i - 1] = pr[i];
            double *q = prec + ((size_t)ar * COCO_T + t) * COCO_R;
            int64_t pi = 0;
            for (int r = 0; r < COCO_R; r++) {
                /* searchsorted(rc, thr, side='left'): the first recall >= thr. */
                double thr = rec_thr(r);
                while (pi < nk && rc[pi] < thr) pi++;
                q[r] = pi < nk ? pr[pi] : 0;
            }
        }
    }
done:
    ssd_free(all);
    ssd_free(kept);
    ssd_free(dbox);
    ssd_free(dt_m);
    ssd_free(dt_ig);
    ssd_free(gbox);
    ssd_free(g_ig);
    ssd_free(g_m);
    ssd_free(iou);
    ssd_free(pr);
    ssd_free(rc);
    return st;
}
