/* Launchers of the CUDA backend's own kernels (cuda_kernels.cu). Each queues
 * its kernel(s) on `s` and returns the launch status (cudaGetLastError);
 * errors inside a kernel surface at the next synchronisation. Sizes are
 * element counts; every launcher accepts empty work and launches nothing. */
#ifndef SSD_BACKEND_CUDA_KERNELS_H
#define SSD_BACKEND_CUDA_KERNELS_H

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* act: 0 none, 1 ReLU, 2 ReLU6 (ssd_act's values); the act op's launchers
 * (cuk_act_fwd, cuk_act_bwd) also take 3 hardswish and 4 hardsigmoid. */
cudaError_t cuk_fill_f32(cudaStream_t s, float *p, int64_t n, float v);
/* y (N, C, HW) += b[c] (b may be NULL), then the activation, in place. */
cudaError_t cuk_bias_act(cudaStream_t s, float *y, const float *b, int64_t n, int64_t c, int64_t hw,
                         int act);
cudaError_t cuk_act_fwd(cudaStream_t s, float *y, const float *x, int64_t n, int act);
/* t: the forward output y for ReLU / ReLU6 (none: ignored but read), the
 * forward input x for hardswish / hardsigmoid. dx may be dy or t. */
cudaError_t cuk_act_bwd(cudaStream_t s, float *dx, const float *dy, const float *t, int64_t n,
                        int act);
cudaError_t cuk_add(cudaStream_t s, float *y, const float *a, const float *b, int64_t n);
/* Global average pool over nc planes of hw values: y[p] = mean of plane p (summed
 * in double); backward spreads dy[p] / hw over the plane. */
cudaError_t cuk_gap_fwd(cudaStream_t s, float *y, const float *x, int64_t nc, int64_t hw);
cudaError_t cuk_gap_bwd(cudaStream_t s, float *dx, const float *dy, int64_t nc, int64_t hw);
/* Channel scale over nc planes of hw values: y = x * sc[plane] (y may be x).
 * Backward: dx = dy * sc (dx may be dy; NULL: not computed), ds[plane] = sum of
 * dy * x over the plane in double (NULL: not computed). */
cudaError_t cuk_scale(cudaStream_t s, float *y, const float *x, const float *sc, int64_t nc,
                      int64_t hw);
cudaError_t cuk_scale_bwd(cudaStream_t s, float *dx, float *ds, const float *dy, const float *x,
                          const float *sc, int64_t nc, int64_t hw);
/* out[c] = sum over (N, HW) of x (N, C, HW), summed in double. */
cudaError_t cuk_channel_sum(cudaStream_t s, float *out, const float *x, int64_t n, int64_t c,
                            int64_t hw);

/* Batch norm forward over x (N, C, HW), one block per channel. Training: batch
 * statistics (double sums), running stats updated (unbiased variance);
 * eval: the running ones. mean/invstd (may be NULL in eval) receive what was used. */
cudaError_t cuk_bn_fwd(cudaStream_t s, float *y, float *mean, float *invstd, const float *x,
                       const float *gamma, const float *beta, float *rm, float *rv, int64_t n,
                       int64_t c, int64_t hw, double eps, double momentum, int training, int act);
/* Batch norm backward: g = dy masked by the activation read off y (y may be NULL
 * when act is 0). stat = save_invstd (training) or running_var (eval); mean may be
 * NULL when neither dgamma nor a training dx needs it. dx, dgamma, dbeta may be NULL. */
cudaError_t cuk_bn_bwd(cudaStream_t s, float *dx, float *dgamma, float *dbeta, const float *dy,
                       const float *x, const float *y, const float *gamma, const float *mean,
                       const float *stat, int64_t n, int64_t c, int64_t hw, double eps,
                       int training, int act);

typedef struct {
    int64_t nc, h, w, ho, wo;
    int kh, kw, sh, sw, ph, pw;
} cuk_pool_dims;
/* idx: argmax as an offset in the H*W plane (PyTorch's indices), first maximum wins. */
cudaError_t cuk_maxpool_fwd(cudaStream_t s, float *y, int64_t *idx, const float *x,
                            const cuk_pool_dims *d);
cudaError_t cuk_maxpool_bwd(cudaStream_t s, float *dx, const float *dy, const int64_t *idx,
                            const cuk_pool_dims *d);

cudaError_t cuk_softmax_fwd(cudaStream_t s, float *y, const float *x, int64_t outer, int64_t len,
                            int64_t inner, int log_out);
cudaError_t cuk_softmax_bwd(cudaStream_t s, float *dx, const float *dy, const float *y,
                            int64_t outer, int64_t len, int64_t inner, int log_out);

/* (N, C, HW) <-> (N, HW, C) for 4-byte elements. */
cudaError_t cuk_nchw_nhwc(cudaStream_t s, float *dst, const float *src, int64_t n, int64_t c,
                          int64_t hw, int to_nhwc);
/* dst (N, HW, cc) = channels [c0, c0 + cc) of src (N, xc, HW), forward only. */
cudaError_t cuk_nchw_nhwc_range(cudaStream_t s, float *dst, const float *src, int64_t n, int64_t xc,
                                int64_t c0, int64_t cc, int64_t hw);

cudaError_t cuk_l2norm_fwd(cudaStream_t s, float *y, const float *x, const float *scale, int64_t n,
                           int64_t c, int64_t hw, double eps);
/* rs: scratch of N*HW floats (1 / (|x| + eps) per pixel); dx, dscale may be NULL. */
cudaError_t cuk_l2norm_bwd(cudaStream_t s, float *dx, float *dscale, float *rs, const float *dy,
                           const float *x, const float *scale, int64_t n, int64_t c, int64_t hw,
                           double eps);

cudaError_t cuk_sgd(cudaStream_t s, float *w, const float *g, float *buf, int64_t n, float lr,
                    float momentum, float wd, int first);

/* 16-bit operands of cuDNN convolutions (cuda_half.cu). type: CUK_BF16 or CUK_F16.
 * cuk_to16: dst = round(src * *scale) (scale NULL: 1). cuk_from16: y (N, C, HW) =
 * act(src / *scale + b[c]) (b, scale may be NULL), rounded to bfloat16 again when round_bf16.
 * cuk_grad_scale: *scale = the power of two bringing max |x| to (16, 32] (1 when x is all
 * zero or not finite); amax is 4 bytes of scratch. */
enum { CUK_BF16 = 1, CUK_F16 = 2 };
cudaError_t cuk_to16(cudaStream_t s, void *dst, const float *src, int64_t n, int type,
                     const float *scale);
cudaError_t cuk_from16(cudaStream_t s, float *y, const void *src, const float *b, int64_t n,
                       int64_t c, int64_t hw, int act, int type, int round_bf16,
                       const float *scale);
cudaError_t cuk_grad_scale(cudaStream_t s, float *scale, unsigned *amax, const float *x, int64_t n);

/* The multibox loss (cuda_loss.cu): conf (N,K,C), loc and gt (N,K,4), labels (N,K) in [0, C)
 * -> dconf, dloc (both may be NULL) and, in scratch (cuk_multibox_loss_scratch bytes, 8-byte
 * aligned), the regression and classification losses as two doubles at offset 0 and, at
 * offset 16, the smallest index of a prior whose label is outside [0, C) (all ones if none) as
 * an unsigned 64-bit integer. */
size_t cuk_multibox_loss_scratch(int n, int k);
cudaError_t cuk_multibox_loss(cudaStream_t s, float *dconf, float *dloc, void *scratch,
                              const float *conf, const float *loc, const int64_t *labels,
                              const float *gt, int n, int k, int c, int ratio);

#ifdef __cplusplus
}
#endif

#endif
