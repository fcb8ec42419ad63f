/* The cpu (oneDNN) backend against the reference backend, op by op, in every
 * configuration the SSD models use, forward and every backward output, on
 * two kinds of input:
 *
 * - random: uniform in [-1, 1), weights scaled by 1/sqrt(fan-in);
 * - integer: small integers (benchdnn's trick). Conv, pooling, add, concat
 *   and the permute are then exact in float32 whatever the summation order
 *   (every partial sum is an integer far below 2^24), so they must match the
 *   reference exactly, and max pooling meets ties (first maximum wins, as in
 *   PyTorch).
 *
 * The cpu side gets inputs in the blocked layouts its own ops produce
 * (nChw16c, nChw8c) as well as plain ones, and a chain test runs
 * conv->BN->ReLU->dwconv->BN->ReLU6->conv->BN->pool forward and backward,
 * checking that intermediates stay blocked, that the steady state does no
 * activation reorder between ops and that every result matches. */
#include "test.h"

#include "backend/cpu/cpu.h"
#include "core/mem.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Tolerances for random inputs. The reference accumulates each output in
 * double and rounds once; oneDNN accumulates in float32 in its own order, so
 * its error grows like sqrt(K) * 6e-8 * |terms| for K terms. Forward sums
 * here have K <= 800 terms of size <= 1: |err| < ~2e-5. Weight gradients sum
 * up to N*Ho*Wo = 2*38*38 ~ 2900 products reaching ~50: |err| < ~2e-4. BN's
 * dx subtracts two such sums. */
#define FWD_ATOL 3e-5
#define FWD_RTOL 1e-4
#define BWD_ATOL 3e-4
#define BWD_RTOL 1e-4
/* Softmax/BN/L2Norm involve exp, sqrt and division; both sides round
 * differently but stay within a few ulps of O(1) results. */
#define NUM_ATOL 1e-5
#define NUM_RTOL 1e-4

typedef struct {
    ssd_backend *ref, *cpu;
    uint64_t rng;
    bool integer;
} ctx;

/* The same logical tensor on both backends. */
typedef struct {
    ssd_tensor r, c;
} tp;

static uint64_t next_u64(ctx *x) {
    x->rng ^= x->rng << 13;
    x->rng ^= x->rng >> 7;
    x->rng ^= x->rng << 17;
    return x->rng;
}

static float rnd(ctx *x, float scale) {
    if (x->integer) return (float)((int)(next_u64(x) % 5) - 2);
    return scale * (float)((double)(next_u64(x) >> 11) / (double)(1ull << 53) * 2.0 - 1.0);
}

static void tp_empty(ctx *x, tp *t) {
    ssd_tensor_init(&t->r, x->ref, SSD_F32, 0, NULL);
    ssd_tensor_init(&t->c, x->cpu, SSD_F32, 0, NULL);
}

/* Random tensor on both sides; blk 8/16 re-stores the cpu copy blocked. */
static void tp_rand(ctx *x, tp *t, int nd, const int64_t *shape, float scale, int blk) {
    ssd_tensor_init(&t->r, x->ref, SSD_F32, nd, shape);
    ssd_tensor_init(&t->c, x->cpu, SSD_F32, nd, shape);
    int64_t n = ssd_tensor_numel(&t->r);
    float *h = ssd_malloc((size_t)n * sizeof *h);
    for (int64_t i = 0; i < n; i++) h[i] = rnd(x, scale);
    CHECK_OK(ssd_tensor_set(&t->r, h, SSD_F32));
    CHECK_OK(ssd_tensor_set(&t->c, h, SSD_F32));
    if (blk) CHECK_OK(ssd_backend_cpu_block(x->cpu, &t->c, blk));
    ssd_free(h);
}

static void tp_free(tp *t) {
    ssd_tensor_deinit(&t->r);
    ssd_tensor_deinit(&t->c);
}

/* Compares the cpu result with the reference one (values and shape). */
static void cmp(const char *cfg, const char *name, const tp *t, double atol, double rtol,
                bool integer) {
    char what[160];
    snprintf(what, sizeof what, "%s%s: %s", cfg, integer ? " (integer)" : "", name);
    if (!ssd_tensor_same_shape(&t->r, &t->c)) {
        test_failed++;
        fprintf(stderr, "FAIL %s: shapes differ\n", what);
        return;
    }
    int64_t n = ssd_tensor_numel(&t->r);
    float *a = ssd_malloc((size_t)n * sizeof *a), *b = ssd_malloc((size_t)n * sizeof *b);
    CHECK_OK(ssd_tensor_get(&t->c, a, SSD_F32));
    CHECK_OK(ssd_tensor_get(&t->r, b, SSD_F32));
    /* Integer inputs make these ops exact; anything else keeps its tolerance. */
    if (integer) atol = rtol = 0;
    CHECK(test_close_f32(what, a, b, (long)n, atol, rtol));
    ssd_free(a);
    ssd_free(b);
}

static bool blocked(const ssd_tensor *t) {
    return t->layout != NULL;
}

/* With AVX-512 kernels oneDNN picks blocked layouts for all these shapes and
 * the same ones forward and backward. With narrower ones (AVX2 machines,
 * valgrind, which hides AVX-512) it falls back to gemm on plain data for
 * some (the dilated conv), so the layout checks apply to AVX-512 only. */
static bool wide_isa(void) {
    unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    return (isa & (unsigned)dnnl_cpu_isa_avx512_core) == (unsigned)dnnl_cpu_isa_avx512_core;
}

/* ---- conv ---- */

typedef struct {
    const char *name;
    int64_t n, c, h, w, o;
    int k, s, p, d, g;
    bool bias;
    ssd_act act;
    int blk; /* layout of x and dy on the cpu side: 0 plain, else nChw<blk>c */
} conv_cfg;

static void t_conv(ctx *x, const conv_cfg *q) {
    const ssd_backend_ops *R = x->ref->ops, *C = x->cpu->ops;
    ssd_conv2d_params p = {.stride = {q->s, q->s},
                           .pad = {q->p, q->p},
                           .dilation = {q->d, q->d},
                           .groups = q->g,
                           .act = q->act};
    int64_t oh = ssd_conv_out_size(q->h, q->k, q->s, q->p, q->d);
    int64_t ow = ssd_conv_out_size(q->w, q->k, q->s, q->p, q->d);
    int64_t xs[4] = {q->n, q->c, q->h, q->w}, ws[4] = {q->o, q->c / q->g, q->k, q->k};
    int64_t ys[4] = {q->n, q->o, oh, ow}, bs[1] = {q->o};
    float wscale = 1.0f / sqrtf((float)(q->c / q->g * q->k * q->k));
    tp X, W, B, DY, Y, DZ, DX, DW, DB;
    tp_rand(x, &X, 4, xs, 1, q->blk);
    tp_rand(x, &W, 4, ws, wscale, 0);
    tp_rand(x, &B, 1, bs, 1, 0);
    tp_rand(x, &DY, 4, ys, 1, q->blk);
    tp_empty(x, &Y);
    tp_empty(x, &DZ);
    tp_empty(x, &DX);
    tp_empty(x, &DW);
    tp_empty(x, &DB);
    const ssd_tensor *br = q->bias ? &B.r : NULL, *bc = q->bias ? &B.c : NULL;
    bool I = x->integer;

    CHECK_OK(R->conv2d_fwd(x->ref, &Y.r, &X.r, &W.r, br, &p));
    CHECK_OK(C->conv2d_fwd(x->cpu, &Y.c, &X.c, &W.c, bc, &p));
    cmp(q->name, "y", &Y, FWD_ATOL, FWD_RTOL, I);
    if (q->o % 8 == 0 && wide_isa()) CHECK(blocked(&Y.c)); /* oneDNN's pick */

    /* Backward takes the gradient before the fused activation. */
    tp *dz = &DY;
    if (q->act != SSD_ACT_NONE) {
        ssd_act_params ap = {q->act};
        CHECK_OK(R->act_bwd(x->ref, &DZ.r, &DY.r, NULL, &Y.r, &ap));
        CHECK_OK(C->act_bwd(x->cpu, &DZ.c, &DY.c, NULL, &Y.c, &ap));
        cmp(q->name, "dz", &DZ, 0, 0, false);
        dz = &DZ;
    }
    CHECK_OK(R->conv2d_bwd_data(x->ref, &DX.r, &dz->r, &X.r, &W.r, &p));
    CHECK_OK(C->conv2d_bwd_data(x->cpu, &DX.c, &dz->c, &X.c, &W.c, &p));
    cmp(q->name, "dx", &DX, FWD_ATOL, FWD_RTOL, I);
    CHECK_OK(R->conv2d_bwd_weights(x->ref, &DW.r, q->bias ? &DB.r : NULL, &dz->r, &X.r, &W.r, &p));
    CHECK_OK(C->conv2d_bwd_weights(x->cpu, &DW.c, q->bias ? &DB.c : NULL, &dz->c, &X.c, &W.c, &p));
    cmp(q->name, "dw", &DW, BWD_ATOL, BWD_RTOL, I);
    CHECK(!blocked(&DW.c)); /* the optimizer reads plain gradients */
    if (q->bias) cmp(q->name, "db", &DB, BWD_ATOL, BWD_RTOL, I);

    /* The cached reordered weights must follow an update (version bump). */
    tp_free(&W);
    tp_rand(x, &W, 4, ws, wscale, 0);
    CHECK_OK(R->conv2d_fwd(x->ref, &Y.r, &X.r, &W.r, br, &p));
    CHECK_OK(C->conv2d_fwd(x->cpu, &Y.c, &X.c, &W.c, bc, &p));
    cmp(q->name, "y after weight update", &Y, FWD_ATOL, FWD_RTOL, I);
    float *hw = ssd_malloc((size_t)ssd_tensor_numel(&W.r) * sizeof *hw);
    for (int64_t i = 0; i < ssd_tensor_numel(&W.r); i++) hw[i] = rnd(x, wscale);
    CHECK_OK(ssd_tensor_set(&W.r, hw, SSD_F32));
    CHECK_OK(ssd_tensor_set(&W.c, hw, SSD_F32)); /* same storage, new version */
    ssd_free(hw);
    CHECK_OK(R->conv2d_fwd(x->ref, &Y.r, &X.r, &W.r, br, &p));
    CHECK_OK(C->conv2d_fwd(x->cpu, &Y.c, &X.c, &W.c, bc, &p));
    cmp(q->name, "y after in-place weight update", &Y, FWD_ATOL, FWD_RTOL, I);
    CHECK_OK(R->conv2d_bwd_data(x->ref, &DX.r, &dz->r, &X.r, &W.r, &p));
    CHECK_OK(C->conv2d_bwd_data(x->cpu, &DX.c, &dz->c, &X.c, &W.c, &p));
    cmp(q->name, "dx after in-place weight update", &DX, FWD_ATOL, FWD_RTOL, I);
    if (q->g == 1) { /* weights that are not plain (not what layers keep, but valid) */
        CHECK_OK(ssd_backend_cpu_block(x->cpu, &W.c, 8));
        CHECK_OK(C->conv2d_fwd(x->cpu, &Y.c, &X.c, &W.c, bc, &p));
        cmp(q->name, "y with blocked weights", &Y, FWD_ATOL, FWD_RTOL, I);
        CHECK_OK(C->conv2d_bwd_data(x->cpu, &DX.c, &dz->c, &X.c, &W.c, &p));
        cmp(q->name, "dx with blocked weights", &DX, FWD_ATOL, FWD_RTOL, I);
    }

    tp *all[] = {&X, &W, &B, &DY, &Y, &DZ, &DX, &DW, &DB};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tp_free(all[i]);
}

/* ---- batch norm ---- */

static void t_bn(ctx *x, const char *name, bool training, ssd_act act, int blk) {
    const ssd_backend_ops *R = x->ref->ops, *C = x->cpu->ops;
    ssd_bn_params p = {.eps = 1e-5, .momentum = 0.1, .training = training, .act = act};
    int64_t xs[4] = {2, 32, 10, 10}, cs[1] = {32};
    tp X, G, Bt, RM, RV, DY, Y, M, IS, WS, DX, DG, DB;
    bool I = x->integer;
    tp_rand(x, &X, 4, xs, 1, blk);
    if (I) { /* integer data with a spread, so that the act masks see both sides */
        tp_free(&X);
        x->integer = false;
        tp_rand(x, &X, 4, xs, 3, blk);
        x->integer = true;
    }
    tp_rand(x, &G, 1, cs, 1, 0);
    tp_rand(x, &Bt, 1, cs, 1, 0);
    tp_rand(x, &RM, 1, cs, 0.5f, 0);
    tp_rand(x, &RV, 1, cs, 0.5f, 0);
    {
        /* running_var must be positive */
        float v[32];
        for (int i = 0; i < 32; i++) v[i] = 0.5f + 0.03f * (float)i;
        CHECK_OK(ssd_tensor_set(&RV.r, v, SSD_F32));
        CHECK_OK(ssd_tensor_set(&RV.c, v, SSD_F32));
    }
    tp_rand(x, &DY, 4, xs, 1, blk);
    tp *outs[] = {&Y, &M, &IS, &WS, &DX, &DG, &DB};
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) tp_empty(x, outs[i]);

    CHECK_OK(R->bn_fwd(x->ref, &Y.r, &M.r, &IS.r, &WS.r, &X.r, &G.r, &Bt.r, &RM.r, &RV.r, &p));
    CHECK_OK(C->bn_fwd(x->cpu, &Y.c, &M.c, &IS.c, &WS.c, &X.c, &G.c, &Bt.c, &RM.c, &RV.c, &p));
    cmp(name, "y", &Y, NUM_ATOL, NUM_RTOL, false);
    cmp(name, "save_mean", &M, NUM_ATOL, NUM_RTOL, false);
    cmp(name, "save_invstd", &IS, NUM_ATOL, NUM_RTOL, false);
    cmp(name, "running_mean", &RM, NUM_ATOL, NUM_RTOL, false);
    cmp(name, "running_var", &RV, NUM_ATOL, NUM_RTOL, false);
    if (blk) CHECK(blocked(&Y.c)); /* BN keeps its input's layout */
    CHECK_OK(R->bn_bwd(x->ref, &DX.r, &DG.r, &DB.r, &DY.r, &X.r, &Y.r, &WS.r, &G.r, &M.r, &IS.r,
                       &RV.r, &p));
    CHECK_OK(C->bn_bwd(x->cpu, &DX.c, &DG.c, &DB.c, &DY.c, &X.c, &Y.c, &WS.c, &G.c, &M.c, &IS.c,
                       &RV.c, &p));
    cmp(name, "dx", &DX, BWD_ATOL, BWD_RTOL, false);
    cmp(name, "dgamma", &DG, BWD_ATOL, BWD_RTOL, false);
    cmp(name, "dbeta", &DB, BWD_ATOL, BWD_RTOL, false);
    {
        /* Frozen layers: outputs the caller does not want are NULL. */
        tp DX2, DG2;
        tp_empty(x, &DX2);
        tp_empty(x, &DG2);
        CHECK_OK(C->bn_bwd(x->cpu, &DX2.c, NULL, NULL, &DY.c, &X.c, &Y.c, &WS.c, &G.c, &M.c, &IS.c,
                           &RV.c, &p));
        CHECK_OK(R->bn_bwd(x->ref, &DX2.r, NULL, NULL, &DY.r, &X.r, &Y.r, &WS.r, &G.r, &M.r, &IS.r,
                           &RV.r, &p));
        cmp(name, "dx alone", &DX2, BWD_ATOL, BWD_RTOL, false);
        CHECK_OK(C->bn_bwd(x->cpu, NULL, &DG2.c, NULL, &DY.c, &X.c, &Y.c, &WS.c, &G.c, &M.c, &IS.c,
                           &RV.c, &p));
        CHECK_OK(R->bn_bwd(x->ref, NULL, &DG2.r, NULL, &DY.r, &X.r, &Y.r, &WS.r, &G.r, &M.r, &IS.r,
                           &RV.r, &p));
        cmp(name, "dgamma alone", &DG2, BWD_ATOL, BWD_RTOL, false);
        tp_free(&DX2);
        tp_free(&DG2);
    }
    if (training) {
        /* Without a workspace the cpu side must still work (unfused, variance from invstd). */
        tp DX2;
        tp_empty(x, &DX2);
        CHECK_OK(C->bn_bwd(x->cpu, &DX2.c, &DG.c, &DB.c, &DY.c, &X.c, &Y.c, NULL, &G.c, &M.c, &IS.c,
                           &RV.c, &p));
        CHECK_OK(R->bn_bwd(x->ref, &DX2.r, &DG.r, &DB.r, &DY.r, &X.r, &Y.r, &WS.r, &G.r, &M.r,
                           &IS.r, &RV.r, &p));
        cmp(name, "dx without ws", &DX2, BWD_ATOL, BWD_RTOL, false);
        tp_free(&DX2);
    }
    tp *all[] = {&X, &G, &Bt, &RM, &RV, &DY, &Y, &M, &IS, &WS, &DX, &DG, &DB};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tp_free(all[i]);
}

/* ---- activations, add ---- */

static void t_act(ctx *x, const char *name, ssd_act act, int blk, int dy_blk) {
    const ssd_backend_ops *R = x->ref->ops, *C = x->cpu->ops;
    ssd_act_params p = {act};
    int64_t xs[4] = {2, 24, 9, 9};
    tp X, DY, Y, DX;
    float scale = x->integer ? 1 : 8; /* spans both kinks of ReLU6 */
    tp_rand(x, &X, 4, xs, scale, blk);
    tp_rand(x, &DY, 4, xs, 1, dy_blk);
    tp_empty(x, &Y);
    tp_empty(x, &DX);
    if (x->integer) { /* integers 0 and 6 sit exactly on the kinks */
        float v[2 * 24 * 81];
        for (int i = 0; i < 2 * 24 * 81; i++) v[i] = (float)((int)(next_u64(x) % 11) - 2);
        CHECK_OK(ssd_tensor_set(&X.r, v, SSD_F32));
        CHECK_OK(ssd_tensor_set(&X.c, v, SSD_F32));
        if (blk) CHECK_OK(ssd_backend_cpu_block(x->cpu, &X.c, blk));
    }
    /* ReLU/ReLU6 are exact; hardswish/hardsigmoid round in float steps on cpu */
    bool hard = act == SSD_ACT_HARDSWISH || act == SSD_ACT_HARDSIGMOID;
    double tol = hard ? 1e-6 : 0;
    CHECK_OK(R->act_fwd(x->ref, &Y.r, &X.r, &p));
    CHECK_OK(C->act_fwd(x->cpu, &Y.c, &X.c, &p));
    cmp(name, "y", &Y, tol, tol, false);
    CHECK_OK(R->act_bwd(x->ref, &DX.r, &DY.r, &X.r, &Y.r, &p));
    CHECK_OK(C->act_bwd(x->cpu, &DX.c, &DY.c, &X.c, &Y.c, &p));
    cmp(name, "dx", &DX, tol, tol, false);
    if (hard) { /* dx over dy, as a layer may run it */
        CHECK_OK(R->act_bwd(x->ref, &DY.r, &DY.r, &X.r, &Y.r, &p));
        CHECK_OK(C->act_bwd(x->cpu, &DY.c, &DY.c, &X.c, &Y.c, &p));
        cmp(name, "dx in place", &DY, tol, tol, false);
    }
    /* in place, as layers may run it */
    CHECK_OK(R->act_fwd(x->ref, &X.r, &X.r, &p));
    CHECK_OK(C->act_fwd(x->cpu, &X.c, &X.c, &p));
    cmp(name, "y in place", &X, tol, tol, false);
    tp_free(&X);
    tp_free(&DY);
    tp_free(&Y);
    tp_free(&DX);
}

static void t_add(ctx *x, const char *name, int a_blk, int b_blk) {
    int64_t xs[4] = {2, 40, 7, 7};
    tp A, B, Y;
    tp_rand(x, &A, 4, xs, 1, a_blk);
    tp_rand(x, &B, 4, xs, 1, b_blk);
    tp_empty(x, &Y);
    CHECK_OK(x->ref->ops->add(x->ref, &Y.r, &A.r, &B.r));
    CHECK_OK(x->cpu->ops->add(x->cpu, &Y.c, &A.c, &B.c));
    cmp(name, "y", &Y, 0, 0, false); /* one rounding on both sides */
    CHECK_OK(x->ref->ops->add(x->ref, &A.r, &A.r, &B.r));
    CHECK_OK(x->cpu->ops->add(x->cpu, &A.c, &A.c, &B.c));
    cmp(name, "a += b", &A, 0, 0, false);
    CHECK_OK(x->ref->ops->add(x->ref, &B.r, &A.r, &B.r));
    CHECK_OK(x->cpu->ops->add(x->cpu, &B.c, &A.c, &B.c));
    cmp(name, "b = a + b", &B, 0, 0, false);
    tp_free(&A);
    tp_free(&B);
    tp_free(&Y);
}

/* ---- global average pool, channel scale (squeeze-excite) ---- */

static void t_gap(ctx *x, const char *name, int64_t c, int64_t hw, int blk) {
    int64_t xs[4] = {2, c, hw, hw}, ys[4] = {2, c, 1, 1};
    tp X, DY, Y, DX;
    tp_rand(x, &X, 4, xs, 1, blk);
    tp_rand(x, &DY, 4, ys, 1, 0);
    tp_empty(x, &Y);
    tp_empty(x, &DX);
    CHECK_OK(x->ref->ops->gap_fwd(x->ref, &Y.r, &X.r));
    CHECK_OK(x->cpu->ops->gap_fwd(x->cpu, &Y.c, &X.c));
    cmp(name, "y", &Y, 1e-6, 1e-6, false);
    CHECK_OK(x->ref->ops->gap_bwd(x->ref, &DX.r, &DY.r, &X.r));
    CHECK_OK(x->cpu->ops->gap_bwd(x->cpu, &DX.c, &DY.c, &X.c));
    cmp(name, "dx", &DX, 1e-7, 1e-6, false);
    if (blk) CHECK(blocked(&DX.c)); /* dx keeps x's layout for the layer before */
    tp *all[] = {&X, &DY, &Y, &DX};
    for (size_t i = 0; i < 4; i++) tp_free(all[i]);
}

static void t_scale(ctx *x, const char *name, int64_t c, int64_t hw, int blk) {
    int64_t xs[4] = {2, c, hw, hw}, ss[4] = {2, c, 1, 1};
    tp X, S, DY, Y, DX, DS;
    tp_rand(x, &X, 4, xs, 1, blk);
    tp_rand(x, &S, 4, ss, 1, 0);
    tp_rand(x, &DY, 4, xs, 1, blk);
    tp_empty(x, &Y);
    tp_empty(x, &DX);
    tp_empty(x, &DS);
    bool I = x->integer;
    CHECK_OK(x->ref->ops->scale_fwd(x->ref, &Y.r, &X.r, &S.r));
    CHECK_OK(x->cpu->ops->scale_fwd(x->cpu, &Y.c, &X.c, &S.c));
    cmp(name, "y", &Y, 0, 0, false); /* one product, one rounding */
    if (blk) CHECK(blocked(&Y.c));
    CHECK_OK(x->ref->ops->scale_bwd(x->ref, &DX.r, &DS.r, &DY.r, &X.r, &S.r));
    CHECK_OK(x->cpu->ops->scale_bwd(x->cpu, &DX.c, &DS.c, &DY.c, &X.c, &S.c));
    cmp(name, "dx", &DX, 0, 0, false);
    cmp(name, "ds", &DS, 1e-6, 1e-6, I);
    CHECK_OK(x->ref->ops->scale_bwd(x->ref, &DY.r, NULL, &DY.r, &X.r, &S.r));
    CHECK_OK(x->cpu->ops->scale_bwd(x->cpu, &DY.c, NULL, &DY.c, &X.c, &S.c));
    cmp(name, "dx over dy", &DY, 0, 0, false);
    CHECK_OK(x->ref->ops->scale_fwd(x->ref, &X.r, &X.r, &S.r));
    CHECK_OK(x->cpu->ops->scale_fwd(x->cpu, &X.c, &X.c, &S.c));
    cmp(name, "y in place", &X, 0, 0, false);
    tp *all[] = {&X, &S, &DY, &Y, &DX, &DS};
    for (size_t i = 0; i < 6; i++) tp_free(all[i]);
}

/* ---- pooling ---- */

static void t_pool(ctx *x, const char *name, int64_t hw, int k, int s, int pad, bool ceil_mode,
                   int blk) {
    ssd_pool_params p = {
        .kernel = {k, k}, .stride = {s, s}, .pad = {pad, pad}, .ceil_mode = ceil_mode};
    int64_t xs[4] = {2, 32, hw, hw};
    int64_t o = ssd_pool_out_size(hw, k, s, pad, ceil_mode);
    int64_t ys[4] = {2, 32, o, o};
    tp X, DY, Y, WS, DX;
    tp_rand(x, &X, 4, xs, 1, blk);
    tp_rand(x, &DY, 4, ys, 1, blk);
    tp_empty(x, &Y);
    tp_empty(x, &WS);
    tp_empty(x, &DX);
    CHECK_OK(x->ref->ops->maxpool_fwd(x->ref, &Y.r, &WS.r, &X.r, &p));
    CHECK_OK(x->cpu->ops->maxpool_fwd(x->cpu, &Y.c, &WS.c, &X.c, &p));
    cmp(name, "y", &Y, 0, 0, false);
    CHECK_OK(x->ref->ops->maxpool_bwd(x->ref, &DX.r, &DY.r, &WS.r, &X.r, &p));
    CHECK_OK(x->cpu->ops->maxpool_bwd(x->cpu, &DX.c, &DY.c, &WS.c, &X.c, &p));
    /* Overlapping windows (k3s1, k3s2) sum several dy into one dx: order differs. */
    cmp(name, "dx", &DX, 1e-6, 1e-6, x->integer);
    tp_free(&X);
    tp_free(&DY);
    tp_free(&Y);
    tp_free(&WS);
    tp_free(&DX);
}

/* ---- concat, softmax, head permute, l2norm ---- */

static void t_concat(ctx *x, const char *name, int nd, int64_t c0, int64_t c1, int axis, int blk) {
    int64_t s0[4] = {2, c0, 5, 5}, s1[4] = {2, c1, 5, 5}, sy[4] = {2, c0 + c1, 5, 5};
    if (nd == 3) {
        s0[2] = s1[2] = sy[2] = 21;
    }
    tp X0, X1, Y, DY, D0, D1;
    tp_rand(x, &X0, nd, s0, 1, blk);
    tp_rand(x, &X1, nd, s1, 1, blk);
    tp_rand(x, &DY, nd, sy, 1, blk);
    tp_empty(x, &Y);
    tp_empty(x, &D0);
    tp_empty(x, &D1);
    const ssd_tensor *xr[2] = {&X0.r, &X1.r}, *xc[2] = {&X0.c, &X1.c};
    ssd_tensor *dr[2] = {&D0.r, &D1.r}, *dc[2] = {&D0.c, &D1.c};
    CHECK_OK(x->ref->ops->concat_fwd(x->ref, &Y.r, xr, 2, axis));
    CHECK_OK(x->cpu->ops->concat_fwd(x->cpu, &Y.c, xc, 2, axis));
    cmp(name, "y", &Y, 0, 0, false);
    CHECK_OK(x->ref->ops->concat_bwd(x->ref, dr, &DY.r, xr, 2, axis));
    CHECK_OK(x->cpu->ops->concat_bwd(x->cpu, dc, &DY.c, xc, 2, axis));
    cmp(name, "dx0", &D0, 0, 0, false);
    cmp(name, "dx1", &D1, 0, 0, false);
    tp *all[] = {&X0, &X1, &Y, &DY, &D0, &D1};
    for (size_t i = 0; i < 6; i++) tp_free(all[i]);
}

static void t_softmax(ctx *x, const char *name, int nd, const int64_t *shape, int axis, bool log,
                      int blk) {
    ssd_softmax_params p = {.axis = axis, .log = log};
    tp X, DY, Y, DX;
    tp_rand(x, &X, nd, shape, 3, blk);
    tp_rand(x, &DY, nd, shape, 1, blk);
    tp_empty(x, &Y);
    tp_empty(x, &DX);
    CHECK_OK(x->ref->ops->softmax_fwd(x->ref, &Y.r, &X.r, &p));
    CHECK_OK(x->cpu->ops->softmax_fwd(x->cpu, &Y.c, &X.c, &p));
    cmp(name, "y", &Y, NUM_ATOL, NUM_RTOL, false);
    CHECK_OK(x->ref->ops->softmax_bwd(x->ref, &DX.r, &DY.r, &Y.r, &p));
    CHECK_OK(x->cpu->ops->softmax_bwd(x->cpu, &DX.c, &DY.c, &Y.c, &p));
    /* log-softmax's dx = dy - exp(y) * sum(dy): sums of 21..100 terms */
    cmp(name, "dx", &DX, 1e-5 * 10, NUM_RTOL, false);
    tp_free(&X);
    tp_free(&DY);
    tp_free(&Y);
    tp_free(&DX);
}

static void t_head(ctx *x, const char *name, int anchors, int k, int64_t hw, int blk) {
    ssd_head_params p = {.k = k};
    int64_t xs[4] = {2, anchors * k, hw, hw}, ys[3] = {2, hw * hw * anchors, k};
    tp X, DY, Y, DX;
    tp_rand(x, &X, 4, xs, 1, blk);
    tp_rand(x, &DY, 3, ys, 1, 0);
    tp_empty(x, &Y);
    tp_empty(x, &DX);
    CHECK_OK(x->ref->ops->head_permute_fwd(x->ref, &Y.r, &X.r, &p));
    CHECK_OK(x->cpu->ops->head_permute_fwd(x->cpu, &Y.c, &X.c, &p));
    cmp(name, "y", &Y, 0, 0, false);
    CHECK(!blocked(&Y.c));
    CHECK_OK(x->ref->ops->head_permute_bwd(x->ref, &DX.r, &DY.r, &X.r, &p));
    CHECK_OK(x->cpu->ops->head_permute_bwd(x->cpu, &DX.c, &DY.c, &X.c, &p));
    cmp(name, "dx", &DX, 0, 0, false);
    tp_free(&X);
    tp_free(&DY);
    tp_free(&Y);
    tp_free(&DX);
}

/* A scale's class (A*21) and box (A*4) maps stacked in one (2, 25A, hw, hw)
 * tensor, each read by a head permute with its channel range: both backends
 * must give what a whole-map permute of the channels alone gives; the
 * backward refuses a range; a range outside x is an error. */
static void t_head_range(ctx *x, const char *name, int anchors, int64_t hw, int blk) {
    int ks[2] = {21, 4};
    int64_t C = anchors * 25, xs[4] = {2, C, hw, hw};
    tp X;
    tp_rand(x, &X, 4, xs, 1, blk);
    float *all = ssd_malloc((size_t)(2 * C * hw * hw) * sizeof *all);
    CHECK_OK(ssd_tensor_get(&X.r, all, SSD_F32));
    int c0 = 0;
    for (int h = 0; h < 2; h++) {
        int cc = anchors * ks[h];
        ssd_head_params p = {.k = ks[h], .c0 = c0, .c = cc};
        /* the channels alone, as their own tensor */
        int64_t ps[4] = {2, cc, hw, hw};
        float *part = ssd_malloc((size_t)(2 * cc * hw * hw) * sizeof *part);
        for (int n = 0; n < 2; n++)
            memcpy(part + n * cc * hw * hw, all + (n * C + c0) * hw * hw,
                   (size_t)(cc * hw * hw) * sizeof *part);
        ssd_tensor P, WANT;
        ssd_tensor_init(&P, x->ref, SSD_F32, 4, ps);
        ssd_tensor_init(&WANT, x->ref, SSD_F32, 0, NULL);
        CHECK_OK(ssd_tensor_set(&P, part, SSD_F32));
        ssd_head_params whole = {.k = ks[h]};
        CHECK_OK(x->ref->ops->head_permute_fwd(x->ref, &WANT, &P, &whole));
        tp Y;
        tp_empty(x, &Y);
        CHECK_OK(x->ref->ops->head_permute_fwd(x->ref, &Y.r, &X.r, &p));
        CHECK_OK(x->cpu->ops->head_permute_fwd(x->cpu, &Y.c, &X.c, &p));
        char cfg[96];
        snprintf(cfg, sizeof cfg, "%s channels [%d, %d)", name, c0, c0 + cc);
        cmp(cfg, "y", &Y, 0, 0, false);
        int64_t n = ssd_tensor_numel(&WANT);
        float *want = ssd_malloc((size_t)n * sizeof *want),
              *got = ssd_malloc((size_t)n * sizeof *got);
        CHECK(ssd_tensor_same_shape(&WANT, &Y.r));
        CHECK_OK(ssd_tensor_get(&WANT, want, SSD_F32));
        CHECK_OK(ssd_tensor_get(&Y.r, got, SSD_F32));
        CHECK(test_close_f32(cfg, got, want, n, 0, 0));
        CHECK(x->ref->ops->head_permute_bwd(x->ref, &P, &Y.r, &X.r, &p) == SSD_E_UNSUPPORTED);
        CHECK(x->cpu->ops->head_permute_bwd(x->cpu, &Y.c, &Y.c, &X.c, &p) == SSD_E_UNSUPPORTED);
        ssd_error_clear();
        ssd_free(want);
        ssd_free(got);
        ssd_free(part);
        ssd_tensor_deinit(&P);
        ssd_tensor_deinit(&WANT);
        tp_free(&Y);
        c0 += cc;
    }
    ssd_head_params bad[] = {{.k = 4, .c0 = (int)C - 4, .c = 8},
                             {.k = 4, .c0 = -4, .c = 4},
                             {.k = 4, .c0 = 4},
                             {.k = 21, .c0 = 0, .c = 8}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tp Y;
        tp_empty(x, &Y);
        CHECK(x->ref->ops->head_permute_fwd(x->ref, &Y.r, &X.r, &bad[i]) == SSD_E_INVAL);
        CHECK(x->cpu->ops->head_permute_fwd(x->cpu, &Y.c, &X.c, &bad[i]) == SSD_E_INVAL);
        ssd_error_clear();
        tp_free(&Y);
    }
    ssd_free(all);
    tp_free(&X);
}

static void t_l2norm(ctx *x, const char *name, int blk) {
    ssd_l2norm_params p = {1e-10};
    int64_t xs[4] = {2, 32, 6, 6}, cs[1] = {32};
    tp X, S, DY, Y, DX, DS;
    tp_rand(x, &X, 4, xs, 1, blk);
    tp_rand(x, &S, 1, cs, 20, 0);
    tp_rand(x, &DY, 4, xs, 1, blk);
    tp_empty(x, &Y);
    tp_empty(x, &DX);
    tp_empty(x, &DS);
    CHECK_OK(x->ref->ops->l2norm_fwd(x->ref, &Y.r, &X.r, &S.r, &p));
    CHECK_OK(x->cpu->ops->l2norm_fwd(x->cpu, &Y.c, &X.c, &S.c, &p));
    /* scale ~20 makes y ~20/sqrt(32) */
    cmp(name, "y", &Y, 20 * NUM_ATOL, NUM_RTOL, false);
    CHECK_OK(x->ref->ops->l2norm_bwd(x->ref, &DX.r, &DS.r, &DY.r, &X.r, &S.r, &p));
    CHECK_OK(x->cpu->ops->l2norm_bwd(x->cpu, &DX.c, &DS.c, &DY.c, &X.c, &S.c, &p));
    cmp(name, "dx", &DX, 20 * NUM_ATOL, NUM_RTOL, false);
    cmp(name, "dscale", &DS, BWD_ATOL, BWD_RTOL, false);
    /* frozen scale: no dscale */
    CHECK_OK(x->ref->ops->l2norm_bwd(x->ref, &DX.r, NULL, &DY.r, &X.r, &S.r, &p));
    CHECK_OK(x->cpu->ops->l2norm_bwd(x->cpu, &DX.c, NULL, &DY.c, &X.c, &S.c, &p));
    cmp(name, "dx without dscale", &DX, 20 * NUM_ATOL, NUM_RTOL, false);
    CHECK_OK(x->ref->ops->l2norm_bwd(x->ref, NULL, &DS.r, &DY.r, &X.r, &S.r, &p));
    CHECK_OK(x->cpu->ops->l2norm_bwd(x->cpu, NULL, &DS.c, &DY.c, &X.c, &S.c, &p));
    cmp(name, "dscale without dx", &DS, BWD_ATOL, BWD_RTOL, false);
    tp *all[] = {&X, &S, &DY, &Y, &DX, &DS};
    for (size_t i = 0; i < 6; i++) tp_free(all[i]);
}

/* ---- views as outputs ---- */

/* A view's storage is borrowed (an arena's): an op writes through it in any
 * layout that fits in its capacity, and gives it up for storage of its own
 * when the output does not fit. */
static void t_views(ctx *x) {
    ssd_head_params hp = {.k = 4};
    int64_t xs[4] = {2, 24, 3, 3}, ys[3] = {2, 54, 4};
    tp X, Y;
    tp_rand(x, &X, 4, xs, 1, 16);
    tp_empty(x, &Y);
    CHECK_OK(x->ref->ops->head_permute_fwd(x->ref, &Y.r, &X.r, &hp));
    float *mem = ssd_aligned_alloc(2 * 54 * 4 * sizeof(float));
    ssd_tensor v;
    ssd_tensor_init(&v, x->cpu, SSD_F32, 3, ys);
    v.data = mem;
    v.cap = 2 * 54 * 4 * sizeof(float);
    v.view = true;
    CHECK_OK(x->cpu->ops->head_permute_fwd(x->cpu, &v, &X.c, &hp));
    CHECK(v.view && v.data == mem); /* plain output of the right size: written through */
    float want[2 * 54 * 4];
    CHECK_OK(ssd_tensor_get(&Y.r, want, SSD_F32));
    CHECK(test_close_f32("view: head permute written through", mem, want, 2 * 54 * 4, 0, 0));
    /* A blocked conv output that fits (2x16x3x3 in nChw16c) is written through too. */
    int64_t ws[4] = {16, 24, 1, 1};
    tp W, Z;
    tp_rand(x, &W, 4, ws, 0.2f, 0);
    tp_empty(x, &Z);
    ssd_conv2d_params cp = {{1, 1}, {0, 0}, {1, 1}, 1, SSD_ACT_NONE, SSD_CONV_F32};
    CHECK_OK(x->ref->ops->conv2d_fwd(x->ref, &Z.r, &X.r, &W.r, NULL, &cp));
    CHECK_OK(x->cpu->ops->conv2d_fwd(x->cpu, &v, &X.c, &W.c, NULL, &cp));
    CHECK(v.view && v.data == mem && blocked(&v));
    float zr[2 * 16 * 9], zc[2 * 16 * 9], snap[2 * 54 * 4];
    CHECK_OK(ssd_tensor_get(&Z.r, zr, SSD_F32));
    CHECK_OK(ssd_tensor_get(&v, zc, SSD_F32));
    CHECK(test_close_f32("view: blocked conv written through", zc, zr, 2 * 16 * 9, 1e-5, 1e-5));
    memcpy(snap, mem, sizeof snap);
    /* 64 output channels do not fit: the view is given up, its memory untouched. */
    int64_t ws2[4] = {64, 24, 1, 1};
    tp W2;
    tp_rand(x, &W2, 4, ws2, 0.2f, 0);
    CHECK_OK(x->cpu->ops->conv2d_fwd(x->cpu, &v, &X.c, &W2.c, NULL, &cp));
    CHECK(!v.view && v.data != mem);
    CHECK(test_close_f32("view: untouched after being given up", mem, snap, 2 * 54 * 4, 0, 0));
    ssd_tensor_deinit(&v);
    ssd_free(mem);
    tp_free(&X);
    tp_free(&Y);
    tp_free(&W);
    tp_free(&W2);
    tp_free(&Z);
}

/* ---- the chain ---- */

#define CHAIN_N 9
typedef struct {
    tp x, w[3], g[3], b[3], rm[3], rv[3];
    tp a[CHAIN_N]; /* activations: conv0 bn0 dw1 bn1 pw2 bn2 pool */
    tp ws[4], mean[3], inv[3];
    tp d[CHAIN_N], dw[3], dg[3], db[3], dy;
} chain;

static const ssd_conv2d_params CONV0 = {{2, 2}, {1, 1}, {1, 1}, 1, SSD_ACT_NONE, SSD_CONV_F32};
static const ssd_conv2d_params CONV1 = {{1, 1}, {1, 1}, {1, 1}, 32, SSD_ACT_NONE, SSD_CONV_F32};
static const ssd_conv2d_params CONV2 = {{1, 1}, {0, 0}, {1, 1}, 1, SSD_ACT_NONE, SSD_CONV_F32};
static const ssd_act BN_ACT[3] = {SSD_ACT_RELU, SSD_ACT_RELU6, SSD_ACT_NONE};
static const ssd_pool_params POOL = {{3, 3}, {2, 2}, {0, 0}, true};

/* One forward and backward step on backend side `s` (0 ref, 1 cpu). */
static void chain_step(ctx *x, chain *ch, int s) {
    ssd_backend *be = s ? x->cpu : x->ref;
    const ssd_backend_ops *o = be->ops;
#define T(t) (s ? &(t).c : &(t).r)
    const ssd_conv2d_params *cp[3] = {&CONV0, &CONV1, &CONV2};
    const ssd_tensor *in = T(ch->x);
    for (int l = 0; l < 3; l++) {
        ssd_bn_params bp = {1e-5, 0.1, true, BN_ACT[l], false};
        CHECK_OK(o->conv2d_fwd(be, T(ch->a[2 * l]), in, T(ch->w[l]), NULL, cp[l]));
        CHECK_OK(o->bn_fwd(be, T(ch->a[2 * l + 1]), T(ch->mean[l]), T(ch->inv[l]), T(ch->ws[l]),
                           T(ch->a[2 * l]), T(ch->g[l]), T(ch->b[l]), T(ch->rm[l]), T(ch->rv[l]),
                           &bp));
        in = T(ch->a[2 * l + 1]);
    }
    CHECK_OK(o->maxpool_fwd(be, T(ch->a[6]), T(ch->ws[3]), in, &POOL));
    CHECK_OK(o->maxpool_bwd(be, T(ch->d[6]), T(ch->dy), T(ch->ws[3]), T(ch->a[5]), &POOL));
    const ssd_tensor *dy = T(ch->d[6]);
    for (int l = 2; l >= 0; l--) {
        ssd_bn_params bp = {1e-5, 0.1, true, BN_ACT[l], false};
        CHECK_OK(o->bn_bwd(be, T(ch->d[2 * l + 1]), T(ch->dg[l]), T(ch->db[l]), dy, T(ch->a[2 * l]),
                           T(ch->a[2 * l + 1]), T(ch->ws[l]), T(ch->g[l]), T(ch->mean[l]),
                           T(ch->inv[l]), T(ch->rv[l]), &bp));
        const ssd_tensor *xin = l ? T(ch->a[2 * l - 1]) : T(ch->x);
        CHECK_OK(o->conv2d_bwd_weights(be, T(ch->dw[l]), NULL, T(ch->d[2 * l + 1]), xin,
                                       T(ch->w[l]), cp[l]));
        if (l) {
            CHECK_OK(o->conv2d_bwd_data(be, T(ch->d[2 * l]), T(ch->d[2 * l + 1]), xin, T(ch->w[l]),
                                        cp[l]));
            dy = T(ch->d[2 * l]);
        }
    }
#undef T
}

static void t_chain(ctx *x) {
    chain *ch = ssd_calloc(1, sizeof *ch);
    int64_t xs[4] = {2, 3, 38, 38}, ys[4] = {2, 64, 9, 9}; /* 38 -s2-> 19 -pool k3s2 ceil-> 9 */
    int64_t wsh[3][4] = {{32, 3, 3, 3}, {32, 1, 3, 3}, {64, 32, 1, 1}}, cs[3] = {32, 32, 64};
    tp_rand(x, &ch->x, 4, xs, 1, 0);
    tp_rand(x, &ch->dy, 4, ys, 1, 0);
    for (int l = 0; l < 3; l++) {
        tp_rand(x, &ch->w[l], 4, wsh[l], 1.0f / sqrtf((float)(wsh[l][1] * wsh[l][2] * wsh[l][3])),
                0);
        tp_rand(x, &ch->g[l], 1, &cs[l], 1, 0);
        tp_rand(x, &ch->b[l], 1, &cs[l], 1, 0);
        tp_rand(x, &ch->rm[l], 1, &cs[l], 0, 0);
        tp_rand(x, &ch->rv[l], 1, &cs[l], 0, 0);
        CHECK_OK(ssd_tensor_fill(&ch->rv[l].r, 1.0));
        CHECK_OK(ssd_tensor_fill(&ch->rv[l].c, 1.0));
        tp_empty(x, &ch->mean[l]);
        tp_empty(x, &ch->inv[l]);
        tp_empty(x, &ch->dw[l]);
        tp_empty(x, &ch->dg[l]);
        tp_empty(x, &ch->db[l]);
    }
    for (int i = 0; i < CHAIN_N; i++) {
        tp_empty(x, &ch->a[i]);
        tp_empty(x, &ch->d[i]);
    }
    for (int i = 0; i < 4; i++) tp_empty(x, &ch->ws[i]);

    /* Two steps: the second is the steady state (everything cached). */
    chain_step(x, ch, 0);
    chain_step(x, ch, 1);
    long prims0, reorders0, wre0, prims1, reorders1, wre1;
    ssd_backend_cpu_stats(x->cpu, &prims0, &reorders0, &wre0);
    chain_step(x, ch, 0);
    long allocs0 = ssd_alloc_count();
    chain_step(x, ch, 1);
    long allocs1 = ssd_alloc_count();
    ssd_backend_cpu_stats(x->cpu, &prims1, &reorders1, &wre1);
    /* nothing of ours is allocated in the steady state (oneDNN's own calls aside) */
    CHECK(allocs1 == allocs0);
    CHECK(prims1 == prims0); /* no primitive created in the steady state */
    /* Only the plain host-made dy is reordered (into the pool's layout); the
     * weights did not change, so no weight reorder either. (Narrower ISAs
     * may have oneDNN pick different layouts for forward and backward.) */
    CHECK(reorders1 - reorders0 == 1 || !wide_isa());
    CHECK(wre1 == wre0);
    if (reorders1 - reorders0 != 1 || wre1 != wre0)
        fprintf(stderr, "chain: %ld activation and %ld weight reorders in the steady state\n",
                reorders1 - reorders0, wre1 - wre0);
    const char *names[7] = {"conv0", "bn0+relu", "dw1", "bn1+relu6", "pw2", "bn2", "pool"};
    for (int i = 0; i < 7; i++) {
        char buf[32];
        CHECK(blocked(&ch->a[i].c) || !wide_isa());
        if (!blocked(&ch->a[i].c))
            fprintf(stderr, "chain: %s is %s\n", names[i],
                    ssd_backend_cpu_layout_name(&ch->a[i].c, buf, sizeof buf));
        cmp("chain", names[i], &ch->a[i], 1e-4, 1e-4, false);
        if (i >= 1) cmp("chain d", names[i], &ch->d[i], 1e-3, 1e-3, false);
    }
    for (int l = 0; l < 3; l++) {
        cmp("chain", "dw", &ch->dw[l], 2e-3, 1e-3, false);
        cmp("chain", "dgamma", &ch->dg[l], 2e-3, 1e-3, false);
        cmp("chain", "dbeta", &ch->db[l], 2e-3, 1e-3, false);
        cmp("chain", "running_mean", &ch->rm[l], 1e-5, 1e-4, false);
        cmp("chain", "running_var", &ch->rv[l], 1e-5, 1e-4, false);
    }
    tp *flat = (tp *)ch;
    for (size_t i = 0; i < sizeof *ch / sizeof(tp); i++) tp_free(&flat[i]);
    ssd_free(ch);
}

/* ---- configurations ---- */

/* clang-format off */
static const conv_cfg CONVS[] = {
    /* name                      n  c   h   w   o    k  s  p  d  g   bias   act            blk */
    {"conv stem 3->32 k3s2p1",   2, 3,  38, 38, 32,  3, 2, 1, 1, 1,  false, SSD_ACT_NONE,  0},
    {"conv dw k3s1p1",           2, 32, 19, 19, 32,  3, 1, 1, 1, 32, false, SSD_ACT_NONE,  16},
    {"conv dw k3s1p1 bias",      2, 32, 19, 19, 32,  3, 1, 1, 1, 32, true,  SSD_ACT_NONE,  16},
    {"conv dw k3s2p1",           2, 32, 19, 19, 32,  3, 2, 1, 1, 32, false, SSD_ACT_NONE,  16},
    {"conv dw k3s2p1 bias",      2, 32, 20, 20, 32,  3, 2, 1, 1, 32, true,  SSD_ACT_NONE,  16},
    {"conv dw k5s1p2",           2, 32, 10, 10, 32,  5, 1, 2, 1, 32, false, SSD_ACT_NONE,  16},
    {"conv dw k5s2p2",           2, 32, 11, 11, 32,  5, 2, 2, 1, 32, false, SSD_ACT_NONE,  16},
    {"conv dw k5s1p2 bias 40ch", 2, 40, 10, 10, 40,  5, 1, 2, 1, 40, true,  SSD_ACT_NONE,  16},
    {"conv dw k5s1p2 plain in",  2, 32, 10, 10, 32,  5, 1, 2, 1, 32, false, SSD_ACT_NONE,  0},
    {"conv dw k3s1p1 plain in",  2, 32, 10, 10, 32,  3, 1, 1, 1, 32, false, SSD_ACT_NONE,  0},
    {"conv 1x1",                 2, 32, 10, 10, 64,  1, 1, 0, 1, 1,  false, SSD_ACT_NONE,  16},
    {"conv 1x1 bias",            2, 32, 10, 10, 24,  1, 1, 0, 1, 1,  true,  SSD_ACT_NONE,  16},
    {"conv 1x1 bias nChw8c in",  2, 32, 10, 10, 64,  1, 1, 0, 1, 1,  true,  SSD_ACT_NONE,  8},
    {"conv 1x1 relu6",           2, 32, 10, 10, 64,  1, 1, 0, 1, 1,  true,  SSD_ACT_RELU6, 16},
    {"conv 3x3 bias",            2, 32, 10, 10, 48,  3, 1, 1, 1, 1,  true,  SSD_ACT_NONE,  16},
    {"conv 3x3 bias relu",       2, 32, 10, 10, 48,  3, 1, 1, 1, 1,  true,  SSD_ACT_RELU,  16},
    {"conv 3x3 s2 bias",         2, 32, 19, 19, 48,  3, 2, 1, 1, 1,  true,  SSD_ACT_NONE,  16},
    {"conv 3x3 p0 bias",         2, 32, 7,  7,  32,  3, 1, 0, 1, 1,  true,  SSD_ACT_NONE,  16},
    {"conv head 3x3 -> 6*4",     2, 64, 10, 10, 24,  3, 1, 1, 1, 1,  true,  SSD_ACT_NONE,  16},
    {"conv head 3x3 -> 6*21",    2, 32, 5,  5,  126, 3, 1, 1, 1, 1,  true,  SSD_ACT_NONE,  16},
    {"conv dilated k3p6d6",      2, 32, 19, 19, 32,  3, 1, 6, 6, 1,  true,  SSD_ACT_NONE,  16},
    {"conv fc6 dil6 64->128",    1, 64, 19, 19, 128, 3, 1, 6, 6, 1,  true,  SSD_ACT_RELU,  16},
    {"conv fc7 1x1 128->128",    1, 128,19, 19, 128, 1, 1, 0, 1, 1,  true,  SSD_ACT_RELU,  16},
    {"conv dw k3s1p1 relu6",     2, 32, 19, 19, 32,  3, 1, 1, 1, 32, false, SSD_ACT_RELU6, 16},
    {"conv dw k3s2p1 bias relu6",2, 24, 19, 19, 24,  3, 2, 1, 1, 24, true,  SSD_ACT_RELU6, 16},
    {"conv dw k3s1p1 relu6 8c",  2, 24, 10, 10, 24,  3, 1, 1, 1, 24, false, SSD_ACT_RELU6, 8},
    {"conv dw k5s2p2 40ch 8c",   2, 40, 11, 11, 40,  5, 2, 2, 1, 40, false, SSD_ACT_NONE,  8},
    {"conv grouped g4",          2, 32, 9,  9,  64,  3, 1, 1, 1, 4,  true,  SSD_ACT_NONE,  16},
};
/* clang-format on */

static void run_all(ctx *x) {
    for (size_t i = 0; i < sizeof CONVS / sizeof CONVS[0]; i++) t_conv(x, &CONVS[i]);
    if (!x->integer) {
        static const ssd_act acts[3] = {SSD_ACT_NONE, SSD_ACT_RELU, SSD_ACT_RELU6};
        static const char *an[3] = {"none", "relu", "relu6"};
        /* our fused kernels, and oneDNN's primitive (the path for other layouts) */
        for (int dn = 0; dn < 2; dn++) {
            ssd_backend_cpu_set_bn_onednn(x->cpu, dn);
            for (int tr = 0; tr < 2; tr++)
                for (int a = 0; a < 3; a++)
                    for (int blk = 0; blk <= 16; blk += 8) {
                        char name[96];
                        snprintf(name, sizeof name, "bn %s %s %s%s", tr ? "train" : "eval", an[a],
                                 blk ? (blk == 8 ? "nChw8c" : "nChw16c") : "plain",
                                 dn ? " (oneDNN)" : "");
                        t_bn(x, name, tr, acts[a], blk);
                    }
        }
        ssd_backend_cpu_set_bn_onednn(x->cpu, false);
        /* our kernels as built for smaller instruction sets */
        static const char *isas[2] = {"avx2", "base"};
        for (int i = 0; i < 2; i++) {
            ssd_backend_cpu_force_isa(isas[i]);
            for (int a = 0; a < 3; a++) {
                char name[96];
                snprintf(name, sizeof name, "bn train %s nChw16c (%s kernels)", an[a], isas[i]);
                t_bn(x, name, true, acts[a], 16);
                snprintf(name, sizeof name, "bn eval %s plain (%s kernels)", an[a], isas[i]);
                t_bn(x, name, false, acts[a], 0);
            }
        }
        ssd_backend_cpu_force_isa(NULL);
    }
    t_act(x, "relu nChw16c", SSD_ACT_RELU, 16, 16);
    t_act(x, "relu6 nChw16c", SSD_ACT_RELU6, 16, 16);
    t_act(x, "relu6 plain", SSD_ACT_RELU6, 0, 0);
    t_act(x, "relu nChw16c, dy plain", SSD_ACT_RELU, 16, 0);
    t_act(x, "hardswish nChw16c (24 ch: padded)", SSD_ACT_HARDSWISH, 16, 16);
    t_act(x, "hardswish plain", SSD_ACT_HARDSWISH, 0, 0);
    t_act(x, "hardswish nChw8c, dy plain", SSD_ACT_HARDSWISH, 8, 0);
    t_act(x, "hardsigmoid nChw16c (24 ch: padded)", SSD_ACT_HARDSIGMOID, 16, 16);
    t_act(x, "hardsigmoid plain", SSD_ACT_HARDSIGMOID, 0, 0);
    t_gap(x, "gap nChw16c 40ch", 40, 10, 16);
    t_gap(x, "gap nChw8c 72ch", 72, 19, 8);
    t_gap(x, "gap plain 24ch", 24, 5, 0);
    t_scale(x, "scale nChw16c 40ch", 40, 10, 16);
    t_scale(x, "scale nChw8c 120ch", 120, 5, 8);
    t_scale(x, "scale plain 24ch", 24, 5, 0);
    t_add(x, "add nChw16c", 16, 16);
    t_add(x, "add nChw16c + plain", 16, 0);
    t_add(x, "add plain + nChw8c", 0, 8);
    t_pool(x, "maxpool k2s2", 10, 2, 2, 0, false, 16);
    t_pool(x, "maxpool k2s2 ceil odd", 19, 2, 2, 0, true, 16);
    t_pool(x, "maxpool k2s2 floor odd", 19, 2, 2, 0, false, 16);
    t_pool(x, "maxpool k3s1p1", 10, 3, 1, 1, false, 16);
    t_pool(x, "maxpool k3s2 ceil", 19, 3, 2, 0, true, 16);
    t_pool(x, "maxpool k3s2 ceil plain", 38, 3, 2, 0, true, 0);
    t_pool(x, "maxpool VGG C k2s2 ceil 75->38", 75, 2, 2, 0, true, 16);
    t_pool(x, "maxpool VGG pool5 k3s1p1 19", 19, 3, 1, 1, false, 8);
    t_concat(x, "concat channels nChw16c 32+16", 4, 32, 16, 1, 16);
    t_concat(x, "concat channels nChw16c 24+40", 4, 24, 40, 1, 16);
    t_concat(x, "concat channels plain", 4, 5, 7, 1, 0);
    t_concat(x, "concat fire 64+64 nChw16c", 4, 64, 64, 1, 16);
    t_concat(x, "concat fire 128+128 nChw8c", 4, 128, 128, 1, 8);
    t_concat(x, "concat fire 192+192 nChw16c", 4, 192, 192, 1, 16);
    t_concat(x, "concat fire 256+256 plain", 4, 256, 256, 1, 0);
    t_concat(x, "concat axis 1 of 3-D", 3, 30, 12, 1, 0);
    if (!x->integer) {
        int64_t s3[3] = {2, 100, 21}, s4[4] = {2, 21, 5, 5};
        t_softmax(x, "softmax last axis", 3, s3, -1, false, 0);
        t_softmax(x, "log-softmax last axis", 3, s3, 2, true, 0);
        t_softmax(x, "softmax axis 1", 4, s4, 1, false, 0);
        t_softmax(x, "log-softmax axis 1", 4, s4, 1, true, 0);
        t_softmax(x, "softmax axis 1 nChw16c", 4, s4, 1, false, 16);
        t_softmax(x, "log-softmax axis 1 nChw16c", 4, s4, 1, true, 16);
        t_l2norm(x, "l2norm nChw16c", 16);
        t_l2norm(x, "l2norm plain", 0);
    }
    t_head(x, "head permute k4", 6, 4, 10, 16);
    t_head(x, "head permute k21", 6, 21, 5, 16);
    t_head(x, "head permute k4 plain", 4, 4, 3, 0);
    t_head_range(x, "head range nChw16c", 6, 5, 16);
    t_head_range(x, "head range nChw8c", 6, 3, 8);
    t_head_range(x, "head range plain", 4, 10, 0);
}

int main(void) {
    ctx x = {.rng = 0x9e3779b97f4a7c15ull};
    REQUIRE_OK(ssd_backend_create(&x.ref, "ref"));
    REQUIRE_OK(ssd_backend_create(&x.cpu, "cpu"));
    CHECK(x.cpu->ops->supports(x.cpu, SSD_OP_CONV2D, SSD_F32, NULL));
    CHECK(!x.cpu->ops->supports(x.cpu, SSD_OP_CONV2D, SSD_F64, NULL));
    run_all(&x);
    x.integer = true;
    run_all(&x);
    x.integer = false;
    t_views(&x);
    t_chain(&x);
    ssd_backend_destroy(x.ref);
    ssd_backend_destroy(x.cpu);
    return test_finish();
}
