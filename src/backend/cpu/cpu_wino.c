/* Winograd F(2x2, 3x3) and F(4x4, 3x3) for float32 inference convs (3x3,
 * stride 1, padding 1, groups 1), on AVX2 with nChw8c activations and on
 * AVX-512 with nChw16c (the kernels: cpu_wino_kern.h, once per width).
 *
 * Why our own: oneDNN 2.6 has Winograd only for AVX-512. On AVX2 it runs the
 * SSD class heads (512 or 1024 channels in, 6 * (classes + 4) out) on its
 * direct kernel at 50-58 GMAC/s on two Zen 3 cores: 4.3 and 2.8 ms of
 * mb1-ssd's 26 ms. On AVX-512 its Winograd runs the 19x19, 10x10 and 5x5
 * heads of mb1-ssd in 0.92-1.08, 0.70-0.85 and 0.26-0.33 ms at batch 1 on two
 * Sapphire Rapids cores, ours in 0.87-0.99, 0.59-0.66 and 0.19-0.21.
 *
 * Per chunk of tiles (alpha x alpha inputs, m x m outputs, alpha = m + 2):
 * the input transform writes V[e][tile][c] for the alpha^2 transform points
 * e; alpha^2 GEMMs M[e] = V[e] U[e] with U[e][c][o] the transformed weights
 * (made once per weight version, in the weight-copy table); the output
 * transform reads M[e][tile][o] and adds bias and activation.
 *
 * The tile size trades multiply-adds against weight bytes: F(4x4) does
 * 2.25x fewer multiply-adds than F(2x2) but its U is 36/16 as large, and U
 * streams from memory on every call (mb1-ssd's 10x10 head: 22 MB of U in
 * F(4x4), 1 ms at 22 GB/s on Zen 3). cpu_wino_plan takes the cheaper of the
 * two by a cost model measured on both machines, and oneDNN when neither is
 * clearly cheaper (on AVX2 the 5x5 and smaller maps, on AVX-512 the 3x3 and
 * smaller). */
#include "backend/cpu/cpu.h"

#include "core/mem.h"

#include <immintrin.h>
#include <omp.h>
#include <string.h>
#include <unistd.h>

#define CHUNK_BYTES ((size_t)4 << 20)

/* The cost model, per vector width. AVX2 (two Zen 3 cores): memory streams
 * at about 20 GB/s, our GEMM makes about 70 GMAC/s, oneDNN's direct AVX2 conv
 * about 50. AVX-512 (two Sapphire Rapids cores): U streams at about 50 GB/s
 * (L3 and memory), our GEMM makes about 175 GMAC/s; oneDNN's best (its own
 * Winograd on the big maps) is put at 100 GMAC/s direct-equivalent, which
 * hands it the maps of 3x3 and smaller, where the two measure the same. */
typedef struct {
    double bytes_per_s, wino_macs_per_s, direct_macs_per_s;
} cost_rates;
static const cost_rates RATES_AVX2 = {20e9, 70e9, 50e9}, RATES_AVX512 = {50e9, 175e9, 100e9};

static void derive(cpu_wino *g, int m) {
    g->m = m;
    g->alpha = m + 2;
    g->ne = g->alpha * g->alpha;
    g->cp = (g->c + g->vw - 1) / g->vw * g->vw;
    g->op = (g->o + g->vw - 1) / g->vw * g->vw;
    /* V's rows one cache line longer than cp: at cp = 512 or 1024 the six
     * rows the micro-kernel reads would fall into one L1 set */
    g->vs = g->cp + 16;
    g->th = (g->oh + m - 1) / m;
    g->tw = (g->ow + m - 1) / m;
    g->tiles = (int64_t)g->n * g->th * g->tw;
    /* V and M of a chunk stay in cache; past CHUNK_BYTES, a chunk may grow
     * to U's size, since U is streamed again for every chunk. */
    size_t budget = cpu_wino_weight_bytes(g);
    if (budget < CHUNK_BYTES) budget = CHUNK_BYTES;
    int64_t per_tile = (int64_t)g->ne * (g->vs + g->op) * (int64_t)sizeof(float);
    int mr = CPU_WINO_ROWS(g->vw);
    int64_t tb = (int64_t)budget / per_tile / mr * mr;
    if (tb < mr) tb = mr;
    if (tb > g->tiles) tb = g->tiles;
    g->chunk = (int)tb;
}

static double wino_cost(const cpu_wino *g, const cost_rates *r) {
    double macs = (double)g->ne * (double)g->tiles * g->cp * g->op;
    return (double)cpu_wino_weight_bytes(g) / r->bytes_per_s + macs / r->wino_macs_per_s;
}

bool cpu_wino_plan(cpu_wino *g, bool force) {
    int isa = cpu_isa();
    if (isa < 2) return false;
    g->vw = isa == 3 ? 16 : 8;
    cpu_wino g4 = *g;
    derive(&g4, 4);
    derive(g, 2);
    const cost_rates *r = g->vw == 16 ? &RATES_AVX512 : &RATES_AVX2;
    double c4 = wino_cost(&g4, r), c2 = wino_cost(g, r);
    if (c4 < c2) *g = g4;
    /* the transformed weights are 1.8-4x the plain ones: past a size no SSD
     * net comes near, stay on oneDNN's direct kernel rather than fail for memory */
    if (cpu_wino_weight_bytes(g) > ((size_t)256 << 20)) return false;
    if (g->pad != 1 || g->oh < 1 || g->ow < 1 || g->act > SSD_ACT_RELU6) return false;
    /* AVX-512: oneDNN has a Winograd of its own. Ours beats it in the network
     * only where U streaming dominates, maps of at most 5 x 5 tiles (the SSD
     * heads of 19x19 and smaller): -0.2 to -0.6 ms of mb1-ssd's 10.4-11.4 at
     * batch 1, even at batch 8. On bigger maps (vgg16-ssd's 38x38 to 300x300)
     * the two were even in the network and oneDNN 1.5-2x faster alone at
     * batch 8; few input channels waste our channel blocks. */
    if (g->vw == 16 && !force && (g->c < 64 || g->th * g->tw > 25)) return false;
    double direct = (double)g->n * g->oh * g->ow * g->c * g->o * 9 / r->direct_macs_per_s +
                    (double)g->c * g->o * 9 * sizeof(float) / r->bytes_per_s;
    return force || (c4 < c2 ? c4 : c2) < 0.8 * direct;
}

size_t cpu_wino_weight_bytes(const cpu_wino *g) {
    return (size_t)g->ne * (size_t)g->cp * (size_t)g->op * sizeof(float);
}

/* ---- weights: U[e] in blocks of two vectors of outputs (the last may be
 * one wide), each block (cp, width) row-major, so the micro-kernel streams
 * it ---- */

static int64_t u_block(const cpu_wino *g, int ub, int64_t *width) {
    *width = g->op - 2 * g->vw * ub < 2 * g->vw ? g->vw : 2 * g->vw;
    return (int64_t)g->cp * 2 * g->vw * ub;
}

static const double G2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
static const double G4[6][3] = {
    {1.0 / 4, 0, 0},
    {-1.0 / 6, -1.0 / 6, -1.0 / 6},
    {-1.0 / 6, 1.0 / 6, -1.0 / 6},
    {1.0 / 24, 1.0 / 12, 1.0 / 6},
    {1.0 / 24, -1.0 / 12, 1.0 / 6},
    {0, 0, 1},
};

/* U = G w G^T for every (o, c), from plain OIHW weights; padding zero. */
void cpu_wino_weights(const cpu_wino *g, const float *w, float *u) {
    int64_t per_e = (int64_t)g->cp * g->op;
    const double(*G)[3] = g->m == 4 ? G4 : G2;
    int a = g->alpha;
    memset(u, 0, cpu_wino_weight_bytes(g));
#pragma omp parallel for schedule(static)
    for (int o = 0; o < g->o; o++) {
        int64_t width, base = u_block(g, o / (2 * g->vw), &width);
        for (int c = 0; c < g->c; c++) {
            const float *k = w + ((int64_t)o * g->c + c) * 9;
            double t[6][3]; /* G k */
            for (int i = 0; i < a; i++)
                for (int j = 0; j < 3; j++)
                    t[i][j] = G[i][0] * k[j] + G[i][1] * k[3 + j] + G[i][2] * k[6 + j];
            for (int i = 0; i < a; i++)
                for (int j = 0; j < a; j++) {
                    double v = t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2];
                    u[(i * a + j) * per_e + base + c * width + o % (2 * g->vw)] = (float)v;
                }
        }
    }
}

/* Image n and top-left output (y0, x0) of tile tg. */
static void tile_origin(const cpu_wino *g, int64_t tg, int64_t *n, int *y0, int *x0) {
    int64_t per_img = (int64_t)g->th * g->tw, r = tg % per_img;
    *n = tg / per_img;
    *y0 = (int)(r / g->tw) * g->m;
    *x0 = (int)(r % g->tw) * g->m;
}

/* ---- the kernels, once per vector width ---- */

#define VW 8
#include "backend/cpu/cpu_wino_kern.h"
#undef VW
#define VW 16
#include "backend/cpu/cpu_wino_kern.h"
#undef VW

/* Bytes of U each thread starts fetching while it transforms the input (the
 * kernels' run_chunk): half its L2, which leaves room for its share of V.
 * mb1-ssd's batch-1 heads on two Sapphire Rapids cores (1 MB), medians of 8
 * interleaved pairs: the 19x19 one 1.08 against 1.29 ms, the 10x10 one 0.83
 * against 0.93; with 2 classes 0.45 against 0.66 and 0.32 against 0.36. */
static int64_t prefetch_bytes(void) {
    static _Atomic int64_t b;
    if (!b) {
        long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
        b = (l2 > 0 ? l2 : 1 << 20) / 2;
    }
    return b;
}

ssd_status cpu_wino_run(cpu_wino *g, cpu_buf *scratch, const float *x, const float *u,
                        const float *bias, float *y, bool par) {
    /* V, M and the padded bias in one buffer the backend shares: the SSD
     * heads run one after another, so the second finds V and M in cache
     * instead of reading them from memory before writing them */
    size_t ve = (size_t)g->ne * (size_t)g->chunk, vb = ve * (size_t)g->vs * sizeof(float),
           mb = ve * (size_t)g->op * sizeof(float), bb = (size_t)g->op * sizeof(float);
    vb = (vb + 63) / 64 * 64;
    mb = (mb + 63) / 64 * 64;
    SSD_TRY(cpu_buf_reserve(scratch, vb + mb + bb));
    float *v = scratch->p, *mm = (float *)((char *)scratch->p + vb),
          *bp = (float *)((char *)scratch->p + vb + mb);
    memset(bp, 0, bb); /* padding channels stay zero */
    if (bias) memcpy(bp, bias, (size_t)g->o * sizeof *bp);
    for (int64_t t0 = 0; t0 < g->tiles; t0 += g->chunk) {
        int nt = (int)(g->tiles - t0 < g->chunk ? g->tiles - t0 : g->chunk);
        if (g->vw == 16)
            run_chunk_avx512(g, x, u, bp, y, v, mm, t0, nt, par, prefetch_bytes());
        else
            run_chunk_avx2(g, x, u, bp, y, v, mm, t0, nt, par, prefetch_bytes());
    }
    return SSD_OK;
}
