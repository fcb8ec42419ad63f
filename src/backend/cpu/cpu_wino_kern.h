/* The Winograd kernels of cpu_wino.c for one vector width, included once per
 * width with VW defined: 8 (AVX2 + FMA, nChw8c) or 16 (AVX-512,
 * nChw16c). The two differ only in the intrinsics and in the GEMM's row
 * count (AVX-512 has 32 vector registers, AVX2 16), so one text serves both;
 * each function is suffixed with its ISA. */
#include "backend/cpu/cpu_vec.h"

#undef WMR
#define WMR CPU_WINO_ROWS(VW)

/* ---- the transforms, per tile size: B^T on alpha vectors, A^T to m ---- */

KINL void SFX(bt)(int m, const VEC *d, VEC *r) {
    if (m == 2) {
        r[0] = V_SUB(d[0], d[2]);
        r[1] = V_ADD(d[1], d[2]);
        r[2] = V_SUB(d[2], d[1]);
        r[3] = V_SUB(d[1], d[3]);
        return;
    }
    const VEC four = V_SET1(4.f), five = V_SET1(5.f), two = V_SET1(2.f);
    VEC d4_d2 = V_SUB(d[4], d[2]);
    VEC d3_d1 = V_SUB(d[3], d[1]);
    r[0] = V_FMADD(four, d[0], V_FNMADD(five, d[2], d[4]));
    r[1] = V_FNMADD(four, V_ADD(d[1], d[2]), V_ADD(d[3], d[4]));
    r[2] = V_FMADD(four, V_SUB(d[1], d[2]), V_SUB(d[4], d[3]));
    r[3] = V_FMADD(two, d3_d1, d4_d2);
    r[4] = V_FNMADD(two, d3_d1, d4_d2);
    r[5] = V_FMADD(four, d[1], V_FNMADD(five, d[3], d[5]));
}

KINL void SFX(at)(int m, const VEC *v, VEC *r) {
    VEC a = V_ADD(v[1], v[2]), b = V_SUB(v[1], v[2]);
    if (m == 2) {
        r[0] = V_ADD(v[0], a);
        r[1] = V_SUB(b, v[3]);
        return;
    }
    const VEC two = V_SET1(2.f), four = V_SET1(4.f), eight = V_SET1(8.f);
    VEC c = V_ADD(v[3], v[4]), d = V_SUB(v[3], v[4]);
    r[0] = V_ADD(V_ADD(v[0], a), c);
    r[1] = V_FMADD(two, d, b);
    r[2] = V_FMADD(four, c, a);
    r[3] = V_ADD(V_FMADD(eight, d, b), v[5]);
}

/* Tile tg (the chunk's t-th), channel block cb: alpha^2 vectors into V. */
KINL void SFX(in_tile)(int m, const cpu_wino *g, const float *x, float *v, int64_t tg, int t,
                       int cb) {
    const int a = m + 2;
    int64_t n;
    int iy0, ix0;
    tile_origin(g, tg, &n, &iy0, &ix0);
    iy0 -= g->pad;
    ix0 -= g->pad;
    const float *xc = x + ((n * (g->cp / VW) + cb) * g->h) * g->w * VW;
    VEC d[6][6], s[6][6];
    bool inside = iy0 >= 0 && ix0 >= 0 && iy0 + a <= g->h && ix0 + a <= g->w;
    for (int i = 0; i < a; i++)
        for (int j = 0; j < a; j++) {
            int iy = iy0 + i, ix = ix0 + j;
            d[i][j] = inside || (iy >= 0 && iy < g->h && ix >= 0 && ix < g->w)
                          ? V_LOADU(xc + ((int64_t)iy * g->w + ix) * VW)
                          : V_ZERO();
        }
    for (int j = 0; j < a; j++) { /* columns: B^T d */
        VEC col[6], out[6];
        for (int i = 0; i < a; i++) col[i] = d[i][j];
        SFX(bt)(m, col, out);
        for (int i = 0; i < a; i++) s[i][j] = out[i];
    }
    int64_t stride_e = (int64_t)g->chunk * g->vs;
    float *vt = v + (int64_t)t * g->vs + cb * VW;
    for (int i = 0; i < a; i++) { /* rows: (B^T d) B */
        VEC out[6];
        SFX(bt)(m, s[i], out);
        for (int j = 0; j < a; j++) V_STORE(vt + (i * a + j) * stride_e, out[j]);
    }
}

KINL void SFX(out_tile)(int m, const cpu_wino *g, const float *mm, const float *bias, float *y,
                        int64_t tg, int t, int ob) {
    const int a = m + 2;
    int64_t n;
    int oy0, ox0;
    tile_origin(g, tg, &n, &oy0, &ox0);
    int64_t stride_e = (int64_t)g->chunk * g->op;
    const float *mt = mm + (int64_t)t * g->op + ob * VW;
    VEC s[4][6];
    for (int j = 0; j < a; j++) { /* columns: A^T M */
        VEC col[6], out[4];
        for (int i = 0; i < a; i++) col[i] = V_LOAD(mt + (i * a + j) * stride_e);
        SFX(at)(m, col, out);
        for (int i = 0; i < m; i++) s[i][j] = out[i];
    }
    VEC b = V_LOAD(bias + ob * VW);
    float *yc = y + ((n * (g->op / VW) + ob) * g->oh) * g->ow * VW;
    for (int i = 0; i < m; i++) { /* rows: (A^T M) A */
        if (oy0 + i >= g->oh) break;
        VEC out[4];
        SFX(at)(m, s[i], out);
        for (int j = 0; j < m; j++) {
            if (ox0 + j >= g->ow) break;
            V_STOREU(yc + ((int64_t)(oy0 + i) * g->ow + ox0 + j) * VW,
                     V_ACT(V_ADD(out[j], b), g->act));
        }
    }
}

/* The transforms with the tile size a constant, so their loops unroll. */
KFN static void SFX(in_tiles)(const cpu_wino *g, const float *x, float *v, int64_t tg, int t,
                              int cb) {
    if (g->m == 4)
        SFX(in_tile)(4, g, x, v, tg, t, cb);
    else
        SFX(in_tile)(2, g, x, v, tg, t, cb);
}
KFN static void SFX(out_tiles)(const cpu_wino *g, const float *mm, const float *bias, float *y,
                               int64_t tg, int t, int ob) {
    if (g->m == 4)
        SFX(out_tile)(4, g, mm, bias, y, tg, t, ob);
    else
        SFX(out_tile)(2, g, mm, bias, y, tg, t, ob);
}

/* ---- GEMM: M[e][t][o] = sum_c V[e][t][c] U[e][c][o] ---- */

/* mr rows by nv vectors of outputs; inlined with constant mr and nv, so the
 * accumulators live in registers. k is a multiple of the vector width: four
 * steps a turn leave the FMAs most of the dispatch slots (one step a turn ran
 * the heads 1.3-1.6x slower on Zen 3). pf, when not NULL, is a slice of the U
 * block the thread multiplies next, touched pfl lines per turn: the first pass
 * over a block otherwise waits on memory while the other passes find it in
 * cache (prefetches never fault, so the slice may run past the end of U). */
KINL void SFX(gemm_tile)(const float *v, int64_t ldv, const float *u, int64_t k, float *mm,
                         int64_t ldm, int mr, int nv, const float *pf, int pfl) {
    VEC acc[WMR][2];
#pragma GCC unroll 12
    for (int i = 0; i < WMR; i++) acc[i][0] = acc[i][1] = V_ZERO();
    for (int64_t c0 = 0; c0 < k; c0 += 4) {
        /* AVX2: one line a turn covers its slices (pfl 1); the loop cost the
         * heads 2-5% there */
#if VW == 8
        if (pf) __builtin_prefetch(pf + c0 * 4, 0, 2);
        (void)pfl;
#else
        if (pf)
            for (int l = 0; l < pfl; l++) __builtin_prefetch(pf + (c0 / 4 * pfl + l) * 16, 0, 2);
#endif
#pragma GCC unroll 4
        for (int64_t c = c0; c < c0 + 4; c++) {
            VEC u0 = V_LOAD(u + c * VW * nv);
            VEC u1 = nv == 2 ? V_LOAD(u + c * 2 * VW + VW) : u0;
#pragma GCC unroll 12
            for (int i = 0; i < WMR; i++) {
                if (i < mr) {
                    VEC a = V_BCAST(v + i * ldv + c);
                    acc[i][0] = V_FMADD(a, u0, acc[i][0]);
                    if (nv == 2) acc[i][1] = V_FMADD(a, u1, acc[i][1]);
                }
            }
        }
    }
#pragma GCC unroll 12
    for (int i = 0; i < mr; i++) {
        V_STORE(mm + i * ldm, acc[i][0]);
        if (nv == 2) V_STORE(mm + i * ldm + VW, acc[i][1]);
    }
}

#define GEMM_CASE(R, N)                                                                            \
    case (R)*2 + (N)-1:                                                                            \
        SFX(gemm_tile)(v, ldv, u, k, mm, ldm, R, N, pf, pfl);                                      \
        break
#define GEMM_CASES(R)                                                                              \
    GEMM_CASE(R, 1);                                                                               \
    GEMM_CASE(R, 2)
KFN static void SFX(gemm_rows)(const float *v, int64_t ldv, const float *u, int nv, int64_t k,
                               float *mm, int64_t ldm, int mr, const float *pf, int pfl) {
    switch (mr * 2 + nv - 1) {
        GEMM_CASES(1);
        GEMM_CASES(2);
        GEMM_CASES(3);
        GEMM_CASES(4);
        GEMM_CASES(5);
        GEMM_CASES(6);
#if WMR > 6
        GEMM_CASES(7);
        GEMM_CASES(8);
        GEMM_CASES(9);
        GEMM_CASES(10);
        GEMM_CASES(11);
        GEMM_CASES(12);
#endif
    default:
        break;
    }
}
#undef GEMM_CASES
#undef GEMM_CASE

/* ---- one chunk of tiles, both threads ---- */

static void SFX(run_chunk)(const cpu_wino *g, const float *x, const float *u, const float *bias,
                           float *y, float *v, float *mm, int64_t t0, int nt, bool par,
                           int64_t pf_bytes) {
    int cb_n = g->cp / VW, ob_n = g->op / VW, ub_n = (g->op + 2 * VW - 1) / (2 * VW), ne = g->ne;
    int64_t per_e_u = (int64_t)g->cp * g->op;
#pragma omp parallel if (par)
    {
        /* The first U blocks this thread will multiply (the GEMM's static
         * schedule gives it a run of consecutive ones), fetched into L2
         * while it transforms the input: after the layers before the head
         * U comes from memory, and the GEMM itself hides only the fetch of
         * its next block. */
        int nth = omp_get_num_threads(), me = omp_get_thread_num();
        int64_t items = (int64_t)ne * ub_n, i0 = items * me / nth, w0;
        const char *pu =
            (const char *)(u + i0 / ub_n * per_e_u + u_block(g, (int)(i0 % ub_n), &w0));
        int64_t own = (int64_t)sizeof(float) * ne * per_e_u / nth;
        int64_t lines = (pf_bytes < own ? pf_bytes : own) / 64, its = (nt * cb_n + nth - 1) / nth;
        int64_t per_it = (lines + its - 1) / its, l = 0;
#pragma omp for collapse(2) schedule(static)
        for (int t = 0; t < nt; t++)
            for (int cb = 0; cb < cb_n; cb++) {
                SFX(in_tiles)(g, x, v, t0 + t, t, cb);
                for (int64_t k = 0; k < per_it && l < lines; k++, l++)
                    __builtin_prefetch(pu + l * 64, 0, 1);
            }
#pragma omp for collapse(2) schedule(static)
        for (int e = 0; e < ne; e++)
            for (int ub = 0; ub < ub_n; ub++) {
                int64_t width, off = u_block(g, ub, &width);
                const float *ue = u + e * per_e_u + off;
                const float *ve = v + (int64_t)e * g->chunk * g->vs;
                float *me = mm + (int64_t)e * g->chunk * g->op + 2 * VW * ub;
                /* the block after this one, which a static schedule gives
                 * the same thread (or nothing, past the last) */
                int e2 = ub + 1 < ub_n ? e : e + 1, b2 = ub + 1 < ub_n ? ub + 1 : 0;
                int64_t w2, off2 = u_block(g, b2, &w2);
                const float *un = e2 < ne ? u + e2 * per_e_u + off2 : NULL;
                /* rows in near-equal blocks (25 = 5 x 5, not 4 x 6 + 1): a
                 * one-row block runs on FMA latency, not throughput */
                int nb = (nt + WMR - 1) / WMR;
                int64_t slice = g->cp * w2 / nb; /* floats of the next block per pass */
                int pfl = (int)((slice + g->cp / 4 * 16 - 1) / (g->cp / 4 * 16)); /* lines a turn */
                for (int b = 0, r = 0; b < nb; b++) {
                    int mr = nt / nb + (b < nt % nb);
                    SFX(gemm_rows)
                    (ve + (int64_t)r * g->vs, g->vs, ue, (int)(width / VW), g->cp,
                     me + (int64_t)r * g->op, g->op, mr, un ? un + b * slice : NULL, pfl);
                    r += mr;
                }
            }
#pragma omp for collapse(2) schedule(static)
        for (int t = 0; t < nt; t++)
            for (int ob = 0; ob < ob_n; ob++) SFX(out_tiles)(g, mm, bias, y, t0 + t, t, ob);
    }
}
