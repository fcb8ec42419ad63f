/* ONNX ModelProto -> runtime graph: values, nodes with parsed attributes,
 * metadata. Every problem is reported with the file name; unsupported
 * operators are collected and reported together. */
#include "runtime/rt_internal.h"

#include "core/fileio.h"
#include "core/mem.h"
#include "formats/onnx.h"
#include "onnx.pb-c.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define RT_OPSET_MIN 9
/* 18 moved ReduceMean's axes to an input; 19-23 only add element types to
 * the operators here (float8, int4, bfloat16...), which are refused by type. */
#define RT_OPSET_MAX 23

static const struct {
    const char *name;
    rt_opcode op;
} op_table[] = {
    {"Conv", RT_OP_CONV},
    {"BatchNormalization", RT_OP_BN},
    {"Relu", RT_OP_RELU},
    {"Clip", RT_OP_CLIP},
    {"Add", RT_OP_ADD},
    {"Sub", RT_OP_SUB},
    {"Mul", RT_OP_MUL},
    {"Div", RT_OP_DIV},
    {"Exp", RT_OP_EXP},
    {"Concat", RT_OP_CONCAT},
    {"Reshape", RT_OP_RESHAPE},
    {"Flatten", RT_OP_FLATTEN},
    {"Transpose", RT_OP_TRANSPOSE},
    {"Softmax", RT_OP_SOFTMAX},
    {"Slice", RT_OP_SLICE},
    {"Gather", RT_OP_GATHER},
    {"Shape", RT_OP_SHAPE},
    {"Unsqueeze", RT_OP_UNSQUEEZE},
    {"Squeeze", RT_OP_SQUEEZE},
    {"Constant", RT_OP_CONSTANT},
    {"MaxPool", RT_OP_MAXPOOL},
    {"Identity", RT_OP_IDENTITY},
    {"Dropout", RT_OP_DROPOUT},
    {"HardSigmoid", RT_OP_HARDSIGMOID},
    {"HardSwish", RT_OP_HARDSWISH},
    {"GlobalAveragePool", RT_OP_GLOBALAVGPOOL},
    {"ReduceMean", RT_OP_REDUCEMEAN},
    {"Cast", RT_OP_CAST},
};
#define NOPS (int)(sizeof op_table / sizeof op_table[0])

const char *rt_op_name(rt_opcode op) {
    for (int i = 0; i < NOPS; i++)
        if (op_table[i].op == op) return op_table[i].name;
    return "?";
}

static int op_lookup(const char *domain, const char *type) {
    if (domain && domain[0] && strcmp(domain, "ai.onnx") != 0) return -1;
    for (int i = 0; i < NOPS; i++)
        if (type && strcmp(type, op_table[i].name) == 0) return (int)op_table[i].op;
    return -1;
}

/* ---- name -> value id ------------------------------------------------------------ */

typedef struct {
    int *slot; /* value id + 1; 0 = empty */
    size_t cap;
} name_map;

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static int map_find(const name_map *nm, const ssd_onnx_model *m, const char *name) {
    if (!nm->cap) return -1;
    for (size_t i = hash_str(name) & (nm->cap - 1);; i = (i + 1) & (nm->cap - 1)) {
        int s = nm->slot[i];
        if (!s) return -1;
        if (strcmp(m->v[s - 1].name, name) == 0) return s - 1;
    }
}

static ssd_status map_put(name_map *nm, const ssd_onnx_model *m, int id) {
    if ((size_t)(m->nv + 1) * 2 > nm->cap) {
        size_t cap = nm->cap ? nm->cap * 2 : 256;
        while (cap < (size_t)(m->nv + 1) * 2) cap *= 2;
        int *s = ssd_calloc(cap, sizeof *s);
        if (!s) return SSD_E_NOMEM;
        for (size_t i = 0; i < nm->cap; i++)
            if (nm->slot[i]) {
                size_t j = hash_str(m->v[nm->slot[i] - 1].name) & (cap - 1);
                while (s[j]) j = (j + 1) & (cap - 1);
                s[j] = nm->slot[i];
            }
        ssd_free(nm->slot);
        nm->slot = s;
        nm->cap = cap;
    }
    size_t j = hash_str(m->v[id].name) & (nm->cap - 1);
    while (nm->slot[j]) j = (j + 1) & (nm->cap - 1);
    nm->slot[j] = id + 1;
    return SSD_OK;
}

int rt_value_find(const ssd_onnx_model *m, const char *name) {
    for (int i = 0; i < m->nv; i++)
        if (strcmp(m->v[i].name, name) == 0) return i;
    return -1;
}

static ssd_status new_value(ssd_onnx_model *m, name_map *nm, const char *name, int *id) {
    if (m->nv == m->capv) {
        int cap = m->capv ? m->capv * 2 : 256;
        rt_value *v = ssd_realloc(m->v, (size_t)cap * sizeof *v);
        if (!v) return SSD_E_NOMEM;
        m->v = v;
        m->capv = cap;
    }
    rt_value *v = &m->v[m->nv];
    memset(v, 0, sizeof *v);
    v->producer = -1;
    v->name = ssd_strdup(name);
    if (!v->name) return SSD_E_NOMEM;
    ssd_tensor_init(&v->t, m->be, SSD_F32, 0, NULL);
    *id = m->nv++;
    return map_put(nm, m, *id);
}

/* ---- tensors ---------------------------------------------------------------------- */

static ssd_status tensor_from_proto(const ssd_onnx_model *m, const Onnx__TensorProto *t,
                                    const char *what, rt_host *h) {
    memset(h, 0, sizeof *h);
    if (t->n_dims > SSD_MAX_DIMS)
        return ssd_error_set(SSD_E_UNSUPPORTED, "%s: %s has %zu dims (at most %d supported)",
                             m->path, what, t->n_dims, SSD_MAX_DIMS);
    int64_t shape[SSD_MAX_DIMS];
    int64_t n = 1;
    for (size_t i = 0; i < t->n_dims; i++) {
        if (t->dims[i] < 0 || (t->dims[i] > 0 && n > ((int64_t)1 << 40) / t->dims[i]))
            return ssd_error_set(SSD_E_FORMAT, "%s: %s has an invalid dimension %lld", m->path,
                                 what, (long long)t->dims[i]);
        shape[i] = t->dims[i];
        n *= t->dims[i];
    }
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return ssd_error_set(SSD_E_UNSUPPORTED, "%s: %s uses external data (not supported)",
                             m->path, what);
    int dt = t->has_data_type ? t->data_type : 0;
    ssd_dtype out_dt;
    size_t esz;
    if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT || dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE) {
        out_dt = SSD_F32;
        esz = dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ? 4 : 8;
    } else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 ||
               dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT32) {
        out_dt = SSD_I64;
        esz = dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 ? 8 : 4;
    } else {
        return ssd_error_set(SSD_E_UNSUPPORTED,
                             "%s: %s has element type %d (float, double, "
                             "int32 and int64 are supported)",
                             m->path, what, dt);
    }
    size_t count;
    if (t->has_raw_data) {
        count = t->raw_data.len / esz;
        if (t->raw_data.len % esz)
            return ssd_error_set(SSD_E_FORMAT,
                                 "%s: %s raw data of %zu bytes is not a whole "
                                 "number of elements",
                                 m->path, what, t->raw_data.len);
    } else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
        count = t->n_float_data;
    } else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE) {
        count = t->n_double_data;
    } else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT64) {
        count = t->n_int64_data;
    } else {
        count = t->n_int32_data;
    }
    if ((int64_t)count != n)
        return ssd_error_set(SSD_E_FORMAT, "%s: %s holds %zu values for a shape of %lld", m->path,
                             what, count, (long long)n);
    SSD_TRY(rt_host_alloc(h, out_dt, (int)t->n_dims, shape));
    for (size_t i = 0; i < count; i++) {
        if (t->has_raw_data) {
            const uint8_t *p = t->raw_data.data + i * esz;
            if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
                memcpy((float *)h->data + i, p, 4);
            } else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE) {
                double d;
                memcpy(&d, p, 8);
                ((float *)h->data)[i] = (float)d;
            } else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT64) {
                memcpy((int64_t *)h->data + i, p, 8);
            } else {
                int32_t v;
                memcpy(&v, p, 4);
                ((int64_t *)h->data)[i] = v;
            }
        } else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
            ((float *)h->data)[i] = t->float_data[i];
        } else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE) {
            ((float *)h->data)[i] = (float)t->double_data[i];
        } else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT64) {
            ((int64_t *)h->data)[i] = t->int64_data[i];
        } else {
            ((int64_t *)h->data)[i] = t->int32_data[i];
        }
    }
    return SSD_OK;
}

/* ---- attributes --------------------------------------------------------------------- */

static const Onnx__AttributeProto *attr(const Onnx__NodeProto *np, const char *name) {
    for (size_t i = 0; i < np->n_attribute; i++)
        if (np->attribute[i]->name && strcmp(np->attribute[i]->name, name) == 0)
            return np->attribute[i];
    return NULL;
}

typedef struct {
    const ssd_onnx_model *m;
    const Onnx__NodeProto *np;
    const char *what; /* "node 'Conv_0' (Conv)" */
} actx;

static ssd_status attr_int(const actx *c, const char *name, int64_t def, int64_t *out) {
    const Onnx__AttributeProto *a = attr(c->np, name);
    *out = def;
    if (!a) return SSD_OK;
    if (!a->has_i)
        return ssd_error_set(SSD_E_FORMAT, "%s: %s: attribute %s is not an int", c->m->path,
                             c->what, name);
    *out = a->i;
    return SSD_OK;
}

static ssd_status attr_float(const actx *c, const char *name, double def, double *out) {
    const Onnx__AttributeProto *a = attr(c->np, name);
    *out = def;
    if (!a) return SSD_OK;
    if (!a->has_f)
        return ssd_error_set(SSD_E_FORMAT, "%s: %s: attribute %s is not a float", c->m->path,
                             c->what, name);
    *out = a->f;
    return SSD_OK;
}

/* *n = -1 when absent. */
static ssd_status attr_ints(const actx *c, const char *name, int64_t *out, int *n) {
    const Onnx__AttributeProto *a = attr(c->np, name);
    *n = -1;
    if (!a) return SSD_OK;
    if (a->n_ints > RT_MAX_INTS)
        return ssd_error_set(SSD_E_UNSUPPORTED, "%s: %s: attribute %s has %zu values", c->m->path,
                             c->what, name, a->n_ints);
    if (a->n_ints) memcpy(out, a->ints, a->n_ints * sizeof *out); /* ints may be NULL when empty */
    *n = (int)a->n_ints;
    return SSD_OK;
}

static ssd_status attr_pads_2d(const actx *c, const char *what_op, int64_t k[2], int64_t s[2],
                               int64_t p[2], int64_t d[2]) {
    int64_t v[RT_MAX_INTS];
    int n;
    const Onnx__AttributeProto *ap = attr(c->np, "auto_pad");
    if (ap && ap->has_s && ap->s.len) {
        bool notset = ap->s.len == 6 && memcmp(ap->s.data, "NOTSET", 6) == 0;
        bool valid = ap->s.len == 5 && memcmp(ap->s.data, "VALID", 5) == 0;
        if (!notset && !valid)
            return ssd_error_set(SSD_E_UNSUPPORTED, "%s: %s: auto_pad %.*s is not supported",
                                 c->m->path, c->what, (int)ap->s.len, (const char *)ap->s.data);
    }
    SSD_TRY(attr_ints(c, "kernel_shape", v, &n));
    if (n != -1 && n != 2)
        return ssd_error_set(SSD_E_UNSUPPORTED, "%s: %s: only 2-D %s is supported", c->m->path,
                             c->what, what_op);
    if (n == 2) k[0] = v[0], k[1] = v[1];
    SSD_TRY(attr_ints(c, "strides", v, &n));
    if (n != -1 && n != 2)
        return ssd_error_set(SSD_E_FORMAT, "%s: %s: strides needs 2 values", c->m->path, c->what);
    s[0] = n == 2 ? v[0] : 1;
    s[1] = n == 2 ? v[1] : 1;
    SSD_TRY(attr_ints(c, "dilations", v, &n));
    if (n != -1 && n != 2)
        return ssd_error_set(SSD_E_FORMAT, "%s: %s: dilations needs 2 values", c->m->path, c->what);
    d[0] = n == 2 ? v[0] : 1;
    d[1] = n == 2 ? v[1] : 1;
    SSD_TRY(attr_ints(c, "pads", v, &n));
    if (n != -1 && n != 4)
        return ssd_error_set(SSD_E_FORMAT, "%s: %s: pads needs 4 values", c->m->path, c->what);
    p[0] = p[1] = 0;
    if (n == 4) {
        if (v[0] != v[2] || v[1] != v[3])
            return ssd_error_set(SSD_E_UNSUPPORTED, "%s: %s: asymmetric pads are not supported",
                                 c->m->path, c->what);
        p[0] = v[0];
        p[1] = v[1];
    }
    for (int i = 0; i < 2; i++)
        if (s[i] < 1 || s[i] > 1024 || d[i] < 1 || d[i] > 1024 || p[i] < 0 || p[i] > 1024 ||
            k[i] < 0 || k[i] > 1024)
            return ssd_error_set(SSD_E_FORMAT,
                                 "%s: %s: kernel, stride, pad or dilation out of "
                                 "range",
                                 c->m->path, c->what);
    return SSD_OK;
}

static ssd_status parse_attrs(ssd_onnx_model *m, rt_node *n, const Onnx__NodeProto *np,
                              const char *what) {
    actx c = {m, np, what};
    int64_t v;
    double f;
    int cnt;
    switch (n->op) {
    case RT_OP_CONV: {
        int64_t k[2] = {0, 0}, s[2], p[2], d[2];
        SSD_TRY(attr_pads_2d(&c, "Conv", k, s, p, d));
        SSD_TRY(attr_int(&c, "group", 1, &v));
        if (v < 1 || v > (1 << 20))
            return ssd_error_set(SSD_E_FORMAT, "%s: %s: group %lld", m->path, what, (long long)v);
        n->kernel[0] = (int)k[0];
        n->kernel[1] = (int)k[1];
        n->conv = (ssd_conv2d_params){{(int)s[0], (int)s[1]}, {(int)p[0], (int)p[1]},
                                      {(int)d[0], (int)d[1]}, (int)v,
                                      SSD_ACT_NONE,           SSD_CONV_F32};
        break;
    }
    case RT_OP_MAXPOOL: {
        int64_t k[2] = {0, 0}, s[2], p[2], d[2];
        SSD_TRY(attr_pads_2d(&c, "MaxPool", k, s, p, d));
        if (k[0] < 1 || k[1] < 1)
            return ssd_error_set(SSD_E_FORMAT, "%s: %s: kernel_shape is required", m->path, what);
        if (d[0] != 1 || d[1] != 1)
            return ssd_error_set(SSD_E_UNSUPPORTED, "%s: %s: dilated MaxPool is not supported",
                                 m->path, what);
        SSD_TRY(attr_int(&c, "ceil_mode", 0, &v));
        n->pool = (ssd_pool_params){
            {(int)k[0], (int)k[1]}, {(int)s[0], (int)s[1]}, {(int)p[0], (int)p[1]}, v != 0};
        int64_t so;
        SSD_TRY(attr_int(&c, "storage_order", 0, &so));
        if (n->nout > 1 && n->out[1] >= 0)
            return ssd_error_set(SSD_E_UNSUPPORTED, "%s: %s: the Indices output is not supported",
                                 m->path, what);
        break;
    }
    case RT_OP_BN:
        SSD_TRY(attr_float(&c, "epsilon", 1e-5, &n->eps));
        SSD_TRY(attr_int(&c, "training_mode", 0, &v));
        if (v)
            return ssd_error_set(SSD_E_UNSUPPORTED, "%s: %s: training_mode is not supported",
                                 m->path, what);
        for (int i = 1; i < n->nout; i++)
            if (n->out[i] >= 0)
                return ssd_error_set(SSD_E_UNSUPPORTED,
                                     "%s: %s: training outputs (mean, var) "
                                     "are not supported",
                                     m->path, what);
        break;
    case RT_OP_CLIP:
        SSD_TRY(attr_float(&c, "min", -INFINITY, &f));
        n->clip_min = (float)f;
        SSD_TRY(attr_float(&c, "max", INFINITY, &f));
        n->clip_max = (float)f;
        break;
    case RT_OP_CONCAT:
        SSD_TRY(attr_int(&c, "axis", 0, &n->axis));
        if (!attr(np, "axis"))
            return ssd_error_set(SSD_E_FORMAT, "%s: %s: axis is required", m->path, what);
        break;
    case RT_OP_FLATTEN:
        SSD_TRY(attr_int(&c, "axis", 1, &n->axis));
        break;
    case RT_OP_GATHER:
        SSD_TRY(attr_int(&c, "axis", 0, &n->axis));
        break;
    case RT_OP_SOFTMAX:
        SSD_TRY(attr_int(&c, "axis", m->opset < 13 ? 1 : -1, &n->axis));
        break;
    case RT_OP_TRANSPOSE:
        SSD_TRY(attr_ints(&c, "perm", n->ints, &cnt));
        n->has_ints = cnt >= 0;
        n->nints = cnt < 0 ? 0 : cnt;
        break;
    case RT_OP_UNSQUEEZE:
    case RT_OP_SQUEEZE:
        if (m->opset < 13) {
            SSD_TRY(attr_ints(&c, "axes", n->ints, &cnt));
            n->has_ints = cnt >= 0;
            n->nints = cnt < 0 ? 0 : cnt;
            if (n->op == RT_OP_UNSQUEEZE && !n->has_ints)
                return ssd_error_set(SSD_E_FORMAT, "%s: %s: axes is required", m->path, what);
        }
        break;
    case RT_OP_SLICE:
        if (m->opset < 10) {
            int ns, ne, na;
            SSD_TRY(attr_ints(&c, "starts", n->starts, &ns));
            SSD_TRY(attr_ints(&c, "ends", n->ends, &ne));
            SSD_TRY(attr_ints(&c, "axes", n->axes, &na));
            if (ns < 0 || ne != ns || (na >= 0 && na != ns))
                return ssd_error_set(SSD_E_FORMAT, "%s: %s: starts/ends/axes do not match", m->path,
                                     what);
            n->nslice = ns;
            n->has_slice_axes = na >= 0;
        }
        break;
    case RT_OP_SHAPE:
        SSD_TRY(attr_int(&c, "start", 0, &n->shape_start));
        n->has_shape_end = attr(np, "end") != NULL;
        SSD_TRY(attr_int(&c, "end", 0, &n->shape_end));
        break;
    case RT_OP_RESHAPE:
        SSD_TRY(attr_int(&c, "allowzero", 0, &v));
        n->allowzero = v != 0;
        break;
    case RT_OP_HARDSIGMOID:
        SSD_TRY(attr_float(&c, "alpha", 0.2, &f));
        n->alpha = (float)f;
        SSD_TRY(attr_float(&c, "beta", 0.5, &f));
        n->beta = (float)f;
        break;
    case RT_OP_REDUCEMEAN:
        /* axes as an attribute (opset < 18, all torch 1.13 writes) or, from 18, as a
         * constant second input (rt_reduce_axes_input); none: all axes */
        SSD_TRY(attr_ints(&c, "axes", n->ints, &cnt));
        n->nints = cnt < 0 ? 0 : cnt;
        SSD_TRY(attr_int(&c, "keepdims", 1, &v));
        n->keepdims = v != 0;
        SSD_TRY(attr_int(&c, "noop_with_empty_axes", 0, &v));
        n->noop_empty = v != 0;
        /* no axes at all: every axis, or (18's flag) none, the identity */
        n->has_ints = cnt >= 0 || n->noop_empty;
        break;
    case RT_OP_CAST: /* the runtime's element types: float32 and int64 (shapes, indices) */
        SSD_TRY(attr_int(&c, "to", 0, &v));
        if (v != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT && v != ONNX__TENSOR_PROTO__DATA_TYPE__INT64)
            return ssd_error_set(SSD_E_UNSUPPORTED,
                                 "%s: %s: Cast to element type %lld (float32 and int64 are "
                                 "supported)",
                                 m->path, what, (long long)v);
        n->cast_to = v == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ? SSD_F32 : SSD_I64;
        break;
    case RT_OP_DROPOUT:
        for (int i = 1; i < n->nout; i++)
            if (n->out[i] >= 0)
                return ssd_error_set(SSD_E_UNSUPPORTED,
                                     "%s: %s: the mask output is not "
                                     "supported",
                                     m->path, what);
        break;
    default:
        break;
    }
    return SSD_OK;
}

/* Constant node -> the value it defines. */
static ssd_status constant_value(ssd_onnx_model *m, const Onnx__NodeProto *np, const char *what,
                                 rt_host *h) {
    const Onnx__AttributeProto *a;
    if ((a = attr(np, "value")) && a->t) return tensor_from_proto(m, a->t, what, h);
    int64_t n;
    if ((a = attr(np, "value_float")) && a->has_f) {
        SSD_TRY(rt_host_alloc(h, SSD_F32, 0, NULL));
        *(float *)h->data = a->f;
        return SSD_OK;
    }
    if ((a = attr(np, "value_int")) && a->has_i) {
        SSD_TRY(rt_host_alloc(h, SSD_I64, 0, NULL));
        *(int64_t *)h->data = a->i;
        return SSD_OK;
    }
    if ((a = attr(np, "value_floats"))) {
        n = (int64_t)a->n_floats;
        SSD_TRY(rt_host_alloc(h, SSD_F32, 1, &n));
        if (n) memcpy(h->data, a->floats, (size_t)n * sizeof(float));
        return SSD_OK;
    }
    if ((a = attr(np, "value_ints"))) {
        n = (int64_t)a->n_ints;
        SSD_TRY(rt_host_alloc(h, SSD_I64, 1, &n));
        if (n) memcpy(h->data, a->ints, (size_t)n * sizeof(int64_t));
        return SSD_OK;
    }
    return ssd_error_set(SSD_E_UNSUPPORTED,
                         "%s: %s: only tensor, float(s) and int(s) "
                         "constants are supported",
                         m->path, what);
}

/* ---- the graph ------------------------------------------------------------------------ */

static ssd_status check_ops(ssd_onnx_model *m, const Onnx__GraphProto *g) {
    char list[768] = "";
    size_t len = 0;
    int bad = 0, kinds = 0;
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *np = g->node[i];
        if (op_lookup(np->domain, np->op_type) >= 0) continue;
        bad++;
        char name[160];
        snprintf(name, sizeof name, "%s%s%s", np->domain && np->domain[0] ? np->domain : "",
                 np->domain && np->domain[0] ? "." : "", np->op_type ? np->op_type : "(none)");
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++) {
            const Onnx__NodeProto *q = g->node[j];
            if (op_lookup(q->domain, q->op_type) >= 0) continue;
            char qn[160];
            snprintf(qn, sizeof qn, "%s%s%s", q->domain && q->domain[0] ? q->domain : "",
                     q->domain && q->domain[0] ? "." : "", q->op_type ? q->op_type : "(none)");
            seen = strcmp(qn, name) == 0;
        }
        if (seen) continue;
        kinds++;
        if (len < sizeof list - 1)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", kinds > 1 ? ", " : "",
                                    name);
    }
    if (!bad) return SSD_OK;
    return ssd_error_set(SSD_E_UNSUPPORTED, "%s: unsupported ONNX operators: %s (%d node%s)",
                         m->path, list, bad, bad == 1 ? "" : "s");
}

static ssd_status add_node(ssd_onnx_model *m, name_map *nm, const Onnx__NodeProto *np, int idx) {
    rt_node *n = &m->n[m->nn];
    memset(n, 0, sizeof *n);
    ssd_tensor_init(&n->wt, m->be, SSD_F32, 0, NULL);
    ssd_tensor_init(&n->bt, m->be, SSD_F32, 0, NULL);
    ssd_tensor_init(&n->fwt, m->be, SSD_F32, 0, NULL);
    ssd_tensor_init(&n->fbt, m->be, SSD_F32, 0, NULL);
    ssd_tensor_init(&n->fy, m->be, SSD_F32, 0, NULL);
    n->sib = -1;
    n->head_conv = -1;
    ssd_tensor_init(&n->bn_mean, m->be, SSD_F32, 0, NULL);
    ssd_tensor_init(&n->bn_var, m->be, SSD_F32, 0, NULL);
    ssd_tensor_init(&n->bn_gamma, m->be, SSD_F32, 0, NULL);
    ssd_tensor_init(&n->bn_beta, m->be, SSD_F32, 0, NULL);
    ssd_tensor_init(&n->ws, m->be, SSD_I64, 0, NULL);
    m->nn++;
    n->op = (rt_opcode)op_lookup(np->domain, np->op_type);
    char nbuf[200];
    if (np->name && np->name[0])
        snprintf(nbuf, sizeof nbuf, "%s", np->name);
    else
        snprintf(nbuf, sizeof nbuf, "#%d", idx);
    n->name = ssd_strdup(nbuf);
    if (!n->name) return SSD_E_NOMEM;
    char what[300];
    snprintf(what, sizeof what, "node '%s' (%s)", n->name, np->op_type);
    n->nin = (int)np->n_input;
    n->nout = (int)np->n_output;
    if (n->nout < 1) return ssd_error_set(SSD_E_FORMAT, "%s: %s has no output", m->path, what);
    n->in = ssd_malloc(sizeof(int) * (size_t)(n->nin + 1));
    n->out = ssd_malloc(sizeof(int) * (size_t)n->nout);
    if (!n->in || !n->out) return SSD_E_NOMEM;
    for (int i = 0; i < n->nin; i++) {
        const char *s = np->input[i];
        if (!s || !s[0]) {
            n->in[i] = -1;
            continue;
        }
        n->in[i] = map_find(nm, m, s);
        if (n->in[i] < 0)
            return ssd_error_set(SSD_E_FORMAT,
                                 "%s: %s: input '%s' is not defined before it "
                                 "(graph not topologically sorted or truncated)",
                                 m->path, what, s);
    }
    for (int i = 0; i < n->nout; i++) {
        const char *s = np->output[i];
        if (!s || !s[0]) {
            n->out[i] = -1;
            continue;
        }
        if (map_find(nm, m, s) >= 0)
            return ssd_error_set(SSD_E_FORMAT, "%s: %s: output '%s' is defined twice", m->path,
                                 what, s);
        SSD_TRY(new_value(m, nm, s, &n->out[i]));
        m->v[n->out[i]].producer = m->nn - 1;
    }
    if (n->out[0] < 0)
        return ssd_error_set(SSD_E_FORMAT, "%s: %s has no output name", m->path, what);
    /* Arity: required inputs per operator (optional ones may be absent or ""). */
    static const int min_in[RT_OP__COUNT] = {[RT_OP_CONV] = 2,       [RT_OP_BN] = 5,
                                             [RT_OP_RELU] = 1,       [RT_OP_CLIP] = 1,
                                             [RT_OP_ADD] = 2,        [RT_OP_SUB] = 2,
                                             [RT_OP_MUL] = 2,        [RT_OP_DIV] = 2,
                                             [RT_OP_EXP] = 1,        [RT_OP_CONCAT] = 1,
                                             [RT_OP_RESHAPE] = 2,    [RT_OP_FLATTEN] = 1,
                                             [RT_OP_TRANSPOSE] = 1,  [RT_OP_SOFTMAX] = 1,
                                             [RT_OP_SLICE] = 1,      [RT_OP_GATHER] = 2,
                                             [RT_OP_SHAPE] = 1,      [RT_OP_UNSQUEEZE] = 1,
                                             [RT_OP_SQUEEZE] = 1,    [RT_OP_CONSTANT] = 0,
                                             [RT_OP_MAXPOOL] = 1,    [RT_OP_IDENTITY] = 1,
                                             [RT_OP_DROPOUT] = 1,    [RT_OP_HARDSIGMOID] = 1,
                                             [RT_OP_HARDSWISH] = 1,  [RT_OP_GLOBALAVGPOOL] = 1,
                                             [RT_OP_REDUCEMEAN] = 1, [RT_OP_CAST] = 1};
    static const int max_in[RT_OP__COUNT] = {[RT_OP_CONV] = 3,       [RT_OP_BN] = 5,
                                             [RT_OP_RELU] = 1,       [RT_OP_CLIP] = 3,
                                             [RT_OP_ADD] = 2,        [RT_OP_SUB] = 2,
                                             [RT_OP_MUL] = 2,        [RT_OP_DIV] = 2,
                                             [RT_OP_EXP] = 1,        [RT_OP_CONCAT] = 1 << 20,
                                             [RT_OP_RESHAPE] = 2,    [RT_OP_FLATTEN] = 1,
                                             [RT_OP_TRANSPOSE] = 1,  [RT_OP_SOFTMAX] = 1,
                                             [RT_OP_SLICE] = 5,      [RT_OP_GATHER] = 2,
                                             [RT_OP_SHAPE] = 1,      [RT_OP_UNSQUEEZE] = 2,
                                             [RT_OP_SQUEEZE] = 2,    [RT_OP_CONSTANT] = 0,
                                             [RT_OP_MAXPOOL] = 1,    [RT_OP_IDENTITY] = 1,
                                             [RT_OP_DROPOUT] = 3,    [RT_OP_HARDSIGMOID] = 1,
                                             [RT_OP_HARDSWISH] = 1,  [RT_OP_GLOBALAVGPOOL] = 1,
                                             [RT_OP_REDUCEMEAN] = 2, [RT_OP_CAST] = 1};
    if (n->nin < min_in[n->op] || n->nin > max_in[n->op])
        return ssd_error_set(SSD_E_FORMAT, "%s: %s has %d inputs", m->path, what, n->nin);
    for (int i = 0; i < min_in[n->op]; i++)
        if (n->in[i] < 0)
            return ssd_error_set(SSD_E_FORMAT, "%s: %s: required input %d is empty", m->path, what,
                                 i);
    SSD_TRY(parse_attrs(m, n, np, what));
    if (n->op == RT_OP_CONSTANT) {
        rt_value *v = &m->v[n->out[0]];
        SSD_TRY(constant_value(m, np, what, &v->c));
        v->is_const = v->load_const = true;
        n->dead = true;
        m->stats.folded++;
    }
    return SSD_OK;
}

static ssd_status build(ssd_onnx_model *m, const Onnx__ModelProto *mp) {
    name_map nm = {NULL, 0};
    ssd_status st = SSD_OK;
    const Onnx__GraphProto *g = mp->graph;
    if (!g) return ssd_error_set(SSD_E_FORMAT, "%s: not an ONNX model (no graph)", m->path);
    m->opset = -1;
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
        if (!o->domain || !o->domain[0] || strcmp(o->domain, "ai.onnx") == 0)
            m->opset = o->has_version ? (int)o->version : 1;
    }
    if (m->opset < 0)
        return ssd_error_set(SSD_E_FORMAT, "%s: no ONNX opset import (not an ONNX model?)",
                             m->path);
    if (m->opset < RT_OPSET_MIN || m->opset > RT_OPSET_MAX)
        return ssd_error_set(SSD_E_UNSUPPORTED, "%s: opset %d is not supported (%d..%d are)",
                             m->path, m->opset, RT_OPSET_MIN, RT_OPSET_MAX);
    SSD_CHECK_GOTO(st, check_ops(m, g), done);

    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *t = g->initializer[i];
        if (!t->name || !t->name[0]) {
            st = ssd_error_set(SSD_E_FORMAT, "%s: initializer %zu has no name", m->path, i);
            goto done;
        }
        if (map_find(&nm, m, t->name) >= 0) {
            st = ssd_error_set(SSD_E_FORMAT, "%s: initializer '%s' is defined twice", m->path,
                               t->name);
            goto done;
        }
        int id;
        SSD_CHECK_GOTO(st, new_value(m, &nm, t->name, &id), done);
        char what[200];
        snprintf(what, sizeof what, "initializer '%s'", t->name);
        SSD_CHECK_GOTO(st, tensor_from_proto(m, t, what, &m->v[id].c), done);
        m->v[id].is_const = m->v[id].load_const = true;
    }
    m->input = -1;
    for (size_t i = 0; i < g->n_input; i++) {
        const Onnx__ValueInfoProto *vi = g->input[i];
        if (!vi->name || !vi->name[0]) {
            st = ssd_error_set(SSD_E_FORMAT, "%s: graph input %zu has no name", m->path, i);
            goto done;
        }
        if (map_find(&nm, m, vi->name) >= 0) continue; /* an initializer listed as input */
        if (m->input >= 0) {
            st = ssd_error_set(SSD_E_UNSUPPORTED, "%s: more than one graph input ('%s', '%s')",
                               m->path, m->v[m->input].name, vi->name);
            goto done;
        }
        SSD_CHECK_GOTO(st, new_value(m, &nm, vi->name, &m->input), done);
        const Onnx__TypeProto *tp = vi->type;
        if (tp && tp->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE && tp->tensor_type) {
            const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
            if (tt->has_elem_type && tt->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
                st = ssd_error_set(SSD_E_UNSUPPORTED,
                                   "%s: input '%s' has element type %d "
                                   "(float is supported)",
                                   m->path, vi->name, tt->elem_type);
                goto done;
            }
            if (tt->shape) {
                if (tt->shape->n_dim > SSD_MAX_DIMS) {
                    st = ssd_error_set(SSD_E_UNSUPPORTED, "%s: input '%s' has %zu dims", m->path,
                                       vi->name, tt->shape->n_dim);
                    goto done;
                }
                m->in_ndim = (int)tt->shape->n_dim;
                for (size_t d = 0; d < tt->shape->n_dim; d++) {
                    const Onnx__TensorShapeProto__Dimension *dim = tt->shape->dim[d];
                    m->in_dims[d] =
                        dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
                                dim->dim_value > 0
                            ? dim->dim_value
                            : -1;
                }
            }
        }
    }
    if (m->input < 0) {
        st = ssd_error_set(SSD_E_FORMAT, "%s: the graph has no (non-constant) input", m->path);
        goto done;
    }
    m->n = ssd_calloc(g->n_node ? g->n_node : 1, sizeof *m->n);
    if (!m->n) {
        st = SSD_E_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < g->n_node; i++)
        SSD_CHECK_GOTO(st, add_node(m, &nm, g->node[i], (int)i), done);
    m->stats.nodes = (int)g->n_node;

    if (!g->n_output) {
        st = ssd_error_set(SSD_E_FORMAT, "%s: the graph has no outputs", m->path);
        goto done;
    }
    m->outputs = ssd_malloc(sizeof(int) * g->n_output);
    if (!m->outputs) {
        st = SSD_E_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < g->n_output; i++) {
        const char *s = g->output[i]->name;
        int id = s ? map_find(&nm, m, s) : -1;
        if (id < 0) {
            st = ssd_error_set(SSD_E_FORMAT, "%s: graph output '%s' is not computed by any node",
                               m->path, s ? s : "");
            goto done;
        }
        m->outputs[m->nout++] = id;
        m->v[id].graph_output = true;
    }
    if (mp->n_metadata_props) {
        m->md_key = ssd_calloc(mp->n_metadata_props, sizeof(char *));
        m->md_val = ssd_calloc(mp->n_metadata_props, sizeof(char *));
        if (!m->md_key || !m->md_val) {
            st = SSD_E_NOMEM;
            goto done;
        }
        for (size_t i = 0; i < mp->n_metadata_props; i++) {
            const Onnx__StringStringEntryProto *e = mp->metadata_props[i];
            m->md_key[m->nmd] = ssd_strdup(e->key ? e->key : "");
            m->md_val[m->nmd] = ssd_strdup(e->value ? e->value : "");
            m->nmd++;
            if (!m->md_key[m->nmd - 1] || !m->md_val[m->nmd - 1]) {
                st = SSD_E_NOMEM;
                goto done;
            }
        }
    }
    for (int i = 0; i < m->nn; i++)
        for (int j = 0; j < m->n[i].nin; j++)
            if (m->n[i].in[j] >= 0) m->v[m->n[i].in[j]].consumers++;
done:
    ssd_free(nm.slot);
    return st;
}

ssd_status ssd_onnx_load_mem(ssd_onnx_model **out, const uint8_t *data, size_t len,
                             const char *name, ssd_backend *be) {
    *out = NULL;
    ssd_status st = SSD_OK;
    ssd_onnx_model *m = ssd_calloc(1, sizeof *m);
    if (!m) return SSD_E_NOMEM;
    m->be = be;
    m->path = ssd_strdup(name);
    if (!m->path) {
        ssd_free(m);
        return SSD_E_NOMEM;
    }
    ssd_error_clear();
    Onnx__ModelProto *mp = onnx__model_proto__unpack(ssd_onnx_pb_allocator(), len, data);
    if (!mp) {
        if (strstr(ssd_error_message(), "out of memory"))
            st = ssd_error_set(SSD_E_NOMEM, "%s: out of memory while decoding", name);
        else
            st = ssd_error_set(SSD_E_FORMAT,
                               "%s: not a valid ONNX file (protobuf decoding "
                               "failed: truncated or corrupt)",
                               name);
        goto fail;
    }
    st = build(m, mp);
    onnx__model_proto__free_unpacked(mp, ssd_onnx_pb_allocator());
    if (st != SSD_OK) goto fail;
    SSD_CHECK_GOTO(st, rt_fold_constants(m), fail);
    SSD_CHECK_GOTO(st, rt_reduce_axes_input(m), fail);
    SSD_CHECK_GOTO(st, rt_fuse(m), fail);
    *out = m;
    return SSD_OK;
fail:
    if (st == SSD_E_NOMEM && !strstr(ssd_error_message(), name)) ssd_error_prefix(st, "%s", name);
    ssd_onnx_destroy(m);
    return st;
}

ssd_status ssd_onnx_load(ssd_onnx_model **out, const char *path, ssd_backend *be) {
    *out = NULL;
    uint8_t *data;
    size_t len;
    SSD_TRY(ssd_file_read_all(path, &data, &len));
    ssd_status st = ssd_onnx_load_mem(out, data, len, path, be);
    ssd_free(data);
    return st;
}

void ssd_onnx_destroy(ssd_onnx_model *m) {
    if (!m) return;
    rt_unshare(m);
    for (int i = 0; i < m->nv; i++) {
        ssd_free(m->v[i].name);
        rt_host_free(&m->v[i].c);
        ssd_tensor_deinit(&m->v[i].t);
        ssd_free(m->v[i].stage);
    }
    for (int i = 0; i < m->nn; i++) {
        rt_node *n = &m->n[i];
        ssd_free(n->name);
        ssd_free(n->in);
        ssd_free(n->out);
        ssd_free(n->w);
        ssd_free(n->b);
        ssd_tensor_deinit(&n->wt);
        ssd_tensor_deinit(&n->bt);
        ssd_tensor_deinit(&n->fwt);
        ssd_tensor_deinit(&n->fbt);
        ssd_tensor_deinit(&n->fy);
        ssd_tensor_deinit(&n->bn_mean);
        ssd_tensor_deinit(&n->bn_var);
        ssd_tensor_deinit(&n->bn_gamma);
        ssd_tensor_deinit(&n->bn_beta);
        ssd_tensor_deinit(&n->ws);
    }
    for (int i = 0; i < m->nmd; i++) {
        ssd_free(m->md_key[i]);
        ssd_free(m->md_val[i]);
    }
    ssd_free(m->md_key);
    ssd_free(m->md_val);
    ssd_free(m->v);
    ssd_free(m->n);
    ssd_free(m->outputs);
    ssd_free(m->prof);
    ssd_free(m->path);
    ssd_free(m);
}

/* ---- queries ------------------------------------------------------------------------------ */

const char *ssd_onnx_input_name(const ssd_onnx_model *m) {
    return m->v[m->input].name;
}

int ssd_onnx_input_dims(const ssd_onnx_model *m, int64_t dims[SSD_MAX_DIMS]) {
    memcpy(dims, m->in_dims, sizeof m->in_dims);
    return m->in_ndim;
}

int ssd_onnx_num_outputs(const ssd_onnx_model *m) {
    return m->nout;
}

const char *ssd_onnx_output_name(const ssd_onnx_model *m, int i) {
    return i >= 0 && i < m->nout ? m->v[m->outputs[i]].name : NULL;
}

int ssd_onnx_output_index(const ssd_onnx_model *m, const char *name) {
    for (int i = 0; i < m->nout; i++)
        if (strcmp(m->v[m->outputs[i]].name, name) == 0) return i;
    return -1;
}

const char *ssd_onnx_metadata(const ssd_onnx_model *m, const char *key) {
    for (int i = 0; i < m->nmd; i++)
        if (strcmp(m->md_key[i], key) == 0) return m->md_val[i];
    return NULL;
}

bool rt_is_nhwc_transpose(const rt_node *n) {
    return n->op == RT_OP_TRANSPOSE && n->has_ints && n->nints == 4 && n->ints[0] == 0 &&
           n->ints[1] == 2 && n->ints[2] == 3 && n->ints[3] == 1;
}

void ssd_onnx_get_stats(const ssd_onnx_model *m, ssd_onnx_stats *s) {
    *s = m->stats;
}
