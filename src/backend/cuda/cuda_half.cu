/* Conversions around cuDNN's 16-bit convolutions (--precision bf16 / fp16, and
 * bf16 inference convs): tensors stay float32 between ops, a conv rounds its
 * operands to 16 bits on the way in (to nearest even) and widens its result
 * on the way out, adding the bias and the activation there.
 *
 * fp16 gradients: fp16's range ends at 65504 and its normal numbers at 6e-5,
 * while a conv's incoming gradient may be 1e-6 everywhere. The gradient is
 * multiplied by a power of two that brings its largest magnitude to
 * (16, 32] before rounding, and the result divided by it after: exact
 * scaling, no step skipped, nothing read back by the host (the scale lives in
 * device memory). 32 leaves room for sums of thousands of products before
 * fp16 overflows. */
#include "backend/cuda/cuda_device.cuh"
#include "backend/cuda/cuda_kernels.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>

namespace {

__device__ inline void store16(void *dst, int64_t i, float v, int type) {
    if (type == CUK_BF16)
        ((__nv_bfloat16 *)dst)[i] = __float2bfloat16_rn(v);
    else
        ((__half *)dst)[i] = __float2half_rn(v);
}

__device__ inline float load16(const void *src, int64_t i, int type) {
    return type == CUK_BF16 ? __bfloat162float(((const __nv_bfloat16 *)src)[i])
                            : __half2float(((const __half *)src)[i]);
}

__global__ void k_to16(void *dst, const float *src, int64_t n, int type, const float *scale) {
    const float s = scale ? *scale : 1.f;
    for (int64_t i = gtid(); i < n; i += gstride()) store16(dst, i, src[i] * s, type);
}

__global__ void k_from16(float *y, const void *src, const float *b, int64_t total, int64_t c,
                         int64_t hw, int act, int type, int round_bf16, const float *scale) {
    const float inv = scale ? 1.f / *scale : 1.f; /* a power of two: exact */
    for (int64_t e = gtid(); e < total; e += gstride()) {
        float v = load16(src, e, type) * inv;
        if (b) v += b[(e / hw) % c];
        v = act_f(v, act);
        if (round_bf16) v = __bfloat162float(__float2bfloat16_rn(v));
        y[e] = v;
    }
}

/* Largest |x| (NaN ignored) as the bits of a non-negative float, which order as
 * unsigned integers: one atomicMax per block. */
__global__ void k_amax(unsigned *out, const float *x, int64_t n) {
    __shared__ float sh[32];
    float m = 0.f;
    for (int64_t i = gtid(); i < n; i += gstride()) {
        const float a = fabsf(x[i]);
        if (a > m) m = a;
    }
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_down_sync(0xffffffffu, m, o));
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    if (lane == 0) sh[wid] = m;
    __syncthreads();
    if (wid == 0) {
        m = lane < (int)(blockDim.x >> 5) ? sh[lane] : 0.f;
        for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_down_sync(0xffffffffu, m, o));
        if (lane == 0) atomicMax(out, __float_as_uint(m));
    }
}

__global__ void k_pow2_scale(float *scale, const unsigned *amax, float target) {
    const float a = __uint_as_float(*amax);
    float s = 1.f;
    if (a > 0.f && isfinite(a)) {
        float e = floorf(log2f(target / a));
        e = fminf(fmaxf(e, -100.f), 100.f);
        s = exp2f(e);
    }
    *scale = s;
}

} // namespace

extern "C" {

cudaError_t cuk_to16(cudaStream_t s, void *dst, const float *src, int64_t n, int type,
                     const float *scale) {
    if (n <= 0) return cudaSuccess;
    k_to16<<<blocks_for(n), kThreads, 0, s>>>(dst, src, n, type, scale);
    return ssd_cuk_launched(s);
}

cudaError_t cuk_from16(cudaStream_t s, float *y, const void *src, const float *b, int64_t n,
                       int64_t c, int64_t hw, int act, int type, int round_bf16,
                       const float *scale) {
    const int64_t total = n * c * hw;
    if (total <= 0) return cudaSuccess;
    k_from16<<<blocks_for(total), kThreads, 0, s>>>(y, src, b, total, c, hw, act, type, round_bf16,
                                                    scale);
    return ssd_cuk_launched(s);
}

cudaError_t cuk_grad_scale(cudaStream_t s, float *scale, unsigned *amax, const float *x,
                           int64_t n) {
    cudaError_t e = cudaMemsetAsync(amax, 0, sizeof *amax, s);
    if (e != cudaSuccess) return e;
    if (n > 0) {
        k_amax<<<blocks_for(n), kThreads, 0, s>>>(amax, x, n);
        if ((e = ssd_cuk_launched(s)) != cudaSuccess) return e;
    }
    k_pow2_scale<<<1, 1, 0, s>>>(scale, amax, 32.f);
    return ssd_cuk_launched(s);
}

} // extern "C"
