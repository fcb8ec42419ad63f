/* Global average pool and channel scale (squeeze-excite) on the cpu backend,
 * as our own loops. x stays in the layout it arrives in when that is plain
 * NCHW or nChw<B>c (what the convs leave); anything else is reordered to plain
 * first. The per-(n, c) side (GAP's output, the scale s, ds) is a small plain
 * (N, C, 1, 1) tensor. Padding channels of blocked outputs stay zero. */
#include "backend/cpu/cpu.h"

#include <string.h>

/* x's data in a layout the loops handle: blk = 1 (plain) or the channel block. */
typedef struct {
    const float *p;
    dnnl_memory_desc_t md;
    int64_t n, c, cb, hw;
    int blk;
} chan_view;

static ssd_status view_of(cpu_impl *c, const ssd_tensor *x, cpu_buf *buf, const char *op,
                          chan_view *v) {
    SSD_TRY(cpu_check_in(x, 4, op, "x"));
    cpu_md_of(x, &v->md);
    int b = cpu_md_cblock(&v->md);
    void *p = x->data;
    if (b == 0 || b > 16) {
        dnnl_memory_desc_t plain;
        cpu_md_plain(&plain, 4, x->shape);
        SSD_TRY(cpu_input(c, x, &v->md, &plain, buf, &p));
        v->md = plain;
        b = 1;
    }
    v->p = p;
    v->blk = b;
    v->n = x->shape[0];
    v->c = x->shape[1];
    v->cb = (v->c + b - 1) / b;
    v->hw = x->shape[2] * x->shape[3];
    if (v->hw < 1) return ssd_error_set(SSD_E_INVAL, "%s: x has an empty H*W plane", op);
    return SSD_OK;
}

static int64_t view_floats(const chan_view *v) {
    return v->n * v->cb * v->blk * v->hw;
}

/* A plain (N, C, 1, 1) input: its data (reordered if need be). */
static ssd_status small_in(cpu_impl *c, const ssd_tensor *s, const chan_view *v, cpu_buf *buf,
                           const char *op, const char *name, const float **out) {
    SSD_TRY(cpu_check_in(s, 4, op, name));
    if (s->shape[0] != v->n || s->shape[1] != v->c || s->shape[2] != 1 || s->shape[3] != 1)
        return ssd_error_set(SSD_E_INVAL, "%s: %s must be (%lld, %lld, 1, 1)", op, name,
                             (long long)v->n, (long long)v->c);
    dnnl_memory_desc_t plain;
    cpu_md_plain(&plain, 4, s->shape);
    void *p;
    SSD_TRY(cpu_input(c, s, NULL, &plain, buf, &p));
    *out = p;
    return SSD_OK;
}

/* Value of the (N, C) table for item (n, cb) lane j; 0 for padding channels. */
static inline float chan_at(const float *t, const chan_view *v, int64_t n, int64_t ch) {
    return ch < v->c ? t[n * v->c + ch] : 0.f;
}

ssd_status cpu_gap_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x) {
    cpu_impl *c = cpu_of(be);
    chan_view v;
    SSD_TRY(view_of(c, x, &c->tmp[0], "gap_fwd", &v));
    if (y == x) return ssd_error_set(SSD_E_INVAL, "gap_fwd: y may not be x");
    int64_t ys[4] = {v.n, v.c, 1, 1};
    SSD_TRY(cpu_out_plain(be, y, 4, ys));
    float *yp = y->data;
    const int B = v.blk;
    const double inv = 1.0 / (double)v.hw;
#pragma omp parallel for schedule(static) if (view_floats(&v) >= CPU_PAR_MIN_FLOATS)
    for (int64_t it = 0; it < v.n * v.cb; it++) {
        int64_t n = it / v.cb, cb = it % v.cb;
        const float *p = v.p + it * v.hw * B;
        double acc[16] = {0};
        for (int64_t k = 0; k < v.hw; k++)
            for (int j = 0; j < B; j++) acc[j] += (double)p[k * B + j];
        for (int j = 0; j < B && cb * B + j < v.c; j++)
            yp[n * v.c + cb * B + j] = (float)(acc[j] * inv);
    }
    return SSD_OK;
}

ssd_status cpu_gap_bwd(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy, const ssd_tensor *x) {
    cpu_impl *c = cpu_of(be);
    chan_view v;
    SSD_TRY(cpu_check_in(x, 4, "gap_bwd", "x"));
    /* Only x's shape and layout matter: no need to reorder its data. */
    cpu_md_of(x, &v.md);
    v.blk = cpu_md_cblock(&v.md);
    if (v.blk == 0 || v.blk > 16) {
        cpu_md_plain(&v.md, 4, x->shape);
        v.blk = 1;
    }
    v.n = x->shape[0];
    v.c = x->shape[1];
    v.cb = (v.c + v.blk - 1) / v.blk;
    v.hw = x->shape[2] * x->shape[3];
    if (v.hw < 1) return ssd_error_set(SSD_E_INVAL, "gap_bwd: x has an empty H*W plane");
    if (dx == dy) return ssd_error_set(SSD_E_INVAL, "gap_bwd: dx may not be dy");
    const float *g;
    SSD_TRY(small_in(c, dy, &v, &c->tmp[1], "gap_bwd", "dy", &g));
    int64_t xs[4] = {x->shape[0], x->shape[1], x->shape[2], x->shape[3]};
    SSD_TRY(cpu_out(be, dx, 4, xs, &v.md));
    float *dp = dx->data;
    const int B = v.blk;
    const float inv = (float)(1.0 / (double)v.hw);
#pragma omp parallel for schedule(static) if (view_floats(&v) >= CPU_PAR_MIN_FLOATS)
    for (int64_t it = 0; it < v.n * v.cb; it++) {
        int64_t n = it / v.cb, cb = it % v.cb;
        float val[16];
        for (int j = 0; j < B; j++) val[j] = chan_at(g, &v, n, cb * B + j) * inv;
        float *p = dp + it * v.hw * B;
        for (int64_t k = 0; k < v.hw; k++)
            for (int j = 0; j < B; j++) p[k * B + j] = val[j];
    }
    return SSD_OK;
}

ssd_status cpu_scale_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x, const ssd_tensor *s) {
    cpu_impl *c = cpu_of(be);
    chan_view v;
    SSD_TRY(view_of(c, x, &c->tmp[0], "scale_fwd", &v));
    const float *sp;
    SSD_TRY(small_in(c, s, &v, &c->tmp[1], "scale_fwd", "s", &sp));
    if (y == s) return ssd_error_set(SSD_E_INVAL, "scale_fwd: y may not be s");
    int64_t xs[4] = {x->shape[0], x->shape[1], x->shape[2], x->shape[3]};
    SSD_TRY(cpu_out(be, y, 4, xs, &v.md)); /* y may be x: each element is read first */
    float *yp = y->data;
    const int B = v.blk;
#pragma omp parallel for schedule(static) if (view_floats(&v) >= CPU_PAR_MIN_FLOATS)
    for (int64_t it = 0; it < v.n * v.cb; it++) {
        int64_t n = it / v.cb, cb = it % v.cb;
        float sv[16];
        for (int j = 0; j < B; j++) sv[j] = chan_at(sp, &v, n, cb * B + j);
        const float *p = v.p + it * v.hw * B;
        float *q = yp + it * v.hw * B;
        for (int64_t k = 0; k < v.hw; k++)
            for (int j = 0; j < B; j++) q[k * B + j] = p[k * B + j] * sv[j];
    }
    return SSD_OK;
}

ssd_status cpu_scale_bwd(ssd_backend *be, ssd_tensor *dx, ssd_tensor *ds, const ssd_tensor *dy,
                         const ssd_tensor *x, const ssd_tensor *s) {
    cpu_impl *c = cpu_of(be);
    chan_view v;
    SSD_TRY(view_of(c, x, &c->tmp[0], "scale_bwd", &v));
    const float *sp;
    SSD_TRY(small_in(c, s, &v, &c->tmp[1], "scale_bwd", "s", &sp));
    SSD_TRY(cpu_check_in(dy, 4, "scale_bwd", "dy"));
    if (!ssd_tensor_same_shape(dy, x))
        return ssd_error_set(SSD_E_INVAL, "scale_bwd: dy and x differ in shape");
    if ((dx && (dx == x || dx == s)) || (ds && (ds == dy || ds == x || ds == s)))
        return ssd_error_set(SSD_E_INVAL, "scale_bwd: an output aliases an input it reads");
    void *dyp;
    SSD_TRY(cpu_input(c, dy, NULL, &v.md, &c->tmp[2], &dyp));
    const float *g = dyp;
    int64_t xs[4] = {x->shape[0], x->shape[1], x->shape[2], x->shape[3]}, ss[4] = {v.n, v.c, 1, 1};
    if (ds) SSD_TRY(cpu_out_plain(be, ds, 4, ss));
    if (dx) SSD_TRY(cpu_out(be, dx, 4, xs, &v.md)); /* dx may be dy: each element is read first */
    float *dxp = dx ? dx->data : NULL, *dsp = ds ? ds->data : NULL;
    const int B = v.blk;
#pragma omp parallel for schedule(static) if (view_floats(&v) >= CPU_PAR_MIN_FLOATS)
    for (int64_t it = 0; it < v.n * v.cb; it++) {
        int64_t n = it / v.cb, cb = it % v.cb, off = it * v.hw * B;
        float sv[16];
        double acc[16] = {0};
        for (int j = 0; j < B; j++) sv[j] = chan_at(sp, &v, n, cb * B + j);
        for (int64_t k = 0; k < v.hw; k++)
            for (int j = 0; j < B; j++) {
                float gy = g[off + k * B + j];
                acc[j] += (double)gy * (double)v.p[off + k * B + j];
                if (dxp) dxp[off + k * B + j] = gy * sv[j];
            }
        if (dsp)
            for (int j = 0; j < B && cb * B + j < v.c; j++)
                dsp[n * v.c + cb * B + j] = (float)acc[j];
    }
    return SSD_OK;
}
