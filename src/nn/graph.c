/* The graph executor and its memory planner.
 *
 * Forward and backward are each written once, over abstract buffer handles.
 * Planning runs them in simulation: every new buffer gets a handle with the
 * time it is written, and every read moves the handle's last-use time. The
 * handles are then given offsets in one arena. Execution runs the same code
 * again; because control flow depends only on the graph, the mode and the
 * shapes, the k-th buffer asked for in execution is the k-th handle of the
 * simulation, and takes that handle's view into the arena. */
#include "nn/graph.h"

#include "core/mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    size_t bytes;
    int def, last;
    size_t off; /* in the arena */
} vbuf;

struct ssd_graph_plan {
    int64_t in_shape[4];
    ssd_dtype dtype;
    bool training;
    bool valid;
    vbuf *vb;
    int nvb, capvb;
    ssd_tensor arena; /* one block holding every planned buffer */
    ssd_tensor *bufs; /* per handle: a view into the arena */
    int nbufs;
    /* per node, during a run */
    int *cur;     /* handle of the node's current output */
    int *gacc;    /* handle of its accumulated gradient, or NOGRAD */
    bool *gsum;   /* gacc is a sum buffer of its own (add in place) */
    bool *recomp; /* output recomputed in backward */
    bool *have;   /* recomputed output materialised */
    bool *up;     /* a trainable layer at or before the node: its gradient matters */
    bool up_valid;
    int n_nodes;                    /* size of the per-node arrays */
    int nfwd;                       /* handles the forward pass asks for */
    int exec_next;                  /* where the backward pass's handles start */
    const ssd_tensor *x;            /* input of the current step */
    const ssd_tensor *const *grads; /* external gradients, by bound-node order */
    bool backward_ready;            /* a training forward ran and backward has not */
    bool keep_all;
};

/* Handles: >= 0 planned buffers; EXT0 - i: the caller's tensor of node i (the
 * input, a bound output); EXT0 - (n + k): the k-th external gradient. */
#define NOGRAD (-1)
#define EXT0   (-2)

typedef struct {
    ssd_graph *g;
    ssd_graph_plan *p;
    bool sim;
    int t;    /* time: forward i, backward n + (n-1-j) */
    int next; /* next planned handle (execution) */
} run;

/* ---- building ---------------------------------------------------------------------- */

void ssd_graph_init(ssd_graph *g, ssd_backend *be) {
    memset(g, 0, sizeof *g);
    g->be = be;
    g->recompute_bn = true;
}

static void plan_free(ssd_graph_plan *p) {
    if (!p) return;
    for (int i = 0; i < p->nbufs; i++) ssd_tensor_deinit(&p->bufs[i]);
    ssd_free(p->bufs);
    ssd_tensor_deinit(&p->arena);
    ssd_free(p->vb);
    ssd_free(p->cur);
    ssd_free(p->gacc);
    ssd_free(p->gsum);
    ssd_free(p->recomp);
    ssd_free(p->have);
    ssd_free(p->up);
    ssd_free(p);
}

void ssd_graph_deinit(ssd_graph *g) {
    if (!g) return;
    for (int i = 0; i < g->n; i++) {
        ssd_node *nd = &g->nodes[i];
        if (nd->layer) {
            ssd_layer_deinit(nd->layer);
            ssd_free(nd->layer);
        }
    }
    ssd_free(g->nodes);
    plan_free(g->plan);
    memset(g, 0, sizeof *g);
}

ssd_status ssd_graph_status(const ssd_graph *g) {
    return g->err;
}

void ssd_graph_set_section(ssd_graph *g, ssd_section s) {
    g->section = s;
}

static void invalidate(ssd_graph *g) {
    if (g->plan) {
        g->plan->valid = false;
        g->plan->up_valid = false;
    }
}

static int add_node(ssd_graph *g, ssd_node_kind kind, const int *in, int nin) {
    if (g->err) return -1;
    if (nin > SSD_GRAPH_MAX_IN) {
        g->err =
            ssd_error_set(SSD_E_INVAL, "graph: a node takes at most %d inputs", SSD_GRAPH_MAX_IN);
        return -1;
    }
    for (int k = 0; k < nin; k++)
        if (in[k] < 0 || in[k] >= g->n) {
            g->err = ssd_error_set(SSD_E_INVAL, "graph: node %d reads node %d, which is not there",
                                   g->n, in[k]);
            return -1;
        }
    if (g->n == g->cap) {
        int cap = g->cap ? g->cap * 2 : 64;
        ssd_node *nn = ssd_realloc(g->nodes, (size_t)cap * sizeof *nn);
        if (!nn) {
            g->err = SSD_E_NOMEM;
            return -1;
        }
        g->nodes = nn;
        g->cap = cap;
    }
    ssd_node *nd = &g->nodes[g->n];
    memset(nd, 0, sizeof *nd);
    nd->kind = kind;
    nd->nin = nin;
    for (int k = 0; k < nin; k++) nd->in[k] = in[k];
    nd->section = g->section;
    nd->rank = g->n;
    invalidate(g);
    return g->n++;
}

int ssd_graph_input(ssd_graph *g) {
    return add_node(g, SSD_NODE_INPUT, NULL, 0);
}

int ssd_graph_layer(ssd_graph *g, int in, ssd_layer *l) {
    int id = g->err || in < 0 ? -1 : add_node(g, SSD_NODE_LAYER, &in, 1);
    if (id < 0) {
        if (l) {
            ssd_layer_deinit(l);
            ssd_free(l);
        }
        return -1;
    }
    g->nodes[id].layer = l;
    return id;
}

/* A fresh heap layer, or NULL with g->err set. */
static ssd_layer *new_layer(ssd_graph *g, int in) {
    if (g->err || in < 0) return NULL;
    ssd_layer *l = ssd_calloc(1, sizeof *l);
    if (!l) g->err = SSD_E_NOMEM;
    return l;
}

static int finish_layer(ssd_graph *g, int in, ssd_layer *l, ssd_status st) {
    if (st != SSD_OK) {
        g->err = st;
        ssd_layer_deinit(l);
        ssd_free(l);
        return -1;
    }
    return ssd_graph_layer(g, in, l);
}

int ssd_graph_conv(ssd_graph *g, int in, const char *name, int cin, int cout, int k, int stride,
                   int pad, int dilation, int groups, bool bias, ssd_act act) {
    ssd_layer *l = new_layer(g, in);
    if (!l) return -1;
    ssd_status st =
        ssd_layer_conv_init(l, g->be, name, cin, cout, k, stride, pad, dilation, groups, bias, act);
    return finish_layer(g, in, l, st);
}

int ssd_graph_bn(ssd_graph *g, int in, const char *name, int c, ssd_act act) {
    ssd_layer *l = new_layer(g, in);
    if (!l) return -1;
    return finish_layer(g, in, l, ssd_layer_bn_init(l, g->be, name, c, act));
}

int ssd_graph_act(ssd_graph *g, int in, ssd_act act) {
    ssd_layer *l = new_layer(g, in);
    if (!l) return -1;
    ssd_layer_act_init(l, g->be, "act", act);
    return finish_layer(g, in, l, SSD_OK);
}

int ssd_graph_maxpool(ssd_graph *g, int in, int k, int stride, int pad, bool ceil_mode) {
    ssd_layer *l = new_layer(g, in);
    if (!l) return -1;
    ssd_layer_maxpool_init(l, g->be, "maxpool", k, stride, pad, ceil_mode);
    return finish_layer(g, in, l, SSD_OK);
}

int ssd_graph_gap(ssd_graph *g, int in) {
    ssd_layer *l = new_layer(g, in);
    if (!l) return -1;
    ssd_layer_gap_init(l, g->be, "gap");
    return finish_layer(g, in, l, SSD_OK);
}

int ssd_graph_l2norm(ssd_graph *g, int in, const char *name, int c, double scale) {
    ssd_layer *l = new_layer(g, in);
    if (!l) return -1;
    return finish_layer(g, in, l, ssd_layer_l2norm_init(l, g->be, name, c, scale));
}

int ssd_graph_add(ssd_graph *g, int a, int b) {
    int in[2] = {a, b};
    if (a < 0 || b < 0) return -1;
    return add_node(g, SSD_NODE_ADD, in, 2);
}

int ssd_graph_concat(ssd_graph *g, const int *in, int n, int axis) {
    for (int k = 0; k < n; k++)
        if (in[k] < 0) return -1;
    int id = add_node(g, SSD_NODE_CONCAT, in, n);
    if (id >= 0) g->nodes[id].axis = axis;
    return id;
}

int ssd_graph_scale(ssd_graph *g, int x, int gate) {
    int in[2] = {x, gate};
    if (x < 0 || gate < 0) return -1;
    return add_node(g, SSD_NODE_SCALE, in, 2);
}

int ssd_graph_head(ssd_graph *g, int in, int k) {
    if (in < 0) return -1;
    int id = add_node(g, SSD_NODE_HEAD, &in, 1);
    if (id >= 0) g->nodes[id].k = k;
    return id;
}

void ssd_graph_bind_output(ssd_graph *g, int id, ssd_tensor *t) {
    g->nodes[id].y = t;
    g->nodes[id].bound = true;
    invalidate(g);
}

/* ---- shapes -------------------------------------------------------------------------- */

ssd_status ssd_graph_infer_shapes(ssd_graph *g, const int64_t in_shape[4]) {
    SSD_TRY(g->err);
    for (int i = 0; i < g->n; i++) {
        ssd_node *nd = &g->nodes[i];
        const ssd_node *a = nd->nin ? &g->nodes[nd->in[0]] : NULL;
        switch (nd->kind) {
        case SSD_NODE_INPUT:
            nd->ndim = 4;
            memcpy(nd->shape, in_shape, sizeof nd->shape);
            break;
        case SSD_NODE_LAYER:
            if (a->ndim != 4)
                return ssd_error_set(SSD_E_INVAL, "graph: layer %s reads a %d-d value",
                                     nd->layer->name, a->ndim);
            nd->ndim = 4;
            ssd_layer_out_shape(nd->layer, a->shape, nd->shape);
            break;
        case SSD_NODE_ADD:
        case SSD_NODE_SCALE:
            nd->ndim = a->ndim;
            memcpy(nd->shape, a->shape, sizeof nd->shape);
            break;
        case SSD_NODE_CONCAT: {
            nd->ndim = a->ndim;
            memcpy(nd->shape, a->shape, sizeof nd->shape);
            int ax = nd->axis < 0 ? nd->axis + a->ndim : nd->axis;
            if (ax < 0 || ax >= a->ndim) return ssd_error_set(SSD_E_INVAL, "graph: concat axis");
            for (int k = 1; k < nd->nin; k++) nd->shape[ax] += g->nodes[nd->in[k]].shape[ax];
            break;
        }
        case SSD_NODE_HEAD:
            nd->ndim = 3;
            nd->shape[0] = a->shape[0];
            nd->shape[1] = a->shape[2] * a->shape[3] * (a->shape[1] / nd->k);
            nd->shape[2] = nd->k;
            nd->shape[3] = 0;
            break;
        }
    }
    return SSD_OK;
}

/* Bytes a backend may need for node i's output: 4-d values may be kept with
 * channels in blocks of 16 (the cpu backend's nChw16c), so C is rounded up. */
static size_t node_bytes(const ssd_graph *g, int i, ssd_dtype dt) {
    const ssd_node *nd = &g->nodes[i];
    size_t b = ssd_dtype_size(dt);
    for (int d = 0; d < nd->ndim; d++)
        b *= (size_t)(nd->ndim == 4 && d == 1 ? (nd->shape[d] + 15) / 16 * 16 : nd->shape[d]);
    return b;
}

/* ---- what backward reads ----------------------------------------------------------- */

static bool trains(const ssd_node *nd) {
    if (nd->kind != SSD_NODE_LAYER || nd->layer->frozen) return false;
    ssd_layer_kind k = nd->layer->kind;
    return k == SSD_L_CONV || k == SSD_L_BN || k == SSD_L_L2NORM;
}

static void compute_up(ssd_graph *g) {
    ssd_graph_plan *p = g->plan;
    for (int i = 0; i < g->n; i++) {
        ssd_node *nd = &g->nodes[i];
        bool u = trains(nd);
        for (int k = 0; k < nd->nin; k++) u = u || p->up[nd->in[k]];
        p->up[i] = u;
        if (nd->layer) nd->layer->need_dx = nd->nin && p->up[nd->in[0]];
    }
    p->up_valid = true;
}

/* Does node j's backward read the value of its input k? (ReLU-family backward
 * reads only the output; the sum passes the gradient through.) */
static bool reads_input(const ssd_node *nd) {
    switch (nd->kind) {
    case SSD_NODE_LAYER:
        return nd->layer->kind != SSD_L_ACT || nd->layer->u.act.kind == SSD_ACT_HARDSWISH ||
               nd->layer->u.act.kind == SSD_ACT_HARDSIGMOID;
    case SSD_NODE_ADD:
    case SSD_NODE_INPUT:
        return false;
    default:
        return true;
    }
}

/* Does node j's backward read its own output (activation masks)? */
static bool reads_output(const ssd_node *nd) {
    if (nd->kind != SSD_NODE_LAYER) return false;
    const ssd_layer *l = nd->layer;
    return l->kind == SSD_L_BN || l->kind == SSD_L_ACT ||
           (l->kind == SSD_L_CONV && l->u.conv.p.act != SSD_ACT_NONE);
}

/* ---- handles -------------------------------------------------------------------------- */

static ssd_tensor *tens(run *r, int h) {
    if (h <= EXT0) {
        int i = EXT0 - h, n = r->g->n;
        if (i >= n) return (ssd_tensor *)r->p->grads[i - n];
        if (r->g->nodes[i].kind == SSD_NODE_INPUT) return (ssd_tensor *)r->p->x;
        return r->g->nodes[i].y;
    }
    return &r->p->bufs[h];
}

static ssd_status new_buf(run *r, size_t bytes, int *h) {
    ssd_graph_plan *p = r->p;
    if (r->sim) {
        if (p->nvb == p->capvb) {
            int cap = p->capvb ? p->capvb * 2 : 256;
            vbuf *v = ssd_realloc(p->vb, (size_t)cap * sizeof *v);
            if (!v) return SSD_E_NOMEM;
            p->vb = v;
            p->capvb = cap;
        }
        p->vb[p->nvb] = (vbuf){bytes, r->t, r->t, 0};
        *h = p->nvb++;
        return SSD_OK;
    }
    if (r->next >= p->nvb)
        return ssd_error_set(SSD_E_INVAL, "graph: execution asked for more buffers than planned");
    *h = r->next++;
    return SSD_OK;
}

static void use(run *r, int h) {
    if (r->sim && h >= 0 && r->p->vb[h].last < r->t) r->p->vb[h].last = r->t;
}

/* ---- forward -------------------------------------------------------------------------- */

static ssd_status layer_fwd(run *r, int i, int out, bool training, bool use_saved) {
    ssd_node *nd = &r->g->nodes[i];
    ssd_layer *l = nd->layer;
    l->y = tens(r, out);
    if (l->kind == SSD_L_BN) l->u.bn.p.use_saved = use_saved;
    ssd_status st = ssd_layer_forward(l, tens(r, r->p->cur[nd->in[0]]), training);
    if (l->kind == SSD_L_BN) l->u.bn.p.use_saved = false;
    return st;
}

static ssd_status node_fwd(run *r, int i, bool training) {
    ssd_graph *g = r->g;
    ssd_graph_plan *p = r->p;
    ssd_node *nd = &g->nodes[i];
    const ssd_backend_ops *ops = g->be->ops;
    for (int k = 0; k < nd->nin; k++) use(r, p->cur[nd->in[k]]);
    int out;
    if (nd->bound || nd->kind == SSD_NODE_INPUT)
        out = EXT0 - i;
    else
        SSD_TRY(new_buf(r, node_bytes(g, i, p->dtype), &out));
    p->cur[i] = out;
    if (r->sim) return SSD_OK;
    ssd_tensor *y = tens(r, out);
    switch (nd->kind) {
    case SSD_NODE_INPUT:
        return SSD_OK;
    case SSD_NODE_LAYER:
        return layer_fwd(r, i, out, training, false);
    case SSD_NODE_ADD:
        SSD_TRY(ops->add(g->be, y, tens(r, p->cur[nd->in[0]]), tens(r, p->cur[nd->in[1]])));
        break;
    case SSD_NODE_CONCAT: {
        const ssd_tensor *xs[SSD_GRAPH_MAX_IN];
        for (int k = 0; k < nd->nin; k++) xs[k] = tens(r, p->cur[nd->in[k]]);
        SSD_TRY(ops->concat_fwd(g->be, y, xs, nd->nin, nd->axis));
        break;
    }
    case SSD_NODE_SCALE:
        if (!ops->scale_fwd)
            return ssd_error_set(SSD_E_UNSUPPORTED, "backend %s has no channel scale", ops->name);
        SSD_TRY(ops->scale_fwd(g->be, y, tens(r, p->cur[nd->in[0]]), tens(r, p->cur[nd->in[1]])));
        break;
    case SSD_NODE_HEAD: {
        ssd_head_params hp = {.k = nd->k};
        SSD_TRY(ops->head_permute_fwd(g->be, y, tens(r, p->cur[nd->in[0]]), &hp));
        break;
    }
    }
    y->version++;
    return SSD_OK;
}

/* ---- backward ------------------------------------------------------------------------- */

/* Adds gradient handle h to what node pi has received. */
static ssd_status contribute(run *r, int pi, int h) {
    ssd_graph_plan *p = r->p;
    if (!p->up[pi]) return SSD_OK;
    use(r, h);
    if (p->gacc[pi] == NOGRAD) {
        p->gacc[pi] = h;
        return SSD_OK;
    }
    const ssd_backend_ops *ops = r->g->be->ops;
    if (p->gsum[pi]) {
        use(r, p->gacc[pi]);
        if (!r->sim) {
            ssd_tensor *s = tens(r, p->gacc[pi]);
            SSD_TRY(ops->add(r->g->be, s, s, tens(r, h)));
            s->version++;
        }
        return SSD_OK;
    }
    int s;
    SSD_TRY(new_buf(r, node_bytes(r->g, pi, p->dtype), &s));
    use(r, p->gacc[pi]);
    if (!r->sim) {
        SSD_TRY(ops->add(r->g->be, tens(r, s), tens(r, p->gacc[pi]), tens(r, h)));
        tens(r, s)->version++;
    }
    p->gacc[pi] = s;
    p->gsum[pi] = true;
    return SSD_OK;
}

/* Brings a recomputed batch-norm output back before backward reads it. */
static ssd_status materialise(run *r, int i) {
    ssd_graph_plan *p = r->p;
    if (!p->recomp[i] || p->have[i]) return SSD_OK;
    int h;
    SSD_TRY(new_buf(r, node_bytes(r->g, i, p->dtype), &h));
    use(r, p->cur[r->g->nodes[i].in[0]]);
    p->cur[i] = h;
    p->have[i] = true;
    if (r->sim) return SSD_OK;
    return layer_fwd(r, i, h, true, true);
}

static ssd_status layer_bwd(run *r, int j, int gh) {
    ssd_graph *g = r->g;
    ssd_graph_plan *p = r->p;
    ssd_node *nd = &g->nodes[j];
    ssd_layer *l = nd->layer;
    int in = nd->in[0];
    int dxh = NOGRAD, tmp = NOGRAD;
    bool writes_dx = l->need_dx || (l->kind == SSD_L_BN || l->kind == SSD_L_L2NORM);
    if (writes_dx) SSD_TRY(new_buf(r, node_bytes(g, in, p->dtype), &dxh));
    if (l->kind == SSD_L_CONV && l->u.conv.p.act != SSD_ACT_NONE)
        SSD_TRY(new_buf(r, node_bytes(g, j, p->dtype), &tmp));
    if (!r->sim) {
        l->x = tens(r, p->cur[in]);
        l->y = tens(r, p->cur[j]);
        if (dxh != NOGRAD) l->dx = tens(r, dxh);
        if (tmp != NOGRAD) l->u.conv.dpre = tens(r, tmp);
        SSD_TRY(ssd_layer_backward(l, tens(r, gh), true));
    }
    if (l->need_dx) SSD_TRY(contribute(r, in, dxh));
    return SSD_OK;
}

static ssd_status node_bwd(run *r, int j) {
    ssd_graph *g = r->g;
    ssd_graph_plan *p = r->p;
    ssd_node *nd = &g->nodes[j];
    const ssd_backend_ops *ops = g->be->ops;
    int gh = p->gacc[j];
    if (!p->up[j] || gh == NOGRAD || nd->kind == SSD_NODE_INPUT) return SSD_OK;
    use(r, gh);
    if (reads_input(nd))
        for (int k = 0; k < nd->nin; k++) {
            SSD_TRY(materialise(r, nd->in[k]));
            use(r, p->cur[nd->in[k]]);
        }
    if (reads_output(nd)) {
        SSD_TRY(materialise(r, j));
        use(r, p->cur[j]);
    }
    switch (nd->kind) {
    case SSD_NODE_INPUT:
        return SSD_OK;
    case SSD_NODE_LAYER:
        return layer_bwd(r, j, gh);
    case SSD_NODE_ADD:
        for (int k = 0; k < nd->nin; k++) SSD_TRY(contribute(r, nd->in[k], gh));
        return SSD_OK;
    case SSD_NODE_CONCAT: {
        int hs[SSD_GRAPH_MAX_IN];
        ssd_tensor *dxs[SSD_GRAPH_MAX_IN];
        const ssd_tensor *xs[SSD_GRAPH_MAX_IN];
        for (int k = 0; k < nd->nin; k++)
            SSD_TRY(new_buf(r, node_bytes(g, nd->in[k], p->dtype), &hs[k]));
        if (!r->sim) {
            for (int k = 0; k < nd->nin; k++) {
                dxs[k] = tens(r, hs[k]);
                xs[k] = tens(r, p->cur[nd->in[k]]);
            }
            SSD_TRY(ops->concat_bwd(g->be, dxs, tens(r, gh), xs, nd->nin, nd->axis));
            for (int k = 0; k < nd->nin; k++) dxs[k]->version++;
        }
        for (int k = 0; k < nd->nin; k++) SSD_TRY(contribute(r, nd->in[k], hs[k]));
        return SSD_OK;
    }
    case SSD_NODE_SCALE: {
        int hx, hs;
        SSD_TRY(new_buf(r, node_bytes(g, nd->in[0], p->dtype), &hx));
        SSD_TRY(new_buf(r, node_bytes(g, nd->in[1], p->dtype), &hs));
        if (!r->sim) {
            if (!ops->scale_bwd)
                return ssd_error_set(SSD_E_UNSUPPORTED, "backend %s has no channel scale",
                                     ops->name);
            SSD_TRY(ops->scale_bwd(g->be, tens(r, hx), tens(r, hs), tens(r, gh),
                                   tens(r, p->cur[nd->in[0]]), tens(r, p->cur[nd->in[1]])));
            tens(r, hx)->version++;
            tens(r, hs)->version++;
        }
        SSD_TRY(contribute(r, nd->in[0], hx));
        return contribute(r, nd->in[1], hs);
    }
    case SSD_NODE_HEAD: {
        int hx;
        SSD_TRY(new_buf(r, node_bytes(g, nd->in[0], p->dtype), &hx));
        if (!r->sim) {
            ssd_head_params hp = {.k = nd->k};
            SSD_TRY(ops->head_permute_bwd(g->be, tens(r, hx), tens(r, gh),
                                          tens(r, p->cur[nd->in[0]]), &hp));
            tens(r, hx)->version++;
        }
        return contribute(r, nd->in[0], hx);
    }
    }
    return SSD_OK;
}

/* ---- planning --------------------------------------------------------------------------- */

static ssd_status plan_arrays(ssd_graph *g) {
    if (!g->plan) {
        g->plan = ssd_calloc(1, sizeof *g->plan);
        if (!g->plan) return SSD_E_NOMEM;
    }
    ssd_graph_plan *p = g->plan;
    if (p->cur && p->n_nodes != g->n) {
        ssd_free(p->cur);
        ssd_free(p->gacc);
        ssd_free(p->gsum);
        ssd_free(p->recomp);
        ssd_free(p->have);
        ssd_free(p->up);
        p->cur = p->gacc = NULL;
        p->gsum = p->recomp = p->have = p->up = NULL;
        p->up_valid = false;
    }
    if (!p->cur) {
        p->n_nodes = g->n;
        size_t n = (size_t)g->n;
        p->cur = ssd_malloc(n * sizeof *p->cur);
        p->gacc = ssd_malloc(n * sizeof *p->gacc);
        p->gsum = ssd_malloc(n * sizeof *p->gsum);
        p->recomp = ssd_malloc(n * sizeof *p->recomp);
        p->have = ssd_malloc(n * sizeof *p->have);
        p->up = ssd_calloc(n, sizeof *p->up);
        if (!p->cur || !p->gacc || !p->gsum || !p->recomp || !p->have || !p->up) return SSD_E_NOMEM;
    }
    if (!p->up_valid) compute_up(g);
    return SSD_OK;
}

/* Which batch-norm outputs backward recomputes instead of keeping: those read
 * in backward whose input is itself kept (not another recomputed value). */
static void choose_recompute(ssd_graph *g, bool training) {
    ssd_graph_plan *p = g->plan;
    for (int i = 0; i < g->n; i++) p->recomp[i] = false;
    if (!training || !g->recompute_bn) return;
    for (int i = 0; i < g->n; i++) {
        ssd_node *nd = &g->nodes[i];
        if (nd->kind != SSD_NODE_LAYER || nd->layer->kind != SSD_L_BN || nd->bound) continue;
        ssd_bn_params bp = nd->layer->u.bn.p;
        bp.use_saved = true;
        if (!g->be->ops->supports(g->be, SSD_OP_BATCHNORM, p->dtype, &bp)) continue;
        if (!p->up[i]) continue; /* no backward reaches it: nothing to keep */
        if (p->recomp[nd->in[0]]) continue;
        p->recomp[i] = true;
    }
}

static void reset_run_state(ssd_graph *g) {
    ssd_graph_plan *p = g->plan;
    for (int i = 0; i < g->n; i++) {
        p->cur[i] = NOGRAD;
        p->gacc[i] = NOGRAD;
        p->gsum[i] = false;
        p->have[i] = false;
    }
}

#define ARENA_ALIGN 256

static int cmp_size(const void *a, const void *b) {
    const vbuf *x = *(const vbuf *const *)a, *y = *(const vbuf *const *)b;
    if (x->bytes != y->bytes) return x->bytes > y->bytes ? -1 : 1;
    if (x->def != y->def) return x->def < y->def ? -1 : 1;
    return x < y ? -1 : x > y;
}

static int cmp_off(const void *a, const void *b) {
    const vbuf *x = *(const vbuf *const *)a, *y = *(const vbuf *const *)b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Offsets in one arena, greedy by size: the largest buffers first, each in
 * the smallest gap among the placed buffers whose lifetimes overlap its own
 * (or after them). Returns the arena size. */
static ssd_status assign_offsets(ssd_graph_plan *p, size_t *total) {
    size_t n = (size_t)(p->nvb ? p->nvb : 1);
    vbuf **order = ssd_malloc(n * sizeof *order), **live = ssd_malloc(n * sizeof *live);
    if (!order || !live) {
        ssd_free(order);
        ssd_free(live);
        return SSD_E_NOMEM;
    }
    for (int i = 0; i < p->nvb; i++) order[i] = &p->vb[i];
    qsort(order, (size_t)p->nvb, sizeof *order, cmp_size);
    size_t end = 0;
    for (int i = 0; i < p->nvb; i++) {
        vbuf *v = order[i];
        size_t need = (v->bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
        int nl = 0;
        for (int j = 0; j < i; j++)
            if (!(order[j]->last < v->def || v->last < order[j]->def)) live[nl++] = order[j];
        qsort(live, (size_t)nl, sizeof *live, cmp_off);
        size_t at = 0, best = SIZE_MAX, best_gap = SIZE_MAX;
        for (int j = 0; j < nl; j++) {
            if (live[j]->off >= at) {
                size_t gap = live[j]->off - at;
                if (gap >= need && gap < best_gap) {
                    best = at;
                    best_gap = gap;
                }
            }
            size_t e =
                live[j]->off + (live[j]->bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
            if (e > at) at = e;
        }
        v->off = best != SIZE_MAX ? best : at;
        if (v->off + need > end) end = v->off + need;
    }
    ssd_free(order);
    ssd_free(live);
    *total = end;
    return SSD_OK;
}

/* Points one view per handle into the arena (growing it when the plan needs more). */
static ssd_status bind_views(ssd_graph *g, size_t total) {
    ssd_graph_plan *p = g->plan;
    for (int i = 0; i < p->nbufs; i++) ssd_tensor_deinit(&p->bufs[i]);
    if (p->nvb > p->nbufs) {
        ssd_tensor *b = ssd_realloc(p->bufs, (size_t)p->nvb * sizeof *b);
        if (!b) return SSD_E_NOMEM;
        p->bufs = b;
    }
    p->nbufs = p->nvb;
    if (p->arena.cap < total) {
        ssd_tensor_deinit(&p->arena);
        int64_t shape[1] = {(int64_t)total};
        ssd_tensor_init(&p->arena, g->be, SSD_U8, 1, shape);
        SSD_TRY(ssd_tensor_alloc(&p->arena));
    }
    for (int i = 0; i < p->nvb; i++) {
        ssd_tensor *t = &p->bufs[i];
        int64_t shape[1] = {(int64_t)(p->vb[i].bytes / ssd_dtype_size(p->dtype))};
        ssd_tensor_init(t, g->be, p->dtype, 1, shape);
        t->data = (char *)p->arena.data + p->vb[i].off;
        t->cap = p->vb[i].bytes;
        t->view = true;
    }
    return SSD_OK;
}

static ssd_status forward_pass(run *r, bool training) {
    for (int i = 0; i < r->g->n; i++) {
        r->t = i;
        SSD_TRY(node_fwd(r, i, training));
    }
    return SSD_OK;
}

/* Gradient sources are the bound outputs, in node order. */
static void seed_grads(ssd_graph *g) {
    ssd_graph_plan *p = g->plan;
    int k = 0;
    for (int i = 0; i < g->n; i++) {
        p->gacc[i] = NOGRAD;
        p->gsum[i] = false;
    }
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].bound) p->gacc[i] = EXT0 - (g->n + k++);
}

static ssd_status backward_pass(run *r) {
    for (int j = r->g->n - 1; j >= 0; j--) {
        r->t = r->g->n + (r->g->n - 1 - j);
        SSD_TRY(node_bwd(r, j));
    }
    return SSD_OK;
}

/* The same passes as execution, recording buffer lifetimes. */
static ssd_status make_plan(ssd_graph *g, const ssd_tensor *x, bool training) {
    SSD_TRY(plan_arrays(g));
    ssd_graph_plan *p = g->plan;
    SSD_TRY(ssd_graph_infer_shapes(g, x->shape));
    p->nvb = 0;
    p->dtype = x->dtype;
    p->training = training;
    memcpy(p->in_shape, x->shape, sizeof p->in_shape);
    choose_recompute(g, training);
    run r = {.g = g, .p = p, .sim = true};
    reset_run_state(g);
    SSD_TRY(forward_pass(&r, training));
    p->nfwd = p->nvb;
    p->keep_all = g->keep_all;
    if (g->keep_all)
        for (int i = 0; i < p->nvb; i++) p->vb[i].last = 2 * g->n;
    if (training) {
        seed_grads(g);
        SSD_TRY(backward_pass(&r));
    }
    size_t total;
    SSD_TRY(assign_offsets(p, &total));
    SSD_TRY(bind_views(g, total));
    p->valid = true;
    return SSD_OK;
}

/* ---- running --------------------------------------------------------------------------- */

static bool plan_matches(const ssd_graph *g, const ssd_tensor *x, bool training) {
    const ssd_graph_plan *p = g->plan;
    if (!p || !p->valid || !p->up_valid || p->training != training || p->dtype != x->dtype ||
        p->keep_all != g->keep_all)
        return false;
    return memcmp(p->in_shape, x->shape, sizeof p->in_shape) == 0;
}

ssd_status ssd_graph_forward(ssd_graph *g, const ssd_tensor *x, bool training) {
    SSD_TRY(g->err);
    if (x->ndim != 4) return ssd_error_set(SSD_E_INVAL, "graph: input must be (N,C,H,W)");
    if (!plan_matches(g, x, training)) SSD_TRY(make_plan(g, x, training));
    ssd_graph_plan *p = g->plan;
    p->x = x;
    p->backward_ready = false;
    run r = {.g = g, .p = p, .sim = false};
    reset_run_state(g);
    SSD_TRY(forward_pass(&r, training));
    if (r.next != p->nfwd)
        return ssd_error_set(SSD_E_INVAL, "graph: forward used %d buffers, planned %d", r.next,
                             p->nfwd);
    for (int i = 0; i < g->n; i++) {
        ssd_node *nd = &g->nodes[i];
        if (!nd->bound && nd->kind != SSD_NODE_INPUT) nd->y = tens(&r, p->cur[i]);
    }
    p->exec_next = r.next;
    p->backward_ready = training;
    return SSD_OK;
}

ssd_status ssd_graph_backward(ssd_graph *g, const int *outs, const ssd_tensor *const *grads,
                              int n) {
    ssd_graph_plan *p = g->plan;
    if (!p || !p->backward_ready)
        return ssd_error_set(SSD_E_INVAL, "graph: backward needs a training-mode forward first");
    /* the plan takes the bound outputs, in node order, as the gradient sources */
    const ssd_tensor *ordered[16];
    int k = 0;
    for (int i = 0; i < g->n; i++) {
        if (!g->nodes[i].bound) continue;
        if (k == 16) return ssd_error_set(SSD_E_INVAL, "graph: too many outputs");
        ordered[k] = NULL;
        for (int o = 0; o < n; o++)
            if (outs[o] == i) ordered[k] = grads[o];
        if (!ordered[k])
            return ssd_error_set(SSD_E_INVAL, "graph: no gradient given for output node %d", i);
        k++;
    }
    if (k != n) return ssd_error_set(SSD_E_INVAL, "graph: gradients for unbound nodes");
    p->grads = ordered;
    run r = {.g = g, .p = p, .sim = false, .next = p->exec_next};
    seed_grads(g);
    ssd_status st = backward_pass(&r);
    p->grads = NULL;
    p->backward_ready = false;
    SSD_TRY(st);
    if (r.next != p->nvb)
        return ssd_error_set(SSD_E_INVAL, "graph: backward used %d buffers, planned %d", r.next,
                             p->nvb);
    return SSD_OK;
}

const ssd_tensor *ssd_graph_output(const ssd_graph *g, int id) {
    return g->nodes[id].y;
}

void ssd_graph_set_frozen(ssd_graph *g, const bool frozen[SSD_SEC__COUNT]) {
    for (int i = 0; i < g->n; i++) {
        ssd_node *nd = &g->nodes[i];
        if (nd->layer) nd->layer->frozen = frozen[nd->section];
    }
    invalidate(g);
}

typedef struct {
    ssd_section section;
    double rank;
    int id;
} order_key;

static int cmp_key(const void *a, const void *b) {
    const order_key *x = a, *y = b;
    if (x->section != y->section) return x->section < y->section ? -1 : 1;
    if (x->rank != y->rank) return x->rank < y->rank ? -1 : 1;
    return x->id - y->id;
}

ssd_status ssd_graph_layer_order(const ssd_graph *g, int **ids, int *n) {
    *ids = NULL;
    *n = 0;
    SSD_TRY(g->err);
    order_key *k = ssd_malloc((size_t)(g->n ? g->n : 1) * sizeof *k);
    int *out = ssd_malloc((size_t)(g->n ? g->n : 1) * sizeof *out);
    if (!k || !out) {
        ssd_free(k);
        ssd_free(out);
        return SSD_E_NOMEM;
    }
    int m = 0;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].layer) k[m++] = (order_key){g->nodes[i].section, g->nodes[i].rank, i};
    qsort(k, (size_t)m, sizeof *k, cmp_key);
    for (int i = 0; i < m; i++) out[i] = k[i].id;
    ssd_free(k);
    *ids = out;
    *n = m;
    return SSD_OK;
}

ssd_status ssd_graph_params(ssd_graph *g, ssd_param_list *list) {
    static const ssd_param_group group[SSD_SEC__COUNT] = {
        SSD_GROUP_BASE, SSD_GROUP_EXTRAS, SSD_GROUP_HEADS, SSD_GROUP_HEADS, SSD_GROUP_EXTRAS};
    int *idx, m;
    SSD_TRY(ssd_graph_layer_order(g, &idx, &m));
    ssd_status st = SSD_OK;
    for (int k = 0; k < m && st == SSD_OK; k++) {
        ssd_node *nd = &g->nodes[idx[k]];
        st = ssd_layer_params(nd->layer, list, group[nd->section]);
    }
    ssd_free(idx);
    return st;
}

size_t ssd_graph_planned_bytes(const ssd_graph *g) {
    size_t b = 0;
    if (!g->plan) return 0;
    b = g->plan->arena.cap;
    return b;
}
