/* conv2d forward, backward-data and backward-weights on oneDNN.
 *
 * Every memory descriptor is format_tag any, so oneDNN picks its fastest
 * blocked layouts; activations stay in them between layers, weights (plain
 * OIHW parameters) are reordered once per version into the weight-copy table
 * and shared by forward and backward-data where they want the same layout.
 * dw is handed back plain, since the optimizer works on plain parameters:
 * backward-weights writes oneDNN's blocked layout and one reorder makes it
 * plain. Asking oneDNN for plain dw directly is worse: with it, 2.6 picks its
 * gemm implementation on plain activations, i.e. reorders of x and dy. */
#include "backend/cpu/cpu.h"

#include "core/mem.h"

#include <string.h>

typedef struct {
    int64_t n, c, h, w, o, kh, kw, oh, ow;
    int groups;
    bool bias;
    ssd_conv_prec prec;
    dnnl_dims_t strides, dil, pad_l, pad_r;
} geom;

static ssd_status conv_geom(geom *g, const ssd_tensor *x, const ssd_tensor *w, bool bias,
                            const ssd_conv2d_params *p, const char *op) {
    SSD_TRY(cpu_check_in(x, 4, op, "x"));
    SSD_TRY(cpu_check_in(w, 4, op, "w"));
    memset(g, 0, sizeof *g);
    g->n = x->shape[0];
    g->c = x->shape[1];
    g->h = x->shape[2];
    g->w = x->shape[3];
    g->o = w->shape[0];
    g->kh = w->shape[2];
    g->kw = w->shape[3];
    g->groups = p->groups;
    g->bias = bias;
    g->prec = p->prec;
    if ((unsigned)p->prec > SSD_CONV_BF16_Y)
        return ssd_error_set(SSD_E_INVAL, "%s: precision %d", op, (int)p->prec);
    if (p->groups < 1 || g->c % p->groups || g->o % p->groups || w->shape[1] != g->c / p->groups)
        return ssd_error_set(SSD_E_INVAL,
                             "%s: x has %lld channels, w is (%lld, %lld, ...), groups %d", op,
                             (long long)g->c, (long long)g->o, (long long)w->shape[1], p->groups);
    for (int i = 0; i < 2; i++) {
        if (p->stride[i] < 1 || p->dilation[i] < 1 || p->pad[i] < 0)
            return ssd_error_set(SSD_E_INVAL, "%s: bad stride/dilation/padding", op);
        g->strides[i] = p->stride[i];
        g->dil[i] = p->dilation[i] - 1; /* oneDNN counts the gaps */
        g->pad_l[i] = p->pad[i];
    }
    g->oh = ssd_conv_out_size(g->h, (int)g->kh, p->stride[0], p->pad[0], p->dilation[0]);
    g->ow = ssd_conv_out_size(g->w, (int)g->kw, p->stride[1], p->pad[1], p->dilation[1]);
    if (g->oh < 1 || g->ow < 1)
        return ssd_error_set(SSD_E_INVAL, "%s: kernel larger than the padded input", op);
    /* Symmetric, as PyTorch: oneDNN derives the same output size by floor division. */
    g->pad_r[0] = g->pad_l[0];
    g->pad_r[1] = g->pad_l[1];
    return SSD_OK;
}

/* One thread only when the conv is small in flops and in bytes: the
 * depthwise convs do few flops per byte of activations, and the 3x3 convs on
 * the last, tiny maps (2x2, 1x1) use each weight a few times: both are
 * memory-bound, and two cores stream memory faster than one (mb1-ssd's 150x150
 * depthwise conv: 0.55x the time; its 2x2 head pair: 1.4 MB of weights). */
static int conv_nthr(const geom *g) {
    double flops = 2.0 * (double)(g->n * g->o * g->oh * g->ow) * (double)(g->c / g->groups) *
                   (double)(g->kh * g->kw);
    size_t bytes = sizeof(float) * (size_t)(g->n * (g->c * g->h * g->w + g->o * g->oh * g->ow) +
                                            g->o * (g->c / g->groups) * g->kh * g->kw);
    return cpu_nthr_flops(flops) && cpu_nthr_bytes(bytes) ? 1 : 0;
}

static void key_geom(cpu_key *k, int kind, const geom *g, int act) {
    cpu_key_init(k, kind);
    int64_t v[] = {g->n,          g->c,          g->h,        g->w,      g->o,
                   g->kh,         g->kw,         g->groups,   g->bias,   act,
                   g->strides[0], g->strides[1], g->dil[0],   g->dil[1], g->pad_l[0],
                   g->pad_l[1],   g->pad_r[0],   g->pad_r[1], g->prec};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) cpu_key_add(k, v[i]);
}

static void md_any(dnnl_memory_desc_t *md, int nd, const dnnl_dim_t *dims) {
    dnnl_memory_desc_init_by_tag(md, nd, dims, dnnl_f32, dnnl_format_tag_any);
}

static void md_src(const geom *g, dnnl_memory_desc_t *md) {
    dnnl_dims_t d = {g->n, g->c, g->h, g->w};
    md_any(md, 4, d);
}

static void md_dst(const geom *g, dnnl_memory_desc_t *md) {
    dnnl_dims_t d = {g->n, g->o, g->oh, g->ow};
    md_any(md, 4, d);
}

/* Weights: (O, C, kh, kw), or (G, O/G, C/G, kh, kw) with groups; `plain`
 * gives the row-major layout the parameter tensors have. */
static void md_weights(const geom *g, dnnl_memory_desc_t *md, bool plain) {
    if (g->groups > 1) {
        dnnl_dims_t d = {g->groups, g->o / g->groups, g->c / g->groups, g->kh, g->kw};
        dnnl_memory_desc_init_by_tag(md, 5, d, dnnl_f32, plain ? dnnl_abcde : dnnl_format_tag_any);
    } else {
        dnnl_dims_t d = {g->o, g->c, g->kh, g->kw};
        dnnl_memory_desc_init_by_tag(md, 4, d, dnnl_f32, plain ? dnnl_abcd : dnnl_format_tag_any);
    }
}

/* The md w is stored in: plain parameters, or (groups 1 only) a layout. */
static ssd_status md_w_of(const geom *g, const ssd_tensor *w, dnnl_memory_desc_t *md,
                          const char *op) {
    if (!w->layout) {
        md_weights(g, md, true);
        return SSD_OK;
    }
    if (g->groups > 1)
        return ssd_error_set(SSD_E_INVAL, "%s: grouped conv weights must be plain", op);
    *md = *(const dnnl_memory_desc_t *)w->layout;
    return SSD_OK;
}

static void md_bias(const geom *g, dnnl_memory_desc_t *md) {
    dnnl_dims_t d = {g->o};
    dnnl_memory_desc_init_by_tag(md, 1, d, dnnl_f32, dnnl_a);
}

/* How a forward conv is computed: direct for training (also the hint for
 * the backward ones; float32 inference uses it too), Winograd for
 * inference, or direct inference-only kernels (the bfloat16 ones). */
typedef enum { FWD_TRAIN, FWD_WINO, FWD_INFER } fwd_mode;

static ssd_status fwd_desc_mode(const geom *g, dnnl_convolution_desc_t *d, bool bias,
                                fwd_mode mode) {
    dnnl_memory_desc_t src, w, b, dst;
    md_src(g, &src);
    md_weights(g, &w, false);
    md_bias(g, &b);
    md_dst(g, &dst);
    if (g->prec != SSD_CONV_F32) { /* the bias stays float32 */
        src.data_type = w.data_type = dnnl_bf16;
        if (g->prec == SSD_CONV_BF16_Y) dst.data_type = dnnl_bf16;
    }
    CPU_DNNL(dnnl_dilated_convolution_forward_desc_init(
                 d, mode == FWD_TRAIN ? dnnl_forward_training : dnnl_forward_inference,
                 mode == FWD_WINO ? dnnl_convolution_winograd : dnnl_convolution_direct, &src, &w,
                 bias ? &b : NULL, &dst, g->strides, g->dil, g->pad_l, g->pad_r),
             "conv forward descriptor");
    return SSD_OK;
}

static ssd_status fwd_desc(const geom *g, dnnl_convolution_desc_t *d, bool bias) {
    return fwd_desc_mode(g, d, bias, FWD_TRAIN);
}

/* ---- forward ---- */

typedef struct {
    cpu_prim p;
    dnnl_memory_desc_t src, w, dst;
    cpu_buf src_buf;
    enum { BY_ONEDNN, BY_WINO, BY_DW } by; /* p, or cpu_wino.c, or cpu_dw.c */
    cpu_wino wino;
    cpu_dw dw;
} fwd_entry;

static void fwd_destroy(void *o) {
    fwd_entry *e = o;
    if (!e) return;
    cpu_prim_destroy(&e->p);
    cpu_buf_free(&e->src_buf);
    ssd_free(e);
}

static ssd_status fwd_make(cpu_impl *c, const geom *g, ssd_act act, fwd_mode mode,
                           fwd_entry **out) {
    ssd_status st;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_convolution_desc_t d;
    fwd_entry *e = ssd_calloc(1, sizeof *e);
    if (!e) return SSD_E_NOMEM;
    SSD_CHECK_GOTO(st, fwd_desc_mode(g, &d, g->bias, mode), fail);
    if (dnnl_primitive_attr_create(&attr) != dnnl_success ||
        dnnl_post_ops_create(&po) != dnnl_success) {
        st = ssd_error_set(SSD_E_BACKEND, "cpu backend: attr creation failed");
        goto fail;
    }
    if (act == SSD_ACT_RELU) dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.f, 0.f);
    if (act == SSD_ACT_RELU6)
        dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip_v2, 0.f, 6.f);
    if (act == SSD_ACT_HARDSWISH) /* x * relu6(x + 3) / 6, PyTorch's */
        dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_hardswish, 0.f, 0.f);
    dnnl_primitive_attr_set_post_ops(attr, po);
    SSD_CHECK_GOTO(st, cpu_prim_create(c, &e->p, &d, attr, NULL, conv_nthr(g), "conv forward"),
                   fail);
    e->src = *cpu_pd_md(&e->p, dnnl_query_src_md);
    e->w = *cpu_pd_md(&e->p, dnnl_query_weights_md);
    e->dst = *cpu_pd_md(&e->p, dnnl_query_dst_md);
    SSD_CHECK_GOTO(st, cpu_prim_arg(c, &e->p, DNNL_ARG_SRC, &e->src), fail);
    SSD_CHECK_GOTO(st, cpu_prim_arg(c, &e->p, DNNL_ARG_WEIGHTS, &e->w), fail);
    if (g->bias) {
        dnnl_memory_desc_t b;
        md_bias(g, &b);
        SSD_CHECK_GOTO(st, cpu_prim_arg(c, &e->p, DNNL_ARG_BIAS, &b), fail);
    }
    SSD_CHECK_GOTO(st, cpu_prim_arg(c, &e->p, DNNL_ARG_DST, &e->dst), fail);
    *out = e;
    goto done;
fail:
    fwd_destroy(e);
done:
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return st;
}

/* The inference algorithm for g: Winograd for 3x3 stride-1 convs with many
 * input and output channels and room for its tiles. On the SSD class heads
 * it takes 0.55x (19x19), 0.6x (10x10) and 0.65x (5x5) the CPU time of the
 * direct kernel, weights cold in cache as in a full run; with 24 outputs
 * (box heads) its input transform is not amortised and it gains nothing.
 * Everything else stays on the training kernels: oneDNN's inference-only
 * ones (brgconv, brdgmm) are no faster here and want NHWC. */
static bool dense_3x3_s1(const geom *g) {
    return g->groups == 1 && g->kh == 3 && g->kw == 3 && g->strides[0] == 1 && g->strides[1] == 1 &&
           g->dil[0] == 0 && g->dil[1] == 0;
}

/* Not on maps under 4x4: oneDNN's tiles there compute mostly padding (a 3x3
 * map is 2x2 tiles of 4x4 outputs), and its direct kernel took 0.7x the time
 * of its Winograd at batch 1 and 0.45x at batch 8 (256x3x3 > 150, two
 * Sapphire Rapids cores, weights cycling through L3; mb1-ssd's 3x3 head:
 * 0.115-0.128 ms in the network, 0.088-0.095 direct). From 7x7 up Winograd
 * wins there; 5x5 and 6x6 went to direct by 10-35%, but Zen 4 measured the
 * other way (above), so they stay. */
static bool wino_ok(const geom *g) {
    return dense_3x3_s1(g) && g->c >= 64 && g->o >= 64 && g->oh >= 4 && g->ow >= 4;
}

/* ---- our Winograd: where oneDNN has none (AVX2), and for the SSD heads on
 * AVX-512, where it beats oneDNN's ---- */

static void own_geom(const geom *g, ssd_act act, cpu_wino *o) {
    *o = (cpu_wino){.n = (int)g->n,
                    .c = (int)g->c,
                    .h = (int)g->h,
                    .w = (int)g->w,
                    .o = (int)g->o,
                    .oh = (int)g->oh,
                    .ow = (int)g->ow,
                    .pad = (int)g->pad_l[0],
                    .act = act};
}

/* Whether our Winograd takes g, planned into *o; force: whenever the
 * kernels can (tests), else where they pay. */
static bool own_ok(const geom *g, ssd_act act, bool force, cpu_wino *o) {
    if (g->prec != SSD_CONV_F32 || !dense_3x3_s1(g) || g->pad_l[0] != g->pad_l[1]) return false;
    own_geom(g, act, o);
    return cpu_wino_plan(o, force);
}

/* An entry for one of our kernels: nChw8c or nChw16c (blk) in and out. */
static fwd_entry *own_make(const geom *g, int by, int blk) {
    fwd_entry *e = ssd_calloc(1, sizeof *e);
    if (!e) return NULL;
    e->by = by;
    dnnl_dims_t s = {g->n, g->c, g->h, g->w}, d = {g->n, g->o, g->oh, g->ow};
    dnnl_format_tag_t tag = blk == 16 ? dnnl_nChw16c : dnnl_nChw8c;
    dnnl_memory_desc_init_by_tag(&e->src, 4, s, dnnl_f32, tag);
    dnnl_memory_desc_init_by_tag(&e->dst, 4, d, dnnl_f32, tag);
    return e;
}

/* Our kernels' weights from w (ctx: the entry): plain first where an op left
 * them blocked, then transformed (Winograd) or packed (depthwise). */
static ssd_status own_fill(cpu_impl *c, const ssd_tensor *w, void *dst, void *ctx) {
    const fwd_entry *e = ctx;
    const float *plain = w->data;
    if (w->layout) {
        dnnl_memory_desc_t md;
        cpu_md_plain(&md, w->ndim, w->shape);
        SSD_TRY(cpu_buf_reserve(&c->tmp[3], cpu_md_size(&md)));
        SSD_TRY(cpu_reorder(c, w->layout, w->data, &md, c->tmp[3].p));
        plain = c->tmp[3].p;
    }
    if (e->by == BY_WINO)
        cpu_wino_weights(&e->wino, plain, dst);
    else
        cpu_dw_weights(&e->dw, plain, dst);
    return SSD_OK;
}

/* One of our kernels on x. The weight-table key is the prepared weights'
 * shape as a descriptor no conv weight layout (4-D or 5-D) can equal:
 * Winograd's 3-D (ne, c, o), the depthwise taps' 2-D (c, 9). */
static ssd_status own_run(ssd_backend *be, fwd_entry *e, const geom *g, ssd_tensor *y,
                          const ssd_tensor *x, const ssd_tensor *w, const ssd_tensor *b) {
    cpu_impl *c = cpu_of(be);
    bool wino = e->by == BY_WINO;
    void *xin, *k;
    SSD_TRY(cpu_input(c, x, NULL, &e->src, &e->src_buf, &xin));
    dnnl_memory_desc_t key;
    if (wino) {
        dnnl_dims_t kd = {e->wino.vw, e->wino.ne, e->wino.c, e->wino.o};
        dnnl_memory_desc_init_by_tag(&key, 4, kd, dnnl_f32, dnnl_abcd);
    } else {
        dnnl_dims_t kd = {e->dw.c, 9};
        dnnl_memory_desc_init_by_tag(&key, 2, kd, dnnl_f32, dnnl_ab);
    }
    size_t bytes = wino ? cpu_wino_weight_bytes(&e->wino) : cpu_dw_weight_bytes(&e->dw);
    SSD_TRY(cpu_weights_made(c, w, &key, bytes, own_fill, e, &k));
    int64_t shape[4] = {g->n, g->o, g->oh, g->ow};
    SSD_TRY(cpu_out(be, y, 4, shape, &e->dst));
    const float *bias = b ? b->data : NULL;
    bool par = conv_nthr(g) == 0;
    if (!wino) {
        c->n_dw_runs++;
        return cpu_dw_run(&e->dw, &c->scratch, xin, k, bias, y->data, par);
    }
    c->n_wino_runs++;
    return cpu_wino_run(&e->wino, &c->scratch, xin, k, bias, y->data, par);
}

/* ---- our depthwise 3x3 stride-1 kernel, where oneDNN has only AVX2 ---- */

/* Whether our depthwise kernel takes g, planned into *o; force: whenever it
 * can (tests), else where oneDNN's kernel is AVX2 (no AVX-512, or oneDNN
 * capped at AVX2): on AVX-512 oneDNN's was as fast as ours at 16 lanes, and
 * a cap below AVX2 (DNNL_MAX_CPU_ISA) holds for our AVX2 code too. */
static bool dw_ok(const geom *g, ssd_act act, bool force, cpu_dw *o) {
    if (g->prec != SSD_CONV_F32 || g->groups != g->c || g->o != g->c || g->kh != 3 || g->kw != 3 ||
        g->strides[0] != 1 || g->strides[1] != 1 || g->dil[0] || g->dil[1] || g->pad_l[0] != 1 ||
        g->pad_l[1] != 1)
        return false;
    *o = (cpu_dw){.n = (int)g->n, .c = (int)g->c, .h = (int)g->h, .w = (int)g->w, .act = act};
    return cpu_dw_ok(o) && (force || cpu_isa() == 2);
}

static fwd_mode infer_mode(const geom *g) {
    if (g->prec != SSD_CONV_F32) return FWD_INFER; /* oneDNN has no bfloat16 Winograd */
    return wino_ok(g) ? FWD_WINO : FWD_TRAIN;
}

/* bfloat16 convs that float32 Winograd does faster run in float32 (the
 * precision is a permission, backend.h): oneDNN's bfloat16 direct 3x3 kernel
 * makes about 225 GMAC/s on two Zen 4 cores (AVX512_BF16), Winograd 275-310
 * equivalent from 38x38 up (vgg16-ssd), and about the same at 19x19. With
 * AMX bfloat16 wins everywhere: vgg16-ssd takes 40 ms at batch 1 on two
 * Sapphire Rapids cores, 91 with its big convs on float32 Winograd. */
static void prefer_f32(geom *g) {
    if (g->prec != SSD_CONV_F32 && wino_ok(g) && g->oh * g->ow >= 38 * 38 && !cpu_bf16_amx())
        g->prec = SSD_CONV_F32;
}

/* The entry for a forward conv: our depthwise kernel where it applies; our
 * Winograd where its cost model expects it to beat oneDNN (always on AVX2,
 * where oneDNN has no Winograd, for the convs it pays on); else oneDNN.
 * Ours always if told (c->wino_own > 0), never if told (< 0). */
static ssd_status fwd_new(cpu_impl *c, const geom *g, ssd_act act, bool infer, fwd_mode mode,
                          fwd_entry **e) {
    cpu_wino plan;
    cpu_dw dw;
    bool force = c->wino_own > 0, mine = infer && c->wino_own >= 0;
    if (mine && dw_ok(g, act, force, &dw)) {
        if (!(*e = own_make(g, BY_DW, 8))) return SSD_E_NOMEM;
        (*e)->dw = dw;
        return SSD_OK;
    }
    if (mine && own_ok(g, act, force, &plan)) {
        if (!(*e = own_make(g, BY_WINO, plan.vw))) return SSD_E_NOMEM;
        (*e)->wino = plan;
        return SSD_OK;
    }
    ssd_status st = fwd_make(c, g, act, mode, e);
    if (st != SSD_E_UNSUPPORTED || mode != FWD_WINO) return st;
    ssd_error_clear();
    return fwd_make(c, g, act, FWD_TRAIN, e);
}

static ssd_status fwd_run(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x, const ssd_tensor *w,
                          const ssd_tensor *b, const ssd_conv2d_params *p, bool infer) {
    cpu_impl *c = cpu_of(be);
    geom g;
    SSD_TRY(conv_geom(&g, x, w, b != NULL, p, "conv2d_fwd"));
    if (b) SSD_TRY(cpu_check_in(b, 1, "conv2d_fwd", "b"));
    if (b && b->shape[0] != g.o)
        return ssd_error_set(SSD_E_INVAL, "conv2d_fwd: bias size mismatch");
    if (g.prec != SSD_CONV_F32 && !infer)
        return ssd_error_set(SSD_E_INVAL, "conv2d_fwd: bfloat16 is for inference (conv2d_infer)");
    if (g.prec != SSD_CONV_F32 && !cpu_bf16_native())
        return ssd_error_set(SSD_E_UNSUPPORTED,
                             "conv2d_infer: bfloat16 needs a CPU with AVX512_BF16 or AMX");
    prefer_f32(&g);
    fwd_mode mode = infer ? infer_mode(&g) : FWD_TRAIN;
    cpu_key k;
    key_geom(&k, CPU_K_CONV_FWD, &g, p->act);
    cpu_key_add(&k, infer);
    if (y == x) return ssd_error_set(SSD_E_INVAL, "conv2d_fwd: y must not be x");
    fwd_entry *e = cpu_cache_find(c, &k);
    if (!e) {
        SSD_TRY(fwd_new(c, &g, p->act, infer, mode, &e));
        SSD_TRY(cpu_cache_insert(c, &k, e, fwd_destroy));
    }
    if (e->by != BY_ONEDNN) return own_run(be, e, &g, y, x, w, b);
    void *h[4];
    int n = 0;
    dnnl_memory_desc_t wmd;
    SSD_TRY(md_w_of(&g, w, &wmd, "conv2d_fwd"));
    SSD_TRY(cpu_input(c, x, NULL, &e->src, &e->src_buf, &h[n++]));
    SSD_TRY(cpu_weights(c, w, &wmd, &e->w, &h[n++]));
    if (b) h[n++] = b->data; /* 1-D tensors are always plain */
    int64_t shape[4] = {g.n, g.o, g.oh, g.ow};
    SSD_TRY(cpu_out(be, y, 4, shape, &e->dst));
    h[n++] = y->data;
    return cpu_prim_exec(c, &e->p, h);
}

const char *ssd_backend_cpu_winograd(ssd_backend *be) {
    if (!be || strcmp(be->ops->name, "cpu") != 0) return "none (not the cpu backend)";
    geom g = {.n = 1,
              .c = 64,
              .h = 19,
              .w = 19,
              .o = 64,
              .kh = 3,
              .kw = 3,
              .oh = 19,
              .ow = 19,
              .groups = 1,
              .strides = {1, 1},
              .pad_l = {1, 1},
              .pad_r = {1, 1}};
    cpu_wino plan;
    bool ours = own_ok(&g, SSD_ACT_NONE, true, &plan);
    dnnl_convolution_desc_t d;
    dnnl_primitive_desc_t pd = NULL;
    if (fwd_desc_mode(&g, &d, false, FWD_WINO) == SSD_OK &&
        dnnl_primitive_desc_create(&pd, &d, NULL, cpu_of(be)->eng, NULL) == dnnl_success) {
        dnnl_primitive_desc_destroy(pd);
        return ours && plan.vw == 16
                   ? "ours, AVX-512 F(2x2,3x3) and F(4x4,3x3), where it is cheaper; else oneDNN's"
                   : "oneDNN's (3x3 stride-1 convs with many channels)";
    }
    ssd_error_clear();
    if (!ours) return "none (3x3 convs run direct)";
    return plan.vw == 16 ? "ours, AVX-512 F(2x2,3x3) and F(4x4,3x3) (oneDNN has none)"
                         : "ours, AVX2 F(2x2,3x3) and F(4x4,3x3) (oneDNN has none)";
}

ssd_status cpu_conv2d_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x, const ssd_tensor *w,
                          const ssd_tensor *b, const ssd_conv2d_params *p) {
    return fwd_run(be, y, x, w, b, p, false);
}

ssd_status cpu_conv2d_infer(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                            const ssd_tensor *w, const ssd_tensor *b, const ssd_conv2d_params *p) {
    return fwd_run(be, y, x, w, b, p, true);
}

/* ---- backward data ---- */

typedef struct {
    cpu_prim hint, p;
    dnnl_memory_desc_t dsrc, w, ddst;
    cpu_buf dy_buf;
} bwd_data_entry;

static void bwd_data_destroy(void *o) {
    bwd_data_entry *e = o;
    if (!e) return;
    cpu_prim_destroy(&e->p);
    cpu_prim_destroy(&e->hint);
    cpu_buf_free(&e->dy_buf);
    ssd_free(e);
}

/* The forward primitive descriptor the backward ones are created against. */
static ssd_status make_hint(cpu_impl *c, const geom *g, bool bias, cpu_prim *hint) {
    dnnl_convolution_desc_t d;
    SSD_TRY(fwd_desc(g, &d, bias));
    return cpu_prim_create(c, hint, &d, NULL, NULL, conv_nthr(g), "conv forward (hint)");
}

static ssd_status bwd_data_make(cpu_impl *c, const geom *g, bwd_data_entry **out) {
    ssd_status st;
    dnnl_convolution_desc_t d;
    dnnl_memory_desc_t dsrc, w, ddst;
    bwd_data_entry *e = ssd_calloc(1, sizeof *e);
    if (!e) return SSD_E_NOMEM;
    SSD_CHECK_GOTO(st, make_hint(c, g, false, &e->hint), fail);
    md_src(g, &dsrc);
    md_weights(g, &w, false);
    md_dst(g, &ddst);
    dnnl_status_t s = dnnl_dilated_convolution_backward_data_desc_init(
        &d, dnnl_convolution_direct, &dsrc, &w, &ddst, g->strides, g->dil, g->pad_l, g->pad_r);
    if (s != dnnl_success) {
        st = cpu_dnnl_err(s, "conv backward-data descriptor");
        goto fail;
    }
    SSD_CHECK_GOTO(
        st, cpu_prim_create(c, &e->p, &d, NULL, e->hint.pd, conv_nthr(g), "conv backward-data"),
        fail);
    e->dsrc = *cpu_pd_md(&e->p, dnnl_query_diff_src_md);
    e->w = *cpu_pd_md(&e->p, dnnl_query_weights_md);
    e->ddst = *cpu_pd_md(&e->p, dnnl_query_diff_dst_md);
    SSD_CHECK_GOTO(st, cpu_prim_arg(c, &e->p, DNNL_ARG_DIFF_DST, &e->ddst), fail);
    SSD_CHECK_GOTO(st, cpu_prim_arg(c, &e->p, DNNL_ARG_WEIGHTS, &e->w), fail);
    SSD_CHECK_GOTO(st, cpu_prim_arg(c, &e->p, DNNL_ARG_DIFF_SRC, &e->dsrc), fail);
    *out = e;
    return SSD_OK;
fail:
    bwd_data_destroy(e);
    return st;
}

static ssd_status check_dy(const geom *g, const ssd_tensor *dy, const char *op) {
    SSD_TRY(cpu_check_in(dy, 4, op, "dy"));
    if (dy->shape[0] != g->n || dy->shape[1] != g->o || dy->shape[2] != g->oh ||
        dy->shape[3] != g->ow)
        return ssd_error_set(SSD_E_INVAL, "%s: dy does not have the output's shape", op);
    return SSD_OK;
}

ssd_status cpu_conv2d_bwd_data(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                               const ssd_tensor *x, const ssd_tensor *w,
                               const ssd_conv2d_params *p) {
    cpu_impl *c = cpu_of(be);
    geom g;
    SSD_TRY(conv_geom(&g, x, w, false, p, "conv2d_bwd_data"));
    SSD_TRY(check_dy(&g, dy, "conv2d_bwd_data"));
    cpu_key k;
    key_geom(&k, CPU_K_CONV_BWD_DATA, &g, 0);
    bwd_data_entry *e = cpu_cache_find(c, &k);
    if (!e) {
        SSD_TRY(bwd_data_make(c, &g, &e));
        SSD_TRY(cpu_cache_insert(c, &k, e, bwd_data_destroy));
    }
    void *h[3];
    dnnl_memory_desc_t wmd;
    SSD_TRY(md_w_of(&g, w, &wmd, "conv2d_bwd_data"));
    if (dx == dy) return ssd_error_set(SSD_E_INVAL, "conv2d_bwd_data: dx must not be dy");
    SSD_TRY(cpu_input(c, dy, NULL, &e->ddst, &e->dy_buf, &h[0]));
    SSD_TRY(cpu_weights(c, w, &wmd, &e->w, &h[1]));
    int64_t shape[4] = {g.n, g.c, g.h, g.w};
    SSD_TRY(cpu_out(be, dx, 4, shape, &e->dsrc));
    h[2] = dx->data;
    return cpu_prim_exec(c, &e->p, h);
}

/* ---- backward weights ---- */

typedef struct {
    cpu_prim hint, p;
    dnnl_memory_desc_t src, dw, ddst;
    bool dw_plain; /* the primitive writes dw straight into the plain tensor */
    bool own_dw;   /* depthwise that oneDNN only has a gemm/reference kernel for: ours */
    cpu_buf x_buf, dy_buf, dw_buf;
} bwd_w_entry;

static void bwd_w_destroy(void *o) {
    bwd_w_entry *e = o;
    if (!e) return;
    cpu_prim_destroy(&e->p);
    cpu_prim_destroy(&e->hint);
    cpu_buf_free(&e->x_buf);
    cpu_buf_free(&e->dy_buf);
    cpu_buf_free(&e->dw_buf);
    ssd_free(e);
}

static ssd_status bwd_w_make(cpu_impl *c, const geom *g, bwd_w_entry **out) {
    ssd_status st;
    dnnl_convolution_desc_t d;
    dnnl_memory_desc_t src, dw, db, ddst;
    bwd_w_entry *e = ssd_calloc(1, sizeof *e);
    if (!e) return SSD_E_NOMEM;
    SSD_CHECK_GOTO(st, make_hint(c, g, g->bias, &e->hint), fail);
    md_src(g, &src);
    md_weights(g, &dw, false);
    md_bias(g, &db);
    md_dst(g, &ddst);
    dnnl_status_t s = dnnl_dilated_convolution_backward_weights_desc_init(
        &d, dnnl_convolution_direct, &src, &dw, g->bias ? &db : NULL, &ddst, g->strides, g->dil,
        g->pad_l, g->pad_r);
    if (s != dnnl_success) {
        st = cpu_dnnl_err(s, "conv backward-weights descriptor");
        goto fail;
    }
    SSD_CHECK_GOTO(
        st, cpu_prim_create(c, &e->p, &d, NULL, e->hint.pd, conv_nthr(g), "conv backward-weights"),
        fail);
    const char *impl = "";
    dnnl_primitive_desc_query(e->p.pd, dnnl_query_impl_info_str, 0, &impl);
    if (g->groups == g->c && g->groups == g->o && g->kh * g->kw <= 64 &&
        strncmp(impl, "jit", 3) != 0) {
        /* e.g. 5x5 depthwise: oneDNN 2.6 falls back to gemm on plain data. */
        dnnl_dims_t xd = {g->n, g->c, g->h, g->w}, yd = {g->n, g->o, g->oh, g->ow};
        dnnl_memory_desc_init_by_tag(&e->src, 4, xd, dnnl_f32, dnnl_nChw16c);
        dnnl_memory_desc_init_by_tag(&e->ddst, 4, yd, dnnl_f32, dnnl_nChw16c);
        e->own_dw = true;
        *out = e;
        return SSD_OK;
    }
    e->src = *cpu_pd_md(&e->p, dnnl_query_src_md);
    e->dw = *cpu_pd_md(&e->p, dnnl_query_diff_weights_md);
    e->ddst = *cpu_pd_md(&e->p, dnnl_query_diff_dst_md);
    dnnl_memory_desc_t wplain;
    md_weights(g, &wplain, true);
    e->dw_plain = cpu_md_equal(&e->dw, &wplain);
    SSD_CHECK_GOTO(st, cpu_prim_arg(c, &e->p, DNNL_ARG_SRC, &e->src), fail);
    SSD_CHECK_GOTO(st, cpu_prim_arg(c, &e->p, DNNL_ARG_DIFF_DST, &e->ddst), fail);
    SSD_CHECK_GOTO(st, cpu_prim_arg(c, &e->p, DNNL_ARG_DIFF_WEIGHTS, &e->dw), fail);
    if (g->bias) SSD_CHECK_GOTO(st, cpu_prim_arg(c, &e->p, DNNL_ARG_DIFF_BIAS, &db), fail);
    if (!e->dw_plain) SSD_CHECK_GOTO(st, cpu_buf_reserve(&e->dw_buf, cpu_md_size(&e->dw)), fail);
    *out = e;
    return SSD_OK;
fail:
    bwd_w_destroy(e);
    return st;
}

/* Depthwise dw (and db) from nChw16c x and dy: per channel block, 16-lane
 * accumulators for every kernel tap, summed over n, oh, ow in float like
 * oneDNN's own kernels. */
CPU_CLONES static void dw_bwd_weights(float *dw, float *db, const float *x, const float *dy,
                                      const geom *g) {
    const int64_t CB = (g->c + 15) / 16, KK = g->kh * g->kw;
    const bool par = CB > 1 && g->n * g->oh * g->ow * KK * 16 * CB >= CPU_PAR_MIN_FLOATS;
#pragma omp parallel for schedule(dynamic) if (par)
    for (int64_t cb = 0; cb < CB; cb++) {
        float acc[64 * 16], bacc[16] = {0};
        for (int64_t k = 0; k < KK * 16; k++) acc[k] = 0.f;
        for (int64_t n = 0; n < g->n; n++) {
            const float *xb = x + (n * CB + cb) * g->h * g->w * 16;
            const float *yb = dy + (n * CB + cb) * g->oh * g->ow * 16;
            for (int64_t oh = 0; oh < g->oh; oh++)
                for (int64_t ow = 0; ow < g->ow; ow++) {
                    const float *d = yb + (oh * g->ow + ow) * 16;
                    for (int j = 0; j < 16; j++) bacc[j] += d[j];
                    for (int64_t kh = 0; kh < g->kh; kh++) {
                        int64_t ih = oh * g->strides[0] - g->pad_l[0] + kh * (g->dil[0] + 1);
                        if (ih < 0 || ih >= g->h) continue;
                        for (int64_t kw = 0; kw < g->kw; kw++) {
                            int64_t iw = ow * g->strides[1] - g->pad_l[1] + kw * (g->dil[1] + 1);
                            if (iw < 0 || iw >= g->w) continue;
                            const float *xv = xb + (ih * g->w + iw) * 16;
                            float *a = acc + (kh * g->kw + kw) * 16;
                            for (int j = 0; j < 16; j++) a[j] += d[j] * xv[j];
                        }
                    }
                }
        }
        for (int j = 0; j < 16 && cb * 16 + j < g->c; j++) {
            for (int64_t k = 0; k < KK; k++) dw[(cb * 16 + j) * KK + k] = acc[k * 16 + j];
            if (db) db[cb * 16 + j] = bacc[j];
        }
    }
}

ssd_status cpu_conv2d_bwd_weights(ssd_backend *be, ssd_tensor *dw, ssd_tensor *db,
                                  const ssd_tensor *dy, const ssd_tensor *x, const ssd_tensor *w,
                                  const ssd_conv2d_params *p) {
    cpu_impl *c = cpu_of(be);
    geom g;
    SSD_TRY(conv_geom(&g, x, w, db != NULL, p, "conv2d_bwd_weights"));
    SSD_TRY(check_dy(&g, dy, "conv2d_bwd_weights"));
    cpu_key k;
    key_geom(&k, CPU_K_CONV_BWD_WEIGHTS, &g, 0);
    bwd_w_entry *e = cpu_cache_find(c, &k);
    if (!e) {
        SSD_TRY(bwd_w_make(c, &g, &e));
        SSD_TRY(cpu_cache_insert(c, &k, e, bwd_w_destroy));
    }
    void *h[4];
    SSD_TRY(cpu_input(c, x, NULL, &e->src, &e->x_buf, &h[0]));
    SSD_TRY(cpu_input(c, dy, NULL, &e->ddst, &e->dy_buf, &h[1]));
    SSD_TRY(cpu_out_plain(be, dw, 4, w->shape));
    if (e->own_dw) {
        if (db) {
            int64_t o = g.o;
            SSD_TRY(cpu_out_plain(be, db, 1, &o));
        }
        dw_bwd_weights(dw->data, db ? db->data : NULL, h[0], h[1], &g);
        return SSD_OK;
    }
    h[2] = e->dw_plain ? dw->data : e->dw_buf.p;
    if (db) {
        int64_t o = g.o;
        SSD_TRY(cpu_out_plain(be, db, 1, &o));
        h[3] = db->data;
    }
    SSD_TRY(cpu_prim_exec(c, &e->p, h));
    if (e->dw_plain) return SSD_OK;
    dnnl_memory_desc_t wplain;
    md_weights(&g, &wplain, true);
    return cpu_reorder(c, &e->dw, e->dw_buf.p, &wplain, dw->data);
}
