/* Batch norm on the reference backend over (N, C, ...): statistics per
 * channel across the batch and every trailing dim. */
#include "backend/ref/ref_ops.h"

#include <math.h>

#define REF_TEMPLATE "backend/ref/ref_bn_tmpl.h"
#include "backend/ref/ref_instantiate.h"

static ssd_status bn_params(const ssd_bn_params *p, const char *op) {
    if (!p) return ssd_error_set(SSD_E_INVAL, "%s: params is NULL", op);
    if (!(p->eps >= 0) || !(p->momentum >= 0 && p->momentum <= 1))
        return ssd_error_set(SSD_E_INVAL, "%s: bad eps %g or momentum %g", op, p->eps, p->momentum);
    if ((unsigned)p->act > SSD_ACT_RELU6)
        return ssd_error_set(SSD_E_INVAL, "%s: unknown activation %d", op, (int)p->act);
    return SSD_OK;
}

/* Checks x (N, C, ...) and returns N, C and the size of the trailing dims. */
static ssd_status bn_dims(const ssd_tensor *x, const char *op, int64_t *n, int64_t *c,
                          int64_t *hw) {
    if (!x) return ssd_error_set(SSD_E_INVAL, "%s: x is NULL", op);
    SSD_TRY(ssd_ref_check_dtype(x->dtype, op));
    SSD_TRY(ssd_ref_check_in(x, op, "x", x->dtype, -1));
    if (x->ndim < 2)
        return ssd_error_set(SSD_E_INVAL, "%s: x needs (N, C, ...), has %d dims", op, x->ndim);
    *n = x->shape[0];
    *c = x->shape[1];
    *hw = 1;
    for (int i = 2; i < x->ndim; i++) *hw *= x->shape[i];
    return SSD_OK;
}

ssd_status ssd_ref_bn_fwd(ssd_backend *be, ssd_tensor *y, ssd_tensor *save_mean,
                          ssd_tensor *save_invstd, ssd_tensor *ws, const ssd_tensor *x,
                          const ssd_tensor *gamma, const ssd_tensor *beta, ssd_tensor *running_mean,
                          ssd_tensor *running_var, const ssd_bn_params *p) {
    const char *op = "bn_fwd";
    (void)ws; /* the activation mask is read off y in backward */
    int64_t n, c, hw;
    SSD_TRY(bn_params(p, op));
    SSD_TRY(bn_dims(x, op, &n, &c, &hw));
    const ssd_dtype dt = x->dtype;
    const bool saved = p->training && p->use_saved;
    SSD_TRY(ssd_ref_check_shape(gamma, op, "gamma", dt, 1, &c));
    SSD_TRY(ssd_ref_check_shape(beta, op, "beta", dt, 1, &c));
    if (saved) {
        SSD_TRY(ssd_ref_check_shape(save_mean, op, "save_mean", dt, 1, &c));
        SSD_TRY(ssd_ref_check_shape(save_invstd, op, "save_invstd", dt, 1, &c));
        SSD_TRY(ssd_ref_check_distinct(y, save_mean, op, "y", "save_mean"));
        SSD_TRY(ssd_ref_check_distinct(y, save_invstd, op, "y", "save_invstd"));
    } else {
        SSD_TRY(ssd_ref_check_shape(running_mean, op, "running_mean", dt, 1, &c));
        SSD_TRY(ssd_ref_check_shape(running_var, op, "running_var", dt, 1, &c));
    }
    if (p->training && n * hw < 2)
        return ssd_error_set(SSD_E_INVAL,
                             "%s: training needs more than one value per channel, x has %lld", op,
                             (long long)(n * hw));
    SSD_TRY(ssd_ref_check_out(y, op, "y"));
    if (p->training && !saved) {
        SSD_TRY(ssd_ref_check_out(save_mean, op, "save_mean"));
        SSD_TRY(ssd_ref_check_out(save_invstd, op, "save_invstd"));
    }
    SSD_TRY(ssd_ref_prepare_out(y, be, dt, x->ndim, x->shape));
    if (!saved) {
        if (save_mean) SSD_TRY(ssd_ref_prepare_out(save_mean, be, dt, 1, &c));
        if (save_invstd) SSD_TRY(ssd_ref_prepare_out(save_invstd, be, dt, 1, &c));
    }
    if (p->training && !saved) {
        running_mean->version++;
        running_var->version++;
    }
    REF_DISPATCH(dt, bn_fwd, y->data, save_mean ? save_mean->data : NULL,
                 save_invstd ? save_invstd->data : NULL, x->data, gamma->data, beta->data,
                 saved ? NULL : running_mean->data, saved ? NULL : running_var->data, n, c, hw, p);
    return SSD_OK;
}

ssd_status ssd_ref_bn_bwd(ssd_backend *be, ssd_tensor *dx, ssd_tensor *dgamma, ssd_tensor *dbeta,
                          const ssd_tensor *dy, const ssd_tensor *x, const ssd_tensor *y,
                          const ssd_tensor *ws, const ssd_tensor *gamma,
                          const ssd_tensor *save_mean, const ssd_tensor *save_invstd,
                          const ssd_tensor *running_var, const ssd_bn_params *p) {
    const char *op = "bn_bwd";
    (void)ws;
    int64_t n, c, hw;
    SSD_TRY(bn_params(p, op));
    SSD_TRY(bn_dims(x, op, &n, &c, &hw));
    const ssd_dtype dt = x->dtype;
    SSD_TRY(ssd_ref_check_shape(dy, op, "dy", dt, x->ndim, x->shape));
    if (p->act != SSD_ACT_NONE) SSD_TRY(ssd_ref_check_shape(y, op, "y", dt, x->ndim, x->shape));
    SSD_TRY(ssd_ref_check_shape(gamma, op, "gamma", dt, 1, &c));
    /* The mean is needed for dgamma and for training-mode dx; eval-mode dx
     * needs only 1/std. */
    bool need_mean = dgamma || (dx && p->training);
    if (need_mean) SSD_TRY(ssd_ref_check_shape(save_mean, op, "save_mean", dt, 1, &c));
    if (p->training)
        SSD_TRY(ssd_ref_check_shape(save_invstd, op, "save_invstd", dt, 1, &c));
    else
        SSD_TRY(ssd_ref_check_shape(running_var, op, "running_var", dt, 1, &c));
    if (dx) SSD_TRY(ssd_ref_check_distinct(dx, dy, op, "dx", "dy"));
    if (dx) SSD_TRY(ssd_ref_check_distinct(dx, x, op, "dx", "x"));
    if (dx) SSD_TRY(ssd_ref_prepare_out(dx, be, dt, x->ndim, x->shape));
    if (dgamma) SSD_TRY(ssd_ref_prepare_out(dgamma, be, dt, 1, &c));
    if (dbeta) SSD_TRY(ssd_ref_prepare_out(dbeta, be, dt, 1, &c));
    REF_DISPATCH(dt, bn_bwd, dx ? dx->data : NULL, dgamma ? dgamma->data : NULL,
                 dbeta ? dbeta->data : NULL, dy->data, x->data,
                 p->act != SSD_ACT_NONE ? y->data : NULL, gamma->data,
                 need_mean ? save_mean->data : NULL,
                 p->training ? save_invstd->data : running_var->data, n, c, hw, p);
    return SSD_OK;
}
