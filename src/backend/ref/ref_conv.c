/* conv2d on the reference backend: argument checks and shape inference here,
 * the loops in ref_conv_tmpl.h. */
#include "backend/ref/ref_ops.h"

#include "tensor/convert.h"

typedef struct {
    int64_t n, c, h, w; /* input */
    int64_t o, ho, wo;  /* output */
    int kh, kw, sh, sw, ph, pw, dh, dw, groups;
    ssd_act act;
} ref_conv_dims;

#define REF_TEMPLATE "backend/ref/ref_conv_tmpl.h"
#include "backend/ref/ref_instantiate.h"

/* Checks x, w, b against each other and p, and fills d (output size included). */
static ssd_status conv_dims(ref_conv_dims *d, const char *op, const ssd_tensor *x,
                            const ssd_tensor *w, const ssd_tensor *b, const ssd_conv2d_params *p) {
    if (!x || !p) return ssd_error_set(SSD_E_INVAL, "%s: x or params is NULL", op);
    SSD_TRY(ssd_ref_check_dtype(x->dtype, op));
    SSD_TRY(ssd_ref_check_in(x, op, "x", x->dtype, 4));
    SSD_TRY(ssd_ref_check_in(w, op, "w", x->dtype, 4));
    if (p->groups < 1 || p->stride[0] < 1 || p->stride[1] < 1 || p->dilation[0] < 1 ||
        p->dilation[1] < 1 || p->pad[0] < 0 || p->pad[1] < 0)
        return ssd_error_set(SSD_E_INVAL,
                             "%s: bad params (groups %d, stride %dx%d, pad %dx%d, dilation %dx%d)",
                             op, p->groups, p->stride[0], p->stride[1], p->pad[0], p->pad[1],
                             p->dilation[0], p->dilation[1]);
    if ((unsigned)p->act > SSD_ACT_RELU6)
        return ssd_error_set(SSD_E_INVAL, "%s: unknown activation %d", op, (int)p->act);
    if (p->prec != SSD_CONV_F32) /* conv2d_infer has rounded the operands and passes F32 */
        return ssd_error_set(SSD_E_INVAL, "%s: bfloat16 is for inference (conv2d_infer)", op);
    *d = (ref_conv_dims){.n = x->shape[0],
                         .c = x->shape[1],
                         .h = x->shape[2],
                         .w = x->shape[3],
                         .o = w->shape[0],
                         .kh = (int)w->shape[2],
                         .kw = (int)w->shape[3],
                         .sh = p->stride[0],
                         .sw = p->stride[1],
                         .ph = p->pad[0],
                         .pw = p->pad[1],
                         .dh = p->dilation[0],
                         .dw = p->dilation[1],
                         .groups = p->groups,
                         .act = p->act};
    if (d->c % p->groups || d->o % p->groups || w->shape[1] * p->groups != d->c)
        return ssd_error_set(SSD_E_INVAL,
                             "%s: x has %lld channels, w is (%lld, %lld, ., .) with groups %d", op,
                             (long long)d->c, (long long)d->o, (long long)w->shape[1], p->groups);
    if (d->kh < 1 || d->kw < 1)
        return ssd_error_set(SSD_E_INVAL, "%s: empty kernel %dx%d", op, d->kh, d->kw);
    if (b) {
        int64_t bs[1] = {d->o};
        SSD_TRY(ssd_ref_check_shape(b, op, "b", x->dtype, 1, bs));
    }
    d->ho = ssd_conv_out_size(d->h, d->kh, d->sh, d->ph, d->dh);
    d->wo = ssd_conv_out_size(d->w, d->kw, d->sw, d->pw, d->dw);
    if (d->ho < 1 || d->wo < 1)
        return ssd_error_set(SSD_E_INVAL, "%s: input %lldx%lld too small for kernel %dx%d", op,
                             (long long)d->h, (long long)d->w, d->kh, d->kw);
    return SSD_OK;
}

ssd_status ssd_ref_conv2d_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                              const ssd_tensor *w, const ssd_tensor *b,
                              const ssd_conv2d_params *p) {
    const char *op = "conv2d_fwd";
    ref_conv_dims d;
    SSD_TRY(conv_dims(&d, op, x, w, b, p));
    SSD_TRY(ssd_ref_check_out(y, op, "y"));
    SSD_TRY(ssd_ref_check_distinct(y, x, op, "y", "x"));
    int64_t ys[4] = {d.n, d.o, d.ho, d.wo};
    SSD_TRY(ssd_ref_prepare_out(y, be, x->dtype, 4, ys));
    REF_DISPATCH(x->dtype, conv_fwd, y->data, x->data, w->data, b ? b->data : NULL, &d);
    return SSD_OK;
}

/* Rounds n floats to bfloat16 (to nearest even), kept as float32. */
static void round_bf16(float *dst, const float *src, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = ssd_bf16_to_float(ssd_float_to_bf16(src[i]));
}

/* A float32 copy of t with its values rounded to bfloat16. */
static ssd_status rounded_copy(ssd_tensor *r, ssd_backend *be, const ssd_tensor *t) {
    ssd_tensor_init(r, be, SSD_F32, t->ndim, t->shape);
    SSD_TRY(ssd_tensor_alloc(r));
    round_bf16(r->data, t->data, ssd_tensor_numel(t));
    return SSD_OK;
}

/* bfloat16 emulated: the operands rounded, the float32 conv (summed in
 * double, so it stands for any float32 summation order), y rounded last. */
ssd_status ssd_ref_conv2d_infer(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                                const ssd_tensor *w, const ssd_tensor *b,
                                const ssd_conv2d_params *p) {
    if (!p || p->prec == SSD_CONV_F32) return ssd_ref_conv2d_fwd(be, y, x, w, b, p);
    const char *op = "conv2d_infer";
    if ((unsigned)p->prec > SSD_CONV_BF16_Y)
        return ssd_error_set(SSD_E_INVAL, "%s: precision %d", op, (int)p->prec);
    if (!x || !w) return ssd_error_set(SSD_E_INVAL, "%s: x or w is NULL", op);
    SSD_TRY(ssd_ref_check_in(x, op, "x", SSD_F32, 4));
    SSD_TRY(ssd_ref_check_in(w, op, "w", SSD_F32, 4));
    SSD_TRY(ssd_ref_check_distinct(y, x, op, "y", "x"));
    ssd_conv2d_params q = *p;
    q.prec = SSD_CONV_F32;
    ssd_tensor xr, wr;
    ssd_tensor_init(&xr, be, SSD_F32, 0, NULL);
    ssd_tensor_init(&wr, be, SSD_F32, 0, NULL);
    ssd_status st = rounded_copy(&xr, be, x);
    if (st == SSD_OK) st = rounded_copy(&wr, be, w);
    if (st == SSD_OK) st = ssd_ref_conv2d_fwd(be, y, &xr, &wr, b, &q);
    if (st == SSD_OK && p->prec == SSD_CONV_BF16_Y)
        round_bf16(y->data, y->data, ssd_tensor_numel(y));
    ssd_tensor_deinit(&xr);
    ssd_tensor_deinit(&wr);
    return st;
}

ssd_status ssd_ref_conv2d_bwd_data(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                                   const ssd_tensor *x, const ssd_tensor *w,
                                   const ssd_conv2d_params *p) {
    const char *op = "conv2d_bwd_data";
    ref_conv_dims d;
    SSD_TRY(conv_dims(&d, op, x, w, NULL, p));
    int64_t ys[4] = {d.n, d.o, d.ho, d.wo};
    SSD_TRY(ssd_ref_check_shape(dy, op, "dy", x->dtype, 4, ys));
    SSD_TRY(ssd_ref_check_out(dx, op, "dx"));
    SSD_TRY(ssd_ref_check_distinct(dx, dy, op, "dx", "dy"));
    SSD_TRY(ssd_ref_prepare_out(dx, be, x->dtype, 4, x->shape));
    REF_DISPATCH(x->dtype, conv_bwd_data, dx->data, dy->data, w->data, &d);
    return SSD_OK;
}

ssd_status ssd_ref_conv2d_bwd_weights(ssd_backend *be, ssd_tensor *dw, ssd_tensor *db,
                                      const ssd_tensor *dy, const ssd_tensor *x,
                                      const ssd_tensor *w, const ssd_conv2d_params *p) {
    const char *op = "conv2d_bwd_weights";
    ref_conv_dims d;
    SSD_TRY(conv_dims(&d, op, x, w, NULL, p));
    int64_t ys[4] = {d.n, d.o, d.ho, d.wo};
    SSD_TRY(ssd_ref_check_shape(dy, op, "dy", x->dtype, 4, ys));
    SSD_TRY(ssd_ref_check_out(dw, op, "dw"));
    SSD_TRY(ssd_ref_check_distinct(dw, x, op, "dw", "x"));
    SSD_TRY(ssd_ref_check_distinct(dw, dy, op, "dw", "dy"));
    SSD_TRY(ssd_ref_prepare_out(dw, be, x->dtype, 4, w->shape));
    if (db) SSD_TRY(ssd_ref_prepare_out(db, be, x->dtype, 1, &d.o));
    REF_DISPATCH(x->dtype, conv_bwd_weights, dw->data, db ? db->data : NULL, dy->data, x->data, &d);
    return SSD_OK;
}
