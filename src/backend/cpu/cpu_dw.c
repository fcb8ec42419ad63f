/* Depthwise 3x3 convs with stride 1 and padding 1 for float32 inference on
 * AVX2, nChw8c in and out.
 *
 * Why our own: oneDNN 2.6's jit_dw:avx2 kernel takes 1.15-1.5x our time on
 * MobileNet's stride-1 depthwise convs (two Zen 3 cores, caches cold as in a
 * full run: 0.37 against 0.56 ms on 32x150x150, 0.36 against 0.41 on
 * 128x75x75, 0.12 against 0.14 on 512x19x19). On its stride-2 ones it is as
 * fast as ours, so those stay on oneDNN.
 *
 * A ymm holds the 8 channels of one pixel of a channel block. */
#include "backend/cpu/cpu.h"

#include "backend/cpu/cpu_avx2.h"
#include "core/mem.h"

#include <omp.h>
#include <string.h>

bool cpu_dw_ok(const cpu_dw *g) {
    return g->n >= 1 && g->c % 8 == 0 && g->act <= SSD_ACT_RELU6 && g->h >= 1 && g->w >= 1 &&
           __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

size_t cpu_dw_weight_bytes(const cpu_dw *g) {
    return (size_t)g->c * 9 * sizeof(float);
}

/* [c / 8][9][8]: a channel block's nine taps, eight lanes each. */
void cpu_dw_weights(const cpu_dw *g, const float *w, float *packed) {
    for (int c = 0; c < g->c; c++)
        for (int k = 0; k < 9; k++) packed[((c / 8) * 9 + k) * 8 + c % 8] = w[c * 9 + k];
}

/* One output whose taps reach into the padding columns (column ox). */
AVX2_INLINE __m256 dw_edge(const __m256 *k, __m256 acc, const float *const *r, int ox, int w) {
    for (int ky = 0; ky < 3; ky++)
        for (int kx = 0; kx < 3; kx++) {
            int ix = ox - 1 + kx;
            if (ix >= 0 && ix < w)
                acc =
                    _mm256_fmadd_ps(k[ky * 3 + kx], _mm256_loadu_ps(r[ky] + (int64_t)ix * 8), acc);
        }
    return acc;
}

/* One output row into d from input rows r[0..2] (a zero row where the
 * padding is). */
AVX2_INLINE void dw_row(const __m256 *k, __m256 b, ssd_act a, const float *const *r, int w,
                        float *d) {
    _mm256_storeu_ps(d, cpu_avx2_act(dw_edge(k, b, r, 0, w), a));
    if (w == 1) return;
    int ox = 1;
    for (; ox + 4 < w; ox += 4) { /* interior: six inputs a row feed four outputs */
        __m256 acc[4] = {b, b, b, b};
        for (int ky = 0; ky < 3; ky++) {
            const float *x = r[ky] + (int64_t)(ox - 1) * 8;
            __m256 v[6];
#pragma GCC unroll 6
            for (int j = 0; j < 6; j++) v[j] = _mm256_loadu_ps(x + j * 8);
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++)
#pragma GCC unroll 3
                for (int kx = 0; kx < 3; kx++)
                    acc[i] = _mm256_fmadd_ps(k[ky * 3 + kx], v[i + kx], acc[i]);
        }
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++)
            _mm256_storeu_ps(d + (int64_t)(ox + i) * 8, cpu_avx2_act(acc[i], a));
    }
    for (; ox < w - 1; ox++) {
        __m256 acc = b;
        for (int ky = 0; ky < 3; ky++) {
            const float *x = r[ky] + (int64_t)(ox - 1) * 8;
            for (int kx = 0; kx < 3; kx++)
                acc = _mm256_fmadd_ps(k[ky * 3 + kx], _mm256_loadu_ps(x + kx * 8), acc);
        }
        _mm256_storeu_ps(d + (int64_t)ox * 8, cpu_avx2_act(acc, a));
    }
    _mm256_storeu_ps(d + (int64_t)(w - 1) * 8, cpu_avx2_act(dw_edge(k, b, r, w - 1, w), a));
}

/* Channel block cb of image n: one plane of the nChw8c input and output. */
AVX2 static void dw_plane(const cpu_dw *g, const float *x, const float *w, const float *bias,
                          const float *zero, float *y, int64_t n, int cb) {
    const int64_t plane = (int64_t)g->h * g->w * 8, at = (n * (g->c / 8) + cb) * plane;
    __m256 k[9];
    for (int i = 0; i < 9; i++) k[i] = _mm256_loadu_ps(w + cb * 72 + i * 8);
    __m256 b = bias ? _mm256_loadu_ps(bias + cb * 8) : _mm256_setzero_ps();
    for (int oy = 0; oy < g->h; oy++) {
        const float *r[3];
        for (int ky = 0; ky < 3; ky++) {
            int iy = oy - 1 + ky;
            r[ky] = iy >= 0 && iy < g->h ? x + at + (int64_t)iy * g->w * 8 : zero;
        }
        dw_row(k, b, g->act, r, g->w, y + at + (int64_t)oy * g->w * 8);
    }
}

ssd_status cpu_dw_run(const cpu_dw *g, cpu_buf *scratch, const float *x, const float *w,
                      const float *bias, float *y, bool par) {
    /* a zero row stands in for the padding rows above and below */
    size_t zb = (size_t)g->w * 8 * sizeof(float);
    SSD_TRY(cpu_buf_reserve(scratch, zb));
    const float *zero = memset(scratch->p, 0, zb);
    int cb_n = g->c / 8;
    /* whole planes to each thread: no row is split, no cache line shared */
#pragma omp parallel for collapse(2) schedule(static) if (par)
    for (int64_t n = 0; n < g->n; n++)
        for (int cb = 0; cb < cb_n; cb++) dw_plane(g, x, w, bias, zero, y, n, cb);
    return SSD_OK;
}
