/* Edge cases of the box layer that the golden fixtures do not reach: no ground truth,
 * degenerate boxes, empty and tied NMS inputs, C = 1 and 2, bad arguments, NaN inputs and
 * failed allocations. */
#include "box/box.h"
#include "core/mem.h"
#include "test.h"

#include <math.h>
#include <string.h>

static void test_iou(void) {
    const float a[4] = {0.1f, 0.1f, 0.5f, 0.5f};
    const float b[4] = {0.3f, 0.3f, 0.7f, 0.7f};
    const float point[4] = {0.2f, 0.2f, 0.2f, 0.2f};
    const float inverted[4] = {0.5f, 0.5f, 0.1f, 0.1f};
    const float far[4] = {0.8f, 0.8f, 0.9f, 0.9f};
    float area = (0.5f - 0.1f) * (0.5f - 0.1f);
    /* The eps keeps identical boxes just below 1, as in the reference. */
    CHECK(ssd_box_iou(a, a) == area / (area + area - area + 1e-5f));
    CHECK(ssd_box_iou(a, a) < 1.0f);
    CHECK(ssd_box_iou(a, b) == ssd_box_iou(b, a));
    CHECK(fabsf(ssd_box_iou(a, b) - 0.04f / (0.32f - 0.04f)) < 1e-4f);
    CHECK(ssd_box_iou(a, point) == 0.0f);
    CHECK(ssd_box_iou(a, inverted) == 0.0f);
    CHECK(ssd_box_iou(point, point) == 0.0f);
    CHECK(ssd_box_iou(a, far) == 0.0f);
}

static void test_conversions(void) {
    float c[8] = {0.5f, 0.5f, 0.2f, 0.4f, 0.0f, 1.0f, 0.0f, 0.0f}, k[8], back[8];
    ssd_box_center_to_corner(k, c, 2);
    CHECK(k[0] == 0.4f && k[1] == 0.3f && k[2] == 0.6f && k[3] == 0.7f);
    CHECK(k[4] == 0.0f && k[5] == 1.0f && k[6] == 0.0f && k[7] == 1.0f);
    ssd_box_corner_to_center(back, k, 2);
    for (int i = 0; i < 8; i++) CHECK(fabsf(back[i] - c[i]) < 1e-7f);
    /* In place. */
    ssd_box_center_to_corner(c, c, 2);
    CHECK(memcmp(c, k, sizeof k) == 0);
}

static void test_assign(void) {
    /* Three priors (corner form). */
    const float pk[12] = {0.0f, 0.0f, 0.4f, 0.4f, 0.3f, 0.3f, 0.7f, 0.7f, 0.6f, 0.6f, 1.0f, 1.0f};
    float boxes[12];
    int64_t labels[3] = {9, 9, 9};
    for (int i = 0; i < 12; i++) boxes[i] = 7.0f;
    ssd_box_assign_priors(boxes, labels, NULL, NULL, 0, pk, 3, 0.5f);
    for (int i = 0; i < 3; i++) CHECK(labels[i] == 0);
    for (int i = 0; i < 12; i++) CHECK(boxes[i] == 0.0f);

    /* A small ground truth below the threshold everywhere still gets its best prior. */
    const float gt1[4] = {0.35f, 0.35f, 0.45f, 0.45f};
    const int64_t l1[1] = {4};
    ssd_box_assign_priors(boxes, labels, gt1, l1, 1, pk, 3, 0.5f);
    CHECK(labels[0] == 0 && labels[1] == 4 && labels[2] == 0);
    for (int i = 0; i < 3; i++) CHECK(memcmp(boxes + 4 * i, gt1, sizeof gt1) == 0);

    /* A zero-area ground truth has IoU 0 with everything: the first prior is forced. */
    const float gt0[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    ssd_box_assign_priors(boxes, labels, gt0, l1, 1, pk, 3, 0.5f);
    CHECK(labels[0] == 4 && labels[1] == 0 && labels[2] == 0);

    /* Two ground truths whose best prior is the same: the later one takes it, the earlier one
     * keeps only priors where it is best and above the threshold. */
    const float gt2[8] = {0.3f, 0.3f, 0.7f, 0.7f, 0.31f, 0.31f, 0.7f, 0.7f};
    const int64_t l2[2] = {1, 2};
    ssd_box_assign_priors(boxes, labels, gt2, l2, 2, pk, 3, 0.5f);
    CHECK(labels[0] == 0 && labels[1] == 2 && labels[2] == 0);
    CHECK(memcmp(boxes + 4, gt2 + 4, 4 * sizeof(float)) == 0);

    /* Threshold 0: every prior keeps its best ground truth's label (prior 0: IoU 0.032 with the
     * first, 0.027 with the second; prior 2: 0.032 and 0.033). */
    ssd_box_assign_priors(boxes, labels, gt2, l2, 2, pk, 3, 0.0f);
    CHECK(labels[0] == 1 && labels[1] == 2 && labels[2] == 2);

    /* No priors: nothing written, no crash. */
    ssd_box_assign_priors(boxes, labels, gt2, l2, 2, pk, 0, 0.5f);
}

static void test_coding(void) {
    const float prior[4] = {0.5f, 0.5f, 0.2f, 0.4f};
    const float box[4] = {0.45f, 0.35f, 0.65f, 0.85f};
    float loc[4], center[4], corner[4];
    ssd_box_encode(loc, box, prior, 1, 0.1f, 0.2f);
    ssd_box_decode(center, loc, prior, 1, 0.1f, 0.2f);
    ssd_box_center_to_corner(corner, center, 1);
    for (int i = 0; i < 4; i++) CHECK(fabsf(corner[i] - box[i]) < 1e-6f);
    /* A zero-size box encodes to -inf as in the reference (the loader rejects such boxes). */
    const float zero[4] = {0.5f, 0.5f, 0.5f, 0.7f};
    ssd_box_encode(loc, zero, prior, 1, 0.1f, 0.2f);
    CHECK(isinf(loc[2]) && loc[2] < 0 && isfinite(loc[3]));
}

static void test_priors(void) {
    ssd_prior_spec s[6];
    int fm384[6] = {24, 12, 6, 3, 2, 1};
    ssd_priors_specs_mobilenetv1(384, fm384, s);
    CHECK(ssd_priors_count(s, 6) == 4620);
    CHECK(s[3].shrinkage == 128.0f && s[5].shrinkage == 384.0f);
    CHECK(s[0].min_size == 38.4 && s[5].max_size == 403.2);
    ssd_priors_specs_mobilenetv1(300, NULL, s);
    CHECK(ssd_priors_count(s, 6) == 3000 && s[2].min_size == 150 && s[2].max_size == 195);
    ssd_priors_specs_vgg(300, NULL, s);
    CHECK(ssd_priors_count(s, 6) == 8732);
    ssd_priors_specs_squeezenet(300, NULL, s);
    CHECK(ssd_priors_count(s, 6) == 2568);

    float *p = NULL;
    int k = -1;
    CHECK(ssd_priors_generate(s, 0, 300, true, &p, &k) == SSD_E_INVAL && !p && k == 0);
    CHECK(ssd_priors_generate(s, 6, 0, true, &p, &k) == SSD_E_INVAL);
    ssd_prior_spec bad = s[0];
    bad.feature_map_size = 0;
    CHECK(ssd_priors_generate(&bad, 1, 300, true, &p, &k) == SSD_E_INVAL);
    CHECK(strstr(ssd_error_message(), "spec 0") != NULL);
    bad = s[0];
    bad.n_ratios = 5;
    CHECK(ssd_priors_generate(&bad, 1, 300, true, &p, &k) == SSD_E_INVAL);
    bad = s[0];
    bad.shrinkage = NAN;
    CHECK(ssd_priors_generate(&bad, 1, 300, true, &p, &k) == SSD_E_INVAL);
    bad = s[0];
    bad.aspect_ratios[1] = 0;
    CHECK(ssd_priors_generate(&bad, 1, 300, true, &p, &k) == SSD_E_INVAL);

    /* Clamped values stay in [0, 1]; the 1x1 map's big box is clamped to 1. */
    ssd_priors_specs_mobilenetv1(300, NULL, s);
    CHECK_OK(ssd_priors_generate(s, 6, 300, true, &p, &k));
    bool in = k == 3000;
    for (int i = 0; p && i < 4 * k; i++) in = in && p[i] >= 0.0f && p[i] <= 1.0f;
    CHECK(in);
    if (p) CHECK(p[4 * 2995 + 2] == 1.0f && p[4 * 2994] == 0.5f);
    ssd_free(p);
}

static void test_nms_edges(void) {
    int keep[8];
    float ks[8];
    const float boxes[16] = {0.0f, 0.0f, 0.1f, 0.1f, 0.2f, 0.2f, 0.3f, 0.3f,
                             0.4f, 0.4f, 0.5f, 0.5f, 0.6f, 0.6f, 0.7f, 0.7f};
    const float equal[4] = {0.9f, 0.9f, 0.9f, 0.9f};
    CHECK(ssd_nms_hard(keep, boxes, equal, 0, 0.45f, -1, 200) == 0);
    CHECK(ssd_nms_soft(keep, ks, boxes, equal, 0, 0.1f, 0.5f, -1) == 0);
    CHECK(ssd_nms_hard(keep, boxes, equal, 1, 0.45f, -1, 200) == 1 && keep[0] == 0);
    CHECK(ssd_nms_soft(keep, ks, boxes, equal, 1, 0.1f, 0.5f, -1) == 1 && keep[0] == 0);

    /* Equal scores: hard NMS takes increasing index (a stable sort); soft NMS follows the
     * reference's argmax over its reordered rows: 0, then the last row moved into slot 0. */
    int n = ssd_nms_hard(keep, boxes, equal, 4, 0.45f, -1, 200);
    CHECK(n == 4 && keep[0] == 0 && keep[1] == 1 && keep[2] == 2 && keep[3] == 3);
    n = ssd_nms_soft(keep, ks, boxes, equal, 4, 0.1f, 0.5f, -1);
    CHECK(n == 4 && keep[0] == 0 && keep[1] == 3 && keep[2] == 2 && keep[3] == 1);
    CHECK(ks[0] == 0.9f && ks[3] == 0.9f);

    /* Candidate size and top_k; candidate_size <= 0 means no limit. */
    const float sc[4] = {0.1f, 0.4f, 0.3f, 0.2f};
    n = ssd_nms_hard(keep, boxes, sc, 4, 0.45f, -1, 2);
    CHECK(n == 2 && keep[0] == 1 && keep[1] == 2);
    n = ssd_nms_hard(keep, boxes, sc, 4, 0.45f, 3, 0);
    CHECK(n == 3 && keep[0] == 1 && keep[1] == 2 && keep[2] == 3);
    n = ssd_nms_soft(keep, ks, boxes, sc, 4, 0.0f, 0.5f, 2);
    CHECK(n == 2 && keep[0] == 1 && keep[1] == 2);

    /* Identical boxes: hard keeps one; soft decays the copy by exp(-iou^2/sigma). */
    const float same[8] = {0.1f, 0.1f, 0.5f, 0.5f, 0.1f, 0.1f, 0.5f, 0.5f};
    const float s2[2] = {0.8f, 0.6f};
    CHECK(ssd_nms_hard(keep, same, s2, 2, 0.45f, -1, 200) == 1 && keep[0] == 0);
    n = ssd_nms_soft(keep, ks, same, s2, 2, 0.01f, 0.5f, -1);
    float iou = ssd_box_iou(same, same);
    CHECK(n == 2 && keep[1] == 1 && ks[1] == 0.6f * expf(-(iou * iou) / 0.5f));
    n = ssd_nms_soft(keep, ks, same, s2, 2, 0.1f, 0.5f, -1);
    CHECK(n == 1); /* 0.6 * e^-2 = 0.081 < 0.1 */

    /* NaN scores and boxes must not crash or write out of bounds. */
    const float nan_s[4] = {NAN, 0.5f, NAN, 0.7f};
    n = ssd_nms_hard(keep, boxes, nan_s, 4, 0.45f, -1, 200);
    CHECK(n >= 1 && n <= 4);
    n = ssd_nms_soft(keep, ks, boxes, nan_s, 4, 0.1f, 0.5f, -1);
    CHECK(n >= 1 && n <= 4);
    const float nan_b[8] = {NAN, 0.0f, 0.1f, 0.1f, 0.0f, 0.0f, 0.1f, 0.1f};
    n = ssd_nms_hard(keep, nan_b, s2, 2, 0.45f, -1, 200);
    CHECK(n >= 1 && n <= 2);
}

static void test_predict_edges(void) {
    /* Three priors, C = 2. */
    const float boxes[12] = {0.0f, 0.0f, 0.5f, 0.5f, 0.01f, 0.0f,
                             0.5f, 0.5f, 0.5f, 0.5f, 1.0f,  1.0f};
    const float scores[6] = {0.2f, 0.8f, 0.3f, 0.7f, 0.6f, 0.4f};
    /* Class 1 keeps prob > 0.4 strictly: 0.8 and 0.7 (prior 1 is suppressed by prior 0). */
    ssd_predict_params p = {0.45f, 0.4f, 200, -1, false, 0.5f};
    ssd_detection *d = NULL;
    int n = -1;
    CHECK_OK(ssd_predict(&d, &n, scores, boxes, 3, 2, 100, 200, &p));
    CHECK(n == 1 && d && d[0].label == 1 && d[0].prob == 0.8f);
    if (n == 1) CHECK(d[0].box[2] == 50.0f && d[0].box[3] == 100.0f);
    ssd_free(d);
    p.prob_threshold = 0.39f;
    CHECK_OK(ssd_predict(&d, &n, scores, boxes, 3, 2, 100, 200, &p));
    CHECK(n == 2 && d[1].prob == 0.4f);
    ssd_free(d);
    /* Nothing above the threshold, C = 1, K = 0. */
    p.prob_threshold = 0.9f;
    CHECK_OK(ssd_predict(&d, &n, scores, boxes, 3, 2, 100, 200, &p));
    CHECK(n == 0 && d == NULL);
    CHECK_OK(ssd_predict(&d, &n, scores, boxes, 3, 1, 100, 200, &p));
    CHECK(n == 0 && d == NULL);
    CHECK_OK(ssd_predict(&d, &n, scores, boxes, 0, 2, 100, 200, &p));
    CHECK(n == 0 && d == NULL);
    CHECK(ssd_predict(&d, &n, scores, boxes, -1, 2, 100, 200, &p) == SSD_E_INVAL);
    CHECK(ssd_predict(&d, &n, scores, boxes, 3, 0, 100, 200, &p) == SSD_E_INVAL);
    p.soft = true;
    p.sigma = 0.0f;
    CHECK(ssd_predict(&d, &n, scores, boxes, 3, 2, 100, 200, &p) == SSD_E_INVAL);

    /* top_k limits each class, not the total: C = 3, two classes with two boxes each. */
    const float s3[9] = {0.1f, 0.5f, 0.4f, 0.1f, 0.45f, 0.45f, 0.1f, 0.3f, 0.6f};
    ssd_predict_params q = {0.45f, 0.2f, 200, 1, false, 0.5f};
    CHECK_OK(ssd_predict(&d, &n, s3, boxes, 3, 3, 10, 10, &q));
    CHECK(n == 2 && d[0].label == 1 && d[1].label == 2 && d[0].prob == 0.5f && d[1].prob == 0.6f);
    ssd_free(d);
    q.top_k = -1;
    CHECK_OK(ssd_predict(&d, &n, s3, boxes, 3, 3, 10, 10, &q));
    /* class 1: 0.5 (prior 0), 0.3 (prior 2); class 2: 0.6 (prior 2), 0.45 (prior 1), 0.4 (prior
     * 0) is suppressed by prior 1 (IoU 0.98). */
    CHECK(n == 4 && d[0].label == 1 && d[2].label == 2 && d[3].prob == 0.45f);
    ssd_free(d);

    /* Every allocation failing in turn gives SSD_E_NOMEM and no leak. */
    for (long f = 1; f <= 8; f++) {
        ssd_alloc_fail_at(f);
        ssd_status st = ssd_predict(&d, &n, s3, boxes, 3, 3, 10, 10, &q);
        ssd_alloc_fail_at(0);
        CHECK(st == SSD_OK || st == SSD_E_NOMEM);
        if (st == SSD_OK) ssd_free(d);
        CHECK(st == SSD_OK || (d == NULL && n == 0));
    }
}

static void test_loss_edges(void) {
    /* N = 1, K = 4, C = 2: one positive, ratio 3 wants 3 negatives and gets them all. */
    const float conf[8] = {0.1f, 0.9f, 2.0f, -1.0f, 0.3f, 0.2f, -0.5f, 0.5f};
    const float loc[16] = {0.1f, 0.2f, 3.0f, -2.0f};
    const float gt[16] = {0.0f, 0.0f, 0.0f, 0.0f};
    int64_t labels[4] = {1, 0, 0, 0};
    float dconf[8], dloc[16];
    double reg = -1, cls = -1;
    CHECK_OK(ssd_multibox_loss(&reg, &cls, dconf, dloc, conf, loc, labels, gt, 1, 4, 2, 3));
    /* smooth L1: 0.005 + 0.02 + 2.5 + 1.5 */
    CHECK(fabs(reg - 4.025) < 1e-6);
    double want_cls = 0;
    for (int i = 0; i < 4; i++) {
        double a = conf[2 * i], b = conf[2 * i + 1], m = a > b ? a : b;
        double lse = m + log(exp(a - m) + exp(b - m));
        want_cls += lse - (i == 0 ? b : a);
    }
    CHECK(fabs(cls - want_cls) < 1e-6);
    CHECK(dloc[0] == 0.1f && dloc[2] == 1.0f && dloc[3] == -1.0f && dloc[4] == 0.0f);
    /* softmax - onehot sums to zero over classes. */
    for (int i = 0; i < 4; i++) CHECK(fabsf(dconf[2 * i] + dconf[2 * i + 1]) < 1e-6f);

    /* Ratio 1: only the hardest negative (largest -log p0: prior 3). */
    CHECK_OK(ssd_multibox_loss(&reg, &cls, dconf, dloc, conf, loc, labels, gt, 1, 4, 2, 1));
    CHECK(dconf[2] == 0.0f && dconf[4] == 0.0f && dconf[6] != 0.0f);

    /* No positives: everything 0 (the reference divides 0 by 0). */
    int64_t none[4] = {0, 0, 0, 0};
    CHECK_OK(ssd_multibox_loss(&reg, &cls, dconf, dloc, conf, loc, none, gt, 1, 4, 2, 3));
    CHECK(reg == 0.0 && cls == 0.0);
    bool zero = true;
    for (int i = 0; i < 8; i++) zero = zero && dconf[i] == 0.0f;
    CHECK(zero);

    /* -inf targets on background priors (an image without objects) are never read. */
    float gt_inf[16];
    for (int i = 0; i < 16; i++) gt_inf[i] = i < 4 ? 0.0f : -INFINITY;
    CHECK_OK(ssd_multibox_loss(&reg, &cls, dconf, dloc, conf, loc, labels, gt_inf, 1, 4, 2, 3));
    CHECK(isfinite(reg) && isfinite(cls));

    /* Bad arguments. */
    int64_t bad[4] = {0, 2, 0, 0};
    CHECK(ssd_multibox_loss(&reg, &cls, dconf, dloc, conf, loc, bad, gt, 1, 4, 2, 3) ==
          SSD_E_INVAL);
    CHECK(strstr(ssd_error_message(), "label 2") != NULL);
    bad[1] = -100;
    CHECK(ssd_multibox_loss(&reg, &cls, dconf, dloc, conf, loc, bad, gt, 1, 4, 2, 3) ==
          SSD_E_INVAL);
    CHECK(ssd_multibox_loss(&reg, &cls, dconf, dloc, conf, loc, labels, gt, 1, 4, 0, 3) ==
          SSD_E_INVAL);
    CHECK(ssd_multibox_loss(&reg, &cls, dconf, dloc, conf, loc, labels, gt, 1, 4, 2, -1) ==
          SSD_E_INVAL);
    /* Empty batch. */
    CHECK_OK(ssd_multibox_loss(&reg, &cls, NULL, NULL, conf, loc, labels, gt, 0, 4, 2, 3));
    CHECK(reg == 0.0 && cls == 0.0);

    /* NaN logits: no crash. */
    const float nanc[8] = {NAN, 0.0f, 0.0f, NAN, 1.0f, 2.0f, NAN, NAN};
    CHECK_OK(ssd_multibox_loss(&reg, &cls, dconf, dloc, nanc, loc, labels, gt, 1, 4, 2, 3));

    for (long f = 1; f <= 3; f++) {
        ssd_alloc_fail_at(f);
        ssd_status st =
            ssd_multibox_loss(&reg, &cls, dconf, dloc, conf, loc, labels, gt, 1, 4, 2, 3);
        ssd_alloc_fail_at(0);
        CHECK(st == SSD_OK || st == SSD_E_NOMEM);
    }
}

int main(void) {
    test_iou();
    test_conversions();
    test_assign();
    test_coding();
    test_priors();
    test_nms_edges();
    test_predict_edges();
    test_loss_edges();
    return test_finish();
}
