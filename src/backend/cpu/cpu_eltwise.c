/* ReLU / ReLU6 on oneDNN eltwise in the input's own layout (backward from the
 * forward output, the *_use_dst_for_bwd algorithms), and element-wise add as
 * our own loop over the physical buffer. */
#include "backend/cpu/cpu.h"

#include "core/mem.h"

#include <string.h>

typedef struct {
    cpu_prim p;
} elt_entry;

typedef struct {
    cpu_prim hint, p;
} elt_bwd_entry;

static void elt_destroy(void *o) {
    elt_entry *e = o;
    if (!e) return;
    cpu_prim_destroy(&e->p);
    ssd_free(e);
}

static void elt_bwd_destroy(void *o) {
    elt_bwd_entry *e = o;
    if (!e) return;
    cpu_prim_destroy(&e->p);
    cpu_prim_destroy(&e->hint);
    ssd_free(e);
}

/* ReLU6's mask from y is 0 < y < 6, as PyTorch's hardtanh backward (from x). */
static void alg_of(ssd_act act, dnnl_alg_kind_t *alg, float *alpha, float *beta) {
    *alpha = 0.f;
    *beta = 0.f;
    if (act == SSD_ACT_RELU6) {
        *alg = dnnl_eltwise_clip_v2_use_dst_for_bwd;
        *beta = 6.f;
    } else {
        *alg = dnnl_eltwise_relu_use_dst_for_bwd;
    }
}

static ssd_status fwd_desc(ssd_act act, const dnnl_memory_desc_t *md, dnnl_eltwise_desc_t *d) {
    dnnl_alg_kind_t alg;
    float a, b;
    alg_of(act, &alg, &a, &b);
    CPU_DNNL(dnnl_eltwise_forward_desc_init(d, dnnl_forward_training, alg, md, a, b),
             "eltwise forward descriptor");
    return SSD_OK;
}

static ssd_status elt_fwd_get(cpu_impl *c, ssd_act act, const dnnl_memory_desc_t *md,
                              elt_entry **out) {
    cpu_key k;
    cpu_key_init(&k, CPU_K_ELTWISE_FWD);
    cpu_key_add(&k, act);
    cpu_key_md(&k, md);
    elt_entry *e = cpu_cache_find(c, &k);
    if (!e) {
        dnnl_eltwise_desc_t d;
        SSD_TRY(fwd_desc(act, md, &d));
        e = ssd_calloc(1, sizeof *e);
        if (!e) return SSD_E_NOMEM;
        ssd_status st = cpu_prim_create(c, &e->p, &d, NULL, NULL, "eltwise forward");
        if (st == SSD_OK) st = cpu_prim_arg(c, &e->p, DNNL_ARG_SRC, md);
        if (st == SSD_OK) st = cpu_prim_arg(c, &e->p, DNNL_ARG_DST, md);
        if (st != SSD_OK) {
            elt_destroy(e);
            return st;
        }
        SSD_TRY(cpu_cache_insert(c, &k, e, elt_destroy));
    }
    *out = e;
    return SSD_OK;
}

ssd_status cpu_act_inplace(cpu_impl *c, ssd_act act, const dnnl_memory_desc_t *md, void *data) {
    if (act == SSD_ACT_NONE) return SSD_OK;
    elt_entry *e;
    SSD_TRY(elt_fwd_get(c, act, md, &e));
    void *h[2] = {data, data};
    return cpu_prim_exec(c, &e->p, h);
}

ssd_status cpu_act_bwd_raw(cpu_impl *c, ssd_act act, const dnnl_memory_desc_t *md, void *dpre,
                           const void *dy, const void *y) {
    cpu_key k;
    cpu_key_init(&k, CPU_K_ELTWISE_BWD);
    cpu_key_add(&k, act);
    cpu_key_md(&k, md);
    elt_bwd_entry *e = cpu_cache_find(c, &k);
    if (!e) {
        dnnl_eltwise_desc_t fd, d;
        dnnl_alg_kind_t alg;
        float a, b;
        alg_of(act, &alg, &a, &b);
        SSD_TRY(fwd_desc(act, md, &fd));
        CPU_DNNL(dnnl_eltwise_backward_desc_init(&d, alg, md, md, a, b),
                 "eltwise backward descriptor");
        e = ssd_calloc(1, sizeof *e);
        if (!e) return SSD_E_NOMEM;
        ssd_status st = cpu_prim_create(c, &e->hint, &fd, NULL, NULL, "eltwise (hint)");
        if (st == SSD_OK) st = cpu_prim_create(c, &e->p, &d, NULL, e->hint.pd, "eltwise backward");
        if (st == SSD_OK) st = cpu_prim_arg(c, &e->p, DNNL_ARG_DST, md);
        if (st == SSD_OK) st = cpu_prim_arg(c, &e->p, DNNL_ARG_DIFF_DST, md);
        if (st == SSD_OK) st = cpu_prim_arg(c, &e->p, DNNL_ARG_DIFF_SRC, md);
        if (st != SSD_OK) {
            elt_bwd_destroy(e);
            return st;
        }
        SSD_TRY(cpu_cache_insert(c, &k, e, elt_bwd_destroy));
    }
    void *h[3] = {(void *)y, (void *)dy, dpre};
    return cpu_prim_exec(c, &e->p, h);
}

ssd_status cpu_act_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                       const ssd_act_params *p) {
    cpu_impl *c = cpu_of(be);
    SSD_TRY(cpu_check_in(x, 0, "act_fwd", "x"));
    dnnl_memory_desc_t md;
    cpu_md_of(x, &md);
    int64_t shape[SSD_MAX_DIMS];
    int nd = x->ndim;
    memcpy(shape, x->shape, sizeof shape);
    const void *src = x->data;
    SSD_TRY(cpu_out(be, y, nd, shape, &md)); /* y may be x: then nothing moves */
    if (p->kind == SSD_ACT_NONE) {
        if (y->data != src) memcpy(y->data, src, cpu_md_size(&md));
        return SSD_OK;
    }
    elt_entry *e;
    SSD_TRY(elt_fwd_get(c, p->kind, &md, &e));
    void *h[2] = {(void *)src, y->data};
    return cpu_prim_exec(c, &e->p, h);
}

ssd_status cpu_act_bwd(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy, const ssd_tensor *y,
                       const ssd_act_params *p) {
    cpu_impl *c = cpu_of(be);
    SSD_TRY(cpu_check_in(dy, 0, "act_bwd", "dy"));
    SSD_TRY(cpu_check_in(y, 0, "act_bwd", "y"));
    if (!ssd_tensor_same_shape(dy, y))
        return ssd_error_set(SSD_E_INVAL, "act_bwd: dy and y differ in shape");
    dnnl_memory_desc_t md;
    cpu_md_of(y, &md);
    void *dyp;
    SSD_TRY(cpu_input(c, dy, NULL, &md, &c->tmp[0], &dyp));
    int64_t shape[SSD_MAX_DIMS];
    memcpy(shape, y->shape, sizeof shape);
    const void *yp = y->data;
    SSD_TRY(cpu_out(be, dx, y->ndim, shape, &md)); /* dx may be dy (same layout): in place */
    if (p->kind == SSD_ACT_NONE) {
        if (dx->data != dyp) memcpy(dx->data, dyp, cpu_md_size(&md));
        return SSD_OK;
    }
    return cpu_act_bwd_raw(c, p->kind, &md, dx->data, dyp, yp);
}

/* ---- add ---- */

ssd_status cpu_add(ssd_backend *be, ssd_tensor *y, const ssd_tensor *a, const ssd_tensor *b) {
    cpu_impl *c = cpu_of(be);
    SSD_TRY(cpu_check_in(a, 0, "add", "a"));
    SSD_TRY(cpu_check_in(b, 0, "add", "b"));
    if (!ssd_tensor_same_shape(a, b))
        return ssd_error_set(SSD_E_INVAL, "add: a and b differ in shape");
    if (y == b && y != a) { /* y aliases b: sum commutes, so make it the a side */
        const ssd_tensor *t = a;
        a = b;
        b = t;
    }
    dnnl_memory_desc_t md;
    cpu_md_of(a, &md);
    void *bp;
    SSD_TRY(cpu_input(c, b, NULL, &md, &c->tmp[0], &bp));
    const float *ap = a->data;
    int64_t shape[SSD_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    SSD_TRY(cpu_out(be, y, a->ndim, shape, &md));
    float *yp = y->data;
    const float *bq = bp;
    /* Whole physical buffer, padding included: padding is zero in both. */
    int64_t n = (int64_t)(cpu_md_size(&md) / sizeof(float));
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; i++) yp[i] = ap[i] + bq[i];
    return SSD_OK;
}
