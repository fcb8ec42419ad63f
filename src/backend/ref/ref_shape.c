/* Data-movement ops on the reference backend (concat, the SSD head permute):
 * pure copies, so they work on bytes for any element size. */
#include "backend/ref/ref_ops.h"

#include <stdio.h>
#include <string.h>

/* Checks the inputs of a concat and returns the output shape. */
static ssd_status concat_shape(const char *op, const ssd_tensor *const *xs, int n, int axis,
                               int *ax, int64_t *shape) {
    if (!xs || n < 1) return ssd_error_set(SSD_E_INVAL, "%s: needs at least one input", op);
    if (!xs[0]) return ssd_error_set(SSD_E_INVAL, "%s: xs[0] is NULL", op);
    const ssd_dtype dt = xs[0]->dtype;
    SSD_TRY(ssd_ref_check_dtype(dt, op));
    for (int k = 0; k < n; k++) {
        char name[24];
        snprintf(name, sizeof name, "xs[%d]", k);
        SSD_TRY(ssd_ref_check_in(xs[k], op, name, dt, xs[0]->ndim));
    }
    return ssd_concat_out_shape(op, xs, n, axis, ax, shape);
}

/* Bytes of one contiguous run of input k per outer index, and the outer count. */
static void concat_runs(const ssd_tensor *const *xs, int ax, size_t *outer, size_t *inner_bytes) {
    *outer = 1;
    for (int i = 0; i < ax; i++) *outer *= (size_t)xs[0]->shape[i];
    *inner_bytes = ssd_dtype_size(xs[0]->dtype);
    for (int i = ax + 1; i < xs[0]->ndim; i++) *inner_bytes *= (size_t)xs[0]->shape[i];
}

ssd_status ssd_ref_concat_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *const *xs, int n,
                              int axis) {
    const char *op = "concat_fwd";
    int ax;
    int64_t shape[SSD_MAX_DIMS];
    SSD_TRY(concat_shape(op, xs, n, axis, &ax, shape));
    SSD_TRY(ssd_ref_check_out(y, op, "y"));
    for (int k = 0; k < n; k++) SSD_TRY(ssd_ref_check_distinct(y, xs[k], op, "y", "an input"));
    SSD_TRY(ssd_ref_prepare_out(y, be, xs[0]->dtype, xs[0]->ndim, shape));
    size_t outer, inner;
    concat_runs(xs, ax, &outer, &inner);
    const size_t row = inner * (size_t)shape[ax];
    size_t off = 0;
    for (int k = 0; k < n; k++) {
        const size_t run = inner * (size_t)xs[k]->shape[ax];
        for (size_t o = 0; o < outer; o++)
            memcpy((char *)y->data + o * row + off, (const char *)xs[k]->data + o * run, run);
        off += run;
    }
    return SSD_OK;
}

ssd_status ssd_ref_concat_bwd(ssd_backend *be, ssd_tensor *const *dxs, const ssd_tensor *dy,
                              const ssd_tensor *const *xs, int n, int axis) {
    const char *op = "concat_bwd";
    int ax;
    int64_t shape[SSD_MAX_DIMS];
    SSD_TRY(concat_shape(op, xs, n, axis, &ax, shape));
    SSD_TRY(ssd_ref_check_shape(dy, op, "dy", xs[0]->dtype, xs[0]->ndim, shape));
    if (!dxs) return ssd_error_set(SSD_E_INVAL, "%s: dxs is NULL", op);
    for (int k = 0; k < n; k++) {
        SSD_TRY(ssd_ref_check_out(dxs[k], op, "dxs[k]"));
        SSD_TRY(ssd_ref_check_distinct(dxs[k], dy, op, "dxs[k]", "dy"));
    }
    for (int k = 0; k < n; k++)
        SSD_TRY(ssd_ref_prepare_out(dxs[k], be, xs[0]->dtype, xs[k]->ndim, xs[k]->shape));
    size_t outer, inner;
    concat_runs(xs, ax, &outer, &inner);
    const size_t row = inner * (size_t)shape[ax];
    size_t off = 0;
    for (int k = 0; k < n; k++) {
        const size_t run = inner * (size_t)xs[k]->shape[ax];
        for (size_t o = 0; o < outer; o++)
            memcpy((char *)dxs[k]->data + o * run, (const char *)dy->data + o * row + off, run);
        off += run;
    }
    return SSD_OK;
}

/* Checks x (N, C, H, W) and the channel range [c0, c0 + A*k) the head reads
 * (all of x's channels unless p->c) and returns the (N, H*W*A, k) shape. */
static ssd_status head_shape(const char *op, const ssd_tensor *x, const ssd_head_params *p,
                             bool backward, int64_t *shape, int64_t *c0, int64_t *cc) {
    if (!x || !p) return ssd_error_set(SSD_E_INVAL, "%s: x or params is NULL", op);
    SSD_TRY(ssd_ref_check_dtype(x->dtype, op));
    SSD_TRY(ssd_ref_check_in(x, op, "x", x->dtype, 4));
    return ssd_head_dims(op, x, p, backward, c0, cc, shape);
}

/* Copies between channels [c0, c0 + cc) of the NCHW head map and (N, H*W*A, k):
 * channel c0 + a*k + j at pixel p lands at row p*A + a, column j, i.e. an
 * NCHW -> NHWC transpose. */
static void head_copy(void *dst, const void *src, const int64_t *x_shape, int64_t c0, int64_t cc,
                      size_t es, bool to_nhwc) {
    const int64_t n = x_shape[0], c = x_shape[1], hw = x_shape[2] * x_shape[3];
    for (int64_t i = 0; i < n; i++)
        for (int64_t ch = 0; ch < cc; ch++)
            for (int64_t q = 0; q < hw; q++) {
                size_t nhwc = (size_t)((i * hw + q) * cc + ch) * es;
                size_t nchw = (size_t)((i * c + c0 + ch) * hw + q) * es;
                if (to_nhwc)
                    memcpy((char *)dst + nhwc, (const char *)src + nchw, es);
                else
                    memcpy((char *)dst + nchw, (const char *)src + nhwc, es);
            }
}

ssd_status ssd_ref_head_permute_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                                    const ssd_head_params *p) {
    const char *op = "head_permute_fwd";
    int64_t ys[3], c0, cc;
    SSD_TRY(head_shape(op, x, p, false, ys, &c0, &cc));
    SSD_TRY(ssd_ref_check_out(y, op, "y"));
    SSD_TRY(ssd_ref_check_distinct(y, x, op, "y", "x"));
    SSD_TRY(ssd_ref_prepare_out(y, be, x->dtype, 3, ys));
    head_copy(y->data, x->data, x->shape, c0, cc, ssd_dtype_size(x->dtype), true);
    return SSD_OK;
}

ssd_status ssd_ref_head_permute_bwd(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                                    const ssd_tensor *x, const ssd_head_params *p) {
    const char *op = "head_permute_bwd";
    int64_t ys[3], c0, cc;
    SSD_TRY(head_shape(op, x, p, true, ys, &c0, &cc));
    SSD_TRY(ssd_ref_check_shape(dy, op, "dy", x->dtype, 3, ys));
    SSD_TRY(ssd_ref_check_out(dx, op, "dx"));
    SSD_TRY(ssd_ref_check_distinct(dx, dy, op, "dx", "dy"));
    SSD_TRY(ssd_ref_prepare_out(dx, be, x->dtype, 4, x->shape));
    head_copy(dx->data, dy->data, x->shape, 0, x->shape[1], ssd_dtype_size(x->dtype), false);
    return SSD_OK;
}
