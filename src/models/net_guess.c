#include "models/net_guess.h"

#include "core/mem.h"
#include "models/model.h"

#include <stdio.h>
#include <string.h>

static bool is_head(const char *k) {
    return strncmp(k, "classification_headers.", 23) == 0 ||
           strncmp(k, "regression_headers.", 19) == 0;
}

static bool same_keys(const ssd_model *m, const ssd_state_dict *sd) {
    int want = 0;
    for (int i = 0; i < sd->count; i++) want += !is_head(sd->t[i].name);
    int have = 0;
    for (int i = 0; i < m->params.n; i++) {
        const ssd_param *p = &m->params.p[i];
        if (is_head(p->name)) continue;
        have++;
        const ssd_pth_tensor *t = ssd_state_dict_find(sd, p->name);
        if (!t) return false;
        if (p->i64) continue;
        if (t->ndim != p->value->ndim) return false;
        for (int d = 0; d < t->ndim; d++)
            if (t->shape[d] != p->value->shape[d]) return false;
    }
    return have == want && have > 0;
}

const char *ssd_net_guess(const ssd_state_dict *sd, ssd_backend *be) {
    static const char *const nets[] = {"mb1-ssd",           "mb1-ssd-lite", "mb2-ssd-lite",
                                       "sq-ssd-lite",       "vgg16-ssd",    "mb3-large-ssd-lite",
                                       "mb3-small-ssd-lite"};
    char saved[SSD_ERROR_MSG_CAP];
    snprintf(saved, sizeof saved, "%s", ssd_error_message());
    const char *found = NULL;
    for (size_t i = 0; i < sizeof nets / sizeof nets[0] && !found; i++) {
        if (!ssd_net_supported(nets[i])) continue;
        ssd_model *m = NULL;
        if (ssd_model_create(&m, be, nets[i], 2, 300) != SSD_OK) continue;
        if (same_keys(m, sd)) found = nets[i];
        ssd_model_destroy(m);
    }
    ssd_error_set(SSD_OK, "%s", saved);
    return found;
}
