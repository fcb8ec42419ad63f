/* Internals of the CUDA backend shared by its host files: the backend state
 * (stream, cuDNN handle, caching allocator, convolution cache), status
 * translation and argument checks. */
#ifndef SSD_BACKEND_CUDA_IMPL_H
#define SSD_BACKEND_CUDA_IMPL_H

#include "backend/cuda/cuda.h"
#include "backend/cuda/cuda_kernels.h"

#include <cuda_runtime.h>
#include <cudnn.h>

typedef struct {
    void *p;
    size_t size;
} cuda_block;

/* Freed blocks are kept and handed out again for requests of up to their size
 * (and not less than half of it), so a training step that allocates the same
 * shapes every time calls cudaMalloc only in its first step. */
typedef struct {
    cuda_block *free;
    int nfree, capfree;
    size_t cached, in_use;
    long mallocs;
} cuda_pool;

/* One convolution configuration: descriptors and the algorithms cuDNN's search
 * chose for it, per direction, found on first use. `type` is the operands'
 * storage in cuDNN (0 float32, else CUK_BF16 / CUK_F16) and `mp` the
 * precision its math type follows (a 16-bit conv: tensor ops). */
typedef struct {
    int key[16];
    int type;
    ssd_precision mp;
    cudnnTensorDescriptor_t xd, yd;
    cudnnFilterDescriptor_t wd;
    cudnnConvolutionDescriptor_t cd;
    bool have_fwd, have_bd, have_bf;
    cudnnConvolutionFwdAlgo_t fwd;
    cudnnConvolutionBwdDataAlgo_t bd;
    cudnnConvolutionBwdFilterAlgo_t bf;
    cudnnMathType_t fwd_math, bd_math, bf_math;
    size_t fwd_ws, bd_ws, bf_ws;
} cuda_conv;

typedef struct {
    int device;
    cudaStream_t stream;
    cudnnHandle_t dnn;
    cuda_pool pool;
    void *ws; /* convolution workspace (a pool block), grown to the largest algorithm's need */
    size_t ws_cap;
    cuda_conv *convs;
    int nconvs, capconvs;
    ssd_precision prec;
    /* uploads (created on the first): their own stream, so a batch's copy runs beside the
     * previous step's kernels; `copied` orders the compute stream after each copy, `fresh`
     * the copy after the zeroing of storage just allocated on the compute stream */
    cudaStream_t copy;
    cudaEvent_t copied, fresh;
} cuda_impl;

extern const ssd_backend_ops ssd_cuda_ops;

static inline cuda_impl *cuda_of(ssd_backend *be) {
    return (cuda_impl *)be->impl;
}

/* Status translation at the boundary: the failing call, CUDA's words, where. */
ssd_status ssd_cuda_err(cudaError_t e, const char *what, const char *file, int line);
ssd_status ssd_cudnn_err(cudnnStatus_t e, const char *what, const char *file, int line);
#define CU_TRY(expr)                                                                               \
    do {                                                                                           \
        cudaError_t cu_e_ = (expr);                                                                \
        if (cu_e_ != cudaSuccess) return ssd_cuda_err(cu_e_, #expr, __FILE__, __LINE__);           \
    } while (0)
#define DNN_TRY(expr)                                                                              \
    do {                                                                                           \
        cudnnStatus_t dnn_e_ = (expr);                                                             \
        if (dnn_e_ != CUDNN_STATUS_SUCCESS)                                                        \
            return ssd_cudnn_err(dnn_e_, #expr, __FILE__, __LINE__);                               \
    } while (0)

/* Caching allocator (cuda_backend.c). */
ssd_status ssd_cuda_pool_alloc(cuda_impl *ci, size_t bytes, void **p, size_t *cap);
void ssd_cuda_pool_free(cuda_impl *ci, void *p, size_t cap);
/* Gives the pool's cached free blocks back to the driver (cudaFree synchronises). */
void ssd_cuda_pool_trim(cuda_impl *ci);
/* Grows the shared convolution workspace to at least `bytes`. */
ssd_status ssd_cuda_workspace(cuda_impl *ci, size_t bytes);

/* Storage ops (cuda_storage.c). */
ssd_status ssd_cuda_alloc(ssd_backend *be, ssd_tensor *t, size_t bytes);
void ssd_cuda_free(ssd_backend *be, ssd_tensor *t);
ssd_status ssd_cuda_set(ssd_backend *be, ssd_tensor *t, const void *host, ssd_dtype dt);
ssd_status ssd_cuda_get(ssd_backend *be, const ssd_tensor *t, void *host, ssd_dtype dt);
ssd_status ssd_cuda_fill(ssd_backend *be, ssd_tensor *t, double v);
ssd_status ssd_cuda_to_plain(ssd_backend *be, ssd_tensor *t);
void *ssd_cuda_host_alloc(ssd_backend *be, size_t bytes);
void ssd_cuda_host_free(ssd_backend *be, void *p);
ssd_status ssd_cuda_upload(ssd_backend *be, ssd_tensor *t, const void *host);
/* Waits for and releases the upload stream and events (backend teardown). */
void ssd_cuda_upload_release(cuda_impl *ci);

/* Checks shared by the ops (cuda_check.c): `t` is a float32 tensor of this
 * backend with storage for its shape (ndim -1: any), or an exact shape. */
ssd_status ssd_cuda_check_in(const ssd_tensor *t, const char *op, const char *name, int ndim);
ssd_status ssd_cuda_check_shape(const ssd_tensor *t, const char *op, const char *name, int ndim,
                                const int64_t *shape);
/* A fused activation (conv, BN): none, ReLU, ReLU6. */
ssd_status ssd_cuda_check_act(int act, const char *op);
/* The act op's kinds: those and hardswish, hardsigmoid. */
ssd_status ssd_cuda_check_act_op(int act, const char *op);
/* Prepares an output (plain, this backend) of dtype/shape and marks it written. */
ssd_status ssd_cuda_prepare_out(ssd_tensor *t, ssd_backend *be, ssd_dtype dt, int ndim,
                                const int64_t *shape);
ssd_status ssd_cuda_check_out(const ssd_tensor *t, const char *op, const char *name);
ssd_status ssd_cuda_check_distinct(const ssd_tensor *out, const ssd_tensor *in, const char *op,
                                   const char *out_name, const char *in_name);

/* The ops (signatures as in ssd_backend_ops). */
ssd_status ssd_cuda_conv2d_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                               const ssd_tensor *w, const ssd_tensor *b,
                               const ssd_conv2d_params *p);
ssd_status ssd_cuda_conv2d_bwd_data(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                                    const ssd_tensor *x, const ssd_tensor *w,
                                    const ssd_conv2d_params *p);
ssd_status ssd_cuda_conv2d_bwd_weights(ssd_backend *be, ssd_tensor *dw, ssd_tensor *db,
                                       const ssd_tensor *dy, const ssd_tensor *x,
                                       const ssd_tensor *w, const ssd_conv2d_params *p);
void ssd_cuda_conv_cache_clear(cuda_impl *ci);
ssd_status ssd_cuda_bn_fwd(ssd_backend *be, ssd_tensor *y, ssd_tensor *save_mean,
                           ssd_tensor *save_invstd, ssd_tensor *ws, const ssd_tensor *x,
                           const ssd_tensor *gamma, const ssd_tensor *beta,
                           ssd_tensor *running_mean, ssd_tensor *running_var,
                           const ssd_bn_params *p);
ssd_status ssd_cuda_bn_bwd(ssd_backend *be, ssd_tensor *dx, ssd_tensor *dgamma, ssd_tensor *dbeta,
                           const ssd_tensor *dy, const ssd_tensor *x, const ssd_tensor *y,
                           const ssd_tensor *ws, const ssd_tensor *gamma,
                           const ssd_tensor *save_mean, const ssd_tensor *save_invstd,
                           const ssd_tensor *running_var, const ssd_bn_params *p);
ssd_status ssd_cuda_act_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                            const ssd_act_params *p);
ssd_status ssd_cuda_act_bwd(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                            const ssd_tensor *x, const ssd_tensor *y, const ssd_act_params *p);
ssd_status ssd_cuda_gap_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x);
ssd_status ssd_cuda_gap_bwd(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                            const ssd_tensor *x);
ssd_status ssd_cuda_scale_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                              const ssd_tensor *s);
ssd_status ssd_cuda_scale_bwd(ssd_backend *be, ssd_tensor *dx, ssd_tensor *ds, const ssd_tensor *dy,
                              const ssd_tensor *x, const ssd_tensor *s);
ssd_status ssd_cuda_maxpool_fwd(ssd_backend *be, ssd_tensor *y, ssd_tensor *ws, const ssd_tensor *x,
                                const ssd_pool_params *p);
ssd_status ssd_cuda_maxpool_bwd(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                                const ssd_tensor *ws, const ssd_tensor *x,
                                const ssd_pool_params *p);
ssd_status ssd_cuda_add(ssd_backend *be, ssd_tensor *y, const ssd_tensor *a, const ssd_tensor *b);
ssd_status ssd_cuda_concat_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *const *xs, int n,
                               int axis);
ssd_status ssd_cuda_concat_bwd(ssd_backend *be, ssd_tensor *const *dxs, const ssd_tensor *dy,
                               const ssd_tensor *const *xs, int n, int axis);
ssd_status ssd_cuda_softmax_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                                const ssd_softmax_params *p);
ssd_status ssd_cuda_softmax_bwd(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                                const ssd_tensor *y, const ssd_softmax_params *p);
ssd_status ssd_cuda_head_permute_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                                     const ssd_head_params *p);
ssd_status ssd_cuda_head_permute_bwd(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                                     const ssd_tensor *x, const ssd_head_params *p);
ssd_status ssd_cuda_l2norm_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                               const ssd_tensor *scale, const ssd_l2norm_params *p);
ssd_status ssd_cuda_l2norm_bwd(ssd_backend *be, ssd_tensor *dx, ssd_tensor *dscale,
                               const ssd_tensor *dy, const ssd_tensor *x, const ssd_tensor *scale,
                               const ssd_l2norm_params *p);
ssd_status ssd_cuda_sgd_update(ssd_backend *be, ssd_tensor *w, const ssd_tensor *g, ssd_tensor *buf,
                               double lr, double momentum, double weight_decay, bool first);
ssd_status ssd_cuda_multibox_loss(ssd_backend *be, ssd_tensor *dconf, ssd_tensor *dloc,
                                  double out[2], const ssd_tensor *conf, const ssd_tensor *loc,
                                  const ssd_tensor *labels, const ssd_tensor *gt_loc,
                                  int neg_pos_ratio);

#endif
