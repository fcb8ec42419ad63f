#include "train/train_state.h"

#include "core/mem.h"
#include "formats/pth.h"
#include "tensor/convert.h"

#include <stdio.h>
#include <string.h>

char *ssd_train_state_path(const char *checkpoint) {
    size_t n = strlen(checkpoint);
    if (n > 4 && strcmp(checkpoint + n - 4, ".pth") == 0) n -= 4;
    char *p = ssd_malloc(n + 7);
    if (!p) return NULL;
    memcpy(p, checkpoint, n);
    memcpy(p + n, ".state", 7);
    return p;
}

ssd_status ssd_train_state_save(const char *path, const ssd_sgd *opt, int64_t epoch,
                                uint64_t seed) {
    ssd_state_dict sd;
    ssd_state_dict_init(&sd);
    int64_t seed_i = (int64_t)seed, steps = opt->steps;
    ssd_status st = ssd_state_dict_add(&sd, "epoch", SSD_I64, 0, NULL, &epoch);
    if (st == SSD_OK) st = ssd_state_dict_add(&sd, "seed", SSD_I64, 0, NULL, &seed_i);
    if (st == SSD_OK) st = ssd_state_dict_add(&sd, "sgd_steps", SSD_I64, 0, NULL, &steps);
    float *buf = NULL;
    for (int i = 0; i < opt->params->n && st == SSD_OK; i++) {
        if (!opt->has_buf[i]) continue;
        const ssd_tensor *b = &opt->buf[i];
        size_t n = (size_t)ssd_tensor_numel(b);
        float *nb = ssd_realloc(buf, n * sizeof *buf);
        if (!nb) {
            st = SSD_E_NOMEM;
            break;
        }
        buf = nb;
        char key[160];
        snprintf(key, sizeof key, "momentum.%s", opt->params->p[i].name);
        st = ssd_tensor_get(b, buf, SSD_F32);
        if (st == SSD_OK) st = ssd_state_dict_add(&sd, key, SSD_F32, b->ndim, b->shape, buf);
    }
    if (st == SSD_OK) st = ssd_pth_save(&sd, path);
    ssd_free(buf);
    ssd_state_dict_free(&sd);
    return st;
}

static ssd_status scalar(const ssd_state_dict *sd, const char *path, const char *key, int64_t *v) {
    const ssd_pth_tensor *t = ssd_state_dict_find(sd, key);
    if (!t || ssd_pth_tensor_numel(t) != 1)
        return ssd_error_set(SSD_E_FORMAT, "%s: missing '%s'", path, key);
    return ssd_convert(v, SSD_I64, t->data, t->dtype, 1);
}

ssd_status ssd_train_state_load(const char *path, ssd_sgd *opt, int64_t *epoch, uint64_t *seed) {
    ssd_state_dict sd;
    ssd_state_dict_init(&sd);
    SSD_TRY(ssd_pth_load(&sd, path));
    int64_t s = 0, steps = 0;
    ssd_status st = scalar(&sd, path, "epoch", epoch);
    if (st == SSD_OK) st = scalar(&sd, path, "seed", &s);
    if (st == SSD_OK) st = scalar(&sd, path, "sgd_steps", &steps);
    *seed = (uint64_t)s;
    for (int i = 0; i < opt->params->n && st == SSD_OK; i++) {
        ssd_param *p = &opt->params->p[i];
        char key[160];
        snprintf(key, sizeof key, "momentum.%s", p->name);
        const ssd_pth_tensor *t = ssd_state_dict_find(&sd, key);
        if (!t) continue; /* frozen or not yet stepped */
        if (p->buffer || ssd_pth_tensor_numel(t) != ssd_tensor_numel(p->value)) {
            st = ssd_error_set(SSD_E_FORMAT, "%s: '%s' does not fit the model", path, key);
            break;
        }
        ssd_tensor_ensure(&opt->buf[i], p->value->be, SSD_F32, p->value->ndim, p->value->shape);
        st = ssd_tensor_set(&opt->buf[i], t->data, t->dtype);
        opt->has_buf[i] = st == SSD_OK;
    }
    opt->steps = steps;
    ssd_state_dict_free(&sd);
    return st;
}
