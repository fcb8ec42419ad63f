/* MultiboxLoss of vision/nn/multibox_loss.py with its gradient.
 *
 * Per image, hard negative mining keeps every positive prior and the neg_pos_ratio * num_pos
 * background priors with the largest background loss -log_softmax(conf)[0] (the reference sorts
 * all K with positives at -inf; a partial selection picks the same set). Cross-entropy over the
 * kept priors and smooth L1 (beta 1) over the positives are summed and both divided by the
 * number of positives in the whole batch. An image without positives keeps no negatives either,
 * so a batch without positives has nothing to sum: the reference returns 0/0 = NaN, here the
 * divisor becomes 1 and both losses and all gradients are 0.
 *
 * Gradients: d(cls)/d(conf[i]) = (softmax(conf[i]) - onehot(label)) / num_pos on kept priors;
 * d(reg)/d(loc) = clamp(loc - gt_loc, -1, 1) / num_pos on positives (torch takes sign(d) at
 * |d| == 1). Everything else is 0. Sums run in double. */
#include "box/box.h"

#include "box/topk.h"
#include "core/mem.h"

#include <math.h>
#include <string.h>

static double log_sum_exp(const float *x, int c) {
    double m = x[0];
    for (int j = 1; j < c; j++)
        if (x[j] > m) m = x[j];
    double s = 0;
    for (int j = 0; j < c; j++) s += exp((double)x[j] - m);
    return m + log(s);
}

/* Cross-entropy of one prior; writes its gradient row scaled by inv when drow is non-NULL. */
static double cross_entropy(float *drow, const float *x, int c, int64_t label, double lse,
                            double inv) {
    if (drow)
        for (int j = 0; j < c; j++)
            drow[j] = (float)((exp((double)x[j] - lse) - (j == label ? 1.0 : 0.0)) * inv);
    return lse - x[label];
}

static double smooth_l1(float *drow, const float *p, const float *t, double inv) {
    double sum = 0;
    for (int j = 0; j < 4; j++) {
        double d = (double)p[j] - (double)t[j], a = fabs(d);
        sum += a < 1.0 ? 0.5 * d * d : a - 0.5;
        if (drow) drow[j] = (float)((a < 1.0 ? d : (d > 0 ? 1.0 : -1.0)) * inv);
    }
    return sum;
}

ssd_status ssd_multibox_loss(double *reg_loss, double *cls_loss, float *dconf, float *dloc,
                             const float *conf, const float *loc, const int64_t *labels,
                             const float *gt_loc, int n, int k, int c, int neg_pos_ratio) {
    if (n < 0 || k < 0 || c < 1 || neg_pos_ratio < 0)
        return ssd_error_set(SSD_E_INVAL,
                             "multibox loss: bad sizes (batch %d, %d priors, %d classes, "
                             "neg_pos_ratio %d)",
                             n, k, c, neg_pos_ratio);
    size_t nk = (size_t)n * (size_t)k;
    int64_t total_pos = 0;
    for (size_t i = 0; i < nk; i++) {
        if (labels[i] < 0 || labels[i] >= c)
            return ssd_error_set(SSD_E_INVAL,
                                 "multibox loss: label %lld of prior %zu in image %zu is "
                                 "outside [0, %d)",
                                 (long long)labels[i], i % (size_t)k, i / (size_t)k, c);
        total_pos += labels[i] > 0;
    }
    if (dconf) memset(dconf, 0, nk * (size_t)c * sizeof(float));
    if (dloc) memset(dloc, 0, nk * 4 * sizeof(float));
    double inv = 1.0 / (double)(total_pos > 0 ? total_pos : 1);
    double reg = 0, cls = 0;
    ssd_status st = SSD_OK;
    float *bg = ssd_malloc(((size_t)k + 1) * sizeof(float));
    int *neg = ssd_malloc(((size_t)k + 1) * sizeof(int));
    if (!bg || !neg) {
        st = SSD_E_NOMEM;
        goto done;
    }
    for (int b = 0; b < n; b++) {
        const int64_t *lab = labels + (size_t)b * k;
        const float *cf = conf + (size_t)b * k * c;
        float *dcf = dconf ? dconf + (size_t)b * k * c : NULL;
        int npos = 0, nneg = 0;
        for (int i = 0; i < k; i++) {
            const float *x = cf + (size_t)i * c;
            if (lab[i] > 0) {
                npos++;
                cls += cross_entropy(dcf ? dcf + (size_t)i * c : NULL, x, c, lab[i],
                                     log_sum_exp(x, c), inv);
                size_t o = ((size_t)b * k + i) * 4;
                reg += smooth_l1(dloc ? dloc + o : NULL, loc + o, gt_loc + o, inv);
            } else {
                /* Ranked in float32 like the reference's background loss, rounded once from
                 * double so that a device computing the same key gets the same float (an expf
                 * an ulp off could reorder near-equal keys, and with them the kept set). */
                bg[i] = (float)(log_sum_exp(x, c) - (double)x[0]);
                neg[nneg++] = i;
            }
        }
        int64_t want = (int64_t)npos * neg_pos_ratio;
        int m = want < nneg ? (int)want : nneg;
        m = ssd_box_topk(neg, nneg, m, bg);
        for (int t = 0; t < m; t++) {
            int i = neg[t];
            const float *x = cf + (size_t)i * c;
            /* bg[i] is only a float key; the loss and gradient use a double lse. */
            cls += cross_entropy(dcf ? dcf + (size_t)i * c : NULL, x, c, 0, log_sum_exp(x, c), inv);
        }
    }
    *reg_loss = reg * inv;
    *cls_loss = cls * inv;
done:
    ssd_free(bg);
    ssd_free(neg);
    return st;
}

void ssd_loss_ws_free(ssd_loss_ws *ws) {
    ssd_tensor_deinit(&ws->labels);
    ssd_tensor_deinit(&ws->gt_loc);
    ssd_free(ws->conf);
    ssd_free(ws->loc);
    ssd_free(ws->dconf);
    ssd_free(ws->dloc);
    memset(ws, 0, sizeof *ws);
}

static ssd_status host_copies(ssd_loss_ws *ws, size_t nk, int c) {
    if (nk <= ws->cap && ws->conf) return SSD_OK;
    ssd_free(ws->conf);
    ssd_free(ws->loc);
    ssd_free(ws->dconf);
    ssd_free(ws->dloc);
    ws->conf = ssd_malloc(nk * (size_t)c * sizeof(float));
    ws->dconf = ssd_malloc(nk * (size_t)c * sizeof(float));
    ws->loc = ssd_malloc(nk * 4 * sizeof(float));
    ws->dloc = ssd_malloc(nk * 4 * sizeof(float));
    ws->cap = nk;
    if (ws->conf && ws->dconf && ws->loc && ws->dloc) return SSD_OK;
    ws->cap = 0;
    return ssd_error_prefix(SSD_E_NOMEM, "multibox loss");
}

ssd_status ssd_multibox_loss_on(ssd_loss_ws *ws, double *reg_loss, double *cls_loss,
                                ssd_tensor *dconf, ssd_tensor *dloc, const ssd_tensor *conf,
                                const ssd_tensor *loc, const int64_t *labels, const float *gt_loc,
                                int neg_pos_ratio) {
    if (conf->ndim != 3 || loc->ndim != 3 || loc->shape[2] != 4 ||
        loc->shape[0] != conf->shape[0] || loc->shape[1] != conf->shape[1] ||
        conf->shape[1] > INT32_MAX || conf->shape[2] > INT32_MAX || conf->shape[0] > INT32_MAX)
        return ssd_error_set(SSD_E_INVAL,
                             "multibox loss: conf must be (N,K,C) and loc (N,K,4) of the same N "
                             "and K");
    if ((dconf == NULL) != (dloc == NULL))
        return ssd_error_set(SSD_E_INVAL, "multibox loss: dconf and dloc come together");
    ssd_backend *be = conf->be;
    const int n = (int)conf->shape[0], k = (int)conf->shape[1], c = (int)conf->shape[2];
    const size_t nk = (size_t)n * (size_t)k;
    if (dconf) {
        ssd_tensor_ensure(dconf, be, SSD_F32, 3, conf->shape);
        ssd_tensor_ensure(dloc, be, SSD_F32, 3, loc->shape);
    }
    if (be->ops->multibox_loss) {
        const int64_t shape[3] = {n, k, 4};
        ssd_tensor_ensure(&ws->labels, be, SSD_I64, 2, shape);
        ssd_tensor_ensure(&ws->gt_loc, be, SSD_F32, 3, shape);
        /* The op waits for its result, so the caller may reuse the targets after it. */
        SSD_TRY(ssd_tensor_upload(&ws->labels, labels));
        SSD_TRY(ssd_tensor_upload(&ws->gt_loc, gt_loc));
        double out[2];
        SSD_TRY(be->ops->multibox_loss(be, dconf, dloc, out, conf, loc, &ws->labels, &ws->gt_loc,
                                       neg_pos_ratio));
        *reg_loss = out[0];
        *cls_loss = out[1];
        return SSD_OK;
    }
    SSD_TRY(host_copies(ws, nk, c));
    SSD_TRY(ssd_tensor_get(conf, ws->conf, SSD_F32));
    SSD_TRY(ssd_tensor_get(loc, ws->loc, SSD_F32));
    SSD_TRY(ssd_multibox_loss(reg_loss, cls_loss, dconf ? ws->dconf : NULL, dconf ? ws->dloc : NULL,
                              ws->conf, ws->loc, labels, gt_loc, n, k, c, neg_pos_ratio));
    if (!dconf) return SSD_OK;
    SSD_TRY(ssd_tensor_set(dconf, ws->dconf, SSD_F32));
    return ssd_tensor_set(dloc, ws->dloc, SSD_F32);
}
