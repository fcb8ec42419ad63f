/* The VOC AP of eval_ssd.py (MeanAPEvaluator) and vision/utils/measurements.py. */
#include "eval/eval_internal.h"

#include "core/mem.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* box_utils.iou_of in float32, operation by operation as PyTorch evaluates it:
 * overlap / (((area0 + area1) - overlap) + eps). */
static float iou_ref(const float *d, const float *g) {
    float w = fminf(d[2], g[2]) - fmaxf(d[0], g[0]);
    float h = fminf(d[3], g[3]) - fmaxf(d[1], g[1]);
    if (w < 0) w = 0;
    if (h < 0) h = 0;
    float overlap = w * h;
    float dw = d[2] - d[0], dh = d[3] - d[1], gw = g[2] - g[0], gh = g[3] - g[1];
    if (dw < 0) dw = 0;
    if (dh < 0) dh = 0;
    if (gw < 0) gw = 0;
    if (gh < 0) gh = 0;
    float area0 = dw * dh, area1 = gw * gh;
    float den = area0 + area1;
    den = den - overlap;
    den = den + 1e-5f;
    return overlap / den;
}

double ssd_eval_ap_voc07(const double *precision, const double *recall, int n) {
    double ap = 0;
    for (int i = 0; i <= 10; i++) {
        /* numpy's arange(0., 1.1, 0.1) holds i * 0.1 (0.30000000000000004, ...). */
        double t = (double)i * 0.1, p = 0;
        bool any = false;
        for (int j = 0; j < n; j++)
            if (recall[j] >= t && (!any || precision[j] > p)) {
                p = precision[j];
                any = true;
            }
        ap = ap + p / 11.;
    }
    return ap;
}

double ssd_eval_ap_area(const double *precision, const double *recall, int n) {
    /* The envelope max(precision[i:]) with a 0 at both ends, and the area under it at the
     * recalls where recall changes (recall padded with 0 in front and 1 behind). */
    double ap = 0, env = 0;
    for (int i = n; i >= 0; i--) {
        double r_next = i == n ? 1.0 : recall[i];
        double r = i == 0 ? 0.0 : recall[i - 1];
        double p_next = i == n ? 0.0 : precision[i];
        if (p_next > env) env = p_next;
        if (r_next != r) ap += (r_next - r) * env;
    }
    return ap;
}

ssd_status eval_voc_class(const ssd_eval_acc *a, int cls, const ssd_eval_metric_params *p,
                          ssd_eval_class *c) {
    cls_det *d = NULL;
    int64_t n = 0;
    bool *matched = NULL;
    int8_t *flag = NULL; /* 1 TP, 0 FP, -1 ignored (best match difficult) */
    ssd_status st = eval_gather_class(a, cls, &d, &n);
    if (st != SSD_OK) goto done;
    eval_sort_by_score(a, d, n);
    for (int64_t i = 0; i < a->ngt; i++)
        if (a->gt[i].label == cls) {
            if (a->gt[i].difficult)
                c->num_difficult++;
            else
                c->num_gt++;
        }
    c->num_det = n;
    c->present = c->num_gt > 0;
    matched = ssd_calloc((size_t)(a->ngt ? a->ngt : 1), sizeof *matched);
    flag = ssd_malloc((size_t)(n ? n : 1));
    c->curve_precision = ssd_malloc((size_t)(n ? n : 1) * sizeof(double));
    c->curve_recall = ssd_malloc((size_t)(n ? n : 1) * sizeof(double));
    if (!matched || !flag || !c->curve_precision || !c->curve_recall) {
        st = SSD_E_NOMEM;
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        const acc_image *im = &a->img[d[i].slot];
        float box[4];
        eval_ref_box(box, a->det[d[i].det].box);
        /* argmax over the image's objects of this class, in annotation order (first of ties). */
        int64_t best = -1;
        float best_iou = 0;
        for (int j = 0; j < im->ngt; j++) {
            const acc_gt *g = &a->gt[im->gt_off + j];
            if (g->label != cls) continue;
            float v = iou_ref(box, g->box);
            if (best < 0 || v > best_iou) {
                best = im->gt_off + j;
                best_iou = v;
            }
        }
        if (best < 0 || !((double)best_iou > p->iou_threshold)) {
            flag[i] = 0;
        } else if (a->gt[best].difficult) {
            flag[i] = -1;
        } else if (!matched[best]) {
            matched[best] = true;
            flag[i] = 1;
        } else {
            flag[i] = 0;
        }
    }
    /* The curve over the counted detections; at the score threshold and the best F1. */
    int64_t tp = 0, fp = 0, m = 0;
    c->best_f1 = 0;
    c->best_f1_threshold = NAN;
    for (int64_t i = 0; i < n; i++) {
        float score = a->det[d[i].det].prob;
        if (flag[i] >= 0) {
            tp += flag[i];
            fp += !flag[i];
            c->curve_precision[m] = (double)tp / (double)(tp + fp);
            c->curve_recall[m] = c->num_gt ? (double)tp / (double)c->num_gt : NAN;
            m++;
        }
        if ((double)score >= p->score_threshold) {
            c->tp = tp;
            c->fp = fp;
        }
        /* A threshold cannot split equal scores: look at the end of each run of them. */
        bool run_end = i + 1 == n || a->det[d[i + 1].det].prob != score;
        if (run_end && c->num_gt && tp + fp) {
            double pr = (double)tp / (double)(tp + fp), rc = (double)tp / (double)c->num_gt;
            double f = pr + rc > 0 ? 2 * pr * rc / (pr + rc) : 0;
            if (f > c->best_f1) {
                c->best_f1 = f;
                /* As the result files print it, not widened: 0.72, not 0.7200000286102295. */
                char t[32];
                c->best_f1_threshold = strtod(ssd_np_float32_str(score, t, sizeof t), NULL);
            }
        }
    }
    c->curve_n = (int)m;
    c->precision = c->tp + c->fp ? (double)c->tp / (double)(c->tp + c->fp) : 0;
    c->recall = c->num_gt ? (double)c->tp / (double)c->num_gt : 0;
    c->f1 = c->precision + c->recall > 0 ? 2 * c->precision * c->recall / (c->precision + c->recall)
                                         : 0;
    if (c->present) {
        c->ap_voc07 = ssd_eval_ap_voc07(c->curve_precision, c->curve_recall, (int)m);
        c->ap_voc_area = ssd_eval_ap_area(c->curve_precision, c->curve_recall, (int)m);
        c->ap = p->use_2007_metric ? c->ap_voc07 : c->ap_voc_area;
    } else {
        c->best_f1 = NAN;
        c->curve_n = 0; /* no recall without objects */
    }
done:
    ssd_free(d);
    ssd_free(matched);
    ssd_free(flag);
    return st;
}
