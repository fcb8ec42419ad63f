/* Device storage: plain row-major tensors in pool blocks; host copies convert
 * dtypes on the host side of the transfer. */
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

static ssd_status ensure_storage(ssd_backend *be, ssd_tensor *t) {
    if (t->be != be || t->layout || !t->data || t->cap < ssd_tensor_nbytes(t))
        SSD_TRY(ssd_tensor_prepare_plain(t, be, t->dtype, t->ndim, t->shape));
    return SSD_OK;
}

ssd_status ssd_cuda_set(ssd_backend *be, ssd_tensor *t, const void *host, ssd_dtype dt) {
    cuda_impl *ci = cuda_of(be);
    SSD_TRY(ensure_storage(be, t));
    const size_t n = (size_t)ssd_tensor_numel(t), bytes = ssd_tensor_nbytes(t);
    if (n == 0) return SSD_OK;
    if (dt == t->dtype) {
        /* From pageable memory the call returns once `host` has been staged, so the
         * caller may reuse it at once; the kernels after it on the stream see the data. */
        CU_TRY(cudaMemcpyAsync(t->data, host, bytes, cudaMemcpyHostToDevice, ci->stream));
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
    SSD_TRY(ensure_storage(be, t));
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
