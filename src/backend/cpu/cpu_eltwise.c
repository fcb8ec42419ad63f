/* Activations and add as our own loops over the physical buffer, in
 * whatever layout the tensor has (both maps send 0 to 0, so the zero padding
 * of blocked layouts stays zero). These ops are pure memory traffic; a loop
 * is as fast as oneDNN's eltwise, needs no primitive, and stays on one
 * thread for small tensors. NaN handling follows PyTorch: forward passes NaN
 * through, backward passes the gradient where y is NaN (threshold_backward /
 * hardtanh_backward compare with <= and >=). */
#include "backend/cpu/cpu.h"

#include <string.h>

CPU_CLONES void cpu_act_apply(ssd_act act, float *y, const float *x, int64_t n) {
    if (act == SSD_ACT_RELU) {
#pragma omp parallel for simd schedule(static) if (n >= CPU_PAR_MIN_FLOATS)
        for (int64_t i = 0; i < n; i++) y[i] = x[i] < 0.f ? 0.f : x[i];
    } else if (act == SSD_ACT_RELU6) {
#pragma omp parallel for simd schedule(static) if (n >= CPU_PAR_MIN_FLOATS)
        for (int64_t i = 0; i < n; i++) {
            float v = x[i] < 0.f ? 0.f : x[i];
            y[i] = v > 6.f ? 6.f : v;
        }
    } else if (act == SSD_ACT_HARDSWISH || act == SSD_ACT_HARDSIGMOID) {
        /* float steps as PyTorch's x * relu6(x + 3) / 6 takes them */
        const bool sw = act == SSD_ACT_HARDSWISH;
#pragma omp parallel for simd schedule(static) if (n >= CPU_PAR_MIN_FLOATS)
        for (int64_t i = 0; i < n; i++) {
            float v = x[i], r = v + 3.f;
            r = r < 0.f ? 0.f : r;
            r = r > 6.f ? 6.f : r;
            y[i] = (sw ? v * r : r) / 6.f;
        }
    } else if (y != x) {
        memcpy(y, x, (size_t)n * sizeof *y);
    }
}

/* Hardswish / hardsigmoid backward from the input x, as autograd differentiates
 * x * relu6(x + 3) / 6 and relu6(x + 3) / 6 (relu6 passes for 0 < x+3 < 6). */
CPU_CLONES static void act_grad_x(ssd_act act, float *dx, const float *dy, const float *x,
                                  int64_t n) {
    const bool sw = act == SSD_ACT_HARDSWISH;
#pragma omp parallel for simd schedule(static) if (n >= CPU_PAR_MIN_FLOATS)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i], t = v + 3.f, g = dy[i] / 6.f;
        bool in = t > 0.f && t < 6.f;
        float r = t < 0.f ? 0.f : (t > 6.f ? 6.f : t);
        dx[i] = sw ? g * r + (in ? g * v : 0.f) : (in ? g : 0.f);
    }
}

CPU_CLONES void cpu_act_grad(ssd_act act, float *dpre, const float *dy, const float *y, int64_t n) {
    if (act == SSD_ACT_RELU) {
#pragma omp parallel for simd schedule(static) if (n >= CPU_PAR_MIN_FLOATS)
        for (int64_t i = 0; i < n; i++) {
            const float g = dy[i], v = y[i]; /* both loads unconditional: vectorizes */
            dpre[i] = v <= 0.f ? 0.f : g;
        }
    } else if (act == SSD_ACT_RELU6) {
#pragma omp parallel for simd schedule(static) if (n >= CPU_PAR_MIN_FLOATS)
        for (int64_t i = 0; i < n; i++) {
            const float g = dy[i], v = y[i];
            dpre[i] = (v <= 0.f || v >= 6.f) ? 0.f : g;
        }
    } else if (dpre != dy) {
        memcpy(dpre, dy, (size_t)n * sizeof *dpre);
    }
}

static bool act_known(ssd_act a) {
    return (unsigned)a <= SSD_ACT_HARDSIGMOID;
}

ssd_status cpu_act_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                       const ssd_act_params *p) {
    cpu_impl *c = cpu_of(be);
    SSD_TRY(cpu_check_in(x, 0, "act_fwd", "x"));
    if (!p || !act_known(p->kind))
        return ssd_error_set(SSD_E_UNSUPPORTED, "act_fwd: unknown activation");
    dnnl_memory_desc_t md;
    cpu_md_of(x, &md);
    int64_t shape[SSD_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    const float *src = x->data;
    if (p->kind == SSD_ACT_HARDSIGMOID && cpu_md_size(&md) != ssd_tensor_nbytes(x)) {
        /* hardsigmoid(0) = 1/2 would fill a blocked layout's zero padding: go plain */
        dnnl_memory_desc_t plain;
        cpu_md_plain(&plain, x->ndim, x->shape);
        void *xp;
        SSD_TRY(cpu_input(c, x, &md, &plain, &c->tmp[0], &xp));
        src = xp;
        md = plain;
    }
    SSD_TRY(cpu_out(be, y, x->ndim, shape, &md)); /* y may be x: then nothing moves */
    cpu_act_apply(p->kind, y->data, src, (int64_t)(cpu_md_size(&md) / sizeof(float)));
    return SSD_OK;
}

ssd_status cpu_act_bwd(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy, const ssd_tensor *x,
                       const ssd_tensor *y, const ssd_act_params *p) {
    cpu_impl *c = cpu_of(be);
    if (!p || !act_known(p->kind))
        return ssd_error_set(SSD_E_UNSUPPORTED, "act_bwd: unknown activation");
    /* ReLU/ReLU6 read the output, hardswish/hardsigmoid the input */
    bool on_x = p->kind == SSD_ACT_HARDSWISH || p->kind == SSD_ACT_HARDSIGMOID;
    const ssd_tensor *t = on_x ? x : y;
    SSD_TRY(cpu_check_in(dy, 0, "act_bwd", "dy"));
    SSD_TRY(cpu_check_in(t, 0, "act_bwd", on_x ? "x" : "y"));
    if (!ssd_tensor_same_shape(dy, t))
        return ssd_error_set(SSD_E_INVAL, "act_bwd: dy and %s differ in shape", on_x ? "x" : "y");
    dnnl_memory_desc_t md;
    cpu_md_of(t, &md);
    void *dyp;
    SSD_TRY(cpu_input(c, dy, NULL, &md, &c->tmp[0], &dyp));
    int64_t shape[SSD_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    const float *tp = t->data;
    SSD_TRY(cpu_out(be, dx, t->ndim, shape, &md)); /* dx may be dy (same layout): in place */
    int64_t n = (int64_t)(cpu_md_size(&md) / sizeof(float));
    if (on_x)
        act_grad_x(p->kind, dx->data, dyp, tp, n);
    else
        cpu_act_grad(p->kind, dx->data, dyp, tp, n);
    return SSD_OK;
}

CPU_CLONES static void add_kernel(float *y, const float *a, const float *b, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= CPU_PAR_MIN_FLOATS)
    for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

ssd_status cpu_add(ssd_backend *be, ssd_tensor *y, const ssd_tensor *a, const ssd_tensor *b) {
    cpu_impl *c = cpu_of(be);
    SSD_TRY(cpu_check_in(a, 0, "add", "a"));
    SSD_TRY(cpu_check_in(b, 0, "add", "b"));
    if (!ssd_tensor_same_shape(a, b))
        return ssd_error_set(SSD_E_INVAL, "add: a and b differ in shape");
    if (y == b && y != a) { /* y aliases b: the sum commutes, so make it the a side */
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
    /* Whole physical buffer, padding included: padding is zero in both. */
    add_kernel(y->data, ap, bp, (int64_t)(cpu_md_size(&md) / sizeof(float)));
    return SSD_OK;
}
