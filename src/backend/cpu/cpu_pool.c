/* Max pooling on oneDNN in the input's layout; the workspace (argmax per
 * output, oneDNN's format) travels in the caller's ws tensor as raw bytes. */
#include "backend/cpu/cpu.h"

#include "core/mem.h"

#include <string.h>

typedef struct {
    int64_t n, c, h, w, oh, ow;
    dnnl_dims_t k, s, pl, pr;
} pgeom;

static ssd_status pool_geom(pgeom *g, const ssd_tensor *x, const ssd_pool_params *p,
                            const char *op) {
    SSD_TRY(cpu_check_in(x, 4, op, "x"));
    memset(g, 0, sizeof *g);
    g->n = x->shape[0];
    g->c = x->shape[1];
    g->h = x->shape[2];
    g->w = x->shape[3];
    int64_t in[2] = {g->h, g->w}, out[2];
    for (int i = 0; i < 2; i++) {
        if (p->kernel[i] < 1 || p->stride[i] < 1 || p->pad[i] < 0 || 2 * p->pad[i] > p->kernel[i])
            return ssd_error_set(SSD_E_INVAL, "%s: bad kernel/stride/padding", op);
        out[i] = ssd_pool_out_size(in[i], p->kernel[i], p->stride[i], p->pad[i], p->ceil_mode);
        if (out[i] < 1) return ssd_error_set(SSD_E_INVAL, "%s: input smaller than the kernel", op);
        g->k[i] = p->kernel[i];
        g->s[i] = p->stride[i];
        g->pl[i] = p->pad[i];
        /* Right padding so that oneDNN's window count equals PyTorch's: the
         * extra windows of ceil mode read padding, which max pooling skips. */
        g->pr[i] = (out[i] - 1) * p->stride[i] + p->kernel[i] - in[i] - p->pad[i];
        if (g->pr[i] < p->pad[i] && !p->ceil_mode) g->pr[i] = p->pad[i];
    }
    g->oh = out[0];
    g->ow = out[1];
    return SSD_OK;
}

static void key_pool(cpu_key *k, int kind, const pgeom *g, const dnnl_memory_desc_t *md) {
    cpu_key_init(k, kind);
    for (int i = 0; i < 2; i++) {
        cpu_key_add(k, g->k[i]);
        cpu_key_add(k, g->s[i]);
        cpu_key_add(k, g->pl[i]);
        cpu_key_add(k, g->pr[i]);
    }
    cpu_key_md(k, md);
}

static ssd_status fwd_desc(const pgeom *g, const dnnl_memory_desc_t *src, dnnl_pooling_desc_t *d) {
    dnnl_memory_desc_t dst;
    dnnl_dims_t dd = {g->n, g->c, g->oh, g->ow};
    dnnl_memory_desc_init_by_tag(&dst, 4, dd, dnnl_f32, dnnl_format_tag_any);
    CPU_DNNL(dnnl_pooling_forward_desc_init(d, dnnl_forward_training, dnnl_pooling_max, src, &dst,
                                            g->s, g->k, g->pl, g->pr),
             "pooling forward descriptor");
    return SSD_OK;
}

typedef struct {
    cpu_prim p;
    dnnl_memory_desc_t dst;
    size_t ws;
} fwd_entry;

static void fwd_destroy(void *o) {
    fwd_entry *e = o;
    if (!e) return;
    cpu_prim_destroy(&e->p);
    ssd_free(e);
}

ssd_status cpu_maxpool_fwd(ssd_backend *be, ssd_tensor *y, ssd_tensor *ws, const ssd_tensor *x,
                           const ssd_pool_params *p) {
    cpu_impl *c = cpu_of(be);
    pgeom g;
    SSD_TRY(pool_geom(&g, x, p, "maxpool_fwd"));
    dnnl_memory_desc_t md;
    cpu_md_of(x, &md);
    cpu_key k;
    key_pool(&k, CPU_K_POOL_FWD, &g, &md);
    fwd_entry *e = cpu_cache_find(c, &k);
    if (!e) {
        dnnl_pooling_desc_t d;
        SSD_TRY(fwd_desc(&g, &md, &d));
        e = ssd_calloc(1, sizeof *e);
        if (!e) return SSD_E_NOMEM;
        ssd_status st = cpu_prim_create(c, &e->p, &d, NULL, NULL,
                                        cpu_nthr_bytes(2 * cpu_md_size(&md)), "pooling forward");
        if (st == SSD_OK) {
            e->dst = *cpu_pd_md(&e->p, dnnl_query_dst_md);
            const dnnl_memory_desc_t *w = cpu_pd_md(&e->p, dnnl_query_workspace_md);
            e->ws = w ? cpu_md_size(w) : 0;
            st = cpu_prim_arg(c, &e->p, DNNL_ARG_SRC, &md);
            if (st == SSD_OK) st = cpu_prim_arg(c, &e->p, DNNL_ARG_DST, &e->dst);
            if (st == SSD_OK && e->ws) st = cpu_prim_arg(c, &e->p, DNNL_ARG_WORKSPACE, w);
        }
        if (st != SSD_OK) {
            fwd_destroy(e);
            return st;
        }
        SSD_TRY(cpu_cache_insert(c, &k, e, fwd_destroy));
    }
    if (e->ws && !ws) return ssd_error_set(SSD_E_INVAL, "maxpool_fwd: ws is needed");
    if (y == x || ws == x || ws == y)
        return ssd_error_set(SSD_E_INVAL, "maxpool_fwd: y, ws and x must be distinct");
    const void *src = x->data;
    if (e->ws) {
        int64_t bytes = (int64_t)e->ws;
        SSD_TRY(ssd_tensor_prepare_plain(ws, be, SSD_U8, 1, &bytes));
        ws->version++;
    }
    int64_t shape[4] = {g.n, g.c, g.oh, g.ow};
    SSD_TRY(cpu_out(be, y, 4, shape, &e->dst));
    void *h[3] = {(void *)src, y->data, e->ws ? ws->data : NULL};
    return cpu_prim_exec(c, &e->p, h);
}

typedef struct {
    cpu_prim hint, p;
    dnnl_memory_desc_t ddst;
    size_t ws;
    cpu_buf dy_buf;
} bwd_entry;

static void bwd_destroy(void *o) {
    bwd_entry *e = o;
    if (!e) return;
    cpu_prim_destroy(&e->p);
    cpu_prim_destroy(&e->hint);
    cpu_buf_free(&e->dy_buf);
    ssd_free(e);
}

ssd_status cpu_maxpool_bwd(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                           const ssd_tensor *ws, const ssd_tensor *x, const ssd_pool_params *p) {
    cpu_impl *c = cpu_of(be);
    pgeom g;
    SSD_TRY(pool_geom(&g, x, p, "maxpool_bwd"));
    SSD_TRY(cpu_check_in(dy, 4, "maxpool_bwd", "dy"));
    if (dy->shape[0] != g.n || dy->shape[1] != g.c || dy->shape[2] != g.oh || dy->shape[3] != g.ow)
        return ssd_error_set(SSD_E_INVAL, "maxpool_bwd: dy does not have the output's shape");
    dnnl_memory_desc_t md;
    cpu_md_of(x, &md);
    cpu_key k;
    key_pool(&k, CPU_K_POOL_BWD, &g, &md);
    bwd_entry *e = cpu_cache_find(c, &k);
    if (!e) {
        dnnl_pooling_desc_t fd, d;
        SSD_TRY(fwd_desc(&g, &md, &fd));
        e = ssd_calloc(1, sizeof *e);
        if (!e) return SSD_E_NOMEM;
        ssd_status st = cpu_prim_create(c, &e->hint, &fd, NULL, NULL,
                                        cpu_nthr_bytes(2 * cpu_md_size(&md)), "pooling (hint)");
        if (st == SSD_OK) {
            dnnl_status_t s = dnnl_pooling_backward_desc_init(
                &d, dnnl_pooling_max, &md, cpu_pd_md(&e->hint, dnnl_query_dst_md), g.s, g.k, g.pl,
                g.pr);
            st = s == dnnl_success ? SSD_OK : cpu_dnnl_err(s, "pooling backward descriptor");
        }
        if (st == SSD_OK)
            st = cpu_prim_create(c, &e->p, &d, NULL, e->hint.pd,
                                 cpu_nthr_bytes(2 * cpu_md_size(&md)), "pooling backward");
        if (st == SSD_OK) {
            e->ddst = *cpu_pd_md(&e->p, dnnl_query_diff_dst_md);
            const dnnl_memory_desc_t *w = cpu_pd_md(&e->p, dnnl_query_workspace_md);
            e->ws = w ? cpu_md_size(w) : 0;
            st = cpu_prim_arg(c, &e->p, DNNL_ARG_DIFF_DST, &e->ddst);
            if (st == SSD_OK && e->ws) st = cpu_prim_arg(c, &e->p, DNNL_ARG_WORKSPACE, w);
            if (st == SSD_OK) st = cpu_prim_arg(c, &e->p, DNNL_ARG_DIFF_SRC, &md);
        }
        if (st != SSD_OK) {
            bwd_destroy(e);
            return st;
        }
        SSD_TRY(cpu_cache_insert(c, &k, e, bwd_destroy));
    }
    if (e->ws && (!ws || !ws->data || ws->cap < e->ws))
        return ssd_error_set(SSD_E_INVAL, "maxpool_bwd: ws is not the one forward wrote");
    void *dyp;
    SSD_TRY(cpu_input(c, dy, NULL, &e->ddst, &e->dy_buf, &dyp));
    SSD_TRY(cpu_out(be, dx, 4, x->shape, &md));
    void *h[3];
    int n = 0;
    h[n++] = dyp;
    if (e->ws) h[n++] = ws->data;
    h[n++] = dx->data;
    return cpu_prim_exec(c, &e->p, h);
}
