/* Max pooling on the reference backend. The workspace is an int64 tensor of
 * y's shape holding each window's argmax (offset in the H*W plane). */
#include "backend/ref/ref_ops.h"

#include <math.h>

typedef struct {
    int64_t nc, h, w, ho, wo; /* nc = N*C planes */
    int kh, kw, sh, sw, ph, pw;
} ref_pool_dims;

/* Floor-safe ceil(a / b) for b > 0 and any sign of a. */
static int64_t ref_ceil_div(int64_t a, int64_t b) {
    return a >= 0 ? (a + b - 1) / b : -((-a) / b);
}

#define REF_TEMPLATE "backend/ref/ref_pool_tmpl.h"
#include "backend/ref/ref_instantiate.h"

static ssd_status pool_dims(ref_pool_dims *d, const char *op, const ssd_tensor *x,
                            const ssd_pool_params *p) {
    if (!x || !p) return ssd_error_set(SSD_E_INVAL, "%s: x or params is NULL", op);
    SSD_TRY(ssd_ref_check_dtype(x->dtype, op));
    SSD_TRY(ssd_ref_check_in(x, op, "x", x->dtype, 4));
    int64_t ho, wo;
    SSD_TRY(ssd_pool_out_dims(op, x, p, &ho, &wo));
    *d = (ref_pool_dims){.nc = x->shape[0] * x->shape[1],
                         .h = x->shape[2],
                         .w = x->shape[3],
                         .kh = p->kernel[0],
                         .kw = p->kernel[1],
                         .sh = p->stride[0],
                         .sw = p->stride[1],
                         .ph = p->pad[0],
                         .pw = p->pad[1],
                         .ho = ho,
                         .wo = wo};
    return SSD_OK;
}

ssd_status ssd_ref_maxpool_fwd(ssd_backend *be, ssd_tensor *y, ssd_tensor *ws, const ssd_tensor *x,
                               const ssd_pool_params *p) {
    const char *op = "maxpool_fwd";
    ref_pool_dims d;
    SSD_TRY(pool_dims(&d, op, x, p));
    SSD_TRY(ssd_ref_check_out(y, op, "y"));
    SSD_TRY(ssd_ref_check_out(ws, op, "ws"));
    SSD_TRY(ssd_ref_check_distinct(y, x, op, "y", "x"));
    SSD_TRY(ssd_ref_check_distinct(ws, x, op, "ws", "x"));
    int64_t ys[4] = {x->shape[0], x->shape[1], d.ho, d.wo};
    SSD_TRY(ssd_ref_prepare_out(y, be, x->dtype, 4, ys));
    SSD_TRY(ssd_ref_prepare_out(ws, be, SSD_I64, 4, ys));
    REF_DISPATCH(x->dtype, maxpool_fwd, y->data, ws->data, x->data, &d);
    return SSD_OK;
}

ssd_status ssd_ref_maxpool_bwd(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                               const ssd_tensor *ws, const ssd_tensor *x,
                               const ssd_pool_params *p) {
    const char *op = "maxpool_bwd";
    ref_pool_dims d;
    SSD_TRY(pool_dims(&d, op, x, p));
    int64_t ys[4] = {x->shape[0], x->shape[1], d.ho, d.wo};
    SSD_TRY(ssd_ref_check_shape(dy, op, "dy", x->dtype, 4, ys));
    SSD_TRY(ssd_ref_check_shape(ws, op, "ws", SSD_I64, 4, ys));
    SSD_TRY(ssd_ref_check_out(dx, op, "dx"));
    SSD_TRY(ssd_ref_check_distinct(dx, dy, op, "dx", "dy"));
    SSD_TRY(ssd_ref_check_distinct(dx, ws, op, "dx", "ws"));
    /* A corrupt workspace would scatter out of bounds. */
    const int64_t *idx = ws->data;
    for (int64_t k = 0, n = ssd_tensor_numel(ws); k < n; k++)
        if (idx[k] < 0 || idx[k] >= d.h * d.w)
            return ssd_error_set(SSD_E_INVAL, "%s: ws[%lld] = %lld is outside the %lldx%lld input",
                                 op, (long long)k, (long long)idx[k], (long long)d.h,
                                 (long long)d.w);
    SSD_TRY(ssd_ref_prepare_out(dx, be, x->dtype, 4, x->shape));
    REF_DISPATCH(x->dtype, maxpool_bwd, dx->data, dy->data, ws->data, &d);
    return SSD_OK;
}
