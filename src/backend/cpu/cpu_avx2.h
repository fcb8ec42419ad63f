/* What our AVX2 kernels (cpu_wino.c, cpu_dw.c) share: the target attributes
 * that let them build in a baseline x86-64 binary (they run only where the
 * CPU has AVX2 and FMA), and the fused activations on eight lanes. */
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

#endif
