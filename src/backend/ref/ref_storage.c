/* Storage for host backends that keep tensors plain row-major in host memory
 * (the reference backend; the cpu backend reuses these for plain tensors). */
#include "backend/ref/ref.h"

#include "core/mem.h"
#include "tensor/convert.h"

#include <string.h>

ssd_status ssd_host_alloc(ssd_backend *be, ssd_tensor *t, size_t bytes) {
    (void)be;
    void *p = ssd_aligned_alloc(bytes);
    if (!p) return SSD_E_NOMEM;
    t->data = p;
    t->cap = (bytes + 63) & ~(size_t)63;
    return SSD_OK;
}

void ssd_host_free(ssd_backend *be, ssd_tensor *t) {
    (void)be;
    ssd_free(t->data);
    t->data = NULL;
    t->cap = 0;
}

ssd_status ssd_host_set(ssd_backend *be, ssd_tensor *t, const void *host, ssd_dtype dt) {
    if (t->layout || !t->data || t->cap < ssd_tensor_nbytes(t))
        SSD_TRY(ssd_tensor_prepare_plain(t, be, t->dtype, t->ndim, t->shape));
    return ssd_convert(t->data, t->dtype, host, dt, (size_t)ssd_tensor_numel(t));
}

ssd_status ssd_host_get(ssd_backend *be, const ssd_tensor *t, void *host, ssd_dtype dt) {
    (void)be;
    if (t->layout) return ssd_error_set(SSD_E_INVAL, "host get: tensor has a private layout");
    if (!t->data) return ssd_error_set(SSD_E_INVAL, "get: tensor has no storage");
    return ssd_convert(host, dt, t->data, t->dtype, (size_t)ssd_tensor_numel(t));
}

ssd_status ssd_host_fill(ssd_backend *be, ssd_tensor *t, double v) {
    if (t->layout || !t->data || t->cap < ssd_tensor_nbytes(t))
        SSD_TRY(ssd_tensor_prepare_plain(t, be, t->dtype, t->ndim, t->shape));
    size_t n = (size_t)ssd_tensor_numel(t);
    if (t->dtype == SSD_F32) {
        float *p = t->data;
        for (size_t i = 0; i < n; i++) p[i] = (float)v;
    } else if (t->dtype == SSD_F64) {
        double *p = t->data;
        for (size_t i = 0; i < n; i++) p[i] = v;
    } else {
        for (size_t i = 0; i < n; i++)
            ssd_convert((char *)t->data + i * ssd_dtype_size(t->dtype), t->dtype, &v, SSD_F64, 1);
    }
    return SSD_OK;
}
