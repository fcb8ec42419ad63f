/* Global average pool and channel scale (squeeze-excite) on the reference
 * backend: x (N, C, H, W) with one value per (n, c) on the other side. */
#include "backend/ref/ref_ops.h"

#define REF_TEMPLATE "backend/ref/ref_chan_tmpl.h"
#include "backend/ref/ref_instantiate.h"

/* Checks x as a 4-D input and gives N*C, H*W and the (N, C, 1, 1) shape. */
static ssd_status chan_dims(const ssd_tensor *x, const char *op, int64_t *nc, int64_t *hw,
                            int64_t *pooled) {
    if (!x) return ssd_error_set(SSD_E_INVAL, "%s: x is NULL", op);
    SSD_TRY(ssd_ref_check_dtype(x->dtype, op));
    SSD_TRY(ssd_ref_check_in(x, op, "x", x->dtype, 4));
    return ssd_chan_dims(op, x, nc, hw, pooled);
}

ssd_status ssd_ref_gap_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x) {
    const char *op = "gap_fwd";
    int64_t nc, hw, ys[4];
    SSD_TRY(chan_dims(x, op, &nc, &hw, ys));
    SSD_TRY(ssd_ref_check_out(y, op, "y"));
    SSD_TRY(ssd_ref_check_distinct(y, x, op, "y", "x"));
    SSD_TRY(ssd_ref_prepare_out(y, be, x->dtype, 4, ys));
    REF_DISPATCH(x->dtype, gap_fwd, y->data, x->data, nc, hw);
    return SSD_OK;
}

ssd_status ssd_ref_gap_bwd(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                           const ssd_tensor *x) {
    const char *op = "gap_bwd";
    int64_t nc, hw, ys[4];
    SSD_TRY(chan_dims(x, op, &nc, &hw, ys));
    SSD_TRY(ssd_ref_check_shape(dy, op, "dy", x->dtype, 4, ys));
    SSD_TRY(ssd_ref_check_out(dx, op, "dx"));
    SSD_TRY(ssd_ref_check_distinct(dx, dy, op, "dx", "dy"));
    SSD_TRY(ssd_ref_prepare_out(dx, be, x->dtype, 4, x->shape));
    REF_DISPATCH(x->dtype, gap_bwd, dx->data, dy->data, nc, hw);
    return SSD_OK;
}

ssd_status ssd_ref_scale_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                             const ssd_tensor *s) {
    const char *op = "scale_fwd";
    int64_t nc, hw, ss[4];
    SSD_TRY(chan_dims(x, op, &nc, &hw, ss));
    SSD_TRY(ssd_ref_check_shape(s, op, "s", x->dtype, 4, ss));
    SSD_TRY(ssd_ref_check_out(y, op, "y"));
    if (y != x) SSD_TRY(ssd_ref_check_distinct(y, s, op, "y", "s"));
    SSD_TRY(ssd_ref_prepare_out(y, be, x->dtype, 4, x->shape)); /* y may be x */
    REF_DISPATCH(x->dtype, scale_fwd, y->data, x->data, s->data, nc, hw);
    return SSD_OK;
}

ssd_status ssd_ref_scale_bwd(ssd_backend *be, ssd_tensor *dx, ssd_tensor *ds, const ssd_tensor *dy,
                             const ssd_tensor *x, const ssd_tensor *s) {
    const char *op = "scale_bwd";
    int64_t nc, hw, ss[4];
    SSD_TRY(chan_dims(x, op, &nc, &hw, ss));
    SSD_TRY(ssd_ref_check_shape(s, op, "s", x->dtype, 4, ss));
    SSD_TRY(ssd_ref_check_shape(dy, op, "dy", x->dtype, 4, x->shape));
    if (!dx && !ds) return SSD_OK;
    if (dx) {
        SSD_TRY(ssd_ref_check_distinct(dx, x, op, "dx", "x"));
        SSD_TRY(ssd_ref_check_distinct(dx, s, op, "dx", "s"));
    }
    if (ds) {
        SSD_TRY(ssd_ref_check_distinct(ds, dy, op, "ds", "dy"));
        SSD_TRY(ssd_ref_check_distinct(ds, x, op, "ds", "x"));
        SSD_TRY(ssd_ref_check_distinct(ds, s, op, "ds", "s"));
    }
    if (dx) SSD_TRY(ssd_ref_prepare_out(dx, be, x->dtype, 4, x->shape)); /* dx may be dy */
    if (ds) SSD_TRY(ssd_ref_prepare_out(ds, be, x->dtype, 4, ss));
    REF_DISPATCH(x->dtype, scale_bwd, dx ? dx->data : NULL, ds ? ds->data : NULL, dy->data, x->data,
                 s->data, nc, hw);
    return SSD_OK;
}
