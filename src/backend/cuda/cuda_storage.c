/* Device storage: plain row-major tensors in pool blocks; host copies convert
 * dtypes on the host side of the transfer. Batches come in through page-locked
 * host memory and an upload stream of their own. */
#include "backend/cuda/cuda_impl.h"

#include "core/mem.h"
#include "tensor/convert.h"

#include <string.h>

ssd_status ssd_cuda_alloc(ssd_backend *be, ssd_tensor *t, size_t bytes) {
    cuda_impl *ci = cuda_of(be);
    void *p;
    size_t cap;
    SSD_TRY(ssd_cuda_pool_alloc(ci, bytes, &p, &cap));
    cudaError_t e = cudaMemsetAsync(p, 0, cap, ci->stream);
    if (e != cudaSuccess) {
        ssd_cuda_pool_free(ci, p, cap);
        return ssd_cuda_err(e, "zeroing new storage", __FILE__, __LINE__);
    }
    t->data = p;
    t->cap = cap;
    t->layout = NULL;
    return SSD_OK;
}

void ssd_cuda_free(ssd_backend *be, ssd_tensor *t) {
    ssd_cuda_pool_free(cuda_of(be), t->data, t->cap);
    t->data = NULL;
    t->cap = 0;
    t->layout = NULL;
}

/* *fresh (may be NULL): whether the storage was (re)allocated. */
static ssd_status ensure_storage(ssd_backend *be, ssd_tensor *t, bool *fresh) {
    const bool need = t->be != be || t->layout || !t->data || t->cap < ssd_tensor_nbytes(t);
    if (fresh) *fresh = need;
    if (need) SSD_TRY(ssd_tensor_prepare_plain(t, be, t->dtype, t->ndim, t->shape));
    return SSD_OK;
}

ssd_status ssd_cuda_set(ssd_backend *be, ssd_tensor *t, const void *host, ssd_dtype dt) {
    cuda_impl *ci = cuda_of(be);
    SSD_TRY(ensure_storage(be, t, NULL));
    const size_t n = (size_t)ssd_tensor_numel(t), bytes = ssd_tensor_nbytes(t);
    if (n == 0) return SSD_OK;
    if (dt == t->dtype) {
        /* From pageable memory the call returns once `host` has been staged, so the
         * caller may reuse it at once; the kernels after it on the stream see the data.
         * From page-locked memory (host_alloc's) the copy is asynchronous: wait for it, as
         * set promises (upload is the call that does not wait). */
        CU_TRY(cudaMemcpyAsync(t->data, host, bytes, cudaMemcpyHostToDevice, ci->stream));
        struct cudaPointerAttributes a;
        if (cudaPointerGetAttributes(&a, host) == cudaSuccess && a.type == cudaMemoryTypeHost)
            CU_TRY(cudaStreamSynchronize(ci->stream));
        else
            (void)cudaGetLastError();
        return SSD_OK;
    }
    void *tmp = ssd_malloc(bytes);
    if (!tmp) return ssd_error_prefix(SSD_E_NOMEM, "cuda set");
    ssd_status st = ssd_convert(tmp, t->dtype, host, dt, n);
    if (st == SSD_OK) {
        cudaError_t e = cudaMemcpyAsync(t->data, tmp, bytes, cudaMemcpyHostToDevice, ci->stream);
        if (e != cudaSuccess) st = ssd_cuda_err(e, "cudaMemcpyAsync", __FILE__, __LINE__);
    }
    ssd_free(tmp);
    return st;
}

ssd_status ssd_cuda_get(ssd_backend *be, const ssd_tensor *t, void *host, ssd_dtype dt) {
    cuda_impl *ci = cuda_of(be);
    if (t->be != be) return ssd_error_set(SSD_E_INVAL, "cuda get: tensor of another backend");
    if (t->layout) return ssd_error_set(SSD_E_INVAL, "cuda get: tensor has a private layout");
    if (!t->data || t->cap < ssd_tensor_nbytes(t))
        return ssd_error_set(SSD_E_INVAL, "cuda get: tensor has no storage for its shape");
    const size_t n = (size_t)ssd_tensor_numel(t), bytes = ssd_tensor_nbytes(t);
    if (n == 0) return SSD_OK;
    void *dst = host, *tmp = NULL;
    if (dt != t->dtype) {
        dst = tmp = ssd_malloc(bytes);
        if (!tmp) return ssd_error_prefix(SSD_E_NOMEM, "cuda get");
    }
    ssd_status st = SSD_OK;
    cudaError_t e = cudaMemcpyAsync(dst, t->data, bytes, cudaMemcpyDeviceToHost, ci->stream);
    /* The synchronisation also reports a failure of any kernel queued before. */
    if (e == cudaSuccess) e = cudaStreamSynchronize(ci->stream);
    if (e != cudaSuccess) st = ssd_cuda_err(e, "copying a tensor to the host", __FILE__, __LINE__);
    if (st == SSD_OK && tmp) st = ssd_convert(host, dt, tmp, t->dtype, n);
    ssd_free(tmp);
    return st;
}

ssd_status ssd_cuda_fill(ssd_backend *be, ssd_tensor *t, double v) {
    cuda_impl *ci = cuda_of(be);
    SSD_TRY(ensure_storage(be, t, NULL));
    const size_t n = (size_t)ssd_tensor_numel(t);
    if (n == 0) return SSD_OK;
    if (v == 0.0) {
        CU_TRY(cudaMemsetAsync(t->data, 0, ssd_tensor_nbytes(t), ci->stream));
        return SSD_OK;
    }
    if (t->dtype == SSD_F32) {
        CU_TRY(cuk_fill_f32(ci->stream, t->data, (int64_t)n, (float)v));
        return SSD_OK;
    }
    /* Other dtypes are rare (int64 buffers): fill on the host and copy. */
    const size_t es = ssd_dtype_size(t->dtype);
    char *tmp = ssd_malloc(n * es);
    if (!tmp) return ssd_error_prefix(SSD_E_NOMEM, "cuda fill");
    ssd_status st = ssd_convert(tmp, t->dtype, &v, SSD_F64, 1);
    for (size_t i = 1; st == SSD_OK && i < n; i++) memcpy(tmp + i * es, tmp, es);
    if (st == SSD_OK) {
        cudaError_t e = cudaMemcpyAsync(t->data, tmp, n * es, cudaMemcpyHostToDevice, ci->stream);
        if (e != cudaSuccess) st = ssd_cuda_err(e, "cudaMemcpyAsync", __FILE__, __LINE__);
    }
    ssd_free(tmp);
    return st;
}

ssd_status ssd_cuda_to_plain(ssd_backend *be, ssd_tensor *t) {
    (void)be;
    if (!t->layout) return SSD_OK;
    return ssd_error_set(SSD_E_INVAL, "cuda: tensor has another backend's private layout");
}

/* Page-locked memory, so copies from it are DMA transfers that need not wait for the host.
 * Where the driver refuses (limits, no device memory mapping), ordinary memory still works:
 * the copies are then staged and slower. */
void *ssd_cuda_host_alloc(ssd_backend *be, size_t bytes) {
    (void)be;
    void *p = NULL;
    if (cudaHostAlloc(&p, bytes ? bytes : 1, cudaHostAllocPortable) == cudaSuccess) {
        memset(p, 0, bytes);
        return p;
    }
    (void)cudaGetLastError(); /* not sticky: clear it for the next call's check */
    return ssd_aligned_alloc(bytes);
}

void ssd_cuda_host_free(ssd_backend *be, void *p) {
    (void)be;
    if (!p) return;
    struct cudaPointerAttributes a;
    if (cudaPointerGetAttributes(&a, p) == cudaSuccess && a.type == cudaMemoryTypeHost) {
        cudaFreeHost(p);
        return;
    }
    (void)cudaGetLastError();
    ssd_free(p);
}

ssd_status ssd_cuda_upload(ssd_backend *be, ssd_tensor *t, const void *host) {
    cuda_impl *ci = cuda_of(be);
    bool fresh;
    SSD_TRY(ensure_storage(be, t, &fresh));
    const size_t bytes = ssd_tensor_nbytes(t);
    if (bytes == 0) return SSD_OK;
    if (!ci->copy) { /* all three or none, so a failure is retried by the next upload */
        cudaStream_t cs = NULL;
        cudaEvent_t a = NULL, b = NULL;
        cudaError_t e = cudaStreamCreateWithFlags(&cs, cudaStreamNonBlocking);
        if (e == cudaSuccess) e = cudaEventCreateWithFlags(&a, cudaEventDisableTiming);
        if (e == cudaSuccess) e = cudaEventCreateWithFlags(&b, cudaEventDisableTiming);
        if (e != cudaSuccess) {
            if (b) cudaEventDestroy(b);
            if (a) cudaEventDestroy(a);
            if (cs) cudaStreamDestroy(cs);
            return ssd_cuda_err(e, "creating the upload stream", __FILE__, __LINE__);
        }
        ci->copy = cs;
        ci->copied = a;
        ci->fresh = b;
    }
    if (fresh) {
        /* New storage: zeroed on the compute stream, and the pool may have handed out a block
         * that queued kernels still use; the copy waits for all of that. */
        CU_TRY(cudaEventRecord(ci->fresh, ci->stream));
        CU_TRY(cudaStreamWaitEvent(ci->copy, ci->fresh, 0));
    }
    CU_TRY(cudaMemcpyAsync(t->data, host, bytes, cudaMemcpyHostToDevice, ci->copy));
    CU_TRY(cudaEventRecord(ci->copied, ci->copy));
    CU_TRY(cudaStreamWaitEvent(ci->stream, ci->copied, 0));
    return SSD_OK;
}

void ssd_cuda_upload_release(cuda_impl *ci) {
    if (!ci->copy) return;
    cudaStreamSynchronize(ci->copy);
    cudaEventDestroy(ci->copied);
    cudaEventDestroy(ci->fresh);
    cudaStreamDestroy(ci->copy);
    ci->copy = NULL;
}
