/* The CUDA backend's own kernels: element-wise ops, batch norm with the
 * activation fused, pooling (max and global average), the channel scale,
 * softmax, the SSD head permute, L2Norm and the SGD update. Tensors are plain
 * row-major float32 (NCHW for images).
 *
 * Launch conventions: element-wise kernels use 256-thread blocks and a
 * grid-stride loop over int64 indices (grid capped, so any size fits the
 * grid limits); per-channel reductions use one 256-thread block per channel
 * and sum in double, so the statistics are as exact as the reference's;
 * per-(n, c)-plane reductions (global average pool, the channel scale's
 * gradient) use one warp per plane in a grid-stride loop over the planes. */
#include <stdlib.h>
#include "backend/cuda/cuda_device.cuh"
#include "backend/cuda/cuda_kernels.h"

#include <math.h>

namespace {

/* Gradient mask read off the output (ReLU: y > 0; ReLU6: 0 < y < 6). */
__device__ inline float act_mask(float dy, float y, int act) {
    if (act == 0) return dy;
    bool pass = y > 0.f && (act == 1 || y < 6.f);
    return pass ? dy : 0.f;
}

/* The act op's forward: act_f's kinds plus hardswish (3) and hardsigmoid (4) in
 * PyTorch's float steps, x * relu6(x + 3) / 6 and relu6(x + 3) / 6 (NaN passes). */
__device__ inline float act_any(float v, int act) {
    if (act != 3 && act != 4) return act_f(v, act);
    float r = v + 3.f;
    r = r < 0.f ? 0.f : r;
    r = r > 6.f ? 6.f : r;
    return (act == 3 ? v * r : r) / 6.f;
}

/* The act op's backward. ReLU/ReLU6: mask read off the output t = y.
 * Hardswish/hardsigmoid from the input t = x, as autograd differentiates the
 * expressions above (relu6 passes for 0 < x+3 < 6, x+3 rounded to float as
 * PyTorch rounds it): relu6(x+3)/6 + [0 < x+3 < 6] x/6, so 0 at x = -3 and 1
 * at x = 3; and [0 < x+3 < 6] / 6. */
__device__ inline float act_grad(float dy, float t, int act) {
    if (act != 3 && act != 4) return act_mask(dy, t, act);
    const float u = t + 3.f, g = dy / 6.f;
    const bool in = u > 0.f && u < 6.f;
    if (act == 4) return in ? g : 0.f;
    const float r = u < 0.f ? 0.f : (u > 6.f ? 6.f : u);
    return g * r + (in ? g * t : 0.f);
}

__global__ void k_fill(float *p, int64_t n, float v) {
    for (int64_t i = gtid(); i < n; i += gstride()) p[i] = v;
}

__global__ void k_bias_act(float *y, const float *b, int64_t total, int64_t c, int64_t hw,
                           int act) {
    for (int64_t e = gtid(); e < total; e += gstride()) {
        float v = y[e];
        if (b) v += b[(e / hw) % c];
        y[e] = act_f(v, act);
    }
}

__global__ void k_act_fwd(float *y, const float *x, int64_t n, int act) {
    for (int64_t i = gtid(); i < n; i += gstride()) y[i] = act_any(x[i], act);
}

__global__ void k_act_bwd(float *dx, const float *dy, const float *t, int64_t n, int act) {
    for (int64_t i = gtid(); i < n; i += gstride()) dx[i] = act_grad(dy[i], t[i], act);
}

__global__ void k_add(float *y, const float *a, const float *b, int64_t n) {
    for (int64_t i = gtid(); i < n; i += gstride()) y[i] = a[i] + b[i];
}

/* One warp per (n, c) plane, grid-stride over the planes: the lanes stride the
 * plane (coalesced) and sum in double, as the reference does. The plane index is
 * the same on all lanes of a warp, so whole warps enter and leave the loop. */
__global__ void k_gap_fwd(float *y, const float *x, int64_t nc, int64_t hw) {
    const int lane = (int)(threadIdx.x & 31);
    for (int64_t pl = gtid() >> 5; pl < nc; pl += gstride() >> 5) {
        const float *xp = x + pl * hw;
        double s = 0;
        for (int64_t k = lane; k < hw; k += 32) s += (double)xp[k];
        s = warp_sum(s);
        if (lane == 0) y[pl] = (float)(s / (double)hw);
    }
}

/* dx = dy[n, c] / (H*W) over the plane, the division in double as the reference's. */
__global__ void k_gap_bwd(float *dx, const float *dy, int64_t nc, int64_t hw) {
    const int64_t total = nc * hw;
    for (int64_t e = gtid(); e < total; e += gstride())
        dx[e] = (float)((double)dy[e / hw] / (double)hw);
}

/* y = x * s[n, c] over the plane; y may be x (each element is read first). */
__global__ void k_scale(float *y, const float *x, const float *s, int64_t nc, int64_t hw) {
    const int64_t total = nc * hw;
    for (int64_t e = gtid(); e < total; e += gstride()) y[e] = x[e] * s[e / hw];
}

/* One warp per (n, c) plane as k_gap_fwd: ds = sum of dy * x over the plane (in
 * double) and, when dx is given, dx = dy * s. dx may be dy: each lane reads an
 * element before it writes it. */
__global__ void k_scale_bwd(float *dx, float *ds, const float *dy, const float *x, const float *s,
                            int64_t nc, int64_t hw) {
    const int lane = (int)(threadIdx.x & 31);
    for (int64_t pl = gtid() >> 5; pl < nc; pl += gstride() >> 5) {
        const int64_t base = pl * hw;
        const float sv = s[pl];
        double acc = 0;
        for (int64_t k = lane; k < hw; k += 32) {
            const float g = dy[base + k];
            acc += (double)g * (double)x[base + k];
            if (dx) dx[base + k] = g * sv;
        }
        acc = warp_sum(acc);
        if (lane == 0) ds[pl] = (float)acc;
    }
}

/* grid.x = C */
__global__ void __launch_bounds__(kThreads)
    k_channel_sum(float *out, const float *x, int64_t n, int64_t c, int64_t hw) {
    __shared__ double sh[32];
    const int64_t ch = blockIdx.x, m = n * hw;
    double s = 0;
    for (int64_t e = threadIdx.x; e < m; e += blockDim.x) {
        const int64_t i = e / hw, k = e - i * hw;
        s += (double)x[(i * c + ch) * hw + k];
    }
    s = block_sum(s, sh);
    if (threadIdx.x == 0) out[ch] = (float)s;
}

/* grid.x = C: statistics of the channel, then its normalisation. */
__global__ void __launch_bounds__(kThreads)
    k_bn_fwd(float *y, float *mean_out, float *invstd_out, const float *x, const float *gamma,
             const float *beta, float *rm, float *rv, int64_t n, int64_t c, int64_t hw, double eps,
             double mom, int training, int act) {
    __shared__ double sh[32];
    const int64_t ch = blockIdx.x, m = n * hw;
    double mean, var;
    if (training) {
        double s = 0, ss = 0;
        for (int64_t e = threadIdx.x; e < m; e += blockDim.x) {
            const int64_t i = e / hw, k = e - i * hw;
            const double v = (double)x[(i * c + ch) * hw + k];
            s += v;
            ss += v * v;
        }
        s = block_sum(s, sh);
        ss = block_sum(ss, sh);
        mean = s / (double)m;
        var = ss / (double)m - mean * mean; /* in double: cancellation stays far below fp32 */
        if (var < 0) var = 0;
        if (threadIdx.x == 0) {
            rm[ch] = (float)((1 - mom) * (double)rm[ch] + mom * mean);
            rv[ch] = (float)((1 - mom) * (double)rv[ch] + mom * var * (double)m / (double)(m - 1));
        }
    } else {
        mean = (double)rm[ch];
        var = (double)rv[ch];
    }
    double is = 1.0 / sqrt(var + eps);
    if (training) { /* normalise with the statistics as saved (float), as the ref does, so a
                       recompute from save_mean / save_invstd gives the same y */
        is = (double)(float)is;
        mean = (double)(float)mean;
    }
    if (threadIdx.x == 0) {
        if (mean_out) mean_out[ch] = (float)mean;
        if (invstd_out) invstd_out[ch] = (float)is;
    }
    const float mf = (float)mean, sc = (float)((double)gamma[ch] * is), bt = beta[ch];
    for (int64_t e = threadIdx.x; e < m; e += blockDim.x) {
        const int64_t i = e / hw, k = e - i * hw, o = (i * c + ch) * hw + k;
        y[o] = act_f((x[o] - mf) * sc + bt, act);
    }
}

/* grid.x = C: the channel's two sums, then its dx (see ref_bn_tmpl.h for the formulas). */
__global__ void __launch_bounds__(kThreads)
    k_bn_bwd(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
             const float *y, const float *gamma, const float *mean_in, const float *stat, int64_t n,
             int64_t c, int64_t hw, double eps, int training, int act) {
    __shared__ double sh[32];
    const int64_t ch = blockIdx.x, m = n * hw;
    const double mean = mean_in ? (double)mean_in[ch] : 0.0;
    const double is = training ? (double)stat[ch] : 1.0 / sqrt((double)stat[ch] + eps);
    double sg = 0, sgx = 0;
    for (int64_t e = threadIdx.x; e < m; e += blockDim.x) {
        const int64_t i = e / hw, k = e - i * hw, o = (i * c + ch) * hw + k;
        const double g = (double)act_mask(dy[o], act ? y[o] : 0.f, act);
        sg += g;
        sgx += g * ((double)x[o] - mean) * is;
    }
    sg = block_sum(sg, sh);
    sgx = block_sum(sgx, sh);
    if (threadIdx.x == 0) {
        if (dbeta) dbeta[ch] = (float)sg;
        if (dgamma) dgamma[ch] = (float)sgx;
    }
    if (!dx) return;
    const double gs = (double)gamma[ch] * is, md = (double)m;
    for (int64_t e = threadIdx.x; e < m; e += blockDim.x) {
        const int64_t i = e / hw, k = e - i * hw, o = (i * c + ch) * hw + k;
        const double g = (double)act_mask(dy[o], act ? y[o] : 0.f, act);
        if (training) {
            const double xh = ((double)x[o] - mean) * is;
            dx[o] = (float)(gs / md * (md * g - sg - xh * sgx));
        } else {
            dx[o] = (float)(gs * g);
        }
    }
}

__global__ void k_maxpool_fwd(float *y, int64_t *idx, const float *x, cuk_pool_dims d) {
    const int64_t total = d.nc * d.ho * d.wo;
    for (int64_t o = gtid(); o < total; o += gstride()) {
        const int64_t ow = o % d.wo, t = o / d.wo, oh = t % d.ho, pc = t / d.ho;
        int64_t h0 = oh * d.sh - d.ph, w0 = ow * d.sw - d.pw;
        const int64_t h1 = h0 + d.kh < d.h ? h0 + d.kh : d.h;
        const int64_t w1 = w0 + d.kw < d.w ? w0 + d.kw : d.w;
        if (h0 < 0) h0 = 0;
        if (w0 < 0) w0 = 0;
        const float *xp = x + pc * d.h * d.w;
        int64_t best = h0 * d.w + w0;
        float bv = -INFINITY;
        for (int64_t ih = h0; ih < h1; ih++)
            for (int64_t iw = w0; iw < w1; iw++) {
                const float v = xp[ih * d.w + iw];
                if (v > bv || isnan(v)) {
                    bv = v;
                    best = ih * d.w + iw;
                }
            }
        y[o] = xp[best];
        idx[o] = best;
    }
}

__device__ inline int64_t ceil_div(int64_t a, int64_t b) {
    return a >= 0 ? (a + b - 1) / b : -((-a) / b);
}

/* One thread per input element gathers dy of the windows that chose it: no
 * atomics, a fixed summation order, and out-of-range indices cannot scatter. */
__global__ void k_maxpool_bwd(float *dx, const float *dy, const int64_t *idx, cuk_pool_dims d) {
    const int64_t total = d.nc * d.h * d.w, ohw = d.ho * d.wo;
    for (int64_t e = gtid(); e < total; e += gstride()) {
        const int64_t iw = e % d.w, t = e / d.w, ih = t % d.h, pc = t / d.h;
        int64_t oh0 = ceil_div(ih + d.ph - d.kh + 1, d.sh), oh1 = (ih + d.ph) / d.sh;
        int64_t ow0 = ceil_div(iw + d.pw - d.kw + 1, d.sw), ow1 = (iw + d.pw) / d.sw;
        if (oh0 < 0) oh0 = 0;
        if (ow0 < 0) ow0 = 0;
        if (oh1 >= d.ho) oh1 = d.ho - 1;
        if (ow1 >= d.wo) ow1 = d.wo - 1;
        const int64_t me = ih * d.w + iw;
        float acc = 0.f;
        for (int64_t oh = oh0; oh <= oh1; oh++)
            for (int64_t ow = ow0; ow <= ow1; ow++) {
                const int64_t o = pc * ohw + oh * d.wo + ow;
                if (idx[o] == me) acc += dy[o];
            }
        dx[e] = acc;
    }
}

/* One thread per row (outer x inner); len is short (classes). */
__global__ void k_softmax_fwd(float *y, const float *x, int64_t outer, int64_t len, int64_t inner,
                              int log_out) {
    const int64_t rows = outer * inner;
    for (int64_t r = gtid(); r < rows; r += gstride()) {
        const int64_t o = r / inner, in = r - o * inner, base = o * len * inner + in;
        float mx = -INFINITY;
        for (int64_t k = 0; k < len; k++) mx = fmaxf(mx, x[base + k * inner]);
        float s = 0.f;
        for (int64_t k = 0; k < len; k++) s += expf(x[base + k * inner] - mx);
        const float ls = logf(s), inv = 1.f / s;
        for (int64_t k = 0; k < len; k++) {
            const float z = x[base + k * inner] - mx;
            y[base + k * inner] = log_out ? z - ls : expf(z) * inv;
        }
    }
}

__global__ void k_softmax_bwd(float *dx, const float *dy, const float *y, int64_t outer,
                              int64_t len, int64_t inner, int log_out) {
    const int64_t rows = outer * inner;
    for (int64_t r = gtid(); r < rows; r += gstride()) {
        const int64_t o = r / inner, in = r - o * inner, base = o * len * inner + in;
        float s = 0.f;
        for (int64_t k = 0; k < len; k++) {
            const float g = dy[base + k * inner];
            s += log_out ? g : g * y[base + k * inner];
        }
        for (int64_t k = 0; k < len; k++) {
            const float g = dy[base + k * inner], yv = y[base + k * inner];
            dx[base + k * inner] = log_out ? g - expf(yv) * s : yv * (g - s);
        }
    }
}

__global__ void k_nchw_nhwc(float *dst, const float *src, int64_t n, int64_t c, int64_t hw,
                            int to_nhwc) {
    const int64_t total = n * c * hw;
    for (int64_t e = gtid(); e < total; e += gstride()) {
        if (to_nhwc) { /* e walks (i, q, ch) */
            const int64_t ch = e % c, t = e / c, q = t % hw, i = t / hw;
            dst[e] = src[(i * c + ch) * hw + q];
        } else { /* e walks (i, ch, q) */
            const int64_t q = e % hw, t = e / hw, ch = t % c, i = t / c;
            dst[e] = src[(i * hw + q) * c + ch];
        }
    }
}

/* e walks dst (i, q, ch); src channel c0 + ch of xc. */
__global__ void k_nchw_nhwc_range(float *dst, const float *src, int64_t n, int64_t xc, int64_t c0,
                                  int64_t cc, int64_t hw) {
    const int64_t total = n * cc * hw;
    for (int64_t e = gtid(); e < total; e += gstride()) {
        const int64_t ch = e % cc, t = e / cc, q = t % hw, i = t / hw;
        dst[e] = src[(i * xc + c0 + ch) * hw + q];
    }
}

/* One thread per (n, pixel); the channel loop reads coalesced across pixels. */
__global__ void k_l2norm_fwd(float *y, const float *x, const float *scale, int64_t n, int64_t c,
                             int64_t hw, double eps) {
    const int64_t total = n * hw;
    for (int64_t p = gtid(); p < total; p += gstride()) {
        const int64_t i = p / hw, q = p - i * hw, base = i * c * hw + q;
        double ss = 0;
        for (int64_t ch = 0; ch < c; ch++) {
            const double v = (double)x[base + ch * hw];
            ss += v * v;
        }
        const double s = sqrt(ss) + eps;
        for (int64_t ch = 0; ch < c; ch++)
            y[base + ch * hw] = (float)((double)scale[ch] * (double)x[base + ch * hw] / s);
    }
}

__global__ void k_l2norm_bwd_dx(float *dx, float *rs, const float *dy, const float *x,
                                const float *scale, int64_t n, int64_t c, int64_t hw, double eps) {
    const int64_t total = n * hw;
    for (int64_t p = gtid(); p < total; p += gstride()) {
        const int64_t i = p / hw, q = p - i * hw, base = i * c * hw + q;
        double ss = 0, dot = 0;
        for (int64_t ch = 0; ch < c; ch++) {
            const double v = (double)x[base + ch * hw];
            ss += v * v;
            dot += (double)dy[base + ch * hw] * (double)scale[ch] * v;
        }
        const double r = sqrt(ss), s = r + eps;
        rs[p] = (float)(1.0 / s);
        if (!dx) continue;
        const double k = r > 0 ? dot / (r * s * s) : 0.0; /* no gradient at |x| = 0 */
        for (int64_t ch = 0; ch < c; ch++)
            dx[base + ch * hw] = (float)((double)scale[ch] * (double)dy[base + ch * hw] / s -
                                         (double)x[base + ch * hw] * k);
    }
}

/* grid.x = C */
__global__ void __launch_bounds__(kThreads)
    k_l2norm_dscale(float *dscale, const float *rs, const float *dy, const float *x, int64_t n,
                    int64_t c, int64_t hw) {
    __shared__ double sh[32];
    const int64_t ch = blockIdx.x, m = n * hw;
    double s = 0;
    for (int64_t e = threadIdx.x; e < m; e += blockDim.x) {
        const int64_t i = e / hw, q = e - i * hw, o = (i * c + ch) * hw + q;
        s += (double)dy[o] * (double)x[o] * (double)rs[e];
    }
    s = block_sum(s, sh);
    if (threadIdx.x == 0) dscale[ch] = (float)s;
}

__global__ void k_sgd(float *w, const float *g, float *buf, int64_t n, float lr, float mom,
                      float wd, int first) {
    for (int64_t i = gtid(); i < n; i += gstride()) {
        const float d = g[i] + wd * w[i];
        const float b = first ? d : mom * buf[i] + d;
        buf[i] = b;
        w[i] -= lr * b;
    }
}

/* Grid of one block per channel; C beyond the grid limit cannot occur for
 * conv channels but is refused rather than silently truncated. */
inline bool channel_grid_ok(int64_t c) {
    return c > 0 && c <= 0x7fffffff;
}

} // namespace

extern "C" {

cudaError_t cuk_fill_f32(cudaStream_t s, float *p, int64_t n, float v) {
    if (n <= 0) return cudaSuccess;
    k_fill<<<blocks_for(n), kThreads, 0, s>>>(p, n, v);
    return ssd_cuk_launched(s);
}

cudaError_t cuk_bias_act(cudaStream_t s, float *y, const float *b, int64_t n, int64_t c, int64_t hw,
                         int act) {
    const int64_t total = n * c * hw;
    if (total <= 0 || (!b && act == 0)) return cudaSuccess;
    k_bias_act<<<blocks_for(total), kThreads, 0, s>>>(y, b, total, c, hw, act);
    return ssd_cuk_launched(s);
}

cudaError_t cuk_act_fwd(cudaStream_t s, float *y, const float *x, int64_t n, int act) {
    if (n <= 0) return cudaSuccess;
    k_act_fwd<<<blocks_for(n), kThreads, 0, s>>>(y, x, n, act);
    return ssd_cuk_launched(s);
}

cudaError_t cuk_act_bwd(cudaStream_t s, float *dx, const float *dy, const float *t, int64_t n,
                        int act) {
    if (n <= 0) return cudaSuccess;
    k_act_bwd<<<blocks_for(n), kThreads, 0, s>>>(dx, dy, t, n, act);
    return ssd_cuk_launched(s);
}

cudaError_t cuk_add(cudaStream_t s, float *y, const float *a, const float *b, int64_t n) {
    if (n <= 0) return cudaSuccess;
    k_add<<<blocks_for(n), kThreads, 0, s>>>(y, a, b, n);
    return ssd_cuk_launched(s);
}

/* The per-plane kernels run one warp per plane: 32 threads for each of the nc planes. */
cudaError_t cuk_gap_fwd(cudaStream_t s, float *y, const float *x, int64_t nc, int64_t hw) {
    if (nc <= 0 || hw <= 0) return cudaSuccess;
    k_gap_fwd<<<blocks_for(nc * 32), kThreads, 0, s>>>(y, x, nc, hw);
    return ssd_cuk_launched(s);
}

cudaError_t cuk_gap_bwd(cudaStream_t s, float *dx, const float *dy, int64_t nc, int64_t hw) {
    const int64_t total = nc * hw;
    if (total <= 0) return cudaSuccess;
    k_gap_bwd<<<blocks_for(total), kThreads, 0, s>>>(dx, dy, nc, hw);
    return ssd_cuk_launched(s);
}

cudaError_t cuk_scale(cudaStream_t s, float *y, const float *x, const float *sc, int64_t nc,
                      int64_t hw) {
    const int64_t total = nc * hw;
    if (total <= 0) return cudaSuccess;
    k_scale<<<blocks_for(total), kThreads, 0, s>>>(y, x, sc, nc, hw);
    return ssd_cuk_launched(s);
}

cudaError_t cuk_scale_bwd(cudaStream_t s, float *dx, float *ds, const float *dy, const float *x,
                          const float *sc, int64_t nc, int64_t hw) {
    if (nc <= 0 || hw <= 0 || (!dx && !ds)) return cudaSuccess;
    if (!ds) return cuk_scale(s, dx, dy, sc, nc, hw);
    k_scale_bwd<<<blocks_for(nc * 32), kThreads, 0, s>>>(dx, ds, dy, x, sc, nc, hw);
    return ssd_cuk_launched(s);
}

cudaError_t cuk_channel_sum(cudaStream_t s, float *out, const float *x, int64_t n, int64_t c,
                            int64_t hw) {
    if (c <= 0) return cudaSuccess;
    if (!channel_grid_ok(c)) return cudaErrorInvalidConfiguration;
    k_channel_sum<<<(unsigned)c, kThreads, 0, s>>>(out, x, n, c, hw);
    return ssd_cuk_launched(s);
}

cudaError_t cuk_bn_fwd(cudaStream_t s, float *y, float *mean, float *invstd, const float *x,
                       const float *gamma, const float *beta, float *rm, float *rv, int64_t n,
                       int64_t c, int64_t hw, double eps, double momentum, int training, int act) {
    if (c <= 0) return cudaSuccess;
    if (!channel_grid_ok(c)) return cudaErrorInvalidConfiguration;
    k_bn_fwd<<<(unsigned)c, kThreads, 0, s>>>(y, mean, invstd, x, gamma, beta, rm, rv, n, c, hw,
                                              eps, momentum, training, act);
    return ssd_cuk_launched(s);
}

cudaError_t cuk_bn_bwd(cudaStream_t s, float *dx, float *dgamma, float *dbeta, const float *dy,
                       const float *x, const float *y, const float *gamma, const float *mean,
                       const float *stat, int64_t n, int64_t c, int64_t hw, double eps,
                       int training, int act) {
    if (c <= 0) return cudaSuccess;
    if (!channel_grid_ok(c)) return cudaErrorInvalidConfiguration;
    k_bn_bwd<<<(unsigned)c, kThreads, 0, s>>>(dx, dgamma, dbeta, dy, x, y, gamma, mean, stat, n, c,
                                              hw, eps, training, act);
    return ssd_cuk_launched(s);
}

cudaError_t cuk_maxpool_fwd(cudaStream_t s, float *y, int64_t *idx, const float *x,
                            const cuk_pool_dims *d) {
    const int64_t total = d->nc * d->ho * d->wo;
    if (total <= 0) return cudaSuccess;
    k_maxpool_fwd<<<blocks_for(total), kThreads, 0, s>>>(y, idx, x, *d);
    return ssd_cuk_launched(s);
}

cudaError_t cuk_maxpool_bwd(cudaStream_t s, float *dx, const float *dy, const int64_t *idx,
                            const cuk_pool_dims *d) {
    const int64_t total = d->nc * d->h * d->w;
    if (total <= 0) return cudaSuccess;
    k_maxpool_bwd<<<blocks_for(total), kThreads, 0, s>>>(dx, dy, idx, *d);
    return ssd_cuk_launched(s);
}

cudaError_t cuk_softmax_fwd(cudaStream_t s, float *y, const float *x, int64_t outer, int64_t len,
                            int64_t inner, int log_out) {
    const int64_t rows = outer * inner;
    if (rows <= 0 || len <= 0) return cudaSuccess;
    k_softmax_fwd<<<blocks_for(rows), kThreads, 0, s>>>(y, x, outer, len, inner, log_out);
    return ssd_cuk_launched(s);
}

cudaError_t cuk_softmax_bwd(cudaStream_t s, float *dx, const float *dy, const float *y,
                            int64_t outer, int64_t len, int64_t inner, int log_out) {
    const int64_t rows = outer * inner;
    if (rows <= 0 || len <= 0) return cudaSuccess;
    k_softmax_bwd<<<blocks_for(rows), kThreads, 0, s>>>(dx, dy, y, outer, len, inner, log_out);
    return ssd_cuk_launched(s);
}

cudaError_t cuk_nchw_nhwc(cudaStream_t s, float *dst, const float *src, int64_t n, int64_t c,
                          int64_t hw, int to_nhwc) {
    const int64_t total = n * c * hw;
    if (total <= 0) return cudaSuccess;
    k_nchw_nhwc<<<blocks_for(total), kThreads, 0, s>>>(dst, src, n, c, hw, to_nhwc);
    return ssd_cuk_launched(s);
}

cudaError_t cuk_nchw_nhwc_range(cudaStream_t s, float *dst, const float *src, int64_t n, int64_t xc,
                                int64_t c0, int64_t cc, int64_t hw) {
    const int64_t total = n * cc * hw;
    if (total <= 0) return cudaSuccess;
    k_nchw_nhwc_range<<<blocks_for(total), kThreads, 0, s>>>(dst, src, n, xc, c0, cc, hw);
    return ssd_cuk_launched(s);
}

cudaError_t cuk_l2norm_fwd(cudaStream_t s, float *y, const float *x, const float *scale, int64_t n,
                           int64_t c, int64_t hw, double eps) {
    const int64_t total = n * hw;
    if (total <= 0 || c <= 0) return cudaSuccess;
    k_l2norm_fwd<<<blocks_for(total), kThreads, 0, s>>>(y, x, scale, n, c, hw, eps);
    return ssd_cuk_launched(s);
}

cudaError_t cuk_l2norm_bwd(cudaStream_t s, float *dx, float *dscale, float *rs, const float *dy,
                           const float *x, const float *scale, int64_t n, int64_t c, int64_t hw,
                           double eps) {
    const int64_t total = n * hw;
    if (c <= 0) return cudaSuccess;
    if (!channel_grid_ok(c)) return cudaErrorInvalidConfiguration;
    if (total > 0) {
        k_l2norm_bwd_dx<<<blocks_for(total), kThreads, 0, s>>>(dx, rs, dy, x, scale, n, c, hw, eps);
        cudaError_t e = cudaGetLastError();
        if (e != cudaSuccess) return e;
    }
    if (!dscale) return cudaSuccess;
    k_l2norm_dscale<<<(unsigned)c, kThreads, 0, s>>>(dscale, rs, dy, x, n, c, hw);
    return ssd_cuk_launched(s);
}

cudaError_t cuk_sgd(cudaStream_t s, float *w, const float *g, float *buf, int64_t n, float lr,
                    float momentum, float wd, int first) {
    if (n <= 0) return cudaSuccess;
    k_sgd<<<blocks_for(n), kThreads, 0, s>>>(w, g, buf, n, lr, momentum, wd, first);
    return ssd_cuk_launched(s);
}

} // extern "C"

/* A launch's error. With SSD_CUDA_SYNC=1 in the environment every launch is
 * waited for, so a fault inside a kernel is reported by the op that ran it
 * rather than by a later copy (as CUDA_LAUNCH_BLOCKING=1, but ours). */
cudaError_t ssd_cuk_launched(cudaStream_t s) {
    static int sync = -1;
    if (sync < 0) {
        const char *e = getenv("SSD_CUDA_SYNC");
        sync = e && e[0] == '1';
    }
    cudaError_t err = cudaGetLastError();
    return err == cudaSuccess && sync ? cudaStreamSynchronize(s) : err;
}
