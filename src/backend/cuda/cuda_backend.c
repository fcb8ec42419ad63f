/* The CUDA backend's vtable, its life cycle and the caching allocator. */
#include "backend/cuda/cuda_impl.h"

#include "core/mem.h"

#include <stdio.h>
#include <string.h>

ssd_status ssd_cuda_err(cudaError_t e, const char *what, const char *file, int line) {
    return ssd_error_set(SSD_E_BACKEND, "cuda: %s: %s (%s:%d)", what, cudaGetErrorString(e), file,
                         line);
}

ssd_status ssd_cudnn_err(cudnnStatus_t e, const char *what, const char *file, int line) {
    return ssd_error_set(SSD_E_BACKEND, "cudnn: %s: %s (%s:%d)", what, cudnnGetErrorString(e), file,
                         line);
}

int ssd_cuda_device_count(void) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        (void)cudaGetLastError(); /* no driver / no device is an answer, not a sticky error */
        return 0;
    }
    return n;
}

const char *ssd_cuda_describe(char *buf, size_t n) {
    int rt = 0, drv = 0;
    cudaRuntimeGetVersion(&rt);
    cudaDriverGetVersion(&drv);
    size_t cudnn = cudnnGetVersion();
    int off = snprintf(buf, n, "built (runtime %d.%d, cuDNN %zu.%zu.%zu)", rt / 1000,
                       rt % 1000 / 10, cudnn / 10000, cudnn % 10000 / 100, cudnn % 100);
    if (off < 0 || (size_t)off >= n) return buf;
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) { /* say why: a too-old driver reads as "no device" */
        (void)cudaGetLastError();
        snprintf(buf + off, n - (size_t)off, ", no device%s%s%s", drv ? "" : " (no driver)",
                 e != cudaSuccess ? ": " : "", e != cudaSuccess ? cudaGetErrorString(e) : "");
        return buf;
    }
    struct cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
        (void)cudaGetLastError();
        snprintf(buf + off, n - (size_t)off, ", %d device(s)", count);
        return buf;
    }
    snprintf(buf + off, n - (size_t)off, ", driver %d.%d, %d device(s): %s (sm_%d%d, %.1f GiB)",
             drv / 1000, drv % 1000 / 10, count, prop.name, prop.major, prop.minor,
             (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
    return buf;
}

/* ---- caching allocator ---- */

static size_t round_size(size_t bytes) {
    if (bytes == 0) bytes = 1;
    const size_t q = bytes < ((size_t)1 << 20) ? 512 : ((size_t)1 << 20);
    return (bytes + q - 1) / q * q;
}

static void pool_release_cached(cuda_impl *ci) {
    /* a cached block may still be in use by queued work (the pool hands blocks back at once);
     * cudaFree is documented as synchronising only "in most cases" */
    if (ci->pool.nfree > 0) {
        if (ci->stream) cudaStreamSynchronize(ci->stream);
        if (ci->copy) cudaStreamSynchronize(ci->copy);
    }
    for (int i = 0; i < ci->pool.nfree; i++) cudaFree(ci->pool.free[i].p);
    ci->pool.nfree = 0;
    ci->pool.cached = 0;
}

void ssd_cuda_pool_trim(cuda_impl *ci) {
    pool_release_cached(ci);
}

ssd_status ssd_cuda_pool_alloc(cuda_impl *ci, size_t bytes, void **p, size_t *cap) {
    cuda_pool *pl = &ci->pool;
    const size_t need = round_size(bytes);
    int best = -1;
    for (int i = 0; i < pl->nfree; i++) {
        size_t s = pl->free[i].size;
        if (s >= need && s / 2 <= need && (best < 0 || s < pl->free[best].size)) best = i;
    }
    if (best >= 0) {
        *p = pl->free[best].p;
        *cap = pl->free[best].size;
        pl->cached -= *cap;
        pl->free[best] = pl->free[--pl->nfree];
        pl->in_use += *cap;
        return SSD_OK;
    }
    void *d = NULL;
    cudaError_t e = cudaMalloc(&d, need);
    if (e == cudaErrorMemoryAllocation && pl->nfree > 0) {
        (void)cudaGetLastError();
        pool_release_cached(ci); /* it waits for the streams: fine on this rare path */
        e = cudaMalloc(&d, need);
    }
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return ssd_error_set(e == cudaErrorMemoryAllocation ? SSD_E_NOMEM : SSD_E_BACKEND,
                             "cuda: cudaMalloc(%zu bytes): %s (%zu bytes in use)", need,
                             cudaGetErrorString(e), pl->in_use);
    }
    pl->mallocs++;
    pl->in_use += need;
    *p = d;
    *cap = need;
    return SSD_OK;
}

/* Work queued on the stream may still use the block: it is handed out again only
 * to work queued later on the same stream, which runs after it. */
void ssd_cuda_pool_free(cuda_impl *ci, void *p, size_t cap) {
    if (!p) return;
    cuda_pool *pl = &ci->pool;
    pl->in_use -= cap <= pl->in_use ? cap : pl->in_use;
    if (pl->nfree == pl->capfree) {
        int nc = pl->capfree ? 2 * pl->capfree : 64;
        cuda_block *nb = ssd_realloc(pl->free, (size_t)nc * sizeof *nb);
        if (!nb) { /* cannot cache it: give it back to the driver */
            cudaFree(p);
            return;
        }
        pl->free = nb;
        pl->capfree = nc;
    }
    pl->free[pl->nfree++] = (cuda_block){p, cap};
    pl->cached += cap;
}

ssd_status ssd_cuda_workspace(cuda_impl *ci, size_t bytes) {
    if (bytes <= ci->ws_cap) return SSD_OK;
    ssd_cuda_pool_free(ci, ci->ws, ci->ws_cap);
    ci->ws = NULL;
    ci->ws_cap = 0;
    return ssd_cuda_pool_alloc(ci, bytes, &ci->ws, &ci->ws_cap);
}

size_t ssd_cuda_pool_bytes(const ssd_backend *be) {
    const cuda_impl *ci = be->impl;
    return ci->pool.in_use + ci->pool.cached;
}

long ssd_cuda_malloc_count(const ssd_backend *be) {
    return ((const cuda_impl *)be->impl)->pool.mallocs;
}

ssd_status ssd_cuda_sync(ssd_backend *be) {
    CU_TRY(cudaStreamSynchronize(cuda_of(be)->stream));
    return SSD_OK;
}

/* ---- vtable ---- */

static bool act_ok(int a) {
    return a >= SSD_ACT_NONE && a <= SSD_ACT_RELU6;
}

static bool cuda_supports(ssd_backend *be, ssd_op op, ssd_dtype dt, const void *params) {
    (void)be;
    if (dt == SSD_BF16) return op == SSD_OP_CONV2D;
    if (dt != SSD_F32) return false;
    switch (op) {
    case SSD_OP_CONV2D: /* bf16 inference convs too (cuDNN's bfloat16 convolutions) */
        return !params || act_ok((int)((const ssd_conv2d_params *)params)->act);
    case SSD_OP_BATCHNORM: /* no use_saved recompute yet */
        return !params || (act_ok((int)((const ssd_bn_params *)params)->act) &&
                           !((const ssd_bn_params *)params)->use_saved);
    case SSD_OP_ACT: /* hardswish / hardsigmoid as the act op only, not fused */
        return !params || (unsigned)((const ssd_act_params *)params)->kind <= SSD_ACT_HARDSIGMOID;
    case SSD_OP_GAP:
    case SSD_OP_SCALE:
        return true;
    case SSD_OP_MAXPOOL:
    case SSD_OP_ADD:
    case SSD_OP_CONCAT:
    case SSD_OP_SOFTMAX:
    case SSD_OP_L2NORM:
    case SSD_OP_HEAD_PERMUTE:
        return true;
    default: /* ops added to the interface after this backend was written */
        return false;
    }
}

static ssd_status cuda_set_precision(ssd_backend *be, ssd_precision prec) {
    cuda_impl *ci = cuda_of(be);
    if ((unsigned)prec > SSD_PREC_FP16)
        return ssd_error_set(SSD_E_INVAL, "cuda: unknown precision %d", (int)prec);
    if (prec != ci->prec) ssd_cuda_conv_cache_clear(ci); /* algorithms depend on the math mode */
    ci->prec = prec;
    return SSD_OK;
}

static void cuda_destroy(ssd_backend *be) {
    if (!be) return;
    cuda_impl *ci = be->impl;
    if (ci) {
        ssd_cuda_upload_release(ci);
        if (ci->stream) cudaStreamSynchronize(ci->stream);
        ssd_cuda_conv_cache_clear(ci);
        ssd_free(ci->convs);
        ssd_cuda_pool_free(ci, ci->ws, ci->ws_cap);
        pool_release_cached(ci);
        ssd_free(ci->pool.free);
        if (ci->dnn) cudnnDestroy(ci->dnn);
        if (ci->stream) cudaStreamDestroy(ci->stream);
        ssd_free(ci);
    }
    ssd_free(be);
}

const ssd_backend_ops ssd_cuda_ops = {
    .name = "cuda",
    .device_memory = true,
    .supports = cuda_supports,
    .alloc = ssd_cuda_alloc,
    .free_storage = ssd_cuda_free,
    .set = ssd_cuda_set,
    .get = ssd_cuda_get,
    .fill = ssd_cuda_fill,
    .to_plain = ssd_cuda_to_plain,
    .conv2d_fwd = ssd_cuda_conv2d_fwd,
    /* the same kernel: it reads p->prec (the nn layers take conv2d_fwd only when there is no
     * conv2d_infer, and then ask for float32: without this, --precision bf16 ran float32) */
    .conv2d_infer = ssd_cuda_conv2d_fwd,
    .conv2d_bwd_data = ssd_cuda_conv2d_bwd_data,
    .conv2d_bwd_weights = ssd_cuda_conv2d_bwd_weights,
    .bn_fwd = ssd_cuda_bn_fwd,
    .bn_bwd = ssd_cuda_bn_bwd,
    .act_fwd = ssd_cuda_act_fwd,
    .act_bwd = ssd_cuda_act_bwd,
    .maxpool_fwd = ssd_cuda_maxpool_fwd,
    .maxpool_bwd = ssd_cuda_maxpool_bwd,
    .add = ssd_cuda_add,
    .concat_fwd = ssd_cuda_concat_fwd,
    .concat_bwd = ssd_cuda_concat_bwd,
    .softmax_fwd = ssd_cuda_softmax_fwd,
    .softmax_bwd = ssd_cuda_softmax_bwd,
    .head_permute_fwd = ssd_cuda_head_permute_fwd,
    .head_permute_bwd = ssd_cuda_head_permute_bwd,
    .l2norm_fwd = ssd_cuda_l2norm_fwd,
    .l2norm_bwd = ssd_cuda_l2norm_bwd,
    .sgd_update = ssd_cuda_sgd_update,
    .set_precision = cuda_set_precision,
    .destroy = cuda_destroy,
    .gap_fwd = ssd_cuda_gap_fwd,
    .gap_bwd = ssd_cuda_gap_bwd,
    .scale_fwd = ssd_cuda_scale_fwd,
    .scale_bwd = ssd_cuda_scale_bwd,
    .multibox_loss = ssd_cuda_multibox_loss,
    .host_alloc = ssd_cuda_host_alloc,
    .host_free = ssd_cuda_host_free,
    .upload = ssd_cuda_upload,
};

ssd_status ssd_backend_cuda_create(ssd_backend **out) {
    *out = NULL;
    if (ssd_cuda_device_count() < 1)
        return ssd_error_set(SSD_E_UNSUPPORTED, "cuda: no CUDA device (or no driver) is present");
    ssd_backend *be = ssd_calloc(1, sizeof *be);
    cuda_impl *ci = ssd_calloc(1, sizeof *ci);
    if (!be || !ci) {
        ssd_free(be);
        ssd_free(ci);
        return ssd_error_prefix(SSD_E_NOMEM, "cuda backend");
    }
    be->ops = &ssd_cuda_ops;
    be->threads = 1;
    be->impl = ci;
    ci->device = 0;
    ci->prec = SSD_PREC_FP32;
    ssd_status st = SSD_OK;
    cudaError_t e = cudaSetDevice(ci->device);
    if (e == cudaSuccess) e = cudaStreamCreateWithFlags(&ci->stream, cudaStreamNonBlocking);
    if (e != cudaSuccess) st = ssd_cuda_err(e, "creating the stream", __FILE__, __LINE__);
    if (st == SSD_OK) {
        cudnnStatus_t d = cudnnCreate(&ci->dnn);
        if (d == CUDNN_STATUS_SUCCESS) d = cudnnSetStream(ci->dnn, ci->stream);
        if (d != CUDNN_STATUS_SUCCESS) st = ssd_cudnn_err(d, "cudnnCreate", __FILE__, __LINE__);
    }
    if (st != SSD_OK) {
        cuda_destroy(be);
        return st;
    }
    *out = be;
    return SSD_OK;
}
