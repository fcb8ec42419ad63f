/* Box conversions, IoU, prior matching and the location encoding of box_utils.py.
 *
 * Every formula keeps the reference's float32 operation order ((a - b) / c / v, not
 * (a - b) / (c * v)) so that results agree bit for bit where only + - * / are involved. */
#include "box/box.h"

#include <math.h>

void ssd_box_center_to_corner(float *dst, const float *src, int n) {
    for (int i = 0; i < n; i++, src += 4, dst += 4) {
        float cx = src[0], cy = src[1], hw = src[2] / 2, hh = src[3] / 2;
        dst[0] = cx - hw;
        dst[1] = cy - hh;
        dst[2] = cx + hw;
        dst[3] = cy + hh;
    }
}

void ssd_box_corner_to_center(float *dst, const float *src, int n) {
    for (int i = 0; i < n; i++, src += 4, dst += 4) {
        float x1 = src[0], y1 = src[1], x2 = src[2], y2 = src[3];
        dst[0] = (x1 + x2) / 2;
        dst[1] = (y1 + y2) / 2;
        dst[2] = x2 - x1;
        dst[3] = y2 - y1;
    }
}

/* torch.clamp(min=0) keeps NaN, unlike fmaxf. */
static float clamp0(float v) {
    return v < 0.0f ? 0.0f : v;
}

static float area(const float *b) {
    return clamp0(b[2] - b[0]) * clamp0(b[3] - b[1]);
}

static float iou_with_area(const float *a, float area_a, const float *b, float area_b) {
    float x1 = a[0] > b[0] ? a[0] : b[0];
    float y1 = a[1] > b[1] ? a[1] : b[1];
    float x2 = a[2] < b[2] ? a[2] : b[2];
    float y2 = a[3] < b[3] ? a[3] : b[3];
    float inter = clamp0(x2 - x1) * clamp0(y2 - y1);
    return inter / (area_a + area_b - inter + 1e-5f);
}

float ssd_box_iou(const float *a, const float *b) {
    return iou_with_area(a, area(a), b, area(b));
}

void ssd_box_assign_priors(float *out_boxes, int64_t *out_labels, const float *gt,
                           const int64_t *gt_labels, int g, const float *priors_corner, int k,
                           float iou_threshold) {
    if (g <= 0) {
        /* The reference cannot run on an image without objects (max over an empty dim);
         * every prior is background and its box is irrelevant. */
        for (int i = 0; i < k; i++) {
            out_labels[i] = 0;
            for (int c = 0; c < 4; c++) out_boxes[4 * i + c] = 0.0f;
        }
        return;
    }
    /* One pass over (gt, prior) with ground truths outermost, so each ground truth's best prior
     * is a local; no K x G matrix and no allocation. While matching, out_boxes[4i] holds prior
     * i's best IoU so far and out_labels[i] its ground truth. A forced prior gets IoU 2 (as the
     * reference's index_fill), which no later IoU can beat, and a later ground truth that forces
     * the same prior takes it over, as the reference's loop in target order does. Ties keep the
     * first index, as torch's max does. */
    for (int j = 0; j < g; j++) {
        const float *b = gt + 4 * j;
        float area_b = area(b);
        int best_prior = 0;
        float best_iou = 0.0f;
        for (int i = 0; i < k; i++) {
            const float *p = priors_corner + 4 * i;
            float v = iou_with_area(b, area_b, p, area(p));
            if (i == 0 || v > best_iou) {
                best_iou = v;
                best_prior = i;
            }
            if (j == 0 || v > out_boxes[4 * i]) {
                out_boxes[4 * i] = v;
                out_labels[i] = j;
            }
        }
        if (k > 0) {
            out_boxes[4 * best_prior] = 2.0f;
            out_labels[best_prior] = j;
        }
    }
    for (int i = 0; i < k; i++) {
        float best = out_boxes[4 * i];
        int64_t j = out_labels[i];
        for (int c = 0; c < 4; c++) out_boxes[4 * i + c] = gt[4 * j + c];
        out_labels[i] = best < iou_threshold ? 0 : gt_labels[j];
    }
}

void ssd_box_encode(float *loc, const float *boxes_corner, const float *priors_center, int k,
                    float center_variance, float size_variance) {
    for (int i = 0; i < k; i++) {
        const float *b = boxes_corner + 4 * i, *p = priors_center + 4 * i;
        float cx = (b[0] + b[2]) / 2, cy = (b[1] + b[3]) / 2;
        float w = b[2] - b[0], h = b[3] - b[1];
        float *l = loc + 4 * i;
        l[0] = (cx - p[0]) / p[2] / center_variance;
        l[1] = (cy - p[1]) / p[3] / center_variance;
        l[2] = logf(w / p[2]) / size_variance;
        l[3] = logf(h / p[3]) / size_variance;
    }
}

void ssd_box_decode(float *boxes_center, const float *loc, const float *priors_center, int k,
                    float center_variance, float size_variance) {
    for (int i = 0; i < k; i++) {
        const float *l = loc + 4 * i, *p = priors_center + 4 * i;
        float *b = boxes_center + 4 * i;
        float cx = l[0] * center_variance * p[2] + p[0];
        float cy = l[1] * center_variance * p[3] + p[1];
        float w = expf(l[2] * size_variance) * p[2];
        float h = expf(l[3] * size_variance) * p[3];
        b[0] = cx;
        b[1] = cy;
        b[2] = w;
        b[3] = h;
    }
}
