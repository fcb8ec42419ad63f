/* The cpu backend: creation, the vtable, storage and layouts. The ops live in
 * cpu_conv.c, cpu_bn.c, cpu_eltwise.c, cpu_pool.c and cpu_misc.c. */
#include "backend/cpu/cpu.h"

#include "backend/ref/ref.h"
#include "core/mem.h"
#include "core/threads.h"
#include "tensor/convert.h"

#include <stdio.h>
#include <string.h>

/* ---- layouts ---- */

void cpu_md_plain(dnnl_memory_desc_t *md, int ndim, const int64_t *dims) {
    static const dnnl_format_tag_t tags[] = {dnnl_a,    dnnl_a,     dnnl_ab,    dnnl_abc,
                                             dnnl_abcd, dnnl_abcde, dnnl_abcdef};
    dnnl_dims_t d;
    int n = ndim > 0 ? ndim : 1;
    for (int i = 0; i < n; i++) d[i] = ndim > 0 ? dims[i] : 1;
    dnnl_memory_desc_init_by_tag(md, n, d, dnnl_f32, tags[n]);
}

void cpu_md_of(const ssd_tensor *t, dnnl_memory_desc_t *md) {
    if (t->layout)
        *md = *(const dnnl_memory_desc_t *)t->layout;
    else
        cpu_md_plain(md, t->ndim, t->shape);
}

bool cpu_md_equal(const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b) {
    return dnnl_memory_desc_equal(a, b) != 0;
}

size_t cpu_md_size(const dnnl_memory_desc_t *md) {
    return dnnl_memory_desc_get_size(md);
}

int cpu_md_cblock(const dnnl_memory_desc_t *md) {
    if (md->ndims != 4 || md->data_type != dnnl_f32 || md->format_kind != dnnl_blocked ||
        md->offset0 != 0)
        return 0;
    const dnnl_dim_t *d = md->dims, *pd = md->padded_dims;
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    if (pd[0] != d[0] || pd[2] != d[2] || pd[3] != d[3]) return 0;
    const dnnl_dim_t *s = b->strides;
    if (b->inner_nblks == 0)
        return pd[1] == d[1] && s[3] == 1 && s[2] == d[3] && s[1] == d[2] * d[3] &&
               s[0] == d[1] * d[2] * d[3];
    if (b->inner_nblks != 1 || b->inner_idxs[0] != 1) return 0;
    dnnl_dim_t B = b->inner_blks[0], hw = d[2] * d[3];
    bool dense =
        pd[1] % B == 0 && s[3] == B && s[2] == d[3] * B && s[1] == hw * B && s[0] == pd[1] * hw;
    return dense ? (int)B : 0;
}

static bool md_padded(const dnnl_memory_desc_t *md) {
    for (int i = 0; i < md->ndims; i++)
        if (md->padded_dims[i] != md->dims[i]) return true;
    return false;
}

ssd_status cpu_out(ssd_backend *be, ssd_tensor *t, int ndim, const int64_t *shape,
                   const dnnl_memory_desc_t *md) {
    dnnl_memory_desc_t plain;
    cpu_md_plain(&plain, ndim, shape);
    /* never less than the plain float32 size: to_plain, set and fill turn the
     * storage plain in place (a bfloat16 layout takes half of it) */
    size_t bytes = cpu_md_size(md), pbytes = cpu_md_size(&plain);
    if (bytes < pbytes) bytes = pbytes;
    bool is_plain = cpu_md_equal(md, &plain);
    if (t->be && t->be != be) ssd_tensor_deinit(t);
    t->be = be;
    if (t->view && t->cap < bytes) {
        /* too small a view: storage of its own instead */
        ssd_free(t->layout);
        t->data = t->layout = NULL;
        t->cap = 0;
        t->view = false;
    }
    bool fresh = false;
    if (t->cap < bytes || !t->data) {
        if (t->data) {
            cpu_weights_forget(cpu_of(be), t->data);
            ssd_free(t->data);
        }
        t->data = NULL;
        t->cap = 0;
        SSD_TRY(ssd_host_alloc(be, t, bytes));
        fresh = true;
    }
    if (is_plain) {
        ssd_free(t->layout);
        t->layout = NULL;
    } else {
        bool changed = !t->layout || !cpu_md_equal(t->layout, md);
        if (!t->layout) {
            t->layout = ssd_malloc(sizeof(dnnl_memory_desc_t));
            if (!t->layout) return SSD_E_NOMEM;
        }
        *(dnnl_memory_desc_t *)t->layout = *md;
        /* oneDNN expects the padding of blocked layouts to hold zeros. */
        if (changed && !fresh && md_padded(md)) memset(t->data, 0, bytes);
    }
    t->dtype = SSD_F32;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->version++;
    return SSD_OK;
}

ssd_status cpu_out_plain(ssd_backend *be, ssd_tensor *t, int ndim, const int64_t *shape) {
    dnnl_memory_desc_t md;
    cpu_md_plain(&md, ndim, shape);
    return cpu_out(be, t, ndim, shape, &md);
}

ssd_status cpu_check_in(const ssd_tensor *t, int ndim, const char *op, const char *name) {
    if (!t) return ssd_error_set(SSD_E_INVAL, "%s: %s is missing", op, name);
    if (t->dtype != SSD_F32)
        return ssd_error_set(SSD_E_UNSUPPORTED, "%s: %s is %s; the cpu backend computes in float32",
                             op, name, ssd_dtype_name(t->dtype));
    if (ndim && t->ndim != ndim)
        return ssd_error_set(SSD_E_INVAL, "%s: %s has %d dims, expected %d", op, name, t->ndim,
                             ndim);
    if (!t->data) return ssd_error_set(SSD_E_INVAL, "%s: %s has no storage", op, name);
    return SSD_OK;
}

/* ---- storage ---- */

static ssd_status cpu_alloc(ssd_backend *be, ssd_tensor *t, size_t bytes) {
    return ssd_host_alloc(be, t, bytes);
}

static void cpu_free_storage(ssd_backend *be, ssd_tensor *t) {
    if (t->data) cpu_weights_forget(cpu_of(be), t->data);
    ssd_free(t->data);
    ssd_free(t->layout);
    t->data = NULL;
    t->layout = NULL;
    t->cap = 0;
}

/* Plain f32 copy of a blocked tensor in the backend's edge buffer. */
static ssd_status stage_plain(ssd_backend *be, const ssd_tensor *t, void **out) {
    cpu_impl *c = cpu_of(be);
    dnnl_memory_desc_t plain;
    cpu_md_plain(&plain, t->ndim, t->shape);
    SSD_TRY(cpu_buf_reserve(&c->edge, cpu_md_size(&plain)));
    SSD_TRY(cpu_reorder(c, t->layout, t->data, &plain, c->edge.p));
    *out = c->edge.p;
    return SSD_OK;
}

/* Drops t's layout (it becomes plain; its storage is at least the plain size). */
static void drop_layout(ssd_tensor *t) {
    ssd_free(t->layout);
    t->layout = NULL;
}

static ssd_status cpu_set(ssd_backend *be, ssd_tensor *t, const void *host, ssd_dtype dt) {
    drop_layout(t);
    return ssd_host_set(be, t, host, dt);
}

static ssd_status cpu_get(ssd_backend *be, const ssd_tensor *t, void *host, ssd_dtype dt) {
    if (!t->layout) return ssd_host_get(be, t, host, dt);
    void *plain;
    SSD_TRY(stage_plain(be, t, &plain));
    return ssd_convert(host, dt, plain, SSD_F32, (size_t)ssd_tensor_numel(t));
}

static ssd_status cpu_fill(ssd_backend *be, ssd_tensor *t, double v) {
    drop_layout(t);
    return ssd_host_fill(be, t, v);
}

static ssd_status cpu_to_plain(ssd_backend *be, ssd_tensor *t) {
    if (!t->layout) return SSD_OK;
    void *plain;
    SSD_TRY(stage_plain(be, t, &plain));
    memcpy(t->data, plain, ssd_tensor_nbytes(t)); /* blocked storage >= plain size */
    drop_layout(t);
    t->version++;
    return SSD_OK;
}

/* ---- the vtable ---- */

/* Whether oneDNN's effective ISA (DNNL_MAX_CPU_ISA included) covers isa. */
static bool dnnl_isa_has(dnnl_cpu_isa_t isa) {
    return (dnnl_get_effective_cpu_isa() & isa) == isa;
}

bool cpu_bf16_native(void) {
    return dnnl_isa_has(dnnl_cpu_isa_avx512_core_bf16);
}

bool cpu_bf16_amx(void) {
    return dnnl_isa_has(dnnl_cpu_isa_avx512_core_amx);
}

static _Atomic int forced_isa; /* 0: what the CPU has; else 1 base, 2 avx2, 3 avx512 */

void ssd_backend_cpu_force_isa(const char *isa) {
    forced_isa = !isa                         ? 0
                 : strcmp(isa, "base") == 0   ? 1
                 : strcmp(isa, "avx2") == 0   ? 2
                 : strcmp(isa, "avx512") == 0 ? 3
                                              : 0;
}

int cpu_isa(void) {
    __builtin_cpu_init();
    /* oneDNN's cap (DNNL_MAX_CPU_ISA) is ours too: our kernels and its
     * then share one blocked layout instead of reordering between 8 and 16 */
    static _Atomic int cap;
    if (!cap)
        cap = dnnl_isa_has(dnnl_cpu_isa_avx512_core) ? 3 : dnnl_isa_has(dnnl_cpu_isa_avx2) ? 2 : 1;
    int f = forced_isa;
    if ((f == 0 || f == 3) && cap >= 3 && __builtin_cpu_supports("avx512f")) return 3;
    if ((f == 0 || f >= 2) && cap >= 2 && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma"))
        return 2;
    return 1;
}

static bool cpu_supports(ssd_backend *be, ssd_op op, ssd_dtype dt, const void *params) {
    (void)be;
    if (dt == SSD_BF16 && op == SSD_OP_CONV2D) /* inference convs */
        return cpu_bf16_native() && cpu_supports(be, op, SSD_F32, params);
    if (dt != SSD_F32 || (unsigned)op >= SSD_OP__COUNT) return false;
    if (op == SSD_OP_BATCHNORM && params)
        return (unsigned)((const ssd_bn_params *)params)->act <= SSD_ACT_RELU6;
    if (op == SSD_OP_ACT && params)
        return (unsigned)((const ssd_act_params *)params)->kind <= SSD_ACT_HARDSIGMOID;
    if (op == SSD_OP_CONV2D && params) {
        const ssd_conv2d_params *p = params;
        if ((unsigned)p->act > SSD_ACT_HARDSWISH) return false; /* fused: oneDNN post-ops */
        if ((unsigned)p->prec > SSD_CONV_BF16_Y || (p->prec && !cpu_bf16_native())) return false;
        if (p->groups < 1 || p->stride[0] < 1 || p->stride[1] < 1 || p->dilation[0] < 1 ||
            p->dilation[1] < 1 || p->pad[0] < 0 || p->pad[1] < 0)
            return false;
    }
    if (op == SSD_OP_MAXPOOL && params) {
        const ssd_pool_params *p = params;
        if (p->kernel[0] < 1 || p->kernel[1] < 1 || p->stride[0] < 1 || p->stride[1] < 1 ||
            p->pad[0] < 0 || p->pad[1] < 0)
            return false;
    }
    return true;
}

/* Fused activations oneDNN has no post-op for (hard-sigmoid in 2.x) are
 * refused here, before the conv code sees them. */
static ssd_status conv_act_check(const ssd_conv2d_params *p) {
    if (p && (unsigned)p->act > SSD_ACT_HARDSWISH)
        return ssd_error_set(SSD_E_UNSUPPORTED, "conv2d: fused activation %d unsupported",
                             (int)p->act);
    return SSD_OK;
}

static ssd_status cpu_conv2d_fwd_checked(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                                         const ssd_tensor *w, const ssd_tensor *b,
                                         const ssd_conv2d_params *p) {
    SSD_TRY(conv_act_check(p));
    return cpu_conv2d_fwd(be, y, x, w, b, p);
}

static ssd_status cpu_conv2d_infer_checked(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                                           const ssd_tensor *w, const ssd_tensor *b,
                                           const ssd_conv2d_params *p) {
    SSD_TRY(conv_act_check(p));
    return cpu_conv2d_infer(be, y, x, w, b, p);
}

static void cpu_destroy(ssd_backend *be) {
    if (!be) return;
    cpu_impl *c = be->impl;
    if (c) {
        cpu_cache_clear(c);
        cpu_weights_clear(c);
        cpu_buf_free(&c->scratch);
        cpu_buf_free(&c->edge);
        for (int i = 0; i < 4; i++) cpu_buf_free(&c->tmp[i]);
        for (int i = 0; i < 2; i++) cpu_buf_free(&c->bn[i]);
        if (c->strm) dnnl_stream_destroy(c->strm);
        if (c->eng) dnnl_engine_destroy(c->eng);
        ssd_free(c);
    }
    ssd_free(be);
}

static const ssd_backend_ops cpu_ops = {
    .name = "cpu",
    .supports = cpu_supports,
    .alloc = cpu_alloc,
    .free_storage = cpu_free_storage,
    .set = cpu_set,
    .get = cpu_get,
    .fill = cpu_fill,
    .to_plain = cpu_to_plain,
    .conv2d_fwd = cpu_conv2d_fwd_checked,
    .conv2d_bwd_data = cpu_conv2d_bwd_data,
    .conv2d_bwd_weights = cpu_conv2d_bwd_weights,
    .bn_fwd = cpu_bn_fwd,
    .bn_bwd = cpu_bn_bwd,
    .act_fwd = cpu_act_fwd,
    .act_bwd = cpu_act_bwd,
    .maxpool_fwd = cpu_maxpool_fwd,
    .maxpool_bwd = cpu_maxpool_bwd,
    .add = cpu_add,
    .concat_fwd = cpu_concat_fwd,
    .concat_bwd = cpu_concat_bwd,
    .softmax_fwd = cpu_softmax_fwd,
    .softmax_bwd = cpu_softmax_bwd,
    .head_permute_fwd = cpu_head_permute_fwd,
    .head_permute_bwd = cpu_head_permute_bwd,
    .l2norm_fwd = cpu_l2norm_fwd,
    .l2norm_bwd = cpu_l2norm_bwd,
    .conv2d_infer = cpu_conv2d_infer_checked,
    .destroy = cpu_destroy,
    .gap_fwd = cpu_gap_fwd,
    .gap_bwd = cpu_gap_bwd,
    .scale_fwd = cpu_scale_fwd,
    .scale_bwd = cpu_scale_bwd,
};

ssd_status ssd_backend_cpu_create(ssd_backend **out) {
    *out = NULL;
    ssd_backend *be = ssd_calloc(1, sizeof *be);
    cpu_impl *c = ssd_calloc(1, sizeof *c);
    if (!be || !c) {
        ssd_free(be);
        ssd_free(c);
        return SSD_E_NOMEM;
    }
    be->ops = &cpu_ops;
    be->impl = c;
    be->threads = ssd_threads_get();
    dnnl_status_t s = dnnl_engine_create(&c->eng, dnnl_cpu, 0);
    if (s == dnnl_success) s = dnnl_stream_create(&c->strm, c->eng, dnnl_stream_default_flags);
    if (s != dnnl_success) {
        cpu_destroy(be);
        return cpu_dnnl_err(s, "engine/stream creation");
    }
    *out = be;
    return SSD_OK;
}

void ssd_backend_cpu_stats(ssd_backend *be, long *prims, long *reorders, long *weight_reorders) {
    bool cpu = be && be->ops == &cpu_ops;
    cpu_impl *c = cpu ? be->impl : NULL;
    if (prims) *prims = c ? c->n_prims : 0;
    if (reorders) *reorders = c ? c->n_reorders : 0;
    if (weight_reorders) *weight_reorders = c ? c->n_weight_reorders : 0;
}

void ssd_backend_cpu_set_bn_onednn(ssd_backend *be, bool on) {
    if (be && be->ops == &cpu_ops) cpu_of(be)->bn_onednn = on;
}

void ssd_backend_cpu_set_wino(ssd_backend *be, int mode) {
    if (!be || be->ops != &cpu_ops) return;
    cpu_of(be)->wino_own = mode;
    cpu_cache_clear(cpu_of(be));
}

ssd_status ssd_backend_cpu_block(ssd_backend *be, ssd_tensor *t, int blk) {
    if (!be || be->ops != &cpu_ops || t->be != be || t->ndim != 4 || t->dtype != SSD_F32 ||
        (blk != 8 && blk != 16))
        return ssd_error_set(SSD_E_INVAL, "cpu block: needs a 4-D f32 cpu tensor and 8 or 16");
    cpu_impl *c = cpu_of(be);
    dnnl_memory_desc_t from, to;
    cpu_md_of(t, &from);
    dnnl_dims_t d = {t->shape[0], t->shape[1], t->shape[2], t->shape[3]};
    dnnl_memory_desc_init_by_tag(&to, 4, d, dnnl_f32, blk == 8 ? dnnl_nChw8c : dnnl_nChw16c);
    size_t bytes = cpu_md_size(&to);
    SSD_TRY(cpu_buf_reserve(&c->edge, bytes));
    SSD_TRY(cpu_reorder(c, &from, t->data, &to, c->edge.p));
    int64_t shape[4] = {t->shape[0], t->shape[1], t->shape[2], t->shape[3]};
    SSD_TRY(cpu_out(be, t, 4, shape, &to));
    memcpy(t->data, c->edge.p, bytes);
    return SSD_OK;
}

/* oneDNN-style tag: outer dims by decreasing stride (upper case when also
 * blocked), then the inner blocks, e.g. "aBcd16b" for nChw16c. */
const char *ssd_backend_cpu_layout_name(const ssd_tensor *t, char *buf, size_t n) {
    const dnnl_memory_desc_t *md = t->layout;
    if (!md) {
        snprintf(buf, n, "plain");
        return buf;
    }
    if (md->format_kind != dnnl_blocked) {
        snprintf(buf, n, "opaque");
        return buf;
    }
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    int order[DNNL_MAX_NDIMS], nd = md->ndims;
    for (int i = 0; i < nd; i++) order[i] = i;
    for (int i = 1; i < nd; i++) /* stable insertion sort, larger stride first */
        for (int j = i; j > 0 && b->strides[order[j]] > b->strides[order[j - 1]]; j--) {
            int tmp = order[j];
            order[j] = order[j - 1];
            order[j - 1] = tmp;
        }
    size_t off = 0;
    for (int i = 0; i < nd && off + 1 < n; i++) {
        bool blocked = false;
        for (int k = 0; k < b->inner_nblks; k++) blocked |= b->inner_idxs[k] == order[i];
        buf[off++] = (char)((blocked ? 'A' : 'a') + order[i]);
    }
    for (int k = 0; k < b->inner_nblks && off + 1 < n; k++)
        off += (size_t)snprintf(buf + off, n - off, "%lld%c", (long long)b->inner_blks[k],
                                (char)('a' + b->inner_idxs[k]));
    buf[off < n ? off : n - 1] = 0;
    return buf;
}
