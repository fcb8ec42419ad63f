/* conv2d on cuDNN (NCHW float32). Descriptors and algorithms are made once
 * per configuration: the first call of each direction asks cuDNN to time its
 * algorithms (cudnnFind*, which may allocate on that first call only) and
 * keeps the fastest one allowed by the precision; every later call reuses it
 * with the backend's shared workspace. Bias and the fused activation are one
 * own kernel after the convolution. */
#include "backend/cuda/cuda_impl.h"

#include "core/mem.h"

#include <limits.h>
#include <string.h>

typedef struct {
    int64_t n, c, h, w, o, ho, wo;
    int kh, kw;
} conv_dims;

static ssd_status dims_of(conv_dims *d, const char *op, const ssd_tensor *x, const ssd_tensor *w,
                          const ssd_tensor *b, const ssd_conv2d_params *p) {
    if (!x || !p) return ssd_error_set(SSD_E_INVAL, "%s: x or params is NULL", op);
    SSD_TRY(ssd_cuda_check_in(x, op, "x", 4));
    SSD_TRY(ssd_cuda_check_in(w, op, "w", 4));
    if (p->groups < 1 || p->stride[0] < 1 || p->stride[1] < 1 || p->dilation[0] < 1 ||
        p->dilation[1] < 1 || p->pad[0] < 0 || p->pad[1] < 0)
        return ssd_error_set(SSD_E_INVAL,
                             "%s: bad params (groups %d, stride %dx%d, pad %dx%d, dilation %dx%d)",
                             op, p->groups, p->stride[0], p->stride[1], p->pad[0], p->pad[1],
                             p->dilation[0], p->dilation[1]);
    SSD_TRY(ssd_cuda_check_act((int)p->act, op));
    if (p->prec != SSD_CONV_F32)
        return ssd_error_set(SSD_E_UNSUPPORTED, "%s: bfloat16 convs are not on cuda yet", op);
    *d = (conv_dims){.n = x->shape[0],
                     .c = x->shape[1],
                     .h = x->shape[2],
                     .w = x->shape[3],
                     .o = w->shape[0],
                     .kh = (int)w->shape[2],
                     .kw = (int)w->shape[3]};
    if (d->c % p->groups || d->o % p->groups || w->shape[1] * p->groups != d->c)
        return ssd_error_set(SSD_E_INVAL,
                             "%s: x has %lld channels, w is (%lld, %lld, ., .) with groups %d", op,
                             (long long)d->c, (long long)d->o, (long long)w->shape[1], p->groups);
    if (d->kh < 1 || d->kw < 1)
        return ssd_error_set(SSD_E_INVAL, "%s: empty kernel %dx%d", op, d->kh, d->kw);
    if (b) {
        int64_t bs[1] = {d->o};
        SSD_TRY(ssd_cuda_check_shape(b, op, "b", 1, bs));
    }
    d->ho = ssd_conv_out_size(d->h, d->kh, p->stride[0], p->pad[0], p->dilation[0]);
    d->wo = ssd_conv_out_size(d->w, d->kw, p->stride[1], p->pad[1], p->dilation[1]);
    if (d->ho < 1 || d->wo < 1)
        return ssd_error_set(SSD_E_INVAL, "%s: input %lldx%lld too small for kernel %dx%d", op,
                             (long long)d->h, (long long)d->w, d->kh, d->kw);
    const int64_t big[] = {d->n, d->c, d->h, d->w, d->o};
    for (int i = 0; i < 5; i++)
        if (big[i] > INT_MAX || big[i] < 1)
            return ssd_error_set(SSD_E_INVAL, "%s: dimension %lld is outside cuDNN's range", op,
                                 (long long)big[i]);
    return SSD_OK;
}

static cudnnMathType_t base_math(ssd_precision prec) {
    /* cuDNN's default math allows TF32 tensor cores for float32 on Ampere and later;
     * FMA math keeps float32 exact as the CPU backends and PyTorch's defaults. */
    return prec == SSD_PREC_TF32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
}

static bool math_ok(cudnnMathType_t m, ssd_precision prec) {
    if (m == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) return false; /* would round to fp16 */
    if (prec == SSD_PREC_FP32) return m == CUDNN_FMA_MATH || m == CUDNN_DEFAULT_MATH;
    return true;
}

/* The math type to run a chosen algorithm with: fp32 stays on FMA whatever the search said. */
static cudnnMathType_t run_math(cudnnMathType_t found, ssd_precision prec) {
    return prec == SSD_PREC_FP32 ? CUDNN_FMA_MATH : found;
}

static void conv_destroy(cuda_conv *cv) {
    if (cv->xd) cudnnDestroyTensorDescriptor(cv->xd);
    if (cv->yd) cudnnDestroyTensorDescriptor(cv->yd);
    if (cv->wd) cudnnDestroyFilterDescriptor(cv->wd);
    if (cv->cd) cudnnDestroyConvolutionDescriptor(cv->cd);
    memset(cv, 0, sizeof *cv);
}

void ssd_cuda_conv_cache_clear(cuda_impl *ci) {
    for (int i = 0; i < ci->nconvs; i++) conv_destroy(&ci->convs[i]);
    ci->nconvs = 0;
}

static ssd_status conv_make(cuda_conv *cv, const conv_dims *d, const ssd_conv2d_params *p,
                            ssd_precision prec) {
    DNN_TRY(cudnnCreateTensorDescriptor(&cv->xd));
    DNN_TRY(cudnnCreateTensorDescriptor(&cv->yd));
    DNN_TRY(cudnnCreateFilterDescriptor(&cv->wd));
    DNN_TRY(cudnnCreateConvolutionDescriptor(&cv->cd));
    DNN_TRY(cudnnSetTensor4dDescriptor(cv->xd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, (int)d->n,
                                       (int)d->c, (int)d->h, (int)d->w));
    DNN_TRY(cudnnSetFilter4dDescriptor(cv->wd, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, (int)d->o,
                                       (int)(d->c / p->groups), d->kh, d->kw));
    DNN_TRY(cudnnSetConvolution2dDescriptor(cv->cd, p->pad[0], p->pad[1], p->stride[0],
                                            p->stride[1], p->dilation[0], p->dilation[1],
                                            CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    DNN_TRY(cudnnSetConvolutionGroupCount(cv->cd, p->groups));
    DNN_TRY(cudnnSetConvolutionMathType(cv->cd, base_math(prec)));
    int on, oc, oh, ow;
    DNN_TRY(cudnnGetConvolution2dForwardOutputDim(cv->cd, cv->xd, cv->wd, &on, &oc, &oh, &ow));
    if (on != d->n || oc != d->o || oh != d->ho || ow != d->wo)
        return ssd_error_set(
            SSD_E_BACKEND, "cudnn: output %dx%dx%dx%d differs from PyTorch's %lldx%lldx%lldx%lld",
            on, oc, oh, ow, (long long)d->n, (long long)d->o, (long long)d->ho, (long long)d->wo);
    DNN_TRY(
        cudnnSetTensor4dDescriptor(cv->yd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, on, oc, oh, ow));
    return SSD_OK;
}

static ssd_status conv_get(cuda_impl *ci, const conv_dims *d, const ssd_conv2d_params *p,
                           cuda_conv **out) {
    int key[15] = {(int)d->n, (int)d->c,      (int)d->h,      (int)d->w,    (int)d->o,
                   d->kh,     d->kw,          p->stride[0],   p->stride[1], p->pad[0],
                   p->pad[1], p->dilation[0], p->dilation[1], p->groups,    (int)ci->prec};
    for (int i = 0; i < ci->nconvs; i++)
        if (memcmp(ci->convs[i].key, key, sizeof key) == 0) {
            *out = &ci->convs[i];
            return SSD_OK;
        }
    if (ci->nconvs == ci->capconvs) {
        int nc = ci->capconvs ? 2 * ci->capconvs : 32;
        cuda_conv *n = ssd_realloc(ci->convs, (size_t)nc * sizeof *n);
        if (!n) return ssd_error_prefix(SSD_E_NOMEM, "cuda conv cache");
        ci->convs = n;
        ci->capconvs = nc;
    }
    cuda_conv *cv = &ci->convs[ci->nconvs];
    memset(cv, 0, sizeof *cv);
    memcpy(cv->key, key, sizeof key);
    ssd_status st = conv_make(cv, d, p, ci->prec);
    if (st != SSD_OK) {
        conv_destroy(cv);
        return st;
    }
    ci->nconvs++;
    *out = cv;
    return SSD_OK;
}

/* The largest workspace a searched algorithm may ask for: the fastest (FFT
 * ones) can want gigabytes that a later, fuller pool cannot give. */
#define CUDA_WS_MAX ((size_t)1 << 30)

/* st = call, a cuDNN algorithm search; the search allocates its own buffers,
 * so a failure is retried once after the pool gives its cached blocks back. */
#define SEARCH(ci, st, call)                                                                       \
    do {                                                                                           \
        (st) = (call);                                                                             \
        if ((st) != CUDNN_STATUS_SUCCESS) {                                                        \
            ssd_cuda_pool_trim(ci);                                                                \
            (st) = (call);                                                                         \
        }                                                                                          \
    } while (0)

static ssd_status pick_fwd(cuda_impl *ci, cuda_conv *cv) {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int got = 0;
    DNN_TRY(cudnnSetConvolutionMathType(cv->cd, base_math(ci->prec)));
    cudnnStatus_t fs;
    SEARCH(ci, fs,
           cudnnFindConvolutionForwardAlgorithm(ci->dnn, cv->xd, cv->wd, cv->cd, cv->yd,
                                                CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &got, perf));
    DNN_TRY(fs);
    cv->fwd = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM; /* always supported */
    cv->fwd_math = base_math(ci->prec);
    for (int i = 0; i < got; i++)
        if (perf[i].status == CUDNN_STATUS_SUCCESS && math_ok(perf[i].mathType, ci->prec) &&
            perf[i].memory <= CUDA_WS_MAX) {
            cv->fwd = perf[i].algo;
            cv->fwd_math = run_math(perf[i].mathType, ci->prec);
            break;
        }
    DNN_TRY(cudnnSetConvolutionMathType(cv->cd, cv->fwd_math));
    DNN_TRY(cudnnGetConvolutionForwardWorkspaceSize(ci->dnn, cv->xd, cv->wd, cv->cd, cv->yd,
                                                    cv->fwd, &cv->fwd_ws));
    cv->have_fwd = true;
    return SSD_OK;
}

static ssd_status pick_bd(cuda_impl *ci, cuda_conv *cv) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int got = 0;
    DNN_TRY(cudnnSetConvolutionMathType(cv->cd, base_math(ci->prec)));
    cudnnStatus_t fs;
    SEARCH(ci, fs,
           cudnnFindConvolutionBackwardDataAlgorithm(ci->dnn, cv->wd, cv->yd, cv->cd, cv->xd,
                                                     CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &got,
                                                     perf));
    DNN_TRY(fs);
    cv->bd = CUDNN_CONVOLUTION_BWD_DATA_ALGO_0;
    cv->bd_math = base_math(ci->prec);
    for (int i = 0; i < got; i++)
        if (perf[i].status == CUDNN_STATUS_SUCCESS && math_ok(perf[i].mathType, ci->prec) &&
            perf[i].memory <= CUDA_WS_MAX) {
            cv->bd = perf[i].algo;
            cv->bd_math = run_math(perf[i].mathType, ci->prec);
            break;
        }
    DNN_TRY(cudnnSetConvolutionMathType(cv->cd, cv->bd_math));
    DNN_TRY(cudnnGetConvolutionBackwardDataWorkspaceSize(ci->dnn, cv->wd, cv->yd, cv->cd, cv->xd,
                                                         cv->bd, &cv->bd_ws));
    cv->have_bd = true;
    return SSD_OK;
}

static ssd_status pick_bf(cuda_impl *ci, cuda_conv *cv) {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int got = 0;
    DNN_TRY(cudnnSetConvolutionMathType(cv->cd, base_math(ci->prec)));
    cudnnStatus_t fs;
    SEARCH(ci, fs,
           cudnnFindConvolutionBackwardFilterAlgorithm(ci->dnn, cv->xd, cv->yd, cv->cd, cv->wd,
                                                       CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT,
                                                       &got, perf));
    DNN_TRY(fs);
    cv->bf = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0;
    cv->bf_math = base_math(ci->prec);
    for (int i = 0; i < got; i++)
        if (perf[i].status == CUDNN_STATUS_SUCCESS && math_ok(perf[i].mathType, ci->prec) &&
            perf[i].memory <= CUDA_WS_MAX) {
            cv->bf = perf[i].algo;
            cv->bf_math = run_math(perf[i].mathType, ci->prec);
            break;
        }
    DNN_TRY(cudnnSetConvolutionMathType(cv->cd, cv->bf_math));
    DNN_TRY(cudnnGetConvolutionBackwardFilterWorkspaceSize(ci->dnn, cv->xd, cv->yd, cv->cd, cv->wd,
                                                           cv->bf, &cv->bf_ws));
    cv->have_bf = true;
    return SSD_OK;
}

static const float one = 1.0f, zero = 0.0f;

ssd_status ssd_cuda_conv2d_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                               const ssd_tensor *w, const ssd_tensor *b,
                               const ssd_conv2d_params *p) {
    const char *op = "conv2d_fwd";
    cuda_impl *ci = cuda_of(be);
    conv_dims d;
    SSD_TRY(dims_of(&d, op, x, w, b, p));
    SSD_TRY(ssd_cuda_check_out(y, op, "y"));
    SSD_TRY(ssd_cuda_check_distinct(y, x, op, "y", "x"));
    SSD_TRY(ssd_cuda_check_distinct(y, w, op, "y", "w"));
    if (b) SSD_TRY(ssd_cuda_check_distinct(y, b, op, "y", "b"));
    cuda_conv *cv;
    SSD_TRY(conv_get(ci, &d, p, &cv));
    if (!cv->have_fwd) SSD_TRY(pick_fwd(ci, cv));
    SSD_TRY(ssd_cuda_workspace(ci, cv->fwd_ws));
    int64_t ys[4] = {d.n, d.o, d.ho, d.wo};
    SSD_TRY(ssd_cuda_prepare_out(y, be, SSD_F32, 4, ys));
    DNN_TRY(cudnnSetConvolutionMathType(cv->cd, cv->fwd_math));
    cudnnStatus_t ds =
        cudnnConvolutionForward(ci->dnn, &one, cv->xd, x->data, cv->wd, w->data, cv->cd, cv->fwd,
                                ci->ws, cv->fwd_ws, &zero, cv->yd, y->data);
    if (CUDNN_STATUS_CATEGORY(ds) == CUDNN_STATUS_NOT_SUPPORTED &&
        cv->fwd != CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM) {
        /* The search's pick refused the math type it runs with: fall back for good. */
        cv->fwd = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
        DNN_TRY(cudnnGetConvolutionForwardWorkspaceSize(ci->dnn, cv->xd, cv->wd, cv->cd, cv->yd,
                                                        cv->fwd, &cv->fwd_ws));
        SSD_TRY(ssd_cuda_workspace(ci, cv->fwd_ws));
        ds = cudnnConvolutionForward(ci->dnn, &one, cv->xd, x->data, cv->wd, w->data, cv->cd,
                                     cv->fwd, ci->ws, cv->fwd_ws, &zero, cv->yd, y->data);
    }
    DNN_TRY(ds);
    CU_TRY(
        cuk_bias_act(ci->stream, y->data, b ? b->data : NULL, d.n, d.o, d.ho * d.wo, (int)p->act));
    return SSD_OK;
}

ssd_status ssd_cuda_conv2d_bwd_data(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                                    const ssd_tensor *x, const ssd_tensor *w,
                                    const ssd_conv2d_params *p) {
    const char *op = "conv2d_bwd_data";
    cuda_impl *ci = cuda_of(be);
    conv_dims d;
    SSD_TRY(dims_of(&d, op, x, w, NULL, p));
    int64_t ys[4] = {d.n, d.o, d.ho, d.wo};
    SSD_TRY(ssd_cuda_check_shape(dy, op, "dy", 4, ys));
    SSD_TRY(ssd_cuda_check_out(dx, op, "dx"));
    SSD_TRY(ssd_cuda_check_distinct(dx, dy, op, "dx", "dy"));
    SSD_TRY(ssd_cuda_check_distinct(dx, w, op, "dx", "w"));
    cuda_conv *cv;
    SSD_TRY(conv_get(ci, &d, p, &cv));
    if (!cv->have_bd) SSD_TRY(pick_bd(ci, cv));
    SSD_TRY(ssd_cuda_workspace(ci, cv->bd_ws));
    SSD_TRY(ssd_cuda_prepare_out(dx, be, SSD_F32, 4, x->shape));
    DNN_TRY(cudnnSetConvolutionMathType(cv->cd, cv->bd_math));
    cudnnStatus_t ds =
        cudnnConvolutionBackwardData(ci->dnn, &one, cv->wd, w->data, cv->yd, dy->data, cv->cd,
                                     cv->bd, ci->ws, cv->bd_ws, &zero, cv->xd, dx->data);
    if (CUDNN_STATUS_CATEGORY(ds) == CUDNN_STATUS_NOT_SUPPORTED &&
        cv->bd != CUDNN_CONVOLUTION_BWD_DATA_ALGO_0) {
        cv->bd = CUDNN_CONVOLUTION_BWD_DATA_ALGO_0;
        DNN_TRY(cudnnGetConvolutionBackwardDataWorkspaceSize(ci->dnn, cv->wd, cv->yd, cv->cd,
                                                             cv->xd, cv->bd, &cv->bd_ws));
        SSD_TRY(ssd_cuda_workspace(ci, cv->bd_ws));
        ds = cudnnConvolutionBackwardData(ci->dnn, &one, cv->wd, w->data, cv->yd, dy->data, cv->cd,
                                          cv->bd, ci->ws, cv->bd_ws, &zero, cv->xd, dx->data);
    }
    DNN_TRY(ds);
    return SSD_OK;
}

ssd_status ssd_cuda_conv2d_bwd_weights(ssd_backend *be, ssd_tensor *dw, ssd_tensor *db,
                                       const ssd_tensor *dy, const ssd_tensor *x,
                                       const ssd_tensor *w, const ssd_conv2d_params *p) {
    const char *op = "conv2d_bwd_weights";
    cuda_impl *ci = cuda_of(be);
    conv_dims d;
    SSD_TRY(dims_of(&d, op, x, w, NULL, p));
    int64_t ys[4] = {d.n, d.o, d.ho, d.wo}, bs[1] = {d.o};
    SSD_TRY(ssd_cuda_check_shape(dy, op, "dy", 4, ys));
    SSD_TRY(ssd_cuda_check_out(dw, op, "dw"));
    SSD_TRY(ssd_cuda_check_distinct(dw, dy, op, "dw", "dy"));
    SSD_TRY(ssd_cuda_check_distinct(dw, x, op, "dw", "x"));
    SSD_TRY(ssd_cuda_check_distinct(dw, w, op, "dw", "w"));
    cuda_conv *cv;
    SSD_TRY(conv_get(ci, &d, p, &cv));
    if (!cv->have_bf) SSD_TRY(pick_bf(ci, cv));
    SSD_TRY(ssd_cuda_workspace(ci, cv->bf_ws));
    SSD_TRY(ssd_cuda_prepare_out(dw, be, SSD_F32, 4, w->shape));
    if (db) SSD_TRY(ssd_cuda_prepare_out(db, be, SSD_F32, 1, bs));
    DNN_TRY(cudnnSetConvolutionMathType(cv->cd, cv->bf_math));
    cudnnStatus_t ds =
        cudnnConvolutionBackwardFilter(ci->dnn, &one, cv->xd, x->data, cv->yd, dy->data, cv->cd,
                                       cv->bf, ci->ws, cv->bf_ws, &zero, cv->wd, dw->data);
    if (CUDNN_STATUS_CATEGORY(ds) == CUDNN_STATUS_NOT_SUPPORTED &&
        cv->bf != CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0) {
        cv->bf = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0;
        DNN_TRY(cudnnGetConvolutionBackwardFilterWorkspaceSize(ci->dnn, cv->xd, cv->yd, cv->cd,
                                                               cv->wd, cv->bf, &cv->bf_ws));
        SSD_TRY(ssd_cuda_workspace(ci, cv->bf_ws));
        ds =
            cudnnConvolutionBackwardFilter(ci->dnn, &one, cv->xd, x->data, cv->yd, dy->data, cv->cd,
                                           cv->bf, ci->ws, cv->bf_ws, &zero, cv->wd, dw->data);
    }
    DNN_TRY(ds);
    if (db) CU_TRY(cuk_channel_sum(ci->stream, db->data, dy->data, d.n, d.o, d.ho * d.wo));
    return SSD_OK;
}
