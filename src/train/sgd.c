#include "train/sgd.h"

#include "core/mem.h"

#include <string.h>

ssd_status ssd_sgd_init(ssd_sgd *o, ssd_param_list *params, double momentum, double weight_decay) {
    memset(o, 0, sizeof *o);
    o->params = params;
    o->momentum = momentum;
    o->weight_decay = weight_decay;
    o->buf = ssd_calloc((size_t)(params->n ? params->n : 1), sizeof *o->buf);
    o->has_buf = ssd_calloc((size_t)(params->n ? params->n : 1), sizeof *o->has_buf);
    if (!o->buf || !o->has_buf) {
        ssd_sgd_deinit(o);
        return SSD_E_NOMEM;
    }
    return SSD_OK;
}

void ssd_sgd_deinit(ssd_sgd *o) {
    if (o->buf && o->params)
        for (int i = 0; i < o->params->n; i++) ssd_tensor_deinit(&o->buf[i]);
    ssd_free(o->buf);
    ssd_free(o->has_buf);
    o->buf = NULL;
    o->has_buf = NULL;
}

/* Host-resident plain tensors (ref and cpu backends): update in place. */
static ssd_status step_host(ssd_sgd *o, int i, double lr) {
    ssd_param *p = &o->params->p[i];
    SSD_TRY(ssd_tensor_to_plain(p->grad));
    SSD_TRY(ssd_tensor_to_plain(p->value));
    ssd_tensor *b = &o->buf[i];
    int64_t n = ssd_tensor_numel(p->value);
    if (!o->has_buf[i]) {
        ssd_tensor_init(b, p->value->be, p->value->dtype, p->value->ndim, p->value->shape);
        SSD_TRY(ssd_tensor_alloc(b));
    }
    if (p->value->dtype == SSD_F64) { /* the reference backend's exact runs */
        double *w = p->value->data, *bf = b->data, m = o->momentum, wd = o->weight_decay;
        const double *g = p->grad->data;
        for (int64_t k = 0; k < n; k++) {
            double d = g[k] + wd * w[k];
            bf[k] = o->has_buf[i] ? m * bf[k] + d : d;
            w[k] -= lr * bf[k];
        }
        o->has_buf[i] = true;
        p->value->version++;
        return SSD_OK;
    }
    float *w = p->value->data, *bf = b->data;
    const float *g = p->grad->data;
    float m = (float)o->momentum, wd = (float)o->weight_decay, a = (float)lr;
    if (!o->has_buf[i]) {
        for (int64_t k = 0; k < n; k++) {
            bf[k] = g[k] + wd * w[k];
            w[k] -= a * bf[k];
        }
        o->has_buf[i] = true;
    } else {
        for (int64_t k = 0; k < n; k++) {
            bf[k] = m * bf[k] + (g[k] + wd * w[k]);
            w[k] -= a * bf[k];
        }
    }
    p->value->version++;
    return SSD_OK;
}

/* Backends with device storage update in place with their own kernel. */
static ssd_status step_backend(ssd_sgd *o, int i, double lr) {
    ssd_param *p = &o->params->p[i];
    ssd_backend *be = p->value->be;
    SSD_TRY(ssd_tensor_to_plain(p->grad));
    SSD_TRY(ssd_tensor_to_plain(p->value));
    SSD_TRY(be->ops->sgd_update(be, p->value, p->grad, &o->buf[i], lr, o->momentum, o->weight_decay,
                                !o->has_buf[i]));
    o->has_buf[i] = true;
    return SSD_OK;
}

ssd_status ssd_sgd_step(ssd_sgd *o) {
    for (int i = 0; i < o->params->n; i++) {
        ssd_param *p = &o->params->p[i];
        if (p->buffer || *p->frozen) continue;
        if (p->value->dtype != SSD_F32 && p->value->dtype != SSD_F64)
            return ssd_error_set(SSD_E_UNSUPPORTED, "sgd: %s is not float32", p->name);
        if (p->value->be->ops->sgd_update && p->value->dtype == SSD_F32)
            SSD_TRY(step_backend(o, i, o->lr[p->group]));
        else
            SSD_TRY(step_host(o, i, o->lr[p->group]));
    }
    o->steps++;
    return SSD_OK;
}
