#include "models/import_tfjs.h"

#include "core/log.h"
#include "core/mem.h"
#include "data/image.h"
#include "formats/pth.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static ssd_status push(char ***list, int *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static ssd_status push(char ***list, int *n, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char **nl = ssd_realloc(*list, (size_t)(*n + 1) * sizeof *nl);
    if (!nl) return SSD_E_NOMEM;
    *list = nl;
    nl[*n] = ssd_strdup(buf);
    if (!nl[*n]) return SSD_E_NOMEM;
    (*n)++;
    return SSD_OK;
}

static void free_list(char **l, int n) {
    for (int i = 0; i < n; i++) ssd_free(l[i]);
    ssd_free(l);
}

void ssd_tfjs_report_free(ssd_tfjs_report *r) {
    if (!r) return;
    free_list(r->fresh, r->nfresh);
    free_list(r->unused, r->nunused);
    free_list(r->folded, r->nfolded);
    memset(r, 0, sizeof *r);
}

static void shape_str(char *buf, size_t n, int ndim, const int64_t *shape) {
    size_t off = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && off < n; i++)
        off += (size_t)snprintf(buf + off, n - off, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (off < n) snprintf(buf + off, n - off, "]");
}

/* One model layer and where its values come from. */
typedef enum {
    SRC_CONV,      /* kernel only: "<tf>/weights" or "<tf>/depthwise_weights" */
    SRC_CONV_BIAS, /* kernel + "<tf>/convolution_bn_offset" as the bias */
    SRC_BN,        /* "<tf>/BatchNorm/{gamma,beta,moving_mean,moving_variance}" */
    SRC_FOLDED,    /* "<tf>/convolution_bn_offset" as an identity BN */
} src_kind;

typedef struct {
    ssd_layer *l;
    src_kind kind;
    char tf[96];
} mapping;

/* Up to 4 converted tensors of one layer, in ssd_layer_params order. */
typedef struct {
    int n;
    const char *what[4];
    ssd_tensor *dst[4];
    float *val[4];
    int ndim[4];
    int64_t shape[4][4];
    const char *from[4]; /* the file tensor, for messages */
} converted;

static void converted_free(converted *c) {
    for (int i = 0; i < c->n; i++) ssd_free(c->val[i]);
    memset(c, 0, sizeof *c);
}

static ssd_status add_out(converted *c, const char *what, ssd_tensor *dst, int ndim,
                          const int64_t *shape, const char *from, float **val) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    int k = c->n++;
    c->what[k] = what;
    c->dst[k] = dst;
    c->ndim[k] = ndim;
    memcpy(c->shape[k], shape, (size_t)ndim * sizeof *shape);
    c->from[k] = from;
    c->val[k] = *val = ssd_malloc((size_t)(n ? n : 1) * sizeof(float));
    return *val ? SSD_OK : SSD_E_NOMEM;
}

/* Finds a float tensor of the file or notes it as missing. */
static const ssd_tfjs_tensor *need(const ssd_tfjs_weights *w, const char *tf, const char *leaf,
                                   char ***missing, int *nmissing, ssd_status *st) {
    char name[160];
    snprintf(name, sizeof name, "%s/%s", tf, leaf);
    const ssd_tfjs_tensor *t = ssd_tfjs_find(w, name);
    if (!t || t->dtype != SSD_F32) {
        ssd_status s = push(missing, nmissing, "%s%s", name, t ? " (not float32)" : "");
        if (s != SSD_OK) *st = s;
        return NULL;
    }
    return t;
}

/* HWIO -> OIHW; depthwise [kh, kw, C, M] -> [C*M, 1, kh, kw]. */
static ssd_status conv_kernel(converted *c, ssd_layer *l, const ssd_tfjs_tensor *t) {
    float *o;
    const float *in = t->data;
    if (t->ndim != 4) { /* kept as it is: it will not fit, and is reported so */
        SSD_TRY(add_out(c, "weight", &l->u.conv.w, t->ndim, t->shape, t->name, &o));
        memcpy(o, in, (size_t)ssd_tfjs_numel(t) * sizeof *o);
        return SSD_OK;
    }
    int64_t kh = t->shape[0], kw = t->shape[1], ci = t->shape[2], co = t->shape[3];
    bool dw = l->u.conv.p.groups > 1;
    int64_t shape[4] = {co, ci, kh, kw};
    if (dw) shape[0] = ci * co, shape[1] = 1;
    SSD_TRY(add_out(c, "weight", &l->u.conv.w, 4, shape, t->name, &o));
    for (int64_t y = 0; y < kh; y++)
        for (int64_t x = 0; x < kw; x++)
            for (int64_t i = 0; i < ci; i++)
                for (int64_t j = 0; j < co; j++) {
                    float v = in[((y * kw + x) * ci + i) * co + j];
                    if (dw)
                        o[((i * co + j) * kh + y) * kw + x] = v;
                    else
                        o[((j * ci + i) * kh + y) * kw + x] = v;
                }
    return SSD_OK;
}

static ssd_status vec_out(converted *c, const char *what, ssd_tensor *dst, const ssd_tfjs_tensor *t,
                          float **o) {
    int64_t n = ssd_tfjs_numel(t);
    SSD_TRY(add_out(c, what, dst, 1, &n, t->name, o));
    memcpy(*o, t->data, (size_t)n * sizeof **o);
    return SSD_OK;
}

static ssd_status convert_layer(converted *c, const mapping *mp, const ssd_tfjs_weights *w,
                                char ***missing, int *nmissing) {
    ssd_status st = SSD_OK;
    ssd_layer *l = mp->l;
    float *o;
    if (mp->kind == SRC_CONV || mp->kind == SRC_CONV_BIAS) {
        bool dw = l->u.conv.p.groups > 1;
        const ssd_tfjs_tensor *k =
            need(w, mp->tf, dw ? "depthwise_weights" : "weights", missing, nmissing, &st);
        const ssd_tfjs_tensor *b =
            mp->kind == SRC_CONV_BIAS
                ? need(w, mp->tf, "convolution_bn_offset", missing, nmissing, &st)
                : NULL;
        if (st != SSD_OK || !k || (mp->kind == SRC_CONV_BIAS && !b)) return st;
        SSD_TRY(conv_kernel(c, l, k));
        if (b) SSD_TRY(vec_out(c, "bias", &l->u.conv.b, b, &o));
        return SSD_OK;
    }
    ssd_bn_layer *bn = &l->u.bn;
    if (mp->kind == SRC_FOLDED) {
        const ssd_tfjs_tensor *off =
            need(w, mp->tf, "convolution_bn_offset", missing, nmissing, &st);
        if (!off) return st;
        int64_t n = ssd_tfjs_numel(off);
        SSD_TRY(add_out(c, "weight", &bn->gamma, 1, &n, off->name, &o));
        for (int64_t i = 0; i < n; i++) o[i] = 1.0f;
        SSD_TRY(vec_out(c, "bias", &bn->beta, off, &o));
        SSD_TRY(add_out(c, "running_mean", &bn->running_mean, 1, &n, off->name, &o));
        for (int64_t i = 0; i < n; i++) o[i] = 0.0f;
        /* 1 - eps makes sqrt(var + eps) exactly 1 in eval mode. */
        SSD_TRY(add_out(c, "running_var", &bn->running_var, 1, &n, off->name, &o));
        for (int64_t i = 0; i < n; i++) o[i] = (float)(1.0 - bn->p.eps);
        return SSD_OK;
    }
    char tf[128];
    snprintf(tf, sizeof tf, "%s/BatchNorm", mp->tf);
    const ssd_tfjs_tensor *g = need(w, tf, "gamma", missing, nmissing, &st);
    const ssd_tfjs_tensor *be = need(w, tf, "beta", missing, nmissing, &st);
    const ssd_tfjs_tensor *mean = need(w, tf, "moving_mean", missing, nmissing, &st);
    const ssd_tfjs_tensor *var = need(w, tf, "moving_variance", missing, nmissing, &st);
    if (!g || !be || !mean || !var) return st;
    SSD_TRY(vec_out(c, "weight", &bn->gamma, g, &o));
    SSD_TRY(vec_out(c, "bias", &bn->beta, be, &o));
    SSD_TRY(vec_out(c, "running_mean", &bn->running_mean, mean, &o));
    SSD_TRY(vec_out(c, "running_var", &bn->running_var, var, &o));
    /* TensorFlow normalises by sqrt(var + 1e-3), PyTorch by sqrt(var + 1e-5). */
    for (int64_t i = 0; i < ssd_tfjs_numel(var); i++)
        o[i] = (float)((double)o[i] + SSD_TFJS_TF_BN_EPS - bn->p.eps);
    return SSD_OK;
}

/* The model's layer with a printf-formatted name (NULL if absent). */
static ssd_layer *layer_named(ssd_model *m, const char *fmt, ...) {
    char name[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return ssd_model_find_layer(m, name);
}
#define L(...) layer_named(m, __VA_ARGS__)

static int build_mappings(ssd_model *m, mapping *mp, int cap) {
    int n = 0;
#define MAP(layer, k, ...)                                                                         \
    do {                                                                                           \
        if (n < cap) {                                                                             \
            mp[n].l = (layer);                                                                     \
            mp[n].kind = (k);                                                                      \
            snprintf(mp[n].tf, sizeof mp[n].tf, __VA_ARGS__);                                      \
        }                                                                                          \
        n++;                                                                                       \
    } while (0)
    MAP(L("base_net.0.0"), SRC_CONV, "MobilenetV1/Conv2d_0_pointwise");
    MAP(L("base_net.0.1"), SRC_FOLDED, "MobilenetV1/Conv2d_0_pointwise");
    for (int i = 1; i < 14; i++) {
        MAP(L("base_net.%d.0", i), SRC_CONV, "MobilenetV1/Conv2d_%d_depthwise", i);
        MAP(L("base_net.%d.1", i), SRC_BN, "MobilenetV1/Conv2d_%d_depthwise", i);
        MAP(L("base_net.%d.3", i), SRC_CONV, "MobilenetV1/Conv2d_%d_pointwise", i);
        MAP(L("base_net.%d.4", i), SRC_FOLDED, "MobilenetV1/Conv2d_%d_pointwise", i);
    }
    for (int j = 0; j < 4; j++) {
        MAP(L("extras.%d.0", j), SRC_CONV_BIAS, "Prediction/Conv2d_%d_pointwise", 2 * j);
        MAP(L("extras.%d.2", j), SRC_CONV_BIAS, "Prediction/Conv2d_%d_pointwise", 2 * j + 1);
    }
#undef MAP
    for (int i = 0; i < n && i < cap; i++)
        if (!mp[i].l) return -1;
    return n;
}
#undef L

static bool shapes_fit(const converted *c, char *why, size_t n) {
    for (int i = 0; i < c->n; i++) {
        const ssd_tensor *t = c->dst[i];
        bool same = t->ndim == c->ndim[i];
        for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == c->shape[i][d];
        if (!same) {
            char a[64], b[64];
            shape_str(a, sizeof a, t->ndim, t->shape);
            shape_str(b, sizeof b, c->ndim[i], c->shape[i]);
            snprintf(why, n, "%s %s in the model, %s from %s", c->what[i], a, b, c->from[i]);
            return false;
        }
    }
    return true;
}

ssd_status ssd_mb1_import_tfjs(ssd_model *m, const ssd_tfjs_weights *w, ssd_tfjs_report *r) {
    memset(r, 0, sizeof *r);
    if (strcmp(m->net, "mb1-ssd") != 0)
        return ssd_error_set(SSD_E_INVAL, "TensorFlow.js import maps onto mb1-ssd, not %s", m->net);
    mapping mp[64];
    int n = build_mappings(m, mp, 64);
    if (n < 0) return ssd_error_set(SSD_E_INVAL, "TensorFlow.js import: mb1-ssd layer missing");
    if (n > 64) return ssd_error_set(SSD_E_INVAL, "TensorFlow.js import: %d layers to map", n);
    converted *cv = ssd_calloc((size_t)n, sizeof *cv);
    bool *used = ssd_calloc((size_t)w->count + 1, sizeof *used);
    char **missing = NULL;
    int nmissing = 0;
    ssd_status st = cv && used ? SSD_OK : SSD_E_NOMEM;
    /* Everything is converted and checked before the model is touched. */
    for (int i = 0; i < n && st == SSD_OK; i++)
        st = convert_layer(&cv[i], &mp[i], w, &missing, &nmissing);
    if (st == SSD_OK && nmissing) {
        char list[2048];
        size_t off = 0;
        list[0] = 0;
        for (int i = 0; i < nmissing && off < sizeof list; i++)
            off +=
                (size_t)snprintf(list + off, sizeof list - off, "%s%s", i ? ", " : "", missing[i]);
        st = ssd_error_set(SSD_E_FORMAT,
                           "not the SSD-MobileNetV1 layout this converter knows: %d tensor%s "
                           "missing: %s",
                           nmissing, nmissing == 1 ? " is" : "s are", list);
    }
    for (int i = 0; i < n && st == SSD_OK; i++) {
        char why[400];
        if (!shapes_fit(&cv[i], why, sizeof why)) {
            st = push(&r->fresh, &r->nfresh, "%s: %s", mp[i].l->name, why);
            continue;
        }
        for (int k = 0; k < cv[i].n; k++) {
            const ssd_tfjs_tensor *t = ssd_tfjs_find(w, cv[i].from[k]);
            if (t) used[t - w->t] = true;
        }
        if (mp[i].kind == SRC_FOLDED && st == SSD_OK)
            st = push(&r->folded, &r->nfolded, "%s", mp[i].l->name);
    }
    for (int i = 0; i < n && st == SSD_OK; i++) {
        char why[8];
        if (!shapes_fit(&cv[i], why, sizeof why)) continue;
        for (int k = 0; k < cv[i].n && st == SSD_OK; k++) {
            st = ssd_tensor_set(cv[i].dst[k], cv[i].val[k], SSD_F32);
            r->converted++;
        }
        if (mp[i].l->kind == SSD_L_BN) mp[i].l->u.bn.num_batches_tracked = 0;
    }
    for (int i = 0; i < w->count && st == SSD_OK; i++)
        if (!used[i]) st = push(&r->unused, &r->nunused, "%s", w->t[i].name);
    for (int i = 0; cv && i < n; i++) converted_free(&cv[i]);
    ssd_free(cv);
    ssd_free(used);
    free_list(missing, nmissing);
    if (st != SSD_OK) ssd_tfjs_report_free(r);
    return st;
}

/* ---- calibration ---------------------------------------------------------- */

typedef struct {
    ssd_layer *bn;
    double *mean, *m2; /* running (Chan et al.) per channel */
    double count;
} calib_bn;

struct ssd_bn_calib {
    ssd_model *m;
    calib_bn *b;
    int n;
    float *buf;
    size_t cap;
};

void ssd_bn_calib_destroy(ssd_bn_calib *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) {
        ssd_free(c->b[i].mean);
        ssd_free(c->b[i].m2);
    }
    ssd_free(c->b);
    ssd_free(c->buf);
    ssd_free(c);
}

ssd_status ssd_bn_calib_create(ssd_bn_calib **out, ssd_model *m, const ssd_tfjs_report *r) {
    *out = NULL;
    ssd_bn_calib *c = ssd_calloc(1, sizeof *c);
    if (!c) return SSD_E_NOMEM;
    c->m = m;
    c->b = ssd_calloc((size_t)(r->nfolded ? r->nfolded : 1), sizeof *c->b);
    if (!c->b) {
        ssd_bn_calib_destroy(c);
        return SSD_E_NOMEM;
    }
    for (int i = 0; i < r->nfolded; i++) {
        ssd_layer *l = ssd_model_find_layer(m, r->folded[i]);
        if (!l || l->kind != SSD_L_BN) {
            ssd_bn_calib_destroy(c);
            return ssd_error_set(SSD_E_INVAL, "calibration: no batch norm '%s' in the base net",
                                 r->folded[i]);
        }
        calib_bn *b = &c->b[c->n++];
        b->bn = l;
        int C = l->u.bn.c;
        b->mean = ssd_calloc((size_t)C, sizeof *b->mean);
        b->m2 = ssd_calloc((size_t)C, sizeof *b->m2);
        if (!b->mean || !b->m2) {
            ssd_bn_calib_destroy(c);
            return SSD_E_NOMEM;
        }
    }
    *out = c;
    return SSD_OK;
}

ssd_status ssd_bn_calib_add(ssd_bn_calib *c, const ssd_tensor *x) {
    /* every activation kept to the end of the pass, so each BN's input can be read */
    c->m->g.keep_all = true;
    ssd_status st = ssd_model_forward(c->m, x, false);
    c->m->g.keep_all = false;
    SSD_TRY(st);
    for (int k = 0; k < c->n; k++) {
        calib_bn *b = &c->b[k];
        const ssd_tensor *in = b->bn->x; /* the conv output this BN normalised */
        if (!in || in->ndim != 4 || in->shape[1] != b->bn->u.bn.c)
            return ssd_error_set(SSD_E_INVAL, "calibration: no input recorded for %s", b->bn->name);
        size_t n = (size_t)ssd_tensor_numel(in);
        if (n > c->cap) {
            float *nb = ssd_realloc(c->buf, n * sizeof *nb);
            if (!nb) return SSD_E_NOMEM;
            c->buf = nb;
            c->cap = n;
        }
        SSD_TRY(ssd_tensor_get(in, c->buf, SSD_F32));
        int64_t N = in->shape[0], C = in->shape[1], hw = in->shape[2] * in->shape[3];
        for (int64_t ch = 0; ch < C; ch++) {
            /* Two passes over this batch, then Chan's merge into the running pair. */
            double s = 0, m2 = 0;
            for (int64_t i = 0; i < N; i++) {
                const float *p = c->buf + (i * C + ch) * hw;
                for (int64_t j = 0; j < hw; j++) s += p[j];
            }
            double nb = (double)(N * hw), mb = s / nb;
            for (int64_t i = 0; i < N; i++) {
                const float *p = c->buf + (i * C + ch) * hw;
                for (int64_t j = 0; j < hw; j++) m2 += (p[j] - mb) * (p[j] - mb);
            }
            double na = b->count, tot = na + nb, d = mb - b->mean[ch];
            b->mean[ch] += d * nb / tot;
            b->m2[ch] += m2 + d * d * na * nb / tot;
        }
        b->count += (double)(N * hw);
    }
    return SSD_OK;
}

/* Re-expresses y = g (z - m) / sqrt(v + eps) + b with running statistics
 * (mu, s2) measured on data and the same eval-mode function:
 * g' = g sqrt(s2 + eps) / sqrt(v + eps), b' = b + g (mu - m) / sqrt(v + eps).
 * For the identity form (g 1, b offset, m 0, v 1 - eps) that is
 * g' = sqrt(s2 + eps), b' = offset + mu. */
ssd_status ssd_bn_calib_apply(ssd_bn_calib *c) {
    for (int k = 0; k < c->n; k++) {
        calib_bn *b = &c->b[k];
        ssd_bn_layer *bn = &b->bn->u.bn;
        if (b->count <= 0) return ssd_error_set(SSD_E_INVAL, "calibration: no images were added");
        int C = bn->c;
        float *v = ssd_malloc((size_t)C * 4 * sizeof *v);
        if (!v) return SSD_E_NOMEM;
        float *gamma = v, *beta = v + C, *mean = v + 2 * C, *var = v + 3 * C;
        ssd_status st = ssd_tensor_get(&bn->gamma, gamma, SSD_F32);
        if (st == SSD_OK) st = ssd_tensor_get(&bn->beta, beta, SSD_F32);
        if (st == SSD_OK) st = ssd_tensor_get(&bn->running_mean, mean, SSD_F32);
        if (st == SSD_OK) st = ssd_tensor_get(&bn->running_var, var, SSD_F32);
        for (int i = 0; i < C && st == SSD_OK; i++) {
            double mu = b->mean[i], s2 = b->m2[i] / b->count;
            double scale = (double)gamma[i] / sqrt((double)var[i] + bn->p.eps);
            beta[i] = (float)((double)beta[i] + scale * (mu - (double)mean[i]));
            gamma[i] = (float)(scale * sqrt(s2 + bn->p.eps));
            mean[i] = (float)mu;
            var[i] = (float)s2;
        }
        if (st == SSD_OK) st = ssd_tensor_set(&bn->gamma, gamma, SSD_F32);
        if (st == SSD_OK) st = ssd_tensor_set(&bn->beta, beta, SSD_F32);
        if (st == SSD_OK) st = ssd_tensor_set(&bn->running_mean, mean, SSD_F32);
        if (st == SSD_OK) st = ssd_tensor_set(&bn->running_var, var, SSD_F32);
        ssd_free(v);
        SSD_TRY(st);
    }
    return SSD_OK;
}

/* ---- preprocessing, saving, the whole conversion -------------------------- */

void ssd_preprocess_image(const uint8_t *rgb, int w, int h, int r, const float mean[3], float std,
                          float *out) {
    double sx = (double)w / r, sy = (double)h / r;
    for (int y = 0; y < r; y++) {
        double fy = (y + 0.5) * sy - 0.5;
        int y0 = (int)floor(fy);
        double ay = fy - y0;
        if (y0 < 0) y0 = 0, ay = 0;
        if (y0 >= h - 1) y0 = h - 1, ay = 0;
        int y1 = y0 + 1 < h ? y0 + 1 : y0;
        for (int x = 0; x < r; x++) {
            double fx = (x + 0.5) * sx - 0.5;
            int x0 = (int)floor(fx);
            double ax = fx - x0;
            if (x0 < 0) x0 = 0, ax = 0;
            if (x0 >= w - 1) x0 = w - 1, ax = 0;
            int x1 = x0 + 1 < w ? x0 + 1 : x0;
            for (int c = 0; c < 3; c++) {
                double v00 = rgb[((size_t)y0 * w + x0) * 3 + c],
                       v01 = rgb[((size_t)y0 * w + x1) * 3 + c];
                double v10 = rgb[((size_t)y1 * w + x0) * 3 + c],
                       v11 = rgb[((size_t)y1 * w + x1) * 3 + c];
                double v =
                    (v00 * (1 - ax) + v01 * ax) * (1 - ay) + (v10 * (1 - ax) + v11 * ax) * ay;
                out[((size_t)c * r + y) * r + x] = (float)((v - mean[c]) / std);
            }
        }
    }
}

static bool image_name(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot || name[0] == '.') return false;
    return !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png") ||
           !strcasecmp(dot, ".bmp");
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Image files directly in dir, sorted by name. */
static ssd_status list_images(const char *dir, char ***out, int *n) {
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return ssd_error_set(SSD_E_IO, "%s: cannot open the calibration folder", dir);
    ssd_status st = SSD_OK;
    struct dirent *e;
    while ((e = readdir(d)) && st == SSD_OK)
        if (image_name(e->d_name)) st = push(out, n, "%s/%s", dir, e->d_name);
    closedir(d);
    if (st == SSD_OK && *n == 0)
        st = ssd_error_set(SSD_E_INVAL, "%s: no images (.jpg, .jpeg, .png, .bmp) to calibrate on",
                           dir);
    if (st != SSD_OK) {
        free_list(*out, *n);
        *out = NULL;
        *n = 0;
        return st;
    }
    qsort(*out, (size_t)*n, sizeof **out, cmp_str);
    return SSD_OK;
}

static ssd_status calibrate_dir(ssd_model *m, ssd_tfjs_report *r, const ssd_tfjs_convert_opts *o) {
    char **files = NULL;
    int nfiles = 0;
    SSD_TRY(list_images(o->calib_dir, &files, &nfiles));
    int max = o->calib_max > 0 ? o->calib_max : 64, batch = o->batch > 0 ? o->batch : 8;
    if (nfiles > max) nfiles = max;
    if (batch > nfiles) batch = nfiles;
    int R = m->resolution;
    size_t per = (size_t)3 * R * R;
    float *x = ssd_malloc((size_t)batch * per * sizeof *x);
    ssd_bn_calib *c = NULL;
    ssd_tensor t = {0};
    ssd_status st = x ? ssd_bn_calib_create(&c, m, r) : SSD_E_NOMEM;
    int used = 0, skipped = 0;
    for (int i = 0; i < nfiles && st == SSD_OK;) {
        int nb = 0;
        for (; i < nfiles && nb < batch && st == SSD_OK; i++) {
            ssd_image img = {0};
            ssd_status ls = ssd_image_load(&img, files[i]);
            if (ls == SSD_E_NOMEM) st = ls;
            if (ls != SSD_OK) {
                ssd_warn("calibration: skipping %s", ssd_error_message());
                skipped++;
                continue;
            }
            ssd_preprocess_image(img.px, img.w, img.h, R, m->image_mean, m->image_std,
                                 x + nb * per);
            ssd_image_free(&img);
            nb++;
        }
        if (st != SSD_OK || nb == 0) break;
        ssd_tensor_init4(&t, m->be, SSD_F32, nb, 3, R, R);
        st = ssd_tensor_alloc(&t);
        if (st == SSD_OK) st = ssd_tensor_set(&t, x, SSD_F32);
        if (st == SSD_OK) st = ssd_bn_calib_add(c, &t);
        ssd_tensor_deinit(&t);
        used += nb;
        ssd_info("calibration: %d/%d images", used, nfiles - skipped);
    }
    if (st == SSD_OK && used == 0)
        st = ssd_error_set(SSD_E_INVAL, "%s: none of the images could be read", o->calib_dir);
    if (st == SSD_OK) st = ssd_bn_calib_apply(c);
    if (st == SSD_OK) r->calib_images = used;
    ssd_bn_calib_destroy(c);
    ssd_free(x);
    free_list(files, nfiles);
    return st;
}

ssd_status ssd_tfjs_convert(const ssd_tfjs_convert_opts *o, ssd_tfjs_report *r) {
    memset(r, 0, sizeof *r);
    ssd_tfjs_weights w;
    ssd_backend *be = NULL;
    ssd_model *m = NULL;
    ssd_status st;
    SSD_TRY(ssd_tfjs_load(&w, o->manifest));
    SSD_CHECK_GOTO(st, ssd_backend_create(&be, o->backend ? o->backend : "cpu"), done);
    /* Heads are not saved, so their class count does not matter. */
    SSD_CHECK_GOTO(st, ssd_model_create(&m, be, "mb1-ssd", 2, 300), done);
    /* The layers that are not converted start as pytorch-ssd's from-scratch init. */
    SSD_CHECK_GOTO(st, ssd_model_init_xavier(m, o->seed), done);
    st = ssd_mb1_import_tfjs(m, &w, r);
    if (st != SSD_OK) {
        ssd_error_prefix(st, "%s", o->manifest);
        goto done;
    }
    if (o->calib_dir) SSD_CHECK_GOTO(st, calibrate_dir(m, r, o), done);
    st = ssd_model_save_without_heads(m, o->out);
done:
    if (st != SSD_OK) ssd_tfjs_report_free(r);
    ssd_model_destroy(m);
    ssd_backend_destroy(be);
    ssd_tfjs_free(&w);
    return st;
}
