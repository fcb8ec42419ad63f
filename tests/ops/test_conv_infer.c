/* The cpu backend's inference conv (conv2d_infer: Winograd for the 3x3
 * stride-1 convs with many channels, oneDNN's or on AVX2 our own, the
 * training kernels otherwise) against
 * the reference backend's conv2d_fwd, on the SSD head, extra and backbone
 * geometries, plain and blocked inputs, each fused activation; weights
 * changed in place (version bump) and two layers of one geometry with
 * different weights; then its errors. Then bfloat16 (ssd_conv_prec): the
 * reference backend's emulation against float32, and the cpu backend's
 * native kernels against that emulation where the CPU has them (else their
 * refusal). Our AVX2 depthwise kernel against the reference too. */
#include "test.h"

#include "backend/cpu/cpu.h"
#include "core/mem.h"
#include "tensor/convert.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Winograd F(4x4, 3x3) transforms in float32 lose a few more bits than the
 * direct sum; with K = 9 * 1024 terms of size <= 1 / sqrt(K) it stays below
 * 2e-5 here (measured 3e-6). */
#define ATOL 5e-5
#define RTOL 1e-4

static uint64_t rng = 88172645463325252ull;

static float rnd(float scale) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return ((float)(rng >> 40) / (float)(1 << 24) * 2.0f - 1.0f) * scale;
}

typedef struct {
    int n, c, o, h, k, s, groups;
} geo;

static ssd_status put(ssd_tensor *t, ssd_backend *be, int nd, const int64_t *shape,
                      const float *v) {
    ssd_tensor_init(t, be, SSD_F32, nd, shape);
    SSD_TRY(ssd_tensor_alloc(t));
    return ssd_tensor_set(t, v, SSD_F32);
}

static float *randv(int64_t n, float scale) {
    float *v = ssd_malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; v && i < n; i++) v[i] = rnd(scale);
    return v;
}

/* The reference result: ref's conv2d_fwd, then its act_fwd for a fused
 * activation the ref conv does not take (hard-swish). */
static void ref_conv(ssd_backend *ref, ssd_tensor *y, const ssd_tensor *x, const ssd_tensor *w,
                     const ssd_tensor *b, const ssd_conv2d_params *p) {
    ssd_conv2d_params q = *p;
    if (p->act <= SSD_ACT_RELU6) {
        CHECK_OK(ref->ops->conv2d_fwd(ref, y, x, w, b, &q));
        return;
    }
    q.act = SSD_ACT_NONE;
    ssd_tensor t;
    ssd_tensor_init(&t, ref, SSD_F32, 0, NULL);
    CHECK_OK(ref->ops->conv2d_fwd(ref, &t, x, w, b, &q));
    ssd_act_params ap = {p->act};
    CHECK_OK(ref->ops->act_fwd(ref, y, &t, &ap));
    ssd_tensor_deinit(&t);
}

/* One geometry's random operands, on ref ([0]) and cpu ([1]); x blocked on
 * the cpu when blk (8, 16). */
typedef struct {
    int64_t nw, ny;
    float *w, *want, *got;
    ssd_tensor X[2], W[2], B[2], Y[2];
    ssd_conv2d_params p;
} conv_case;

static void case_init(conv_case *k, ssd_backend *ref, ssd_backend *cpu, const geo *g, ssd_act act,
                      int blk) {
    int64_t xs[4] = {g->n, g->c, g->h, g->h}, ws[4] = {g->o, g->c / g->groups, g->k, g->k},
            bs[1] = {g->o};
    int64_t nx = xs[0] * xs[1] * xs[2] * xs[3];
    k->nw = ws[0] * ws[1] * ws[2] * ws[3];
    float *x = randv(nx, 1.0f), *b = randv(g->o, 0.5f);
    k->w = randv(k->nw, 1.0f / sqrtf((float)(k->nw / g->o)));
    k->p = (ssd_conv2d_params){.stride = {g->s, g->s},
                               .pad = {g->k / 2, g->k / 2},
                               .dilation = {1, 1},
                               .groups = g->groups,
                               .act = act};
    ssd_backend *bes[2] = {ref, cpu};
    for (int i = 0; i < 2; i++) {
        CHECK_OK(put(&k->X[i], bes[i], 4, xs, x));
        CHECK_OK(put(&k->W[i], bes[i], 4, ws, k->w));
        CHECK_OK(put(&k->B[i], bes[i], 1, bs, b));
        ssd_tensor_init(&k->Y[i], bes[i], SSD_F32, 0, NULL);
    }
    if (blk) CHECK_OK(ssd_backend_cpu_block(cpu, &k->X[1], blk));
    int64_t oh = ssd_conv_out_size(g->h, g->k, g->s, g->k / 2, 1);
    k->ny = (int64_t)g->n * g->o * oh * oh;
    k->want = ssd_malloc((size_t)k->ny * sizeof *k->want);
    k->got = ssd_malloc((size_t)k->ny * sizeof *k->got);
    ssd_free(x);
    ssd_free(b);
}

static void case_free(conv_case *k) {
    for (int i = 0; i < 2; i++) {
        ssd_tensor_deinit(&k->X[i]);
        ssd_tensor_deinit(&k->W[i]);
        ssd_tensor_deinit(&k->B[i]);
        ssd_tensor_deinit(&k->Y[i]);
    }
    ssd_free(k->w);
    ssd_free(k->want);
    ssd_free(k->got);
}

/* ref conv2d_fwd vs cpu conv2d_infer; blk: re-store x blocked (0, 8, 16). */
static void check(ssd_backend *ref, ssd_backend *cpu, const geo *g, ssd_act act, int blk) {
    char what[160];
    snprintf(what, sizeof what, "n%d c%d o%d h%d k%d s%d g%d act %d blk %d", g->n, g->c, g->o, g->h,
             g->k, g->s, g->groups, (int)act, blk);
    conv_case k;
    case_init(&k, ref, cpu, g, act, blk);
    ref_conv(ref, &k.Y[0], &k.X[0], &k.W[0], &k.B[0], &k.p);
    CHECK_OK(cpu->ops->conv2d_infer(cpu, &k.Y[1], &k.X[1], &k.W[1], &k.B[1], &k.p));
    CHECK_OK(ssd_tensor_get(&k.Y[0], k.want, SSD_F32));
    CHECK(test_close_tensor(what, &k.Y[1], k.want, ATOL, RTOL));

    /* new weights in the same tensor: the prepared copy must follow */
    for (int64_t i = 0; i < k.nw; i++) k.w[i] = -k.w[i];
    CHECK_OK(ssd_tensor_set(&k.W[0], k.w, SSD_F32));
    CHECK_OK(ssd_tensor_set(&k.W[1], k.w, SSD_F32));
    ref_conv(ref, &k.Y[0], &k.X[0], &k.W[0], &k.B[0], &k.p);
    CHECK_OK(cpu->ops->conv2d_infer(cpu, &k.Y[1], &k.X[1], &k.W[1], &k.B[1], &k.p));
    CHECK_OK(ssd_tensor_get(&k.Y[0], k.want, SSD_F32));
    strncat(what, " (new weights)", sizeof what - strlen(what) - 1);
    CHECK(test_close_tensor(what, &k.Y[1], k.want, ATOL, RTOL));
    case_free(&k);
}

/* Two layers of one geometry with their own weights, interleaved: each must
 * use its own prepared (Winograd-transformed) weights. */
static void two_layers(ssd_backend *cpu) {
    int64_t xs[4] = {1, 64, 8, 8}, ws[4] = {64, 64, 3, 3};
    int64_t nx = 64 * 64, nw = 64 * 64 * 9;
    float *x = randv(nx, 1.0f), *w1 = randv(nw, 0.05f), *w2 = randv(nw, 0.05f);
    ssd_conv2d_params p = {.stride = {1, 1}, .pad = {1, 1}, .dilation = {1, 1}, .groups = 1};
    ssd_tensor X, W1, W2, Y1, Y2, Z1, Z2;
    CHECK_OK(put(&X, cpu, 4, xs, x));
    CHECK_OK(put(&W1, cpu, 4, ws, w1));
    CHECK_OK(put(&W2, cpu, 4, ws, w2));
    ssd_tensor_init(&Y1, cpu, SSD_F32, 0, NULL);
    ssd_tensor_init(&Y2, cpu, SSD_F32, 0, NULL);
    ssd_tensor_init(&Z1, cpu, SSD_F32, 0, NULL);
    ssd_tensor_init(&Z2, cpu, SSD_F32, 0, NULL);
    CHECK_OK(cpu->ops->conv2d_fwd(cpu, &Z1, &X, &W1, NULL, &p));
    CHECK_OK(cpu->ops->conv2d_fwd(cpu, &Z2, &X, &W2, NULL, &p));
    for (int r = 0; r < 2; r++) {
        CHECK_OK(cpu->ops->conv2d_infer(cpu, &Y1, &X, &W1, NULL, &p));
        CHECK_OK(cpu->ops->conv2d_infer(cpu, &Y2, &X, &W2, NULL, &p));
        float *a = ssd_malloc((size_t)nx * sizeof *a), *b = ssd_malloc((size_t)nx * sizeof *b);
        CHECK_OK(ssd_tensor_get(&Z1, a, SSD_F32));
        CHECK_OK(ssd_tensor_get(&Z2, b, SSD_F32));
        CHECK(test_close_tensor("layer 1 infer vs fwd", &Y1, a, ATOL, RTOL));
        CHECK(test_close_tensor("layer 2 infer vs fwd", &Y2, b, ATOL, RTOL));
        ssd_free(a);
        ssd_free(b);
    }
    ssd_tensor_deinit(&X);
    ssd_tensor_deinit(&W1);
    ssd_tensor_deinit(&W2);
    ssd_tensor_deinit(&Y1);
    ssd_tensor_deinit(&Y2);
    ssd_tensor_deinit(&Z1);
    ssd_tensor_deinit(&Z2);
    ssd_free(x);
    ssd_free(w1);
    ssd_free(w2);
}

/* Whether our AVX2 kernels can run here; says so when not. */
static bool own_kernels_run(const char *what) {
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return true;
    printf("%s: no AVX2 and FMA on this CPU, not tested here\n", what);
    return false;
}

/* Our Winograd (cpu_wino.c) at one vector width (isa: "avx2", or NULL for
 * the best the CPU has), made to run wherever the CPU can: both tile sizes,
 * edge tiles, channel counts off the blocks of 8 and 16, several chunks,
 * batch 2, each activation it fuses, plain and blocked inputs. */
static void own_winograd_isa(ssd_backend *ref, ssd_backend *cpu, const char *isa) {
    ssd_backend_cpu_force_isa(isa);
    ssd_backend_cpu_set_wino(cpu, 1); /* also drops entries planned for another width */
    static const geo gs[] = {
        {1, 512, 126, 19, 3, 1, 1},  /* class head: 4x4 tiles */
        {2, 1024, 126, 10, 3, 1, 1}, /* 2x2 tiles (fewer weight bytes) */
        {1, 70, 70, 11, 3, 1, 1},    /* 70 channels: padded to 72 or 80, a last narrow block */
        {2, 96, 40, 13, 3, 1, 1},    {1, 64, 64, 64, 3, 1, 1}, /* several chunks */
        {1, 256, 150, 3, 3, 1, 1},   {1, 256, 24, 2, 3, 1, 1}, /* maps smaller than a tile */
    };
    int sizes[2] = {0, 0}, vw = 0;
    for (size_t i = 0; i < sizeof gs / sizeof gs[0]; i++) {
        cpu_wino w = {.n = gs[i].n,
                      .c = gs[i].c,
                      .h = gs[i].h,
                      .w = gs[i].h,
                      .o = gs[i].o,
                      .oh = gs[i].h,
                      .ow = gs[i].h,
                      .pad = 1};
        CHECK(cpu_wino_plan(&w, true));
        sizes[w.m == 4]++;
        vw = w.vw;
        if (i == 4) CHECK(w.tiles > w.chunk);
        long before = cpu_of(cpu)->n_wino_runs;
        check(ref, cpu, &gs[i], (ssd_act)(i % 3), (int)(i % 3) * 8); /* plain, 8, 16 */
        CHECK(cpu_of(cpu)->n_wino_runs == before + 2);
    }
    CHECK(sizes[0] > 0 && sizes[1] > 0);
    CHECK(vw == (isa || cpu_isa() < 3 ? 8 : 16));
    /* transformed weights past 256 MB: oneDNN's direct kernel, even when forced */
    cpu_wino big = {.n = 1, .c = 4096, .h = 19, .w = 19, .o = 4096, .oh = 19, .ow = 19, .pad = 1};
    CHECK(!cpu_wino_plan(&big, true));
    two_layers(cpu);
    ssd_backend_cpu_set_wino(cpu, 0);
    ssd_backend_cpu_force_isa(NULL);
    printf("own winograd, %d lanes: %d geometries on 2x2 tiles, %d on 4x4\n", vw, sizes[0],
           sizes[1]);
}

/* Both widths where the CPU has AVX-512 (and oneDNN is not capped below it,
 * DNNL_MAX_CPU_ISA); and unforced, our AVX-512 Winograd takes the batch-1
 * SSD heads from oneDNN but not a VGG layer. */
static void own_winograd(ssd_backend *ref, ssd_backend *cpu) {
    if (!own_kernels_run("own winograd")) return;
    own_winograd_isa(ref, cpu, NULL);
    if (cpu_isa() < 3) { /* no AVX-512, or oneDNN capped below it */
        printf("own winograd: no AVX-512 here, its 16-lane kernels not tested\n");
        return;
    }
    own_winograd_isa(ref, cpu, "avx2");
    long before = cpu_of(cpu)->n_wino_runs;
    check(ref, cpu, &(geo){1, 512, 150, 19, 3, 1, 1}, SSD_ACT_NONE, 16);
    CHECK(cpu_of(cpu)->n_wino_runs == before + 2);
    check(ref, cpu, &(geo){1, 256, 256, 38, 3, 1, 1}, SSD_ACT_RELU, 16);
    CHECK(cpu_of(cpu)->n_wino_runs == before + 2);
}

/* Our AVX2 depthwise kernel (cpu_dw.c), made to run wherever the CPU can:
 * maps narrower than its four-column step and wider, one and two columns,
 * batch 2, each activation it fuses, plain and blocked inputs; channels off
 * the block of 8 and stride 2 stay on oneDNN. */
static void own_depthwise(ssd_backend *ref, ssd_backend *cpu) {
    if (!own_kernels_run("own depthwise")) return;
    ssd_backend_cpu_set_wino(cpu, 1);
    static const geo gs[] = {
        {1, 32, 32, 19, 3, 1, 32}, {2, 16, 16, 1, 3, 1, 16}, {1, 8, 8, 2, 3, 1, 8},
        {1, 24, 24, 5, 3, 1, 24},  {2, 64, 64, 6, 3, 1, 64}, {1, 40, 40, 9, 3, 1, 40},
        {1, 8, 8, 38, 3, 1, 8},
    };
    for (size_t i = 0; i < sizeof gs / sizeof gs[0]; i++) {
        long before = cpu_of(cpu)->n_dw_runs;
        check(ref, cpu, &gs[i], (ssd_act)(i % 3), (int)(i % 3) * 8); /* plain, 8, 16 */
        CHECK(cpu_of(cpu)->n_dw_runs == before + 2);
    }
    static const geo not_ours[] = {{1, 12, 12, 7, 3, 1, 12}, {1, 32, 32, 19, 3, 2, 32}};
    for (size_t i = 0; i < sizeof not_ours / sizeof not_ours[0]; i++) {
        long before = cpu_of(cpu)->n_dw_runs;
        check(ref, cpu, &not_ours[i], SSD_ACT_RELU, 0);
        CHECK(cpu_of(cpu)->n_dw_runs == before);
    }
    /* unforced: ours where the ISA in use is AVX2, not under a cap below it */
    static const char *isas[] = {"avx2", "base"};
    for (int i = 0; i < 2; i++) {
        ssd_backend_cpu_force_isa(isas[i]);
        ssd_backend_cpu_set_wino(cpu, 0); /* drops the entries planned before */
        long before = cpu_of(cpu)->n_dw_runs;
        check(ref, cpu, &gs[0], SSD_ACT_RELU, 8);
        CHECK(cpu_of(cpu)->n_dw_runs == before + (i == 0 ? 2 : 0));
    }
    ssd_backend_cpu_force_isa(NULL);
    ssd_backend_cpu_set_wino(cpu, 0);
    printf("own depthwise: %zu geometries\n", sizeof gs / sizeof gs[0]);
}

/* ---- bfloat16 ---- */

/* Whether every value is a bfloat16 (low 16 bits zero). */
static bool all_bf16(const float *v, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (ssd_bf16_to_float(ssd_float_to_bf16(v[i])) != v[i]) return false;
    return true;
}

/* ref's emulation vs its float32 conv (rounding visible, and small), and
 * the cpu's native bfloat16 conv vs the emulation: the same rounded
 * operands, so only the float32 summation order differs (and, for BF16_Y,
 * a last rounding that order can move by one bfloat16 step). */
static void check_bf16(ssd_backend *ref, ssd_backend *cpu, const geo *g, ssd_act act, int blk,
                       ssd_conv_prec prec) {
    char what[160];
    snprintf(what, sizeof what, "bf16%s n%d c%d o%d h%d k%d s%d g%d act %d blk %d",
             prec == SSD_CONV_BF16_Y ? "_y" : "", g->n, g->c, g->o, g->h, g->k, g->s, g->groups,
             (int)act, blk);
    conv_case k;
    case_init(&k, ref, cpu, g, act, blk);
    ssd_conv2d_params p = k.p, p32 = k.p;
    p.prec = prec;
    ssd_tensor Y32;
    ssd_tensor_init(&Y32, ref, SSD_F32, 0, NULL);
    CHECK_OK(ref->ops->conv2d_infer(ref, &k.Y[0], &k.X[0], &k.W[0], &k.B[0], &p));
    CHECK_OK(ref->ops->conv2d_infer(ref, &Y32, &k.X[0], &k.W[0], &k.B[0], &p32));
    int64_t ny = k.ny;
    float *want = k.want, *got = k.got;
    CHECK_OK(ssd_tensor_get(&k.Y[0], want, SSD_F32));
    /* operands with 8 significant bits: about 2^-9 relative each, averaging over the sum */
    CHECK(test_close_tensor(what, &Y32, want, 2e-2, 2e-2));
    CHECK_OK(ssd_tensor_get(&Y32, got, SSD_F32));
    double dmax = 0;
    for (int64_t i = 0; i < ny; i++) dmax = fmax(dmax, fabs((double)got[i] - want[i]));
    CHECK(dmax > 1e-5); /* the rounding happened */
    CHECK(prec != SSD_CONV_BF16_Y || all_bf16(want, ny));
    /* the cpu runs 3x3 convs on maps of 38x38 and more in float32 Winograd, its faster path
     * without AMX */
    bool f32 = g->groups == 1 && g->k == 3 && g->s == 1 && g->c >= 64 && g->o >= 64 && g->h >= 38 &&
               !cpu_bf16_amx();
    ssd_tensor *X = &k.X[1], *W = &k.W[1], *B = &k.B[1], *Y = &k.Y[1];
    if (ssd_backend_has(cpu, SSD_OP_CONV2D, SSD_BF16, &p) && f32) {
        CHECK_OK(cpu->ops->conv2d_infer(cpu, Y, X, W, B, &p));
        strncat(what, " (float32 Winograd)", sizeof what - strlen(what) - 1);
        CHECK(test_close_tensor(what, Y, got, ATOL, RTOL));
    } else if (ssd_backend_has(cpu, SSD_OP_CONV2D, SSD_BF16, &p)) {
        CHECK_OK(cpu->ops->conv2d_infer(cpu, Y, X, W, B, &p));
        CHECK(test_close_tensor(what, Y, want, ATOL, prec == SSD_CONV_BF16_Y ? 1.0 / 128 : RTOL));
        CHECK_OK(ssd_tensor_get(Y, got, SSD_F32));
        CHECK(prec != SSD_CONV_BF16_Y || all_bf16(got, ny));
    } else {
        CHECK(cpu->ops->conv2d_infer(cpu, Y, X, W, B, &p) == SSD_E_UNSUPPORTED);
        CHECK(strstr(ssd_error_message(), "AVX512_BF16") != NULL);
    }
    CHECK(cpu->ops->conv2d_fwd(cpu, Y, X, W, B, &p) != SSD_OK); /* training */
    ssd_tensor_deinit(&Y32);
    case_free(&k);
}

static void errors(ssd_backend *cpu) {
    int64_t xs[4] = {1, 64, 8, 8}, ws[4] = {64, 32, 3, 3}, bs[1] = {63};
    ssd_tensor X, W, B, Y;
    float *x = randv(64 * 64, 1.0f), *w = randv(64 * 32 * 9, 0.1f);
    CHECK_OK(put(&X, cpu, 4, xs, x));
    CHECK_OK(put(&W, cpu, 4, ws, w));
    CHECK_OK(put(&B, cpu, 1, bs, w));
    ssd_tensor_init(&Y, cpu, SSD_F32, 0, NULL);
    ssd_conv2d_params p = {.stride = {1, 1}, .pad = {1, 1}, .dilation = {1, 1}, .groups = 1};
    CHECK(cpu->ops->conv2d_infer(cpu, &Y, &X, &W, NULL, &p) == SSD_E_INVAL); /* 32 != 64 */
    p.groups = 2;
    CHECK(cpu->ops->conv2d_infer(cpu, &Y, &X, &W, &B, &p) == SSD_E_INVAL);   /* bias 63 */
    CHECK(cpu->ops->conv2d_infer(cpu, &X, &X, &W, NULL, &p) == SSD_E_INVAL); /* y == x */
    CHECK_OK(cpu->ops->conv2d_infer(cpu, &Y, &X, &W, NULL, &p));
    ssd_tensor_deinit(&X);
    ssd_tensor_deinit(&W);
    ssd_tensor_deinit(&B);
    ssd_tensor_deinit(&Y);
    ssd_free(x);
    ssd_free(w);
}

int main(void) {
    ssd_backend *ref = NULL, *cpu = NULL;
    REQUIRE_OK(ssd_backend_create(&ref, "ref"));
    if (ssd_backend_create(&cpu, "cpu") != SSD_OK) {
        ssd_backend_destroy(ref);
        return test_skip("no cpu backend in this build");
    }
    CHECK(cpu->ops->conv2d_infer != NULL);
    CHECK(ref->ops->conv2d_infer != NULL); /* conv2d_fwd, or the bfloat16 emulation */
    static const geo gs[] = {
        {1, 512, 126, 19, 3, 1, 1},                              /* class head, Winograd 4x3 */
        {1, 512, 24, 19, 3, 1, 1},                               /* box head: direct */
        {2, 1024, 126, 10, 3, 1, 1},                             /* Winograd 2x3, batch 2 */
        {1, 256, 126, 3, 3, 1, 1},   {1, 256, 126, 2, 3, 1, 1},  /* too small: direct */
        {2, 64, 64, 7, 3, 1, 1},     {1, 256, 512, 10, 3, 2, 1}, /* strided */
        {1, 128, 128, 19, 1, 1, 1},  {1, 64, 64, 19, 3, 1, 64},  /* 1x1, depthwise */
    };
    for (size_t i = 0; i < sizeof gs / sizeof gs[0]; i++)
        check(ref, cpu, &gs[i], (ssd_act)(i % 4), (int)(i % 2) * 16); /* none..hard-swish */
    check(ref, cpu, &gs[0], SSD_ACT_RELU6, 8);
    two_layers(cpu);
    errors(cpu);
    own_winograd(ref, cpu);
    own_depthwise(ref, cpu);

    CHECK(ssd_backend_has(ref, SSD_OP_CONV2D, SSD_BF16, NULL));
    bool native = ssd_backend_has(cpu, SSD_OP_CONV2D, SSD_BF16, NULL);
    printf("cpu bfloat16 convs: %s\n", native ? "native" : "not on this CPU (refusal checked)");
    static const geo bg[] = {
        {1, 512, 126, 19, 3, 1, 1}, /* head */
        {1, 3, 32, 30, 3, 2, 1},    /* first conv: 3 channels */
        {2, 128, 256, 19, 1, 1, 1}, /* 1x1, batch 2 */
        {1, 64, 64, 19, 3, 1, 64},  /* depthwise */
        {1, 256, 512, 10, 3, 2, 1}, /* strided */
        {1, 256, 126, 2, 3, 1, 1},  /* tiny map */
        {1, 64, 64, 38, 3, 1, 1},   /* large map: float32 Winograd, unless AMX */
    };
    for (size_t i = 0; i < sizeof bg / sizeof bg[0]; i++)
        for (int y = 0; y < 2; y++)
            check_bf16(ref, cpu, &bg[i], (ssd_act)((i + (size_t)y) % 3), (int)(i % 2) * 16,
                       y ? SSD_CONV_BF16_Y : SSD_CONV_BF16);
    ssd_backend_destroy(cpu);
    ssd_backend_destroy(ref);
    return test_finish();
}
