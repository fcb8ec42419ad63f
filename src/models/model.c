#include "models/model.h"

#include "core/mem.h"

#include <stdio.h>
#include <string.h>

static const char *const known_nets[] = {"mb1-ssd",           "mb1-ssd-lite", "mb2-ssd-lite",
                                         "sq-ssd-lite",       "vgg16-ssd",    "mb3-large-ssd-lite",
                                         "mb3-small-ssd-lite"};

bool ssd_net_known(const char *net) {
    for (size_t i = 0; i < sizeof known_nets / sizeof known_nets[0]; i++)
        if (strcmp(net, known_nets[i]) == 0) return true;
    return false;
}

typedef ssd_status (*builder_fn)(ssd_model *m);
typedef ssd_status (*layer_fn)(ssd_layer *l, ssd_rng *rng);
static ssd_status apply(ssd_model *m, ssd_rng *rng, layer_fn fn, bool base, bool extras,
                        bool heads);

static builder_fn builder_of(const char *net) {
    if (strcmp(net, "mb1-ssd") == 0) return ssd_build_mb1_ssd;
    if (strcmp(net, "mb2-ssd-lite") == 0) return ssd_build_mb2_ssd_lite;
    if (strcmp(net, "mb3-large-ssd-lite") == 0) return ssd_build_mb3_large_ssd_lite;
    if (strcmp(net, "mb3-small-ssd-lite") == 0) return ssd_build_mb3_small_ssd_lite;
    if (strcmp(net, "mb1-ssd-lite") == 0) return ssd_build_mb1_ssd_lite;
    if (strcmp(net, "vgg16-ssd") == 0) return ssd_build_vgg16_ssd;
    if (strcmp(net, "sq-ssd-lite") == 0) return ssd_build_sq_ssd_lite;
    return NULL;
}

bool ssd_net_supported(const char *net) {
    return builder_of(net) != NULL;
}

/* Feature-map sizes of the heads by shape inference through the graph. */
static ssd_status feature_maps(ssd_model *m) {
    int64_t s[4] = {1, 3, m->resolution, m->resolution};
    SSD_TRY(ssd_graph_infer_shapes(&m->g, s));
    for (int h = 0; h < m->nheads; h++) {
        const ssd_node *nd = &m->g.nodes[m->tap[h]];
        if (nd->ndim != 4 || nd->shape[2] < 1 || nd->shape[3] < 1)
            return ssd_error_set(SSD_E_INVAL,
                                 "%s: resolution %d leaves no feature map for header %d", m->net,
                                 m->resolution, h);
        m->feature_maps[h] = (int)nd->shape[2];
    }
    return SSD_OK;
}

static ssd_status make_priors(ssd_model *m) {
    switch (m->priors_family) {
    case SSD_PRIORS_MOBILENETV1:
        if (m->nheads != 6) break;
        ssd_priors_specs_mobilenetv1(m->resolution, m->feature_maps, m->specs);
        return ssd_priors_generate(m->specs, m->nheads, m->resolution, true, &m->priors,
                                   &m->num_priors);
    case SSD_PRIORS_SQUEEZENET:
        if (m->nheads != 6) break;
        ssd_priors_specs_squeezenet(m->resolution, m->feature_maps, m->specs);
        return ssd_priors_generate(m->specs, m->nheads, m->resolution, true, &m->priors,
                                   &m->num_priors);
    case SSD_PRIORS_VGG:
        if (m->nheads != 6) break;
        ssd_priors_specs_vgg(m->resolution, m->feature_maps, m->specs);
        return ssd_priors_generate(m->specs, m->nheads, m->resolution, true, &m->priors,
                                   &m->num_priors);
    }
    return ssd_error_set(SSD_E_INVAL, "%s: no prior configuration for %d heads", m->net, m->nheads);
}

/* The header reshapes and the two concats after the builder's graph. */
static ssd_status finish_graph(ssd_model *m) {
    ssd_graph *g = &m->g;
    int cs[SSD_MAX_HEADS], rs[SSD_MAX_HEADS];
    for (int h = 0; h < m->nheads; h++) {
        cs[h] = ssd_graph_head(g, m->cls_out[h], m->num_classes);
        rs[h] = ssd_graph_head(g, m->reg_out[h], 4);
    }
    m->conf_node = ssd_graph_concat(g, cs, m->nheads, 1);
    m->loc_node = ssd_graph_concat(g, rs, m->nheads, 1);
    SSD_TRY(ssd_graph_status(g));
    ssd_graph_bind_output(g, m->conf_node, &m->conf);
    ssd_graph_bind_output(g, m->loc_node, &m->loc);
    return SSD_OK;
}

ssd_status ssd_model_create(ssd_model **out, ssd_backend *be, const char *net, int num_classes,
                            int resolution) {
    return ssd_model_create_wm(out, be, net, num_classes, resolution, 1.0f);
}

ssd_status ssd_model_create_wm(ssd_model **out, ssd_backend *be, const char *net, int num_classes,
                               int resolution, float width_mult) {
    *out = NULL;
    if (!ssd_net_known(net)) return ssd_error_set(SSD_E_INVAL, "unknown net '%s'", net);
    builder_fn build = builder_of(net);
    if (!build || !ssd_net_supported(net))
        return ssd_error_set(SSD_E_UNSUPPORTED, "net '%s' is not supported yet", net);
    if (num_classes < 2)
        return ssd_error_set(SSD_E_INVAL, "need at least 2 classes (BACKGROUND + 1), got %d",
                             num_classes);
    if (resolution == 0) resolution = 300;
    if (resolution < 64 || resolution > 4096)
        return ssd_error_set(SSD_E_INVAL, "resolution %d out of range [64, 4096]", resolution);
    if (!(width_mult > 0.0f && width_mult <= 4.0f))
        return ssd_error_set(SSD_E_INVAL, "width multiplier %g out of range (0, 4]",
                             (double)width_mult);
    ssd_model *m = ssd_calloc(1, sizeof *m);
    if (!m) return SSD_E_NOMEM;
    snprintf(m->net, sizeof m->net, "%s", net);
    m->be = be;
    m->num_classes = num_classes;
    m->resolution = resolution;
    m->width_mult = width_mult;
    ssd_graph_init(&m->g, be);
    ssd_graph_set_section(&m->g, SSD_SEC_BASE);
    m->input = ssd_graph_input(&m->g);
    ssd_status st = build(m);
    if (st == SSD_OK) st = ssd_graph_status(&m->g);
    if (st == SSD_OK && (m->nheads < 1 || m->nheads > SSD_MAX_HEADS))
        st = ssd_error_set(SSD_E_INVAL, "%s: %d headers", net, m->nheads);
    if (st == SSD_OK) st = finish_graph(m);
    if (st == SSD_OK) st = ssd_graph_params(&m->g, &m->params);
    if (st == SSD_OK) st = feature_maps(m);
    if (st == SSD_OK) st = make_priors(m);
    if (st == SSD_OK) {
        /* pytorch-ssd's nets are created with PyTorch's default init. */
        ssd_rng rng;
        ssd_rng_init(&rng, 0, 0);
        st = apply(m, &rng, ssd_layer_reset, true, true, true);
        ssd_model_set_frozen(m, false, false);
    }
    if (st != SSD_OK) {
        ssd_model_destroy(m);
        return st;
    }
    *out = m;
    return SSD_OK;
}

void ssd_model_destroy(ssd_model *m) {
    if (!m) return;
    ssd_graph_deinit(&m->g);
    ssd_tensor_deinit(&m->conf);
    ssd_tensor_deinit(&m->loc);
    ssd_tensor_deinit(&m->dconf);
    ssd_tensor_deinit(&m->dloc);
    ssd_free(m->priors);
    ssd_param_list_free(&m->params);
    ssd_free(m);
}

void ssd_model_set_config(ssd_model *m, ssd_priors_family family) {
    static const float vgg_mean[3] = {123.0f, 117.0f, 104.0f};
    for (int c = 0; c < 3; c++) m->image_mean[c] = family == SSD_PRIORS_VGG ? vgg_mean[c] : 127.0f;
    /* vgg's predictor leaves image_std at its default 1.0 */
    m->image_std = family == SSD_PRIORS_VGG ? 1.0f : 128.0f;
    m->center_variance = 0.1f;
    m->size_variance = 0.2f;
    m->iou_threshold = 0.45f;
    m->priors_family = family;
}

ssd_layer *ssd_model_find_layer(ssd_model *m, const char *name) {
    for (int i = 0; i < m->g.n; i++) {
        ssd_layer *l = m->g.nodes[i].layer;
        if (l && strcmp(l->name, name) == 0) return l;
    }
    return NULL;
}

/* Runs fn on the layers of the base, the extras (with the source-layer add-ons,
 * which train with them) and the headers, in state_dict order. */
static ssd_status apply(ssd_model *m, ssd_rng *rng, layer_fn fn, bool base, bool extras,
                        bool heads) {
    int *ids, n;
    SSD_TRY(ssd_graph_layer_order(&m->g, &ids, &n));
    ssd_status st = SSD_OK;
    for (int i = 0; i < n && st == SSD_OK; i++) {
        const ssd_node *nd = &m->g.nodes[ids[i]];
        bool on = nd->section == SSD_SEC_BASE                                      ? base
                  : nd->section == SSD_SEC_EXTRAS || nd->section == SSD_SEC_ADDONS ? extras
                                                                                   : heads;
        if (on) st = fn(nd->layer, rng);
    }
    ssd_free(ids);
    return st;
}

ssd_status ssd_model_init_xavier(ssd_model *m, uint64_t seed) {
    ssd_rng rng;
    ssd_rng_init(&rng, seed, 1);
    SSD_TRY(apply(m, &rng, ssd_layer_reset, true, true, true));
    return apply(m, &rng, ssd_layer_xavier, true, true, true);
}

ssd_status ssd_model_init_heads_xavier(ssd_model *m, uint64_t seed) {
    ssd_rng rng;
    ssd_rng_init(&rng, seed, 2);
    SSD_TRY(apply(m, &rng, ssd_layer_reset, false, false, true));
    return apply(m, &rng, ssd_layer_xavier, false, false, true);
}

ssd_status ssd_model_init_non_base_xavier(ssd_model *m, uint64_t seed) {
    ssd_rng rng;
    ssd_rng_init(&rng, seed, 3);
    SSD_TRY(apply(m, &rng, ssd_layer_reset, false, true, true));
    return apply(m, &rng, ssd_layer_xavier, false, true, true);
}

ssd_status ssd_model_set_precision(ssd_model *m, ssd_precision p) {
    SSD_TRY(ssd_backend_infer_precision(m->be, p));
    for (int i = 0; i < m->g.n; i++) {
        ssd_layer *l = m->g.nodes[i].layer;
        if (l && l->kind == SSD_L_CONV)
            l->u.conv.p.prec = p == SSD_PREC_BF16 ? SSD_CONV_BF16 : SSD_CONV_F32;
    }
    return SSD_OK;
}

void ssd_model_set_frozen(ssd_model *m, bool freeze_base, bool freeze_net) {
    bool f[SSD_SEC__COUNT] = {0};
    f[SSD_SEC_BASE] = freeze_base || freeze_net;
    f[SSD_SEC_EXTRAS] = f[SSD_SEC_ADDONS] = freeze_net;
    ssd_graph_set_frozen(&m->g, f);
}

int64_t ssd_model_num_params(const ssd_model *m) {
    int64_t n = 0;
    for (int i = 0; i < m->params.n; i++)
        if (!m->params.p[i].buffer) n += ssd_tensor_numel(m->params.p[i].value);
    return n;
}

ssd_status ssd_model_forward(ssd_model *m, const ssd_tensor *x, bool training) {
    SSD_TRY(ssd_graph_forward(&m->g, x, training));
    m->conf.version++;
    m->loc.version++;
    return SSD_OK;
}

ssd_status ssd_model_backward(ssd_model *m) {
    int outs[2] = {m->conf_node, m->loc_node};
    const ssd_tensor *grads[2] = {&m->dconf, &m->dloc};
    return ssd_graph_backward(&m->g, outs, grads, 2);
}

ssd_status ssd_model_to_dtype(ssd_model *m, ssd_dtype dt) {
    for (int i = 0; i < m->params.n; i++) {
        ssd_tensor *t = m->params.p[i].value;
        if (!t || t->dtype == dt) continue;
        int64_t n = ssd_tensor_numel(t), shape[SSD_MAX_DIMS];
        int ndim = t->ndim;
        memcpy(shape, t->shape, sizeof shape);
        double *h = ssd_malloc((size_t)n * sizeof *h);
        if (!h) return SSD_E_NOMEM;
        ssd_status st = ssd_tensor_get(t, h, SSD_F64);
        if (st == SSD_OK) {
            ssd_backend *be = t->be;
            ssd_tensor_deinit(t);
            ssd_tensor_init(t, be, dt, ndim, shape);
            st = ssd_tensor_alloc(t);
            if (st == SSD_OK) st = ssd_tensor_set(t, h, SSD_F64);
        }
        ssd_free(h);
        SSD_TRY(st);
    }
    return SSD_OK;
}
