/* Host kernels and shape inference for the operators the backends do not
 * have (broadcasting arithmetic, data movement, shape arithmetic). They serve
 * both constant folding (int64 shape chains) and the small float tails of
 * SSD graphs (box decode), so they favour clarity over speed. */
#include "runtime/rt_internal.h"

#include "core/mem.h"

#include <math.h>
#include <string.h>

int64_t rt_numel(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

void rt_host_free(rt_host *h) {
    ssd_free(h->data);
    h->data = NULL;
}

ssd_status rt_host_alloc(rt_host *h, ssd_dtype dt, int ndim, const int64_t *shape) {
    h->dt = dt;
    h->ndim = ndim;
    for (int i = 0; i < ndim; i++) h->shape[i] = shape[i];
    size_t n = (size_t)rt_numel(ndim, shape);
    h->data = ssd_calloc(n ? n : 1, ssd_dtype_size(dt));
    return h->data ? SSD_OK : SSD_E_NOMEM;
}

#define ERR(st, ...) ssd_error_set(st, __VA_ARGS__)

static ssd_status bad(const ssd_onnx_model *m, const rt_node *n, const char *msg) {
    return ERR(SSD_E_FORMAT, "%s: node '%s': %s", m->path, n->name, msg);
}

static int norm_axis(int64_t axis, int rank) {
    if (axis < -rank || axis >= rank) return -1;
    return (int)(axis < 0 ? axis + rank : axis);
}

/* Values of an int64 constant input; NULL (with an error) if it is not constant. */
static ssd_status const_ints(const ssd_onnx_model *m, const rt_node *n, const rt_host *h,
                             const char *what, int64_t *out, int *cnt) {
    if (!h || !h->data)
        return ERR(SSD_E_UNSUPPORTED, "%s: node '%s': %s must be constant", m->path, n->name, what);
    if (h->dt != SSD_I64) return bad(m, n, "expected an integer tensor");
    int64_t k = rt_numel(h->ndim, h->shape);
    if (k > RT_MAX_INTS) return bad(m, n, "too many values");
    memcpy(out, h->data, (size_t)k * sizeof(int64_t));
    *cnt = (int)k;
    return SSD_OK;
}

/* ---- shape inference ------------------------------------------------------------------ */

static ssd_status bcast_shape(const ssd_onnx_model *m, const rt_node *n, const rt_host *a,
                              const rt_host *b, int *nd, int64_t *s) {
    *nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int i = 0; i < *nd; i++) {
        int ia = i - (*nd - a->ndim), ib = i - (*nd - b->ndim);
        int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        if (da != db && da != 1 && db != 1) return bad(m, n, "shapes do not broadcast");
        s[i] = da == 1 ? db : da;
    }
    return SSD_OK;
}

typedef struct {
    int nax;
    int axis[SSD_MAX_DIMS];
    int64_t start[SSD_MAX_DIMS], step[SSD_MAX_DIMS];
} slice_spec;

static ssd_status slice_params(const ssd_onnx_model *m, const rt_node *n, const rt_host *const *ins,
                               const rt_host *x, slice_spec *sp, int64_t *out_shape) {
    int64_t starts[RT_MAX_INTS], ends[RT_MAX_INTS], axes[RT_MAX_INTS], steps[RT_MAX_INTS];
    int ns, ne, na = -1, nst = -1;
    if (m->opset < 10) {
        ns = ne = n->nslice;
        memcpy(starts, n->starts, sizeof starts);
        memcpy(ends, n->ends, sizeof ends);
        if (n->has_slice_axes) {
            na = ns;
            memcpy(axes, n->axes, sizeof axes);
        }
    } else {
        if (n->nin < 3) return bad(m, n, "Slice needs starts and ends");
        SSD_TRY(const_ints(m, n, ins[1], "starts", starts, &ns));
        SSD_TRY(const_ints(m, n, ins[2], "ends", ends, &ne));
        if (n->nin > 3 && ins[3]) SSD_TRY(const_ints(m, n, ins[3], "axes", axes, &na));
        if (n->nin > 4 && ins[4]) SSD_TRY(const_ints(m, n, ins[4], "steps", steps, &nst));
    }
    if (ne != ns || (na >= 0 && na != ns) || (nst >= 0 && nst != ns) || ns > x->ndim)
        return bad(m, n, "starts, ends, axes and steps do not match");
    for (int i = 0; i < x->ndim; i++) out_shape[i] = x->shape[i];
    sp->nax = ns;
    bool used[SSD_MAX_DIMS] = {false};
    for (int i = 0; i < ns; i++) {
        int ax = norm_axis(na >= 0 ? axes[i] : i, x->ndim);
        if (ax < 0 || used[ax]) return bad(m, n, "bad or repeated slice axis");
        used[ax] = true;
        int64_t step = nst >= 0 ? steps[i] : 1, dim = x->shape[ax];
        if (step == 0) return bad(m, n, "slice step 0");
        /* a step past the dim takes one element at most: clamped, so that no
         * arithmetic below overflows */
        int64_t big = dim > 1 ? dim : 1;
        if (step > big) step = big;
        if (step < -big) step = -big;
        int64_t s = starts[i], e = ends[i], len;
        if (s < 0) s = s < -dim ? 0 : s + dim;
        if (e < 0) e = e < -dim ? (step > 0 ? 0 : -1) : e + dim;
        if (step > 0) {
            s = s > dim ? dim : s;
            e = e > dim ? dim : e;
            len = e > s ? (e - s + step - 1) / step : 0;
        } else {
            s = s > dim - 1 ? dim - 1 : s;
            e = e > dim - 1 ? dim - 1 : e;
            len = s > e ? (s - e + (-step) - 1) / (-step) : 0;
        }
        sp->axis[i] = ax;
        sp->start[i] = s;
        sp->step[i] = step;
        out_shape[ax] = len;
    }
    return SSD_OK;
}

/* Axes of Squeeze/Unsqueeze: attribute before opset 13, input after. cnt = -1: none given. */
static ssd_status sq_axes(const ssd_onnx_model *m, const rt_node *n, const rt_host *const *ins,
                          int64_t *axes, int *cnt) {
    if (m->opset < 13) {
        *cnt = n->has_ints ? n->nints : -1;
        memcpy(axes, n->ints, sizeof n->ints);
        return SSD_OK;
    }
    *cnt = -1;
    if (n->nin > 1 && ins[1]) return const_ints(m, n, ins[1], "axes", axes, cnt);
    if (n->op == RT_OP_UNSQUEEZE) return bad(m, n, "Unsqueeze needs axes");
    return SSD_OK;
}

/* ReduceMean's reduced axes (all when none are given). */
static ssd_status reduce_axes(const ssd_onnx_model *m, const rt_node *n, int rank, bool *red) {
    for (int i = 0; i < rank; i++) red[i] = !n->has_ints;
    for (int i = 0; i < n->nints; i++) {
        int ax = norm_axis(n->ints[i], rank);
        if (ax < 0) return bad(m, n, "ReduceMean axis out of range");
        red[ax] = true;
    }
    return SSD_OK;
}

ssd_status rt_infer_shape(const ssd_onnx_model *m, const rt_node *n, const rt_host *const *ins,
                          int *nd, int64_t *s) {
    const rt_host *x = ins[0];
    *nd = x->ndim;
    for (int i = 0; i < x->ndim; i++) s[i] = x->shape[i];
    switch (n->op) {
    case RT_OP_RELU:
    case RT_OP_CLIP:
    case RT_OP_EXP:
    case RT_OP_IDENTITY:
    case RT_OP_DROPOUT:
    case RT_OP_CAST:
    case RT_OP_SOFTMAX:
    case RT_OP_BN:
    case RT_OP_HARDSIGMOID:
    case RT_OP_HARDSWISH:
        return SSD_OK;
    case RT_OP_GLOBALAVGPOOL:
        if (x->ndim < 3) return bad(m, n, "GlobalAveragePool needs (N, C, spatial...)");
        for (int i = 2; i < x->ndim; i++) s[i] = 1;
        return SSD_OK;
    case RT_OP_REDUCEMEAN: {
        bool red[SSD_MAX_DIMS];
        SSD_TRY(reduce_axes(m, n, x->ndim, red));
        int k = 0;
        for (int i = 0; i < x->ndim; i++) {
            if (!red[i])
                s[k++] = x->shape[i];
            else if (n->keepdims)
                s[k++] = 1;
        }
        *nd = k;
        return SSD_OK;
    }
    case RT_OP_ADD:
    case RT_OP_SUB:
    case RT_OP_MUL:
    case RT_OP_DIV:
        if (ins[0]->dt != ins[1]->dt) return bad(m, n, "operand types differ");
        return bcast_shape(m, n, ins[0], ins[1], nd, s);
    case RT_OP_CONV: {
        const rt_host *w = ins[1];
        if (x->ndim != 4 || w->ndim != 4) return bad(m, n, "Conv needs 4-D input and weight");
        int g = n->conv.groups;
        if (w->shape[0] % g || x->shape[1] != w->shape[1] * g)
            return bad(m, n, "Conv weight does not match the input channels and groups");
        if ((n->kernel[0] && n->kernel[0] != w->shape[2]) ||
            (n->kernel[1] && n->kernel[1] != w->shape[3]))
            return bad(m, n, "kernel_shape does not match the weight");
        if (n->nin > 2 && ins[2] && rt_numel(ins[2]->ndim, ins[2]->shape) != w->shape[0])
            return bad(m, n, "Conv bias does not match the output channels");
        s[1] = w->shape[0];
        for (int i = 0; i < 2; i++) {
            s[2 + i] = ssd_conv_out_size(x->shape[2 + i], (int)w->shape[2 + i], n->conv.stride[i],
                                         n->conv.pad[i], n->conv.dilation[i]);
            if (s[2 + i] < 1) return bad(m, n, "Conv output would be empty");
        }
        return SSD_OK;
    }
    case RT_OP_MAXPOOL:
        if (x->ndim != 4) return bad(m, n, "MaxPool needs a 4-D input");
        for (int i = 0; i < 2; i++) {
            s[2 + i] = ssd_pool_out_size(x->shape[2 + i], n->pool.kernel[i], n->pool.stride[i],
                                         n->pool.pad[i], n->pool.ceil_mode);
            if (s[2 + i] < 1) return bad(m, n, "MaxPool output would be empty");
        }
        return SSD_OK;
    case RT_OP_CONCAT: {
        int ax = norm_axis(n->axis, x->ndim);
        if (ax < 0) return bad(m, n, "Concat axis out of range");
        s[ax] = 0;
        for (int i = 0; i < n->nin; i++) {
            const rt_host *y = ins[i];
            if (!y) continue;
            if (y->ndim != x->ndim || y->dt != x->dt) return bad(m, n, "Concat inputs differ");
            for (int d = 0; d < x->ndim; d++)
                if (d != ax && y->shape[d] != x->shape[d])
                    return bad(m, n, "Concat inputs differ off the axis");
            s[ax] += y->shape[ax];
        }
        return SSD_OK;
    }
    case RT_OP_RESHAPE: {
        int64_t t[RT_MAX_INTS];
        int k;
        SSD_TRY(const_ints(m, n, ins[1], "the target shape", t, &k));
        if (k > SSD_MAX_DIMS) return bad(m, n, "Reshape to too many dims");
        int64_t known = 1, total = rt_numel(x->ndim, x->shape);
        int infer = -1;
        for (int i = 0; i < k; i++) {
            if (t[i] == 0 && !n->allowzero) {
                if (i >= x->ndim) return bad(m, n, "Reshape copies a missing dim");
                t[i] = x->shape[i];
            }
            if (t[i] == -1) {
                if (infer >= 0) return bad(m, n, "Reshape has two -1 dims");
                infer = i;
            } else if (t[i] < 0) {
                return bad(m, n, "Reshape to a negative dim");
            } else if (__builtin_mul_overflow(known, t[i], &known)) {
                return bad(m, n, "Reshape to a shape too large");
            }
        }
        if (infer >= 0) {
            if (known == 0 || total % known) return bad(m, n, "Reshape cannot infer the -1 dim");
            t[infer] = total / known;
        } else if (known != total) {
            return bad(m, n, "Reshape changes the element count");
        }
        *nd = k;
        memcpy(s, t, (size_t)k * sizeof *s);
        return SSD_OK;
    }
    case RT_OP_FLATTEN: {
        int ax = n->axis < 0 ? (int)n->axis + x->ndim : (int)n->axis;
        if (ax < 0 || ax > x->ndim) return bad(m, n, "Flatten axis out of range");
        *nd = 2;
        s[0] = rt_numel(ax, x->shape);
        s[1] = rt_numel(x->ndim - ax, x->shape + ax);
        return SSD_OK;
    }
    case RT_OP_TRANSPOSE: {
        if (n->has_ints && n->nints != x->ndim) return bad(m, n, "perm does not match the rank");
        bool used[SSD_MAX_DIMS] = {false};
        for (int i = 0; i < x->ndim; i++) {
            int p = n->has_ints ? norm_axis(n->ints[i], x->ndim) : x->ndim - 1 - i;
            if (p < 0 || used[p]) return bad(m, n, "perm is not a permutation");
            used[p] = true;
            s[i] = x->shape[p];
        }
        return SSD_OK;
    }
    case RT_OP_SLICE: {
        slice_spec sp;
        return slice_params(m, n, ins, x, &sp, s);
    }
    case RT_OP_GATHER: {
        const rt_host *idx = ins[1];
        int ax = norm_axis(n->axis, x->ndim);
        if (ax < 0) return bad(m, n, "Gather axis out of range");
        if (x->ndim - 1 + idx->ndim > SSD_MAX_DIMS) return bad(m, n, "Gather result rank");
        int k = 0;
        for (int i = 0; i < ax; i++) s[k++] = x->shape[i];
        for (int i = 0; i < idx->ndim; i++) s[k++] = idx->shape[i];
        for (int i = ax + 1; i < x->ndim; i++) s[k++] = x->shape[i];
        *nd = k;
        return SSD_OK;
    }
    case RT_OP_SHAPE: {
        int64_t r = x->ndim, a = n->shape_start, b = n->has_shape_end ? n->shape_end : r;
        a = a < 0 ? a + r : a;
        b = b < 0 ? b + r : b;
        a = a < 0 ? 0 : a > r ? r : a;
        b = b < 0 ? 0 : b > r ? r : b;
        *nd = 1;
        s[0] = b > a ? b - a : 0;
        return SSD_OK;
    }
    case RT_OP_UNSQUEEZE: {
        int64_t axes[RT_MAX_INTS];
        int k;
        SSD_TRY(sq_axes(m, n, ins, axes, &k));
        int r = x->ndim + k;
        if (k < 0 || r > SSD_MAX_DIMS) return bad(m, n, "Unsqueeze rank");
        bool ins_ax[SSD_MAX_DIMS] = {false};
        for (int i = 0; i < k; i++) {
            int a = norm_axis(axes[i], r);
            if (a < 0 || ins_ax[a]) return bad(m, n, "bad Unsqueeze axes");
            ins_ax[a] = true;
        }
        for (int i = 0, j = 0; i < r; i++) s[i] = ins_ax[i] ? 1 : x->shape[j++];
        *nd = r;
        return SSD_OK;
    }
    case RT_OP_SQUEEZE: {
        int64_t axes[RT_MAX_INTS];
        int k;
        SSD_TRY(sq_axes(m, n, ins, axes, &k));
        bool drop[SSD_MAX_DIMS] = {false};
        if (k < 0) {
            for (int i = 0; i < x->ndim; i++) drop[i] = x->shape[i] == 1;
        } else {
            for (int i = 0; i < k; i++) {
                int a = norm_axis(axes[i], x->ndim);
                if (a < 0 || x->shape[a] != 1) return bad(m, n, "Squeeze of a dim that is not 1");
                drop[a] = true;
            }
        }
        int j = 0;
        for (int i = 0; i < x->ndim; i++)
            if (!drop[i]) s[j++] = x->shape[i];
        *nd = j;
        return SSD_OK;
    }
    default:
        return bad(m, n, "no shape rule");
    }
}

/* ---- kernels ------------------------------------------------------------------------- */

static void strides_of(int nd, const int64_t *shape, int64_t *st) {
    int64_t s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        st[i] = s;
        s *= shape[i];
    }
}

/* Strides of a (right-aligned) into an output of rank nd, 0 on broadcast dims. */
static void bcast_strides(const rt_host *a, int nd, const int64_t *out, int64_t *st) {
    int64_t own[SSD_MAX_DIMS];
    strides_of(a->ndim, a->shape, own);
    for (int i = 0; i < nd; i++) {
        int ia = i - (nd - a->ndim);
        st[i] = ia >= 0 && a->shape[ia] == out[i] && out[i] != 1 ? own[ia] : 0;
    }
}

#define BINOP_LOOP(T, EXPR)                                                                        \
    do {                                                                                           \
        const T *pa = a->data, *pb = b->data;                                                      \
        T *py = y->data;                                                                           \
        if (na == total && nb == total) {                                                          \
            for (int64_t i = 0; i < total; i++) {                                                  \
                T u = pa[i], v = pb[i];                                                            \
                py[i] = EXPR;                                                                      \
            }                                                                                      \
        } else if (na == total && nb == 1) {                                                       \
            T v = pb[0];                                                                           \
            for (int64_t i = 0; i < total; i++) {                                                  \
                T u = pa[i];                                                                       \
                py[i] = EXPR;                                                                      \
            }                                                                                      \
        } else {                                                                                   \
            int64_t idx[SSD_MAX_DIMS] = {0}, oa = 0, ob = 0;                                       \
            for (int64_t i = 0; i < total; i++) {                                                  \
                T u = pa[oa], v = pb[ob];                                                          \
                py[i] = EXPR;                                                                      \
                for (int d = nd - 1; d >= 0; d--) {                                                \
                    oa += sa[d];                                                                   \
                    ob += sb[d];                                                                   \
                    if (++idx[d] < y->shape[d]) break;                                             \
                    oa -= sa[d] * y->shape[d];                                                     \
                    ob -= sb[d] * y->shape[d];                                                     \
                    idx[d] = 0;                                                                    \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    } while (0)

static ssd_status binop(const ssd_onnx_model *m, const rt_node *n, const rt_host *a,
                        const rt_host *b, rt_host *y) {
    int nd = y->ndim;
    int64_t sa[SSD_MAX_DIMS], sb[SSD_MAX_DIMS];
    bcast_strides(a, nd, y->shape, sa);
    bcast_strides(b, nd, y->shape, sb);
    int64_t total = rt_numel(nd, y->shape), na = rt_numel(a->ndim, a->shape),
            nb = rt_numel(b->ndim, b->shape);
    if (a->dt == SSD_F32) {
        switch (n->op) {
        case RT_OP_ADD:
            BINOP_LOOP(float, u + v);
            break;
        case RT_OP_SUB:
            BINOP_LOOP(float, u - v);
            break;
        case RT_OP_MUL:
            BINOP_LOOP(float, u *v);
            break;
        default:
            BINOP_LOOP(float, u / v);
            break;
        }
        return SSD_OK;
    }
    switch (n->op) {
    case RT_OP_ADD:
        BINOP_LOOP(int64_t, u + v);
        break;
    case RT_OP_SUB:
        BINOP_LOOP(int64_t, u - v);
        break;
    case RT_OP_MUL:
        BINOP_LOOP(int64_t, u * v);
        break;
    default: {
        const int64_t *pb = b->data;
        for (int64_t i = 0; i < nb; i++)
            if (pb[i] == 0) return bad(m, n, "integer division by zero");
        BINOP_LOOP(int64_t, u / v);
        break;
    }
    }
    return SSD_OK;
}

static ssd_status need_f32(const ssd_onnx_model *m, const rt_node *n, const rt_host *x) {
    return x->dt == SSD_F32 ? SSD_OK : bad(m, n, "expected a float tensor");
}

/* Generic permutation of element-size es: y[i...] = x[perm-mapped]. */
static void transpose(const rt_host *x, const int *perm, rt_host *y, size_t es) {
    int nd = x->ndim;
    int64_t xs[SSD_MAX_DIMS], st[SSD_MAX_DIMS], idx[SSD_MAX_DIMS] = {0};
    strides_of(nd, x->shape, xs);
    for (int i = 0; i < nd; i++) st[i] = xs[perm[i]];
    int64_t total = rt_numel(nd, y->shape), off = 0;
    const char *src = x->data;
    char *dst = y->data;
    for (int64_t i = 0; i < total; i++) {
        memcpy(dst + (size_t)i * es, src + (size_t)off * es, es);
        for (int d = nd - 1; d >= 0; d--) {
            off += st[d];
            if (++idx[d] < y->shape[d]) break;
            off -= st[d] * y->shape[d];
            idx[d] = 0;
        }
    }
}

static void softmax_rows(float *y, const float *x, int64_t outer, int64_t len, int64_t inner) {
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
            const float *px = x + o * len * inner + in;
            float *py = y + o * len * inner + in;
            float mx = -INFINITY;
            for (int64_t i = 0; i < len; i++) mx = fmaxf(mx, px[i * inner]);
            double sum = 0;
            for (int64_t i = 0; i < len; i++) {
                float e = expf(px[i * inner] - mx);
                py[i * inner] = e;
                sum += e;
            }
            float inv = (float)(1.0 / sum);
            for (int64_t i = 0; i < len; i++) py[i * inner] *= inv;
        }
}

ssd_status rt_host_eval(const ssd_onnx_model *m, const rt_node *n, const rt_host *const *ins,
                        rt_host *outs) {
    const rt_host *x = ins[0];
    int nd;
    int64_t shape[SSD_MAX_DIMS];
    SSD_TRY(rt_infer_shape(m, n, ins, &nd, shape));
    ssd_dtype dt = n->op == RT_OP_SHAPE ? SSD_I64 : n->op == RT_OP_CAST ? n->cast_to : x->dt;
    rt_host *y = &outs[0];
    if (y->data) { /* preallocated by the caller for this shape */
        if (y->dt != dt || y->ndim != nd || rt_numel(nd, shape) != rt_numel(y->ndim, y->shape))
            return bad(m, n, "internal: output buffer does not match");
    } else {
        SSD_TRY(rt_host_alloc(y, dt, nd, shape));
    }
    int64_t total = rt_numel(nd, shape);
    size_t es = ssd_dtype_size(dt);
    switch (n->op) {
    case RT_OP_ADD:
    case RT_OP_SUB:
    case RT_OP_MUL:
    case RT_OP_DIV:
        return binop(m, n, ins[0], ins[1], y);
    case RT_OP_RELU:
    case RT_OP_EXP:
    case RT_OP_CLIP: {
        SSD_TRY(need_f32(m, n, x));
        const float *px = x->data;
        float *py = y->data;
        if (n->op == RT_OP_EXP) {
            for (int64_t i = 0; i < total; i++) py[i] = expf(px[i]);
        } else if (n->op == RT_OP_RELU) {
            for (int64_t i = 0; i < total; i++) py[i] = px[i] > 0 ? px[i] : 0;
        } else {
            float lo = n->clip_min, hi = n->clip_max;
            if (m->opset >= 11) {
                lo = -INFINITY;
                hi = INFINITY;
                if (n->nin > 1 && ins[1]) lo = *(const float *)ins[1]->data;
                if (n->nin > 2 && ins[2]) hi = *(const float *)ins[2]->data;
            }
            for (int64_t i = 0; i < total; i++) py[i] = fminf(fmaxf(px[i], lo), hi);
        }
        return SSD_OK;
    }
    case RT_OP_CAST:
        if (x->dt == dt) {
            memcpy(y->data, x->data, (size_t)total * es);
        } else if (dt == SSD_I64) { /* toward zero, as C and ONNX Runtime; saturated */
            const float *px = x->data;
            int64_t *py = y->data;
            for (int64_t i = 0; i < total; i++)
                py[i] = px[i] != px[i]            ? 0
                        : px[i] >= 9.2233715e18f  ? INT64_MAX
                        : px[i] <= -9.2233715e18f ? INT64_MIN
                                                  : (int64_t)px[i];
        } else {
            const int64_t *px = x->data;
            float *py = y->data;
            for (int64_t i = 0; i < total; i++) py[i] = (float)px[i];
        }
        return SSD_OK;
    case RT_OP_IDENTITY:
    case RT_OP_DROPOUT:
    case RT_OP_RESHAPE:
    case RT_OP_FLATTEN:
    case RT_OP_SQUEEZE:
    case RT_OP_UNSQUEEZE:
        memcpy(y->data, x->data, (size_t)total * es);
        return SSD_OK;
    case RT_OP_SHAPE: {
        int64_t r = x->ndim, a = n->shape_start;
        a = a < 0 ? a + r : a;
        a = a < 0 ? 0 : a > r ? r : a;
        for (int64_t i = 0; i < total; i++) ((int64_t *)y->data)[i] = x->shape[a + i];
        return SSD_OK;
    }
    case RT_OP_TRANSPOSE: {
        int perm[SSD_MAX_DIMS];
        for (int i = 0; i < x->ndim; i++)
            perm[i] = n->has_ints ? norm_axis(n->ints[i], x->ndim) : x->ndim - 1 - i;
        transpose(x, perm, y, es);
        return SSD_OK;
    }
    case RT_OP_CONCAT: {
        int ax = norm_axis(n->axis, x->ndim);
        int64_t outer = rt_numel(ax, shape), inner = rt_numel(nd - ax - 1, shape + ax + 1);
        size_t off = 0, row = (size_t)(shape[ax] * inner) * es;
        for (int i = 0; i < n->nin; i++) {
            const rt_host *t = ins[i];
            if (!t) continue;
            size_t chunk = (size_t)(t->shape[ax] * inner) * es;
            for (int64_t o = 0; o < outer; o++)
                memcpy((char *)y->data + (size_t)o * row + off,
                       (const char *)t->data + (size_t)o * chunk, chunk);
            off += chunk;
        }
        return SSD_OK;
    }
    case RT_OP_SLICE: {
        slice_spec sp;
        int64_t os[SSD_MAX_DIMS];
        SSD_TRY(slice_params(m, n, ins, x, &sp, os));
        int64_t xs[SSD_MAX_DIMS], start[SSD_MAX_DIMS] = {0}, step[SSD_MAX_DIMS],
                                  idx[SSD_MAX_DIMS] = {0};
        strides_of(x->ndim, x->shape, xs);
        for (int d = 0; d < nd; d++) step[d] = xs[d];
        for (int i = 0; i < sp.nax; i++) {
            start[sp.axis[i]] = sp.start[i];
            step[sp.axis[i]] = xs[sp.axis[i]] * sp.step[i];
        }
        int64_t off = 0;
        for (int d = 0; d < nd; d++) off += start[d] * xs[d];
        /* a contiguous last axis is copied a run at a time (the box decode
         * of an SSD export slices [..., :2] and [..., 2:] of 3000 x 4) */
        int64_t run = nd > 0 && step[nd - 1] == 1 ? shape[nd - 1] : 1;
        int odo = run > 1 ? nd - 1 : nd; /* the axes the odometer walks */
        for (int64_t i = 0; i < total; i += run) {
            memcpy((char *)y->data + (size_t)i * es, (const char *)x->data + (size_t)off * es,
                   (size_t)run * es);
            for (int d = odo - 1; d >= 0; d--) {
                off += step[d];
                if (++idx[d] < shape[d]) break;
                off -= step[d] * shape[d];
                idx[d] = 0;
            }
        }
        return SSD_OK;
    }
    case RT_OP_GATHER: {
        const rt_host *ix = ins[1];
        if (ix->dt != SSD_I64) return bad(m, n, "Gather indices must be integers");
        int ax = norm_axis(n->axis, x->ndim);
        int64_t outer = rt_numel(ax, x->shape), dim = x->shape[ax],
                inner = rt_numel(x->ndim - ax - 1, x->shape + ax + 1),
                ni = rt_numel(ix->ndim, ix->shape);
        const int64_t *pi = ix->data;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t j = 0; j < ni; j++) {
                int64_t k = pi[j] < 0 ? pi[j] + dim : pi[j];
                if (k < 0 || k >= dim) return bad(m, n, "Gather index out of range");
                memcpy((char *)y->data + (size_t)((o * ni + j) * inner) * es,
                       (const char *)x->data + (size_t)((o * dim + k) * inner) * es,
                       (size_t)inner * es);
            }
        return SSD_OK;
    }
    case RT_OP_HARDSIGMOID:
    case RT_OP_HARDSWISH: {
        /* HardSigmoid: max(0, min(1, alpha*x + beta)); HardSwish: x * that with
         * alpha 1/6, beta 1/2, i.e. x * relu6(x + 3) / 6 */
        SSD_TRY(need_f32(m, n, x));
        const float *px = x->data;
        float *py = y->data;
        if (n->op == RT_OP_HARDSWISH)
            for (int64_t i = 0; i < total; i++) {
                float r = fminf(fmaxf(px[i] + 3.f, 0.f), 6.f);
                py[i] = px[i] * r / 6.f;
            }
        else
            for (int64_t i = 0; i < total; i++)
                py[i] = fminf(fmaxf(n->alpha * px[i] + n->beta, 0.f), 1.f);
        return SSD_OK;
    }
    case RT_OP_GLOBALAVGPOOL:
    case RT_OP_REDUCEMEAN: {
        SSD_TRY(need_f32(m, n, x));
        bool red[SSD_MAX_DIMS];
        if (n->op == RT_OP_REDUCEMEAN) {
            SSD_TRY(reduce_axes(m, n, x->ndim, red));
        } else {
            for (int i = 0; i < x->ndim; i++) red[i] = i >= 2;
        }
        /* output strides over the input's dims, 0 on reduced ones */
        int64_t ost[SSD_MAX_DIMS], acc = 1, cnt = 1;
        for (int i = x->ndim - 1; i >= 0; i--) {
            ost[i] = red[i] ? 0 : acc;
            if (!red[i]) acc *= x->shape[i];
            if (red[i]) cnt *= x->shape[i];
        }
        double *sum = ssd_calloc((size_t)(total ? total : 1), sizeof *sum);
        if (!sum) return SSD_E_NOMEM;
        const float *px = x->data;
        int64_t nx = rt_numel(x->ndim, x->shape), idx[SSD_MAX_DIMS] = {0}, o = 0;
        for (int64_t i = 0; i < nx; i++) {
            sum[o] += (double)px[i];
            for (int d = x->ndim - 1; d >= 0; d--) { /* odometer step */
                o += ost[d];
                if (++idx[d] < x->shape[d]) break;
                o -= ost[d] * x->shape[d];
                idx[d] = 0;
            }
        }
        float *py = y->data;
        for (int64_t i = 0; i < total; i++) py[i] = (float)(sum[i] / (double)(cnt ? cnt : 1));
        ssd_free(sum);
        return SSD_OK;
    }
    case RT_OP_SOFTMAX: {
        SSD_TRY(need_f32(m, n, x));
        int ax = norm_axis(n->axis, x->ndim);
        if (ax < 0) return bad(m, n, "Softmax axis out of range");
        /* Before opset 13 the input is coerced to 2-D at axis: one softmax over
         * everything from axis on. From 13 on it runs along axis alone. */
        int64_t outer = rt_numel(ax, x->shape), len, inner;
        if (m->opset < 13) {
            len = rt_numel(x->ndim - ax, x->shape + ax);
            inner = 1;
        } else {
            len = x->shape[ax];
            inner = rt_numel(x->ndim - ax - 1, x->shape + ax + 1);
        }
        softmax_rows(y->data, x->data, outer, len, inner);
        return SSD_OK;
    }
    default:
        return ERR(SSD_E_UNSUPPORTED, "%s: node '%s': no host kernel for this operator", m->path,
                   n->name);
    }
}
