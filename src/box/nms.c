/* Hard and soft NMS (box_utils.hard_nms / soft_nms) and the Predictor's post-processing. */
#include "box/box.h"

#include "box/topk.h"
#include "core/mem.h"

#include <math.h>
#include <string.h>

/* keep must have room for n indices: it holds the candidates while they are filtered. */
int ssd_nms_hard(int *keep, const float *boxes, const float *scores, int n, float iou_threshold,
                 int top_k, int candidate_size) {
    if (n <= 0) return 0;
    /* The reference slices indexes[:candidate_size]; a non-positive size would slice to nothing
     * or drop from the end, which no caller wants: here it means no limit. */
    int m = candidate_size > 0 && candidate_size < n ? candidate_size : n;
    for (int i = 0; i < n; i++) keep[i] = i;
    m = ssd_box_topk(keep, n, m, scores);
    /* Greedy in score order: a candidate survives while its IoU with each earlier pick is
     * <= iou_threshold (written as the reference's keep test, so a NaN IoU suppresses). Kept
     * ones are compacted to the front of keep, never past the candidate being read. */
    int nk = 0;
    for (int j = 0; j < m; j++) {
        int c = keep[j];
        const float *b = boxes + 4 * c;
        bool ok = true;
        for (int t = 0; t < nk && ok; t++)
            ok = ssd_box_iou(b, boxes + 4 * keep[t]) <= iou_threshold;
        if (!ok) continue;
        keep[nk++] = c;
        if (top_k > 0 && nk == top_k) break;
    }
    return nk;
}

/* keep and kept_scores must have room for n entries. Picks fill them from the front while the
 * remaining candidates live at their back in the reference's order: soft_nms moves the last row
 * into the picked row's place and filters preserving order, and argmax takes the first maximum,
 * so keeping that order reproduces its choices between equal scores. */
int ssd_nms_soft(int *keep, float *kept_scores, const float *boxes, const float *scores, int n,
                 float score_threshold, float sigma, int top_k) {
    if (n <= 0) return 0;
    for (int i = 0; i < n; i++) {
        keep[i] = i;
        kept_scores[i] = scores[i];
    }
    /* Remaining: positions [n - r, n). Unlike the predictor, soft_nms does not filter its input
     * by score_threshold; only rescored boxes are dropped. */
    int r = n, np = 0;
    while (r > 0) {
        int base = n - r, best = base;
        for (int q = base + 1; q < n; q++)
            if (kept_scores[q] > kept_scores[best]) best = q;
        int pick = keep[best];
        float pick_score = kept_scores[best];
        if ((top_k > 0 && np + 1 == top_k) || r == 1) {
            keep[np] = pick;
            kept_scores[np] = pick_score;
            np++;
            break;
        }
        keep[best] = keep[n - 1];
        kept_scores[best] = kept_scores[n - 1];
        /* Rescore [base, n-1) and pack the survivors against the end, reading backwards so
         * the write position never passes an unread one. */
        const float *pb = boxes + 4 * pick;
        int w = n;
        for (int q = n - 2; q >= base; q--) {
            float iou = ssd_box_iou(pb, boxes + 4 * keep[q]);
            float s = kept_scores[q] * expf(-(iou * iou) / sigma);
            if (s > score_threshold) {
                w--;
                keep[w] = keep[q];
                kept_scores[w] = s;
            }
        }
        r = n - w;
        /* r dropped by at least one, so position np lies before the remaining block. */
        keep[np] = pick;
        kept_scores[np] = pick_score;
        np++;
    }
    return np;
}

/* predictor.py: for each class >= 1 the boxes with prob > prob_threshold, in prior order, go
 * through box_utils.nms with top_k, so top_k limits each class separately and nothing limits
 * the total; results are concatenated class by class and only then scaled to pixels. */
ssd_status ssd_predict(ssd_detection **out, int *n, const float *scores, const float *boxes, int k,
                       int c, int width, int height, const ssd_predict_params *p) {
    *out = NULL;
    *n = 0;
    if (k < 0 || c < 1 || !p)
        return ssd_error_set(SSD_E_INVAL, "predict: %d priors and %d classes", k, c);
    if (p->soft && !(p->sigma > 0))
        return ssd_error_set(SSD_E_INVAL, "predict: soft NMS needs sigma > 0 (got %g)",
                             (double)p->sigma);
    if (k == 0 || c == 1) return SSD_OK;
    ssd_status st = SSD_OK;
    float *sub_boxes = ssd_malloc((size_t)k * 4 * sizeof(float));
    float *sub_scores = ssd_malloc((size_t)k * sizeof(float));
    float *kept_scores = ssd_malloc((size_t)k * sizeof(float));
    int *keep = ssd_malloc((size_t)k * sizeof(int));
    ssd_detection *det = NULL;
    int cap = 0, nd = 0;
    if (!sub_boxes || !sub_scores || !kept_scores || !keep) {
        st = SSD_E_NOMEM;
        goto done;
    }
    for (int cls = 1; cls < c; cls++) {
        int m = 0;
        for (int i = 0; i < k; i++) {
            float s = scores[(size_t)i * c + cls];
            if (s > p->prob_threshold) {
                memcpy(sub_boxes + 4 * m, boxes + 4 * (size_t)i, 4 * sizeof(float));
                sub_scores[m++] = s;
            }
        }
        if (m == 0) continue;
        int nk;
        if (p->soft) {
            nk = ssd_nms_soft(keep, kept_scores, sub_boxes, sub_scores, m, p->prob_threshold,
                              p->sigma, p->top_k);
        } else {
            nk = ssd_nms_hard(keep, sub_boxes, sub_scores, m, p->iou_threshold, p->top_k,
                              p->candidate_size);
            for (int t = 0; t < nk; t++) kept_scores[t] = sub_scores[keep[t]];
        }
        if (nd + nk > cap) {
            int ncap = cap ? cap : 64;
            while (ncap < nd + nk) ncap *= 2;
            ssd_detection *grown = ssd_realloc(det, (size_t)ncap * sizeof(*det));
            if (!grown) {
                st = SSD_E_NOMEM;
                goto done;
            }
            det = grown;
            cap = ncap;
        }
        for (int t = 0; t < nk; t++) {
            ssd_detection *d = &det[nd++];
            const float *b = sub_boxes + 4 * keep[t];
            d->box[0] = b[0] * (float)width;
            d->box[1] = b[1] * (float)height;
            d->box[2] = b[2] * (float)width;
            d->box[3] = b[3] * (float)height;
            d->label = cls;
            d->prob = kept_scores[t];
        }
    }
    *out = det;
    *n = nd;
    det = NULL;
done:
    ssd_free(det);
    ssd_free(sub_boxes);
    ssd_free(sub_scores);
    ssd_free(kept_scores);
    ssd_free(keep);
    return st;
}
