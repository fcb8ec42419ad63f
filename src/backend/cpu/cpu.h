/* The cpu backend on oneDNN: shared internals.
 *
 * Layouts. A tensor's `layout` is NULL (plain row-major over its logical
 * shape) or a heap copy of the dnnl_memory_desc_t it is stored in (nChw16c
 * and friends). Ops take inputs in any layout and write outputs in the layout
 * the primitive picked (format_tag any), so consecutive conv / BN / ReLU /
 * pool keep the blocked layout and never reorder between them. Where a
 * primitive wants another layout than an input has, the input is reordered
 * into a buffer owned by the primitive's cache entry (allocated once).
 *
 * Caches. Every primitive is created once per (op, shapes, params, input
 * layouts) and kept in a hash map (cpu_cache.c) together with its memory
 * objects and reorder buffers. Reordered copies of weights live in a table
 * keyed by (source data pointer, target layout) and are redone only when the
 * tensor's `version` moves. All primitives use a user scratchpad: one
 * buffer per backend, grown to the largest request.
 *
 * A backend object is not thread-safe: one thread drives it (oneDNN itself
 * parallelises each primitive with OpenMP). */
#ifndef SSD_BACKEND_CPU_H
#define SSD_BACKEND_CPU_H

#include "tensor/backend.h"

#include <oneapi/dnnl/dnnl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A growable 64-byte aligned buffer; grows only, so it stops allocating once
 * the largest shape has been seen. */
typedef struct {
    void *p;
    size_t cap;
} cpu_buf;

ssd_status cpu_buf_reserve(cpu_buf *b, size_t bytes);
void cpu_buf_free(cpu_buf *b);

/* Cache keys: a flat list of integers (op, shapes, params, canonical layouts). */
#define CPU_KEY_MAX 320
typedef struct {
    int n;
    int64_t v[CPU_KEY_MAX];
} cpu_key;

enum {
    CPU_K_REORDER = 1,
    CPU_K_CONV_FWD,
    CPU_K_CONV_BWD_DATA,
    CPU_K_CONV_BWD_WEIGHTS,
    CPU_K_BN_FWD,
    CPU_K_BN_BWD,
    CPU_K_POOL_FWD,
    CPU_K_POOL_BWD,
    CPU_K_CONCAT,
    CPU_K_SOFTMAX_FWD,
    CPU_K_SOFTMAX_BWD,
};

void cpu_key_init(cpu_key *k, int kind);
void cpu_key_add(cpu_key *k, int64_t v);
void cpu_key_md(cpu_key *k, const dnnl_memory_desc_t *md);

/* A primitive with one memory object per argument (created once; each call
 * only swaps data handles) and its scratchpad size. */
#define CPU_MAX_ARGS 20
typedef struct {
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
    int nthr; /* 0: all threads; 1: created and run on one thread (small work) */
    int nargs;
    int arg[CPU_MAX_ARGS];
    dnnl_memory_t mem[CPU_MAX_ARGS];
    size_t scratch;
} cpu_prim;

typedef struct cpu_entry cpu_entry;
typedef struct cpu_wcopy cpu_wcopy;

typedef struct {
    dnnl_engine_t eng;
    dnnl_stream_t strm;
    /* primitive cache: open addressing, power-of-two capacity */
    cpu_entry *slots;
    size_t nslots, nused;
    /* reordered weight copies */
    cpu_wcopy *wc;
    int nwc, capwc;
    cpu_buf scratch; /* shared user scratchpad */
    cpu_buf edge;    /* plain staging for get/to_plain */
    cpu_buf tmp[4];  /* staging for ops without a cache entry of their own (add, l2norm, ...) */
    cpu_buf bn[2];   /* batch norm per-channel tables and partial sums */
    bool bn_onednn;  /* batch norm on oneDNN's primitive instead of our kernels */
    int wino_own;    /* our Winograd and AVX2 depthwise kernels: 0 where oneDNN has no
                        better, 1 always, -1 never */
    /* statistics, for tests and the bench */
    long n_prims, n_reorders, n_weight_reorders, n_wino_runs, n_dw_runs;
} cpu_impl;

static inline cpu_impl *cpu_of(ssd_backend *be) {
    return (cpu_impl *)be->impl;
}

/* ---- oneDNN glue (cpu_prim.c) ---- */

/* Translates a dnnl status into ours with a message naming `what`. */
ssd_status cpu_dnnl_err(dnnl_status_t s, const char *what);
#define CPU_DNNL(call, what)                                                                       \
    do {                                                                                           \
        dnnl_status_t cpu_s_ = (call);                                                             \
        if (cpu_s_ != dnnl_success) return cpu_dnnl_err(cpu_s_, what);                             \
    } while (0)

/* Small work runs on one thread: a parallel region costs its fork/join (and
 * on busy shared cores it may wait a scheduler slice for its second thread).
 * Memory-bound work below this many bytes (PyTorch's grain: 32K floats; above
 * it two cores' caches and bandwidth win), compute below this many flops. */
#define CPU_SMALL_BYTES ((size_t)128 << 10)
#define CPU_SMALL_FLOPS 2e7
static inline int cpu_nthr_bytes(size_t bytes) {
    return bytes < CPU_SMALL_BYTES ? 1 : 0;
}
static inline int cpu_nthr_flops(double flops) {
    return flops < CPU_SMALL_FLOPS ? 1 : 0;
}
/* Our kernels are built for the baseline ISA and, dispatched at load time,
 * for AVX2 and AVX-512: much of the data they touch sits in cache, where the
 * vector width shows. */
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define CPU_CLONES /* the clang fuzz build cannot link clones of extern functions */
#else
#define CPU_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif

/* For own OpenMP loops: parallel only when the buffer is big enough. */
#define CPU_PAR_MIN_FLOATS ((int64_t)(CPU_SMALL_BYTES / sizeof(float)))

/* Creates pd + primitive from an op descriptor; attr may be NULL (a user
 * scratchpad attr is used either way; the given attr is modified). nthr as
 * in cpu_prim. */
ssd_status cpu_prim_create(cpu_impl *c, cpu_prim *p, const void *op_desc,
                           dnnl_primitive_attr_t attr, const_dnnl_primitive_desc_t hint, int nthr,
                           const char *what);
/* Creates a reorder primitive (nthr as in cpu_prim). */
ssd_status cpu_prim_reorder(cpu_impl *c, cpu_prim *p, const dnnl_memory_desc_t *src,
                            const dnnl_memory_desc_t *dst, int nthr);
/* Creates a concat primitive with the dst layout left to oneDNN. */
ssd_status cpu_prim_concat(cpu_impl *c, cpu_prim *p, int n, int axis,
                           const dnnl_memory_desc_t *srcs, int nthr);
/* Declares argument `arg` with memory descriptor md (in execution order). */
ssd_status cpu_prim_arg(cpu_impl *c, cpu_prim *p, int arg, const dnnl_memory_desc_t *md);
/* Runs with data handles in the order the args were declared. */
ssd_status cpu_prim_exec(cpu_impl *c, cpu_prim *p, void *const *handles);
void cpu_prim_destroy(cpu_prim *p);
/* The md the pd reports for query q (NULL or a zero md if none). */
const dnnl_memory_desc_t *cpu_pd_md(const cpu_prim *p, dnnl_query_t q);

/* ---- caches (cpu_cache.c) ---- */

/* Finds the entry for `k` or NULL. */
void *cpu_cache_find(cpu_impl *c, const cpu_key *k);
/* Inserts `obj` (owned from now on; destroyed with `destroy` even on failure). */
ssd_status cpu_cache_insert(cpu_impl *c, const cpu_key *k, void *obj, void (*destroy)(void *));
void cpu_cache_clear(cpu_impl *c);

/* Reorders src (in src_md) into dst (in dst_md) with a cached reorder. */
ssd_status cpu_reorder(cpu_impl *c, const dnnl_memory_desc_t *src_md, const void *src,
                       const dnnl_memory_desc_t *dst_md, void *dst);

/* Data of `t` in layout `want`: t->data when it already is, else a reorder
 * into `buf` (grown as needed). */
ssd_status cpu_input(cpu_impl *c, const ssd_tensor *t, const dnnl_memory_desc_t *t_md,
                     const dnnl_memory_desc_t *want, cpu_buf *buf, void **out);

/* Weight `w` (its plain md in w_md) in layout `want`, from the weight-copy
 * table: reordered only when w's data pointer or version changed. */
ssd_status cpu_weights(cpu_impl *c, const ssd_tensor *w, const dnnl_memory_desc_t *w_md,
                       const dnnl_memory_desc_t *want, void **out);
/* The general form: a copy of w identified by (w's data pointer, `key`) and
 * made by `fill` into `bytes` of storage, again whenever w's version moves
 * (the Winograd-transformed weights: key is a descriptor no reorder target
 * can equal). */
typedef ssd_status (*cpu_weights_fill)(cpu_impl *c, const ssd_tensor *w, void *dst, void *ctx);
ssd_status cpu_weights_made(cpu_impl *c, const ssd_tensor *w, const dnnl_memory_desc_t *key,
                            size_t bytes, cpu_weights_fill fill, void *ctx, void **out);
/* Drops weight copies made from `data` (its storage is being freed). */
void cpu_weights_forget(cpu_impl *c, const void *data);
void cpu_weights_clear(cpu_impl *c);

/* ---- tensors and layouts (cpu_backend.c) ---- */

/* Whether oneDNN runs bfloat16 convs natively here (AVX512_BF16 or AMX):
 * without, its bfloat16 kernels emulate and lose to float32. */
bool cpu_bf16_native(void);
/* Whether those kernels run on AMX tiles (Sapphire Rapids on). */
bool cpu_bf16_amx(void);

/* Plain row-major f32 md over dims. */
void cpu_md_plain(dnnl_memory_desc_t *md, int ndim, const int64_t *dims);
/* The md t is stored in (its layout, or plain over its shape). */
void cpu_md_of(const ssd_tensor *t, dnnl_memory_desc_t *md);
bool cpu_md_equal(const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b);
/* For a 4-D f32 md: 1 if dense plain NCHW, B if dense nChw<B>c, else 0. */
int cpu_md_cblock(const dnnl_memory_desc_t *md);
size_t cpu_md_size(const dnnl_memory_desc_t *md);

/* Makes output `t` an f32 tensor of `shape` stored in `md` (which must have
 * those dims): storage is kept when big enough, layout NULL when md is plain.
 * Bumps the version. */
ssd_status cpu_out(ssd_backend *be, ssd_tensor *t, int ndim, const int64_t *shape,
                   const dnnl_memory_desc_t *md);
/* Same for a plain output. */
ssd_status cpu_out_plain(ssd_backend *be, ssd_tensor *t, int ndim, const int64_t *shape);
/* Checks dtype f32, rank and storage of an input. */
ssd_status cpu_check_in(const ssd_tensor *t, int ndim, const char *op, const char *name);

/* The vector ISA our kernels run here: 3 AVX-512, 2 AVX2 + FMA, 1 neither;
 * capped where oneDNN is (DNNL_MAX_CPU_ISA) and lowered by
 * ssd_backend_cpu_force_isa (cpu_backend.c). */
int cpu_isa(void);

/* ---- Winograd F(2x2, 3x3) and F(4x4, 3x3) on AVX2 or AVX-512 (cpu_wino.c) ---- */

/* GEMM rows (tiles) per micro-kernel call at vector width vw: 6 x 2
 * accumulators + 2 U + 1 broadcast fill AVX2's 16 registers, 12 x 2 + 2 + 1
 * AVX-512's 32 (cpu_wino_kern.h; cpu_wino_plan sizes chunks by it) */
#define CPU_WINO_ROWS(vw) ((vw) == 16 ? 12 : 6)

/* One conv's geometry (set n..act, then cpu_wino_plan). */
typedef struct {
    int n, c, h, w, o, oh, ow, pad;
    ssd_act act;
    int vw;           /* vector width and channel block: 16 (AVX-512) or 8 (AVX2) */
    int m, alpha, ne; /* output tile side (2 or 4), input tile side, transform points */
    int cp, op;       /* channels rounded up to the block of vw */
    int vs;           /* row stride of V, in floats */
    int th, tw;       /* tiles per image, down and across */
    int chunk;        /* tiles per pass */
    int64_t tiles;    /* in all */
} cpu_wino;

/* Picks the vector width (cpu_isa) and tile size for g and fills in the
 * derived fields; false when the kernels cannot run it (CPU without AVX2 and
 * FMA, padding other than 1, an activation other than none, ReLU or ReLU6;
 * 3x3, stride 1 and groups 1 are the caller's to check) or, unless `force`,
 * when oneDNN is expected to be as fast. */
bool cpu_wino_plan(cpu_wino *g, bool force);
size_t cpu_wino_weight_bytes(const cpu_wino *g);
/* Transforms plain (O, C, 3, 3) weights into u (cpu_wino_weight_bytes). */
void cpu_wino_weights(const cpu_wino *g, const float *w, float *u);
/* y (nChw8c or nChw16c as g->vw, channel padding written as zeros) from x
 * (the same layout), the transformed weights u and bias (o floats or NULL),
 * with the backend's shared scratch; par: both threads. */
ssd_status cpu_wino_run(cpu_wino *g, cpu_buf *scratch, const float *x, const float *u,
                        const float *bias, float *y, bool par);

/* ---- depthwise 3x3, stride 1, padding 1 on AVX2 (cpu_dw.c) ---- */

typedef struct {
    int n, c, h, w; /* the output is n x c x h x w too */
    ssd_act act;
} cpu_dw;

/* Whether the kernel can run g: AVX2 and FMA, channels a multiple of 8, an
 * activation of none, ReLU or ReLU6. */
bool cpu_dw_ok(const cpu_dw *g);
size_t cpu_dw_weight_bytes(const cpu_dw *g);
/* Packs plain (C, 1, 3, 3) weights (cpu_dw_weight_bytes). */
void cpu_dw_weights(const cpu_dw *g, const float *w, float *packed);
/* y (nChw8c) from x (nChw8c), the packed weights and bias (c floats or
 * NULL), with the backend's shared scratch; par: all threads. */
ssd_status cpu_dw_run(const cpu_dw *g, cpu_buf *scratch, const float *x, const float *w,
                      const float *bias, float *y, bool par);

/* ---- ops ---- */

ssd_status cpu_conv2d_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x, const ssd_tensor *w,
                          const ssd_tensor *b, const ssd_conv2d_params *p);
ssd_status cpu_conv2d_infer(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                            const ssd_tensor *w, const ssd_tensor *b, const ssd_conv2d_params *p);
ssd_status cpu_conv2d_bwd_data(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                               const ssd_tensor *x, const ssd_tensor *w,
                               const ssd_conv2d_params *p);
ssd_status cpu_conv2d_bwd_weights(ssd_backend *be, ssd_tensor *dw, ssd_tensor *db,
                                  const ssd_tensor *dy, const ssd_tensor *x, const ssd_tensor *w,
                                  const ssd_conv2d_params *p);

ssd_status cpu_bn_fwd(ssd_backend *be, ssd_tensor *y, ssd_tensor *save_mean,
                      ssd_tensor *save_invstd, ssd_tensor *ws, const ssd_tensor *x,
                      const ssd_tensor *gamma, const ssd_tensor *beta, ssd_tensor *running_mean,
                      ssd_tensor *running_var, const ssd_bn_params *p);
ssd_status cpu_bn_bwd(ssd_backend *be, ssd_tensor *dx, ssd_tensor *dgamma, ssd_tensor *dbeta,
                      const ssd_tensor *dy, const ssd_tensor *x, const ssd_tensor *y,
                      const ssd_tensor *ws, const ssd_tensor *gamma, const ssd_tensor *save_mean,
                      const ssd_tensor *save_invstd, const ssd_tensor *running_var,
                      const ssd_bn_params *p);

ssd_status cpu_act_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                       const ssd_act_params *p);
ssd_status cpu_act_bwd(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy, const ssd_tensor *x,
                       const ssd_tensor *y, const ssd_act_params *p);
/* Activation over n floats of a physical buffer; y may be x. Any layout for
 * all but hardsigmoid (act(0) = 0 keeps padding zero). */
void cpu_act_apply(ssd_act act, float *y, const float *x, int64_t n);
/* dpre = dy where ReLU / ReLU6 passed gradient at its output y, else 0. */
void cpu_act_grad(ssd_act act, float *dpre, const float *dy, const float *y, int64_t n);
ssd_status cpu_add(ssd_backend *be, ssd_tensor *y, const ssd_tensor *a, const ssd_tensor *b);

ssd_status cpu_maxpool_fwd(ssd_backend *be, ssd_tensor *y, ssd_tensor *ws, const ssd_tensor *x,
                           const ssd_pool_params *p);
ssd_status cpu_maxpool_bwd(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                           const ssd_tensor *ws, const ssd_tensor *x, const ssd_pool_params *p);

ssd_status cpu_concat_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *const *xs, int n,
                          int axis);
ssd_status cpu_concat_bwd(ssd_backend *be, ssd_tensor *const *dxs, const ssd_tensor *dy,
                          const ssd_tensor *const *xs, int n, int axis);
ssd_status cpu_softmax_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                           const ssd_softmax_params *p);
ssd_status cpu_softmax_bwd(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                           const ssd_tensor *y, const ssd_softmax_params *p);
ssd_status cpu_head_permute_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                                const ssd_head_params *p);
ssd_status cpu_head_permute_bwd(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                                const ssd_tensor *x, const ssd_head_params *p);
ssd_status cpu_l2norm_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                          const ssd_tensor *scale, const ssd_l2norm_params *p);
ssd_status cpu_l2norm_bwd(ssd_backend *be, ssd_tensor *dx, ssd_tensor *dscale, const ssd_tensor *dy,
                          const ssd_tensor *x, const ssd_tensor *scale, const ssd_l2norm_params *p);

ssd_status cpu_gap_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x);
ssd_status cpu_gap_bwd(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy, const ssd_tensor *x);
ssd_status cpu_scale_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x, const ssd_tensor *s);
ssd_status cpu_scale_bwd(ssd_backend *be, ssd_tensor *dx, ssd_tensor *ds, const ssd_tensor *dy,
                         const ssd_tensor *x, const ssd_tensor *s);

/* Statistics of the cpu backend (primitives created, activation reorders
 * run, weight reorders run), for tests and bench/ops. Zeros for other backends. */
void ssd_backend_cpu_stats(ssd_backend *be, long *prims, long *reorders, long *weight_reorders);
/* Test and bench support: batch norm on oneDNN's primitive (true) or on our
 * fused kernels (false, the default). */
void ssd_backend_cpu_set_bn_onednn(ssd_backend *be, bool on);
/* Test and bench support: where inference convs run on our kernels, the 3x3
 * Winograd (cpu_wino.c) and the AVX2 stride-1 depthwise conv (cpu_dw.c):
 * 0 (the default) where their cost rules expect them to beat oneDNN, 1
 * wherever the CPU has AVX2 and FMA, -1 never. Clears the primitive cache. */
void ssd_backend_cpu_set_wino(ssd_backend *be, int mode);
/* Which Winograd the cpu backend's inference convs get on this CPU, in words
 * (ssd info). */
const char *ssd_backend_cpu_winograd(ssd_backend *be);
/* Test support: runs our batch norm and Winograd kernels built for "base",
 * "avx2" or "avx512" (if the CPU has it), or NULL for the best the CPU has.
 * Global. */
void ssd_backend_cpu_force_isa(const char *isa);
/* Test support: re-stores a 4-D f32 tensor of the cpu backend as nChw8c or
 * nChw16c (blk 8 or 16), as a preceding conv would have left it. */
ssd_status ssd_backend_cpu_block(ssd_backend *be, ssd_tensor *t, int blk);
/* The physical layout of t as oneDNN spells it ("plain", "aBcd16b" for
 * nChw16c, ...), for tests and messages. */
const char *ssd_backend_cpu_layout_name(const ssd_tensor *t, char *buf, size_t n);

#endif
