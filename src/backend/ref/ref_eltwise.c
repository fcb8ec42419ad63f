/* Activations, add and softmax on the reference backend. These are
 * element-wise or row-wise, so their outputs may alias their inputs. */
#include "backend/ref/ref_ops.h"

#include <math.h>

#define REF_TEMPLATE "backend/ref/ref_eltwise_tmpl.h"
#include "backend/ref/ref_instantiate.h"

static ssd_status act_kind(const ssd_act_params *p, const char *op) {
    if (!p) return ssd_error_set(SSD_E_INVAL, "%s: params is NULL", op);
    if ((unsigned)p->kind > SSD_ACT_HARDSIGMOID)
        return ssd_error_set(SSD_E_INVAL, "%s: unknown activation %d", op, (int)p->kind);
    return SSD_OK;
}

ssd_status ssd_ref_act_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                           const ssd_act_params *p) {
    const char *op = "act_fwd";
    SSD_TRY(act_kind(p, op));
    if (!x) return ssd_error_set(SSD_E_INVAL, "%s: x is NULL", op);
    SSD_TRY(ssd_ref_check_dtype(x->dtype, op));
    SSD_TRY(ssd_ref_check_in(x, op, "x", x->dtype, -1));
    SSD_TRY(ssd_ref_check_out(y, op, "y"));
    SSD_TRY(ssd_ref_prepare_out(y, be, x->dtype, x->ndim, x->shape));
    REF_DISPATCH(x->dtype, act_fwd, y->data, x->data, ssd_tensor_numel(x), p->kind);
    return SSD_OK;
}

ssd_status ssd_ref_act_bwd(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                           const ssd_tensor *x, const ssd_tensor *y, const ssd_act_params *p) {
    const char *op = "act_bwd";
    SSD_TRY(act_kind(p, op));
    /* ReLU/ReLU6 read the output, the others the input */
    bool on_x = p->kind == SSD_ACT_HARDSWISH || p->kind == SSD_ACT_HARDSIGMOID;
    const ssd_tensor *t = on_x ? x : y;
    if (!t) return ssd_error_set(SSD_E_INVAL, "%s: %s is NULL", op, on_x ? "x" : "y");
    SSD_TRY(ssd_ref_check_dtype(t->dtype, op));
    SSD_TRY(ssd_ref_check_in(t, op, on_x ? "x" : "y", t->dtype, -1));
    SSD_TRY(ssd_ref_check_shape(dy, op, "dy", t->dtype, t->ndim, t->shape));
    SSD_TRY(ssd_ref_check_out(dx, op, "dx"));
    SSD_TRY(ssd_ref_prepare_out(dx, be, t->dtype, t->ndim, t->shape));
    REF_DISPATCH(t->dtype, act_bwd, dx->data, dy->data, on_x ? x->data : NULL,
                 on_x ? NULL : y->data, ssd_tensor_numel(t), p->kind);
    return SSD_OK;
}

ssd_status ssd_ref_add(ssd_backend *be, ssd_tensor *y, const ssd_tensor *a, const ssd_tensor *b) {
    const char *op = "add";
    if (!a) return ssd_error_set(SSD_E_INVAL, "%s: a is NULL", op);
    SSD_TRY(ssd_ref_check_dtype(a->dtype, op));
    SSD_TRY(ssd_ref_check_in(a, op, "a", a->dtype, -1));
    SSD_TRY(ssd_ref_check_shape(b, op, "b", a->dtype, a->ndim, a->shape));
    SSD_TRY(ssd_ref_check_out(y, op, "y"));
    SSD_TRY(ssd_ref_prepare_out(y, be, a->dtype, a->ndim, a->shape));
    REF_DISPATCH(a->dtype, add, y->data, a->data, b->data, ssd_tensor_numel(a));
    return SSD_OK;
}

/* Splits shape around `axis` into (outer, len, inner). */
static ssd_status softmax_dims(const ssd_tensor *t, const ssd_softmax_params *p, const char *op,
                               int64_t *outer, int64_t *len, int64_t *inner) {
    if (!p) return ssd_error_set(SSD_E_INVAL, "%s: params is NULL", op);
    int ax = ssd_axis_index(p->axis, t->ndim);
    if (ax < 0)
        return ssd_error_set(SSD_E_INVAL, "%s: axis %d out of range for %d dims", op, p->axis,
                             t->ndim);
    *outer = *inner = 1;
    for (int i = 0; i < ax; i++) *outer *= t->shape[i];
    for (int i = ax + 1; i < t->ndim; i++) *inner *= t->shape[i];
    *len = t->shape[ax];
    return SSD_OK;
}

ssd_status ssd_ref_softmax_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                               const ssd_softmax_params *p) {
    const char *op = "softmax_fwd";
    if (!x) return ssd_error_set(SSD_E_INVAL, "%s: x is NULL", op);
    SSD_TRY(ssd_ref_check_dtype(x->dtype, op));
    SSD_TRY(ssd_ref_check_in(x, op, "x", x->dtype, -1));
    int64_t outer, len, inner;
    SSD_TRY(softmax_dims(x, p, op, &outer, &len, &inner));
    SSD_TRY(ssd_ref_check_out(y, op, "y"));
    SSD_TRY(ssd_ref_prepare_out(y, be, x->dtype, x->ndim, x->shape));
    REF_DISPATCH(x->dtype, softmax_fwd, y->data, x->data, outer, len, inner, p->log);
    return SSD_OK;
}

ssd_status ssd_ref_softmax_bwd(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                               const ssd_tensor *y, const ssd_softmax_params *p) {
    const char *op = "softmax_bwd";
    if (!y) return ssd_error_set(SSD_E_INVAL, "%s: y is NULL", op);
    SSD_TRY(ssd_ref_check_dtype(y->dtype, op));
    SSD_TRY(ssd_ref_check_in(y, op, "y", y->dtype, -1));
    SSD_TRY(ssd_ref_check_shape(dy, op, "dy", y->dtype, y->ndim, y->shape));
    int64_t outer, len, inner;
    SSD_TRY(softmax_dims(y, p, op, &outer, &len, &inner));
    SSD_TRY(ssd_ref_check_out(dx, op, "dx"));
    SSD_TRY(ssd_ref_prepare_out(dx, be, y->dtype, y->ndim, y->shape));
    REF_DISPATCH(y->dtype, softmax_bwd, dx->data, dy->data, y->data, outer, len, inner, p->log);
    return SSD_OK;
}
