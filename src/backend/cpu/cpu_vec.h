/* Vector intrinsics by width, for kernel texts included once per width
 * (cpu_wino_kern.h, by cpu_wino.c): with VW defined as 8 (AVX2 + FMA,
 * nChw8c) or 16 (AVX-512, nChw16c), this (re)defines the vector type, the
 * target attributes, the suffix SFX(f) that names a function for its ISA,
 * and the intrinsics the kernels use. */
#include "backend/cpu/cpu_avx2.h"

#undef VEC
#undef KFN
#undef KINL
#undef SFX
#undef V_LOAD
#undef V_LOADU
#undef V_STORE
#undef V_STOREU
#undef V_SET1
#undef V_ZERO
#undef V_ADD
#undef V_SUB
#undef V_FMADD
#undef V_FNMADD
#undef V_BCAST
#undef V_ACT

#if VW == 8
#define VEC      __m256
#define KFN      AVX2
#define KINL     AVX2_INLINE
#define SFX(f)   f##_avx2
#define V_LOAD   _mm256_load_ps
#define V_LOADU  _mm256_loadu_ps
#define V_STORE  _mm256_store_ps
#define V_STOREU _mm256_storeu_ps
#define V_SET1   _mm256_set1_ps
#define V_ZERO   _mm256_setzero_ps
#define V_ADD    _mm256_add_ps
#define V_SUB    _mm256_sub_ps
#define V_FMADD  _mm256_fmadd_ps
#define V_FNMADD _mm256_fnmadd_ps
#define V_BCAST  _mm256_broadcast_ss
#define V_ACT    cpu_avx2_act
#elif VW == 16
#define VEC        __m512
#define KFN        AVX512
#define KINL       AVX512_INLINE
#define SFX(f)     f##_avx512
#define V_LOAD     _mm512_load_ps
#define V_LOADU    _mm512_loadu_ps
#define V_STORE    _mm512_store_ps
#define V_STOREU   _mm512_storeu_ps
#define V_SET1     _mm512_set1_ps
#define V_ZERO     _mm512_setzero_ps
#define V_ADD      _mm512_add_ps
#define V_SUB      _mm512_sub_ps
#define V_FMADD    _mm512_fmadd_ps
#define V_FNMADD   _mm512_fnmadd_ps
#define V_BCAST(p) _mm512_set1_ps(*(p))
#define V_ACT      cpu_avx512_act
#else
#error "VW must be 8 or 16"
#endif
