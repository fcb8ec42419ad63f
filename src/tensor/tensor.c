#include "tensor/tensor.h"

#include "tensor/backend.h"
#include "core/mem.h"

#include <stdio.h>
#include <string.h>

size_t ssd_dtype_size(ssd_dtype dt) {
    switch (dt) {
    case SSD_F32:
        return 4;
    case SSD_F64:
        return 8;
    case SSD_F16:
        return 2;
    case SSD_BF16:
        return 2;
    case SSD_I64:
        return 8;
    case SSD_I32:
        return 4;
    case SSD_U8:
        return 1;
    }
    return 0;
}

const char *ssd_dtype_name(ssd_dtype dt) {
    static const char *names[] = {"float32", "float64", "float16", "bfloat16",
                                  "int64",   "int32",   "uint8"};
    return (unsigned)dt < sizeof names / sizeof names[0] ? names[dt] : "?";
}

void ssd_tensor_init(ssd_tensor *t, ssd_backend *be, ssd_dtype dt, int ndim, const int64_t *shape) {
    memset(t, 0, sizeof *t);
    t->be = be;
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
}

void ssd_tensor_init4(ssd_tensor *t, ssd_backend *be, ssd_dtype dt, int64_t d0, int64_t d1,
                      int64_t d2, int64_t d3) {
    int64_t s[4] = {d0, d1, d2, d3};
    int n = 4;
    while (n > 0 && s[n - 1] == 0) n--;
    ssd_tensor_init(t, be, dt, n, s);
}

void ssd_tensor_ensure(ssd_tensor *t, ssd_backend *be, ssd_dtype dt, int ndim,
                       const int64_t *shape) {
    bool same = t->be == be && t->dtype == dt && t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (same) return;
    ssd_tensor_deinit(t);
    ssd_tensor_init(t, be, dt, ndim, shape);
}

void ssd_tensor_deinit(ssd_tensor *t) {
    if (!t) return;
    if (t->be && !t->view && (t->data || t->layout)) t->be->ops->free_storage(t->be, t);
    if (t->view) ssd_free(t->layout); /* a view owns its layout, not its data */
    t->data = NULL;
    t->layout = NULL;
    t->cap = 0;
}

void ssd_tensor_reshape(ssd_tensor *t, int ndim, const int64_t *shape) {
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
}

int64_t ssd_tensor_numel(const ssd_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

size_t ssd_tensor_nbytes(const ssd_tensor *t) {
    return (size_t)ssd_tensor_numel(t) * ssd_dtype_size(t->dtype);
}

bool ssd_tensor_same_shape(const ssd_tensor *a, const ssd_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

const char *ssd_tensor_shape_str(const ssd_tensor *t, char *buf, size_t n) {
    size_t off = 0;
    off += (size_t)snprintf(buf + off, n - off, "[");
    for (int i = 0; i < t->ndim && off < n; i++)
        off += (size_t)snprintf(buf + off, n - off, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    if (off < n) snprintf(buf + off, n - off, "]");
    return buf;
}

ssd_status ssd_tensor_alloc(ssd_tensor *t) {
    return ssd_tensor_prepare_plain(t, t->be, t->dtype, t->ndim, t->shape);
}

ssd_status ssd_tensor_set(ssd_tensor *t, const void *host, ssd_dtype dt) {
    ssd_status st = t->be->ops->set(t->be, t, host, dt);
    t->version++;
    return st;
}

ssd_status ssd_tensor_get(const ssd_tensor *t, void *host, ssd_dtype dt) {
    return t->be->ops->get(t->be, t, host, dt);
}

ssd_status ssd_tensor_fill(ssd_tensor *t, double v) {
    ssd_status st = t->be->ops->fill(t->be, t, v);
    t->version++;
    return st;
}

ssd_status ssd_tensor_to_plain(ssd_tensor *t) {
    if (!t->layout) return SSD_OK;
    return t->be->ops->to_plain(t->be, t);
}
