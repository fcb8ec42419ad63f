/* SSD model -> ONNX ModelProto, laid out as torch.onnx.export writes the
 * reference's is_test graph (Conv, BatchNormalization, Relu, Transpose +
 * Reshape per head, Concat, Softmax, box decode). Every protobuf object and
 * string lives in one arena freed after packing. */
#include "formats/onnx.h"

#include "core/arena.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "onnx.pb-c.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MAX_NODES 1024
#define MAX_INITS 1024

typedef struct {
    ssd_arena ar;
    const ssd_model *m;
    int opset;
    Onnx__NodeProto *nodes[MAX_NODES];
    size_t nnode;
    Onnx__TensorProto *inits[MAX_INITS];
    size_t ninit;
    ssd_status st; /* first failure; later calls are no-ops */
} builder;

static void *balloc(builder *b, size_t n) {
    if (b->st != SSD_OK) return NULL;
    void *p = ssd_arena_alloc(&b->ar, n ? n : 1);
    if (!p) {
        b->st = SSD_E_NOMEM;
        return NULL;
    }
    memset(p, 0, n ? n : 1);
    return p;
}

static char *bstrf(builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *bstrf(builder *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    char *s = balloc(b, strlen(tmp) + 1);
    if (s) memcpy(s, tmp, strlen(tmp) + 1);
    return s;
}

static void fail(builder *b, ssd_status st, const char *msg) {
    if (b->st == SSD_OK) b->st = ssd_error_set(st, "onnx export: %s", msg);
}

/* ---- initializers ---------------------------------------------------------- */

static Onnx__TensorProto *new_init(builder *b, const char *name, int32_t dt, int ndim,
                                   const int64_t *shape, size_t nbytes) {
    if (b->ninit >= MAX_INITS) {
        fail(b, SSD_E_UNSUPPORTED, "too many initializers");
        return NULL;
    }
    Onnx__TensorProto *t = balloc(b, sizeof *t);
    int64_t *dims = balloc(b, sizeof(int64_t) * (size_t)(ndim ? ndim : 1));
    uint8_t *raw = balloc(b, nbytes);
    char *nm = bstrf(b, "%s", name);
    if (!t || !dims || !raw || !nm) return NULL;
    onnx__tensor_proto__init(t);
    if (ndim) memcpy(dims, shape, sizeof(int64_t) * (size_t)ndim);
    t->n_dims = (size_t)ndim;
    t->dims = dims;
    t->has_data_type = 1;
    t->data_type = dt;
    t->name = nm;
    t->has_raw_data = 1;
    t->raw_data.len = nbytes;
    t->raw_data.data = raw;
    b->inits[b->ninit++] = t;
    return t;
}

/* The wire format is little-endian; so is every target this builds for. */
static const char *init_f32(builder *b, const char *name, int ndim, const int64_t *shape,
                            const float *v) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    Onnx__TensorProto *t =
        new_init(b, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, ndim, shape, n * sizeof(float));
    if (!t) return NULL;
    memcpy(t->raw_data.data, v, n * sizeof(float));
    return t->name;
}

static const char *init_i64(builder *b, const char *name, int n, const int64_t *v) {
    int64_t shape[1] = {n};
    Onnx__TensorProto *t =
        new_init(b, name, ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 1, shape, (size_t)n * 8);
    if (!t) return NULL;
    memcpy(t->raw_data.data, v, (size_t)n * 8);
    return t->name;
}

static const char *init_scalar(builder *b, const char *name, float v) {
    return init_f32(b, name, 0, NULL, &v);
}

/* A backend parameter, copied out as plain float32 under its state_dict name. */
static const char *init_param(builder *b, const ssd_tensor *t, const char *name) {
    if (b->st != SSD_OK) return NULL;
    size_t n = (size_t)ssd_tensor_numel(t);
    float *tmp = ssd_malloc(n * sizeof(float) + 1);
    if (!tmp) {
        b->st = SSD_E_NOMEM;
        return NULL;
    }
    ssd_status st = ssd_tensor_get(t, tmp, SSD_F32);
    const char *r = NULL;
    if (st == SSD_OK)
        r = init_f32(b, name, t->ndim, t->shape, tmp);
    else if (b->st == SSD_OK)
        b->st = st;
    ssd_free(tmp);
    return r;
}

/* ---- nodes ------------------------------------------------------------------ */

static Onnx__AttributeProto *attr_new(builder *b, const char *name, int type) {
    Onnx__AttributeProto *a = balloc(b, sizeof *a);
    char *nm = bstrf(b, "%s", name);
    if (!a || !nm) return NULL;
    onnx__attribute_proto__init(a);
    a->name = nm;
    a->has_type = 1;
    a->type = (Onnx__AttributeProto__AttributeType)type;
    return a;
}

static Onnx__AttributeProto *attr_int(builder *b, const char *name, int64_t v) {
    Onnx__AttributeProto *a = attr_new(b, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (a) {
        a->has_i = 1;
        a->i = v;
    }
    return a;
}

static Onnx__AttributeProto *attr_float(builder *b, const char *name, float v) {
    Onnx__AttributeProto *a = attr_new(b, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (a) {
        a->has_f = 1;
        a->f = v;
    }
    return a;
}

static Onnx__AttributeProto *attr_ints(builder *b, const char *name, int n, const int64_t *v) {
    Onnx__AttributeProto *a = attr_new(b, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int64_t *d = balloc(b, sizeof(int64_t) * (size_t)n);
    if (!a || !d) return NULL;
    memcpy(d, v, sizeof(int64_t) * (size_t)n);
    a->n_ints = (size_t)n;
    a->ints = d;
    return a;
}

/* Adds a node with one output named after it; returns that output's name.
 * attrs is a NULL-free array of na attributes. */
static const char *node(builder *b, const char *op, int nin, const char *const *in,
                        Onnx__AttributeProto **attrs, int na, const char *out_name) {
    if (b->st != SSD_OK) return NULL;
    if (b->nnode >= MAX_NODES) {
        fail(b, SSD_E_UNSUPPORTED, "too many nodes");
        return NULL;
    }
    for (int i = 0; i < nin; i++)
        if (!in[i]) return NULL; /* an earlier step failed */
    for (int i = 0; i < na; i++)
        if (!attrs[i]) return NULL;
    Onnx__NodeProto *n = balloc(b, sizeof *n);
    char **ins = balloc(b, sizeof(char *) * (size_t)(nin ? nin : 1));
    char **outs = balloc(b, sizeof(char *));
    Onnx__AttributeProto **as = balloc(b, sizeof *as * (size_t)(na ? na : 1));
    char *name = bstrf(b, "%s_%zu", op, b->nnode);
    char *opn = bstrf(b, "%s", op);
    char *o = out_name ? bstrf(b, "%s", out_name) : bstrf(b, "%s_%zu_out", op, b->nnode);
    if (!n || !ins || !outs || !as || !name || !opn || !o) return NULL;
    onnx__node_proto__init(n);
    for (int i = 0; i < nin; i++) ins[i] = (char *)in[i];
    for (int i = 0; i < na; i++) as[i] = attrs[i];
    outs[0] = o;
    n->n_input = (size_t)nin;
    n->input = ins;
    n->n_output = 1;
    n->output = outs;
    n->name = name;
    n->op_type = opn;
    n->n_attribute = (size_t)na;
    n->attribute = as;
    b->nodes[b->nnode++] = n;
    return o;
}

/* PyTorch's Hardsigmoid: relu6(x + 3) / 6, ONNX HardSigmoid with alpha 1/6, beta 1/2. */
static const char *hardsigmoid_node(builder *b, const char *x) {
    Onnx__AttributeProto *as[2] = {attr_float(b, "alpha", 1.0f / 6.0f),
                                   attr_float(b, "beta", 0.5f)};
    return node(b, "HardSigmoid", 1, &x, as, 2, NULL);
}

static const char *act_node(builder *b, const char *x, ssd_act act, const char *prefix) {
    if (act == SSD_ACT_NONE) return x;
    if (act == SSD_ACT_RELU) return node(b, "Relu", 1, &x, NULL, 0, NULL);
    if (act == SSD_ACT_HARDSIGMOID) return hardsigmoid_node(b, x);
    if (act == SSD_ACT_HARDSWISH) {
        if (b->opset >= 14) return node(b, "HardSwish", 1, &x, NULL, 0, NULL);
        const char *in[2] = {x, hardsigmoid_node(b, x)};
        return node(b, "Mul", 2, in, NULL, 0, NULL);
    }
    /* ReLU6 as PyTorch writes it from opset 11 on: Clip with min/max inputs. */
    char n0[160], n1[160];
    snprintf(n0, sizeof n0, "%s.clip_min", prefix);
    snprintf(n1, sizeof n1, "%s.clip_max", prefix);
    const char *in[3] = {x, init_scalar(b, n0, 0.0f), init_scalar(b, n1, 6.0f)};
    return node(b, "Clip", 3, in, NULL, 0, NULL);
}

static const char *conv_node(builder *b, const ssd_layer *l, const char *x) {
    const ssd_conv_layer *c = &l->u.conv;
    char wn[160], bn[160];
    snprintf(wn, sizeof wn, "%s.weight", l->name);
    snprintf(bn, sizeof bn, "%s.bias", l->name);
    const char *in[3] = {x, init_param(b, &c->w, wn), c->has_bias ? init_param(b, &c->b, bn) : ""};
    int64_t dil[2] = {c->p.dilation[0], c->p.dilation[1]};
    int64_t ks[2] = {c->w.shape[2], c->w.shape[3]};
    int64_t pads[4] = {c->p.pad[0], c->p.pad[1], c->p.pad[0], c->p.pad[1]};
    int64_t strides[2] = {c->p.stride[0], c->p.stride[1]};
    Onnx__AttributeProto *as[5] = {
        attr_ints(b, "dilations", 2, dil), attr_int(b, "group", c->p.groups),
        attr_ints(b, "kernel_shape", 2, ks), attr_ints(b, "pads", 4, pads),
        attr_ints(b, "strides", 2, strides)};
    const char *y = node(b, "Conv", c->has_bias ? 3 : 2, in, as, 5, NULL);
    return act_node(b, y, c->p.act, l->name);
}

static const char *layer_nodes(builder *b, const ssd_layer *l, const char *x) {
    switch (l->kind) {
    case SSD_L_CONV:
        return conv_node(b, l, x);
    case SSD_L_BN: {
        const ssd_bn_layer *bn = &l->u.bn;
        char n[4][160];
        const char *suffix[4] = {"weight", "bias", "running_mean", "running_var"};
        const ssd_tensor *ts[4] = {&bn->gamma, &bn->beta, &bn->running_mean, &bn->running_var};
        const char *in[5] = {x};
        for (int i = 0; i < 4; i++) {
            snprintf(n[i], sizeof n[i], "%s.%s", l->name, suffix[i]);
            in[i + 1] = init_param(b, ts[i], n[i]);
        }
        /* ONNX momentum weighs the running value: 1 - PyTorch's momentum. */
        Onnx__AttributeProto *as[2] = {attr_float(b, "epsilon", (float)bn->p.eps),
                                       attr_float(b, "momentum", (float)(1.0 - bn->p.momentum))};
        const char *y = node(b, "BatchNormalization", 5, in, as, 2, NULL);
        return act_node(b, y, bn->p.act, l->name);
    }
    case SSD_L_ACT:
        return act_node(b, x, l->u.act.kind, l->name);
    case SSD_L_MAXPOOL: {
        const ssd_pool_params *p = &l->u.pool.p;
        int64_t ks[2] = {p->kernel[0], p->kernel[1]};
        int64_t pads[4] = {p->pad[0], p->pad[1], p->pad[0], p->pad[1]};
        int64_t strides[2] = {p->stride[0], p->stride[1]};
        Onnx__AttributeProto *as[4] = {
            attr_int(b, "ceil_mode", p->ceil_mode), attr_ints(b, "kernel_shape", 2, ks),
            attr_ints(b, "pads", 4, pads), attr_ints(b, "strides", 2, strides)};
        return node(b, "MaxPool", 1, &x, as, 4, NULL);
    }
    case SSD_L_L2NORM:
        fail(b, SSD_E_UNSUPPORTED, "L2Norm layers are not exported yet");
        return NULL;
    case SSD_L_GAP:
        return node(b, "GlobalAveragePool", 1, &x, NULL, 0, NULL);
    }
    return NULL;
}

/* x.permute(0,2,3,1).contiguous().view(N, -1, k) */
static const char *head_nodes(builder *b, const char *x, int k, const char *prefix) {
    int64_t perm[4] = {0, 2, 3, 1};
    Onnx__AttributeProto *as[1] = {attr_ints(b, "perm", 4, perm)};
    const char *t = node(b, "Transpose", 1, &x, as, 1, NULL);
    /* 0 copies the batch dimension, so the same node serves a dynamic batch. */
    int64_t shape[3] = {0, -1, k};
    char sn[160];
    snprintf(sn, sizeof sn, "%s.view_shape", prefix);
    const char *in[2] = {t, init_i64(b, sn, 3, shape)};
    return node(b, "Reshape", 2, in, NULL, 0, NULL);
}

static const char *slice_last(builder *b, const char *x, int64_t start, int64_t end,
                              const char *tag) {
    char n0[64], n1[64], n2[64];
    snprintf(n0, sizeof n0, "decode.%s_starts", tag);
    snprintf(n1, sizeof n1, "decode.%s_ends", tag);
    snprintf(n2, sizeof n2, "decode.%s_axes", tag);
    int64_t axes = 2;
    const char *in[4] = {x, init_i64(b, n0, 1, &start), init_i64(b, n1, 1, &end),
                         init_i64(b, n2, 1, &axes)};
    return node(b, "Slice", 4, in, NULL, 0, NULL);
}

/* convert_locations_to_boxes + center_form_to_corner_form, in PyTorch's operation order. */
static const char *decode_nodes(builder *b, const char *loc) {
    const ssd_model *m = b->m;
    int64_t K = m->num_priors;
    float *pc = ssd_malloc((size_t)K * 2 * sizeof(float));
    float *ps = ssd_malloc((size_t)K * 2 * sizeof(float));
    if (!pc || !ps) {
        ssd_free(pc);
        ssd_free(ps);
        b->st = SSD_E_NOMEM;
        return NULL;
    }
    for (int64_t i = 0; i < K; i++) {
        pc[2 * i] = m->priors[4 * i];
        pc[2 * i + 1] = m->priors[4 * i + 1];
        ps[2 * i] = m->priors[4 * i + 2];
        ps[2 * i + 1] = m->priors[4 * i + 3];
    }
    int64_t shape[3] = {1, K, 2};
    const char *prior_c = init_f32(b, "priors_center", 3, shape, pc);
    const char *prior_s = init_f32(b, "priors_size", 3, shape, ps);
    ssd_free(pc);
    ssd_free(ps);
    const char *l_xy = slice_last(b, loc, 0, 2, "xy");
    const char *l_wh = slice_last(b, loc, 2, 4, "wh");
    const char *a[2] = {l_xy, init_scalar(b, "center_variance", m->center_variance)};
    const char *t = node(b, "Mul", 2, a, NULL, 0, NULL);
    const char *a2[2] = {t, prior_s};
    t = node(b, "Mul", 2, a2, NULL, 0, NULL);
    const char *a3[2] = {t, prior_c};
    const char *center = node(b, "Add", 2, a3, NULL, 0, NULL);
    const char *a4[2] = {l_wh, init_scalar(b, "size_variance", m->size_variance)};
    t = node(b, "Mul", 2, a4, NULL, 0, NULL);
    t = node(b, "Exp", 1, &t, NULL, 0, NULL);
    const char *a5[2] = {t, prior_s};
    const char *size = node(b, "Mul", 2, a5, NULL, 0, NULL);
    const char *a6[2] = {size, init_scalar(b, "two", 2.0f)};
    const char *half = node(b, "Div", 2, a6, NULL, 0, NULL);
    const char *a7[2] = {center, half};
    const char *lo = node(b, "Sub", 2, a7, NULL, 0, NULL);
    const char *hi = node(b, "Add", 2, a7, NULL, 0, NULL);
    const char *a8[2] = {lo, hi};
    Onnx__AttributeProto *as[1] = {attr_int(b, "axis", 2)};
    return node(b, "Concat", 2, a8, as, 1, "boxes");
}

/* One ONNX subgraph per node of the model's graph, in node order. */
static void graph_nodes(builder *b) {
    const ssd_model *m = b->m;
    const ssd_graph *g = &m->g;
    const char **val = ssd_calloc((size_t)g->n, sizeof *val);
    if (!val) {
        b->st = SSD_E_NOMEM;
        return;
    }
    const char *conf = NULL, *loc = NULL;
    for (int i = 0; i < g->n && b->st == SSD_OK; i++) {
        const ssd_node *nd = &g->nodes[i];
        const char *in[SSD_GRAPH_MAX_IN];
        for (int k = 0; k < nd->nin; k++) in[k] = val[nd->in[k]];
        switch (nd->kind) {
        case SSD_NODE_INPUT:
            val[i] = "input_0";
            break;
        case SSD_NODE_LAYER:
            val[i] = layer_nodes(b, nd->layer, in[0]);
            break;
        case SSD_NODE_ADD:
            val[i] = node(b, "Add", 2, in, NULL, 0, NULL);
            break;
        case SSD_NODE_SCALE:
            val[i] = node(b, "Mul", 2, in, NULL, 0, NULL);
            break;
        case SSD_NODE_CONCAT: {
            Onnx__AttributeProto *as[1] = {attr_int(b, "axis", nd->axis)};
            val[i] = node(b, "Concat", nd->nin, in, as, 1, NULL);
            break;
        }
        case SSD_NODE_HEAD: {
            const ssd_node *src = &g->nodes[nd->in[0]];
            char prefix[128];
            if (src->layer)
                snprintf(prefix, sizeof prefix, "%s", src->layer->name);
            else
                snprintf(prefix, sizeof prefix, "node%d", i);
            val[i] = head_nodes(b, in[0], nd->k, prefix);
            break;
        }
        }
        if (i == m->conf_node) conf = val[i];
        if (i == m->loc_node) loc = val[i];
    }
    ssd_free(val);
    if (b->st != SSD_OK) return;
    if (!conf || !loc) {
        fail(b, SSD_E_INVAL, "model graph has no conf/loc outputs");
        return;
    }
    /* Softmax over the last axis reads the same under opset < 13 (2-D coercion at
     * axis 2 of a 3-D tensor) and >= 13 (one axis). */
    Onnx__AttributeProto *a3[1] = {attr_int(b, "axis", 2)};
    node(b, "Softmax", 1, &conf, a3, 1, "scores");
    decode_nodes(b, loc);
}

/* ---- graph inputs / outputs and metadata ------------------------------------------ */

static Onnx__ValueInfoProto *value_info(builder *b, const char *name, bool dyn, int64_t batch,
                                        int ndim, const int64_t *rest) {
    Onnx__ValueInfoProto *v = balloc(b, sizeof *v);
    Onnx__TypeProto *tp = balloc(b, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = balloc(b, sizeof *tt);
    Onnx__TensorShapeProto *sh = balloc(b, sizeof *sh);
    Onnx__TensorShapeProto__Dimension **dims = balloc(b, sizeof *dims * (size_t)ndim);
    char *nm = bstrf(b, "%s", name);
    char *sym = bstrf(b, "batch");
    if (!v || !tp || !tt || !sh || !dims || !nm || !sym) return NULL;
    for (int i = 0; i < ndim; i++) {
        dims[i] = balloc(b, sizeof **dims);
        if (!dims[i]) return NULL;
        onnx__tensor_shape_proto__dimension__init(dims[i]);
        if (i == 0 && dyn) {
            dims[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dims[i]->dim_param = sym;
        } else {
            dims[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dims[i]->dim_value = i == 0 ? batch : rest[i - 1];
        }
    }
    onnx__tensor_shape_proto__init(sh);
    sh->n_dim = (size_t)ndim;
    sh->dim = dims;
    onnx__type_proto__tensor__init(tt);
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = sh;
    onnx__type_proto__init(tp);
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    onnx__value_info_proto__init(v);
    v->name = nm;
    v->type = tp;
    return v;
}

static Onnx__StringStringEntryProto *meta(builder *b, const char *k, const char *v) {
    Onnx__StringStringEntryProto *e = balloc(b, sizeof *e);
    char *ks = bstrf(b, "%s", k);
    char *vs = balloc(b, strlen(v) + 1);
    if (!e || !ks || !vs) return NULL;
    memcpy(vs, v, strlen(v) + 1);
    onnx__string_string_entry_proto__init(e);
    e->key = ks;
    e->value = vs;
    return e;
}

static char *labels_joined(builder *b, const ssd_onnx_export_opts *o) {
    size_t n = 1;
    for (int i = 0; i < o->nlabels; i++) n += strlen(o->labels[i]) + 1;
    char *s = balloc(b, n);
    if (!s) return NULL;
    size_t off = 0;
    for (int i = 0; i < o->nlabels; i++) {
        size_t l = strlen(o->labels[i]);
        if (i) s[off++] = '\n';
        memcpy(s + off, o->labels[i], l);
        off += l;
    }
    s[off] = 0;
    return s;
}

static ssd_status check_opts(const ssd_model *m, const ssd_onnx_export_opts *o, int *opset) {
    *opset = o->opset ? o->opset : SSD_ONNX_OPSET_DEFAULT;
    if (*opset < SSD_ONNX_OPSET_MIN || *opset > SSD_ONNX_OPSET_MAX)
        return ssd_error_set(SSD_E_INVAL, "onnx export: opset %d is outside %d..%d", *opset,
                             SSD_ONNX_OPSET_MIN, SSD_ONNX_OPSET_MAX);
    if (!o->dynamic_batch && o->batch < 1)
        return ssd_error_set(SSD_E_INVAL, "onnx export: batch size %d must be >= 1", o->batch);
    if (o->labels && o->nlabels != m->num_classes)
        return ssd_error_set(SSD_E_INVAL, "onnx export: %d labels for a model with %d classes",
                             o->nlabels, m->num_classes);
    if (!m->priors || m->num_priors <= 0)
        return ssd_error_set(SSD_E_INVAL, "onnx export: the model has no priors");
    return SSD_OK;
}

ssd_status ssd_onnx_export_mem(const ssd_model *m, const ssd_onnx_export_opts *o, uint8_t **data,
                               size_t *len) {
    *data = NULL;
    *len = 0;
    int opset;
    SSD_TRY(check_opts(m, o, &opset));
    builder *b = ssd_calloc(1, sizeof *b);
    if (!b) return SSD_E_NOMEM;
    ssd_arena_init(&b->ar, (size_t)4 << 20);
    b->m = m;
    b->opset = opset;
    ssd_status st = SSD_OK;

    graph_nodes(b);
    int64_t in_rest[3] = {3, m->resolution, m->resolution};
    int64_t sc_rest[2] = {m->num_priors, m->num_classes};
    int64_t bx_rest[2] = {m->num_priors, 4};
    int64_t B = o->dynamic_batch ? 1 : o->batch;
    Onnx__ValueInfoProto *in = value_info(b, "input_0", o->dynamic_batch, B, 4, in_rest);
    Onnx__ValueInfoProto *outs[2] = {value_info(b, "scores", o->dynamic_batch, B, 3, sc_rest),
                                     value_info(b, "boxes", o->dynamic_batch, B, 3, bx_rest)};
    char buf[256];
    Onnx__StringStringEntryProto *md[6];
    md[0] = meta(b, "labels", o->labels ? labels_joined(b, o) : "");
    md[1] = meta(b, "net", m->net);
    snprintf(buf, sizeof buf, "%d", m->resolution);
    md[2] = meta(b, "resolution", buf);
    snprintf(buf, sizeof buf, "%.9g,%.9g,%.9g", m->image_mean[0], m->image_mean[1],
             m->image_mean[2]);
    md[3] = meta(b, "mean", buf);
    snprintf(buf, sizeof buf, "%.9g", m->image_std);
    md[4] = meta(b, "std", buf);
    snprintf(buf, sizeof buf, "%.9g,%.9g", m->center_variance, m->size_variance);
    md[5] = meta(b, "variances", buf);
    Onnx__OperatorSetIdProto *ops = balloc(b, sizeof *ops);
    Onnx__OperatorSetIdProto **opsv = balloc(b, sizeof *opsv);
    Onnx__GraphProto *g = balloc(b, sizeof *g);
    Onnx__ModelProto *mp = balloc(b, sizeof *mp);
    Onnx__ValueInfoProto **ins = balloc(b, sizeof *ins);
    Onnx__ValueInfoProto **outv = balloc(b, sizeof *outv * 2);
    Onnx__StringStringEntryProto **mdv = balloc(b, sizeof *mdv * 6);
    char *gname = bstrf(b, "%s", "torch-jit-export");
    char *prod = bstrf(b, "ssd"), *ver = bstrf(b, "%s", SSD_VERSION), *empty = bstrf(b, "%s", "");
    if (b->st != SSD_OK || !in || !outs[0] || !outs[1] || !md[0] || !md[1] || !md[2] || !md[3] ||
        !md[4] || !md[5] || !ops || !g || !mp) {
        st = b->st != SSD_OK ? b->st : SSD_E_NOMEM;
        goto done;
    }
    onnx__operator_set_id_proto__init(ops);
    ops->domain = empty;
    ops->has_version = 1;
    ops->version = opset;
    opsv[0] = ops;
    ins[0] = in;
    outv[0] = outs[0];
    outv[1] = outs[1];
    memcpy(mdv, md, sizeof md);

    onnx__graph_proto__init(g);
    g->name = gname;
    g->n_node = b->nnode;
    g->node = b->nodes;
    g->n_initializer = b->ninit;
    g->initializer = b->inits;
    g->n_input = 1;
    g->input = ins;
    g->n_output = 2;
    g->output = outv;

    onnx__model_proto__init(mp);
    mp->has_ir_version = 1;
    mp->ir_version = opset >= 15 ? 8 : 7; /* the IR version that introduced the opset */
    mp->n_opset_import = 1;
    mp->opset_import = opsv;
    mp->producer_name = prod;
    mp->producer_version = ver;
    mp->graph = g;
    mp->n_metadata_props = 6;
    mp->metadata_props = mdv;

    *len = onnx__model_proto__get_packed_size(mp);
    *data = ssd_malloc(*len + 1);
    if (!*data) {
        st = SSD_E_NOMEM;
        *len = 0;
        goto done;
    }
    onnx__model_proto__pack(mp, *data);
done:
    ssd_arena_deinit(&b->ar);
    ssd_free(b);
    return st;
}

ssd_status ssd_onnx_export(const ssd_model *m, const ssd_onnx_export_opts *o, const char *path) {
    uint8_t *data;
    size_t len;
    ssd_status st = ssd_onnx_export_mem(m, o, &data, &len);
    if (st != SSD_OK) return ssd_error_prefix(st, "%s", path);
    st = ssd_file_write_atomic(path, data, len);
    ssd_free(data);
    return st;
}
