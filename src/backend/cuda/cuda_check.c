/* Argument checks shared by the CUDA ops: device pointers cannot be checked
 * by a kernel, so every tensor is verified to belong to this backend and to
 * have storage for its shape before anything is queued. */
#include "backend/cuda/cuda_impl.h"

ssd_status ssd_cuda_check_in(const ssd_tensor *t, const char *op, const char *name, int ndim) {
    if (!t) return ssd_error_set(SSD_E_INVAL, "%s: %s is NULL", op, name);
    if (!t->be || t->be->ops != &ssd_cuda_ops)
        return ssd_error_set(SSD_E_INVAL, "%s: %s is a tensor of the %s backend, not cuda", op,
                             name, t->be ? t->be->ops->name : "(no)");
    if (t->layout) return ssd_error_set(SSD_E_INVAL, "%s: %s has a private layout", op, name);
    if (t->dtype != SSD_F32)
        return ssd_error_set(SSD_E_UNSUPPORTED,
                             "%s: %s is %s; the cuda backend computes in float32", op, name,
                             ssd_dtype_name(t->dtype));
    return ssd_check_plain_storage(t, op, name, ndim);
}

ssd_status ssd_cuda_check_shape(const ssd_tensor *t, const char *op, const char *name, int ndim,
                                const int64_t *shape) {
    SSD_TRY(ssd_cuda_check_in(t, op, name, -1));
    bool same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (same) return SSD_OK;
    ssd_tensor want = {.ndim = ndim};
    for (int i = 0; i < ndim; i++) want.shape[i] = shape[i];
    char a[96], b[96];
    return ssd_error_set(SSD_E_INVAL, "%s: %s has shape %s, expected %s", op, name,
                         ssd_tensor_shape_str(t, a, sizeof a),
                         ssd_tensor_shape_str(&want, b, sizeof b));
}

ssd_status ssd_cuda_check_act(int act, const char *op) {
    if (act >= SSD_ACT_NONE && act <= SSD_ACT_RELU6) return SSD_OK;
    return ssd_error_set(SSD_E_UNSUPPORTED, "%s: activation %d is not implemented on cuda", op,
                         act);
}

ssd_status ssd_cuda_check_act_op(int act, const char *op) {
    if (act >= SSD_ACT_NONE && act <= SSD_ACT_HARDSIGMOID) return SSD_OK;
    return ssd_error_set(SSD_E_UNSUPPORTED, "%s: unknown activation %d", op, act);
}

ssd_status ssd_cuda_prepare_out(ssd_tensor *t, ssd_backend *be, ssd_dtype dt, int ndim,
                                const int64_t *shape) {
    SSD_TRY(ssd_tensor_prepare_plain(t, be, dt, ndim, shape));
    t->version++;
    return SSD_OK;
}

ssd_status ssd_cuda_check_out(const ssd_tensor *t, const char *op, const char *name) {
    if (!t) return ssd_error_set(SSD_E_INVAL, "%s: output %s is NULL", op, name);
    return SSD_OK;
}

ssd_status ssd_cuda_check_distinct(const ssd_tensor *out, const ssd_tensor *in, const char *op,
                                   const char *out_name, const char *in_name) {
    if (out == in || (out->data && out->data == in->data))
        return ssd_error_set(SSD_E_INVAL, "%s: %s may not alias %s", op, out_name, in_name);
    return SSD_OK;
}
