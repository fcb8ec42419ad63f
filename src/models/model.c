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

bool ssd_net_supported(const char *net) {
    return strcmp(net, "mb1-ssd") == 0;
}

ssd_status ssd_model_alloc_layout(ssd_model *m, int nbase, int nextras, int nheads) {
    if (nheads > SSD_MAX_HEADS) return ssd_error_set(SSD_E_INVAL, "too many heads");
    m->base = ssd_calloc((size_t)nbase, sizeof *m->base);
    m->extras = ssd_calloc((size_t)(nextras ? nextras : 1), sizeof *m->extras);
    m->cls = ssd_calloc((size_t)nheads, sizeof *m->cls);
    m->reg = ssd_calloc((size_t)nheads, sizeof *m->reg);
    if (!m->base || !m->extras || !m->cls || !m->reg) return SSD_E_NOMEM;
    m->nbase = nbase;
    m->nextras = nextras;
    m->nheads = nheads;
    return SSD_OK;
}

typedef ssd_status (*layer_fn)(ssd_layer *l, ssd_rng *rng);
static ssd_status apply(ssd_model *m, ssd_rng *rng, layer_fn fn, bool base, bool extras,
                        bool heads);

static ssd_status register_params(ssd_model *m) {
    for (int i = 0; i < m->nbase; i++)
        for (int j = 0; j < m->base[i].n; j++)
            SSD_TRY(ssd_layer_params(&m->base[i].l[j], &m->params, SSD_GROUP_BASE));
    for (int i = 0; i < m->nextras; i++)
        for (int j = 0; j < m->extras[i].n; j++)
            SSD_TRY(ssd_layer_params(&m->extras[i].l[j], &m->params, SSD_GROUP_EXTRAS));
    for (int h = 0; h < m->nheads; h++)
        SSD_TRY(ssd_layer_params(&m->cls[h], &m->params, SSD_GROUP_HEADS));
    for (int h = 0; h < m->nheads; h++)
        SSD_TRY(ssd_layer_params(&m->reg[h], &m->params, SSD_GROUP_HEADS));
    return SSD_OK;
}

/* Feature-map sizes of the heads by shape inference through the layers. */
static void feature_maps(ssd_model *m) {
    int64_t s[4] = {1, 3, m->resolution, m->resolution}, o[4];
    int h = 0, start = 0;
    for (int k = 0; k < m->nsrc; k++) {
        for (int i = start; i < m->src[k]; i++)
            for (int j = 0; j < m->base[i].n; j++) {
                ssd_layer_out_shape(&m->base[i].l[j], s, o);
                memcpy(s, o, sizeof s);
            }
        start = m->src[k];
        m->feature_maps[h++] = (int)s[2];
    }
    for (int i = start; i < m->nbase; i++)
        for (int j = 0; j < m->base[i].n; j++) {
            ssd_layer_out_shape(&m->base[i].l[j], s, o);
            memcpy(s, o, sizeof s);
        }
    for (int e = 0; e < m->nextras; e++) {
        for (int j = 0; j < m->extras[e].n; j++) {
            ssd_layer_out_shape(&m->extras[e].l[j], s, o);
            memcpy(s, o, sizeof s);
        }
        m->feature_maps[h++] = (int)s[2];
    }
}

ssd_status ssd_model_create(ssd_model **out, ssd_backend *be, const char *net, int num_classes,
                            int resolution) {
    *out = NULL;
    if (!ssd_net_known(net)) return ssd_error_set(SSD_E_INVAL, "unknown net '%s'", net);
    if (!ssd_net_supported(net))
        return ssd_error_set(SSD_E_UNSUPPORTED, "net '%s' is not supported yet (only mb1-ssd)",
                             net);
    if (num_classes < 2)
        return ssd_error_set(SSD_E_INVAL, "need at least 2 classes (BACKGROUND + 1), got %d",
                             num_classes);
    if (resolution == 0) resolution = 300;
    if (resolution < 64 || resolution > 4096)
        return ssd_error_set(SSD_E_INVAL, "resolution %d out of range [64, 4096]", resolution);
    ssd_model *m = ssd_calloc(1, sizeof *m);
    if (!m) return SSD_E_NOMEM;
    snprintf(m->net, sizeof m->net, "%s", net);
    m->be = be;
    m->num_classes = num_classes;
    m->resolution = resolution;
    ssd_status st = ssd_build_mb1_ssd(m);
    if (st == SSD_OK) st = register_params(m);
    if (st == SSD_OK) {
        feature_maps(m);
        ssd_priors_specs_mobilenetv1(resolution, m->feature_maps, m->specs);
        st = ssd_priors_generate(m->specs, m->nheads, resolution, true, &m->priors, &m->num_priors);
    }
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
    for (int i = 0; i < m->nbase; i++) ssd_seq_deinit(&m->base[i]);
    for (int i = 0; i < m->nextras; i++) ssd_seq_deinit(&m->extras[i]);
    for (int h = 0; h < m->nheads; h++) {
        if (m->cls) ssd_layer_deinit(&m->cls[h]);
        if (m->reg) ssd_layer_deinit(&m->reg[h]);
    }
    for (int h = 0; h < SSD_MAX_HEADS; h++) {
        ssd_tensor *ts[] = {&m->cls_p[h],  &m->reg_p[h],  &m->dcls_p[h], &m->dreg_p[h],
                            &m->dcls_y[h], &m->dreg_y[h], &m->head_g[h], &m->tap_g[h]};
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) ssd_tensor_deinit(ts[i]);
    }
    ssd_tensor_deinit(&m->conf);
    ssd_tensor_deinit(&m->loc);
    ssd_tensor_deinit(&m->dconf);
    ssd_tensor_deinit(&m->dloc);
    ssd_free(m->base);
    ssd_free(m->extras);
    ssd_free(m->cls);
    ssd_free(m->reg);
    ssd_free(m->priors);
    ssd_param_list_free(&m->params);
    ssd_free(m);
}

static ssd_status apply(ssd_model *m, ssd_rng *rng, layer_fn fn, bool base, bool extras,
                        bool heads) {
    if (base)
        for (int i = 0; i < m->nbase; i++)
            for (int j = 0; j < m->base[i].n; j++) SSD_TRY(fn(&m->base[i].l[j], rng));
    if (extras)
        for (int i = 0; i < m->nextras; i++)
            for (int j = 0; j < m->extras[i].n; j++) SSD_TRY(fn(&m->extras[i].l[j], rng));
    if (heads) {
        for (int h = 0; h < m->nheads; h++) SSD_TRY(fn(&m->cls[h], rng));
        for (int h = 0; h < m->nheads; h++) SSD_TRY(fn(&m->reg[h], rng));
    }
    return SSD_OK;
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

void ssd_model_set_frozen(ssd_model *m, bool freeze_base, bool freeze_net) {
    bool trainable_before = false; /* along the trunk, in forward order */
    int h = 0, start = 0;
    for (int k = 0; k < m->nsrc; k++) {
        for (int i = start; i < m->src[k]; i++)
            for (int j = 0; j < m->base[i].n; j++) {
                ssd_layer *l = &m->base[i].l[j];
                l->frozen = freeze_base || freeze_net;
                l->need_dx = trainable_before;
                if (!l->frozen) trainable_before = true;
            }
        start = m->src[k];
        m->cls[h].frozen = m->reg[h].frozen = false;
        m->cls[h].need_dx = m->reg[h].need_dx = trainable_before;
        h++;
    }
    for (int i = start; i < m->nbase; i++)
        for (int j = 0; j < m->base[i].n; j++) {
            ssd_layer *l = &m->base[i].l[j];
            l->frozen = freeze_base || freeze_net;
            l->need_dx = trainable_before;
            if (!l->frozen) trainable_before = true;
        }
    for (int e = 0; e < m->nextras; e++) {
        for (int j = 0; j < m->extras[e].n; j++) {
            ssd_layer *l = &m->extras[e].l[j];
            l->frozen = freeze_net;
            l->need_dx = trainable_before;
            if (!l->frozen) trainable_before = true;
        }
        m->cls[h].frozen = m->reg[h].frozen = false;
        m->cls[h].need_dx = m->reg[h].need_dx = trainable_before;
        h++;
    }
}

int64_t ssd_model_num_params(const ssd_model *m) {
    int64_t n = 0;
    for (int i = 0; i < m->params.n; i++)
        if (!m->params.p[i].buffer) n += ssd_tensor_numel(m->params.p[i].value);
    return n;
}

static ssd_status header_fwd(ssd_model *m, int h, const ssd_tensor *x, bool training) {
    const ssd_backend_ops *ops = m->be->ops;
    ssd_head_params pc = {m->num_classes}, pr = {4};
    SSD_TRY(ssd_layer_forward(&m->cls[h], x, training));
    SSD_TRY(ops->head_permute_fwd(m->be, &m->cls_p[h], m->cls[h].y, &pc));
    SSD_TRY(ssd_layer_forward(&m->reg[h], x, training));
    SSD_TRY(ops->head_permute_fwd(m->be, &m->reg_p[h], m->reg[h].y, &pr));
    return SSD_OK;
}

ssd_status ssd_model_forward(ssd_model *m, const ssd_tensor *x, bool training) {
    int h = 0, start = 0;
    for (int k = 0; k < m->nsrc; k++) {
        for (int i = start; i < m->src[k]; i++)
            SSD_TRY(ssd_seq_forward(&m->base[i], x, training, &x));
        start = m->src[k];
        SSD_TRY(header_fwd(m, h++, x, training));
    }
    for (int i = start; i < m->nbase; i++) SSD_TRY(ssd_seq_forward(&m->base[i], x, training, &x));
    for (int e = 0; e < m->nextras; e++) {
        SSD_TRY(ssd_seq_forward(&m->extras[e], x, training, &x));
        SSD_TRY(header_fwd(m, h++, x, training));
    }
    const ssd_tensor *cs[SSD_MAX_HEADS], *rs[SSD_MAX_HEADS];
    for (int i = 0; i < m->nheads; i++) {
        cs[i] = &m->cls_p[i];
        rs[i] = &m->reg_p[i];
    }
    SSD_TRY(m->be->ops->concat_fwd(m->be, &m->conf, cs, m->nheads, 1));
    SSD_TRY(m->be->ops->concat_fwd(m->be, &m->loc, rs, m->nheads, 1));
    m->conf.version++;
    m->loc.version++;
    return SSD_OK;
}

/* Sum of two optional gradients into buf; NULL when both are absent. */
static ssd_status grad_sum(ssd_model *m, ssd_tensor *buf, const ssd_tensor *a, const ssd_tensor *b,
                           const ssd_tensor **out) {
    if (!a || !b) {
        *out = a ? a : b;
        return SSD_OK;
    }
    SSD_TRY(m->be->ops->add(m->be, buf, a, b));
    buf->version++;
    *out = buf;
    return SSD_OK;
}

/* Backward through header h (its dcls_p/dreg_p already split); *g is the
 * gradient w.r.t. its input, or NULL when nothing before it trains. */
static ssd_status header_bwd(ssd_model *m, int h, bool training, const ssd_tensor **g) {
    const ssd_backend_ops *ops = m->be->ops;
    ssd_head_params pc = {m->num_classes}, pr = {4};
    SSD_TRY(ops->head_permute_bwd(m->be, &m->dcls_y[h], &m->dcls_p[h], m->cls[h].y, &pc));
    SSD_TRY(ssd_layer_backward(&m->cls[h], &m->dcls_y[h], training));
    SSD_TRY(ops->head_permute_bwd(m->be, &m->dreg_y[h], &m->dreg_p[h], m->reg[h].y, &pr));
    SSD_TRY(ssd_layer_backward(&m->reg[h], &m->dreg_y[h], training));
    if (!m->cls[h].need_dx) {
        *g = NULL;
        return SSD_OK;
    }
    return grad_sum(m, &m->head_g[h], m->cls[h].dx, m->reg[h].dx, g);
}

static ssd_status module_bwd(ssd_seq *s, const ssd_tensor **g) {
    if (!*g || s->n == 0) return SSD_OK;
    return ssd_seq_backward(s, *g, true, g);
}

ssd_status ssd_model_backward(ssd_model *m) {
    const ssd_backend_ops *ops = m->be->ops;
    ssd_tensor *dcs[SSD_MAX_HEADS], *drs[SSD_MAX_HEADS];
    const ssd_tensor *cs[SSD_MAX_HEADS], *rs[SSD_MAX_HEADS];
    for (int i = 0; i < m->nheads; i++) {
        dcs[i] = &m->dcls_p[i];
        drs[i] = &m->dreg_p[i];
        cs[i] = &m->cls_p[i];
        rs[i] = &m->reg_p[i];
    }
    SSD_TRY(ops->concat_bwd(m->be, dcs, &m->dconf, cs, m->nheads, 1));
    SSD_TRY(ops->concat_bwd(m->be, drs, &m->dloc, rs, m->nheads, 1));

    const ssd_tensor *g = NULL, *hg;
    int h = m->nheads - 1;
    for (int e = m->nextras - 1; e >= 0; e--, h--) {
        SSD_TRY(header_bwd(m, h, true, &hg));
        SSD_TRY(grad_sum(m, &m->tap_g[h], g, hg, &g));
        SSD_TRY(module_bwd(&m->extras[e], &g));
    }
    int end = m->nsrc ? m->src[m->nsrc - 1] : 0;
    for (int i = m->nbase - 1; i >= end; i--) SSD_TRY(module_bwd(&m->base[i], &g));
    for (int k = m->nsrc - 1; k >= 0; k--, h--) {
        SSD_TRY(header_bwd(m, h, true, &hg));
        SSD_TRY(grad_sum(m, &m->tap_g[h], g, hg, &g));
        int lo = k ? m->src[k - 1] : 0;
        for (int i = m->src[k] - 1; i >= lo; i--) SSD_TRY(module_bwd(&m->base[i], &g));
    }
    return SSD_OK;
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
