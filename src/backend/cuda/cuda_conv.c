/* conv2d on cuDNN (NCHW float32). Descriptors and algorithms are made once
 * per configuration: the first call of each direction asks cuDNN to time its
 * algorithms (cudnnFind*, which may allocate on that first call only) and
 * keeps the fastest one allowed by the precision; every later call reuses it
 * with the backend's shared workspace. Bias and the fused activation are one
 * own kernel after the convolution.
 *
 * 16-bit convs, as PyTorch's autocast runs them (only convolutions in 16 bits,
 * batch norm, losses and weights float32): --precision bf16 runs all three
 * directions on bfloat16 operands; fp16 runs forward and backward-data on
 * fp16 (the gradient scaled by a power of two, cuda_half.cu) and the weight
 * gradient, a sum over the whole batch that could exceed fp16's range, on
 * TF32. A bf16 inference conv (ssd_conv2d_params.prec) runs on bfloat16 under
 * any backend precision. Operands are rounded into pool scratch per call;
 * the results come back as float32 with the bias and activation added. */
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
    if (p->prec != SSD_CONV_F32 && p->prec != SSD_CONV_BF16 && p->prec != SSD_CONV_BF16_Y)
        return ssd_error_set(SSD_E_INVAL, "%s: unknown conv precision %d", op, (int)p->prec);
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
    /* the 4-D descriptors hold strides as int: past 2^31 - 1 elements cuDNN answers only
     * BAD_PARAM (vgg16-ssd's first conv at batch 512: 2.9e9) */
    const double nx = (double)d->n * (double)d->c * (double)d->h * (double)d->w,
                 ny = (double)d->n * (double)d->o * (double)d->ho * (double)d->wo;
    if (nx > INT_MAX || ny > INT_MAX)
        return ssd_error_set(SSD_E_INVAL,
                             "%s: %.0f input and %.0f output elements, past cuDNN's 2^31 - 1: "
                             "use a smaller batch",
                             op, nx, ny);
    return SSD_OK;
}

static cudnnMathType_t base_math(ssd_precision prec) {
    /* cuDNN's default math allows tensor cores (TF32 for float32 operands) on Ampere and
     * later; FMA math keeps float32 exact as the CPU backends and PyTorch's defaults. */
    return prec == SSD_PREC_FP32 ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH;
}

/* The math type a configuration searches with: 16-bit operands need TENSOR_OP_MATH for
 * cuDNN's legacy API to consider its tensor-core kernels at all. */
static cudnnMathType_t conv_math(const cuda_conv *cv) {
    return cv->type ? CUDNN_TENSOR_OP_MATH : base_math(cv->mp);
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

static cudnnDataType_t dnn_type(int type) {
    return type == CUK_BF16  ? CUDNN_DATA_BFLOAT16
           : type == CUK_F16 ? CUDNN_DATA_HALF
                             : CUDNN_DATA_FLOAT;
}

static ssd_status conv_make(cuda_conv *cv, const conv_dims *d, const ssd_conv2d_params *p) {
    const cudnnDataType_t dt = dnn_type(cv->type);
    DNN_TRY(cudnnCreateTensorDescriptor(&cv->xd));
    DNN_TRY(cudnnCreateTensorDescriptor(&cv->yd));
    DNN_TRY(cudnnCreateFilterDescriptor(&cv->wd));
    DNN_TRY(cudnnCreateConvolutionDescriptor(&cv->cd));
    DNN_TRY(cudnnSetTensor4dDescriptor(cv->xd, CUDNN_TENSOR_NCHW, dt, (int)d->n, (int)d->c,
                                       (int)d->h, (int)d->w));
    DNN_TRY(cudnnSetFilter4dDescriptor(cv->wd, dt, CUDNN_TENSOR_NCHW, (int)d->o,
                                       (int)(d->c / p->groups), d->kh, d->kw));
    DNN_TRY(cudnnSetConvolution2dDescriptor(cv->cd, p->pad[0], p->pad[1], p->stride[0],
                                            p->stride[1], p->dilation[0], p->dilation[1],
                                            CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    DNN_TRY(cudnnSetConvolutionGroupCount(cv->cd, p->groups));
    DNN_TRY(cudnnSetConvolutionMathType(cv->cd, conv_math(cv)));
    int on, oc, oh, ow;
    DNN_TRY(cudnnGetConvolution2dForwardOutputDim(cv->cd, cv->xd, cv->wd, &on, &oc, &oh, &ow));
    if (on != d->n || oc != d->o || oh != d->ho || ow != d->wo)
        return ssd_error_set(
            SSD_E_BACKEND, "cudnn: output %dx%dx%dx%d differs from PyTorch's %lldx%lldx%lldx%lld",
            on, oc, oh, ow, (long long)d->n, (long long)d->o, (long long)d->ho, (long long)d->wo);
    DNN_TRY(cudnnSetTensor4dDescriptor(cv->yd, CUDNN_TENSOR_NCHW, dt, on, oc, oh, ow));
    return SSD_OK;
}

static ssd_status conv_get(cuda_impl *ci, const conv_dims *d, const ssd_conv2d_params *p, int type,
                           ssd_precision mp, cuda_conv **out) {
    int key[16] = {(int)d->n,      (int)d->c,    (int)d->h,    (int)d->w, (int)d->o, d->kh,
                   d->kw,          p->stride[0], p->stride[1], p->pad[0], p->pad[1], p->dilation[0],
                   p->dilation[1], p->groups,    (int)mp,      type};
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
    cv->type = type;
    cv->mp = mp;
    ssd_status st = conv_make(cv, d, p);
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
    DNN_TRY(cudnnSetConvolutionMathType(cv->cd, conv_math(cv)));
    cudnnStatus_t fs;
    SEARCH(ci, fs,
           cudnnFindConvolutionForwardAlgorithm(ci->dnn, cv->xd, cv->wd, cv->cd, cv->yd,
                                                CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &got, perf));
    DNN_TRY(fs);
    cv->fwd = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM; /* always supported */
    cv->fwd_math = conv_math(cv);
    for (int i = 0; i < got; i++)
        if (perf[i].status == CUDNN_STATUS_SUCCESS && math_ok(perf[i].mathType, cv->mp) &&
            perf[i].memory <= CUDA_WS_MAX) {
            cv->fwd = perf[i].algo;
            cv->fwd_math = run_math(perf[i].mathType, cv->mp);
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
    DNN_TRY(cudnnSetConvolutionMathType(cv->cd, conv_math(cv)));
    cudnnStatus_t fs;
    SEARCH(ci, fs,
           cudnnFindConvolutionBackwardDataAlgorithm(ci->dnn, cv->wd, cv->yd, cv->cd, cv->xd,
                                                     CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &got,
                                                     perf));
    DNN_TRY(fs);
    cv->bd = CUDNN_CONVOLUTION_BWD_DATA_ALGO_0;
    cv->bd_math = conv_math(cv);
    for (int i = 0; i < got; i++)
        if (perf[i].status == CUDNN_STATUS_SUCCESS && math_ok(perf[i].mathType, cv->mp) &&
            perf[i].memory <= CUDA_WS_MAX) {
            cv->bd = perf[i].algo;
            cv->bd_math = run_math(perf[i].mathType, cv->mp);
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
    DNN_TRY(cudnnSetConvolutionMathType(cv->cd, conv_math(cv)));
    cudnnStatus_t fs;
    SEARCH(ci, fs,
           cudnnFindConvolutionBackwardFilterAlgorithm(ci->dnn, cv->xd, cv->yd, cv->cd, cv->wd,
                                                       CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT,
                                                       &got, perf));
    DNN_TRY(fs);
    cv->bf = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0;
    cv->bf_math = conv_math(cv);
    for (int i = 0; i < got; i++)
        if (perf[i].status == CUDNN_STATUS_SUCCESS && math_ok(perf[i].mathType, cv->mp) &&
            perf[i].memory <= CUDA_WS_MAX) {
            cv->bf = perf[i].algo;
            cv->bf_math = run_math(perf[i].mathType, cv->mp);
            break;
        }
    DNN_TRY(cudnnSetConvolutionMathType(cv->cd, cv->bf_math));
    DNN_TRY(cudnnGetConvolutionBackwardFilterWorkspaceSize(ci->dnn, cv->xd, cv->yd, cv->cd, cv->wd,
                                                           cv->bf, &cv->bf_ws));
    cv->have_bf = true;
    return SSD_OK;
}

static const float one = 1.0f, zero = 0.0f;

/* The operands' type per direction: the backend's precision (fp16's weight gradient stays
 * float32, on TF32), or a bf16 inference conv's. cuDNN stores y in the operands' type, so a
 * BF16 conv (y float32, read by other ops than convs: the heads) runs on TF32 instead, which
 * its contract permits: operands rounded to 11 bits rather than 8, y not rounded. */
static int fwd_type(const cuda_impl *ci, const ssd_conv2d_params *p) {
    if (p->prec == SSD_CONV_BF16_Y) return CUK_BF16;
    if (p->prec == SSD_CONV_BF16) return 0;
    return ci->prec == SSD_PREC_BF16 ? CUK_BF16 : ci->prec == SSD_PREC_FP16 ? CUK_F16 : 0;
}

/* The precision a configuration's math follows: 16-bit operands, else the backend's (TF32 for
 * a BF16 inference conv). */
static ssd_precision math_prec(const cuda_impl *ci, const ssd_conv2d_params *p, int type) {
    if (type) return SSD_PREC_BF16;
    return p->prec == SSD_CONV_BF16 && ci->prec == SSD_PREC_FP32 ? SSD_PREC_TF32 : ci->prec;
}

static int bf_type(const cuda_impl *ci) {
    return ci->prec == SSD_PREC_BF16 ? CUK_BF16 : 0;
}

/* Runs expr only while st is still SSD_OK, and keeps its failure in st. */
#define CU_ST(st, expr)                                                                            \
    do {                                                                                           \
        if ((st) == SSD_OK) {                                                                      \
            cudaError_t cu_e_ = (expr);                                                            \
            if (cu_e_ != cudaSuccess) (st) = ssd_cuda_err(cu_e_, #expr, __FILE__, __LINE__);       \
        }                                                                                          \
    } while (0)

/* Pool scratch for one call's 16-bit operands; stream-ordered, so it may be put back as soon
 * as the kernels that use it are queued. */
typedef struct {
    void *p;
    size_t cap;
} scratch;

static ssd_status scratch_get(cuda_impl *ci, scratch *s, int64_t elems, size_t size) {
    return ssd_cuda_pool_alloc(ci, elems > 0 ? (size_t)elems * size : size, &s->p, &s->cap);
}

static void scratch_put(cuda_impl *ci, scratch *s, int n) {
    for (int i = 0; i < n; i++)
        if (s[i].p) ssd_cuda_pool_free(ci, s[i].p, s[i].cap);
}

/* Each direction runs the searched algorithm; where cuDNN then refuses the math type it
 * runs with, it falls back for good to the algorithm that is always supported. */
static ssd_status fwd_call(cuda_impl *ci, cuda_conv *cv, const void *x, const void *w, void *y) {
    SSD_TRY(ssd_cuda_workspace(ci, cv->fwd_ws));
    DNN_TRY(cudnnSetConvolutionMathType(cv->cd, cv->fwd_math));
    cudnnStatus_t ds = cudnnConvolutionForward(ci->dnn, &one, cv->xd, x, cv->wd, w, cv->cd, cv->fwd,
                                               ci->ws, cv->fwd_ws, &zero, cv->yd, y);
    if (CUDNN_STATUS_CATEGORY(ds) == CUDNN_STATUS_NOT_SUPPORTED &&
        cv->fwd != CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM) {
        cv->fwd = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
        DNN_TRY(cudnnGetConvolutionForwardWorkspaceSize(ci->dnn, cv->xd, cv->wd, cv->cd, cv->yd,
                                                        cv->fwd, &cv->fwd_ws));
        SSD_TRY(ssd_cuda_workspace(ci, cv->fwd_ws));
        ds = cudnnConvolutionForward(ci->dnn, &one, cv->xd, x, cv->wd, w, cv->cd, cv->fwd, ci->ws,
                                     cv->fwd_ws, &zero, cv->yd, y);
    }
    DNN_TRY(ds);
    return SSD_OK;
}

static ssd_status bd_call(cuda_impl *ci, cuda_conv *cv, const void *w, const void *dy, void *dx) {
    SSD_TRY(ssd_cuda_workspace(ci, cv->bd_ws));
    DNN_TRY(cudnnSetConvolutionMathType(cv->cd, cv->bd_math));
    cudnnStatus_t ds = cudnnConvolutionBackwardData(ci->dnn, &one, cv->wd, w, cv->yd, dy, cv->cd,
                                                    cv->bd, ci->ws, cv->bd_ws, &zero, cv->xd, dx);
    if (CUDNN_STATUS_CATEGORY(ds) == CUDNN_STATUS_NOT_SUPPORTED &&
        cv->bd != CUDNN_CONVOLUTION_BWD_DATA_ALGO_0) {
        cv->bd = CUDNN_CONVOLUTION_BWD_DATA_ALGO_0;
        DNN_TRY(cudnnGetConvolutionBackwardDataWorkspaceSize(ci->dnn, cv->wd, cv->yd, cv->cd,
                                                             cv->xd, cv->bd, &cv->bd_ws));
        SSD_TRY(ssd_cuda_workspace(ci, cv->bd_ws));
        ds = cudnnConvolutionBackwardData(ci->dnn, &one, cv->wd, w, cv->yd, dy, cv->cd, cv->bd,
                                          ci->ws, cv->bd_ws, &zero, cv->xd, dx);
    }
    DNN_TRY(ds);
    return SSD_OK;
}

static ssd_status bf_call(cuda_impl *ci, cuda_conv *cv, const void *x, const void *dy, void *dw) {
    SSD_TRY(ssd_cuda_workspace(ci, cv->bf_ws));
    DNN_TRY(cudnnSetConvolutionMathType(cv->cd, cv->bf_math));
    cudnnStatus_t ds = cudnnConvolutionBackwardFilter(ci->dnn, &one, cv->xd, x, cv->yd, dy, cv->cd,
                                                      cv->bf, ci->ws, cv->bf_ws, &zero, cv->wd, dw);
    if (CUDNN_STATUS_CATEGORY(ds) == CUDNN_STATUS_NOT_SUPPORTED &&
        cv->bf != CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0) {
        cv->bf = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0;
        DNN_TRY(cudnnGetConvolutionBackwardFilterWorkspaceSize(ci->dnn, cv->xd, cv->yd, cv->cd,
                                                               cv->wd, cv->bf, &cv->bf_ws));
        SSD_TRY(ssd_cuda_workspace(ci, cv->bf_ws));
        ds = cudnnConvolutionBackwardFilter(ci->dnn, &one, cv->xd, x, cv->yd, dy, cv->cd, cv->bf,
                                            ci->ws, cv->bf_ws, &zero, cv->wd, dw);
    }
    DNN_TRY(ds);
    return SSD_OK;
}

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
    const int type = fwd_type(ci, p);
    cuda_conv *cv;
    SSD_TRY(conv_get(ci, &d, p, type, math_prec(ci, p, type), &cv));
    if (!cv->have_fwd) SSD_TRY(pick_fwd(ci, cv));
    int64_t ys[4] = {d.n, d.o, d.ho, d.wo};
    SSD_TRY(ssd_cuda_prepare_out(y, be, SSD_F32, 4, ys));
    const float *bias = b ? b->data : NULL;
    if (!type) {
        SSD_TRY(fwd_call(ci, cv, x->data, w->data, y->data));
        CU_TRY(cuk_bias_act(ci->stream, y->data, bias, d.n, d.o, d.ho * d.wo, (int)p->act));
        return SSD_OK;
    }
    scratch s[3] = {{0}};
    const int64_t nx = ssd_tensor_numel(x), nw = ssd_tensor_numel(w), ny = ssd_tensor_numel(y);
    ssd_status st = scratch_get(ci, &s[0], nx, 2);
    if (st == SSD_OK) st = scratch_get(ci, &s[1], nw, 2);
    if (st == SSD_OK) st = scratch_get(ci, &s[2], ny, 2);
    if (st == SSD_OK) {
        CU_ST(st, cuk_to16(ci->stream, s[0].p, x->data, nx, type, NULL));
        CU_ST(st, cuk_to16(ci->stream, s[1].p, w->data, nw, type, NULL));
    }
    if (st == SSD_OK) st = fwd_call(ci, cv, s[0].p, s[1].p, s[2].p);
    CU_ST(st, cuk_from16(ci->stream, y->data, s[2].p, bias, d.n, d.o, d.ho * d.wo, (int)p->act,
                         type, p->prec == SSD_CONV_BF16_Y, NULL));
    scratch_put(ci, s, 3);
    return st;
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
    const int type = fwd_type(ci, p);
    cuda_conv *cv;
    SSD_TRY(conv_get(ci, &d, p, type, math_prec(ci, p, type), &cv));
    if (!cv->have_bd) SSD_TRY(pick_bd(ci, cv));
    SSD_TRY(ssd_cuda_prepare_out(dx, be, SSD_F32, 4, x->shape));
    if (!type) return bd_call(ci, cv, w->data, dy->data, dx->data);
    /* s[3]: fp16's gradient scale (a float) and 4 bytes of scratch for it */
    scratch s[4] = {{0}};
    const int64_t ndy = ssd_tensor_numel(dy), nw = ssd_tensor_numel(w), nx = ssd_tensor_numel(x);
    const bool scaled = type == CUK_F16;
    ssd_status st = scratch_get(ci, &s[0], ndy, 2);
    if (st == SSD_OK) st = scratch_get(ci, &s[1], nw, 2);
    if (st == SSD_OK) st = scratch_get(ci, &s[2], nx, 2);
    if (st == SSD_OK && scaled) st = scratch_get(ci, &s[3], 2, sizeof(float));
    float *scale = scaled && s[3].p ? s[3].p : NULL;
    if (st == SSD_OK && scaled)
        CU_ST(st, cuk_grad_scale(ci->stream, scale, (unsigned *)(scale + 1), dy->data, ndy));
    if (st == SSD_OK) {
        CU_ST(st, cuk_to16(ci->stream, s[0].p, dy->data, ndy, type, scale));
        CU_ST(st, cuk_to16(ci->stream, s[1].p, w->data, nw, type, NULL));
    }
    if (st == SSD_OK) st = bd_call(ci, cv, s[1].p, s[0].p, s[2].p);
    CU_ST(st, cuk_from16(ci->stream, dx->data, s[2].p, NULL, 1, 1, nx, 0, type, 0, scale));
    scratch_put(ci, s, 4);
    return st;
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
    const int type = p->prec != SSD_CONV_F32 ? CUK_BF16 : bf_type(ci);
    cuda_conv *cv;
    SSD_TRY(conv_get(ci, &d, p, type, math_prec(ci, p, type), &cv));
    if (!cv->have_bf) SSD_TRY(pick_bf(ci, cv));
    SSD_TRY(ssd_cuda_prepare_out(dw, be, SSD_F32, 4, w->shape));
    if (db) SSD_TRY(ssd_cuda_prepare_out(db, be, SSD_F32, 1, bs));
    ssd_status st = SSD_OK;
    if (!type) {
        st = bf_call(ci, cv, x->data, dy->data, dw->data);
    } else {
        scratch s[3] = {{0}};
        const int64_t nx = ssd_tensor_numel(x), ndy = ssd_tensor_numel(dy);
        const int64_t nw = ssd_tensor_numel(w);
        st = scratch_get(ci, &s[0], nx, 2);
        if (st == SSD_OK) st = scratch_get(ci, &s[1], ndy, 2);
        if (st == SSD_OK) st = scratch_get(ci, &s[2], nw, 2);
        if (st == SSD_OK) {
            CU_ST(st, cuk_to16(ci->stream, s[0].p, x->data, nx, type, NULL));
            CU_ST(st, cuk_to16(ci->stream, s[1].p, dy->data, ndy, type, NULL));
        }
        if (st == SSD_OK) st = bf_call(ci, cv, s[0].p, s[1].p, s[2].p);
        CU_ST(st, cuk_from16(ci->stream, dw->data, s[2].p, NULL, 1, 1, nw, 0, type, 0, NULL));
        scratch_put(ci, s, 3);
    }
    if (st == SSD_OK && db)
        CU_ST(st, cuk_channel_sum(ci->stream, db->data, dy->data, d.n, d.o, d.ho * d.wo));
    return st;
}
