/* The SSD conv4_3 L2Norm on the reference backend, over (N, C, ...). */
#include "backend/ref/ref_ops.h"

#include "core/mem.h"

#include <math.h>

#define REF_TEMPLATE "backend/ref/ref_l2norm_tmpl.h"
#include "backend/ref/ref_instantiate.h"

static ssd_status l2_dims(const char *op, const ssd_tensor *x, const ssd_tensor *scale,
                          const ssd_l2norm_params *p, int64_t *n, int64_t *c, int64_t *hw) {
    if (!x || !p) return ssd_error_set(SSD_E_INVAL, "%s: x or params is NULL", op);
    SSD_TRY(ssd_ref_check_dtype(x->dtype, op));
    SSD_TRY(ssd_ref_check_in(x, op, "x", x->dtype, -1));
    if (x->ndim < 2)
        return ssd_error_set(SSD_E_INVAL, "%s: x needs (N, C, ...), has %d dims", op, x->ndim);
    if (!(p->eps >= 0)) return ssd_error_set(SSD_E_INVAL, "%s: bad eps %g", op, p->eps);
    *n = x->shape[0];
    *c = x->shape[1];
    *hw = 1;
    for (int i = 2; i < x->ndim; i++) *hw *= x->shape[i];
    return ssd_ref_check_shape(scale, op, "scale", x->dtype, 1, c);
}

ssd_status ssd_ref_l2norm_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                              const ssd_tensor *scale, const ssd_l2norm_params *p) {
    const char *op = "l2norm_fwd";
    int64_t n, c, hw;
    SSD_TRY(l2_dims(op, x, scale, p, &n, &c, &hw));
    SSD_TRY(ssd_ref_check_out(y, op, "y"));
    SSD_TRY(ssd_ref_check_distinct(y, x, op, "y", "x"));
    SSD_TRY(ssd_ref_prepare_out(y, be, x->dtype, x->ndim, x->shape));
    REF_DISPATCH(x->dtype, l2norm_fwd, y->data, x->data, scale->data, n, c, hw, p->eps);
    return SSD_OK;
}

ssd_status ssd_ref_l2norm_bwd(ssd_backend *be, ssd_tensor *dx, ssd_tensor *dscale,
                              const ssd_tensor *dy, const ssd_tensor *x, const ssd_tensor *scale,
                              const ssd_l2norm_params *p) {
    const char *op = "l2norm_bwd";
    int64_t n, c, hw;
    SSD_TRY(l2_dims(op, x, scale, p, &n, &c, &hw));
    SSD_TRY(ssd_ref_check_shape(dy, op, "dy", x->dtype, x->ndim, x->shape));
    if (dx) SSD_TRY(ssd_ref_check_distinct(dx, dy, op, "dx", "dy"));
    if (dx) SSD_TRY(ssd_ref_check_distinct(dx, x, op, "dx", "x"));
    double *acc = ssd_malloc((size_t)(c ? c : 1) * sizeof *acc);
    if (!acc) return ssd_error_prefix(SSD_E_NOMEM, "%s", op);
    ssd_status st = SSD_OK;
    if (dx) SSD_CHECK_GOTO(st, ssd_ref_prepare_out(dx, be, x->dtype, x->ndim, x->shape), done);
    if (dscale) SSD_CHECK_GOTO(st, ssd_ref_prepare_out(dscale, be, x->dtype, 1, &c), done);
    REF_DISPATCH(x->dtype, l2norm_bwd, dx ? dx->data : NULL, dscale ? dscale->data : NULL, acc,
                 dy->data, x->data, scale->data, n, c, hw, p->eps);
done:
    ssd_free(acc);
    return st;
}
