/* The cuda backend against the reference backend, op by op, in the
 * configurations the SSD models use, forward and every backward output, on
 * random inputs (uniform in [-1, 1), weights scaled by 1/sqrt(fan-in)), plus
 * integer inputs for the ops that are exact on them (pooling with ties, add,
 * concat, permute), and the hard activations at their kinks against values
 * worked out by hand. Also: the caching allocator reaches a steady state (no
 * cudaMalloc when a step repeats), tensors of another backend and unknown
 * activations are refused, TF32 stays within its own tolerance.
 *
 * Skips (exit 77) when the cuda backend is not built or no GPU is present. */
#include "test.h"

#include "box/box.h"
#include "core/mem.h"
#ifdef SSD_HAVE_CUDA
#include "backend/cuda/cuda.h"
#endif

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The reference sums in double and rounds once. cuDNN (FMA math) sums in
 * float32 in its own order and may pick Winograd or FFT algorithms, whose
 * transforms add a few ulps per term: forward sums of K <= 800 unit-size
 * terms stay below ~5e-5. Weight gradients sum up to N*Ho*Wo = 2*38*38
 * products reaching ~50, with atomics in some backward-filter algorithms:
 * below ~5e-4. */
#define FWD_ATOL 1e-4
#define FWD_RTOL 1e-4
#define BWD_ATOL 5e-4
#define BWD_RTOL 1e-4
/* BN / softmax / L2Norm: exp, sqrt, division, double sums on both sides; the
 * device rounds its float32 normalisation differently by a few ulps. */
#define NUM_ATOL 2e-5
#define NUM_RTOL 1e-4
/* TF32 keeps 10 mantissa bits of each conv input: relative error ~1e-3 per
 * product, growing like sqrt(K) in a sum of K products of mixed signs. */
#define TF32_ATOL 2e-2
#define TF32_RTOL 2e-2
/* bfloat16 operands (and y stored in bfloat16 by cuDNN): see main. */
#define BF16_ATOL 4e-2
#define BF16_RTOL 3e-2
/* Hardswish / hardsigmoid: PyTorch's float steps against the reference's double
 * arithmetic, a rounding or two apart (|x| < 8, |dy| < 1). */
#define HACT_ATOL 1e-6
#define HACT_RTOL 1e-6
/* Global average pool, channel scale gradient: sums in double on both sides in
 * another order, so the float results differ by an ulp at most. (Products and
 * the pool's gradient are bitwise the reference's: compared exactly.) */
#define CHAN_ATOL 1e-7
#define CHAN_RTOL 1e-6

typedef struct {
    ssd_backend *ref, *cu;
    uint64_t rng;
    bool integer;
} ctx;

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
    ssd_tensor_init(&t->c, x->cu, SSD_F32, 0, NULL);
}

static void tp_set(ctx *x, tp *t, int nd, const int64_t *shape, const float *h) {
    ssd_tensor_init(&t->r, x->ref, SSD_F32, nd, shape);
    ssd_tensor_init(&t->c, x->cu, SSD_F32, nd, shape);
    CHECK_OK(ssd_tensor_set(&t->r, h, SSD_F32));
    CHECK_OK(ssd_tensor_set(&t->c, h, SSD_F32));
}

static void tp_rand(ctx *x, tp *t, int nd, const int64_t *shape, float scale, float offset) {
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= shape[i];
    float *h = ssd_malloc((size_t)(n ? n : 1) * sizeof *h);
    for (int64_t i = 0; i < n; i++) h[i] = rnd(x, scale) + offset;
    tp_set(x, t, nd, shape, h);
    ssd_free(h);
}

static void tp_free(tp *t) {
    ssd_tensor_deinit(&t->r);
    ssd_tensor_deinit(&t->c);
}

static void cmp(const char *cfg, const char *name, const tp *t, double atol, double rtol) {
    char what[192];
    snprintf(what, sizeof what, "%s: %s", cfg, name);
    if (!ssd_tensor_same_shape(&t->r, &t->c)) {
        test_failed++;
        fprintf(stderr, "FAIL %s: shapes differ\n", what);
        return;
    }
    int64_t n = ssd_tensor_numel(&t->r);
    float *a = ssd_malloc((size_t)(n ? n : 1) * sizeof *a);
    float *b = ssd_malloc((size_t)(n ? n : 1) * sizeof *b);
    CHECK_OK(ssd_tensor_get(&t->c, a, SSD_F32));
    CHECK_OK(ssd_tensor_get(&t->r, b, SSD_F32));
    CHECK(test_close_f32(what, a, b, (long)n, atol, rtol));
    ssd_free(a);
    ssd_free(b);
}

/* ---- conv ---- */

typedef struct {
    const char *name;
    int64_t n, c, h, w, o;
    int k, s, p, d, g;
    bool bias;
    ssd_act act;
} conv_cfg;

static void t_conv(ctx *x, const conv_cfg *q, double fa, double fr, double ba, double br) {
    const ssd_backend_ops *R = x->ref->ops, *C = x->cu->ops;
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
    tp_rand(x, &X, 4, xs, 1, 0);
    tp_rand(x, &W, 4, ws, wscale, 0);
    tp_rand(x, &B, 1, bs, 1, 0);
    tp_rand(x, &DY, 4, ys, 1, 0);
    tp_empty(x, &Y);
    tp_empty(x, &DZ);
    tp_empty(x, &DX);
    tp_empty(x, &DW);
    tp_empty(x, &DB);
    const ssd_tensor *br_ = q->bias ? &B.r : NULL, *bc = q->bias ? &B.c : NULL;

    CHECK_OK(R->conv2d_fwd(x->ref, &Y.r, &X.r, &W.r, br_, &p));
    CHECK_OK(C->conv2d_fwd(x->cu, &Y.c, &X.c, &W.c, bc, &p));
    cmp(q->name, "y", &Y, fa, fr);
    tp *dz = &DY;
    if (q->act != SSD_ACT_NONE) {
        ssd_act_params ap = {q->act};
        CHECK_OK(R->act_bwd(x->ref, &DZ.r, &DY.r, NULL, &Y.r, &ap));
        CHECK_OK(C->act_bwd(x->cu, &DZ.c, &DY.c, NULL, &Y.c, &ap));
        dz = &DZ;
        /* Masks read off y differ where the two y straddle a kink (|y| ~ 1e-6 happens in
         * large maps; act_bwd itself is tested exactly in t_act): both sides get the
         * reference's dz so that the conv backward is compared alone. */
        int64_t n = ssd_tensor_numel(&DZ.r);
        float *h = ssd_malloc((size_t)n * sizeof *h);
        CHECK_OK(ssd_tensor_get(&DZ.r, h, SSD_F32));
        CHECK_OK(ssd_tensor_set(&DZ.c, h, SSD_F32));
        ssd_free(h);
    }
    CHECK_OK(R->conv2d_bwd_data(x->ref, &DX.r, &dz->r, &X.r, &W.r, &p));
    CHECK_OK(C->conv2d_bwd_data(x->cu, &DX.c, &dz->c, &X.c, &W.c, &p));
    cmp(q->name, "dx", &DX, fa, fr);
    CHECK_OK(R->conv2d_bwd_weights(x->ref, &DW.r, q->bias ? &DB.r : NULL, &dz->r, &X.r, &W.r, &p));
    CHECK_OK(C->conv2d_bwd_weights(x->cu, &DW.c, q->bias ? &DB.c : NULL, &dz->c, &X.c, &W.c, &p));
    cmp(q->name, "dw", &DW, ba, br);
    if (q->bias) cmp(q->name, "db", &DB, ba, br);
    tp *all[] = {&X, &W, &B, &DY, &Y, &DZ, &DX, &DW, &DB};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tp_free(all[i]);
}

static const conv_cfg convs[] = {
    {"conv 3x3 s2 3->8 relu", 2, 3, 37, 37, 8, 3, 2, 1, 1, 1, false, SSD_ACT_RELU},
    {"dwconv 3x3 s1 16 relu6", 2, 16, 19, 19, 16, 3, 1, 1, 1, 16, false, SSD_ACT_RELU6},
    {"dwconv 3x3 s2 16", 2, 16, 20, 20, 16, 3, 2, 1, 1, 16, false, SSD_ACT_NONE},
    {"pwconv 1x1 32->24 bias", 2, 32, 10, 10, 24, 1, 1, 0, 1, 1, true, SSD_ACT_NONE},
    {"head 3x3 p1 64->12 bias", 2, 64, 10, 10, 12, 3, 1, 1, 1, 1, true, SSD_ACT_NONE},
    {"dilated 3x3 d6 16->16 relu", 1, 16, 19, 19, 16, 3, 1, 6, 6, 1, true, SSD_ACT_RELU},
    {"extras 3x3 s2 p0 32->16", 2, 32, 5, 5, 16, 3, 2, 0, 1, 1, true, SSD_ACT_RELU},
    {"mb1 1x1 64->128 at 38x38", 2, 64, 38, 38, 128, 1, 1, 0, 1, 1, false, SSD_ACT_RELU},
};

/* A bf16 inference conv (ssd_conv2d_params.prec, through conv2d_infer as the nn layers and
 * the ONNX runtime call it) on cuda against the reference's emulation
 * (operands rounded to bfloat16, sums in double, y rounded for BF16_Y). BF16_Y: cuDNN sums in
 * float32 and stores its sum in bfloat16 before the bias and activation, so y may be one
 * rounding further off. BF16 runs on TF32 (finer operands, y float32). */
static void t_conv_bf16_infer(ctx *x, const conv_cfg *q, ssd_conv_prec prec) {
    ssd_conv2d_params p = {.stride = {q->s, q->s},
                           .pad = {q->p, q->p},
                           .dilation = {q->d, q->d},
                           .groups = q->g,
                           .act = q->act,
                           .prec = prec};
    int64_t xs[4] = {q->n, q->c, q->h, q->w}, ws[4] = {q->o, q->c / q->g, q->k, q->k};
    int64_t bs[1] = {q->o};
    tp X, W, B, Y;
    tp_rand(x, &X, 4, xs, 1, 0);
    tp_rand(x, &W, 4, ws, 1.0f / sqrtf((float)(q->c / q->g * q->k * q->k)), 0);
    tp_rand(x, &B, 1, bs, 1, 0);
    tp_empty(x, &Y);
    CHECK_OK(x->ref->ops->conv2d_infer(x->ref, &Y.r, &X.r, &W.r, q->bias ? &B.r : NULL, &p));
    CHECK_OK(x->cu->ops->conv2d_infer(x->cu, &Y.c, &X.c, &W.c, q->bias ? &B.c : NULL, &p));
    char cfg[96];
    snprintf(cfg, sizeof cfg, "%s (%s inference)", q->name,
             prec == SSD_CONV_BF16_Y ? "bf16, y bf16" : "bf16");
    cmp(cfg, "y", &Y, 1e-2, 1e-2);
    if (prec != SSD_CONV_BF16_Y) goto out; /* runs on TF32: y is float32 */
    int64_t n = ssd_tensor_numel(&Y.c);
    uint32_t *h = ssd_malloc((size_t)n * sizeof *h);
    CHECK_OK(ssd_tensor_get(&Y.c, h, SSD_F32));
    int64_t not16 = 0;
    for (int64_t i = 0; i < n; i++) not16 += (h[i] & 0xffffu) != 0;
    CHECK(not16 == 0); /* BF16_Y: every output is a bfloat16 value */
    ssd_free(h);
out:;
    tp *all[] = {&X, &W, &B, &Y};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tp_free(all[i]);
}

/* ---- batch norm ---- */

static void t_bn(ctx *x, bool training, ssd_act act) {
    const ssd_backend_ops *R = x->ref->ops, *C = x->cu->ops;
    char cfg[64];
    snprintf(cfg, sizeof cfg, "bn %s act %d", training ? "train" : "eval", (int)act);
    int64_t xs[4] = {2, 24, 9, 11}, cs[1] = {24};
    ssd_bn_params p = {.eps = 1e-5, .momentum = 0.1, .training = training, .act = act};
    tp X, G, Bt, RM, RV, Y, SM, SI, WS, DY, DX, DG, DB;
    tp_rand(x, &X, 4, xs, 2, 0.5f);
    tp_rand(x, &G, 1, cs, 0.5f, 1);
    tp_rand(x, &Bt, 1, cs, 0.5f, 0);
    tp_rand(x, &RM, 1, cs, 0.2f, 0);
    tp_rand(x, &RV, 1, cs, 0.2f, 1);
    tp_rand(x, &DY, 4, xs, 1, 0);
    tp *outs[] = {&Y, &SM, &SI, &WS, &DX, &DG, &DB};
    for (int i = 0; i < 7; i++) tp_empty(x, outs[i]);
    CHECK_OK(R->bn_fwd(x->ref, &Y.r, &SM.r, &SI.r, &WS.r, &X.r, &G.r, &Bt.r, &RM.r, &RV.r, &p));
    CHECK_OK(C->bn_fwd(x->cu, &Y.c, &SM.c, &SI.c, &WS.c, &X.c, &G.c, &Bt.c, &RM.c, &RV.c, &p));
    cmp(cfg, "y", &Y, NUM_ATOL, NUM_RTOL);
    cmp(cfg, "save_mean", &SM, NUM_ATOL, NUM_RTOL);
    cmp(cfg, "save_invstd", &SI, NUM_ATOL, NUM_RTOL);
    cmp(cfg, "running_mean", &RM, NUM_ATOL, NUM_RTOL);
    cmp(cfg, "running_var", &RV, NUM_ATOL, NUM_RTOL);
    /* Backward from the reference's y on both sides (masks at the kinks agree). */
    {
        int64_t n = ssd_tensor_numel(&Y.r);
        float *h = ssd_malloc((size_t)n * sizeof *h);
        CHECK_OK(ssd_tensor_get(&Y.r, h, SSD_F32));
        CHECK_OK(ssd_tensor_set(&Y.c, h, SSD_F32));
        ssd_free(h);
    }
    CHECK_OK(R->bn_bwd(x->ref, &DX.r, &DG.r, &DB.r, &DY.r, &X.r, &Y.r, &WS.r, &G.r, &SM.r, &SI.r,
                       &RV.r, &p));
    CHECK_OK(C->bn_bwd(x->cu, &DX.c, &DG.c, &DB.c, &DY.c, &X.c, &Y.c, &WS.c, &G.c, &SM.c, &SI.c,
                       &RV.c, &p));
    cmp(cfg, "dx", &DX, NUM_ATOL, NUM_RTOL);
    cmp(cfg, "dgamma", &DG, BWD_ATOL, BWD_RTOL);
    cmp(cfg, "dbeta", &DB, BWD_ATOL, BWD_RTOL);
    /* Frozen layers pass NULL for the parameter gradients. */
    CHECK_OK(C->bn_bwd(x->cu, &DX.c, NULL, NULL, &DY.c, &X.c, &Y.c, &WS.c, &G.c, &SM.c, &SI.c,
                       &RV.c, &p));
    cmp(cfg, "dx without dgamma", &DX, NUM_ATOL, NUM_RTOL);
    tp *all[] = {&X, &G, &Bt, &RM, &RV, &Y, &SM, &SI, &WS, &DY, &DX, &DG, &DB};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tp_free(all[i]);
}

/* ---- element-wise, pooling, data movement ---- */

/* ReLU and ReLU6 read y in backward (x NULL), hardswish and hardsigmoid x (y
 * NULL), as backend.h allows. */
static void t_act(ctx *x, ssd_act a, int64_t n, int64_t c, int64_t h, int64_t w) {
    const ssd_backend_ops *R = x->ref->ops, *C = x->cu->ops;
    char cfg[96];
    snprintf(cfg, sizeof cfg, "act %d %lldx%lldx%lldx%lld%s", (int)a, (long long)n, (long long)c,
             (long long)h, (long long)w, x->integer ? " (integer)" : "");
    int64_t s[4] = {n, c, h, w};
    ssd_act_params p = {a};
    const bool on_x = a == SSD_ACT_HARDSWISH || a == SSD_ACT_HARDSIGMOID;
    const double at = on_x ? HACT_ATOL : 0, rt = on_x ? HACT_RTOL : 0;
    tp X, Y, DY, DX;
    tp_rand(x, &X, 4, s, 8, 0); /* reaches past 6 for ReLU6, past +-3 for the hard ones */
    tp_rand(x, &DY, 4, s, 1, 0);
    tp_empty(x, &Y);
    tp_empty(x, &DX);
    CHECK_OK(R->act_fwd(x->ref, &Y.r, &X.r, &p));
    CHECK_OK(C->act_fwd(x->cu, &Y.c, &X.c, &p));
    cmp(cfg, "y", &Y, at, rt);
    CHECK_OK(R->act_bwd(x->ref, &DX.r, &DY.r, on_x ? &X.r : NULL, on_x ? NULL : &Y.r, &p));
    CHECK_OK(C->act_bwd(x->cu, &DX.c, &DY.c, on_x ? &X.c : NULL, on_x ? NULL : &Y.c, &p));
    cmp(cfg, "dx", &DX, at, rt);
    /* in place: backward into dy, then forward into x */
    CHECK_OK(C->act_bwd(x->cu, &DY.c, &DY.c, on_x ? &X.c : NULL, on_x ? NULL : &Y.c, &p));
    tp bwd_in_place = {.r = DX.r, .c = DY.c};
    cmp(cfg, "dx in place", &bwd_in_place, at, rt);
    CHECK_OK(C->act_fwd(x->cu, &X.c, &X.c, &p));
    tp in_place = {.r = Y.r, .c = X.c};
    cmp(cfg, "y in place", &in_place, at, rt);
    tp *all[] = {&X, &Y, &DY, &DX};
    for (int i = 0; i < 4; i++) tp_free(all[i]);
}

/* Hardswish and hardsigmoid at and around their kinks, dy = 1: backend.h's
 * conventions (autograd through x * relu6(x + 3) / 6: hardswish' is 0 at
 * x = -3 and 1 at x = 3, hardsigmoid' 0 at both) by hand, then the float
 * neighbours of +-3 (x + 3 rounds to 6 just below 3) against the reference. */
static void t_act_kinks(ctx *x) {
    const ssd_backend_ops *R = x->ref->ops, *C = x->cu->ops;
    enum { K = 9, M = 15 };
    static const float xs[K] = {-4.f, -3.f, -2.5f, -1.5f, 0.f, 1.5f, 2.5f, 3.f, 4.f};
    static const float want[2][2][K] = {
        /* hardswish: y, dx */
        {{0.f, 0.f, -2.5f * 0.5f / 6.f, -0.375f, 0.f, 1.125f, 2.5f * 5.5f / 6.f, 3.f, 4.f},
         {0.f, 0.f, -1.f / 3.f, 0.f, 0.5f, 1.f, 4.f / 3.f, 1.f, 1.f}},
        /* hardsigmoid: y, dx */
        {{0.f, 0.f, 0.5f / 6.f, 0.25f, 0.5f, 0.75f, 5.5f / 6.f, 1.f, 1.f},
         {0.f, 0.f, 1.f / 6.f, 1.f / 6.f, 1.f / 6.f, 1.f / 6.f, 1.f / 6.f, 0.f, 0.f}}};
    float xm[M], ones[M], got[M];
    for (int i = 0; i < K; i++) xm[i] = xs[i];
    const float nb[M - K] = {nextafterf(-3.f, -9.f), nextafterf(-3.f, 0.f), nextafterf(3.f, 0.f),
                             nextafterf(3.f, 9.f),   nextafterf(-6.f, 0.f), nextafterf(6.f, 0.f)};
    for (int i = K; i < M; i++) xm[i] = nb[i - K];
    for (int i = 0; i < M; i++) ones[i] = 1.f;
    int64_t s[1] = {M};
    for (int k = 0; k < 2; k++) {
        ssd_act_params p = {k == 0 ? SSD_ACT_HARDSWISH : SSD_ACT_HARDSIGMOID};
        char cfg[64];
        snprintf(cfg, sizeof cfg, "act %d kinks", (int)p.kind);
        tp X, DY, Y, DX;
        tp_set(x, &X, 1, s, xm);
        tp_set(x, &DY, 1, s, ones);
        tp_empty(x, &Y);
        tp_empty(x, &DX);
        CHECK_OK(R->act_fwd(x->ref, &Y.r, &X.r, &p));
        CHECK_OK(C->act_fwd(x->cu, &Y.c, &X.c, &p));
        CHECK_OK(R->act_bwd(x->ref, &DX.r, &DY.r, &X.r, NULL, &p));
        CHECK_OK(C->act_bwd(x->cu, &DX.c, &DY.c, &X.c, NULL, &p));
        const ssd_tensor *outs[2][2] = {{&Y.r, &DX.r}, {&Y.c, &DX.c}};
        for (int side = 0; side < 2; side++)
            for (int o = 0; o < 2; o++) {
                char what[96];
                snprintf(what, sizeof what, "%s: %s %s by hand", cfg, side ? "cuda" : "ref",
                         o ? "dx" : "y");
                CHECK_OK(ssd_tensor_get(outs[side][o], got, SSD_F32));
                CHECK(test_close_f32(what, got, want[k][o], K, HACT_ATOL, HACT_RTOL));
            }
        cmp(cfg, "y", &Y, HACT_ATOL, HACT_RTOL);
        cmp(cfg, "dx", &DX, HACT_ATOL, HACT_RTOL);
        tp *all[] = {&X, &DY, &Y, &DX};
        for (int i = 0; i < 4; i++) tp_free(all[i]);
    }
}

/* Global average pool and channel scale (squeeze-excite), forward and backward,
 * with the aliasing the ops allow (scale in place, dx into dy) and the optional
 * outputs of scale_bwd left out. */
static void t_chan(ctx *x, int64_t n, int64_t c, int64_t h, int64_t w) {
    const ssd_backend_ops *R = x->ref->ops, *C = x->cu->ops;
    char cfg[96];
    snprintf(cfg, sizeof cfg, "chan %lldx%lldx%lldx%lld", (long long)n, (long long)c, (long long)h,
             (long long)w);
    int64_t xs[4] = {n, c, h, w}, ps[4] = {n, c, 1, 1};
    tp X, S, DY, DP, Y, P, DX, DS, GX;
    tp_rand(x, &X, 4, xs, 1, 0);
    tp_rand(x, &S, 4, ps, 0.5f, 0.5f); /* a hardsigmoid's range */
    tp_rand(x, &DY, 4, xs, 1, 0);
    tp_rand(x, &DP, 4, ps, 1, 0);
    tp *outs[] = {&Y, &P, &DX, &DS, &GX};
    for (int i = 0; i < 5; i++) tp_empty(x, outs[i]);

    CHECK_OK(R->gap_fwd(x->ref, &P.r, &X.r));
    CHECK_OK(C->gap_fwd(x->cu, &P.c, &X.c));
    cmp(cfg, "gap y", &P, CHAN_ATOL, CHAN_RTOL);
    CHECK_OK(R->gap_bwd(x->ref, &GX.r, &DP.r, &X.r));
    CHECK_OK(C->gap_bwd(x->cu, &GX.c, &DP.c, &X.c));
    cmp(cfg, "gap dx", &GX, 0, 0);

    CHECK_OK(R->scale_fwd(x->ref, &Y.r, &X.r, &S.r));
    CHECK_OK(C->scale_fwd(x->cu, &Y.c, &X.c, &S.c));
    cmp(cfg, "scale y", &Y, 0, 0);
    CHECK_OK(R->scale_bwd(x->ref, &DX.r, &DS.r, &DY.r, &X.r, &S.r));
    CHECK_OK(C->scale_bwd(x->cu, &DX.c, &DS.c, &DY.c, &X.c, &S.c));
    cmp(cfg, "scale dx", &DX, 0, 0);
    cmp(cfg, "scale ds", &DS, CHAN_ATOL, CHAN_RTOL);
    /* each output alone (the other NULL) */
    CHECK_OK(C->fill(x->cu, &DX.c, 0));
    CHECK_OK(C->fill(x->cu, &DS.c, 0));
    CHECK_OK(C->scale_bwd(x->cu, &DX.c, NULL, &DY.c, &X.c, &S.c));
    cmp(cfg, "scale dx without ds", &DX, 0, 0);
    CHECK_OK(C->scale_bwd(x->cu, NULL, &DS.c, &DY.c, &X.c, &S.c));
    cmp(cfg, "scale ds without dx", &DS, CHAN_ATOL, CHAN_RTOL);
    /* dx into dy: with ds, then without */
    CHECK_OK(C->scale_bwd(x->cu, &DY.c, &DS.c, &DY.c, &X.c, &S.c));
    tp dy_alias = {.r = DX.r, .c = DY.c};
    cmp(cfg, "scale dx into dy", &dy_alias, 0, 0);
    cmp(cfg, "scale ds with dx into dy", &DS, CHAN_ATOL, CHAN_RTOL);
    tp_free(&DY);
    tp_rand(x, &DY, 4, xs, 1, 0);
    CHECK_OK(R->scale_bwd(x->ref, &DX.r, NULL, &DY.r, &X.r, &S.r));
    CHECK_OK(C->scale_bwd(x->cu, &DY.c, NULL, &DY.c, &X.c, &S.c));
    tp dy_alias2 = {.r = DX.r, .c = DY.c};
    cmp(cfg, "scale dx into dy without ds", &dy_alias2, 0, 0);
    /* forward in place, as the graph may run it */
    CHECK_OK(C->scale_fwd(x->cu, &X.c, &X.c, &S.c));
    tp in_place = {.r = Y.r, .c = X.c};
    cmp(cfg, "scale y in place", &in_place, 0, 0);
    tp *all[] = {&X, &S, &DY, &DP, &Y, &P, &DX, &DS, &GX};
    for (int i = 0; i < 9; i++) tp_free(all[i]);
}

static void t_pool(ctx *x, int k, int s, int pad, bool ceil_mode, int64_t h) {
    const ssd_backend_ops *R = x->ref->ops, *C = x->cu->ops;
    char cfg[80];
    snprintf(cfg, sizeof cfg, "maxpool k%d s%d p%d%s h%lld%s", k, s, pad, ceil_mode ? " ceil" : "",
             (long long)h, x->integer ? " (integer)" : "");
    ssd_pool_params p = {
        .kernel = {k, k}, .stride = {s, s}, .pad = {pad, pad}, .ceil_mode = ceil_mode};
    int64_t xs[4] = {2, 6, h, h};
    int64_t ys[4] = {2, 6, ssd_pool_out_size(h, k, s, pad, ceil_mode),
                     ssd_pool_out_size(h, k, s, pad, ceil_mode)};
    tp X, Y, WS, DY, DX;
    tp_rand(x, &X, 4, xs, 1, 0);
    tp_rand(x, &DY, 4, ys, 1, 0);
    tp_empty(x, &Y);
    tp_empty(x, &DX);
    ssd_tensor_init(&WS.r, x->ref, SSD_I64, 0, NULL);
    ssd_tensor_init(&WS.c, x->cu, SSD_I64, 0, NULL);
    CHECK_OK(R->maxpool_fwd(x->ref, &Y.r, &WS.r, &X.r, &p));
    CHECK_OK(C->maxpool_fwd(x->cu, &Y.c, &WS.c, &X.c, &p));
    cmp(cfg, "y", &Y, 0, 0);
    int64_t n = ssd_tensor_numel(&WS.r);
    int64_t *ia = ssd_malloc((size_t)n * 8), *ib = ssd_malloc((size_t)n * 8);
    CHECK_OK(ssd_tensor_get(&WS.c, ia, SSD_I64));
    CHECK_OK(ssd_tensor_get(&WS.r, ib, SSD_I64));
    CHECK(memcmp(ia, ib, (size_t)n * 8) == 0); /* same argmax, ties included */
    ssd_free(ia);
    ssd_free(ib);
    CHECK_OK(R->maxpool_bwd(x->ref, &DX.r, &DY.r, &WS.r, &X.r, &p));
    CHECK_OK(C->maxpool_bwd(x->cu, &DX.c, &DY.c, &WS.c, &X.c, &p));
    /* overlapping windows sum up to k*k values in another order */
    cmp(cfg, "dx", &DX, x->integer ? 0 : 1e-6, x->integer ? 0 : 1e-6);
    tp *all[] = {&X, &Y, &WS, &DY, &DX};
    for (int i = 0; i < 5; i++) tp_free(all[i]);
}

static void t_add_concat_permute(ctx *x) {
    const ssd_backend_ops *R = x->ref->ops, *C = x->cu->ops;
    const char *cfg = x->integer ? "data (integer)" : "data";
    int64_t s[3] = {2, 7, 5};
    tp A, B, Y;
    tp_rand(x, &A, 3, s, 1, 0);
    tp_rand(x, &B, 3, s, 1, 0);
    tp_empty(x, &Y);
    CHECK_OK(R->add(x->ref, &Y.r, &A.r, &B.r));
    CHECK_OK(C->add(x->cu, &Y.c, &A.c, &B.c));
    cmp(cfg, "add", &Y, 0, 0);
    CHECK_OK(C->add(x->cu, &A.c, &A.c, &B.c)); /* y aliases a */
    tp alias = {.r = Y.r, .c = A.c};
    cmp(cfg, "add in place", &alias, 0, 0);
    tp_free(&A);
    tp_free(&B);
    tp_free(&Y);

    /* concat of head outputs along the prior axis, and back */
    int64_t s0[3] = {2, 12, 6}, s1[3] = {2, 3, 6}, s2[3] = {2, 1, 6};
    tp X0, X1, X2, CY, D0, D1, D2;
    tp_rand(x, &X0, 3, s0, 1, 0);
    tp_rand(x, &X1, 3, s1, 1, 0);
    tp_rand(x, &X2, 3, s2, 1, 0);
    tp_empty(x, &CY);
    tp_empty(x, &D0);
    tp_empty(x, &D1);
    tp_empty(x, &D2);
    const ssd_tensor *xr[3] = {&X0.r, &X1.r, &X2.r}, *xc[3] = {&X0.c, &X1.c, &X2.c};
    ssd_tensor *dr[3] = {&D0.r, &D1.r, &D2.r}, *dc[3] = {&D0.c, &D1.c, &D2.c};
    {
        const int axis = 1;
        CHECK_OK(R->concat_fwd(x->ref, &CY.r, xr, 3, axis));
        CHECK_OK(C->concat_fwd(x->cu, &CY.c, xc, 3, axis));
        cmp(cfg, "concat", &CY, 0, 0);
        CHECK_OK(R->concat_bwd(x->ref, dr, &CY.r, xr, 3, axis));
        CHECK_OK(C->concat_bwd(x->cu, dc, &CY.c, xc, 3, axis));
        cmp(cfg, "concat_bwd 0", &D0, 0, 0);
        cmp(cfg, "concat_bwd 1", &D1, 0, 0);
        cmp(cfg, "concat_bwd 2", &D2, 0, 0);
    }
    tp *cc[] = {&X0, &X1, &X2, &CY, &D0, &D1, &D2};
    for (int i = 0; i < 7; i++) tp_free(cc[i]);

    /* head permute: (N, A*k, H, W) -> (N, H*W*A, k) */
    int64_t hs[4] = {2, 6 * 4, 5, 3};
    ssd_head_params hp = {.k = 4};
    tp HX, HY, HD;
    tp_rand(x, &HX, 4, hs, 1, 0);
    tp_empty(x, &HY);
    tp_empty(x, &HD);
    CHECK_OK(R->head_permute_fwd(x->ref, &HY.r, &HX.r, &hp));
    CHECK_OK(C->head_permute_fwd(x->cu, &HY.c, &HX.c, &hp));
    cmp(cfg, "head_permute", &HY, 0, 0);
    CHECK_OK(R->head_permute_bwd(x->ref, &HD.r, &HY.r, &HX.r, &hp));
    CHECK_OK(C->head_permute_bwd(x->cu, &HD.c, &HY.c, &HX.c, &hp));
    cmp(cfg, "head_permute_bwd", &HD, 0, 0);
    /* channel ranges of a stacked class (6*21) + box (6*4) map, as the ONNX runtime merges a
     * scale's two head convs; forward only */
    int64_t ms[4] = {2, 6 * 25, 5, 3};
    tp MX;
    tp_rand(x, &MX, 4, ms, 1, 0);
    ssd_head_params ranges[2] = {{.k = 21, .c0 = 0, .c = 126}, {.k = 4, .c0 = 126, .c = 24}};
    for (int i = 0; i < 2; i++) {
        CHECK_OK(R->head_permute_fwd(x->ref, &HY.r, &MX.r, &ranges[i]));
        CHECK_OK(C->head_permute_fwd(x->cu, &HY.c, &MX.c, &ranges[i]));
        cmp(cfg, i ? "head_permute box channels" : "head_permute class channels", &HY, 0, 0);
    }
    CHECK(C->head_permute_bwd(x->cu, &HD.c, &HY.c, &MX.c, &ranges[1]) == SSD_E_UNSUPPORTED);
    ssd_head_params outside = {.k = 4, .c0 = 140, .c = 24};
    CHECK(C->head_permute_fwd(x->cu, &HY.c, &MX.c, &outside) == SSD_E_INVAL);
    ssd_error_clear();
    tp_free(&MX);
    tp_free(&HX);
    tp_free(&HY);
    tp_free(&HD);
}

static void t_softmax(ctx *x, bool log_out, int axis) {
    const ssd_backend_ops *R = x->ref->ops, *C = x->cu->ops;
    char cfg[64];
    snprintf(cfg, sizeof cfg, "%ssoftmax axis %d", log_out ? "log-" : "", axis);
    int64_t s[3] = {2, 300, 21};
    ssd_softmax_params p = {.axis = axis, .log = log_out};
    tp X, Y, DY, DX;
    tp_rand(x, &X, 3, s, 4, 0);
    tp_rand(x, &DY, 3, s, 1, 0);
    tp_empty(x, &Y);
    tp_empty(x, &DX);
    CHECK_OK(R->softmax_fwd(x->ref, &Y.r, &X.r, &p));
    CHECK_OK(C->softmax_fwd(x->cu, &Y.c, &X.c, &p));
    cmp(cfg, "y", &Y, NUM_ATOL, NUM_RTOL);
    CHECK_OK(R->softmax_bwd(x->ref, &DX.r, &DY.r, &Y.r, &p));
    CHECK_OK(C->softmax_bwd(x->cu, &DX.c, &DY.c, &Y.c, &p));
    cmp(cfg, "dx", &DX, NUM_ATOL, NUM_RTOL);
    tp *all[] = {&X, &Y, &DY, &DX};
    for (int i = 0; i < 4; i++) tp_free(all[i]);
}

static void t_l2norm(ctx *x) {
    const ssd_backend_ops *R = x->ref->ops, *C = x->cu->ops;
    const char *cfg = "l2norm";
    int64_t xs[4] = {2, 32, 6, 5}, cs[1] = {32};
    ssd_l2norm_params p = {.eps = 1e-10};
    tp X, S, Y, DY, DX, DS;
    tp_rand(x, &X, 4, xs, 1, 0);
    tp_rand(x, &S, 1, cs, 5, 20);
    tp_rand(x, &DY, 4, xs, 1, 0);
    tp_empty(x, &Y);
    tp_empty(x, &DX);
    tp_empty(x, &DS);
    CHECK_OK(R->l2norm_fwd(x->ref, &Y.r, &X.r, &S.r, &p));
    CHECK_OK(C->l2norm_fwd(x->cu, &Y.c, &X.c, &S.c, &p));
    cmp(cfg, "y", &Y, NUM_ATOL * 20, NUM_RTOL); /* scale ~20 */
    CHECK_OK(R->l2norm_bwd(x->ref, &DX.r, &DS.r, &DY.r, &X.r, &S.r, &p));
    CHECK_OK(C->l2norm_bwd(x->cu, &DX.c, &DS.c, &DY.c, &X.c, &S.c, &p));
    cmp(cfg, "dx", &DX, NUM_ATOL * 20, NUM_RTOL);
    cmp(cfg, "dscale", &DS, NUM_ATOL, NUM_RTOL);
    tp *all[] = {&X, &S, &Y, &DY, &DX, &DS};
    for (int i = 0; i < 6; i++) tp_free(all[i]);
}

/* The backend's SGD kernel against PyTorch's formula on the host, two steps. */
static void t_sgd(ctx *x) {
    const int n = 1000;
    int64_t s[1] = {n};
    float *w = ssd_malloc(n * sizeof *w), *g = ssd_malloc(n * sizeof *g);
    float *b = ssd_malloc(n * sizeof *b), *out = ssd_malloc(n * sizeof *out);
    for (int i = 0; i < n; i++) {
        w[i] = rnd(x, 1);
        g[i] = rnd(x, 1);
    }
    ssd_tensor tw, tg, tb;
    ssd_tensor_init(&tw, x->cu, SSD_F32, 1, s);
    ssd_tensor_init(&tg, x->cu, SSD_F32, 1, s);
    memset(&tb, 0, sizeof tb);
    CHECK_OK(ssd_tensor_set(&tw, w, SSD_F32));
    CHECK_OK(ssd_tensor_set(&tg, g, SSD_F32));
    const float lr = 0.01f, m = 0.9f, wd = 5e-4f;
    for (int step = 0; step < 2; step++) {
        CHECK_OK(x->cu->ops->sgd_update(x->cu, &tw, &tg, &tb, lr, m, wd, step == 0));
        for (int i = 0; i < n; i++) {
            float d = g[i] + wd * w[i];
            b[i] = step == 0 ? d : m * b[i] + d;
            w[i] -= lr * b[i];
        }
    }
    CHECK_OK(ssd_tensor_get(&tw, out, SSD_F32));
    CHECK(test_close_f32("sgd w", out, w, n, 1e-7, 1e-6));
    CHECK_OK(ssd_tensor_get(&tb, out, SSD_F32));
    CHECK(test_close_f32("sgd momentum", out, b, n, 1e-7, 1e-6));
    ssd_tensor_deinit(&tw);
    ssd_tensor_deinit(&tg);
    ssd_tensor_deinit(&tb);
    ssd_free(w);
    ssd_free(g);
    ssd_free(b);
    ssd_free(out);
}

/* The multibox loss on the device against the host's (box/multibox_loss.c), through
 * ssd_multibox_loss_on as training calls it. Images: few positives, none, and more
 * positives than 3x would leave negatives for; repeated logit rows make equal ranking keys,
 * so the tie order (increasing prior index) is checked too. */
static void t_loss(ctx *x, int n, int k, int c) {
    const size_t nk = (size_t)n * k;
    float *conf = ssd_malloc(nk * c * sizeof *conf), *loc = ssd_malloc(nk * 4 * sizeof *loc);
    float *gt = ssd_malloc(nk * 4 * sizeof *gt), *dc = ssd_malloc(nk * c * sizeof *dc);
    float *dl = ssd_malloc(nk * 4 * sizeof *dl), *got = ssd_malloc(nk * c * sizeof *got);
    int64_t *lab = ssd_malloc(nk * sizeof *lab);
    for (size_t i = 0; i < nk; i++) {
        const int img = (int)(i / k), pr = (int)(i % k);
        int64_t l = 0;
        if (img % 3 == 0) l = next_u64(x) % 20 == 0 ? 1 + (int64_t)(next_u64(x) % (c - 1)) : 0;
        if (img % 3 == 2) l = pr % 5 ? 1 + pr % (c - 1) : 0; /* 80% positives */
        lab[i] = l;
        for (int j = 0; j < c; j++) conf[i * c + j] = rnd(x, 4);
        if (pr % 7 == 3) /* a copy of the row 2 priors back: the same key */
            memcpy(conf + i * c, conf + (i - 2) * c, c * sizeof *conf);
        for (int j = 0; j < 4; j++) {
            loc[i * 4 + j] = rnd(x, 2);
            gt[i * 4 + j] = rnd(x, 2);
        }
    }
    double rh, ch, rd, cd;
    CHECK_OK(ssd_multibox_loss(&rh, &ch, dc, dl, conf, loc, lab, gt, n, k, c, 3));
    const int64_t sc[3] = {n, k, c}, sl[3] = {n, k, 4};
    ssd_tensor tc, tl, tdc, tdl;
    ssd_tensor_init(&tc, x->cu, SSD_F32, 3, sc);
    ssd_tensor_init(&tl, x->cu, SSD_F32, 3, sl);
    memset(&tdc, 0, sizeof tdc);
    memset(&tdl, 0, sizeof tdl);
    CHECK_OK(ssd_tensor_set(&tc, conf, SSD_F32));
    CHECK_OK(ssd_tensor_set(&tl, loc, SSD_F32));
    ssd_loss_ws ws = {0};
    CHECK_OK(ssd_multibox_loss_on(&ws, &rd, &cd, &tdc, &tdl, &tc, &tl, lab, gt, 3));
    char cfg[64];
    snprintf(cfg, sizeof cfg, "loss n=%d k=%d c=%d", n, k, c);
    if (!(fabs(rd - rh) <= 1e-9 * fabs(rh) + 1e-12 && fabs(cd - ch) <= 1e-9 * fabs(ch) + 1e-12))
        fprintf(stderr, "%s: losses %.12g %.12g, host %.12g %.12g\n", cfg, rd, cd, rh, ch);
    CHECK(fabs(rd - rh) <= 1e-9 * fabs(rh) + 1e-12);
    CHECK(fabs(cd - ch) <= 1e-9 * fabs(ch) + 1e-12);
    CHECK_OK(ssd_tensor_get(&tdc, got, SSD_F32));
    CHECK(test_close_f32(cfg, got, dc, nk * c, 1e-7, 1e-6));
    CHECK_OK(ssd_tensor_get(&tdl, got, SSD_F32));
    CHECK(test_close_f32(cfg, got, dl, nk * 4, 1e-7, 1e-6));
    /* no gradient: the same losses */
    CHECK_OK(ssd_multibox_loss_on(&ws, &rd, &cd, NULL, NULL, &tc, &tl, lab, gt, 3));
    CHECK(fabs(cd - ch) <= 1e-9 * fabs(ch) + 1e-12);
    /* a bad label names itself, as the host's */
    lab[nk - 1] = c;
    ssd_status st = ssd_multibox_loss_on(&ws, &rd, &cd, &tdc, &tdl, &tc, &tl, lab, gt, 3);
    CHECK(st == SSD_E_INVAL && strstr(ssd_error_message(), "outside"));
    ssd_loss_ws_free(&ws);
    ssd_tensor_deinit(&tc);
    ssd_tensor_deinit(&tl);
    ssd_tensor_deinit(&tdc);
    ssd_tensor_deinit(&tdl);
    ssd_free(conf);
    ssd_free(loc);
    ssd_free(gt);
    ssd_free(dc);
    ssd_free(dl);
    ssd_free(got);
    ssd_free(lab);
}

/* Batches through page-locked memory and the upload stream: the data arrive, ops queued after
 * an upload see them, and a fresh tensor's zeroing on the compute stream (queued behind a
 * long op) cannot land after the copy. */
static void t_upload(ctx *x) {
    const int64_t n = 1 << 20;
    float *h = ssd_backend_host_alloc(x->cu, n * sizeof *h);
    float *back = ssd_malloc(n * sizeof *back);
    CHECK(h && back);
    if (!h || !back) {
        ssd_backend_host_free(x->cu, h);
        ssd_free(back);
        return;
    }
    for (int64_t i = 0; i < n; i++) CHECK(h[i] == 0.0f); /* zeroed, as ssd_aligned_alloc */
    for (int64_t i = 0; i < n; i++) h[i] = (float)(i % 977) - 400.0f;
    ssd_tensor big, t, y;
    int64_t sb[4] = {8, 64, 64, 64}, st[1] = {n};
    ssd_tensor_init(&big, x->cu, SSD_F32, 4, sb);
    CHECK_OK(ssd_tensor_fill(&big, 1.0));
    memset(&y, 0, sizeof y);
    for (int rep = 0; rep < 3; rep++) {
        /* keep the compute stream busy, then upload into storage allocated behind it */
        ssd_act_params ap = {.kind = SSD_ACT_RELU};
        for (int k = 0; k < 20; k++) CHECK_OK(x->cu->ops->act_fwd(x->cu, &y, &big, &ap));
        ssd_tensor_init(&t, x->cu, SSD_F32, 1, st);
        CHECK_OK(ssd_tensor_upload(&t, h));
        CHECK_OK(x->cu->ops->act_fwd(x->cu, &t, &t, &ap)); /* queued after: sees the data */
        CHECK_OK(ssd_tensor_get(&t, back, SSD_F32));
        int bad = 0;
        for (int64_t i = 0; i < n; i++) bad += back[i] != (h[i] > 0 ? h[i] : 0.0f);
        if (bad) fprintf(stderr, "upload rep %d: %d wrong values\n", rep, bad);
        CHECK(bad == 0);
        ssd_tensor_deinit(&t);
    }
    ssd_tensor_deinit(&big);
    ssd_tensor_deinit(&y);
    ssd_backend_host_free(x->cu, h);
    ssd_free(back);
}

/* Bad calls fail with a message instead of handing a host pointer to a kernel. */
static void t_errors(ctx *x) {
    const ssd_backend_ops *C = x->cu->ops;
    int64_t s[4] = {1, 2, 3, 3};
    tp X, Y;
    tp_rand(x, &X, 4, s, 1, 0);
    tp_empty(x, &Y);
    ssd_act_params bad = {(ssd_act)99}, relu = {SSD_ACT_RELU};
    CHECK(C->act_fwd(x->cu, &Y.c, &X.r, &relu) == SSD_E_INVAL); /* a ref tensor */
    CHECK(C->act_fwd(x->cu, &Y.c, &X.c, &bad) == SSD_E_UNSUPPORTED);
    CHECK(!C->supports(x->cu, SSD_OP__COUNT, SSD_F32, NULL));
    CHECK(!C->supports(x->cu, SSD_OP_ACT, SSD_F32, &bad));
    CHECK(C->supports(x->cu, SSD_OP_ACT, SSD_F32, &relu));
    CHECK(!C->supports(x->cu, SSD_OP_CONV2D, SSD_F64, NULL));
    /* hardswish and hardsigmoid as the act op, not fused into a conv or BN */
    ssd_act_params hs = {SSD_ACT_HARDSWISH}, hsig = {SSD_ACT_HARDSIGMOID};
    CHECK(C->supports(x->cu, SSD_OP_ACT, SSD_F32, &hs));
    CHECK(C->supports(x->cu, SSD_OP_ACT, SSD_F32, &hsig));
    ssd_conv2d_params cp = {
        .stride = {1, 1}, .dilation = {1, 1}, .groups = 1, .act = SSD_ACT_HARDSWISH};
    ssd_bn_params bp = {.eps = 1e-5, .momentum = 0.1, .act = SSD_ACT_HARDSWISH};
    CHECK(!C->supports(x->cu, SSD_OP_CONV2D, SSD_F32, &cp));
    CHECK(!C->supports(x->cu, SSD_OP_BATCHNORM, SSD_F32, &bp));
    CHECK(ssd_backend_has(x->cu, SSD_OP_GAP, SSD_F32, NULL));
    CHECK(ssd_backend_has(x->cu, SSD_OP_SCALE, SSD_F32, NULL));
    CHECK(!C->supports(x->cu, SSD_OP_GAP, SSD_F64, NULL));
    /* hardswish backward reads x: no x is an error, not a read of NULL */
    CHECK(C->act_bwd(x->cu, &Y.c, &X.c, NULL, &X.c, &hs) == SSD_E_INVAL);
    ssd_tensor e;
    ssd_tensor_init(&e, x->cu, SSD_F32, 4, s); /* no storage */
    CHECK(C->act_fwd(x->cu, &Y.c, &e, &relu) == SSD_E_INVAL);
    ssd_pool_params pp = {.kernel = {2, 2}, .stride = {2, 2}};
    ssd_tensor ws;
    ssd_tensor_init(&ws, x->cu, SSD_I64, 0, NULL);
    CHECK(C->maxpool_bwd(x->cu, &Y.c, &X.c, &ws, &X.c, &pp) == SSD_E_INVAL);
    /* gap / scale: wrong shapes, aliasing the ops refuse, a ref tensor */
    int64_t ps[4] = {1, 2, 1, 1}, bad_ps[4] = {1, 3, 1, 1}, s3[3] = {2, 3, 3};
    tp P, BP, X3;
    tp_rand(x, &P, 4, ps, 1, 0);
    tp_rand(x, &BP, 4, bad_ps, 1, 0);
    tp_rand(x, &X3, 3, s3, 1, 0);
    CHECK(C->gap_fwd(x->cu, &Y.c, &X3.c) == SSD_E_INVAL);
    CHECK(C->gap_fwd(x->cu, &X.c, &X.c) == SSD_E_INVAL);
    CHECK(C->gap_fwd(x->cu, &Y.c, &X.r) == SSD_E_INVAL);
    CHECK(C->gap_bwd(x->cu, &Y.c, &BP.c, &X.c) == SSD_E_INVAL);
    CHECK(C->gap_bwd(x->cu, &P.c, &P.c, &X.c) == SSD_E_INVAL);
    CHECK(C->scale_fwd(x->cu, &Y.c, &X.c, &BP.c) == SSD_E_INVAL);
    CHECK(C->scale_fwd(x->cu, &P.c, &X.c, &P.c) == SSD_E_INVAL);
    CHECK(C->scale_fwd(x->cu, &Y.c, &X.c, &P.r) == SSD_E_INVAL);
    ssd_tensor dyc;
    ssd_tensor_init(&dyc, x->cu, SSD_F32, 4, s);
    CHECK_OK(ssd_tensor_fill(&dyc, 1));
    CHECK(C->scale_bwd(x->cu, &Y.c, NULL, &P.c, &X.c, &P.c) == SSD_E_INVAL); /* dy is (N,C,1,1) */
    CHECK(C->scale_bwd(x->cu, &X.c, NULL, &dyc, &X.c, &P.c) == SSD_E_INVAL); /* dx is x */
    CHECK(C->scale_bwd(x->cu, NULL, &dyc, &dyc, &X.c, &P.c) == SSD_E_INVAL); /* ds is dy */
    CHECK_OK(C->scale_bwd(x->cu, NULL, NULL, &dyc, &X.c, &P.c));             /* nothing wanted */
    ssd_tensor_deinit(&dyc);
    tp_free(&P);
    tp_free(&BP);
    tp_free(&X3);
    tp_free(&X);
    tp_free(&Y);
}

#ifdef SSD_HAVE_CUDA
/* A repeated forward+backward allocates nothing new: every block comes from the pool. */
static void t_pool_steady(ctx *x) {
    const conv_cfg *q = &convs[3];
    t_conv(x, q, FWD_ATOL, FWD_RTOL, BWD_ATOL, BWD_RTOL);
    long before = ssd_cuda_malloc_count(x->cu);
    for (int i = 0; i < 3; i++) t_conv(x, q, FWD_ATOL, FWD_RTOL, BWD_ATOL, BWD_RTOL);
    long after = ssd_cuda_malloc_count(x->cu);
    if (after != before) fprintf(stderr, "cudaMalloc calls: %ld -> %ld\n", before, after);
    CHECK(after == before);
}
#endif

int main(void) {
    int dev = ssd_backend_cuda_devices();
    if (dev < 1) {
        char why[256];
        return test_skip(ssd_backend_cuda_describe(why, sizeof why));
    }
    ctx x = {.rng = 0x9e3779b97f4a7c15ull};
    REQUIRE_OK(ssd_backend_create(&x.ref, "ref"));
    REQUIRE_OK(ssd_backend_create(&x.cu, "cuda"));
    for (size_t i = 0; i < sizeof convs / sizeof *convs; i++)
        t_conv(&x, &convs[i], FWD_ATOL, FWD_RTOL, BWD_ATOL, BWD_RTOL);
    for (int tr = 0; tr < 2; tr++)
        for (int a = SSD_ACT_NONE; a <= SSD_ACT_RELU6; a++) t_bn(&x, tr, (ssd_act)a);
    for (int integer = 0; integer < 2; integer++) {
        x.integer = integer;
        for (int a = SSD_ACT_NONE; a <= SSD_ACT_HARDSIGMOID; a++) {
            t_act(&x, (ssd_act)a, 2, 5, 7, 9);
            t_act(&x, (ssd_act)a, 3, 17, 19, 23); /* several blocks, a partial last one */
        }
        t_pool(&x, 2, 2, 0, false, 10);
        t_pool(&x, 2, 2, 0, true, 19); /* vgg's ceil-mode pool */
        t_pool(&x, 3, 1, 1, false, 10);
        t_add_concat_permute(&x);
    }
    x.integer = false;
    t_act_kinks(&x);
    t_chan(&x, 2, 5, 7, 9);    /* planes of 63: two partial warp passes */
    t_chan(&x, 3, 17, 13, 11); /* N = 3, odd sizes throughout */
    t_chan(&x, 2, 960, 7, 7);  /* mb3-large's last SE: many channels */
    t_chan(&x, 2, 40, 38, 38); /* mb3-large's first SE: planes of 1444 */
    t_chan(&x, 1, 3, 1, 1);    /* a 1x1 map */
    t_softmax(&x, false, -1);
    t_softmax(&x, true, -1);
    t_softmax(&x, false, 1);
    t_l2norm(&x);
    t_sgd(&x);
    t_loss(&x, 3, 500, 5);
    t_loss(&x, 6, 3000, 21); /* mb1-ssd's priors, VOC's classes */
    t_loss(&x, 2, 8732, 2);  /* vgg16-ssd's priors, one class */
    t_upload(&x);
    t_errors(&x);
#ifdef SSD_HAVE_CUDA
    t_pool_steady(&x);
#endif
    /* TF32: the same convolutions, within TF32's tolerance. */
    CHECK_OK(ssd_backend_set_precision(x.cu, SSD_PREC_TF32));
    for (size_t i = 0; i < sizeof convs / sizeof *convs; i++)
        t_conv(&x, &convs[i], TF32_ATOL, TF32_RTOL, TF32_ATOL * 10, TF32_RTOL);
    /* 16-bit convs (--precision bf16 / fp16): bfloat16 keeps 8 significant bits, so a
     * product is off by ~0.4% and y, stored by cuDNN in 16 bits, by another 0.2%; weight
     * gradients (sums of ~3000 products reaching ~20) by ~0.1 absolute. fp16 keeps 11 bits
     * and computes the weight gradient on TF32: TF32's tolerances. */
    CHECK_OK(ssd_backend_set_precision(x.cu, SSD_PREC_BF16));
    for (size_t i = 0; i < sizeof convs / sizeof *convs; i++)
        t_conv(&x, &convs[i], BF16_ATOL, BF16_RTOL, BF16_ATOL * 25, BF16_RTOL);
    CHECK_OK(ssd_backend_set_precision(x.cu, SSD_PREC_FP16));
    for (size_t i = 0; i < sizeof convs / sizeof *convs; i++)
        t_conv(&x, &convs[i], TF32_ATOL, TF32_RTOL, TF32_ATOL * 10, TF32_RTOL);
    CHECK_OK(ssd_backend_set_precision(x.cu, SSD_PREC_FP32));
    CHECK(ssd_backend_has(x.cu, SSD_OP_CONV2D, SSD_BF16, NULL));
    CHECK_OK(ssd_backend_infer_precision(x.cu, SSD_PREC_BF16));
    for (size_t i = 0; i < sizeof convs / sizeof *convs; i++) {
        t_conv_bf16_infer(&x, &convs[i], SSD_CONV_BF16_Y);
        t_conv_bf16_infer(&x, &convs[i], SSD_CONV_BF16);
    }
    ssd_backend_destroy(x.cu);
    ssd_backend_destroy(x.ref);
    return test_finish();
}
