/* Device-side helpers shared by the CUDA backend's kernel files: launch
 * geometry (256-thread blocks, grid capped, grid-stride loops over int64
 * indices), the fused activations, block and warp sums in double, and the
 * launch check. */
#ifndef SSD_BACKEND_CUDA_DEVICE_CUH
#define SSD_BACKEND_CUDA_DEVICE_CUH

#include <cuda_runtime.h>
#include <stdint.h>

/* A launch's error; with SSD_CUDA_SYNC=1 the launch is also waited for. */
cudaError_t ssd_cuk_launched(cudaStream_t s);

namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 1 << 20;

inline unsigned blocks_for(int64_t n) {
    int64_t b = (n + kThreads - 1) / kThreads;
    return (unsigned)(b < kMaxBlocks ? b : kMaxBlocks);
}

__device__ inline int64_t gtid() {
    return (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
}

__device__ inline int64_t gstride() {
    return (int64_t)gridDim.x * blockDim.x;
}

/* ReLU keeps NaN (as PyTorch's clamp), ReLU6 also caps at 6. */
__device__ inline float act_f(float v, int act) {
    if (act == 0) return v;
    if (!(v > 0.f)) v = isnan(v) ? v : 0.f;
    if (act == 2 && v > 6.f) v = 6.f;
    return v;
}

/* Sum of v over the block (blockDim.x a multiple of 32, at most 1024); every
 * thread gets the result. sh holds 32 doubles. */
__device__ inline double block_sum(double v, double *sh) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    __syncthreads(); /* sh may still be read from a previous call */
    if (lane == 0) sh[wid] = v;
    __syncthreads();
    const int nw = (int)(blockDim.x >> 5);
    if (wid == 0) {
        v = lane < nw ? sh[lane] : 0.0;
        for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
        if (lane == 0) sh[0] = v;
    }
    __syncthreads();
    return sh[0];
}

/* Sum of v over the warp (all 32 lanes active); lane 0 gets the result. */
__device__ inline double warp_sum(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    return v;
}

} // namespace

#endif
