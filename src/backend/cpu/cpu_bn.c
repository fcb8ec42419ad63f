/* Batch norm with the activation fused, our own kernels, in the layout x
 * arrives in (plain NCHW or nChw<B>c, as the conv before it left it).
 *
 * Why not oneDNN's primitive (cpu_bn_dnnl.c, still used for other layouts):
 * it reads x twice for the statistics (mean, then variance), fuses ReLU but
 * not ReLU6, which then costs two more passes forward and three backward.
 * Here forward is one pass for the statistics (shifted sums, see below) and
 * one to normalise with the activation applied; backward is one pass for the
 * two reductions and one for dx, with the activation's mask recomputed from
 * x (t = x*a + b with forward's own a and b, kept in ws) instead of read.
 *
 * Statistics: sums of (x - K) and (x - K)^2 with K = the channel's first
 * value, accumulated in float over short runs and in double across them. The
 * shift keeps E[d^2] - E[d]^2 free of cancellation for any mean; this is the
 * textbook "shifted data" variance. Running statistics follow PyTorch:
 * momentum update with the unbiased batch variance. */
#pragma GCC optimize("fp-contract=off") /* t = x*a + b must round alike in both passes */
/* 64-byte vectors pass only between always-inline helpers: no ABI is involved. */
#pragma GCC diagnostic ignored "-Wpsabi"

#include "backend/cpu/cpu_bn.h"

#include "core/mem.h"

#include <math.h>
#include <string.h>

#define RUN 32 /* vectors per float partial sum */

typedef struct {
    int64_t n, c, cb, hw, cp; /* cp = cb * blk: channels with padding */
    int blk;
    bool par;
} geo;

static bool geo_of(const ssd_tensor *x, geo *g) {
    dnnl_memory_desc_t md;
    cpu_md_of(x, &md);
    int b = cpu_md_cblock(&md);
    if (b != 1 && b != 4 && b != 8 && b != 16) return false;
    g->n = x->shape[0];
    g->c = x->shape[1];
    g->hw = x->shape[2] * x->shape[3];
    g->blk = b;
    g->cb = (g->c + b - 1) / b;
    g->cp = g->cb * b;
    g->par = (size_t)(g->n * g->cp * g->hw) * sizeof(float) >= CPU_SMALL_BYTES;
    return true;
}

/* Kernels run over each (n, channel block) item as 16-float vectors (GCC
 * vector extensions; one zmm with AVX-512, split on smaller ISAs). An item is
 * hw*B floats where float k belongs to channel k % B of the block, and since
 * B divides 16, lane l of every vector is channel l % B: per-channel values
 * are loaded as a repeating pattern and lane sums fold back by l % B. Plain
 * layout is B = 1 (one channel per item). A tail shorter than a vector runs
 * scalar. */
typedef float v16 __attribute__((vector_size(64)));
typedef int v16i __attribute__((vector_size(64)));

/* Instantiate the statement with B_ (block size) and A_ (activation) as
 * literals, so the lane patterns and the mask fold away. */
#define BY_BLK(B, ...)                                                                             \
    do {                                                                                           \
        if ((B) == 16) {                                                                           \
            const int B_ = 16;                                                                     \
            __VA_ARGS__;                                                                           \
        } else if ((B) == 8) {                                                                     \
            const int B_ = 8;                                                                      \
            __VA_ARGS__;                                                                           \
        } else if ((B) == 4) {                                                                     \
            const int B_ = 4;                                                                      \
            __VA_ARGS__;                                                                           \
        } else {                                                                                   \
            const int B_ = 1;                                                                      \
            __VA_ARGS__;                                                                           \
        }                                                                                          \
    } while (0)

#define BY_ACT(act, ...)                                                                           \
    do {                                                                                           \
        if ((act) == SSD_ACT_RELU) {                                                               \
            const ssd_act A_ = SSD_ACT_RELU;                                                       \
            __VA_ARGS__;                                                                           \
        } else if ((act) == SSD_ACT_RELU6) {                                                       \
            const ssd_act A_ = SSD_ACT_RELU6;                                                      \
            __VA_ARGS__;                                                                           \
        } else {                                                                                   \
            const ssd_act A_ = SSD_ACT_NONE;                                                       \
            __VA_ARGS__;                                                                           \
        }                                                                                          \
    } while (0)

/* One copy of the kernels per instruction set, picked at run time. */
#define KSUF    avx512
#define KTARGET "avx512f"
#include "backend/cpu/cpu_bn_kern.h"
#undef KSUF
#undef KTARGET
#define KSUF    avx2
#define KTARGET "avx2"
#include "backend/cpu/cpu_bn_kern.h"
#undef KSUF
#undef KTARGET
#define KSUF base
#include "backend/cpu/cpu_bn_kern.h"
#undef KSUF

typedef struct {
    void (*stats)(const geo *, const float *, const float *, double *);
    void (*apply)(const geo *, float *, const float *, const float *, const float *, ssd_act);
    void (*bsum)(const geo *, const float *, const float *, const float *, const float *,
                 const float *, ssd_act, double *);
    void (*dx)(const geo *, float *, const float *, const float *, const float *, const float *,
               const float *, const float *, const float *, const float *, ssd_act);
} kernels;

static const kernels *kern(void) {
    static const kernels k512 = {pass_stats_avx512, pass_apply_avx512, pass_bsum_avx512,
                                 pass_dx_avx512};
    static const kernels k256 = {pass_stats_avx2, pass_apply_avx2, pass_bsum_avx2, pass_dx_avx2};
    static const kernels kbase = {pass_stats_base, pass_apply_base, pass_bsum_base, pass_dx_base};
    int isa = cpu_isa();
    return isa == 3 ? &k512 : isa == 2 ? &k256 : &kbase;
}

static void reduce_parts(const geo *g, const double *part, double *out1, double *out2) {
    const int B = g->blk;
    for (int64_t cb = 0; cb < g->cb; cb++)
        for (int j = 0; j < B; j++) {
            double a = 0, b = 0;
            for (int64_t n = 0; n < g->n; n++) {
                const double *p = part + (n * g->cb + cb) * 2 * B;
                a += p[j];
                b += p[B + j];
            }
            out1[cb * B + j] = a;
            out2[cb * B + j] = b;
        }
}

/* ---- ws and helpers shared with the oneDNN path ---- */

typedef struct {
    uint32_t magic, kind;
    int64_t c;
    uint64_t payload;
} ws_hdr;
#define WS_MAGIC 0x4e425353u /* "SSBN" */

ssd_status cpu_bn_ws(ssd_backend *be, ssd_tensor *ws, int kind, int64_t C, size_t payload) {
    int64_t bytes = (int64_t)(CPU_BN_WS_HDR + payload);
    SSD_TRY(ssd_tensor_prepare_plain(ws, be, SSD_U8, 1, &bytes));
    ws_hdr h = {WS_MAGIC, (uint32_t)kind, C, payload};
    memcpy(ws->data, &h, sizeof h);
    ws->version++;
    return SSD_OK;
}

size_t cpu_bn_ws_payload(const ssd_tensor *ws, int kind, int64_t C) {
    if (!ws || !ws->data || ws->layout || ws->dtype != SSD_U8 || ws->ndim != 1 ||
        ws->shape[0] < CPU_BN_WS_HDR)
        return 0;
    ws_hdr h;
    memcpy(&h, ws->data, sizeof h);
    if (h.magic != WS_MAGIC || h.kind != (uint32_t)kind || h.c != C ||
        h.payload > (uint64_t)(ws->shape[0] - CPU_BN_WS_HDR))
        return 0;
    return (size_t)h.payload;
}

ssd_status cpu_bn_check_c(const ssd_tensor *t, int64_t c, const char *name) {
    if (!t) return ssd_error_set(SSD_E_INVAL, "batch norm: %s is missing", name);
    SSD_TRY(cpu_check_in(t, 1, "batch norm", name));
    if (t->shape[0] != c || t->layout)
        return ssd_error_set(SSD_E_INVAL, "batch norm: %s must be a plain (%lld) vector", name,
                             (long long)c);
    return SSD_OK;
}

/* Per-channel tables (cp floats each) in the backend's bn buffer. */
enum { T_K, T_A, T_B, T_MEAN, T_K1, T_K2, T_K3, T_COUNT };

static ssd_status tables(cpu_impl *c, const geo *g, float **t, double **part, double **s) {
    SSD_TRY(cpu_buf_reserve(&c->bn[0], (size_t)(T_COUNT * g->cp) * sizeof(float)));
    SSD_TRY(cpu_buf_reserve(&c->bn[1], (size_t)(2 * g->n * g->cp + 2 * g->cp) * sizeof(double)));
    float *base = c->bn[0].p;
    memset(base, 0, (size_t)(T_COUNT * g->cp) * sizeof(float)); /* padding channels: all 0 */
    for (int i = 0; i < T_COUNT; i++) t[i] = base + i * g->cp;
    *part = c->bn[1].p;
    *s = *part + 2 * g->n * g->cp;
    return SSD_OK;
}

/* ws payload of our path: variance (C floats), then a and b (cp floats each). */
static size_t own_payload(const geo *g) {
    return ALIGN64((size_t)g->c * 4) + 2 * ALIGN64((size_t)g->cp * 4);
}

static float *ws_var(const ssd_tensor *ws) {
    return (float *)((char *)ws->data + CPU_BN_WS_HDR);
}

static float *ws_ab(const ssd_tensor *ws, const geo *g, int which) {
    return (float *)((char *)ws_var(ws) + ALIGN64((size_t)g->c * 4) +
                     (size_t)which * ALIGN64((size_t)g->cp * 4));
}

/* ---- forward ---- */

static ssd_status check_fwd(const ssd_tensor *x, const ssd_tensor *gamma, const ssd_tensor *beta,
                            const ssd_tensor *rm, const ssd_tensor *rv, const ssd_tensor *save_mean,
                            const ssd_tensor *save_invstd, const ssd_bn_params *p) {
    SSD_TRY(cpu_check_in(x, 4, "bn_fwd", "x"));
    if ((unsigned)p->act > SSD_ACT_RELU6)
        return ssd_error_set(SSD_E_UNSUPPORTED, "bn_fwd: fused activation %d unsupported",
                             (int)p->act);
    int64_t C = x->shape[1], count = x->shape[0] * x->shape[2] * x->shape[3];
    SSD_TRY(cpu_bn_check_c(gamma, C, "gamma"));
    SSD_TRY(cpu_bn_check_c(beta, C, "beta"));
    if (p->training && p->use_saved) {
        SSD_TRY(cpu_bn_check_c(save_mean, C, "save_mean"));
        SSD_TRY(cpu_bn_check_c(save_invstd, C, "save_invstd"));
    } else {
        SSD_TRY(cpu_bn_check_c(rm, C, "running_mean"));
        SSD_TRY(cpu_bn_check_c(rv, C, "running_var"));
    }
    if (p->training && count < 2)
        return ssd_error_set(SSD_E_INVAL,
                             "bn_fwd: training needs more than one value per channel (got %lld)",
                             (long long)count);
    if (p->training && (!save_mean || !save_invstd))
        return ssd_error_set(SSD_E_INVAL, "bn_fwd: training needs save_mean and save_invstd");
    return SSD_OK;
}

ssd_status cpu_bn_fwd(ssd_backend *be, ssd_tensor *y, ssd_tensor *save_mean,
                      ssd_tensor *save_invstd, ssd_tensor *ws, const ssd_tensor *x,
                      const ssd_tensor *gamma, const ssd_tensor *beta, ssd_tensor *running_mean,
                      ssd_tensor *running_var, const ssd_bn_params *p) {
    cpu_impl *c = cpu_of(be);
    geo g;
    SSD_TRY(check_fwd(x, gamma, beta, running_mean, running_var, save_mean, save_invstd, p));
    const bool saved = p->training && p->use_saved;
    /* A recompute takes the path its forward took: the one whose ws it finds. */
    bool dnnl_ws = ws && cpu_bn_ws_payload(ws, CPU_BN_WS_DNNL, x->shape[1]) != 0;
    if ((saved ? dnnl_ws || (c->bn_onednn && !ws) : c->bn_onednn) || !geo_of(x, &g))
        return cpu_bn_fwd_dnnl(be, y, save_mean, save_invstd, ws, x, gamma, beta, running_mean,
                               running_var, p);
    float *t[T_COUNT];
    double *part, *s;
    SSD_TRY(tables(c, &g, t, &part, &s));
    const float *xp = x->data, *gm = gamma->data, *bt = beta->data;
    int64_t C = g.c, cs = C;
    if (saved) {
        /* The scale and shift the training forward applied are in its ws:
         * reusing them makes the output bitwise the same. Without that ws they
         * are rebuilt from save_* (equal to within rounding). */
        bool have = ws && cpu_bn_ws_payload(ws, CPU_BN_WS_OWN, C) == own_payload(&g);
        if (have) {
            memcpy(t[T_A], ws_ab(ws, &g, 0), (size_t)g.cp * 4);
            memcpy(t[T_B], ws_ab(ws, &g, 1), (size_t)g.cp * 4);
        } else {
            const float *sm = save_mean->data, *si = save_invstd->data;
            if (ws) SSD_TRY(cpu_bn_ws(be, ws, CPU_BN_WS_OWN, C, own_payload(&g)));
            for (int64_t ch = 0; ch < C; ch++) {
                double inv = (double)si[ch];
                float a = (float)(gm[ch] * inv);
                t[T_A][ch] = a;
                t[T_B][ch] = (float)((double)bt[ch] - (double)sm[ch] * a);
                if (ws) ws_var(ws)[ch] = (float)(1.0 / (inv * inv) - p->eps);
            }
        }
    } else if (p->training) {
        float *rm = running_mean->data, *rv = running_var->data;
        if (ws) SSD_TRY(cpu_bn_ws(be, ws, CPU_BN_WS_OWN, C, own_payload(&g)));
        SSD_TRY(cpu_out_plain(be, save_mean, 1, &cs));
        SSD_TRY(cpu_out_plain(be, save_invstd, 1, &cs));
        float *sm = save_mean->data, *si = save_invstd->data;
        for (int64_t ch = 0; ch < C; ch++) /* the shift: each channel's first value */
            t[T_K][ch] = xp[(ch / g.blk) * g.hw * g.blk + ch % g.blk];
        kern()->stats(&g, xp, t[T_K], part);
        reduce_parts(&g, part, s, s + g.cp);
        double m = (double)(g.n * g.hw), mom = p->momentum, unbias = m / (m - 1);
        for (int64_t ch = 0; ch < C; ch++) {
            double s1 = s[ch], s2 = s[g.cp + ch];
            double mean = t[T_K][ch] + s1 / m, var = (s2 - s1 * s1 / m) / m;
            if (var < 0) var = 0;
            double inv = 1.0 / sqrt(var + p->eps);
            float a = (float)(gm[ch] * inv), meanf = (float)mean;
            t[T_A][ch] = a;
            t[T_B][ch] = (float)((double)bt[ch] - (double)meanf * a);
            sm[ch] = meanf;
            si[ch] = (float)inv;
            if (ws) ws_var(ws)[ch] = (float)var;
            rm[ch] = (float)((1.0 - mom) * rm[ch] + mom * mean);
            rv[ch] = (float)((1.0 - mom) * rv[ch] + mom * unbias * var);
        }
        running_mean->version++;
        running_var->version++;
    } else {
        const float *rm = running_mean->data, *rv = running_var->data;
        if (ws) SSD_TRY(cpu_bn_ws(be, ws, CPU_BN_WS_OWN, C, own_payload(&g)));
        if (save_mean) SSD_TRY(cpu_out_plain(be, save_mean, 1, &cs));
        if (save_invstd) SSD_TRY(cpu_out_plain(be, save_invstd, 1, &cs));
        float *sm = save_mean ? save_mean->data : NULL,
              *si = save_invstd ? save_invstd->data : NULL;
        for (int64_t ch = 0; ch < C; ch++) {
            double inv = 1.0 / sqrt((double)rv[ch] + p->eps);
            float a = (float)(gm[ch] * inv);
            t[T_A][ch] = a;
            t[T_B][ch] = (float)((double)bt[ch] - (double)rm[ch] * a);
            if (sm) sm[ch] = rm[ch]; /* backward in eval mode reads these */
            if (si) si[ch] = (float)inv;
            if (ws) ws_var(ws)[ch] = rv[ch];
        }
    }
    if (ws) {
        memcpy(ws_ab(ws, &g, 0), t[T_A], (size_t)g.cp * 4);
        memcpy(ws_ab(ws, &g, 1), t[T_B], (size_t)g.cp * 4);
    }
    dnnl_memory_desc_t md;
    cpu_md_of(x, &md);
    int64_t shape[4] = {x->shape[0], x->shape[1], x->shape[2], x->shape[3]};
    SSD_TRY(cpu_out(be, y, 4, shape, &md)); /* y may be x: in place */
    kern()->apply(&g, y->data, xp, t[T_A], t[T_B], p->act);
    return SSD_OK;
}

/* ---- backward ---- */

ssd_status cpu_bn_bwd(ssd_backend *be, ssd_tensor *dx, ssd_tensor *dgamma, ssd_tensor *dbeta,
                      const ssd_tensor *dy, const ssd_tensor *x, const ssd_tensor *y,
                      const ssd_tensor *ws, const ssd_tensor *gamma, const ssd_tensor *save_mean,
                      const ssd_tensor *save_invstd, const ssd_tensor *running_var,
                      const ssd_bn_params *p) {
    cpu_impl *c = cpu_of(be);
    geo g;
    SSD_TRY(cpu_check_in(x, 4, "bn_bwd", "x"));
    SSD_TRY(cpu_check_in(dy, 4, "bn_bwd", "dy"));
    if (!ssd_tensor_same_shape(x, dy))
        return ssd_error_set(SSD_E_INVAL, "bn_bwd: dy and x differ in shape");
    if ((unsigned)p->act > SSD_ACT_RELU6)
        return ssd_error_set(SSD_E_UNSUPPORTED, "bn_bwd: fused activation %d unsupported",
                             (int)p->act);
    int64_t C = x->shape[1];
    SSD_TRY(cpu_bn_check_c(gamma, C, "gamma"));
    SSD_TRY(cpu_bn_check_c(save_mean, C, "save_mean"));
    if (p->training)
        SSD_TRY(cpu_bn_check_c(save_invstd, C, "save_invstd"));
    else
        SSD_TRY(cpu_bn_check_c(running_var, C, "running_var"));
    bool ours = cpu_bn_ws_payload(ws, CPU_BN_WS_OWN, C) != 0;
    bool theirs = cpu_bn_ws_payload(ws, CPU_BN_WS_DNNL, C) != 0;
    if (theirs || (!ours && c->bn_onednn) || !geo_of(x, &g))
        return cpu_bn_bwd_dnnl(be, dx, dgamma, dbeta, dy, x, y, ws, gamma, save_mean, save_invstd,
                               running_var, p);
    float *t[T_COUNT];
    double *part, *s;
    SSD_TRY(tables(c, &g, t, &part, &s));
    dnnl_memory_desc_t md;
    cpu_md_of(x, &md);
    void *dyp;
    SSD_TRY(cpu_input(c, dy, NULL, &md, &c->tmp[0], &dyp));
    ssd_act act = p->act;
    if (act != SSD_ACT_NONE && !ours) {
        /* No a, b from forward: take the mask from y in a pass of its own. */
        SSD_TRY(cpu_check_in(y, 4, "bn_bwd", "y"));
        void *yp;
        SSD_TRY(cpu_input(c, y, NULL, &md, &c->tmp[1], &yp));
        SSD_TRY(cpu_buf_reserve(&c->tmp[2], cpu_md_size(&md)));
        cpu_act_grad(act, c->tmp[2].p, dyp, yp, (int64_t)(cpu_md_size(&md) / sizeof(float)));
        dyp = c->tmp[2].p;
        act = SSD_ACT_NONE;
    }
    if (ours) {
        memcpy(t[T_A], ws_ab(ws, &g, 0), (size_t)g.cp * 4);
        memcpy(t[T_B], ws_ab(ws, &g, 1), (size_t)g.cp * 4);
    }
    const float *gm = gamma->data, *mean = save_mean->data;
    const float *inv = p->training ? save_invstd->data : NULL;
    const float *rv = p->training ? NULL : running_var->data;
    for (int64_t ch = 0; ch < C; ch++) t[T_MEAN][ch] = mean[ch];
    kern()->bsum(&g, x->data, dyp, t[T_A], t[T_B], t[T_MEAN], act, part);
    reduce_parts(&g, part, s, s + g.cp);
    /* NULL outputs (a frozen layer) are simply not written. */
    int64_t cs = C;
    if (dgamma) SSD_TRY(cpu_out_plain(be, dgamma, 1, &cs));
    if (dbeta) SSD_TRY(cpu_out_plain(be, dbeta, 1, &cs));
    float *dg = dgamma ? dgamma->data : NULL, *db = dbeta ? dbeta->data : NULL;
    double m = (double)(g.n * g.hw);
    for (int64_t ch = 0; ch < C; ch++) {
        double is = p->training ? (double)inv[ch] : 1.0 / sqrt((double)rv[ch] + p->eps);
        double sg = s[ch], sgx = s[g.cp + ch];
        if (db) db[ch] = (float)sg;
        if (dg) dg[ch] = (float)(sgx * is);
        t[T_K1][ch] = (float)(gm[ch] * is);
        t[T_K2][ch] = p->training ? (float)(sg / m) : 0.f;
        t[T_K3][ch] = p->training ? (float)(is * is * sgx / m) : 0.f;
    }
    if (!dx) return SSD_OK;
    int64_t shape[4] = {x->shape[0], x->shape[1], x->shape[2], x->shape[3]};
    const float *xp = x->data;
    SSD_TRY(cpu_out(be, dx, 4, shape, &md)); /* dx may be dy: each element is read first */
    kern()->dx(&g, dx->data, xp, dyp, t[T_A], t[T_B], t[T_MEAN], t[T_K1], t[T_K2], t[T_K3], act);
    return SSD_OK;
}
