/* Planning for one input shape (shapes, shape-dependent folding, kernel
 * choice) and execution of the plan. */
#include "runtime/rt_internal.h"

#include "core/mem.h"
#include "core/progress.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MAX_STACK_IN 64

/* Shape-only (or constant) host view of value v. */
static void view_of(const ssd_onnx_model *m, int v, rt_host *h) {
    const rt_value *val = &m->v[v];
    if (val->is_const) {
        *h = val->c;
        return;
    }
    h->dt = val->dt;
    h->ndim = val->ndim;
    memcpy(h->shape, val->shape, sizeof h->shape);
    h->data = NULL;
}

/* Reshape node r reading a Transpose(0,2,3,1) whose other consumers are Shape
 * nodes (PyTorch's view(N, -1, k) chain) is the backend's head permute. */
static void try_head(ssd_onnx_model *m, rt_node *r, int nd, const int64_t *shape) {
    int tv = r->in[0];
    int p = m->v[tv].producer;
    if (p < 0 || m->v[tv].graph_output) return;
    rt_node *t = &m->n[p];
    if (!rt_is_nhwc_transpose(t) || t->k != K_HOST) return;
    for (int i = 0; i < m->nn; i++) {
        const rt_node *c = &m->n[i];
        if (c == r || c->dead) continue;
        for (int j = 0; j < c->nin; j++)
            if (c->in[j] == tv && c->op != RT_OP_SHAPE) return;
    }
    int src = t->in[0];
    const rt_value *x = &m->v[src];
    if (x->is_const || x->ndim != 4 || nd != 3 || shape[0] != x->shape[0]) return;
    int64_t k = shape[2];
    if (k < 1 || x->shape[1] % k || shape[1] != x->shape[2] * x->shape[3] * (x->shape[1] / k))
        return;
    t->k = K_NONE;
    r->k = K_HEAD;
    r->head_k = (int)k;
    r->head_src = src;
    m->stats.head_permutes++;
}

static ssd_act clip_act(const ssd_onnx_model *m, const rt_node *n) {
    float lo = n->clip_min, hi = n->clip_max;
    if (m->opset >= 11) {
        lo = -INFINITY;
        hi = INFINITY;
        for (int j = 1; j < n->nin && j < 3; j++) {
            if (n->in[j] < 0) continue;
            const rt_value *v = &m->v[n->in[j]];
            if (!v->is_const || v->c.dt != SSD_F32 || rt_numel(v->c.ndim, v->c.shape) != 1)
                return SSD_ACT_NONE;
            if (j == 1)
                lo = *(const float *)v->c.data;
            else
                hi = *(const float *)v->c.data;
        }
    }
    if (lo == 0.0f && hi == 6.0f) return SSD_ACT_RELU6;
    if (lo == 0.0f && isinf(hi) && hi > 0) return SSD_ACT_RELU;
    return SSD_ACT_NONE;
}

/* The K_HEAD node reading value v, -1 if none. */
static int head_of(const ssd_onnx_model *m, int v) {
    for (int i = 0; i < m->nn; i++)
        if (m->n[i].k == K_HEAD && m->n[i].head_src == v) return i;
    return -1;
}

/* Runs a Conv and its sibling (see pair_heads) as one conv when each map goes
 * only to a head permute, which then reads its channels of the merged output. */
static void merge_heads(ssd_onnx_model *m, int i) {
    rt_node *a = &m->n[i];
    if (a->sib <= i || a->k != K_CONV || m->n[a->sib].k != K_CONV) return;
    rt_node *b = &m->n[a->sib];
    int va = a->out[0], vb = b->out[0];
    int ha = head_of(m, va), hb = head_of(m, vb);
    if (ha < 0 || hb < 0 || m->v[va].consumers != 1 || m->v[vb].consumers != 1) return;
    a->merged = true;
    b->k = K_NONE;
    m->n[ha].head_conv = m->n[hb].head_conv = i;
    m->n[ha].head_c0 = 0;
    m->n[ha].head_c = (int)m->v[va].shape[1];
    m->n[hb].head_c0 = (int)m->v[va].shape[1];
    m->n[hb].head_c = (int)m->v[vb].shape[1];
    m->stats.heads_merged++;
}

/* A conv's size for the profile; a merged head conv counts its sibling's outputs too. */
static void conv_cost(const ssd_onnx_model *m, const rt_node *n, ssd_onnx_prof *p) {
    const rt_value *x = &m->v[n->in[0]], *w = &m->v[n->in[1]], *y = &m->v[n->out[0]];
    if (x->ndim != 4 || w->ndim != 4 || y->ndim != 4) return;
    int64_t o = y->shape[1];
    if (n->merged) o += m->v[m->n[n->sib].out[0]].shape[1];
    p->macs = (double)y->shape[0] * (double)o * (double)(y->shape[2] * y->shape[3]) *
              (double)(w->shape[1] * w->shape[2] * w->shape[3]);
    snprintf(p->geom, sizeof p->geom, "%lldx%lldx%lld>%lld%s k%lld s%d", (long long)x->shape[1],
             (long long)x->shape[2], (long long)x->shape[3], (long long)o,
             n->conv.groups > 1 ? " dw" : "", (long long)w->shape[2], n->conv.stride[0]);
}

/* Whether every kernel reading value v is a conv (and something reads it). */
static bool only_convs_read(const ssd_onnx_model *m, int v) {
    if (m->v[v].graph_output) return false;
    int readers = 0;
    for (int j = 0; j < m->nn; j++) {
        const rt_node *r = &m->n[j];
        if (r->k == K_NONE) continue;
        bool reads = r->k == K_HEAD && r->head_src == v; /* through the dead Transpose */
        for (int a = 0; a < r->nin; a++) reads = reads || r->in[a] == v;
        if (!reads) continue;
        if (r->k != K_CONV || r->in[0] != v) return false;
        readers++;
    }
    return readers > 0;
}

/* Each conv's precision for this plan: bf16 keeps an output in bfloat16
 * where only convs read it (no rounding to float32 and back between them). */
static void conv_precision(ssd_onnx_model *m) {
    m->stats.convs_bf16 = m->stats.convs_bf16_y = 0;
    for (int i = 0; i < m->nn; i++) {
        rt_node *n = &m->n[i];
        if (n->k != K_CONV) continue;
        n->conv.prec = SSD_CONV_F32;
        if (!m->bf16) continue;
        n->conv.prec = SSD_CONV_BF16;
        m->stats.convs_bf16++;
        if (!n->merged && only_convs_read(m, n->out[0])) {
            n->conv.prec = SSD_CONV_BF16_Y;
            m->stats.convs_bf16_y++;
        }
    }
}

static rt_kernel choose(ssd_onnx_model *m, rt_node *n, const rt_host *const *ins) {
    bool all_rt = true;
    for (int j = 0; j < n->nin; j++)
        if (n->in[j] >= 0 && m->v[n->in[j]].is_const) all_rt = false;
    switch (n->op) {
    case RT_OP_CONV:
        return K_CONV;
    case RT_OP_BN:
        return K_BN;
    case RT_OP_MAXPOOL:
        return K_MAXPOOL;
    case RT_OP_RELU:
        n->act = SSD_ACT_RELU;
        return K_ACT;
    case RT_OP_CLIP:
        n->act = clip_act(m, n);
        return n->act != SSD_ACT_NONE ? K_ACT : K_HOST;
    case RT_OP_ADD: {
        bool same = ins[0]->ndim == ins[1]->ndim;
        for (int d = 0; same && d < ins[0]->ndim; d++) same = ins[0]->shape[d] == ins[1]->shape[d];
        return all_rt && same ? K_ADD : K_HOST;
    }
    case RT_OP_CONCAT:
        return all_rt ? K_CONCAT : K_HOST;
    case RT_OP_HARDSWISH:
    case RT_OP_HARDSIGMOID: {
        /* HardSigmoid is the backend's only with PyTorch's alpha 1/6, beta 1/2 */
        bool torch_hs =
            n->op == RT_OP_HARDSWISH || (fabsf(n->alpha - 1.0f / 6.0f) < 1e-7f && n->beta == 0.5f);
        n->act = n->op == RT_OP_HARDSWISH ? SSD_ACT_HARDSWISH : SSD_ACT_HARDSIGMOID;
        ssd_act_params ap = {n->act};
        return torch_hs && ssd_backend_has(m->be, SSD_OP_ACT, SSD_F32, &ap) ? K_ACT : K_HOST;
    }
    case RT_OP_GLOBALAVGPOOL:
    case RT_OP_REDUCEMEAN: {
        bool hw = ins[0]->ndim == 4;
        if (n->op == RT_OP_REDUCEMEAN) { /* over H and W, keeping them: AdaptiveAvgPool2d(1) */
            bool ax[4] = {false, false, false, false};
            for (int i = 0; i < n->nints; i++)
                if (n->ints[i] >= -4 && n->ints[i] < 4) ax[(n->ints[i] + 4) % 4] = true;
            hw = hw && n->keepdims && n->nints == 2 && !ax[0] && !ax[1] && ax[2] && ax[3];
        }
        return all_rt && hw && ssd_backend_has(m->be, SSD_OP_GAP, SSD_F32, NULL) ? K_GAP : K_HOST;
    }
    case RT_OP_MUL: {
        /* squeeze-excite: x (N,C,H,W) * s (N,C,1,1), either order */
        const rt_host *a = ins[0], *b = ins[1];
        if (a->ndim == 4 && b->ndim == 4 && a->shape[2] * a->shape[3] < b->shape[2] * b->shape[3])
            a = ins[1], b = ins[0];
        bool se = a->ndim == 4 && b->ndim == 4 && a->shape[0] == b->shape[0] &&
                  a->shape[1] == b->shape[1] && b->shape[2] == 1 && b->shape[3] == 1;
        n->scale_x = a == ins[0] ? 0 : 1;
        return all_rt && se && ssd_backend_has(m->be, SSD_OP_SCALE, SSD_F32, NULL) ? K_SCALE
                                                                                   : K_HOST;
    }
    case RT_OP_SOFTMAX: {
        int r = ins[0]->ndim;
        bool last = n->axis == -1 || n->axis == r - 1;
        return m->opset >= 13 || last ? K_SOFTMAX : K_HOST;
    }
    case RT_OP_RESHAPE:
    case RT_OP_FLATTEN:
    case RT_OP_SQUEEZE:
    case RT_OP_UNSQUEEZE:
    case RT_OP_IDENTITY:
    case RT_OP_DROPOUT:
    case RT_OP_CAST: /* of the input's data: float32 to float32 only (checked in rt_plan) */
        return K_ALIAS;
    default:
        return K_HOST;
    }
}

static const char *kernel_name(rt_kernel k) {
    static const char *const names[] = {"none",  "conv",   "bn",      "act",  "maxpool",
                                        "add",   "concat", "softmax", "head", "host",
                                        "alias", "gap",    "scale"};
    _Static_assert(sizeof names / sizeof names[0] == K_SCALE + 1, "a name per rt_kernel");
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

ssd_status rt_plan(ssd_onnx_model *m, const ssd_tensor *x) {
    m->planned = false;
    rt_unshare(m);
    m->stats.head_permutes = 0;
    m->stats.heads_merged = 0;
    m->stats.steps = 0;
    for (int i = 0; i < m->nv; i++) {
        rt_value *v = &m->v[i];
        v->t_uploaded = false;
        if (!v->load_const && v->is_const) {
            rt_host_free(&v->c);
            v->is_const = false;
        }
        if (v->is_const) {
            v->dt = v->c.dt;
            v->ndim = v->c.ndim;
            memcpy(v->shape, v->c.shape, sizeof v->shape);
        }
    }
    rt_value *in = &m->v[m->input];
    in->dt = SSD_F32;
    in->ndim = x->ndim;
    memcpy(in->shape, x->shape, sizeof in->shape);

    const rt_host *stack_ins[MAX_STACK_IN];
    rt_host stack_views[MAX_STACK_IN];
    for (int i = 0; i < m->nn; i++) {
        rt_node *n = &m->n[i];
        n->k = K_NONE;
        n->merged = false;
        n->head_conv = -1;
        if (n->dead) continue;
        const rt_host **ins = stack_ins;
        rt_host *views = stack_views;
        if (n->nin > MAX_STACK_IN) {
            ins = ssd_malloc(sizeof *ins * (size_t)n->nin);
            views = ssd_malloc(sizeof *views * (size_t)n->nin);
            if (!ins || !views) {
                ssd_free(ins);
                ssd_free(views);
                return SSD_E_NOMEM;
            }
        }
        bool all_const = true;
        for (int j = 0; j < n->nin; j++) {
            if (n->in[j] < 0) {
                ins[j] = NULL;
                continue;
            }
            view_of(m, n->in[j], &views[j]);
            ins[j] = &views[j];
            if (!m->v[n->in[j]].is_const) all_const = false;
        }
        ssd_status st = SSD_OK;
        rt_value *out = &m->v[n->out[0]];
        bool fold = n->op == RT_OP_SHAPE || (all_const && n->op != RT_OP_CONV &&
                                             n->op != RT_OP_BN && n->op != RT_OP_MAXPOOL);
        if (fold) {
            rt_host y = {0};
            st = rt_host_eval(m, n, ins, &y);
            if (st == SSD_OK) {
                out->c = y;
                out->is_const = true;
                out->dt = y.dt;
                out->ndim = y.ndim;
                memcpy(out->shape, y.shape, sizeof out->shape);
            } else {
                rt_host_free(&y);
            }
        } else {
            if (n->op == RT_OP_CAST && n->cast_to != SSD_F32)
                st = ssd_error_set(SSD_E_UNSUPPORTED,
                                   "%s: node '%s': Cast of data computed from the input to "
                                   "int64 is not supported",
                                   m->path, n->name);
            else if (ins[0]->dt != SSD_F32)
                st = ssd_error_set(SSD_E_UNSUPPORTED,
                                   "%s: node '%s': integer tensors computed "
                                   "from the input are not supported",
                                   m->path, n->name);
            if (st == SSD_OK) st = rt_infer_shape(m, n, ins, &out->ndim, out->shape);
            if (st == SSD_OK) {
                out->dt = SSD_F32;
                n->k = choose(m, n, ins);
                if (n->op == RT_OP_RESHAPE) try_head(m, n, out->ndim, out->shape);
            }
        }
        if (ins != stack_ins) {
            ssd_free(ins);
            ssd_free(views);
        }
        if (st != SSD_OK) return st;
    }
    for (int i = 0; i < m->nn; i++) merge_heads(m, i);
    conv_precision(m);
    ssd_free(m->prof);
    m->prof = ssd_calloc((size_t)m->nn + 1, sizeof *m->prof);
    m->nprof = 0;
    if (!m->prof) return SSD_E_NOMEM;
    for (int i = 0; i < m->nn; i++) {
        rt_node *n = &m->n[i];
        n->prof = -1;
        if (n->k == K_NONE) continue;
        m->stats.steps++;
        n->prof = m->nprof++;
        m->prof[n->prof] =
            (ssd_onnx_prof){n->name, rt_op_name(n->op), kernel_name(n->k), 0, 0, 0, 0, ""};
        if (n->k == K_CONV) conv_cost(m, n, &m->prof[n->prof]);
    }
    m->plan_ndim = x->ndim;
    memcpy(m->plan_shape, x->shape, sizeof m->plan_shape);
    m->planned = true;
    return SSD_OK;
}

/* ---- execution -------------------------------------------------------------------- */

/* Backend tensor of value v (a constant is uploaded once per plan). */
static ssd_status tensor_of(ssd_onnx_model *m, int v, const ssd_tensor **out) {
    rt_value *val = &m->v[v];
    if (v == m->input) {
        *out = m->cur_input;
        return SSD_OK;
    }
    if (val->is_const && !val->t_uploaded) {
        if (val->c.dt != SSD_F32 || !val->c.data)
            return ssd_error_set(SSD_E_UNSUPPORTED,
                                 "%s: value '%s': integer constant used as "
                                 "data",
                                 m->path, val->name);
        ssd_tensor_ensure(&val->t, m->be, SSD_F32, val->c.ndim, val->c.shape);
        SSD_TRY(ssd_tensor_alloc(&val->t));
        SSD_TRY(ssd_tensor_set(&val->t, val->c.data, SSD_F32));
        val->t_uploaded = true;
    }
    *out = &val->t;
    return SSD_OK;
}

/* Whether host kernels work on host copies (get / set) instead of the storage. */
static bool staged(const ssd_onnx_model *m) {
    return m->stage || m->be->ops->device_memory;
}

/* val's host copy, grown to n floats. */
static ssd_status stage_buf(rt_value *val, int64_t n) {
    size_t need = (size_t)(n > 0 ? n : 1);
    if (val->stage_cap >= need) return SSD_OK;
    float *p = ssd_realloc(val->stage, need * sizeof *p);
    if (!p) return SSD_E_NOMEM;
    val->stage = p;
    val->stage_cap = need;
    return SSD_OK;
}

/* Host view of value v's data: its storage made plain, or its staged copy. */
static ssd_status host_view(ssd_onnx_model *m, int v, rt_host *h) {
    rt_value *val = &m->v[v];
    if (val->is_const) {
        *h = val->c;
        return SSD_OK;
    }
    const ssd_tensor *t;
    SSD_TRY(tensor_of(m, v, &t));
    if (t->dtype != SSD_F32)
        return ssd_error_set(SSD_E_INVAL, "%s: input must be float32", m->path);
    h->dt = SSD_F32;
    h->ndim = t->ndim;
    memcpy(h->shape, t->shape, sizeof h->shape);
    if (staged(m)) {
        SSD_TRY(stage_buf(val, ssd_tensor_numel(t)));
        SSD_TRY(ssd_tensor_get(t, val->stage, SSD_F32));
        h->data = val->stage;
        return SSD_OK;
    }
    if (t->layout) SSD_TRY(ssd_tensor_to_plain((ssd_tensor *)t));
    h->data = t->data;
    return SSD_OK;
}

/* Where a host kernel writes its output: the tensor's storage, or its host
 * copy (uploaded by run_host afterwards). */
static ssd_status out_buffer(ssd_onnx_model *m, rt_value *out, rt_host *y) {
    SSD_TRY(ssd_tensor_prepare_plain(&out->t, m->be, SSD_F32, out->ndim, out->shape));
    y->dt = SSD_F32;
    y->ndim = out->ndim;
    memcpy(y->shape, out->shape, sizeof y->shape);
    y->data = out->t.data;
    if (staged(m)) {
        SSD_TRY(stage_buf(out, rt_numel(out->ndim, out->shape)));
        y->data = out->stage;
    }
    return SSD_OK;
}

static ssd_status run_host(ssd_onnx_model *m, rt_node *n) {
    rt_host views[MAX_STACK_IN];
    const rt_host *ins[MAX_STACK_IN];
    if (n->nin > MAX_STACK_IN)
        return ssd_error_set(SSD_E_UNSUPPORTED, "%s: node '%s': too many inputs", m->path, n->name);
    for (int j = 0; j < n->nin; j++) {
        ins[j] = NULL;
        if (n->in[j] < 0) continue;
        SSD_TRY(host_view(m, n->in[j], &views[j]));
        ins[j] = &views[j];
    }
    rt_value *out = &m->v[n->out[0]];
    rt_host y;
    SSD_TRY(out_buffer(m, out, &y));
    if (rt_numel(y.ndim, y.shape) == 0) return SSD_OK; /* an empty tensor: nothing to compute */
    if (!y.data)
        return ssd_error_set(SSD_E_BACKEND, "%s: node '%s': no host storage for the output",
                             m->path, n->name);
    if (n->k == K_ALIAS) {
        memcpy(y.data, ins[0]->data, (size_t)rt_numel(y.ndim, y.shape) * sizeof(float));
    } else {
        SSD_TRY(rt_host_eval(m, n, ins, &y));
    }
    if (staged(m)) SSD_TRY(ssd_tensor_set(&out->t, y.data, SSD_F32));
    out->t.version++;
    return SSD_OK;
}

static ssd_status run_node(ssd_onnx_model *m, rt_node *n) {
    ssd_backend *be = m->be;
    const ssd_backend_ops *ops = be->ops;
    ssd_tensor *y = &m->v[n->out[0]].t;
    const ssd_tensor *x = NULL, *x1 = NULL;
    switch (n->k) {
    case K_CONV: {
        SSD_TRY(tensor_of(m, n->in[0], &x));
        ssd_conv2d_params p = n->conv;
        p.act = n->act;
        const ssd_tensor *w = n->merged ? &n->fwt : &n->wt, *bt = n->merged ? &n->fbt : &n->bt;
        const ssd_tensor *b = bt->data || bt->layout ? bt : NULL;
        if (n->merged) y = &n->fy;
        if (ops->conv2d_infer)
            SSD_TRY(ops->conv2d_infer(be, y, x, w, b, &p));
        else
            SSD_TRY(ops->conv2d_fwd(be, y, x, w, b, &p));
        break;
    }
    case K_BN: {
        SSD_TRY(tensor_of(m, n->in[0], &x));
        ssd_bn_params p = {n->eps, 0.1, false, n->act, false};
        SSD_TRY(ops->bn_fwd(be, y, NULL, NULL, NULL, x, &n->bn_gamma, &n->bn_beta, &n->bn_mean,
                            &n->bn_var, &p));
        break;
    }
    case K_ACT: {
        SSD_TRY(tensor_of(m, n->in[0], &x));
        ssd_act_params p = {n->act};
        SSD_TRY(ops->act_fwd(be, y, x, &p));
        break;
    }
    case K_MAXPOOL:
        SSD_TRY(tensor_of(m, n->in[0], &x));
        SSD_TRY(ops->maxpool_fwd(be, y, &n->ws, x, &n->pool));
        break;
    case K_ADD:
        SSD_TRY(tensor_of(m, n->in[0], &x));
        SSD_TRY(tensor_of(m, n->in[1], &x1));
        SSD_TRY(ops->add(be, y, x, x1));
        break;
    case K_CONCAT: {
        const ssd_tensor *xs[MAX_STACK_IN];
        int k = 0;
        if (n->nin > MAX_STACK_IN)
            return ssd_error_set(SSD_E_UNSUPPORTED, "%s: node '%s': too many inputs", m->path,
                                 n->name);
        for (int j = 0; j < n->nin; j++)
            if (n->in[j] >= 0) SSD_TRY(tensor_of(m, n->in[j], &xs[k++]));
        SSD_TRY(ops->concat_fwd(be, y, xs, k, (int)n->axis));
        break;
    }
    case K_SOFTMAX: {
        SSD_TRY(tensor_of(m, n->in[0], &x));
        ssd_softmax_params p = {(int)n->axis, false};
        SSD_TRY(ops->softmax_fwd(be, y, x, &p));
        break;
    }
    case K_HEAD: {
        ssd_head_params p = {n->head_k, 0, 0};
        if (n->head_conv >= 0) {
            x = &m->n[n->head_conv].fy;
            p.c0 = n->head_c0;
            p.c = n->head_c;
        } else {
            SSD_TRY(tensor_of(m, n->head_src, &x));
        }
        SSD_TRY(ops->head_permute_fwd(be, y, x, &p));
        break;
    }
    case K_GAP:
        SSD_TRY(tensor_of(m, n->in[0], &x));
        SSD_TRY(ops->gap_fwd(be, y, x));
        break;
    case K_SCALE:
        SSD_TRY(tensor_of(m, n->in[n->scale_x], &x));
        SSD_TRY(tensor_of(m, n->in[1 - n->scale_x], &x1));
        SSD_TRY(ops->scale_fwd(be, y, x, x1));
        break;
    case K_HOST:
    case K_ALIAS:
        return run_host(m, n);
    case K_NONE:
        return SSD_OK;
    }
    y->version++;
    return SSD_OK;
}

/* Process CPU seconds, for the profile. */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

ssd_status rt_execute(ssd_onnx_model *m) {
    for (int i = 0; i < m->nn; i++) {
        rt_node *n = &m->n[i];
        if (n->k == K_NONE) continue;
        double t0 = m->profile ? ssd_now() : 0, c0 = m->profile ? cpu_now() : 0;
        ssd_status st = run_node(m, n);
        if (m->profile && n->prof >= 0) {
            m->prof[n->prof].ms += (ssd_now() - t0) * 1000;
            m->prof[n->prof].cpu_ms += (cpu_now() - c0) * 1000;
            m->prof[n->prof].runs++;
        }
        if (st != SSD_OK) return ssd_error_prefix(st, "%s: node '%s'", m->path, n->name);
    }
    /* Outputs that came out constant still need a tensor to hand back. */
    for (int i = 0; i < m->nout; i++) {
        const ssd_tensor *t;
        if (m->v[m->outputs[i]].is_const) SSD_TRY(tensor_of(m, m->outputs[i], &t));
    }
    return SSD_OK;
}

ssd_status ssd_onnx_run(ssd_onnx_model *m, const ssd_tensor *x) {
    if (!x || x->dtype != SSD_F32 || x->ndim < 1)
        return ssd_error_set(SSD_E_INVAL, "%s: the input must be a float32 tensor", m->path);
    for (int d = 0; d < m->in_ndim && d < x->ndim; d++)
        if (m->in_dims[d] > 0 && m->in_dims[d] != x->shape[d]) {
            char buf[64];
            return ssd_error_set(SSD_E_INVAL,
                                 "%s: input '%s' has shape %s; the model expects "
                                 "%lld in dimension %d",
                                 m->path, m->v[m->input].name,
                                 ssd_tensor_shape_str(x, buf, sizeof buf), (long long)m->in_dims[d],
                                 d);
        }
    if (m->in_ndim && x->ndim != m->in_ndim)
        return ssd_error_set(SSD_E_INVAL, "%s: input has %d dims, the model expects %d", m->path,
                             x->ndim, m->in_ndim);
    bool same = m->planned && m->plan_ndim == x->ndim;
    for (int d = 0; same && d < x->ndim; d++) same = m->plan_shape[d] == x->shape[d];
    if (!same) SSD_TRY(rt_plan(m, x));
    m->cur_input = x;
    ssd_status st = rt_execute(m);
    m->cur_input = NULL;
    /* without the pool (out of memory for it) the run still stands */
    if (st == SSD_OK && !m->shared && rt_share(m) != SSD_OK) ssd_error_clear();
    return st;
}

ssd_status ssd_onnx_set_precision(ssd_onnx_model *m, ssd_precision p) {
    ssd_status st = ssd_backend_infer_precision(m->be, p);
    if (st != SSD_OK) return ssd_error_prefix(st, "%s", m->path);
    m->bf16 = p == SSD_PREC_BF16;
    if (m->planned) conv_precision(m);
    return SSD_OK;
}

void ssd_onnx_stage_host(ssd_onnx_model *m, bool on) {
    m->stage = on;
}

void ssd_onnx_set_profile(ssd_onnx_model *m, bool on) {
    m->profile = on;
    for (int i = 0; i < m->nprof; i++) {
        m->prof[i].ms = m->prof[i].cpu_ms = 0;
        m->prof[i].runs = 0;
    }
}

int ssd_onnx_profile(const ssd_onnx_model *m, const ssd_onnx_prof **out) {
    *out = m->prof;
    return m->nprof;
}

const ssd_tensor *ssd_onnx_output(const ssd_onnx_model *m, int i) {
    if (i < 0 || i >= m->nout) return NULL;
    return &m->v[m->outputs[i]].t;
}

ssd_status ssd_onnx_output_get(const ssd_onnx_model *m, int i, float *host) {
    if (i < 0 || i >= m->nout) return ssd_error_set(SSD_E_INVAL, "%s: no output %d", m->path, i);
    return ssd_tensor_get(&m->v[m->outputs[i]].t, host, SSD_F32);
}
