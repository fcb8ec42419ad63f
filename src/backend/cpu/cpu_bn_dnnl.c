/* Batch norm on oneDNN's primitive, in whatever layout x arrives in, with
 * ReLU fused into it (dnnl_fuse_norm_relu, mask in the workspace) and ReLU6
 * as an in-place pass after it. cpu_bn.c uses it for layouts its own kernels
 * do not cover, and when asked to (ssd_backend_cpu_set_bn_onednn).
 *
 * ws: the cpu_bn.h header, the batch variance as oneDNN computed it (so
 * backward uses exactly the statistics of forward), then the ReLU mask. */
#include "backend/cpu/cpu.h"

#include "backend/cpu/cpu_bn.h"
#include "core/mem.h"

#include <math.h>
#include <string.h>

typedef struct {
    cpu_prim p;
    size_t relu_ws; /* bytes of the fused-ReLU workspace, 0 when not fused */
    cpu_buf var;    /* variance when the caller gives no ws */
} fwd_entry;

static void fwd_destroy(void *o) {
    fwd_entry *e = o;
    if (!e) return;
    cpu_prim_destroy(&e->p);
    cpu_buf_free(&e->var);
    ssd_free(e);
}

static unsigned bn_flags(bool training, bool global, bool fuse_relu) {
    unsigned f = dnnl_use_scale | dnnl_use_shift;
    if (!training || global) f |= dnnl_use_global_stats;
    if (fuse_relu) f |= dnnl_fuse_norm_relu;
    return f;
}

static void md_c(dnnl_memory_desc_t *md, int64_t c) {
    dnnl_dims_t d = {c};
    dnnl_memory_desc_init_by_tag(md, 1, d, dnnl_f32, dnnl_a);
}

/* global: training with given statistics (use_saved): oneDNN's training
 * forward with use_global_stats normalises with the same kernel as with
 * batch statistics, and still writes the fused-ReLU mask. */
static ssd_status fwd_make(cpu_impl *c, const dnnl_memory_desc_t *md, float eps, bool training,
                           bool global, bool fuse, fwd_entry **out) {
    ssd_status st;
    dnnl_batch_normalization_desc_t d;
    dnnl_memory_desc_t cmd;
    md_c(&cmd, md->dims[1]);
    int nthr = cpu_nthr_bytes(2 * cpu_md_size(md));
    fwd_entry *e = ssd_calloc(1, sizeof *e);
    if (!e) return SSD_E_NOMEM;
    dnnl_status_t s = dnnl_batch_normalization_forward_desc_init(
        &d, training ? dnnl_forward_training : dnnl_forward_inference, md, eps,
        bn_flags(training, global, fuse));
    if (s != dnnl_success) {
        st = cpu_dnnl_err(s, "batch norm forward descriptor");
        goto fail;
    }
    SSD_CHECK_GOTO(st, cpu_prim_create(c, &e->p, &d, NULL, NULL, nthr, "batch norm forward"), fail);
    SSD_CHECK_GOTO(st, cpu_prim_arg(c, &e->p, DNNL_ARG_SRC, md), fail);
    SSD_CHECK_GOTO(st, cpu_prim_arg(c, &e->p, DNNL_ARG_SCALE, &cmd), fail);
    SSD_CHECK_GOTO(st, cpu_prim_arg(c, &e->p, DNNL_ARG_SHIFT, &cmd), fail);
    SSD_CHECK_GOTO(st, cpu_prim_arg(c, &e->p, DNNL_ARG_MEAN, &cmd), fail);
    SSD_CHECK_GOTO(st, cpu_prim_arg(c, &e->p, DNNL_ARG_VARIANCE, &cmd), fail);
    SSD_CHECK_GOTO(st, cpu_prim_arg(c, &e->p, DNNL_ARG_DST, md), fail);
    if (fuse && training) {
        const dnnl_memory_desc_t *ws = cpu_pd_md(&e->p, dnnl_query_workspace_md);
        e->relu_ws = ws ? cpu_md_size(ws) : 0;
        if (e->relu_ws) SSD_CHECK_GOTO(st, cpu_prim_arg(c, &e->p, DNNL_ARG_WORKSPACE, ws), fail);
    }
    *out = e;
    return SSD_OK;
fail:
    fwd_destroy(e);
    return st;
}

static void key_bn(cpu_key *k, int kind, const dnnl_memory_desc_t *md, float eps, bool training,
                   bool global, bool fuse) {
    cpu_key_init(k, kind);
    union {
        float f;
        uint32_t u;
    } e = {eps};
    cpu_key_add(k, e.u);
    cpu_key_add(k, training);
    cpu_key_add(k, global);
    cpu_key_add(k, fuse);
    cpu_key_md(k, md);
}

/* The fused-ReLU mask needs the workspace, so fusion is used only in training
 * with a ws tensor; eval mode fuses too (inference needs no mask). */
static bool fused(const ssd_bn_params *p, bool have_ws) {
    return p->act == SSD_ACT_RELU && (!p->training || have_ws);
}

ssd_status cpu_bn_fwd_dnnl(ssd_backend *be, ssd_tensor *y, ssd_tensor *save_mean,
                           ssd_tensor *save_invstd, ssd_tensor *ws, const ssd_tensor *x,
                           const ssd_tensor *gamma, const ssd_tensor *beta,
                           ssd_tensor *running_mean, ssd_tensor *running_var,
                           const ssd_bn_params *p) {
    cpu_impl *c = cpu_of(be);
    int64_t C = x->shape[1];
    int64_t count = x->shape[0] * x->shape[2] * x->shape[3];
    const bool saved = p->training && p->use_saved;
    dnnl_memory_desc_t md;
    cpu_md_of(x, &md);
    bool fuse = fused(p, ws != NULL);
    float eps = (float)p->eps;
    cpu_key k;
    key_bn(&k, CPU_K_BN_FWD, &md, eps, p->training, saved, fuse);
    fwd_entry *e = cpu_cache_find(c, &k);
    if (!e) {
        SSD_TRY(fwd_make(c, &md, eps, p->training, saved, fuse, &e));
        SSD_TRY(cpu_cache_insert(c, &k, e, fwd_destroy));
    }
    void *mean, *var;
    if (saved) {
        /* The variance oneDNN computed is in the ws its forward wrote; without
         * that ws it is rebuilt from 1/std (close, but not bitwise). */
        mean = save_mean->data;
        bool have = ws && cpu_bn_ws_payload(ws, CPU_BN_WS_DNNL, C) >= ALIGN64((size_t)C * 4);
        if (!have) {
            SSD_TRY(cpu_buf_reserve(&e->var, (size_t)C * 4));
            float *v = e->var.p;
            const float *inv = save_invstd->data;
            for (int64_t i = 0; i < C; i++)
                v[i] = (float)(1.0 / ((double)inv[i] * inv[i]) - p->eps);
        }
        if (ws && !have) {
            SSD_TRY(cpu_bn_ws(be, ws, CPU_BN_WS_DNNL, C, ALIGN64((size_t)C * 4) + e->relu_ws));
            memcpy((char *)ws->data + CPU_BN_WS_HDR, e->var.p, (size_t)C * 4);
        }
        var = ws ? (char *)ws->data + CPU_BN_WS_HDR : e->var.p;
    } else if (p->training) {
        int64_t cs = C;
        SSD_TRY(cpu_out_plain(be, save_mean, 1, &cs));
        SSD_TRY(cpu_out_plain(be, save_invstd, 1, &cs));
        mean = save_mean->data;
        if (ws) {
            SSD_TRY(cpu_bn_ws(be, ws, CPU_BN_WS_DNNL, C, ALIGN64((size_t)C * 4) + e->relu_ws));
            var = (char *)ws->data + CPU_BN_WS_HDR;
        } else {
            SSD_TRY(cpu_buf_reserve(&e->var, (size_t)C * 4));
            var = e->var.p;
        }
    } else {
        mean = running_mean->data;
        var = running_var->data;
    }
    int64_t shape[4] = {x->shape[0], x->shape[1], x->shape[2], x->shape[3]};
    SSD_TRY(cpu_out(be, y, 4, shape, &md));
    void *h[7] = {x->data,
                  gamma->data,
                  beta->data,
                  mean,
                  var,
                  y->data,
                  e->relu_ws ? (char *)ws->data + CPU_BN_WS_HDR + ALIGN64((size_t)C * 4) : NULL};
    SSD_TRY(cpu_prim_exec(c, &e->p, h));
    if (p->act != SSD_ACT_NONE && !fuse)
        cpu_act_apply(p->act, y->data, y->data, (int64_t)(cpu_md_size(&md) / sizeof(float)));
    if (saved) return SSD_OK;

    const float *v = var;
    if (p->training) {
        float *rm = running_mean->data, *rv = running_var->data, *inv = save_invstd->data;
        const float *m = mean;
        double mom = p->momentum, unbias = (double)count / (double)(count - 1);
        for (int64_t i = 0; i < C; i++) {
            inv[i] = (float)(1.0 / sqrt((double)v[i] + p->eps));
            rm[i] = (float)((1.0 - mom) * rm[i] + mom * m[i]);
            rv[i] = (float)((1.0 - mom) * rv[i] + mom * unbias * v[i]);
        }
        running_mean->version++;
        running_var->version++;
    } else {
        /* Eval mode still reports the statistics it used, for backward. */
        int64_t cs = C;
        if (save_mean) {
            SSD_TRY(cpu_out_plain(be, save_mean, 1, &cs));
            memcpy(save_mean->data, running_mean->data, (size_t)C * 4);
        }
        if (save_invstd) {
            SSD_TRY(cpu_out_plain(be, save_invstd, 1, &cs));
            float *inv = save_invstd->data;
            for (int64_t i = 0; i < C; i++) inv[i] = (float)(1.0 / sqrt((double)v[i] + p->eps));
        }
    }
    return SSD_OK;
}

/* ---- backward ---- */

typedef struct {
    cpu_prim hint, p;
    size_t relu_ws;
    cpu_buf dy_buf, y_buf, dpre, var;
} bwd_entry;

static void bwd_destroy(void *o) {
    bwd_entry *e = o;
    if (!e) return;
    cpu_prim_destroy(&e->p);
    cpu_prim_destroy(&e->hint);
    cpu_buf_free(&e->dy_buf);
    cpu_buf_free(&e->y_buf);
    cpu_buf_free(&e->dpre);
    cpu_buf_free(&e->var);
    ssd_free(e);
}

static ssd_status bwd_make(cpu_impl *c, const dnnl_memory_desc_t *md, float eps, bool training,
                           bool fuse, bwd_entry **out) {
    ssd_status st;
    dnnl_batch_normalization_desc_t fd, d;
    dnnl_memory_desc_t cmd;
    md_c(&cmd, md->dims[1]);
    unsigned flags = bn_flags(training, false, fuse);
    int nthr = cpu_nthr_bytes(3 * cpu_md_size(md));
    bwd_entry *e = ssd_calloc(1, sizeof *e);
    if (!e) return SSD_E_NOMEM;
    dnnl_status_t s =
        dnnl_batch_normalization_forward_desc_init(&fd, dnnl_forward_training, md, eps, flags);
    if (s == dnnl_success)
        s = dnnl_batch_normalization_backward_desc_init(&d, dnnl_backward, md, md, eps, flags);
    if (s != dnnl_success) {
        st = cpu_dnnl_err(s, "batch norm backward descriptor");
        goto fail;
    }
    SSD_CHECK_GOTO(st, cpu_prim_create(c, &e->hint, &fd, NULL, NULL, nthr, "batch norm (hint)"),
                   fail);
    SSD_CHECK_GOTO(st, cpu_prim_create(c, &e->p, &d, NULL, e->hint.pd, nthr, "batch norm backward"),
                   fail);
    SSD_CHECK_GOTO(st, cpu_prim_arg(c, &e->p, DNNL_ARG_SRC, md), fail);
    SSD_CHECK_GOTO(st, cpu_prim_arg(c, &e->p, DNNL_ARG_MEAN, &cmd), fail);
    SSD_CHECK_GOTO(st, cpu_prim_arg(c, &e->p, DNNL_ARG_VARIANCE, &cmd), fail);
    SSD_CHECK_GOTO(st, cpu_prim_arg(c, &e->p, DNNL_ARG_DIFF_DST, md), fail);
    SSD_CHECK_GOTO(st, cpu_prim_arg(c, &e->p, DNNL_ARG_SCALE, &cmd), fail);
    /* oneDNN 2.6 insists on a shift argument in backward though it never
     * reads it; gamma's storage stands in (bn_bwd does not get beta). */
    SSD_CHECK_GOTO(st, cpu_prim_arg(c, &e->p, DNNL_ARG_SHIFT, &cmd), fail);
    SSD_CHECK_GOTO(st, cpu_prim_arg(c, &e->p, DNNL_ARG_DIFF_SRC, md), fail);
    SSD_CHECK_GOTO(st, cpu_prim_arg(c, &e->p, DNNL_ARG_DIFF_SCALE, &cmd), fail);
    SSD_CHECK_GOTO(st, cpu_prim_arg(c, &e->p, DNNL_ARG_DIFF_SHIFT, &cmd), fail);
    if (fuse) {
        const dnnl_memory_desc_t *ws = cpu_pd_md(&e->p, dnnl_query_workspace_md);
        e->relu_ws = ws ? cpu_md_size(ws) : 0;
        if (e->relu_ws) SSD_CHECK_GOTO(st, cpu_prim_arg(c, &e->p, DNNL_ARG_WORKSPACE, ws), fail);
    }
    *out = e;
    return SSD_OK;
fail:
    bwd_destroy(e);
    return st;
}

ssd_status cpu_bn_bwd_dnnl(ssd_backend *be, ssd_tensor *dx, ssd_tensor *dgamma, ssd_tensor *dbeta,
                           const ssd_tensor *dy, const ssd_tensor *x, const ssd_tensor *y,
                           const ssd_tensor *ws, const ssd_tensor *gamma,
                           const ssd_tensor *save_mean, const ssd_tensor *save_invstd,
                           const ssd_tensor *running_var, const ssd_bn_params *p) {
    cpu_impl *c = cpu_of(be);
    int64_t C = x->shape[1];
    dnnl_memory_desc_t md;
    cpu_md_of(x, &md);
    float eps = (float)p->eps;
    /* Forward left the variance in ws, and the ReLU mask after it where it fused. */
    size_t ws_bytes = cpu_bn_ws_payload(ws, CPU_BN_WS_DNNL, C);
    bool have_ws = p->training && ws_bytes >= ALIGN64((size_t)C * 4);
    bool fuse = have_ws && p->act == SSD_ACT_RELU && ws_bytes > ALIGN64((size_t)C * 4);
    cpu_key k;
    key_bn(&k, CPU_K_BN_BWD, &md, eps, p->training, false, fuse);
    bwd_entry *e = cpu_cache_find(c, &k);
    if (!e) {
        SSD_TRY(bwd_make(c, &md, eps, p->training, fuse, &e));
        SSD_TRY(cpu_cache_insert(c, &k, e, bwd_destroy));
    }
    void *dyp;
    SSD_TRY(cpu_input(c, dy, NULL, &md, &e->dy_buf, &dyp));
    if (p->act != SSD_ACT_NONE && !fuse) {
        SSD_TRY(cpu_check_in(y, 4, "bn_bwd", "y"));
        void *yp;
        SSD_TRY(cpu_input(c, y, NULL, &md, &e->y_buf, &yp)); /* normally in x's layout already */
        SSD_TRY(cpu_buf_reserve(&e->dpre, cpu_md_size(&md)));
        cpu_act_grad(p->act, e->dpre.p, dyp, yp, (int64_t)(cpu_md_size(&md) / sizeof(float)));
        dyp = e->dpre.p;
    }
    void *var;
    if (!p->training) {
        var = running_var->data;
    } else if (have_ws) {
        var = (char *)ws->data + CPU_BN_WS_HDR;
    } else {
        /* No ws from forward: recover the variance from invstd. */
        SSD_TRY(cpu_buf_reserve(&e->var, (size_t)C * 4 * 3));
        float *v = e->var.p;
        const float *inv = save_invstd->data;
        for (int64_t i = 0; i < C; i++) v[i] = (float)(1.0 / ((double)inv[i] * inv[i]) - p->eps);
        var = v;
    }
    /* Outputs the caller does not want (NULL: a frozen layer) go to scratch. */
    int64_t cs = C;
    void *dxp, *dgp, *dbp;
    if (dx) {
        SSD_TRY(cpu_out(be, dx, 4, x->shape, &md));
        dxp = dx->data;
    } else {
        SSD_TRY(cpu_buf_reserve(&c->tmp[3], cpu_md_size(&md)));
        dxp = c->tmp[3].p;
    }
    SSD_TRY(cpu_buf_reserve(&e->var, (size_t)C * 4 * 3));
    if (dgamma) SSD_TRY(cpu_out_plain(be, dgamma, 1, &cs));
    if (dbeta) SSD_TRY(cpu_out_plain(be, dbeta, 1, &cs));
    dgp = dgamma ? dgamma->data : (float *)e->var.p + C;
    dbp = dbeta ? dbeta->data : (float *)e->var.p + 2 * C;
    void *h[10] = {
        x->data,     save_mean->data,
        var,         dyp,
        gamma->data, gamma->data,
        dxp,         dgp,
        dbp,         fuse ? (char *)ws->data + CPU_BN_WS_HDR + ALIGN64((size_t)C * 4) : NULL};
    return cpu_prim_exec(c, &e->p, h);
}
