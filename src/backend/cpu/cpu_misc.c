/* The ops around the heads: concat (oneDNN concat; backward as reorders of
 * sub-memories), softmax / log-softmax (oneDNN), the head permute (one
 * reorder to NHWC, which *is* PyTorch's permute(0,2,3,1).view(N,-1,k)) and
 * the SSD L2Norm (our own loops on plain data). */
#include "backend/cpu/cpu.h"

#include "core/mem.h"

#include <math.h>
#include <string.h>

/* ---- concat ---- */

typedef struct {
    cpu_prim p;
    dnnl_memory_desc_t dst;
} concat_entry;

static void concat_destroy(void *o) {
    concat_entry *e = o;
    if (!e) return;
    cpu_prim_destroy(&e->p);
    ssd_free(e);
}

static ssd_status concat_shape(const ssd_tensor *const *xs, int n, int *axis, int64_t *shape,
                               const char *op) {
    if (n < 1 || n > CPU_MAX_ARGS - 2)
        return ssd_error_set(SSD_E_UNSUPPORTED, "%s: %d inputs (1..%d supported)", op, n,
                             CPU_MAX_ARGS - 2);
    SSD_TRY(cpu_check_in(xs[0], 0, op, "xs[0]"));
    int nd = xs[0]->ndim;
    int a = *axis < 0 ? *axis + nd : *axis;
    if (a < 0 || a >= nd) return ssd_error_set(SSD_E_INVAL, "%s: axis %d out of range", op, *axis);
    memcpy(shape, xs[0]->shape, sizeof(int64_t) * (size_t)nd);
    shape[a] = 0;
    for (int i = 0; i < n; i++) {
        SSD_TRY(cpu_check_in(xs[i], nd, op, "an input"));
        for (int d = 0; d < nd; d++)
            if (d != a && xs[i]->shape[d] != xs[0]->shape[d])
                return ssd_error_set(SSD_E_INVAL, "%s: inputs differ outside axis %d", op, a);
        shape[a] += xs[i]->shape[a];
    }
    *axis = a;
    return SSD_OK;
}

/* Our own concat covers the layouts SSD has: all inputs plain (any axis), or
 * all nChw<B>c along channels with every part but the last a multiple of B.
 * Then each part is one contiguous run per outer index: a memcpy. Returns the
 * block size (1 plain, B blocked) or 0 when oneDNN must do it. */
static int concat_fast(const ssd_tensor *const *xs, int n, int axis) {
    int blk = -1;
    for (int i = 0; i < n; i++) {
        int b = 1;
        if (xs[i]->layout) {
            b = cpu_md_cblock(xs[i]->layout);
            if (b <= 1 || axis != 1 || (i < n - 1 && xs[i]->shape[1] % b)) return 0;
        }
        if (blk >= 0 && b != blk) return 0;
        blk = b;
    }
    return blk;
}

/* Elements of part i per outer index, and the outer count (physical). */
static void concat_runs(const ssd_tensor *const *xs, int n, int axis, int blk, int64_t *outer,
                        int64_t *run) {
    const ssd_tensor *x0 = xs[0];
    int64_t o = 1, inner = 1;
    for (int d = 0; d < axis; d++) o *= x0->shape[d];
    for (int d = axis + 1; d < x0->ndim; d++) inner *= x0->shape[d];
    for (int i = 0; i < n; i++) {
        int64_t ci = xs[i]->shape[axis];
        if (blk > 1) ci = (ci + blk - 1) / blk * blk; /* padded channels */
        run[i] = ci * inner;
    }
    *outer = o;
}

/* dir 0: parts -> whole (forward); 1: whole -> parts (backward). */
static void concat_copy(float *whole, float *const *parts, const int64_t *run, int n, int64_t outer,
                        int dir) {
    int64_t total = 0;
    for (int i = 0; i < n; i++) total += run[i];
#pragma omp parallel for schedule(static) if (outer * total >= CPU_PAR_MIN_FLOATS && outer > 1)
    for (int64_t o = 0; o < outer; o++) {
        float *w = whole + o * total;
        for (int i = 0; i < n; i++) {
            float *p = parts[i] + o * run[i];
            if (dir == 0)
                memcpy(w, p, (size_t)run[i] * sizeof(float));
            else
                memcpy(p, w, (size_t)run[i] * sizeof(float));
            w += run[i];
        }
    }
}

static void concat_md(dnnl_memory_desc_t *md, int nd, const int64_t *shape, int blk) {
    if (blk <= 1) {
        cpu_md_plain(md, nd, shape);
        return;
    }
    dnnl_dims_t d = {shape[0], shape[1], shape[2], shape[3]};
    dnnl_memory_desc_init_by_tag(md, 4, d, dnnl_f32,
                                 blk == 16  ? dnnl_nChw16c
                                 : blk == 8 ? dnnl_nChw8c
                                            : dnnl_nChw4c);
}

ssd_status cpu_concat_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *const *xs, int n,
                          int axis) {
    cpu_impl *c = cpu_of(be);
    int64_t shape[SSD_MAX_DIMS];
    SSD_TRY(concat_shape(xs, n, &axis, shape, "concat_fwd"));
    for (int i = 0; i < n; i++)
        if (xs[i] == y) return ssd_error_set(SSD_E_INVAL, "concat_fwd: y is also an input");
    int blk = concat_fast(xs, n, axis);
    if (blk == 1 || blk == 4 || blk == 8 || blk == 16) {
        int64_t outer, run[CPU_MAX_ARGS];
        float *parts[CPU_MAX_ARGS];
        dnnl_memory_desc_t md;
        concat_runs(xs, n, axis, blk, &outer, run);
        for (int i = 0; i < n; i++) parts[i] = xs[i]->data;
        concat_md(&md, xs[0]->ndim, shape, blk);
        SSD_TRY(cpu_out(be, y, xs[0]->ndim, shape, &md));
        concat_copy(y->data, parts, run, n, outer, 0);
        return SSD_OK;
    }
    dnnl_memory_desc_t mds[CPU_MAX_ARGS];
    cpu_key k;
    cpu_key_init(&k, CPU_K_CONCAT);
    cpu_key_add(&k, n);
    cpu_key_add(&k, axis);
    for (int i = 0; i < n; i++) {
        cpu_md_of(xs[i], &mds[i]);
        cpu_key_md(&k, &mds[i]);
    }
    concat_entry *e = cpu_cache_find(c, &k);
    if (!e) {
        e = ssd_calloc(1, sizeof *e);
        if (!e) return SSD_E_NOMEM;
        size_t bytes = 0;
        for (int i = 0; i < n; i++) bytes += 2 * cpu_md_size(&mds[i]);
        ssd_status st = cpu_prim_concat(c, &e->p, n, axis, mds, cpu_nthr_bytes(bytes));
        for (int i = 0; st == SSD_OK && i < n; i++)
            st = cpu_prim_arg(c, &e->p, DNNL_ARG_MULTIPLE_SRC + i, &mds[i]);
        if (st == SSD_OK) {
            e->dst = *cpu_pd_md(&e->p, dnnl_query_dst_md);
            st = cpu_prim_arg(c, &e->p, DNNL_ARG_DST, &e->dst);
        }
        if (st != SSD_OK) {
            concat_destroy(e);
            return st;
        }
        SSD_TRY(cpu_cache_insert(c, &k, e, concat_destroy));
    }
    void *h[CPU_MAX_ARGS];
    for (int i = 0; i < n; i++) h[i] = xs[i]->data;
    SSD_TRY(cpu_out(be, y, xs[0]->ndim, shape, &e->dst));
    h[n] = y->data;
    return cpu_prim_exec(c, &e->p, h);
}

ssd_status cpu_concat_bwd(ssd_backend *be, ssd_tensor *const *dxs, const ssd_tensor *dy,
                          const ssd_tensor *const *xs, int n, int axis) {
    cpu_impl *c = cpu_of(be);
    int64_t shape[SSD_MAX_DIMS];
    SSD_TRY(concat_shape(xs, n, &axis, shape, "concat_bwd"));
    SSD_TRY(cpu_check_in(dy, xs[0]->ndim, "concat_bwd", "dy"));
    for (int d = 0; d < dy->ndim; d++)
        if (dy->shape[d] != shape[d])
            return ssd_error_set(SSD_E_INVAL, "concat_bwd: dy does not have the output's shape");
    int blk = concat_fast(xs, n, axis);
    if (blk == 1 || blk == 4 || blk == 8 || blk == 16) {
        int64_t outer, run[CPU_MAX_ARGS];
        float *parts[CPU_MAX_ARGS];
        dnnl_memory_desc_t md;
        concat_runs(xs, n, axis, blk, &outer, run);
        concat_md(&md, dy->ndim, shape, blk);
        void *dyp;
        SSD_TRY(cpu_input(c, dy, NULL, &md, &c->tmp[1], &dyp));
        for (int i = 0; i < n; i++) {
            dnnl_memory_desc_t xmd;
            int64_t xs_shape[SSD_MAX_DIMS];
            cpu_md_of(xs[i], &xmd);
            memcpy(xs_shape, xs[i]->shape, sizeof xs_shape);
            SSD_TRY(cpu_out(be, dxs[i], xs[i]->ndim, xs_shape, &xmd));
            parts[i] = dxs[i]->data;
        }
        concat_copy(dyp, parts, run, n, outer, 1);
        return SSD_OK;
    }
    dnnl_memory_desc_t dmd;
    cpu_md_of(dy, &dmd);
    const void *src = dy->data;
    /* A sub-memory of a blocked layout must start on a block boundary; else
     * split a plain copy. Decided once for all parts. */
    bool plain = false;
    {
        int64_t off = 0;
        for (int i = 0; i < n; i++) {
            dnnl_memory_desc_t sub;
            dnnl_dims_t dims, offs = {0};
            for (int d = 0; d < dy->ndim; d++) dims[d] = xs[i]->shape[d];
            offs[axis] = off;
            if (dnnl_memory_desc_init_submemory(&sub, &dmd, dims, offs) != dnnl_success)
                plain = true;
            off += xs[i]->shape[axis];
        }
    }
    if (plain && dy->layout) {
        dnnl_memory_desc_t pmd;
        cpu_md_plain(&pmd, dy->ndim, dy->shape);
        SSD_TRY(cpu_buf_reserve(&c->tmp[1], cpu_md_size(&pmd)));
        SSD_TRY(cpu_reorder(c, &dmd, dy->data, &pmd, c->tmp[1].p));
        c->n_reorders++;
        dmd = pmd;
        src = c->tmp[1].p;
    }
    int64_t off = 0;
    for (int i = 0; i < n; i++) {
        dnnl_memory_desc_t sub, xmd;
        dnnl_dims_t dims, offs = {0};
        for (int d = 0; d < dy->ndim; d++) dims[d] = xs[i]->shape[d];
        offs[axis] = off;
        CPU_DNNL(dnnl_memory_desc_init_submemory(&sub, &dmd, dims, offs), "concat sub-memory");
        cpu_md_of(xs[i], &xmd);
        int64_t xs_shape[SSD_MAX_DIMS];
        memcpy(xs_shape, xs[i]->shape, sizeof xs_shape);
        SSD_TRY(cpu_out(be, dxs[i], xs[i]->ndim, xs_shape, &xmd));
        SSD_TRY(cpu_reorder(c, &sub, src, &xmd, dxs[i]->data));
        off += dims[axis];
    }
    return SSD_OK;
}

/* ---- softmax ---- */

typedef struct {
    cpu_prim hint, p;
    cpu_buf dy_buf;
} sm_entry;

static void sm_destroy(void *o) {
    sm_entry *e = o;
    if (!e) return;
    cpu_prim_destroy(&e->p);
    cpu_prim_destroy(&e->hint);
    cpu_buf_free(&e->dy_buf);
    ssd_free(e);
}

static ssd_status sm_fwd_desc(bool log, const dnnl_memory_desc_t *md, int axis, void *d) {
    dnnl_status_t s = log ? dnnl_logsoftmax_forward_desc_init(d, dnnl_forward_training, md, axis)
                          : dnnl_softmax_forward_desc_init(d, dnnl_forward_training, md, axis);
    return s == dnnl_success ? SSD_OK : cpu_dnnl_err(s, "softmax forward descriptor");
}

static ssd_status sm_axis(const ssd_tensor *t, int axis, int *out, const char *op) {
    int a = axis < 0 ? axis + t->ndim : axis;
    if (a < 0 || a >= t->ndim)
        return ssd_error_set(SSD_E_INVAL, "%s: axis %d out of range", op, axis);
    *out = a;
    return SSD_OK;
}

ssd_status cpu_softmax_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                           const ssd_softmax_params *p) {
    cpu_impl *c = cpu_of(be);
    SSD_TRY(cpu_check_in(x, 0, "softmax_fwd", "x"));
    int axis = 0;
    SSD_TRY(sm_axis(x, p->axis, &axis, "softmax_fwd"));
    dnnl_memory_desc_t md;
    cpu_md_of(x, &md);
    cpu_key k;
    cpu_key_init(&k, CPU_K_SOFTMAX_FWD);
    cpu_key_add(&k, p->log);
    cpu_key_add(&k, axis);
    cpu_key_md(&k, &md);
    sm_entry *e = cpu_cache_find(c, &k);
    if (!e) {
        dnnl_softmax_desc_t d; /* logsoftmax_desc_t is the same type */
        SSD_TRY(sm_fwd_desc(p->log, &md, axis, &d));
        e = ssd_calloc(1, sizeof *e);
        if (!e) return SSD_E_NOMEM;
        ssd_status st = cpu_prim_create(c, &e->p, &d, NULL, NULL,
                                        cpu_nthr_bytes(2 * cpu_md_size(&md)), "softmax forward");
        if (st == SSD_OK) st = cpu_prim_arg(c, &e->p, DNNL_ARG_SRC, &md);
        if (st == SSD_OK) st = cpu_prim_arg(c, &e->p, DNNL_ARG_DST, &md);
        if (st != SSD_OK) {
            sm_destroy(e);
            return st;
        }
        SSD_TRY(cpu_cache_insert(c, &k, e, sm_destroy));
    }
    int64_t shape[SSD_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    const void *src = x->data;
    SSD_TRY(cpu_out(be, y, x->ndim, shape, &md));
    void *h[2] = {(void *)src, y->data};
    return cpu_prim_exec(c, &e->p, h);
}

ssd_status cpu_softmax_bwd(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                           const ssd_tensor *y, const ssd_softmax_params *p) {
    cpu_impl *c = cpu_of(be);
    SSD_TRY(cpu_check_in(y, 0, "softmax_bwd", "y"));
    SSD_TRY(cpu_check_in(dy, y->ndim, "softmax_bwd", "dy"));
    if (!ssd_tensor_same_shape(dy, y))
        return ssd_error_set(SSD_E_INVAL, "softmax_bwd: dy and y differ in shape");
    int axis = 0;
    SSD_TRY(sm_axis(y, p->axis, &axis, "softmax_bwd"));
    dnnl_memory_desc_t md;
    cpu_md_of(y, &md);
    cpu_key k;
    cpu_key_init(&k, CPU_K_SOFTMAX_BWD);
    cpu_key_add(&k, p->log);
    cpu_key_add(&k, axis);
    cpu_key_md(&k, &md);
    sm_entry *e = cpu_cache_find(c, &k);
    if (!e) {
        dnnl_softmax_desc_t fd, d;
        SSD_TRY(sm_fwd_desc(p->log, &md, axis, &fd));
        dnnl_status_t s = p->log ? dnnl_logsoftmax_backward_desc_init(&d, &md, &md, axis)
                                 : dnnl_softmax_backward_desc_init(&d, &md, &md, axis);
        if (s != dnnl_success) return cpu_dnnl_err(s, "softmax backward descriptor");
        e = ssd_calloc(1, sizeof *e);
        if (!e) return SSD_E_NOMEM;
        ssd_status st = cpu_prim_create(c, &e->hint, &fd, NULL, NULL,
                                        cpu_nthr_bytes(3 * cpu_md_size(&md)), "softmax (hint)");
        if (st == SSD_OK)
            st = cpu_prim_create(c, &e->p, &d, NULL, e->hint.pd,
                                 cpu_nthr_bytes(3 * cpu_md_size(&md)), "softmax backward");
        if (st == SSD_OK) st = cpu_prim_arg(c, &e->p, DNNL_ARG_DST, &md);
        if (st == SSD_OK) st = cpu_prim_arg(c, &e->p, DNNL_ARG_DIFF_DST, &md);
        if (st == SSD_OK) st = cpu_prim_arg(c, &e->p, DNNL_ARG_DIFF_SRC, &md);
        if (st != SSD_OK) {
            sm_destroy(e);
            return st;
        }
        SSD_TRY(cpu_cache_insert(c, &k, e, sm_destroy));
    }
    void *dyp;
    SSD_TRY(cpu_input(c, dy, NULL, &md, &e->dy_buf, &dyp));
    int64_t shape[SSD_MAX_DIMS];
    memcpy(shape, y->shape, sizeof shape);
    const void *yp = y->data;
    SSD_TRY(cpu_out(be, dx, y->ndim, shape, &md));
    void *h[3] = {(void *)yp, dyp, dx->data};
    return cpu_prim_exec(c, &e->p, h);
}

/* ---- head permute ---- */

/* Checks x and the channel range the head reads, [*c0, *c0 + *cc) (all of x's
 * channels unless p->c); nhwc: x's dims in NHWC; yshape: (N, H*W*A, k). */
static ssd_status head_mds(const ssd_tensor *x, const ssd_head_params *p, dnnl_memory_desc_t *nhwc,
                           bool backward, int64_t *yshape, int64_t *c0, int64_t *cc,
                           const char *op) {
    SSD_TRY(cpu_check_in(x, 4, op, "x"));
    SSD_TRY(ssd_head_dims(op, x, p, backward, c0, cc, yshape));
    dnnl_dims_t d = {x->shape[0], x->shape[1], x->shape[2], x->shape[3]};
    dnnl_memory_desc_init_by_tag(nhwc, 4, d, dnnl_f32, dnnl_nhwc);
    return SSD_OK;
}

/* y[n][hw][c] = x[n][c0 + c][hw] for c < C (PyTorch's permute(0,2,3,1) of
 * channels [c0, c0 + C) of XC) for x plain (blk 1) or nChw<blk>c: per pixel,
 * contiguous runs of blk channels. dir 1 is the inverse (backward, whole x
 * only), which also rewrites the zero padding of the last block. */
CPU_CLONES static void head_copy(float *x, float *y, int64_t N, int64_t XC, int64_t c0, int64_t C,
                                 int64_t HW, int blk, int dir) {
    int64_t rows = N * HW;
    bool par = rows * C >= CPU_PAR_MIN_FLOATS;
    if (blk == 1) {
#pragma omp parallel for collapse(2) schedule(static) if (par)
        for (int64_t n = 0; n < N; n++)
            for (int64_t cs = 0; cs < C; cs += 16) {
                int64_t ce = cs + 16 < C ? cs + 16 : C;
                float *xn = x + (n * XC + c0) * HW, *yn = y + n * HW * C;
                for (int64_t hw = 0; hw < HW; hw++)
                    for (int64_t ch = cs; ch < ce; ch++) {
                        if (dir == 0)
                            yn[hw * C + ch] = xn[ch * HW + hw];
                        else
                            xn[ch * HW + hw] = yn[hw * C + ch];
                    }
            }
        return;
    }
    int64_t XCB = (XC + blk - 1) / blk;
    if (c0 || C != XC) { /* a channel range: blocks need not line up with it */
#pragma omp parallel for schedule(static) if (par)
        for (int64_t r = 0; r < rows; r++) {
            int64_t n = r / HW, hw = r % HW;
            /* runs within a block: one division a run, not two an element
             * (the merged class and box heads of mb1-ssd took 0.1 ms) */
            for (int64_t ch = 0, xc = c0; ch < C;) {
                int64_t off = xc % blk, len = blk - off < C - ch ? blk - off : C - ch;
                const float *xp = x + ((n * XCB + xc / blk) * HW + hw) * blk + off;
                for (int64_t j = 0; j < len; j++) y[r * C + ch + j] = xp[j];
                ch += len;
                xc += len;
            }
        }
        return;
    }
#pragma omp parallel for schedule(static) if (par)
    for (int64_t r = 0; r < rows; r++) {
        int64_t n = r / HW, hw = r % HW;
        for (int64_t cb = 0; cb < XCB; cb++) {
            float *xp = x + ((n * XCB + cb) * HW + hw) * blk, *yp = y + r * C + cb * blk;
            int64_t len = C - cb * blk < blk ? C - cb * blk : blk;
            if (len == 16 && blk == 16) { /* the common case, as a constant-size copy */
                if (dir == 0)
                    memcpy(yp, xp, 16 * sizeof(float));
                else
                    memcpy(xp, yp, 16 * sizeof(float));
            } else if (dir == 0) {
                for (int64_t j = 0; j < len; j++) yp[j] = xp[j];
            } else {
                for (int64_t j = 0; j < len; j++) xp[j] = yp[j];
                for (int64_t j = len; j < blk; j++) xp[j] = 0.f;
            }
        }
    }
}

ssd_status cpu_head_permute_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                                const ssd_head_params *p) {
    cpu_impl *c = cpu_of(be);
    dnnl_memory_desc_t nhwc, xmd;
    int64_t ys[3], c0, cc;
    SSD_TRY(head_mds(x, p, &nhwc, false, ys, &c0, &cc, "head_permute_fwd"));
    if (y == x) return ssd_error_set(SSD_E_INVAL, "head_permute_fwd: y must not be x");
    cpu_md_of(x, &xmd);
    SSD_TRY(cpu_out_plain(be, y, 3, ys));
    int blk = cpu_md_cblock(&xmd);
    if (!blk && cc == x->shape[1]) return cpu_reorder(c, &xmd, x->data, &nhwc, y->data);
    void *xp = x->data;
    if (!blk) { /* a range of another layout (nhwc, bf16, ...): staged plain first */
        dnnl_memory_desc_t plain;
        cpu_md_plain(&plain, 4, x->shape);
        SSD_TRY(cpu_input(c, x, &xmd, &plain, &c->tmp[0], &xp));
        blk = 1;
    }
    head_copy(xp, y->data, x->shape[0], x->shape[1], c0, cc, x->shape[2] * x->shape[3], blk, 0);
    return SSD_OK;
}

ssd_status cpu_head_permute_bwd(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                                const ssd_tensor *x, const ssd_head_params *p) {
    cpu_impl *c = cpu_of(be);
    dnnl_memory_desc_t nhwc, xmd, ymd;
    int64_t ys[3], c0, cc;
    SSD_TRY(head_mds(x, p, &nhwc, true, ys, &c0, &cc, "head_permute_bwd"));
    SSD_TRY(cpu_check_in(dy, 3, "head_permute_bwd", "dy"));
    if (dy->shape[0] != ys[0] || dy->shape[1] != ys[1] || dy->shape[2] != ys[2])
        return ssd_error_set(SSD_E_INVAL, "head_permute_bwd: dy does not have the output's shape");
    cpu_md_plain(&ymd, 3, ys);
    void *dyp;
    SSD_TRY(cpu_input(c, dy, NULL, &ymd, &c->tmp[0], &dyp));
    /* dx in x's layout, so the head conv's backward reads it without a reorder. */
    cpu_md_of(x, &xmd);
    int64_t xs[4] = {x->shape[0], x->shape[1], x->shape[2], x->shape[3]};
    SSD_TRY(cpu_out(be, dx, 4, xs, &xmd));
    int blk = cpu_md_cblock(&xmd);
    if (!blk) return cpu_reorder(c, &nhwc, dyp, &xmd, dx->data);
    head_copy(dx->data, dyp, xs[0], xs[1], 0, xs[1], xs[2] * xs[3], blk, 1);
    return SSD_OK;
}

/* ---- L2Norm ---- */

/* Plain (N, C, H, W) f32 view of t, staged in buf if t is blocked. */
static ssd_status plain_in(cpu_impl *c, const ssd_tensor *t, cpu_buf *buf, const float **out) {
    dnnl_memory_desc_t pmd;
    cpu_md_plain(&pmd, t->ndim, t->shape);
    void *p;
    SSD_TRY(cpu_input(c, t, NULL, &pmd, buf, &p));
    *out = p;
    return SSD_OK;
}

static ssd_status l2_check(const ssd_tensor *x, const ssd_tensor *scale, const char *op) {
    SSD_TRY(cpu_check_in(x, 4, op, "x"));
    SSD_TRY(cpu_check_in(scale, 1, op, "scale"));
    if (scale->shape[0] != x->shape[1] || scale->layout)
        return ssd_error_set(SSD_E_INVAL, "%s: scale must be a plain (C) vector", op);
    return SSD_OK;
}

/* den[n, hw] = sqrt(sum_c x^2) + eps, written to den; also the norm itself. */
CPU_CLONES static void l2_norms(const float *x, float *den, float *nrm, int64_t N, int64_t C,
                                int64_t HW, float eps) {
#pragma omp parallel for schedule(static) if (N * C * HW >= CPU_PAR_MIN_FLOATS)
    for (int64_t n = 0; n < N; n++) {
        float *d = den + n * HW, *r = nrm + n * HW;
        for (int64_t i = 0; i < HW; i++) r[i] = 0.f;
        for (int64_t ch = 0; ch < C; ch++) {
            const float *xc = x + (n * C + ch) * HW;
            for (int64_t i = 0; i < HW; i++) r[i] += xc[i] * xc[i];
        }
        for (int64_t i = 0; i < HW; i++) {
            r[i] = sqrtf(r[i]);
            d[i] = r[i] + eps;
        }
    }
}

CPU_CLONES static void l2_fwd_out(float *yp, const float *xp, const float *s, const float *den,
                                  int64_t N, int64_t C, int64_t HW) {
#pragma omp parallel for collapse(2) schedule(static) if (N * C * HW >= CPU_PAR_MIN_FLOATS)
    for (int64_t n = 0; n < N; n++)
        for (int64_t ch = 0; ch < C; ch++) {
            const float *xc = xp + (n * C + ch) * HW, *d = den + n * HW;
            float *yc = yp + (n * C + ch) * HW;
            for (int64_t i = 0; i < HW; i++) yc[i] = s[ch] * xc[i] / d[i];
        }
}

ssd_status cpu_l2norm_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                          const ssd_tensor *scale, const ssd_l2norm_params *p) {
    cpu_impl *c = cpu_of(be);
    SSD_TRY(l2_check(x, scale, "l2norm_fwd"));
    int64_t N = x->shape[0], C = x->shape[1], HW = x->shape[2] * x->shape[3];
    const float *xp;
    SSD_TRY(plain_in(c, x, &c->tmp[0], &xp));
    SSD_TRY(cpu_buf_reserve(&c->tmp[1], (size_t)(2 * N * HW) * sizeof(float)));
    float *den = c->tmp[1].p, *nrm = den + N * HW;
    l2_norms(xp, den, nrm, N, C, HW, (float)p->eps);
    int64_t shape[4] = {x->shape[0], x->shape[1], x->shape[2], x->shape[3]};
    if (y == x) return ssd_error_set(SSD_E_INVAL, "l2norm_fwd: y must not be x");
    SSD_TRY(cpu_out_plain(be, y, 4, shape));
    l2_fwd_out(y->data, xp, scale->data, den, N, C, HW);
    return SSD_OK;
}

/* dot[n,hw] = sum_c s_c dy x, then / (d^2 r) (0 where r = 0). */
CPU_CLONES static void l2_dots(float *dot, const float *xp, const float *dyp, const float *s,
                               const float *den, const float *nrm, int64_t N, int64_t C,
                               int64_t HW) {
#pragma omp parallel for schedule(static) if (N * C * HW >= CPU_PAR_MIN_FLOATS)
    for (int64_t n = 0; n < N; n++) {
        float *t = dot + n * HW;
        for (int64_t i = 0; i < HW; i++) t[i] = 0.f;
        for (int64_t ch = 0; ch < C; ch++) {
            const float *xc = xp + (n * C + ch) * HW, *gc = dyp + (n * C + ch) * HW;
            for (int64_t i = 0; i < HW; i++) t[i] += s[ch] * gc[i] * xc[i];
        }
        const float *d = den + n * HW, *r = nrm + n * HW;
        for (int64_t i = 0; i < HW; i++) t[i] = r[i] > 0.f ? t[i] / (d[i] * d[i] * r[i]) : 0.f;
    }
}

CPU_CLONES static void l2_bwd_out(float *dxp, float *ds, const float *xp, const float *dyp,
                                  const float *s, const float *den, const float *dot, int64_t N,
                                  int64_t C, int64_t HW) {
#pragma omp parallel for schedule(static) if (N * C * HW >= CPU_PAR_MIN_FLOATS)
    for (int64_t ch = 0; ch < C; ch++) {
        double acc = 0.0;
        for (int64_t n = 0; n < N; n++) {
            const float *xc = xp + (n * C + ch) * HW, *gc = dyp + (n * C + ch) * HW;
            const float *d = den + n * HW, *t = dot + n * HW;
            if (dxp) {
                float *o = dxp + (n * C + ch) * HW;
                for (int64_t i = 0; i < HW; i++) o[i] = s[ch] * gc[i] / d[i] - xc[i] * t[i];
            }
            for (int64_t i = 0; i < HW; i++) acc += (double)(gc[i] * xc[i] / d[i]);
        }
        if (ds) ds[ch] = (float)acc;
    }
}

/* With d = r + eps, r = |x|:  dx_c = s_c dy_c / d - x_c (sum_j s_j dy_j x_j) / (d^2 r),
 * dscale_c = sum_{n,hw} dy_c x_c / d. At r = 0 the second term is 0 (x = 0). */
ssd_status cpu_l2norm_bwd(ssd_backend *be, ssd_tensor *dx, ssd_tensor *dscale, const ssd_tensor *dy,
                          const ssd_tensor *x, const ssd_tensor *scale,
                          const ssd_l2norm_params *p) {
    cpu_impl *c = cpu_of(be);
    SSD_TRY(l2_check(x, scale, "l2norm_bwd"));
    SSD_TRY(cpu_check_in(dy, 4, "l2norm_bwd", "dy"));
    if (!ssd_tensor_same_shape(dy, x))
        return ssd_error_set(SSD_E_INVAL, "l2norm_bwd: dy and x differ in shape");
    int64_t N = x->shape[0], C = x->shape[1], HW = x->shape[2] * x->shape[3];
    const float *xp, *dyp;
    SSD_TRY(plain_in(c, x, &c->tmp[0], &xp));
    SSD_TRY(plain_in(c, dy, &c->tmp[2], &dyp));
    SSD_TRY(cpu_buf_reserve(&c->tmp[1], (size_t)(3 * N * HW) * sizeof(float)));
    float *den = c->tmp[1].p, *nrm = den + N * HW, *dot = nrm + N * HW;
    l2_norms(xp, den, nrm, N, C, HW, (float)p->eps);
    const float *s = scale->data;
    l2_dots(dot, xp, dyp, s, den, nrm, N, C, HW);
    /* dx or dscale may be NULL (a frozen layer): not written then. */
    int64_t shape[4] = {x->shape[0], x->shape[1], x->shape[2], x->shape[3]}, cs = C;
    if (dx) SSD_TRY(cpu_out_plain(be, dx, 4, shape));
    if (dscale) SSD_TRY(cpu_out_plain(be, dscale, 1, &cs));
    l2_bwd_out(dx ? dx->data : NULL, dscale ? dscale->data : NULL, xp, dyp, s, den, dot, N, C, HW);
    return SSD_OK;
}
