/* Argument checks shared by the reference ops. The ops trust nothing about
 * their inputs beyond what these verify, so a wrong shape gives SSD_E_INVAL
 * with the offending tensor named instead of an out-of-bounds read. */
#include "backend/ref/ref_ops.h"

ssd_status ssd_ref_check_dtype(ssd_dtype dt, const char *op) {
    if (dt == SSD_F32 || dt == SSD_F64) return SSD_OK;
    return ssd_error_set(SSD_E_UNSUPPORTED, "%s: the ref backend has no %s kernels", op,
                         ssd_dtype_name(dt));
}

ssd_status ssd_ref_check_in(const ssd_tensor *t, const char *op, const char *name, ssd_dtype dt,
                            int ndim) {
    if (!t) return ssd_error_set(SSD_E_INVAL, "%s: %s is NULL", op, name);
    if (t->layout)
        return ssd_error_set(SSD_E_INVAL, "%s: %s is in a backend-private layout (make it plain)",
                             op, name);
    if (t->dtype != dt)
        return ssd_error_set(SSD_E_INVAL, "%s: %s is %s, expected %s", op, name,
                             ssd_dtype_name(t->dtype), ssd_dtype_name(dt));
    return ssd_check_plain_storage(t, op, name, ndim);
}

ssd_status ssd_ref_check_shape(const ssd_tensor *t, const char *op, const char *name, ssd_dtype dt,
                               int ndim, const int64_t *shape) {
    SSD_TRY(ssd_ref_check_in(t, op, name, dt, -1));
    bool same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (same) return SSD_OK;
    ssd_tensor want = {.ndim = ndim};
    for (int i = 0; i < ndim; i++) want.shape[i] = shape[i];
    char got_s[96], want_s[96];
    return ssd_error_set(SSD_E_INVAL, "%s: %s has shape %s, expected %s", op, name,
                         ssd_tensor_shape_str(t, got_s, sizeof got_s),
                         ssd_tensor_shape_str(&want, want_s, sizeof want_s));
}

ssd_status ssd_ref_check_distinct(const ssd_tensor *out, const ssd_tensor *in, const char *op,
                                  const char *out_name, const char *in_name) {
    if (out == in || (out->data && out->data == in->data))
        return ssd_error_set(SSD_E_INVAL, "%s: %s may not alias %s", op, out_name, in_name);
    return SSD_OK;
}

ssd_status ssd_ref_check_out(const ssd_tensor *t, const char *op, const char *name) {
    if (!t) return ssd_error_set(SSD_E_INVAL, "%s: output %s is NULL", op, name);
    return SSD_OK;
}

ssd_status ssd_ref_prepare_out(ssd_tensor *t, ssd_backend *be, ssd_dtype dt, int ndim,
                               const int64_t *shape) {
    SSD_TRY(ssd_tensor_prepare_plain(t, be, dt, ndim, shape));
    t->version++;
    return SSD_OK;
}
