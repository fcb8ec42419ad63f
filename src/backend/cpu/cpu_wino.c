/* Winograd F(2x2, 3x3) and F(4x4, 3x3) for float32 inference convs on AVX2
 * (3x3, stride 1, padding 1, groups 1), on nChw8c activations.
 *
 * Why our own: oneDNN 2.6 has Winograd only for AVX-512. On AVX2 it runs the
 * SSD class heads (512 or 1024 channels in, 6 * (classes + 4) out) on its
 * direct kernel at 50-58 GMAC/s on two Zen 3 cores: 4.3 and 2.8 ms of
 * mb1-ssd's 26 ms.
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
 * F(4x4), 1 ms at this machine's 22 GB/s). cpu_wino_plan takes the cheaper
 * of the two by a cost model measured here, and oneDNN's direct kernel when
 * neither is clearly cheaper (the 5x5 and smaller maps). */
#include "backend/cpu/cpu.h"

#include "backend/cpu/cpu_avx2.h"
#include "core/mem.h"

#include <immintrin.h>
#include <string.h>

#define MR          6 /* GEMM rows (tiles) per micro-kernel call */
#define CHUNK_BYTES ((size_t)4 << 20)

/* The cost model (two Zen 3 cores): memory streams at about 20 GB/s, our
 * GEMM makes about 70 GMAC/s, oneDNN's direct AVX2 conv about 50. */
#define BYTES_PER_S       20e9
#define WINO_MACS_PER_S   70e9
#define DIRECT_MACS_PER_S 50e9

static void derive(cpu_wino *g, int m) {
    g->m = m;
    g->alpha = m + 2;
    g->ne = g->alpha * g->alpha;
    g->cp = (g->c + 7) / 8 * 8;
    g->op = (g->o + 7) / 8 * 8;
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
    int64_t tb = (int64_t)budget / per_tile / MR * MR;
    if (tb < MR) tb = MR;
    if (tb > g->tiles) tb = g->tiles;
    g->chunk = (int)tb;
}

static double wino_cost(const cpu_wino *g) {
    double macs = (double)g->ne * (double)g->tiles * g->cp * g->op;
    return (double)cpu_wino_weight_bytes(g) / BYTES_PER_S + macs / WINO_MACS_PER_S;
}

bool cpu_wino_plan(cpu_wino *g, bool force) {
    cpu_wino g4 = *g;
    derive(&g4, 4);
    derive(g, 2);
    double c4 = wino_cost(&g4), c2 = wino_cost(g);
    if (c4 < c2) *g = g4;
    /* the transformed weights are 1.8-4x the plain ones: past a size no SSD
     * net comes near, stay on oneDNN's direct kernel rather than fail for memory */
    if (cpu_wino_weight_bytes(g) > ((size_t)256 << 20)) return false;
    if (g->pad != 1 || g->oh < 1 || g->ow < 1 || g->act > SSD_ACT_RELU6 ||
        !__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        return false;
    double direct = (double)g->n * g->oh * g->ow * g->c * g->o * 9 / DIRECT_MACS_PER_S +
                    (double)g->c * g->o * 9 * sizeof(float) / BYTES_PER_S;
    return force || (c4 < c2 ? c4 : c2) < 0.8 * direct;
}

size_t cpu_wino_weight_bytes(const cpu_wino *g) {
    return (size_t)g->ne * (size_t)g->cp * (size_t)g->op * sizeof(float);
}

/* ---- weights: U[e] in blocks of 16 outputs (the last may be 8 wide), each
 * block (cp, width) row-major, so the micro-kernel streams it ---- */

static int64_t u_block(const cpu_wino *g, int o16, int64_t *width) {
    *width = g->op - 16 * o16 < 16 ? 8 : 16;
    return (int64_t)g->cp * 16 * o16;
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
        int64_t width, base = u_block(g, o / 16, &width);
        for (int c = 0; c < g->c; c++) {
            const float *k = w + ((int64_t)o * g->c + c) * 9;
            double t[6][3]; /* G k */
            for (int i = 0; i < a; i++)
                for (int j = 0; j < 3; j++)
                    t[i][j] = G[i][0] * k[j] + G[i][1] * k[3 + j] + G[i][2] * k[6 + j];
            for (int i = 0; i < a; i++)
                for (int j = 0; j < a; j++) {
                    double v = t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2];
                    u[(i * a + j) * per_e + base + c * width + o % 16] = (float)v;
                }
        }
    }
}

/* ---- the transforms, per tile size: B^T on alpha vectors, A^T to m ---- */

AVX2_INLINE void bt(int m, const __m256 *d, __m256 *r) {
    if (m == 2) {
        r[0] = _mm256_sub_ps(d[0], d[2]);
        r[1] = _mm256_add_ps(d[1], d[2]);
        r[2] = _mm256_sub_ps(d[2], d[1]);
        r[3] = _mm256_sub_ps(d[1], d[3]);
        return;
    }
    const __m256 four = _mm256_set1_ps(4.f), five = _mm256_set1_ps(5.f), two = _mm256_set1_ps(2.f);
    __m256 d4_d2 = _mm256_sub_ps(d[4], d[2]);
    __m256 d3_d1 = _mm256_sub_ps(d[3], d[1]);
    r[0] = _mm256_fmadd_ps(four, d[0], _mm256_fnmadd_ps(five, d[2], d[4]));
    r[1] = _mm256_fnmadd_ps(four, _mm256_add_ps(d[1], d[2]), _mm256_add_ps(d[3], d[4]));
    r[2] = _mm256_fmadd_ps(four, _mm256_sub_ps(d[1], d[2]), _mm256_sub_ps(d[4], d[3]));
    r[3] = _mm256_fmadd_ps(two, d3_d1, d4_d2);
    r[4] = _mm256_fnmadd_ps(two, d3_d1, d4_d2);
    r[5] = _mm256_fmadd_ps(four, d[1], _mm256_fnmadd_ps(five, d[3], d[5]));
}

AVX2_INLINE void at(int m, const __m256 *v, __m256 *r) {
    __m256 a = _mm256_add_ps(v[1], v[2]), b = _mm256_sub_ps(v[1], v[2]);
    if (m == 2) {
        r[0] = _mm256_add_ps(v[0], a);
        r[1] = _mm256_sub_ps(b, v[3]);
        return;
    }
    const __m256 two = _mm256_set1_ps(2.f), four = _mm256_set1_ps(4.f), eight = _mm256_set1_ps(8.f);
    __m256 c = _mm256_add_ps(v[3], v[4]), d = _mm256_sub_ps(v[3], v[4]);
    r[0] = _mm256_add_ps(_mm256_add_ps(v[0], a), c);
    r[1] = _mm256_fmadd_ps(two, d, b);
    r[2] = _mm256_fmadd_ps(four, c, a);
    r[3] = _mm256_add_ps(_mm256_fmadd_ps(eight, d, b), v[5]);
}

/* Image n and top-left output (y0, x0) of tile tg. */
static void tile_origin(const cpu_wino *g, int64_t tg, int64_t *n, int *y0, int *x0) {
    int64_t per_img = (int64_t)g->th * g->tw, r = tg % per_img;
    *n = tg / per_img;
    *y0 = (int)(r / g->tw) * g->m;
    *x0 = (int)(r % g->tw) * g->m;
}

/* Tile tg (the chunk's t-th), channel block cb: alpha^2 vectors into V. */
AVX2_INLINE void in_tile(int m, const cpu_wino *g, const float *x, float *v, int64_t tg, int t,
                         int cb) {
    const int a = m + 2;
    int64_t n;
    int iy0, ix0;
    tile_origin(g, tg, &n, &iy0, &ix0);
    iy0 -= g->pad;
    ix0 -= g->pad;
    const float *xc = x + ((n * (g->cp / 8) + cb) * g->h) * g->w * 8;
    __m256 d[6][6], s[6][6];
    bool inside = iy0 >= 0 && ix0 >= 0 && iy0 + a <= g->h && ix0 + a <= g->w;
    for (int i = 0; i < a; i++)
        for (int j = 0; j < a; j++) {
            int iy = iy0 + i, ix = ix0 + j;
            d[i][j] = inside || (iy >= 0 && iy < g->h && ix >= 0 && ix < g->w)
                          ? _mm256_loadu_ps(xc + ((int64_t)iy * g->w + ix) * 8)
                          : _mm256_setzero_ps();
        }
    for (int j = 0; j < a; j++) { /* columns: B^T d */
        __m256 col[6], out[6];
        for (int i = 0; i < a; i++) col[i] = d[i][j];
        bt(m, col, out);
        for (int i = 0; i < a; i++) s[i][j] = out[i];
    }
    int64_t stride_e = (int64_t)g->chunk * g->vs;
    float *vt = v + (int64_t)t * g->vs + cb * 8;
    for (int i = 0; i < a; i++) { /* rows: (B^T d) B */
        __m256 out[6];
        bt(m, s[i], out);
        for (int j = 0; j < a; j++) _mm256_store_ps(vt + (i * a + j) * stride_e, out[j]);
    }
}

AVX2_INLINE void out_tile(int m, const cpu_wino *g, const float *mm, const float *bias, float *y,
                          int64_t tg, int t, int ob) {
    const int a = m + 2;
    int64_t n;
    int oy0, ox0;
    tile_origin(g, tg, &n, &oy0, &ox0);
    int64_t stride_e = (int64_t)g->chunk * g->op;
    const float *mt = mm + (int64_t)t * g->op + ob * 8;
    __m256 s[4][6];
    for (int j = 0; j < a; j++) { /* columns: A^T M */
        __m256 col[6], out[4];
        for (int i = 0; i < a; i++) col[i] = _mm256_load_ps(mt + (i * a + j) * stride_e);
        at(m, col, out);
        for (int i = 0; i < m; i++) s[i][j] = out[i];
    }
    __m256 b = _mm256_load_ps(bias + ob * 8);
    float *yc = y + ((n * (g->op / 8) + ob) * g->oh) * g->ow * 8;
    for (int i = 0; i < m; i++) { /* rows: (A^T M) A */
        if (oy0 + i >= g->oh) break;
        __m256 out[4];
        at(m, s[i], out);
        for (int j = 0; j < m; j++) {
            if (ox0 + j >= g->ow) break;
            _mm256_storeu_ps(yc + ((int64_t)(oy0 + i) * g->ow + ox0 + j) * 8,
                             cpu_avx2_act(_mm256_add_ps(out[j], b), g->act));
        }
    }
}

/* The transforms with the tile size a constant, so their loops unroll. */
AVX2 static void in_tiles(const cpu_wino *g, const float *x, float *v, int64_t tg, int t, int cb) {
    if (g->m == 4)
        in_tile(4, g, x, v, tg, t, cb);
    else
        in_tile(2, g, x, v, tg, t, cb);
}
AVX2 static void out_tiles(const cpu_wino *g, const float *mm, const float *bias, float *y,
                           int64_t tg, int t, int ob) {
    if (g->m == 4)
        out_tile(4, g, mm, bias, y, tg, t, ob);
    else
        out_tile(2, g, mm, bias, y, tg, t, ob);
}

/* ---- GEMM: M[e][t][o] = sum_c V[e][t][c] U[e][c][o] ---- */

/* mr rows by nv vectors of 8 outputs; inlined with constant mr and nv, so the
 * accumulators live in registers. k is a multiple of 8: four steps a turn
 * leave the FMAs most of the dispatch slots (one step a turn ran the heads
 * 1.3-1.6x slower). pf, when not NULL, is a slice of the U block the thread
 * multiplies next, touched one line per turn: the first pass over a block
 * otherwise waits on memory while the other passes find it in cache
 * (prefetches never fault, so the slice may run past the end of U). */
AVX2_INLINE void gemm_tile(const float *v, int64_t ldv, const float *u, int64_t k, float *mm,
                           int64_t ldm, int mr, int nv, const float *pf) {
    __m256 acc[MR][2];
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (int64_t c0 = 0; c0 < k; c0 += 4) {
        if (pf) __builtin_prefetch(pf + c0 * 4, 0, 2);
#pragma GCC unroll 4
        for (int64_t c = c0; c < c0 + 4; c++) {
            __m256 u0 = _mm256_load_ps(u + c * 8 * nv);
            __m256 u1 = nv == 2 ? _mm256_load_ps(u + c * 16 + 8) : u0;
#pragma GCC unroll 6
            for (int i = 0; i < MR; i++) {
                if (i < mr) {
                    __m256 a = _mm256_broadcast_ss(v + i * ldv + c);
                    acc[i][0] = _mm256_fmadd_ps(a, u0, acc[i][0]);
                    if (nv == 2) acc[i][1] = _mm256_fmadd_ps(a, u1, acc[i][1]);
                }
            }
        }
    }
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++) {
        _mm256_store_ps(mm + i * ldm, acc[i][0]);
        if (nv == 2) _mm256_store_ps(mm + i * ldm + 8, acc[i][1]);
    }
}

#define GEMM_CASE(R, N)                                                                            \
    case (R)*2 + (N)-1:                                                                            \
        gemm_tile(v, ldv, u, k, mm, ldm, R, N, pf);                                                \
        break
AVX2 static void gemm_rows(const float *v, int64_t ldv, const float *u, int nv, int64_t k,
                           float *mm, int64_t ldm, int mr, const float *pf) {
    switch (mr * 2 + nv - 1) {
        GEMM_CASE(1, 1);
        GEMM_CASE(1, 2);
        GEMM_CASE(2, 1);
        GEMM_CASE(2, 2);
        GEMM_CASE(3, 1);
        GEMM_CASE(3, 2);
        GEMM_CASE(4, 1);
        GEMM_CASE(4, 2);
        GEMM_CASE(5, 1);
        GEMM_CASE(5, 2);
        GEMM_CASE(6, 1);
        GEMM_CASE(6, 2);
    default:
        break;
    }
}

/* ---- driver ---- */

static void run_chunk(const cpu_wino *g, const float *x, const float *u, const float *bias,
                      float *y, float *v, float *mm, int64_t t0, int nt, bool par) {
    int cb_n = g->cp / 8, ob_n = g->op / 8, o16_n = (g->op + 15) / 16, ne = g->ne;
    int64_t per_e_u = (int64_t)g->cp * g->op;
#pragma omp parallel if (par)
    {
#pragma omp for collapse(2) schedule(static)
        for (int t = 0; t < nt; t++)
            for (int cb = 0; cb < cb_n; cb++) in_tiles(g, x, v, t0 + t, t, cb);
#pragma omp for collapse(2) schedule(static)
        for (int e = 0; e < ne; e++)
            for (int o16 = 0; o16 < o16_n; o16++) {
                int64_t width, off = u_block(g, o16, &width);
                const float *ue = u + e * per_e_u + off;
                const float *ve = v + (int64_t)e * g->chunk * g->vs;
                float *me = mm + (int64_t)e * g->chunk * g->op + 16 * o16;
                /* the block after this one, which a static schedule gives
                 * the same thread (or nothing, past the last) */
                int e2 = o16 + 1 < o16_n ? e : e + 1, o2 = o16 + 1 < o16_n ? o16 + 1 : 0;
                int64_t w2, off2 = u_block(g, o2, &w2);
                const float *un = e2 < ne ? u + e2 * per_e_u + off2 : NULL;
                /* rows in near-equal blocks (25 = 5 x 5, not 4 x 6 + 1): a
                 * one-row block runs on FMA latency, not throughput */
                int nb = (nt + MR - 1) / MR;
                int64_t slice = g->cp * w2 / nb; /* floats of the next block per pass */
                for (int b = 0, r = 0; b < nb; b++) {
                    int mr = nt / nb + (b < nt % nb);
                    gemm_rows(ve + (int64_t)r * g->vs, g->vs, ue, (int)(width / 8), g->cp,
                              me + (int64_t)r * g->op, g->op, mr, un ? un + b * slice : NULL);
                    r += mr;
                }
            }
#pragma omp for collapse(2) schedule(static)
        for (int t = 0; t < nt; t++)
            for (int ob = 0; ob < ob_n; ob++) out_tiles(g, mm, bias, y, t0 + t, t, ob);
    }
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
        run_chunk(g, x, u, bp, y, v, mm, t0, nt, par);
    }
    return SSD_OK;
}
