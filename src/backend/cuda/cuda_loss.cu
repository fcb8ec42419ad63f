/* The multibox loss of box/multibox_loss.c on the device, in three launches:
 * 1. per prior: the log-sum-exp of its logits (double) and the background
 *    loss that ranks negatives (a float key rounded once from double, as the
 *    host computes it: the same float unless exp/log differ at a rounding
 *    midpoint), and the positives counted per image;
 * 2. per image, one block: hard negative mining, a radix selection of the
 *    num_pos * ratio largest keys among the negatives. Equal keys are kept in
 *    increasing prior order and NaN ranks first, as the host's stable partial
 *    sort keeps them, so both pick the same set from the same keys;
 * 3. per prior: the cross-entropy of kept priors and smooth L1 of positives,
 *    their gradients scaled by 1 / (positives in the batch), and the two sums
 *    (double, per block, then one atomic add per block).
 * The training step then needs only the two losses back on the host. */
#include "backend/cuda/cuda_device.cuh"
#include "backend/cuda/cuda_kernels.h"

#include <math.h>

namespace {

constexpr int kMineThreads = 1024;

/* Maps a key to an unsigned integer of the same order (larger key, larger
 * value); every NaN to the largest, -0 to +0, so equality is the host's ==. */
__device__ inline unsigned rank_bits(float f) {
    if (isnan(f)) return 0xffffffffu;
    if (f == 0.f) f = 0.f;
    const unsigned u = __float_as_uint(f);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__global__ void k_mbl_prep(float *key, double *lse, int *npos, unsigned long long *bad,
                           const float *conf, const int64_t *labels, int64_t nk, int k, int c) {
    for (int64_t i = gtid(); i < nk; i += gstride()) {
        const float *x = conf + i * c;
        const int64_t lab = labels[i];
        if (lab < 0 || lab >= c) {
            atomicMin(bad, (unsigned long long)i);
            key[i] = 0.f;
            lse[i] = 0.0;
            continue;
        }
        /* the host's loop: a NaN logit is never "greater", only x[0] can make m NaN */
        float m = x[0];
        for (int j = 1; j < c; j++)
            if (x[j] > m) m = x[j];
        double sd = 0;
        for (int j = 0; j < c; j++) sd += exp((double)x[j] - (double)m);
        lse[i] = (double)m + log(sd);
        key[i] = (float)(lse[i] - (double)x[0]);
        if (lab > 0) atomicAdd(npos + i / k, 1);
    }
}

__global__ void __launch_bounds__(kMineThreads)
    k_mbl_mine(unsigned char *keep, const float *key, const int64_t *labels, const int *npos, int k,
               int ratio) {
    __shared__ int hist[256];
    __shared__ int scan[kMineThreads];
    __shared__ unsigned s_prefix;
    __shared__ int s_left;
    const int64_t base = (int64_t)blockIdx.x * k;
    const float *kb = key + base;
    const int64_t *lb = labels + base;
    unsigned char *out = keep + base;
    const int np = npos[blockIdx.x], nneg = k - np;
    const long long want = (long long)np * ratio;
    const int m = want < nneg ? (int)want : nneg;
    if (m == 0 || m == nneg) { /* none or every negative: nothing to rank */
        for (int i = threadIdx.x; i < k; i += blockDim.x) out[i] = m > 0 && lb[i] <= 0;
        return;
    }
    /* The m-th largest rank value, 8 bits at a time from the top; `left` is how
     * many of the keys equal to the prefix found so far are still to be taken. */
    unsigned prefix = 0, mask = 0;
    int left = m;
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int j = threadIdx.x; j < 256; j += blockDim.x) hist[j] = 0;
        __syncthreads();
        for (int i = threadIdx.x; i < k; i += blockDim.x) {
            if (lb[i] > 0) continue;
            const unsigned r = rank_bits(kb[i]);
            if ((r & mask) == prefix) atomicAdd(&hist[(r >> shift) & 0xffu], 1);
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            int d = 255, l = left;
            for (; d > 0 && hist[d] < l; d--) l -= hist[d];
            s_prefix = prefix | ((unsigned)d << shift);
            s_left = l;
        }
        __syncthreads();
        prefix = s_prefix;
        left = s_left;
        mask |= 0xffu << shift;
    }
    /* Keys above the threshold are kept; of those equal to it, the first `left`
     * in prior order: each thread owns a contiguous run of priors, and a scan of
     * the runs' counts of equal keys says how many come before each run. */
    const int per = (k + (int)blockDim.x - 1) / (int)blockDim.x;
    const int lo = (int)threadIdx.x * per, hi = lo + per < k ? lo + per : k;
    int eq = 0;
    for (int i = lo; i < hi; i++) eq += lb[i] <= 0 && rank_bits(kb[i]) == prefix;
    scan[threadIdx.x] = eq;
    __syncthreads();
    for (int off = 1; off < (int)blockDim.x; off <<= 1) {
        const int v = (int)threadIdx.x >= off ? scan[threadIdx.x - off] : 0;
        __syncthreads();
        scan[threadIdx.x] += v;
        __syncthreads();
    }
    int before = scan[threadIdx.x] - eq;
    for (int i = lo; i < hi; i++) {
        unsigned char kept = 0;
        if (lb[i] <= 0) {
            const unsigned r = rank_bits(kb[i]);
            if (r > prefix)
                kept = 1;
            else if (r == prefix)
                kept = before++ < left;
        }
        out[i] = kept;
    }
}

__global__ void k_mbl_terms(float *dconf, float *dloc, double *acc, const float *conf,
                            const float *loc, const int64_t *labels, const float *gt,
                            const double *lse, const unsigned char *keep, const int *npos, int n,
                            int64_t nk, int c) {
    __shared__ double sh[32];
    double tot = 0;
    for (int j = threadIdx.x; j < n; j += blockDim.x) tot += npos[j];
    tot = block_sum(tot, sh);
    const double inv = 1.0 / (tot > 0 ? tot : 1.0);
    double reg = 0, cls = 0;
    for (int64_t i = gtid(); i < nk; i += gstride()) {
        const int64_t lab = labels[i];
        const bool ok = lab >= 0 && lab < c; /* a bad label fails the op; no access with it */
        const bool pos = ok && lab > 0, kept = pos || (ok && keep[i]);
        const float *x = conf + i * c;
        if (kept) cls += lse[i] - (double)x[lab];
        if (dconf) {
            float *d = dconf + i * c;
            for (int j = 0; j < c; j++)
                d[j] = kept ? (float)((exp((double)x[j] - lse[i]) - (j == lab ? 1.0 : 0.0)) * inv)
                            : 0.f;
        }
        for (int j = 0; j < 4; j++) {
            double g = 0;
            if (pos) {
                const double d = (double)loc[i * 4 + j] - (double)gt[i * 4 + j], a = fabs(d);
                reg += a < 1.0 ? 0.5 * d * d : a - 0.5;
                g = (a < 1.0 ? d : (d > 0 ? 1.0 : -1.0)) * inv;
            }
            if (dloc) dloc[i * 4 + j] = (float)g;
        }
    }
    reg = block_sum(reg, sh);
    cls = block_sum(cls, sh);
    if (threadIdx.x == 0) {
        atomicAdd(acc, reg * inv);
        atomicAdd(acc + 1, cls * inv);
    }
}

inline size_t up8(size_t v) {
    return (v + 7) & ~(size_t)7;
}

} // namespace

extern "C" {

size_t cuk_multibox_loss_scratch(int n, int k) {
    const size_t nk = (size_t)n * (size_t)k;
    return 24 + up8(nk * sizeof(double)) + up8(nk * sizeof(float)) + up8((size_t)n * sizeof(int)) +
           up8(nk);
}

cudaError_t cuk_multibox_loss(cudaStream_t s, float *dconf, float *dloc, void *scratch,
                              const float *conf, const float *loc, const int64_t *labels,
                              const float *gt, int n, int k, int c, int ratio) {
    const size_t nk = (size_t)n * (size_t)k;
    char *p = (char *)scratch;
    double *acc = (double *)p;
    unsigned long long *bad = (unsigned long long *)(p + 16);
    double *lse = (double *)(p + 24);
    float *key = (float *)((char *)lse + up8(nk * sizeof(double)));
    int *npos = (int *)((char *)key + up8(nk * sizeof(float)));
    unsigned char *keep = (unsigned char *)npos + up8((size_t)n * sizeof(int));
    cudaError_t e = cudaMemsetAsync(acc, 0, 16, s);
    if (e == cudaSuccess) e = cudaMemsetAsync(bad, 0xff, 8, s);
    if (e == cudaSuccess) e = cudaMemsetAsync(npos, 0, (size_t)n * sizeof(int), s);
    if (e != cudaSuccess || nk == 0) return e;
    k_mbl_prep<<<blocks_for((int64_t)nk), kThreads, 0, s>>>(key, lse, npos, bad, conf, labels,
                                                            (int64_t)nk, k, c);
    if ((e = ssd_cuk_launched(s)) != cudaSuccess) return e;
    k_mbl_mine<<<(unsigned)n, kMineThreads, 0, s>>>(keep, key, labels, npos, k, ratio);
    if ((e = ssd_cuk_launched(s)) != cudaSuccess) return e;
    k_mbl_terms<<<blocks_for((int64_t)nk), kThreads, 0, s>>>(
        dconf, dloc, acc, conf, loc, labels, gt, lse, keep, npos, n, (int64_t)nk, c);
    return ssd_cuk_launched(s);
}

} // extern "C"
