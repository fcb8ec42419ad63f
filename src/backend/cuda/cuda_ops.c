/* The CUDA backend's non-convolution ops (and the multibox loss): argument checks as the reference
 * backend's (so a bad call fails the same way on every backend), then one
 * launcher from cuda_kernels.cu on the backend's stream. */
#include "backend/cuda/cuda_impl.h"

#include <stdio.h>
#include <string.h>

/* ---- batch norm ---- */

static ssd_status bn_dims(const ssd_tensor *x, const ssd_bn_params *p, const char *op, int64_t *n,
                          int64_t *c, int64_t *hw) {
    if (!p) return ssd_error_set(SSD_E_INVAL, "%s: params is NULL", op);
    if (!(p->eps >= 0) || !(p->momentum >= 0 && p->momentum <= 1))
        return ssd_error_set(SSD_E_INVAL, "%s: bad eps %g or momentum %g", op, p->eps, p->momentum);
    SSD_TRY(ssd_cuda_check_act((int)p->act, op));
    SSD_TRY(ssd_cuda_check_in(x, op, "x", -1));
    if (x->ndim < 2)
        return ssd_error_set(SSD_E_INVAL, "%s: x needs (N, C, ...), has %d dims", op, x->ndim);
    *n = x->shape[0];
    *c = x->shape[1];
    *hw = 1;
    for (int i = 2; i < x->ndim; i++) *hw *= x->shape[i];
    return SSD_OK;
}

ssd_status ssd_cuda_bn_fwd(ssd_backend *be, ssd_tensor *y, ssd_tensor *save_mean,
                           ssd_tensor *save_invstd, ssd_tensor *ws, const ssd_tensor *x,
                           const ssd_tensor *gamma, const ssd_tensor *beta,
                           ssd_tensor *running_mean, ssd_tensor *running_var,
                           const ssd_bn_params *p) {
    const char *op = "bn_fwd";
    (void)ws; /* the activation mask is read off y in backward */
    if (p && p->use_saved)
        return ssd_error_set(SSD_E_UNSUPPORTED, "%s: recompute from saved statistics", op);
    int64_t n, c, hw;
    SSD_TRY(bn_dims(x, p, op, &n, &c, &hw));
    SSD_TRY(ssd_cuda_check_shape(gamma, op, "gamma", 1, &c));
    SSD_TRY(ssd_cuda_check_shape(beta, op, "beta", 1, &c));
    SSD_TRY(ssd_cuda_check_shape(running_mean, op, "running_mean", 1, &c));
    SSD_TRY(ssd_cuda_check_shape(running_var, op, "running_var", 1, &c));
    if (p->training && n * hw < 2)
        return ssd_error_set(SSD_E_INVAL,
                             "%s: training needs more than one value per channel, x has %lld", op,
                             (long long)(n * hw));
    SSD_TRY(ssd_cuda_check_out(y, op, "y"));
    if (p->training) {
        SSD_TRY(ssd_cuda_check_out(save_mean, op, "save_mean"));
        SSD_TRY(ssd_cuda_check_out(save_invstd, op, "save_invstd"));
    }
    SSD_TRY(ssd_cuda_prepare_out(y, be, SSD_F32, x->ndim, x->shape));
    if (save_mean) SSD_TRY(ssd_cuda_prepare_out(save_mean, be, SSD_F32, 1, &c));
    if (save_invstd) SSD_TRY(ssd_cuda_prepare_out(save_invstd, be, SSD_F32, 1, &c));
    if (p->training) {
        running_mean->version++;
        running_var->version++;
    }
    CU_TRY(cuk_bn_fwd(cuda_of(be)->stream, y->data, save_mean ? save_mean->data : NULL,
                      save_invstd ? save_invstd->data : NULL, x->data, gamma->data, beta->data,
                      running_mean->data, running_var->data, n, c, hw, p->eps, p->momentum,
                      p->training, (int)p->act));
    return SSD_OK;
}

ssd_status ssd_cuda_bn_bwd(ssd_backend *be, ssd_tensor *dx, ssd_tensor *dgamma, ssd_tensor *dbeta,
                           const ssd_tensor *dy, const ssd_tensor *x, const ssd_tensor *y,
                           const ssd_tensor *ws, const ssd_tensor *gamma,
                           const ssd_tensor *save_mean, const ssd_tensor *save_invstd,
                           const ssd_tensor *running_var, const ssd_bn_params *p) {
    const char *op = "bn_bwd";
    (void)ws;
    int64_t n, c, hw;
    SSD_TRY(bn_dims(x, p, op, &n, &c, &hw));
    SSD_TRY(ssd_cuda_check_shape(dy, op, "dy", x->ndim, x->shape));
    if (p->act != SSD_ACT_NONE) SSD_TRY(ssd_cuda_check_shape(y, op, "y", x->ndim, x->shape));
    SSD_TRY(ssd_cuda_check_shape(gamma, op, "gamma", 1, &c));
    const bool need_mean = dgamma || (dx && p->training);
    if (need_mean) SSD_TRY(ssd_cuda_check_shape(save_mean, op, "save_mean", 1, &c));
    if (p->training)
        SSD_TRY(ssd_cuda_check_shape(save_invstd, op, "save_invstd", 1, &c));
    else
        SSD_TRY(ssd_cuda_check_shape(running_var, op, "running_var", 1, &c));
    if (dx) SSD_TRY(ssd_cuda_check_distinct(dx, dy, op, "dx", "dy"));
    if (dx) SSD_TRY(ssd_cuda_check_distinct(dx, x, op, "dx", "x"));
    if (dx) SSD_TRY(ssd_cuda_prepare_out(dx, be, SSD_F32, x->ndim, x->shape));
    if (dgamma) SSD_TRY(ssd_cuda_prepare_out(dgamma, be, SSD_F32, 1, &c));
    if (dbeta) SSD_TRY(ssd_cuda_prepare_out(dbeta, be, SSD_F32, 1, &c));
    CU_TRY(cuk_bn_bwd(cuda_of(be)->stream, dx ? dx->data : NULL, dgamma ? dgamma->data : NULL,
                      dbeta ? dbeta->data : NULL, dy->data, x->data,
                      p->act != SSD_ACT_NONE ? y->data : NULL, gamma->data,
                      need_mean ? save_mean->data : NULL,
                      p->training ? save_invstd->data : running_var->data, n, c, hw, p->eps,
                      p->training, (int)p->act));
    return SSD_OK;
}

/* ---- activations, add ---- */

ssd_status ssd_cuda_act_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                            const ssd_act_params *p) {
    const char *op = "act_fwd";
    if (!p) return ssd_error_set(SSD_E_INVAL, "%s: params is NULL", op);
    SSD_TRY(ssd_cuda_check_act_op((int)p->kind, op));
    SSD_TRY(ssd_cuda_check_in(x, op, "x", -1));
    SSD_TRY(ssd_cuda_check_out(y, op, "y"));
    SSD_TRY(ssd_cuda_prepare_out(y, be, SSD_F32, x->ndim, x->shape));
    CU_TRY(cuk_act_fwd(cuda_of(be)->stream, y->data, x->data, ssd_tensor_numel(x), (int)p->kind));
    return SSD_OK;
}

ssd_status ssd_cuda_act_bwd(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                            const ssd_tensor *x, const ssd_tensor *y, const ssd_act_params *p) {
    const char *op = "act_bwd";
    if (!p) return ssd_error_set(SSD_E_INVAL, "%s: params is NULL", op);
    SSD_TRY(ssd_cuda_check_act_op((int)p->kind, op));
    /* ReLU/ReLU6 read the output, hardswish/hardsigmoid the input */
    const bool on_x = p->kind == SSD_ACT_HARDSWISH || p->kind == SSD_ACT_HARDSIGMOID;
    const ssd_tensor *t = on_x ? x : y;
    const char *tn = on_x ? "x" : "y";
    SSD_TRY(ssd_cuda_check_in(t, op, tn, -1));
    SSD_TRY(ssd_cuda_check_shape(dy, op, "dy", t->ndim, t->shape));
    SSD_TRY(ssd_cuda_check_out(dx, op, "dx"));
    SSD_TRY(ssd_cuda_prepare_out(dx, be, SSD_F32, t->ndim, t->shape)); /* dx may be dy or t */
    CU_TRY(cuk_act_bwd(cuda_of(be)->stream, dx->data, dy->data, t->data, ssd_tensor_numel(t),
                       (int)p->kind));
    return SSD_OK;
}

ssd_status ssd_cuda_add(ssd_backend *be, ssd_tensor *y, const ssd_tensor *a, const ssd_tensor *b) {
    const char *op = "add";
    SSD_TRY(ssd_cuda_check_in(a, op, "a", -1));
    SSD_TRY(ssd_cuda_check_shape(b, op, "b", a->ndim, a->shape));
    SSD_TRY(ssd_cuda_check_out(y, op, "y"));
    SSD_TRY(ssd_cuda_prepare_out(y, be, SSD_F32, a->ndim, a->shape));
    CU_TRY(cuk_add(cuda_of(be)->stream, y->data, a->data, b->data, ssd_tensor_numel(a)));
    return SSD_OK;
}

/* ---- global average pool, channel scale (squeeze-excite) ---- */

/* Checks x as a 4-D input and gives N*C, H*W and the (N, C, 1, 1) shape. */
static ssd_status chan_dims(const ssd_tensor *x, const char *op, int64_t *nc, int64_t *hw,
                            int64_t *pooled) {
    SSD_TRY(ssd_cuda_check_in(x, op, "x", 4));
    return ssd_chan_dims(op, x, nc, hw, pooled);
}

ssd_status ssd_cuda_gap_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x) {
    const char *op = "gap_fwd";
    int64_t nc, hw, ys[4];
    SSD_TRY(chan_dims(x, op, &nc, &hw, ys));
    SSD_TRY(ssd_cuda_check_out(y, op, "y"));
    SSD_TRY(ssd_cuda_check_distinct(y, x, op, "y", "x"));
    SSD_TRY(ssd_cuda_prepare_out(y, be, SSD_F32, 4, ys));
    CU_TRY(cuk_gap_fwd(cuda_of(be)->stream, y->data, x->data, nc, hw));
    return SSD_OK;
}

ssd_status ssd_cuda_gap_bwd(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                            const ssd_tensor *x) {
    const char *op = "gap_bwd";
    int64_t nc, hw, ys[4];
    SSD_TRY(chan_dims(x, op, &nc, &hw, ys));
    SSD_TRY(ssd_cuda_check_shape(dy, op, "dy", 4, ys));
    SSD_TRY(ssd_cuda_check_out(dx, op, "dx"));
    SSD_TRY(ssd_cuda_check_distinct(dx, dy, op, "dx", "dy"));
    SSD_TRY(ssd_cuda_prepare_out(dx, be, SSD_F32, 4, x->shape));
    CU_TRY(cuk_gap_bwd(cuda_of(be)->stream, dx->data, dy->data, nc, hw));
    return SSD_OK;
}

ssd_status ssd_cuda_scale_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                              const ssd_tensor *s) {
    const char *op = "scale_fwd";
    int64_t nc, hw, ss[4];
    SSD_TRY(chan_dims(x, op, &nc, &hw, ss));
    SSD_TRY(ssd_cuda_check_shape(s, op, "s", 4, ss));
    SSD_TRY(ssd_cuda_check_out(y, op, "y"));
    if (y != x) SSD_TRY(ssd_cuda_check_distinct(y, s, op, "y", "s"));
    SSD_TRY(ssd_cuda_prepare_out(y, be, SSD_F32, 4, x->shape)); /* y may be x */
    CU_TRY(cuk_scale(cuda_of(be)->stream, y->data, x->data, s->data, nc, hw));
    return SSD_OK;
}

ssd_status ssd_cuda_scale_bwd(ssd_backend *be, ssd_tensor *dx, ssd_tensor *ds, const ssd_tensor *dy,
                              const ssd_tensor *x, const ssd_tensor *s) {
    const char *op = "scale_bwd";
    int64_t nc, hw, ss[4];
    SSD_TRY(chan_dims(x, op, &nc, &hw, ss));
    SSD_TRY(ssd_cuda_check_shape(s, op, "s", 4, ss));
    SSD_TRY(ssd_cuda_check_shape(dy, op, "dy", 4, x->shape));
    if (!dx && !ds) return SSD_OK;
    if (dx) {
        SSD_TRY(ssd_cuda_check_distinct(dx, x, op, "dx", "x"));
        SSD_TRY(ssd_cuda_check_distinct(dx, s, op, "dx", "s"));
    }
    if (ds) {
        SSD_TRY(ssd_cuda_check_distinct(ds, dy, op, "ds", "dy"));
        SSD_TRY(ssd_cuda_check_distinct(ds, x, op, "ds", "x"));
        SSD_TRY(ssd_cuda_check_distinct(ds, s, op, "ds", "s"));
    }
    if (dx) SSD_TRY(ssd_cuda_prepare_out(dx, be, SSD_F32, 4, x->shape)); /* dx may be dy */
    if (ds) SSD_TRY(ssd_cuda_prepare_out(ds, be, SSD_F32, 4, ss));
    CU_TRY(cuk_scale_bwd(cuda_of(be)->stream, dx ? dx->data : NULL, ds ? ds->data : NULL, dy->data,
                         x->data, s->data, nc, hw));
    return SSD_OK;
}

/* ---- max pool ---- */

static ssd_status pool_dims(cuk_pool_dims *d, const char *op, const ssd_tensor *x,
                            const ssd_pool_params *p) {
    if (!x || !p) return ssd_error_set(SSD_E_INVAL, "%s: x or params is NULL", op);
    SSD_TRY(ssd_cuda_check_in(x, op, "x", 4));
    int64_t ho, wo;
    SSD_TRY(ssd_pool_out_dims(op, x, p, &ho, &wo));
    *d = (cuk_pool_dims){.nc = x->shape[0] * x->shape[1],
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

ssd_status ssd_cuda_maxpool_fwd(ssd_backend *be, ssd_tensor *y, ssd_tensor *ws, const ssd_tensor *x,
                                const ssd_pool_params *p) {
    const char *op = "maxpool_fwd";
    cuk_pool_dims d;
    SSD_TRY(pool_dims(&d, op, x, p));
    SSD_TRY(ssd_cuda_check_out(y, op, "y"));
    SSD_TRY(ssd_cuda_check_out(ws, op, "ws"));
    SSD_TRY(ssd_cuda_check_distinct(y, x, op, "y", "x"));
    SSD_TRY(ssd_cuda_check_distinct(ws, x, op, "ws", "x"));
    int64_t ys[4] = {x->shape[0], x->shape[1], d.ho, d.wo};
    SSD_TRY(ssd_cuda_prepare_out(y, be, SSD_F32, 4, ys));
    SSD_TRY(ssd_cuda_prepare_out(ws, be, SSD_I64, 4, ys)); /* argmax, as the reference keeps it */
    CU_TRY(cuk_maxpool_fwd(cuda_of(be)->stream, y->data, ws->data, x->data, &d));
    return SSD_OK;
}

ssd_status ssd_cuda_maxpool_bwd(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                                const ssd_tensor *ws, const ssd_tensor *x,
                                const ssd_pool_params *p) {
    const char *op = "maxpool_bwd";
    cuk_pool_dims d;
    SSD_TRY(pool_dims(&d, op, x, p));
    int64_t ys[4] = {x->shape[0], x->shape[1], d.ho, d.wo};
    SSD_TRY(ssd_cuda_check_shape(dy, op, "dy", 4, ys));
    /* ws is int64: checked by hand (check_in wants float32). A stale or foreign
     * index cannot write out of bounds: backward gathers per input element. */
    if (!ws || ws->be != be || ws->dtype != SSD_I64 || ws->ndim != 4 || ws->layout || !ws->data ||
        ws->cap < ssd_tensor_nbytes(ws) || ws->shape[0] != ys[0] || ws->shape[1] != ys[1] ||
        ws->shape[2] != ys[2] || ws->shape[3] != ys[3])
        return ssd_error_set(SSD_E_INVAL, "%s: ws is not this backend's workspace for y", op);
    SSD_TRY(ssd_cuda_check_out(dx, op, "dx"));
    SSD_TRY(ssd_cuda_check_distinct(dx, dy, op, "dx", "dy"));
    SSD_TRY(ssd_cuda_check_distinct(dx, ws, op, "dx", "ws"));
    SSD_TRY(ssd_cuda_prepare_out(dx, be, SSD_F32, 4, x->shape));
    CU_TRY(cuk_maxpool_bwd(cuda_of(be)->stream, dx->data, dy->data, ws->data, &d));
    return SSD_OK;
}

/* ---- concat: strided copies, one 2-D memcpy per input ---- */

static ssd_status concat_shape(const char *op, const ssd_tensor *const *xs, int n, int axis,
                               int *ax, int64_t *shape) {
    if (!xs || n < 1) return ssd_error_set(SSD_E_INVAL, "%s: needs at least one input", op);
    SSD_TRY(ssd_cuda_check_in(xs[0], op, "xs[0]", -1));
    for (int k = 1; k < n; k++) {
        char name[24];
        snprintf(name, sizeof name, "xs[%d]", k);
        SSD_TRY(ssd_cuda_check_in(xs[k], op, name, xs[0]->ndim));
    }
    return ssd_concat_out_shape(op, xs, n, axis, ax, shape);
}

static void concat_runs(const ssd_tensor *const *xs, int ax, size_t *outer, size_t *inner) {
    *outer = 1;
    for (int i = 0; i < ax; i++) *outer *= (size_t)xs[0]->shape[i];
    *inner = sizeof(float);
    for (int i = ax + 1; i < xs[0]->ndim; i++) *inner *= (size_t)xs[0]->shape[i];
}

ssd_status ssd_cuda_concat_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *const *xs, int n,
                               int axis) {
    const char *op = "concat_fwd";
    int ax;
    int64_t shape[SSD_MAX_DIMS];
    SSD_TRY(concat_shape(op, xs, n, axis, &ax, shape));
    SSD_TRY(ssd_cuda_check_out(y, op, "y"));
    for (int k = 0; k < n; k++) SSD_TRY(ssd_cuda_check_distinct(y, xs[k], op, "y", "an input"));
    SSD_TRY(ssd_cuda_prepare_out(y, be, SSD_F32, xs[0]->ndim, shape));
    size_t outer, inner;
    concat_runs(xs, ax, &outer, &inner);
    const size_t row = inner * (size_t)shape[ax];
    size_t off = 0;
    for (int k = 0; k < n; k++) {
        const size_t run = inner * (size_t)xs[k]->shape[ax];
        if (run && outer == 1) /* one run: no 2-D pitch limit (2^31 bytes) */
            CU_TRY(cudaMemcpyAsync((char *)y->data + off, xs[k]->data, run,
                                   cudaMemcpyDeviceToDevice, cuda_of(be)->stream));
        else if (run && outer)
            CU_TRY(cudaMemcpy2DAsync((char *)y->data + off, row, xs[k]->data, run, run, outer,
                                     cudaMemcpyDeviceToDevice, cuda_of(be)->stream));
        off += run;
    }
    return SSD_OK;
}

ssd_status ssd_cuda_concat_bwd(ssd_backend *be, ssd_tensor *const *dxs, const ssd_tensor *dy,
                               const ssd_tensor *const *xs, int n, int axis) {
    const char *op = "concat_bwd";
    int ax;
    int64_t shape[SSD_MAX_DIMS];
    SSD_TRY(concat_shape(op, xs, n, axis, &ax, shape));
    SSD_TRY(ssd_cuda_check_shape(dy, op, "dy", xs[0]->ndim, shape));
    if (!dxs) return ssd_error_set(SSD_E_INVAL, "%s: dxs is NULL", op);
    for (int k = 0; k < n; k++) {
        char name[32];
        snprintf(name, sizeof name, "dxs[%d]", k);
        SSD_TRY(ssd_cuda_check_out(dxs[k], op, name));
        SSD_TRY(ssd_cuda_check_distinct(dxs[k], dy, op, name, "dy"));
    }
    for (int k = 0; k < n; k++)
        SSD_TRY(ssd_cuda_prepare_out(dxs[k], be, SSD_F32, xs[k]->ndim, xs[k]->shape));
    size_t outer, inner;
    concat_runs(xs, ax, &outer, &inner);
    const size_t row = inner * (size_t)shape[ax];
    size_t off = 0;
    for (int k = 0; k < n; k++) {
        const size_t run = inner * (size_t)xs[k]->shape[ax];
        if (run && outer == 1)
            CU_TRY(cudaMemcpyAsync(dxs[k]->data, (const char *)dy->data + off, run,
                                   cudaMemcpyDeviceToDevice, cuda_of(be)->stream));
        else if (run && outer)
            CU_TRY(cudaMemcpy2DAsync(dxs[k]->data, run, (const char *)dy->data + off, row, run,
                                     outer, cudaMemcpyDeviceToDevice, cuda_of(be)->stream));
        off += run;
    }
    return SSD_OK;
}

/* ---- softmax ---- */

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

ssd_status ssd_cuda_softmax_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                                const ssd_softmax_params *p) {
    const char *op = "softmax_fwd";
    SSD_TRY(ssd_cuda_check_in(x, op, "x", -1));
    int64_t outer, len, inner;
    SSD_TRY(softmax_dims(x, p, op, &outer, &len, &inner));
    SSD_TRY(ssd_cuda_check_out(y, op, "y"));
    SSD_TRY(ssd_cuda_prepare_out(y, be, SSD_F32, x->ndim, x->shape));
    CU_TRY(cuk_softmax_fwd(cuda_of(be)->stream, y->data, x->data, outer, len, inner, p->log));
    return SSD_OK;
}

ssd_status ssd_cuda_softmax_bwd(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                                const ssd_tensor *y, const ssd_softmax_params *p) {
    const char *op = "softmax_bwd";
    SSD_TRY(ssd_cuda_check_in(y, op, "y", -1));
    SSD_TRY(ssd_cuda_check_shape(dy, op, "dy", y->ndim, y->shape));
    int64_t outer, len, inner;
    SSD_TRY(softmax_dims(y, p, op, &outer, &len, &inner));
    SSD_TRY(ssd_cuda_check_out(dx, op, "dx"));
    SSD_TRY(ssd_cuda_prepare_out(dx, be, SSD_F32, y->ndim, y->shape));
    CU_TRY(cuk_softmax_bwd(cuda_of(be)->stream, dx->data, dy->data, y->data, outer, len, inner,
                           p->log));
    return SSD_OK;
}

/* ---- SSD head permute: NCHW <-> NHWC ---- */

static ssd_status head_shape(const char *op, const ssd_tensor *x, const ssd_head_params *p,
                             bool backward, int64_t *shape, int64_t *c0, int64_t *cc) {
    if (!x || !p) return ssd_error_set(SSD_E_INVAL, "%s: x or params is NULL", op);
    SSD_TRY(ssd_cuda_check_in(x, op, "x", 4));
    return ssd_head_dims(op, x, p, backward, c0, cc, shape);
}

ssd_status ssd_cuda_head_permute_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                                     const ssd_head_params *p) {
    const char *op = "head_permute_fwd";
    int64_t ys[3], c0, cc;
    SSD_TRY(head_shape(op, x, p, false, ys, &c0, &cc));
    SSD_TRY(ssd_cuda_check_out(y, op, "y"));
    SSD_TRY(ssd_cuda_check_distinct(y, x, op, "y", "x"));
    SSD_TRY(ssd_cuda_prepare_out(y, be, SSD_F32, 3, ys));
    if (cc == x->shape[1])
        CU_TRY(cuk_nchw_nhwc(cuda_of(be)->stream, y->data, x->data, x->shape[0], x->shape[1],
                             x->shape[2] * x->shape[3], 1));
    else
        CU_TRY(cuk_nchw_nhwc_range(cuda_of(be)->stream, y->data, x->data, x->shape[0], x->shape[1],
                                   c0, cc, x->shape[2] * x->shape[3]));
    return SSD_OK;
}

ssd_status ssd_cuda_head_permute_bwd(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                                     const ssd_tensor *x, const ssd_head_params *p) {
    const char *op = "head_permute_bwd";
    int64_t ys[3], c0, cc;
    SSD_TRY(head_shape(op, x, p, true, ys, &c0, &cc));
    SSD_TRY(ssd_cuda_check_shape(dy, op, "dy", 3, ys));
    SSD_TRY(ssd_cuda_check_out(dx, op, "dx"));
    SSD_TRY(ssd_cuda_check_distinct(dx, dy, op, "dx", "dy"));
    SSD_TRY(ssd_cuda_prepare_out(dx, be, SSD_F32, 4, x->shape));
    CU_TRY(cuk_nchw_nhwc(cuda_of(be)->stream, dx->data, dy->data, x->shape[0], x->shape[1],
                         x->shape[2] * x->shape[3], 0));
    return SSD_OK;
}

/* ---- L2Norm ---- */

static ssd_status l2_dims(const char *op, const ssd_tensor *x, const ssd_tensor *scale,
                          const ssd_l2norm_params *p) {
    if (!p || !(p->eps >= 0)) return ssd_error_set(SSD_E_INVAL, "%s: bad params", op);
    SSD_TRY(ssd_cuda_check_in(x, op, "x", 4));
    return ssd_cuda_check_shape(scale, op, "scale", 1, &x->shape[1]);
}

ssd_status ssd_cuda_l2norm_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                               const ssd_tensor *scale, const ssd_l2norm_params *p) {
    const char *op = "l2norm_fwd";
    SSD_TRY(l2_dims(op, x, scale, p));
    SSD_TRY(ssd_cuda_check_out(y, op, "y"));
    SSD_TRY(ssd_cuda_check_distinct(y, x, op, "y", "x"));
    SSD_TRY(ssd_cuda_prepare_out(y, be, SSD_F32, 4, x->shape));
    CU_TRY(cuk_l2norm_fwd(cuda_of(be)->stream, y->data, x->data, scale->data, x->shape[0],
                          x->shape[1], x->shape[2] * x->shape[3], p->eps));
    return SSD_OK;
}

ssd_status ssd_cuda_l2norm_bwd(ssd_backend *be, ssd_tensor *dx, ssd_tensor *dscale,
                               const ssd_tensor *dy, const ssd_tensor *x, const ssd_tensor *scale,
                               const ssd_l2norm_params *p) {
    const char *op = "l2norm_bwd";
    cuda_impl *ci = cuda_of(be);
    SSD_TRY(l2_dims(op, x, scale, p));
    SSD_TRY(ssd_cuda_check_shape(dy, op, "dy", 4, x->shape));
    if (dx) SSD_TRY(ssd_cuda_check_distinct(dx, dy, op, "dx", "dy"));
    if (dx) SSD_TRY(ssd_cuda_check_distinct(dx, x, op, "dx", "x"));
    if (!dx && !dscale) return SSD_OK;
    const int64_t n = x->shape[0], c = x->shape[1], hw = x->shape[2] * x->shape[3];
    void *rs;
    size_t rs_cap;
    SSD_TRY(ssd_cuda_pool_alloc(ci, (size_t)(n * hw) * sizeof(float), &rs, &rs_cap));
    ssd_status st = SSD_OK;
    if (dx) st = ssd_cuda_prepare_out(dx, be, SSD_F32, 4, x->shape);
    if (st == SSD_OK && dscale) st = ssd_cuda_prepare_out(dscale, be, SSD_F32, 1, &c);
    if (st == SSD_OK) {
        cudaError_t e =
            cuk_l2norm_bwd(ci->stream, dx ? dx->data : NULL, dscale ? dscale->data : NULL, rs,
                           dy->data, x->data, scale->data, n, c, hw, p->eps);
        if (e != cudaSuccess) st = ssd_cuda_err(e, "cuk_l2norm_bwd", __FILE__, __LINE__);
    }
    ssd_cuda_pool_free(ci, rs, rs_cap); /* stream-ordered: reused only by later work */
    return st;
}

/* ---- SGD ---- */

ssd_status ssd_cuda_sgd_update(ssd_backend *be, ssd_tensor *w, const ssd_tensor *g, ssd_tensor *buf,
                               double lr, double momentum, double weight_decay, bool first) {
    const char *op = "sgd_update";
    SSD_TRY(ssd_cuda_check_in(w, op, "w", -1));
    SSD_TRY(ssd_cuda_check_shape(g, op, "g", w->ndim, w->shape));
    if (first) {
        SSD_TRY(ssd_cuda_check_out(buf, op, "buf"));
        if (buf->be != be || !ssd_tensor_same_shape(buf, w) || buf->dtype != SSD_F32 ||
            !buf->data || buf->cap < ssd_tensor_nbytes(w))
            SSD_TRY(ssd_tensor_prepare_plain(buf, be, SSD_F32, w->ndim, w->shape));
    } else {
        SSD_TRY(ssd_cuda_check_shape(buf, op, "buf", w->ndim, w->shape));
    }
    buf->version++;
    w->version++;
    CU_TRY(cuk_sgd(cuda_of(be)->stream, w->data, g->data, buf->data, ssd_tensor_numel(w), (float)lr,
                   (float)momentum, (float)weight_decay, first));
    return SSD_OK;
}

/* ---- multibox loss ---- */

ssd_status ssd_cuda_multibox_loss(ssd_backend *be, ssd_tensor *dconf, ssd_tensor *dloc,
                                  double out[2], const ssd_tensor *conf, const ssd_tensor *loc,
                                  const ssd_tensor *labels, const ssd_tensor *gt_loc,
                                  int neg_pos_ratio) {
    const char *op = "multibox_loss";
    cuda_impl *ci = cuda_of(be);
    SSD_TRY(ssd_cuda_check_in(conf, op, "conf", 3));
    const int64_t n = conf->shape[0], k = conf->shape[1], c = conf->shape[2];
    /* k leaves room for the mining kernel's per-thread runs (k + 1024 fits an int) */
    if (n > INT32_MAX || k > INT32_MAX - 1024 || c < 1 || c > INT32_MAX || neg_pos_ratio < 0)
        return ssd_error_set(SSD_E_INVAL,
                             "%s: bad sizes (batch %lld, %lld priors, %lld classes, "
                             "neg_pos_ratio %d)",
                             op, (long long)n, (long long)k, (long long)c, neg_pos_ratio);
    const int64_t lshape[3] = {n, k, 4};
    SSD_TRY(ssd_cuda_check_shape(loc, op, "loc", 3, lshape));
    SSD_TRY(ssd_cuda_check_shape(gt_loc, op, "gt_loc", 3, lshape));
    if (!labels || labels->be != be || labels->dtype != SSD_I64 || labels->ndim != 2 ||
        labels->shape[0] != n || labels->shape[1] != k || labels->layout)
        return ssd_error_set(SSD_E_INVAL,
                             "%s: labels must be a plain (N,K) int64 tensor of the "
                             "cuda backend",
                             op);
    SSD_TRY(ssd_check_plain_storage(labels, op, "labels", 2));
    if ((dconf == NULL) != (dloc == NULL))
        return ssd_error_set(SSD_E_INVAL, "%s: dconf and dloc come together", op);
    if (dconf) {
        const ssd_tensor *ins[4] = {conf, loc, labels, gt_loc};
        for (int i = 0; i < 4; i++) {
            SSD_TRY(ssd_cuda_check_distinct(dconf, ins[i], op, "dconf", "an input"));
            SSD_TRY(ssd_cuda_check_distinct(dloc, ins[i], op, "dloc", "an input"));
        }
        SSD_TRY(ssd_cuda_prepare_out(dconf, be, SSD_F32, 3, conf->shape));
        SSD_TRY(ssd_cuda_prepare_out(dloc, be, SSD_F32, 3, lshape));
    }
    void *scratch;
    size_t cap;
    SSD_TRY(ssd_cuda_pool_alloc(ci, cuk_multibox_loss_scratch((int)n, (int)k), &scratch, &cap));
    unsigned char res[24];
    cudaError_t e = cuk_multibox_loss(
        ci->stream, dconf ? dconf->data : NULL, dloc ? dloc->data : NULL, scratch, conf->data,
        loc->data, labels->data, gt_loc->data, (int)n, (int)k, (int)c, neg_pos_ratio);
    if (e == cudaSuccess)
        e = cudaMemcpyAsync(res, scratch, sizeof res, cudaMemcpyDeviceToHost, ci->stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(ci->stream);
    ssd_cuda_pool_free(ci, scratch, cap);
    if (e != cudaSuccess) return ssd_cuda_err(e, "cuk_multibox_loss", __FILE__, __LINE__);
    uint64_t bad;
    memcpy(out, res, 2 * sizeof(double));
    memcpy(&bad, res + 16, sizeof bad);
    if (bad != UINT64_MAX) {
        int64_t lab = 0;
        CU_TRY(cudaMemcpy(&lab, (const int64_t *)labels->data + bad, sizeof lab,
                          cudaMemcpyDeviceToHost));
        return ssd_error_set(SSD_E_INVAL,
                             "multibox loss: label %lld of prior %llu in image %llu is outside "
                             "[0, %lld)",
                             (long long)lab, (unsigned long long)(bad % (uint64_t)k),
                             (unsigned long long)(bad / (uint64_t)k), (long long)c);
    }
    return SSD_OK;
}
