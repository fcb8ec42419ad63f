#include "formats/pth.h"
#include "formats/pth_internal.h"

#include "core/mem.h"

#include <string.h>

void ssd_state_dict_init(ssd_state_dict *sd) {
    memset(sd, 0, sizeof *sd);
}

void ssd_state_dict_free(ssd_state_dict *sd) {
    if (!sd) return;
    for (int i = 0; i < sd->count; i++) {
        ssd_free(sd->t[i].name);
        ssd_free(sd->t[i].data);
    }
    ssd_free(sd->t);
    memset(sd, 0, sizeof *sd);
}

int64_t ssd_pth_tensor_numel(const ssd_pth_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

const ssd_pth_tensor *ssd_state_dict_find(const ssd_state_dict *sd, const char *name) {
    for (int i = 0; i < sd->count; i++)
        if (strcmp(sd->t[i].name, name) == 0) return &sd->t[i];
    return NULL;
}

ssd_status pth_sd_append_owned(ssd_state_dict *sd, char *name, ssd_dtype dt, int ndim,
                               const int64_t *shape, void *data) {
    if (sd->count == sd->cap) {
        int cap = sd->cap ? sd->cap * 2 : 16;
        ssd_pth_tensor *t = ssd_realloc(sd->t, (size_t)cap * sizeof *t);
        if (!t) return SSD_E_NOMEM;
        sd->t = t;
        sd->cap = cap;
    }
    ssd_pth_tensor *t = &sd->t[sd->count++];
    memset(t, 0, sizeof *t);
    t->name = name;
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->data = data;
    return SSD_OK;
}

ssd_status ssd_state_dict_add(ssd_state_dict *sd, const char *name, ssd_dtype dt, int ndim,
                              const int64_t *shape, const void *data) {
    if (ndim < 0 || ndim > SSD_MAX_DIMS)
        return ssd_error_set(SSD_E_INVAL, "%s: %d dimensions (at most %d)", name, ndim,
                             SSD_MAX_DIMS);
    if (ssd_state_dict_find(sd, name))
        return ssd_error_set(SSD_E_INVAL, "%s: duplicate state_dict key", name);
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (shape[i] > 0 && numel > INT64_MAX / 16 / shape[i]))
            return ssd_error_set(SSD_E_INVAL, "%s: bad shape", name);
        numel *= shape[i];
    }
    size_t nbytes = (size_t)numel * ssd_dtype_size(dt);
    char *nm = ssd_strdup(name);
    void *copy = ssd_aligned_alloc(nbytes);
    if (!nm || !copy) {
        ssd_free(nm);
        ssd_free(copy);
        return SSD_E_NOMEM;
    }
    if (nbytes) memcpy(copy, data, nbytes);
    ssd_status st = pth_sd_append_owned(sd, nm, dt, ndim, shape, copy);
    if (st != SSD_OK) {
        ssd_free(nm);
        ssd_free(copy);
    }
    return st;
}
