/* bench/ops: forward+backward time of every op configuration the SSD models
 * use, at training sizes (batch 8, the 300x300 feature maps 150/75/38/19/10),
 * on the cpu backend, next to PyTorch's time for the same configuration in
 * the same run (bench/ops_torch.py, started with the same thread count).
 *
 * Our side runs in the steady state of a training step: activations arrive
 * in the blocked layout the previous layer leaves them in (nChw16c for
 * C >= 16), primitives are cached, and every iteration bumps the weights'
 * version as the optimizer would, so the per-step weight reorder is counted.
 * PyTorch runs autograd forward+backward of the same module (its oneDNN
 * convolutions reorder NCHW<->blocked on every call; that is the point).
 *
 *   bench_ops [--threads N] [--filter SUBSTR] [--no-torch] [--min-time S]
 *
 * Per config: ours ms, torch ms, torch/ours speed ratio (>1: we are faster)
 * and the activation reorders we ran per step (0 in the steady state). The
 * machine is shared, so both sides run in interleaved rounds and report their
 * fastest step: the estimate least disturbed by other processes. */
#include "backend/cpu/cpu.h"
#include "core/mem.h"
#include "core/threads.h"
#include "tensor/backend.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

enum {
    B_CONV,
    B_BN,
    B_ACT,
    B_POOL,
    B_ADD,
    B_CAT4,
    B_CAT3,
    B_SOFTMAX,
    B_HEAD,
    B_L2NORM,
    B_BLOCK,
    B_MB1
};
static const char *OPNAME[] = {"conv", "bn",      "act",  "pool",   "add",   "cat4",
                               "cat3", "softmax", "head", "l2norm", "block", "mb1"};

typedef struct {
    const char *name;
    int op;
    /* n c h w o k s p d g bias act dx train ceil log axis kk */
    int n, c, h, w, o, k, s, p, d, g, bias, act, dx, train, ceil, log, axis, kk;
} cfg;

/* clang-format off */
#define CONV(nm, c, hw, o, k, s, p, d, g, bias, act, dx) \
    {nm, B_CONV, 8, c, hw, hw, o, k, s, p, d, g, bias, act, dx, 0, 0, 0, 0, 0}
static const cfg CFGS[] = {
    /* mb1-ssd base (MobileNet v1 at 300x300) */
    CONV("conv stem 3->32 k3s2 @300",      3, 300, 32, 3, 2, 1, 1, 1, 0, 0, 0),
    CONV("conv dw 32 k3s1 @150",          32, 150, 32, 3, 1, 1, 1, 32, 0, 0, 1),
    CONV("conv pw 32->64 @150",           32, 150, 64, 1, 1, 0, 1, 1, 0, 0, 1),
    CONV("conv dw 64 k3s2 @150",          64, 150, 64, 3, 2, 1, 1, 64, 0, 0, 1),
    CONV("conv dw 128 k3s1 @75",         128,  75, 128, 3, 1, 1, 1, 128, 0, 0, 1),
    CONV("conv pw 128->128 @75",         128,  75, 128, 1, 1, 0, 1, 1, 0, 0, 1),
    CONV("conv dw 256 k3s2 @38",         256,  38, 256, 3, 2, 1, 1, 256, 0, 0, 1),
    CONV("conv pw 256->512 @19",         256,  19, 512, 1, 1, 0, 1, 1, 0, 0, 1),
    CONV("conv dw 512 k3s1 @19",         512,  19, 512, 3, 1, 1, 1, 512, 0, 0, 1),
    CONV("conv pw 512->512 @19",         512,  19, 512, 1, 1, 0, 1, 1, 0, 0, 1),
    CONV("conv dw 1024 k3s1 @10",       1024,  10, 1024, 3, 1, 1, 1, 1024, 0, 0, 1),
    CONV("conv pw 1024->1024 @10",      1024,  10, 1024, 1, 1, 0, 1, 1, 0, 0, 1),
    /* SSD extras and heads */
    CONV("conv 1x1 bias relu 1024->256 @10", 1024, 10, 256, 1, 1, 0, 1, 1, 1, 1, 1),
    CONV("conv 3x3 s2 bias relu 256->512 @10", 256, 10, 512, 3, 2, 1, 1, 1, 1, 1, 1),
    CONV("conv head 3x3 bias 512->6*21 @19", 512, 19, 126, 3, 1, 1, 1, 1, 1, 0, 1),
    CONV("conv head 3x3 bias 512->6*4 @19",  512, 19, 24, 3, 1, 1, 1, 1, 1, 0, 1),
    /* SSD-lite (separable heads, MobileNet v2 relu6) */
    CONV("conv dw k3 bias 576 @19",      576,  19, 576, 3, 1, 1, 1, 576, 1, 0, 1),
    CONV("conv pw bias relu6 96->576 @19", 96, 19, 576, 1, 1, 0, 1, 1, 1, 2, 1),
    CONV("conv dw k5p2 256 @19",         256,  19, 256, 5, 1, 2, 1, 256, 0, 0, 1),
    /* VGG16-SSD */
    CONV("conv 3x3 bias relu 512->512 @19", 512, 19, 512, 3, 1, 1, 1, 1, 1, 1, 1),
    CONV("conv dil6 k3p6 bias relu 512->1024 @19", 512, 19, 1024, 3, 1, 6, 6, 1, 1, 1, 1),
    CONV("conv grouped g4 3x3 bias 256->256 @19", 256, 19, 256, 3, 1, 1, 1, 4, 1, 0, 1),
    /* batch norm (training unless noted), activations */
    {"bn relu 32 @150",        B_BN, 8, 32, 150, 150, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0},
    {"bn relu 128 @75",        B_BN, 8, 128, 75, 75, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0},
    {"bn relu 512 @19",        B_BN, 8, 512, 19, 19, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0},
    {"bn relu6 144 @75",       B_BN, 8, 144, 75, 75, 0, 0, 0, 0, 0, 0, 0, 2, 1, 1, 0, 0, 0, 0},
    {"bn none 24 @75",         B_BN, 8, 24, 75, 75, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0},
    {"bn eval relu 128 @75",   B_BN, 8, 128, 75, 75, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0},
    {"relu 128 @75",           B_ACT, 8, 128, 75, 75, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0},
    {"relu6 144 @75",          B_ACT, 8, 144, 75, 75, 0, 0, 0, 0, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0},
    /* pooling (VGG) */
    {"maxpool k2s2 128 @150",  B_POOL, 8, 128, 150, 150, 0, 2, 2, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0},
    {"maxpool k2s2 ceil 256 @75", B_POOL, 8, 256, 75, 75, 0, 2, 2, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0},
    {"maxpool k3s1p1 512 @19", B_POOL, 8, 512, 19, 19, 0, 3, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0},
    {"maxpool k3s2 ceil 64 @75", B_POOL, 8, 64, 75, 75, 0, 3, 2, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0},
    /* the rest */
    /* mb2 residuals; 24 channels are padded to 32 in nChw16c, a third more traffic */
    {"add 24 @75",             B_ADD, 8, 24, 75, 75, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0},
    {"add 64 @19",             B_ADD, 8, 64, 19, 19, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0},
    {"concat channels 256+256 @19", B_CAT4, 8, 256, 19, 19, 256, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0},
    {"concat heads (8,3000,21)", B_CAT3, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 21},
    {"softmax (8,3000,21)",    B_SOFTMAX, 8, 3000, 21, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0},
    {"log-softmax (8,3000,21)", B_SOFTMAX, 8, 3000, 21, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 0},
    {"head permute 126 @19 k21", B_HEAD, 8, 126, 19, 19, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 21},
    {"head permute 24 @19 k4", B_HEAD, 8, 24, 19, 19, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 4},
    {"l2norm 512 @38",         B_L2NORM, 8, 512, 38, 38, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0},
    /* layer chains in the steady state */
    {"block dw+bn+relu+pw+bn+relu 128 @75", B_BLOCK, 8, 128, 75, 75, 128, 3, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0},
    {"block dw+bn+relu+pw+bn+relu 512 @19", B_BLOCK, 8, 512, 19, 19, 512, 3, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0},
    {"mb1 base (stem + 13 blocks) @300", B_MB1, 8, 3, 300, 300, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0},
};
/* clang-format on */
#define NCFG ((int)(sizeof CFGS / sizeof CFGS[0]))

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- our side ---- */

#define MAXT 512
typedef struct {
    ssd_backend *be;
    ssd_tensor t[MAXT];
    int nt;
    const cfg *c;
    uint64_t rng;
} bench;

static ssd_tensor *T(bench *b) {
    ssd_tensor *t = &b->t[b->nt++];
    ssd_tensor_init(t, b->be, SSD_F32, 0, NULL);
    return t;
}

/* A random input; `blocked` stores it as a previous oneDNN layer would. */
static ssd_tensor *R(bench *b, int nd, int64_t d0, int64_t d1, int64_t d2, int64_t d3, float scale,
                     bool blocked) {
    int64_t s[4] = {d0, d1, d2, d3};
    ssd_tensor *t = T(b);
    ssd_tensor_init(t, b->be, SSD_F32, nd, s);
    int64_t n = ssd_tensor_numel(t);
    float *h = ssd_malloc((size_t)n * sizeof *h);
    if (!h) return t;
    for (int64_t i = 0; i < n; i++) {
        b->rng = b->rng * 6364136223846793005ull + 1442695040888963407ull;
        h[i] = scale * ((float)(b->rng >> 40) / (float)(1 << 24) * 2.f - 1.f);
    }
    ssd_tensor_set(t, h, SSD_F32);
    ssd_free(h);
    if (blocked && nd == 4 && d1 >= 16) ssd_backend_cpu_block(b->be, t, 16);
    return t;
}

static ssd_status run_conv(bench *b, ssd_tensor **v, const ssd_conv2d_params *p, bool dx) {
    /* v: x w bias dy | y dz dx dw db */
    const ssd_backend_ops *o = b->be->ops;
    v[1]->version++; /* the optimizer updated w */
    SSD_TRY(o->conv2d_fwd(b->be, v[4], v[0], v[1], v[2], p));
    ssd_tensor *dz = v[3];
    if (p->act) {
        ssd_act_params ap = {p->act};
        SSD_TRY(o->act_bwd(b->be, v[5], v[3], NULL, v[4], &ap));
        dz = v[5];
    }
    if (dx) SSD_TRY(o->conv2d_bwd_data(b->be, v[6], dz, v[0], v[1], p));
    return o->conv2d_bwd_weights(b->be, v[7], v[2] ? v[8] : NULL, dz, v[0], v[1], p);
}

/* BN layer tensors: gamma beta rm rv | y mean invstd ws | dx dgamma dbeta */
typedef struct {
    ssd_tensor *g, *b, *rm, *rv, *y, *m, *is, *ws, *dx, *dg, *db;
} bn_t;

static void bn_make(bench *b, bn_t *l, int64_t c) {
    l->g = R(b, 1, c, 0, 0, 0, 1, false);
    l->b = R(b, 1, c, 0, 0, 0, 1, false);
    l->rm = R(b, 1, c, 0, 0, 0, 0, false);
    l->rv = R(b, 1, c, 0, 0, 0, 0, false);
    ssd_tensor_fill(l->rv, 1.0);
    l->y = T(b);
    l->m = T(b);
    l->is = T(b);
    l->ws = T(b);
    l->dx = T(b);
    l->dg = T(b);
    l->db = T(b);
}

/* conv layer: w (plain) | y dx dw */
typedef struct {
    ssd_tensor *w, *y, *dx, *dw;
    ssd_conv2d_params p;
} conv_t;

static void conv_make(bench *b, conv_t *l, int64_t o, int64_t cg, int k, int s, int g) {
    l->w = R(b, 4, o, cg, k, k, 1.0f / sqrtf((float)(cg * k * k)), false);
    l->y = T(b);
    l->dx = T(b);
    l->dw = T(b);
    l->p = (ssd_conv2d_params){{s, s}, {k / 2, k / 2}, {1, 1}, g, SSD_ACT_NONE, SSD_CONV_F32};
}

typedef struct {
    conv_t cv;
    bn_t bn;
    ssd_act act;
} layer;

static ssd_status layer_fwd(bench *b, layer *l, const ssd_tensor *x, bool train) {
    const ssd_backend_ops *o = b->be->ops;
    ssd_bn_params bp = {1e-5, 0.1, train, l->act, false};
    l->cv.w->version++;
    SSD_TRY(o->conv2d_fwd(b->be, l->cv.y, x, l->cv.w, NULL, &l->cv.p));
    return o->bn_fwd(b->be, l->bn.y, l->bn.m, l->bn.is, l->bn.ws, l->cv.y, l->bn.g, l->bn.b,
                     l->bn.rm, l->bn.rv, &bp);
}

static ssd_status layer_bwd(bench *b, layer *l, const ssd_tensor *dy, const ssd_tensor *x,
                            bool dx) {
    const ssd_backend_ops *o = b->be->ops;
    ssd_bn_params bp = {1e-5, 0.1, true, l->act, false};
    SSD_TRY(o->bn_bwd(b->be, l->bn.dx, l->bn.dg, l->bn.db, dy, l->cv.y, l->bn.y, l->bn.ws, l->bn.g,
                      l->bn.m, l->bn.is, l->bn.rv, &bp));
    if (dx) SSD_TRY(o->conv2d_bwd_data(b->be, l->cv.dx, l->bn.dx, x, l->cv.w, &l->cv.p));
    return o->conv2d_bwd_weights(b->be, l->cv.dw, NULL, l->bn.dx, x, l->cv.w, &l->cv.p);
}

typedef struct {
    ssd_tensor *v[16];
    ssd_tensor *xs[8], *dxs[8];
    int nx;
    layer ly[27];
    int nl;
} state;

static void setup(bench *b, state *s) {
    const cfg *c = b->c;
    memset(s, 0, sizeof *s);
    int64_t n = c->n;
    switch (c->op) {
    case B_CONV: {
        int64_t oh = ssd_conv_out_size(c->h, c->k, c->s, c->p, c->d);
        s->v[0] = R(b, 4, n, c->c, c->h, c->w, 1, true);
        s->v[1] = R(b, 4, c->o, c->c / c->g, c->k, c->k,
                    1.0f / sqrtf((float)(c->c / c->g * c->k * c->k)), false);
        s->v[2] = c->bias ? R(b, 1, c->o, 0, 0, 0, 1, false) : NULL;
        s->v[3] = R(b, 4, n, c->o, oh, oh, 1, true);
        for (int i = 4; i < 9; i++) s->v[i] = T(b);
        break;
    }
    case B_BN:
    case B_ACT:
    case B_POOL:
    case B_L2NORM: {
        s->v[0] = R(b, 4, n, c->c, c->h, c->w, 1, true);
        int64_t oh = c->op == B_POOL ? ssd_pool_out_size(c->h, c->k, c->s, c->p, c->ceil) : c->h;
        s->v[1] = R(b, 4, n, c->c, oh, oh, 1, true);
        if (c->op == B_BN) bn_make(b, &s->ly[0].bn, c->c);
        if (c->op == B_L2NORM) s->v[2] = R(b, 1, c->c, 0, 0, 0, 20, false);
        for (int i = 3; i < 8; i++) s->v[i] = T(b);
        break;
    }
    case B_ADD:
        s->v[0] = R(b, 4, n, c->c, c->h, c->w, 1, true);
        s->v[1] = R(b, 4, n, c->c, c->h, c->w, 1, true);
        s->v[2] = T(b);
        break;
    case B_CAT4:
        s->nx = 2;
        s->xs[0] = R(b, 4, n, c->c, c->h, c->w, 1, true);
        s->xs[1] = R(b, 4, n, c->o, c->h, c->w, 1, true);
        s->v[0] = R(b, 4, n, c->c + c->o, c->h, c->w, 1, true);
        s->v[1] = T(b);
        for (int i = 0; i < 2; i++) s->dxs[i] = T(b);
        break;
    case B_CAT3: {
        static const int64_t k[6] = {2166, 600, 150, 54, 24, 6};
        s->nx = 6;
        for (int i = 0; i < 6; i++) {
            s->xs[i] = R(b, 3, n, k[i], c->kk, 0, 1, false);
            s->dxs[i] = T(b);
        }
        s->v[0] = R(b, 3, n, 3000, c->kk, 0, 1, false);
        s->v[1] = T(b);
        break;
    }
    case B_SOFTMAX:
        s->v[0] = R(b, 3, n, c->c, c->h, 0, 3, false);
        s->v[1] = R(b, 3, n, c->c, c->h, 0, 1, false);
        s->v[2] = T(b);
        s->v[3] = T(b);
        break;
    case B_HEAD:
        s->v[0] = R(b, 4, n, c->c, c->h, c->w, 1, true);
        s->v[1] = R(b, 3, n, c->h * c->w * (c->c / c->kk), c->kk, 0, 1, false);
        s->v[2] = T(b);
        s->v[3] = T(b);
        break;
    case B_BLOCK:
        s->v[0] = R(b, 4, n, c->c, c->h, c->w, 1, true);
        s->v[1] = R(b, 4, n, c->o, c->h, c->w, 1, true);
        s->nl = 2;
        conv_make(b, &s->ly[0].cv, c->c, 1, 3, c->s, (int)c->c);
        conv_make(b, &s->ly[1].cv, c->o, c->c, 1, 1, 1);
        for (int i = 0; i < 2; i++) {
            bn_make(b, &s->ly[i].bn, i ? c->o : c->c);
            s->ly[i].act = SSD_ACT_RELU;
        }
        break;
    case B_MB1: {
        /* MobileNet v1: (channels out, stride) of the 13 dw/pw blocks */
        static const int blk[13][2] = {{64, 1},  {128, 2},  {128, 1}, {256, 2}, {256, 1},
                                       {512, 2}, {512, 1},  {512, 1}, {512, 1}, {512, 1},
                                       {512, 1}, {1024, 2}, {1024, 1}};
        s->v[0] = R(b, 4, n, 3, c->h, c->w, 1, false);
        conv_make(b, &s->ly[0].cv, 32, 3, 3, 2, 1);
        bn_make(b, &s->ly[0].bn, 32);
        int64_t ch = 32, hw = ssd_conv_out_size(c->h, 3, 2, 1, 1);
        s->nl = 1;
        for (int i = 0; i < 13; i++) {
            conv_make(b, &s->ly[s->nl].cv, ch, 1, 3, blk[i][1], (int)ch);
            bn_make(b, &s->ly[s->nl++].bn, ch);
            hw = ssd_conv_out_size(hw, 3, blk[i][1], 1, 1);
            conv_make(b, &s->ly[s->nl].cv, blk[i][0], ch, 1, 1, 1);
            bn_make(b, &s->ly[s->nl++].bn, blk[i][0]);
            ch = blk[i][0];
        }
        for (int i = 0; i < s->nl; i++) s->ly[i].act = SSD_ACT_RELU;
        s->v[1] = R(b, 4, n, ch, hw, hw, 1, true);
        break;
    }
    }
}

static ssd_status step(bench *b, state *s) {
    const cfg *c = b->c;
    const ssd_backend_ops *o = b->be->ops;
    ssd_backend *be = b->be;
    ssd_tensor **v = s->v;
    switch (c->op) {
    case B_CONV: {
        ssd_conv2d_params p = {{c->s, c->s}, {c->p, c->p},    {c->d, c->d},
                               c->g,         (ssd_act)c->act, SSD_CONV_F32};
        return run_conv(b, v, &p, c->dx);
    }
    case B_BN: {
        bn_t *l = &s->ly[0].bn;
        ssd_bn_params p = {1e-5, 0.1, c->train != 0, (ssd_act)c->act, false};
        SSD_TRY(o->bn_fwd(be, l->y, l->m, l->is, l->ws, v[0], l->g, l->b, l->rm, l->rv, &p));
        return o->bn_bwd(be, l->dx, l->dg, l->db, v[1], v[0], l->y, l->ws, l->g, l->m, l->is, l->rv,
                         &p);
    }
    case B_ACT: {
        ssd_act_params p = {(ssd_act)c->act};
        SSD_TRY(o->act_fwd(be, v[3], v[0], &p));
        return o->act_bwd(be, v[4], v[1], v[0], v[3], &p);
    }
    case B_POOL: {
        ssd_pool_params p = {{c->k, c->k}, {c->s, c->s}, {c->p, c->p}, c->ceil != 0};
        SSD_TRY(o->maxpool_fwd(be, v[3], v[4], v[0], &p));
        return o->maxpool_bwd(be, v[5], v[1], v[4], v[0], &p);
    }
    case B_ADD: /* forward; its backward is the identity (no op) */
        return o->add(be, v[2], v[0], v[1]);
    case B_CAT4:
    case B_CAT3:
        SSD_TRY(o->concat_fwd(be, v[1], (const ssd_tensor *const *)s->xs, s->nx, c->axis));
        return o->concat_bwd(be, s->dxs, v[0], (const ssd_tensor *const *)s->xs, s->nx, c->axis);
    case B_SOFTMAX: {
        ssd_softmax_params p = {c->axis, c->log != 0};
        SSD_TRY(o->softmax_fwd(be, v[2], v[0], &p));
        return o->softmax_bwd(be, v[3], v[1], v[2], &p);
    }
    case B_HEAD: {
        ssd_head_params p = {.k = c->kk};
        SSD_TRY(o->head_permute_fwd(be, v[2], v[0], &p));
        return o->head_permute_bwd(be, v[3], v[1], v[0], &p);
    }
    case B_L2NORM: {
        ssd_l2norm_params p = {1e-10};
        SSD_TRY(o->l2norm_fwd(be, v[3], v[0], v[2], &p));
        return o->l2norm_bwd(be, v[4], v[5], v[1], v[0], v[2], &p);
    }
    case B_BLOCK:
    case B_MB1: {
        const ssd_tensor *x = v[0];
        for (int i = 0; i < s->nl; i++) {
            SSD_TRY(layer_fwd(b, &s->ly[i], x, true));
            x = s->ly[i].bn.y;
        }
        const ssd_tensor *dy = v[1];
        for (int i = s->nl - 1; i >= 0; i--) {
            const ssd_tensor *xin = i ? s->ly[i - 1].bn.y : v[0];
            SSD_TRY(layer_bwd(b, &s->ly[i], dy, xin, c->op == B_BLOCK || i > 0));
            dy = s->ly[i].cv.dx;
        }
        return SSD_OK;
    }
    }
    return SSD_E_INVAL;
}

/* Runs steps for at least `budget` seconds and `min_steps` steps; returns
 * the fastest step (the machine is shared: the minimum is the estimate
 * least disturbed by other processes). Adds activation reorders to *reorders. */
static double time_ours(bench *b, state *s, double budget, int min_steps, long *reorders,
                        long *steps) {
    long r0, r1;
    ssd_backend_cpu_stats(b->be, NULL, &r0, NULL);
    double best = 1e30, t_all = now_s();
    int n = 0;
    while (n < min_steps || now_s() - t_all < budget) {
        double t0 = now_s();
        if (step(b, s) != SSD_OK) return -1;
        double t = now_s() - t0;
        if (t < best) best = t;
        n++;
    }
    ssd_backend_cpu_stats(b->be, NULL, &r1, NULL);
    *reorders += r1 - r0;
    *steps += n;
    return best;
}

/* ---- PyTorch's side: a persistent ops_torch.py, one request per line ---- */

typedef struct {
    pid_t pid;
    FILE *to, *from;
} torch_proc;

static bool torch_start(torch_proc *tp, const char *script, int threads) {
    int in[2], out[2];
    if (pipe(in) || pipe(out)) return false;
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
        char th[16];
        snprintf(th, sizeof th, "%d", threads);
        setenv("OMP_NUM_THREADS", th, 1);
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execl("/usr/bin/python3", "python3", script, "--threads", th, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    tp->pid = pid;
    tp->to = fdopen(in[1], "w");
    tp->from = fdopen(out[0], "r");
    return tp->to && tp->from;
}

/* Asks for the fastest step of config c within `budget` seconds (-1: failed). */
static double torch_time(torch_proc *tp, const cfg *c, double budget, int min_steps) {
    fprintf(tp->to,
            "%s|%s|n=%d,c=%d,h=%d,w=%d,o=%d,k=%d,s=%d,p=%d,d=%d,g=%d,bias=%d,act=%d,dx=%d,"
            "train=%d,ceil=%d,log=%d,axis=%d,kk=%d|%g|%d\n",
            c->name, OPNAME[c->op], c->n, c->c, c->h, c->w, c->o, c->k, c->s, c->p, c->d, c->g,
            c->bias, c->act, c->dx, c->train, c->ceil, c->log, c->axis, c->kk, budget, min_steps);
    fflush(tp->to);
    char line[512];
    if (!fgets(line, sizeof line, tp->from)) return -1;
    return atof(line) / 1e3;
}

static void torch_stop(torch_proc *tp) {
    if (tp->to) fclose(tp->to); /* EOF ends the script */
    if (tp->from) fclose(tp->from);
    if (tp->pid > 0) waitpid(tp->pid, NULL, 0);
}

int main(int argc, char **argv) {
    static const struct option opts[] = {{"threads", required_argument, 0, 't'},
                                         {"filter", required_argument, 0, 'f'},
                                         {"no-torch", no_argument, 0, 'n'},
                                         {"min-time", required_argument, 0, 'm'},
                                         {"rounds", required_argument, 0, 'r'},
                                         {"torch-script", required_argument, 0, 's'},
                                         {"bn-onednn", no_argument, 0, 'b'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int threads = 2, rounds = 5, c;
    const char *filter = NULL;
    bool torch = true, bn_onednn = false;
    double min_time = 0.5;
    char script[4096];
    /* bench/ops_torch.py beside this source file (CMake compiles by absolute path) */
    snprintf(script, sizeof script, "%s", __FILE__);
    char *slash = strrchr(script, '/');
    if (slash)
        slash[1] = 0;
    else
        script[0] = 0;
    strncat(script, "ops_torch.py", sizeof script - strlen(script) - 1);
    while ((c = getopt_long(argc, argv, "t:f:nm:r:s:bh", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            threads = atoi(optarg);
            break;
        case 'f':
            filter = optarg;
            break;
        case 'n':
            torch = false;
            break;
        case 'm':
            min_time = atof(optarg);
            break;
        case 'r':
            rounds = atoi(optarg);
            break;
        case 's':
            snprintf(script, sizeof script, "%s", optarg);
            break;
        case 'b':
            bn_onednn = true;
            break;
        case 'h':
            printf("usage: bench_ops [--threads N] [--filter SUBSTR] [--no-torch] [--min-time S]\n"
                   "                 [--rounds R] [--torch-script PATH] [--bn-onednn]\n\n"
                   "Per op config: fastest fwd+bwd step of ours and of PyTorch, measured in R\n"
                   "interleaved rounds of at least S/R seconds each. --bn-onednn runs batch norm\n"
                   "on oneDNN's primitive instead of our fused kernels.\n");
            return 0;
        default:
            return 2;
        }
    }
    if (threads < 1) threads = 1;
    if (rounds < 1) rounds = 1;
    ssd_threads_set(threads);
    ssd_backend *be;
    if (ssd_backend_create(&be, "cpu") != SSD_OK) {
        fprintf(stderr, "bench_ops: %s\n", ssd_error_message());
        return 1;
    }
    ssd_backend_cpu_set_bn_onednn(be, bn_onednn);
    torch_proc tp = {0};
    if (torch && !torch_start(&tp, script, threads)) {
        fprintf(stderr, "bench_ops: cannot start %s; timing ours only\n", script);
        torch = false;
    }
    printf("bench/ops: batch 8, %d threads, oneDNN %d.%d.%d; fastest fwd+bwd step of %d rounds\n"
           "interleaved with PyTorch %s\n",
           threads, dnnl_version()->major, dnnl_version()->minor, dnnl_version()->patch, rounds,
           torch ? "(same thread count)" : "(off)");
    printf("%-44s %10s %10s %8s %9s\n", "op", "ours ms", "torch ms", "speedup", "reord/it");
    double sum_ours = 0, sum_torch = 0;
    for (int i = 0; i < NCFG; i++) {
        const cfg *cf = &CFGS[i];
        if (filter && !strstr(cf->name, filter)) continue;
        bench *b = ssd_calloc(1, sizeof *b);
        state *s = ssd_calloc(1, sizeof *s);
        b->be = be;
        b->c = cf;
        b->rng = 12345 + (uint64_t)i;
        setup(b, s);
        bool heavy = cf->op == B_MB1;
        long reorders = 0, steps = 0;
        double ours = 1e30, theirs = 1e30;
        /* warm-up: primitive creation, first-touch of buffers, torch's allocator */
        double w = time_ours(b, s, 0, heavy ? 1 : 2, &reorders, &steps);
        if (torch && torch_time(&tp, cf, 0, heavy ? 1 : 2) < 0) theirs = -1;
        reorders = steps = 0;
        for (int r = 0; r < rounds && w >= 0; r++) {
            double t = time_ours(b, s, min_time / rounds, 1, &reorders, &steps);
            if (t < 0) {
                w = -1;
                break;
            }
            if (t < ours) ours = t;
            if (torch && theirs >= 0) {
                double u = torch_time(&tp, cf, min_time / rounds, 1);
                theirs = u < 0 ? -1 : (u < theirs ? u : theirs);
            }
        }
        double rpi = steps ? (double)reorders / (double)steps : 0;
        if (w < 0)
            printf("%-44s failed: %s\n", cf->name, ssd_error_message());
        else if (torch && theirs > 0)
            printf("%-44s %10.3f %10.3f %7.2fx %9.1f\n", cf->name, 1e3 * ours, 1e3 * theirs,
                   theirs / ours, rpi);
        else
            printf("%-44s %10.3f %10s %8s %9.1f\n", cf->name, 1e3 * ours, "-", "-", rpi);
        if (w >= 0 && theirs > 0 && !heavy && cf->op != B_BLOCK) {
            sum_ours += 1e3 * ours;
            sum_torch += 1e3 * theirs;
        }
        fflush(stdout);
        for (int k = 0; k < b->nt; k++) ssd_tensor_deinit(&b->t[k]);
        ssd_free(s);
        ssd_free(b);
    }
    if (sum_ours > 0 && sum_torch > 0)
        printf("%-44s %10.3f %10.3f %7.2fx\n", "sum of the single-op rows", sum_ours, sum_torch,
               sum_torch / sum_ours);
    if (torch) torch_stop(&tp);
    ssd_backend_destroy(be);
    return 0;
}
