/* The detector of `ssd detect` over the ONNX runtime or the model code. */
#include "runtime/detector.h"

#include "core/mem.h"
#include "models/model.h"
#include "runtime/onnx_runtime.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ssd_detector {
    ssd_backend *be;
    ssd_onnx_model *onnx;
    int out_cvg, out_bbox;
    ssd_model *pth;
    ssd_transform_cfg tf;
    int k, c, fixed_batch;
    ssd_tensor x;
    float *conf, *loc, *center; /* .pth: host copies of the heads and a decode buffer */
    size_t cap;                 /* images the .pth buffers hold */
};

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* "a,b,c" (or one number for all three) into mean; false when malformed. */
static bool parse_floats(const char *s, float *v, int n) {
    for (int i = 0; i < n; i++) {
        char *end;
        errno = 0;
        double d = strtod(s, &end);
        if (errno || end == s || !isfinite(d)) return false;
        v[i] = (float)d;
        if (i == 0 && *end == 0) {
            for (int j = 1; j < n; j++) v[j] = v[0];
            return true;
        }
        if (i + 1 < n) {
            if (*end != ',') return false;
            s = end + 1;
        } else if (*end) {
            return false;
        }
    }
    return true;
}

static ssd_status missing_tensor(const ssd_onnx_model *m, const char *path, const char *opt,
                                 const char *name) {
    char have[512];
    size_t off = (size_t)snprintf(have, sizeof have, "%s", ssd_onnx_input_name(m));
    for (int i = 0; i < ssd_onnx_num_outputs(m) && off < sizeof have; i++)
        off += (size_t)snprintf(have + off, sizeof have - off, ", %s", ssd_onnx_output_name(m, i));
    return ssd_error_set(SSD_E_INVAL, "%s: %s '%s': the graph has no such tensor (it has %s)", path,
                         opt, name, have);
}

static ssd_status open_onnx(ssd_detector *d, const ssd_detector_cfg *cfg) {
    const char *path = cfg->model;
    SSD_TRY(ssd_onnx_load(&d->onnx, path, d->be));
    ssd_onnx_model *m = d->onnx;
    SSD_TRY(ssd_onnx_set_precision(m, cfg->precision));
    if (cfg->input_blob && strcmp(cfg->input_blob, ssd_onnx_input_name(m)) != 0)
        return missing_tensor(m, path, "--input-blob", cfg->input_blob);
    const char *cvg = cfg->output_cvg ? cfg->output_cvg : "scores";
    const char *bbox = cfg->output_bbox ? cfg->output_bbox : "boxes";
    d->out_cvg = ssd_onnx_output_index(m, cvg);
    if (d->out_cvg < 0) return missing_tensor(m, path, "--output-cvg", cvg);
    d->out_bbox = ssd_onnx_output_index(m, bbox);
    if (d->out_bbox < 0) return missing_tensor(m, path, "--output-bbox", bbox);

    int64_t dims[SSD_MAX_DIMS];
    int nd = ssd_onnx_input_dims(m, dims);
    if (nd != 4 || (dims[1] > 0 && dims[1] != 3))
        return ssd_error_set(SSD_E_FORMAT, "%s: the input '%s' is not (N,3,H,W)", path,
                             ssd_onnx_input_name(m));
    if (dims[2] > 0 && dims[3] > 0 && dims[2] != dims[3])
        return ssd_error_set(SSD_E_UNSUPPORTED, "%s: input %lldx%lld is not square", path,
                             (long long)dims[3], (long long)dims[2]);
    int res = dims[2] > 0 ? (int)dims[2] : 0;
    const char *v = ssd_onnx_metadata(m, "resolution");
    if (res == 0 && v) res = atoi(v);
    if (res <= 0) res = 300;
    d->tf.size = res;
    d->tf.mean[0] = d->tf.mean[1] = d->tf.mean[2] = 127.0f;
    d->tf.std = 128.0f;
    if ((v = ssd_onnx_metadata(m, "mean")) && !parse_floats(v, d->tf.mean, 3))
        return ssd_error_set(SSD_E_FORMAT, "%s: metadata mean '%s' is not three numbers", path, v);
    if ((v = ssd_onnx_metadata(m, "std")) && (!parse_floats(v, &d->tf.std, 1) || d->tf.std == 0))
        return ssd_error_set(SSD_E_FORMAT, "%s: metadata std '%s' is not a non-zero number", path,
                             v);
    d->fixed_batch = dims[0] > 0 ? (int)dims[0] : 0;

    /* One run on zeros learns K and C and proves the outputs have the expected layout. */
    int b = d->fixed_batch ? d->fixed_batch : 1;
    int64_t shape[4] = {b, 3, res, res};
    ssd_tensor_ensure(&d->x, d->be, SSD_F32, 4, shape);
    SSD_TRY(ssd_tensor_fill(&d->x, 0));
    SSD_TRY(ssd_onnx_run(m, &d->x));
    const ssd_tensor *s = ssd_onnx_output(m, d->out_cvg), *bx = ssd_onnx_output(m, d->out_bbox);
    if (s->ndim != 3 || s->shape[0] != b || s->shape[2] < 2)
        return ssd_error_set(SSD_E_FORMAT, "%s: output '%s' is not (N,K,classes)", path, cvg);
    if (bx->ndim != 3 || bx->shape[0] != b || bx->shape[1] != s->shape[1] || bx->shape[2] != 4)
        return ssd_error_set(SSD_E_FORMAT, "%s: output '%s' is not (N,K,4) beside '%s'", path, bbox,
                             cvg);
    d->k = (int)s->shape[1];
    d->c = (int)s->shape[2];
    return SSD_OK;
}

static ssd_status open_pth(ssd_detector *d, const ssd_detector_cfg *cfg) {
    if (cfg->input_blob || cfg->output_cvg || cfg->output_bbox)
        return ssd_error_set(SSD_E_INVAL,
                             "%s: --input-blob/--output-cvg/--output-bbox name ONNX tensors; a "
                             ".pth has none",
                             cfg->model);
    const char *net = cfg->net ? cfg->net : "mb1-ssd";
    if (!strcmp(net, "ssd-mobilenet")) net = "mb1-ssd";
    if (!ssd_net_known(net)) return ssd_error_set(SSD_E_INVAL, "--net %s: unknown net", net);
    if (!ssd_net_supported(net))
        return ssd_error_set(SSD_E_UNSUPPORTED, "--net %s is not supported yet (mb1-ssd is)", net);
    if (cfg->num_classes < 2)
        return ssd_error_set(SSD_E_INVAL,
                             "%s: a .pth needs --labels (BACKGROUND and at least one class)",
                             cfg->model);
    SSD_TRY(ssd_model_create_wm(&d->pth, d->be, net, cfg->num_classes, cfg->resolution,
                                cfg->width_mult > 0 ? (float)cfg->width_mult : 1.0f));
    SSD_TRY(ssd_model_load(d->pth, cfg->model, SSD_LOAD_FULL));
    ssd_status st = ssd_model_set_precision(d->pth, cfg->precision);
    if (st != SSD_OK) return ssd_error_prefix(st, "%s", cfg->model);
    ssd_model *m = d->pth;
    d->tf.size = m->resolution;
    memcpy(d->tf.mean, m->image_mean, sizeof d->tf.mean);
    d->tf.std = m->image_std;
    d->k = m->num_priors;
    d->c = m->num_classes;
    d->center = ssd_malloc((size_t)d->k * 4 * sizeof(float));
    return d->center ? SSD_OK : SSD_E_NOMEM;
}

ssd_status ssd_detector_open(ssd_detector **out, const ssd_detector_cfg *cfg) {
    *out = NULL;
    if (!cfg->model || !cfg->model[0]) return ssd_error_set(SSD_E_INVAL, "no --model given");
    ssd_detector *d = ssd_calloc(1, sizeof *d);
    if (!d) return SSD_E_NOMEM;
    ssd_status st = ssd_backend_create(&d->be, cfg->backend ? cfg->backend : "cpu");
    if (st == SSD_OK)
        st = ends_with(cfg->model, ".pth") || ends_with(cfg->model, ".pt") ? open_pth(d, cfg)
                                                                           : open_onnx(d, cfg);
    if (st != SSD_OK) {
        ssd_detector_destroy(d);
        return st;
    }
    *out = d;
    return SSD_OK;
}

void ssd_detector_destroy(ssd_detector *d) {
    if (!d) return;
    ssd_tensor_deinit(&d->x);
    ssd_onnx_destroy(d->onnx);
    ssd_model_destroy(d->pth);
    ssd_backend_destroy(d->be);
    ssd_free(d->conf);
    ssd_free(d->loc);
    ssd_free(d->center);
    ssd_free(d);
}

int ssd_detector_num_classes(const ssd_detector *d) {
    return d->c;
}
int ssd_detector_num_priors(const ssd_detector *d) {
    return d->k;
}
const ssd_transform_cfg *ssd_detector_transform(const ssd_detector *d) {
    return &d->tf;
}
int ssd_detector_fixed_batch(const ssd_detector *d) {
    return d->fixed_batch;
}

const char *ssd_detector_meta_labels(const ssd_detector *d) {
    if (!d->onnx) return NULL;
    const char *v = ssd_onnx_metadata(d->onnx, "labels");
    return v && v[0] ? v : NULL;
}

/* exp(x - max) * (1 / sum) per row, as the exported graph's Softmax and PyTorch's CPU kernel. */
static void softmax_rows(float *y, const float *x, int k, int c) {
    for (int i = 0; i < k; i++, x += c, y += c) {
        float mx = x[0], sum = 0;
        for (int j = 1; j < c; j++) mx = x[j] > mx ? x[j] : mx;
        for (int j = 0; j < c; j++) sum += (y[j] = expf(x[j] - mx));
        float inv = 1 / sum;
        for (int j = 0; j < c; j++) y[j] *= inv;
    }
}

static ssd_status run_pth(ssd_detector *d, int n, float *scores, float *boxes) {
    ssd_model *m = d->pth;
    SSD_TRY(ssd_model_forward(m, &d->x, false));
    if ((size_t)n > d->cap) {
        ssd_free(d->conf);
        ssd_free(d->loc);
        d->conf = ssd_malloc((size_t)n * d->k * d->c * sizeof(float));
        d->loc = ssd_malloc((size_t)n * d->k * 4 * sizeof(float));
        d->cap = d->conf && d->loc ? (size_t)n : 0;
        if (!d->cap) return SSD_E_NOMEM;
    }
    SSD_TRY(ssd_tensor_get(&m->conf, d->conf, SSD_F32));
    SSD_TRY(ssd_tensor_get(&m->loc, d->loc, SSD_F32));
    size_t kc = (size_t)d->k * d->c, k4 = (size_t)d->k * 4;
    for (int i = 0; i < n; i++) {
        softmax_rows(scores + i * kc, d->conf + i * kc, d->k, d->c);
        ssd_box_decode(d->center, d->loc + i * k4, m->priors, d->k, m->center_variance,
                       m->size_variance);
        ssd_box_center_to_corner(boxes + i * k4, d->center, d->k);
    }
    return SSD_OK;
}

ssd_status ssd_detector_run(ssd_detector *d, const float *x, int n, float *scores, float *boxes) {
    if (n < 1 || (d->fixed_batch && n != d->fixed_batch))
        return ssd_error_set(SSD_E_INVAL, "detector: batch of %d (the graph takes %d)", n,
                             d->fixed_batch);
    int64_t shape[4] = {n, 3, d->tf.size, d->tf.size};
    ssd_tensor_ensure(&d->x, d->be, SSD_F32, 4, shape);
    SSD_TRY(ssd_tensor_set(&d->x, x, SSD_F32));
    if (d->pth) return run_pth(d, n, scores, boxes);
    SSD_TRY(ssd_onnx_run(d->onnx, &d->x));
    SSD_TRY(ssd_onnx_output_get(d->onnx, d->out_cvg, scores));
    return ssd_onnx_output_get(d->onnx, d->out_bbox, boxes);
}

/* ---- post-processing ----------------------------------------------------------------------- */

void ssd_detect_post_default(ssd_detect_post *p) {
    memset(p, 0, sizeof *p);
    p->threshold = 0.5f;
    p->cluster = 0.75f;
    p->iou = 0.45f;
    p->top_k = -1;
    p->candidates = 200;
}

static float clampf(float v, float lo, float hi) {
    if (!(v >= lo)) return lo; /* NaN too */
    return v > hi ? hi : v;
}

static float area(const float *b) {
    return (b[2] - b[0]) * (b[3] - b[1]);
}

static float inter_area(const float *a, const float *b) {
    float w = fminf(a[2], b[2]) - fmaxf(a[0], b[0]), h = fminf(a[3], b[3]) - fmaxf(a[1], b[1]);
    return w > 0 && h > 0 ? w * h : 0;
}

static ssd_status cluster(ssd_detection **out, int *n, const float *scores, const float *boxes,
                          int k, int c, int w, int h, const ssd_detect_post *p) {
    ssd_detection *det = NULL;
    int nd = 0, cap = 0;
    for (int i = 0; i < k; i++) {
        const float *s = scores + (size_t)i * c;
        int best = 0;
        for (int j = 1; j < c; j++)
            if (s[j] >= p->threshold && !(p->skip && p->skip[j]) && (!best || s[j] > s[best]))
                best = j;
        if (!best) continue;
        const float *b = boxes + (size_t)i * 4;
        float px[4] = {b[0] * w, b[1] * h, b[2] * w, b[3] * h};
        bool merged = false;
        for (int q = 0; q < nd && !merged; q++) {
            if (det[q].label != best) continue;
            float a0 = area(det[q].box), a1 = area(px);
            if (inter_area(det[q].box, px) > p->cluster * fmaxf(a0, a1)) {
                det[q].box[0] = fminf(det[q].box[0], px[0]);
                det[q].box[1] = fminf(det[q].box[1], px[1]);
                det[q].box[2] = fmaxf(det[q].box[2], px[2]);
                det[q].box[3] = fmaxf(det[q].box[3], px[3]);
                det[q].prob = fmaxf(det[q].prob, s[best]);
                merged = true;
            }
        }
        if (merged) continue;
        if (nd == cap) {
            int nc = cap ? cap * 2 : 16;
            ssd_detection *nn = ssd_realloc(det, sizeof *nn * (size_t)nc);
            if (!nn) {
                ssd_free(det);
                return SSD_E_NOMEM;
            }
            det = nn;
            cap = nc;
        }
        memcpy(det[nd].box, px, sizeof px);
        det[nd].label = best;
        det[nd].prob = s[best];
        nd++;
    }
    for (int i = 0; i < nd; i++)
        for (int j = 0; j < 4; j++)
            det[i].box[j] = clampf(det[i].box[j], 0, (float)((j & 1 ? h : w) - 1));
    /* Largest first, stable as detectnet's bubble sort, by the clamped
     * area (detectnet sorts before clamping, which can leave a clipped box out of order). */
    for (int i = 1; i < nd; i++) {
        ssd_detection t = det[i];
        int j = i;
        for (; j > 0 && area(det[j - 1].box) < area(t.box); j--) det[j] = det[j - 1];
        det[j] = t;
    }
    *out = det;
    *n = nd;
    return SSD_OK;
}

ssd_status ssd_detect_postprocess(ssd_detection **out, int *n, const float *scores,
                                  const float *boxes, int k, int c, int w, int h,
                                  const ssd_detect_post *p) {
    *out = NULL;
    *n = 0;
    if (k < 0 || c < 2 || w < 1 || h < 1)
        return ssd_error_set(SSD_E_INVAL, "detect: %d priors, %d classes, image %dx%d", k, c, w, h);
    if (p->clustering) return cluster(out, n, scores, boxes, k, c, w, h, p);
    ssd_predict_params pp = {p->iou, p->threshold, p->candidates, p->top_k, false, 0.5f};
    ssd_detection *det = NULL;
    int nd = 0;
    SSD_TRY(ssd_predict(&det, &nd, scores, boxes, k, c, w, h, &pp));
    int m = 0;
    for (int i = 0; i < nd; i++) {
        if (p->skip && p->skip[det[i].label]) continue;
        det[m] = det[i];
        for (int j = 0; j < 4; j++)
            det[m].box[j] = clampf(det[m].box[j], 0, (float)(j & 1 ? h : w));
        m++;
    }
    if (m == 0) {
        ssd_free(det);
        det = NULL;
    }
    *out = det;
    *n = m;
    return SSD_OK;
}
