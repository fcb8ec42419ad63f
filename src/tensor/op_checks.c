/* Argument checks and output shapes that every backend's ops share: the
 * geometry is the op's, not the backend's, so one piece of code decides what
 * is valid and says what is wrong. */
#include "tensor/backend.h"

#include <stdio.h>

int ssd_axis_index(int axis, int ndim) {
    if (axis < 0) axis += ndim;
    return axis >= 0 && axis < ndim ? axis : -1;
}

ssd_status ssd_check_plain_storage(const ssd_tensor *t, const char *op, const char *name,
                                   int ndim) {
    char buf[96];
    if (ndim >= 0 && t->ndim != ndim)
        return ssd_error_set(SSD_E_INVAL, "%s: %s has shape %s, expected %d dims", op, name,
                             ssd_tensor_shape_str(t, buf, sizeof buf), ndim);
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] < 0)
            return ssd_error_set(SSD_E_INVAL, "%s: %s has a negative dim in %s", op, name,
                                 ssd_tensor_shape_str(t, buf, sizeof buf));
    if (!t->data || t->cap < ssd_tensor_nbytes(t))
        return ssd_error_set(SSD_E_INVAL, "%s: %s %s has no storage for its shape", op, name,
                             ssd_tensor_shape_str(t, buf, sizeof buf));
    return SSD_OK;
}

ssd_status ssd_pool_out_dims(const char *op, const ssd_tensor *x, const ssd_pool_params *p,
                             int64_t *ho, int64_t *wo) {
    for (int i = 0; i < 2; i++) /* PyTorch's limit: a window must always hold an input element. */
        if (p->kernel[i] < 1 || p->stride[i] < 1 || p->pad[i] < 0 || p->pad[i] > p->kernel[i] / 2)
            return ssd_error_set(SSD_E_INVAL,
                                 "%s: bad params (kernel %dx%d, stride %dx%d, pad %dx%d; pad must "
                                 "be at most half the kernel)",
                                 op, p->kernel[0], p->kernel[1], p->stride[0], p->stride[1],
                                 p->pad[0], p->pad[1]);
    *ho = ssd_pool_out_size(x->shape[2], p->kernel[0], p->stride[0], p->pad[0], p->ceil_mode);
    *wo = ssd_pool_out_size(x->shape[3], p->kernel[1], p->stride[1], p->pad[1], p->ceil_mode);
    if (*ho < 1 || *wo < 1)
        return ssd_error_set(SSD_E_INVAL, "%s: input %lldx%lld too small for kernel %dx%d", op,
                             (long long)x->shape[2], (long long)x->shape[3], p->kernel[0],
                             p->kernel[1]);
    return SSD_OK;
}

ssd_status ssd_concat_out_shape(const char *op, const ssd_tensor *const *xs, int n, int axis,
                                int *ax, int64_t *shape) {
    *ax = ssd_axis_index(axis, xs[0]->ndim);
    if (*ax < 0)
        return ssd_error_set(SSD_E_INVAL, "%s: axis %d out of range for %d dims", op, axis,
                             xs[0]->ndim);
    for (int i = 0; i < xs[0]->ndim; i++) shape[i] = xs[0]->shape[i];
    shape[*ax] = 0;
    for (int k = 0; k < n; k++) {
        for (int i = 0; i < xs[0]->ndim; i++)
            if (i != *ax && xs[k]->shape[i] != xs[0]->shape[i]) {
                char a[96], b[96];
                return ssd_error_set(SSD_E_INVAL,
                                     "%s: xs[%d] %s does not match xs[0] %s off axis %d", op, k,
                                     ssd_tensor_shape_str(xs[k], a, sizeof a),
                                     ssd_tensor_shape_str(xs[0], b, sizeof b), *ax);
            }
        shape[*ax] += xs[k]->shape[*ax];
    }
    return SSD_OK;
}

ssd_status ssd_chan_dims(const char *op, const ssd_tensor *x, int64_t *nc, int64_t *hw,
                         int64_t *pooled) {
    *nc = x->shape[0] * x->shape[1];
    *hw = x->shape[2] * x->shape[3];
    if (*hw < 1) return ssd_error_set(SSD_E_INVAL, "%s: x has an empty H*W plane", op);
    pooled[0] = x->shape[0];
    pooled[1] = x->shape[1];
    pooled[2] = pooled[3] = 1;
    return SSD_OK;
}

ssd_status ssd_head_dims(const char *op, const ssd_tensor *x, const ssd_head_params *p,
                         bool backward, int64_t *c0, int64_t *cc, int64_t *yshape) {
    if (!p) return ssd_error_set(SSD_E_INVAL, "%s: params is NULL", op);
    *c0 = p->c ? p->c0 : 0;
    *cc = p->c ? p->c : x->shape[1];
    if ((!p->c && p->c0) || *c0 < 0 || *cc < 0 || *c0 + *cc > x->shape[1])
        return ssd_error_set(SSD_E_INVAL, "%s: channels [%d, %d) outside x's %lld", op, p->c0,
                             p->c0 + p->c, (long long)x->shape[1]);
    if (p->k < 1 || *cc % p->k)
        return ssd_error_set(SSD_E_INVAL, "%s: %lld channels are not a multiple of k = %d", op,
                             (long long)*cc, p->k);
    if (backward && p->c)
        return ssd_error_set(SSD_E_UNSUPPORTED, "%s: a channel range is forward only", op);
    yshape[0] = x->shape[0];
    yshape[1] = x->shape[2] * x->shape[3] * (*cc / p->k);
    yshape[2] = p->k;
    return SSD_OK;
}
