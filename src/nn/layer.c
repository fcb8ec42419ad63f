#include "nn/nn.h"

#include "core/mem.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void init_common(ssd_layer *l, ssd_layer_kind kind, ssd_backend *be, const char *name) {
    memset(l, 0, sizeof *l);
    l->kind = kind;
    l->be = be;
    l->need_dx = true;
    l->y = &l->y_own;
    l->dx = &l->dx_own;
    snprintf(l->name, sizeof l->name, "%s", name);
}

static ssd_status alloc_param(ssd_tensor *t, ssd_backend *be, int ndim, const int64_t *shape,
                              double fill) {
    ssd_tensor_init(t, be, SSD_F32, ndim, shape);
    SSD_TRY(ssd_tensor_alloc(t));
    return fill != 0 ? ssd_tensor_fill(t, fill) : SSD_OK;
}

ssd_status ssd_layer_conv_init(ssd_layer *l, ssd_backend *be, const char *name, int cin, int cout,
                               int k, int stride, int pad, int dilation, int groups, bool bias,
                               ssd_act act) {
    init_common(l, SSD_L_CONV, be, name);
    ssd_conv_layer *c = &l->u.conv;
    c->dpre = &c->dpre_own;
    c->cin = cin;
    c->cout = cout;
    c->k = k;
    c->has_bias = bias;
    c->p = (ssd_conv2d_params){{stride, stride}, {pad, pad}, {dilation, dilation},
                               groups,           act,        SSD_CONV_F32};
    int64_t ws[4] = {cout, cin / groups, k, k}, bs[1] = {cout};
    SSD_TRY(alloc_param(&c->w, be, 4, ws, 0));
    ssd_tensor_init(&c->gw, be, SSD_F32, 4, ws);
    if (bias) {
        SSD_TRY(alloc_param(&c->b, be, 1, bs, 0));
        ssd_tensor_init(&c->gb, be, SSD_F32, 1, bs);
    }
    return SSD_OK;
}

ssd_status ssd_layer_bn_init(ssd_layer *l, ssd_backend *be, const char *name, int c, ssd_act act) {
    init_common(l, SSD_L_BN, be, name);
    ssd_bn_layer *b = &l->u.bn;
    b->c = c;
    b->p = (ssd_bn_params){.eps = 1e-5, .momentum = 0.1, .training = true, .act = act};
    int64_t s[1] = {c};
    SSD_TRY(alloc_param(&b->gamma, be, 1, s, 1.0));
    SSD_TRY(alloc_param(&b->beta, be, 1, s, 0));
    SSD_TRY(alloc_param(&b->running_mean, be, 1, s, 0));
    SSD_TRY(alloc_param(&b->running_var, be, 1, s, 1.0));
    ssd_tensor_init(&b->ggamma, be, SSD_F32, 1, s);
    ssd_tensor_init(&b->gbeta, be, SSD_F32, 1, s);
    ssd_tensor_init(&b->save_mean, be, SSD_F32, 1, s);
    ssd_tensor_init(&b->save_invstd, be, SSD_F32, 1, s);
    ssd_tensor_init(&b->ws, be, SSD_U8, 1, s);
    return SSD_OK;
}

void ssd_layer_act_init(ssd_layer *l, ssd_backend *be, const char *name, ssd_act act) {
    init_common(l, SSD_L_ACT, be, name);
    l->u.act.kind = act;
}

void ssd_layer_maxpool_init(ssd_layer *l, ssd_backend *be, const char *name, int k, int stride,
                            int pad, bool ceil_mode) {
    init_common(l, SSD_L_MAXPOOL, be, name);
    l->u.pool.p = (ssd_pool_params){{k, k}, {stride, stride}, {pad, pad}, ceil_mode};
    int64_t s[1] = {1};
    ssd_tensor_init(&l->u.pool.ws, be, SSD_U8, 1, s);
}

void ssd_layer_gap_init(ssd_layer *l, ssd_backend *be, const char *name) {
    init_common(l, SSD_L_GAP, be, name);
}

/* Ops added to the vtable after some backends were written may be NULL there. */
static ssd_status no_op(const ssd_layer *l, const char *op) {
    return ssd_error_set(SSD_E_UNSUPPORTED, "%s: the %s backend has no %s", l->name,
                         l->be->ops->name, op);
}

ssd_status ssd_layer_l2norm_init(ssd_layer *l, ssd_backend *be, const char *name, int c,
                                 double scale) {
    init_common(l, SSD_L_L2NORM, be, name);
    l->u.l2.p.eps = 1e-10;
    int64_t s[1] = {c};
    SSD_TRY(alloc_param(&l->u.l2.scale, be, 1, s, scale));
    ssd_tensor_init(&l->u.l2.gscale, be, SSD_F32, 1, s);
    return SSD_OK;
}

void ssd_layer_deinit(ssd_layer *l) {
    if (!l) return;
    ssd_tensor_deinit(&l->y_own);
    ssd_tensor_deinit(&l->dx_own);
    switch (l->kind) {
    case SSD_L_CONV: {
        ssd_conv_layer *c = &l->u.conv;
        ssd_tensor *ts[] = {&c->w, &c->b, &c->gw, &c->gb, &c->dpre_own};
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) ssd_tensor_deinit(ts[i]);
        break;
    }
    case SSD_L_BN: {
        ssd_bn_layer *b = &l->u.bn;
        ssd_tensor *ts[] = {&b->gamma, &b->beta,      &b->running_mean, &b->running_var, &b->ggamma,
                            &b->gbeta, &b->save_mean, &b->save_invstd,  &b->ws};
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) ssd_tensor_deinit(ts[i]);
        break;
    }
    case SSD_L_MAXPOOL:
        ssd_tensor_deinit(&l->u.pool.ws);
        break;
    case SSD_L_L2NORM:
        ssd_tensor_deinit(&l->u.l2.scale);
        ssd_tensor_deinit(&l->u.l2.gscale);
        break;
    case SSD_L_ACT:
    case SSD_L_GAP:
        break;
    }
}

void ssd_layer_out_shape(const ssd_layer *l, const int64_t in[4], int64_t out[4]) {
    memcpy(out, in, 4 * sizeof *out);
    if (l->kind == SSD_L_CONV) {
        const ssd_conv_layer *c = &l->u.conv;
        out[1] = c->cout;
        out[2] = ssd_conv_out_size(in[2], c->k, c->p.stride[0], c->p.pad[0], c->p.dilation[0]);
        out[3] = ssd_conv_out_size(in[3], c->k, c->p.stride[1], c->p.pad[1], c->p.dilation[1]);
    } else if (l->kind == SSD_L_MAXPOOL) {
        const ssd_pool_params *p = &l->u.pool.p;
        out[2] = ssd_pool_out_size(in[2], p->kernel[0], p->stride[0], p->pad[0], p->ceil_mode);
        out[3] = ssd_pool_out_size(in[3], p->kernel[1], p->stride[1], p->pad[1], p->ceil_mode);
    } else if (l->kind == SSD_L_GAP) {
        out[2] = out[3] = 1;
    }
}

ssd_status ssd_layer_forward(ssd_layer *l, const ssd_tensor *x, bool training) {
    const ssd_backend_ops *ops = l->be->ops;
    ssd_status st = SSD_OK;
    l->x = x;
    switch (l->kind) {
    case SSD_L_CONV: {
        ssd_conv_layer *c = &l->u.conv;
        /* outside training the backend may pick inference kernels (cpu: Winograd heads) */
        if (!training && ops->conv2d_infer) {
            st = ops->conv2d_infer(l->be, l->y, x, &c->w, c->has_bias ? &c->b : NULL, &c->p);
        } else { /* training is float32 whatever the inference precision */
            ssd_conv2d_params p = c->p;
            p.prec = SSD_CONV_F32;
            st = ops->conv2d_fwd(l->be, l->y, x, &c->w, c->has_bias ? &c->b : NULL, &p);
        }
        break;
    }
    case SSD_L_BN: {
        ssd_bn_layer *b = &l->u.bn;
        b->p.training = training;
        st = ops->bn_fwd(l->be, l->y, &b->save_mean, &b->save_invstd, &b->ws, x, &b->gamma,
                         &b->beta, &b->running_mean, &b->running_var, &b->p);
        if (st == SSD_OK && training && !b->p.use_saved) {
            b->num_batches_tracked++;
            b->running_mean.version++;
            b->running_var.version++;
        }
        break;
    }
    case SSD_L_ACT:
        st = ops->act_fwd(l->be, l->y, x, &l->u.act);
        break;
    case SSD_L_MAXPOOL:
        st = ops->maxpool_fwd(l->be, l->y, &l->u.pool.ws, x, &l->u.pool.p);
        break;
    case SSD_L_L2NORM:
        st = ops->l2norm_fwd(l->be, l->y, x, &l->u.l2.scale, &l->u.l2.p);
        break;
    case SSD_L_GAP:
        if (!ops->gap_fwd) return no_op(l, "global average pool");
        st = ops->gap_fwd(l->be, l->y, x);
        break;
    }
    if (st == SSD_OK) l->y->version++;
    return st == SSD_OK ? st : ssd_error_prefix(st, "%s", l->name);
}

static ssd_status conv_backward(ssd_layer *l, const ssd_tensor *dy) {
    const ssd_backend_ops *ops = l->be->ops;
    ssd_conv_layer *c = &l->u.conv;
    ssd_conv2d_params p = c->p; /* training is float32 whatever the inference precision */
    p.prec = SSD_CONV_F32;
    if (c->p.act != SSD_ACT_NONE) {
        ssd_act_params ap = {c->p.act};
        SSD_TRY(ops->act_bwd(l->be, c->dpre, dy, NULL, l->y, &ap));
        dy = c->dpre;
    }
    if (!l->frozen) {
        SSD_TRY(ops->conv2d_bwd_weights(l->be, &c->gw, c->has_bias ? &c->gb : NULL, dy, l->x, &c->w,
                                        &p));
        c->gw.version++;
        c->gb.version++;
    }
    if (l->need_dx) SSD_TRY(ops->conv2d_bwd_data(l->be, l->dx, dy, l->x, &c->w, &p));
    return SSD_OK;
}

ssd_status ssd_layer_backward(ssd_layer *l, const ssd_tensor *dy, bool training) {
    const ssd_backend_ops *ops = l->be->ops;
    ssd_status st = SSD_OK;
    switch (l->kind) {
    case SSD_L_CONV:
        st = conv_backward(l, dy);
        break;
    case SSD_L_BN: {
        ssd_bn_layer *b = &l->u.bn;
        b->p.training = training;
        /* The BN op computes dx and the parameter gradients in one pass; a frozen BN
         * still needs dx when something before it trains. */
        if (l->need_dx || !l->frozen)
            st = ops->bn_bwd(l->be, l->dx, &b->ggamma, &b->gbeta, dy, l->x, l->y, &b->ws, &b->gamma,
                             &b->save_mean, &b->save_invstd, &b->running_var, &b->p);
        break;
    }
    case SSD_L_ACT:
        if (l->need_dx) st = ops->act_bwd(l->be, l->dx, dy, l->x, l->y, &l->u.act);
        break;
    case SSD_L_MAXPOOL:
        if (l->need_dx) st = ops->maxpool_bwd(l->be, l->dx, dy, &l->u.pool.ws, l->x, &l->u.pool.p);
        break;
    case SSD_L_L2NORM:
        st = ops->l2norm_bwd(l->be, l->dx, &l->u.l2.gscale, dy, l->x, &l->u.l2.scale, &l->u.l2.p);
        break;
    case SSD_L_GAP:
        if (!ops->gap_bwd) return no_op(l, "global average pool backward");
        if (l->need_dx) st = ops->gap_bwd(l->be, l->dx, dy, l->x);
        break;
    }
    if (st == SSD_OK) l->dx->version++;
    return st == SSD_OK ? st : ssd_error_prefix(st, "%s backward", l->name);
}

/* Fills t with U(-bound, bound) from rng, in the tensor's logical order. */
static ssd_status fill_uniform(ssd_tensor *t, ssd_rng *rng, double bound) {
    int64_t n = ssd_tensor_numel(t);
    float *h = ssd_malloc((size_t)n * sizeof *h);
    if (!h) return SSD_E_NOMEM;
    for (int64_t i = 0; i < n; i++) h[i] = (float)ssd_rng_range(rng, -bound, bound);
    ssd_status st = ssd_tensor_set(t, h, SSD_F32);
    ssd_free(h);
    return st;
}

ssd_status ssd_layer_reset(ssd_layer *l, ssd_rng *rng) {
    if (l->kind == SSD_L_CONV) {
        ssd_conv_layer *c = &l->u.conv;
        double fan_in = (double)(c->cin / c->p.groups) * c->k * c->k;
        /* kaiming_uniform_(a=sqrt(5)) reduces to U(+-1/sqrt(fan_in)), the same bound as the bias.
         */
        SSD_TRY(fill_uniform(&c->w, rng, 1.0 / sqrt(fan_in)));
        if (c->has_bias) SSD_TRY(fill_uniform(&c->b, rng, 1.0 / sqrt(fan_in)));
    } else if (l->kind == SSD_L_BN) {
        ssd_bn_layer *b = &l->u.bn;
        SSD_TRY(ssd_tensor_fill(&b->gamma, 1.0));
        SSD_TRY(ssd_tensor_fill(&b->beta, 0.0));
        SSD_TRY(ssd_tensor_fill(&b->running_mean, 0.0));
        SSD_TRY(ssd_tensor_fill(&b->running_var, 1.0));
        b->num_batches_tracked = 0;
    }
    return SSD_OK;
}

ssd_status ssd_layer_xavier(ssd_layer *l, ssd_rng *rng) {
    if (l->kind != SSD_L_CONV) return SSD_OK;
    ssd_conv_layer *c = &l->u.conv;
    double rf = (double)c->k * c->k;
    double fan_in = (double)(c->cin / c->p.groups) * rf, fan_out = (double)c->cout * rf;
    return fill_uniform(&c->w, rng, sqrt(6.0 / (fan_in + fan_out)));
}
