/* Load-time graph rewriting: constant subgraphs are evaluated once,
 * BatchNormalization is folded into the Conv before it, a Relu or
 * Clip(0,6) after a Conv/BN becomes its fused activation, and weights go to
 * the backend. */
#include "runtime/rt_internal.h"

#include "core/mem.h"

#include <math.h>
#include <string.h>

static bool is_load_const(const ssd_onnx_model *m, int v) {
    return v < 0 || m->v[v].load_const;
}

static bool foldable(rt_opcode op) {
    return op != RT_OP_CONV && op != RT_OP_BN && op != RT_OP_MAXPOOL && op != RT_OP_CONSTANT;
}

/* Evaluates node i on constant inputs; its outputs become constants. */
static ssd_status fold_node(ssd_onnx_model *m, int i, bool load_time) {
    rt_node *n = &m->n[i];
    const rt_host **insp = ssd_malloc(sizeof *insp * (size_t)(n->nin + 1));
    if (!insp) return SSD_E_NOMEM;
    for (int j = 0; j < n->nin; j++) insp[j] = n->in[j] >= 0 ? &m->v[n->in[j]].c : NULL;
    rt_host out = {0};
    ssd_status st = rt_host_eval(m, n, insp, &out);
    ssd_free(insp);
    if (st != SSD_OK) {
        rt_host_free(&out);
        return st;
    }
    rt_value *v = &m->v[n->out[0]];
    rt_host_free(&v->c);
    v->c = out;
    v->is_const = true;
    v->load_const = load_time;
    return SSD_OK;
}

ssd_status rt_fold_constants(ssd_onnx_model *m) {
    for (int i = 0; i < m->nn; i++) {
        rt_node *n = &m->n[i];
        if (n->dead || !foldable(n->op)) continue;
        bool all = true;
        for (int j = 0; j < n->nin && all; j++) all = is_load_const(m, n->in[j]);
        if (!all) continue;
        SSD_TRY(fold_node(m, i, true));
        n->dead = true;
        m->stats.folded++;
    }
    return SSD_OK;
}

ssd_status rt_reduce_axes_input(ssd_onnx_model *m) {
    for (int i = 0; i < m->nn; i++) {
        rt_node *n = &m->n[i];
        if (n->dead || n->op != RT_OP_REDUCEMEAN || n->nin < 2 || n->in[1] < 0) continue;
        const rt_value *a = &m->v[n->in[1]];
        if (!a->load_const || a->c.dt != SSD_I64 || a->c.ndim > 1)
            return ssd_error_set(SSD_E_UNSUPPORTED,
                                 "%s: node '%s': ReduceMean axes must be a constant 1-D int64",
                                 m->path, n->name);
        int64_t k = rt_numel(a->c.ndim, a->c.shape);
        if (k > RT_MAX_INTS)
            return ssd_error_set(SSD_E_UNSUPPORTED, "%s: node '%s': %lld ReduceMean axes", m->path,
                                 n->name, (long long)k);
        memcpy(n->ints, a->c.data, (size_t)k * sizeof(int64_t));
        n->nints = (int)k;
        n->has_ints = k > 0 || n->noop_empty; /* empty: all axes, or none with the flag */
        m->v[n->in[1]].consumers--;
        n->in[1] = -1; /* now an attribute: the node reads x only */
    }
    return SSD_OK;
}

/* The node that consumes value v when it has exactly one consumer and is not a graph output. */
static int sole_consumer(const ssd_onnx_model *m, int v, int after) {
    if (v < 0 || m->v[v].consumers != 1 || m->v[v].graph_output) return -1;
    for (int i = after + 1; i < m->nn; i++) {
        if (m->n[i].dead) continue;
        for (int j = 0; j < m->n[i].nin; j++)
            if (m->n[i].in[j] == v) return i;
    }
    return -1;
}

static const rt_host *const_f32(const ssd_onnx_model *m, int v, int64_t numel) {
    if (v < 0 || !m->v[v].load_const) return NULL;
    const rt_host *h = &m->v[v].c;
    if (h->dt != SSD_F32 || rt_numel(h->ndim, h->shape) != numel) return NULL;
    return h;
}

/* Activation of a Relu / Clip / HardSwish node, else SSD_ACT_NONE. */
static ssd_act act_of(const ssd_onnx_model *m, const rt_node *n) {
    if (n->op == RT_OP_RELU) return SSD_ACT_RELU;
    if (n->op == RT_OP_HARDSWISH) return SSD_ACT_HARDSWISH;
    if (n->op != RT_OP_CLIP) return SSD_ACT_NONE;
    float lo = n->clip_min, hi = n->clip_max;
    if (m->opset >= 11) {
        lo = -INFINITY;
        hi = INFINITY;
        for (int j = 1; j < n->nin && j < 3; j++) {
            if (n->in[j] < 0) continue;
            const rt_host *h = const_f32(m, n->in[j], 1);
            if (!h) return SSD_ACT_NONE;
            if (j == 1)
                lo = *(const float *)h->data;
            else
                hi = *(const float *)h->data;
        }
    }
    if (lo == 0.0f && hi == 6.0f) return SSD_ACT_RELU6;
    if (lo == 0.0f && isinf(hi) && hi > 0) return SSD_ACT_RELU;
    return SSD_ACT_NONE;
}

/* Makes node `from`'s output be `to`'s output: `to` disappears. */
static void absorb(ssd_onnx_model *m, int from, int to) {
    rt_node *a = &m->n[from], *b = &m->n[to];
    int old = a->out[0];
    m->v[old].consumers = 0;
    a->out[0] = b->out[0];
    m->v[a->out[0]].producer = from;
    b->dead = true;
}

static ssd_status upload(ssd_onnx_model *m, ssd_tensor *t, int ndim, const int64_t *shape,
                         const float *data) {
    ssd_tensor_init(t, m->be, SSD_F32, ndim, shape);
    SSD_TRY(ssd_tensor_alloc(t));
    return ssd_tensor_set(t, data, SSD_F32);
}

/* Whether node i (Conv or BatchNormalization) can run act fused: ReLU and
 * ReLU6 on every backend, hard-swish where supports() says so. */
static bool can_fuse(const ssd_onnx_model *m, int i, ssd_act act) {
    if (act <= SSD_ACT_RELU6) return true;
    if (m->n[i].op == RT_OP_CONV) {
        ssd_conv2d_params p = m->n[i].conv;
        p.act = act;
        return ssd_backend_has(m->be, SSD_OP_CONV2D, SSD_F32, &p);
    }
    ssd_bn_params p = {.eps = m->n[i].eps, .act = act};
    return ssd_backend_has(m->be, SSD_OP_BATCHNORM, SSD_F32, &p);
}

static ssd_status fuse_act(ssd_onnx_model *m, int i) {
    int c = sole_consumer(m, m->n[i].out[0], i);
    if (c < 0) return SSD_OK;
    ssd_act act = act_of(m, &m->n[c]);
    if (act == SSD_ACT_NONE || !can_fuse(m, i, act)) return SSD_OK;
    m->n[i].act = act;
    absorb(m, i, c);
    m->stats.act_fused++;
    return SSD_OK;
}

/* BN parameters (gamma, beta, mean, var) of node bn for C channels; NULL if not constant. */
static bool bn_params(const ssd_onnx_model *m, const rt_node *bn, int64_t C, const float *p[4]) {
    for (int j = 0; j < 4; j++) {
        const rt_host *h = const_f32(m, bn->in[j + 1], C);
        if (!h) return false;
        p[j] = h->data;
    }
    return true;
}

static ssd_status prepare_conv(ssd_onnx_model *m, int i) {
    rt_node *n = &m->n[i];
    const rt_host *w = n->in[1] >= 0 && m->v[n->in[1]].load_const ? &m->v[n->in[1]].c : NULL;
    if (!w || w->dt != SSD_F32 || w->ndim != 4)
        return ssd_error_set(SSD_E_UNSUPPORTED,
                             "%s: node '%s': Conv weights must be a constant "
                             "4-D float tensor",
                             m->path, n->name);
    int64_t O = w->shape[0], wn = rt_numel(4, w->shape);
    if (O < 1 || wn < 1)
        return ssd_error_set(SSD_E_FORMAT, "%s: node '%s': empty Conv weight", m->path, n->name);
    const rt_host *b = NULL;
    if (n->nin > 2 && n->in[2] >= 0) {
        b = const_f32(m, n->in[2], O);
        if (!b)
            return ssd_error_set(SSD_E_UNSUPPORTED,
                                 "%s: node '%s': Conv bias must be a constant "
                                 "of %lld floats",
                                 m->path, n->name, (long long)O);
    }
    n->w = ssd_malloc((size_t)wn * sizeof(float));
    if (!n->w) return SSD_E_NOMEM;
    memcpy(n->w, w->data, (size_t)wn * sizeof(float));
    if (b) {
        n->b = ssd_malloc((size_t)O * sizeof(float));
        if (!n->b) return SSD_E_NOMEM;
        memcpy(n->b, b->data, (size_t)O * sizeof(float));
    }
    int c = sole_consumer(m, n->out[0], i);
    const float *p[4];
    if (c >= 0 && m->n[c].op == RT_OP_BN && m->n[c].in[0] == n->out[0] &&
        bn_params(m, &m->n[c], O, p)) {
        /* y = (conv(x) + b - mean) * gamma / sqrt(var + eps) + beta, folded in double. */
        if (!n->b) {
            n->b = ssd_calloc((size_t)O, sizeof(float));
            if (!n->b) return SSD_E_NOMEM;
        }
        int64_t per = wn / O;
        for (int64_t o = 0; o < O; o++) {
            double s = (double)p[0][o] / sqrt((double)p[3][o] + m->n[c].eps);
            for (int64_t k = 0; k < per; k++) n->w[o * per + k] = (float)(n->w[o * per + k] * s);
            n->b[o] = (float)(((double)n->b[o] - p[2][o]) * s + p[1][o]);
        }
        absorb(m, i, c);
        m->stats.bn_folded++;
    }
    SSD_TRY(fuse_act(m, i));
    SSD_TRY(upload(m, &n->wt, 4, w->shape, n->w));
    if (n->b) SSD_TRY(upload(m, &n->bt, 1, &O, n->b));
    return SSD_OK;
}

static ssd_status prepare_bn(ssd_onnx_model *m, int i) {
    rt_node *n = &m->n[i];
    const rt_host *g = n->in[1] >= 0 && m->v[n->in[1]].load_const ? &m->v[n->in[1]].c : NULL;
    const float *p[4];
    int64_t C = g ? rt_numel(g->ndim, g->shape) : 0;
    if (!g || C < 1 || !bn_params(m, n, C, p))
        return ssd_error_set(SSD_E_UNSUPPORTED,
                             "%s: node '%s': BatchNormalization parameters "
                             "must be constant float vectors of one length",
                             m->path, n->name);
    SSD_TRY(upload(m, &n->bn_gamma, 1, &C, p[0]));
    SSD_TRY(upload(m, &n->bn_beta, 1, &C, p[1]));
    SSD_TRY(upload(m, &n->bn_mean, 1, &C, p[2]));
    SSD_TRY(upload(m, &n->bn_var, 1, &C, p[3]));
    return fuse_act(m, i);
}

/* x * HardSigmoid(x) with PyTorch's constants is hardswish: how torch.onnx (and
 * our exporter) write it before opset 14. One backend activation instead of a
 * host multiply of two full maps. */
static void fuse_hardswish(ssd_onnx_model *m, int i) {
    rt_node *n = &m->n[i];
    if (n->op != RT_OP_HARDSIGMOID || n->nin < 1 || fabsf(n->alpha - 1.0f / 6.0f) > 1e-7f ||
        n->beta != 0.5f)
        return;
    int x = n->in[0], c = sole_consumer(m, n->out[0], i);
    if (x < 0 || c < 0 || m->n[c].op != RT_OP_MUL || m->n[c].nin != 2) return;
    const int *ci = m->n[c].in;
    if (!((ci[0] == x && ci[1] == n->out[0]) || (ci[1] == x && ci[0] == n->out[0]))) return;
    n->op = RT_OP_HARDSWISH;
    absorb(m, i, c);
    m->v[x].consumers--;
    m->stats.act_fused++;
}

static bool reads_nhwc(const ssd_onnx_model *m, int i) {
    int t = sole_consumer(m, m->n[i].out[0], i);
    return t >= 0 && rt_is_nhwc_transpose(&m->n[t]);
}

static bool same_conv(const ssd_onnx_model *m, const rt_node *a, const rt_node *b) {
    const rt_host *wa = &m->v[a->in[1]].c, *wb = &m->v[b->in[1]].c;
    const ssd_conv2d_params *p = &a->conv, *q = &b->conv;
    return a->in[0] == b->in[0] && a->act == b->act && p->groups == 1 && q->groups == 1 &&
           wa->shape[1] == wb->shape[1] && wa->shape[2] == wb->shape[2] &&
           wa->shape[3] == wb->shape[3] && !memcmp(p->stride, q->stride, sizeof p->stride) &&
           !memcmp(p->pad, q->pad, sizeof p->pad) &&
           !memcmp(p->dilation, q->dilation, sizeof p->dilation);
}

/* Conv i (weights still on the host) and the next Conv of the same input and
 * geometry, each read only by a Transpose to NHWC: an SSD scale's class and
 * box heads. Their stacked weights let the plan run them as one conv, whose
 * wider output amortises the input's pass (and Winograd's input transform):
 * mb1-ssd's 19x19 pair takes 0.7x the time of the two. */
static ssd_status pair_heads(ssd_onnx_model *m, int i) {
    rt_node *a = &m->n[i];
    ssd_head_params range = {1, 1, 1};
    if (a->op != RT_OP_CONV || a->dead || !a->w || a->sib >= 0 || !reads_nhwc(m, i) ||
        !ssd_backend_has(m->be, SSD_OP_HEAD_PERMUTE, SSD_F32, &range))
        return SSD_OK;
    int j = i + 1;
    for (; j < m->nn; j++) {
        const rt_node *b = &m->n[j];
        if (!b->dead && b->op == RT_OP_CONV && b->w && b->sib < 0 && same_conv(m, a, b)) break;
    }
    if (j == m->nn || !reads_nhwc(m, j)) return SSD_OK;
    rt_node *b = &m->n[j];
    const rt_host *wa = &m->v[a->in[1]].c;
    int64_t oa = wa->shape[0], ob = m->v[b->in[1]].c.shape[0], per = rt_numel(4, wa->shape) / oa;
    int64_t ws[4] = {oa + ob, wa->shape[1], wa->shape[2], wa->shape[3]}, bs = oa + ob;
    float *w = ssd_malloc((size_t)(bs * per) * sizeof *w);
    float *bias = a->b || b->b ? ssd_calloc((size_t)bs, sizeof *bias) : NULL;
    ssd_status st = w && (bias || !(a->b || b->b)) ? SSD_OK : SSD_E_NOMEM;
    if (st == SSD_OK) {
        memcpy(w, a->w, (size_t)(oa * per) * sizeof *w);
        memcpy(w + oa * per, b->w, (size_t)(ob * per) * sizeof *w);
        if (a->b) memcpy(bias, a->b, (size_t)oa * sizeof *bias);
        if (b->b) memcpy(bias + oa, b->b, (size_t)ob * sizeof *bias);
        st = upload(m, &a->fwt, 4, ws, w);
    }
    if (st == SSD_OK && bias) st = upload(m, &a->fbt, 1, &bs, bias);
    if (st == SSD_OK) {
        a->sib = j;
        b->sib = i; /* taken: b is no one else's sibling */
    }
    ssd_free(w);
    ssd_free(bias);
    return st;
}

ssd_status rt_fuse(ssd_onnx_model *m) {
    for (int i = 0; i < m->nn; i++)
        if (!m->n[i].dead) fuse_hardswish(m, i);
    for (int i = 0; i < m->nn; i++) {
        if (m->n[i].dead) continue;
        if (m->n[i].op == RT_OP_CONV)
            SSD_TRY(prepare_conv(m, i));
        else if (m->n[i].op == RT_OP_BN)
            SSD_TRY(prepare_bn(m, i));
    }
    for (int i = 0; i < m->nn; i++) SSD_TRY(pair_heads(m, i));
    /* Drop host copies of constants only the backend needs now (weights and BN
     * parameters); their shapes stay for shape inference. */
    for (int i = 0; i < m->nn; i++) {
        rt_node *n = &m->n[i];
        ssd_free(n->w);
        ssd_free(n->b);
        n->w = n->b = NULL;
    }
    for (int v = 0; v < m->nv; v++) {
        if (!m->v[v].load_const || m->v[v].graph_output) continue;
        bool need = false;
        for (int i = 0; i < m->nn && !need; i++) {
            const rt_node *n = &m->n[i];
            if (n->dead) continue;
            for (int j = 0; j < n->nin && !need; j++)
                need = n->in[j] == v && !((n->op == RT_OP_CONV || n->op == RT_OP_BN) && j > 0);
        }
        if (!need) rt_host_free(&m->v[v].c);
    }
    return SSD_OK;
}
