/* What our vector kernels (cpu_wino.c, cpu_dw.c) share: the target attributes
 * that let them build in a baseline x86-64 binary (they run only where the
 * CPU has AVX2 and FMA, or AVX-512), and the fused activations on eight and
 * sixteen lanes. */
#ifndef SSD_BACKEND_CPU_AVX2_H
#define SSD_BACKEND_CPU_AVX2_H

#include "tensor/backend.h"

#include <immintrin.h>

#define AVX2        __attribute__((target("avx2,fma")))
#define AVX2_INLINE static inline __attribute__((always_inline, target("avx2,fma")))

/* none, ReLU or ReLU6 (the activations cpu_wino_plan and cpu_dw_ok accept) */
AVX2_INLINE __m256 cpu_avx2_act(__m256 v, ssd_act a) {
    if (a != SSD_ACT_NONE) v = _mm256_max_ps(v, _mm256_setzero_ps());
    if (a == SSD_ACT_RELU6) v = _mm256_min_ps(v, _mm256_set1_ps(6.f));
    return v;
}

#define AVX512        __attribute__((target("avx512f,avx2,fma")))
#define AVX512_INLINE static inline __attribute__((always_inline, target("avx512f,avx2,fma")))

AVX512_INLINE __m512 cpu_avx512_act(__m512 v, ssd_act a) {
    if (a != SSD_ACT_NONE) v = _mm512_max_ps(v, _mm512_setzero_ps());
    if (a == SSD_ACT_RELU6) v = _mm512_min_ps(v, _mm512_set1_ps(6.f));
    return v;
}

#endif
