#include "nn/nn.h"

#include "core/mem.h"

#include <stdio.h>
#include <string.h>

void ssd_param_list_free(ssd_param_list *l) {
    ssd_free(l->p);
    memset(l, 0, sizeof *l);
}

ssd_param *ssd_param_find(const ssd_param_list *l, const char *name) {
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->p[i].name, name) == 0) return &l->p[i];
    return NULL;
}

static ssd_status add(ssd_param_list *list, const ssd_layer *l, const char *suffix, ssd_tensor *v,
                      int64_t *i64, ssd_tensor *g, ssd_param_group group) {
    if (list->n == list->cap) {
        int cap = list->cap ? list->cap * 2 : 64;
        ssd_param *p = ssd_realloc(list->p, (size_t)cap * sizeof *p);
        if (!p) return SSD_E_NOMEM;
        list->p = p;
        list->cap = cap;
    }
    ssd_param *p = &list->p[list->n++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s.%s", l->name, suffix);
    p->value = v;
    p->i64 = i64;
    p->grad = g;
    p->buffer = g == NULL;
    p->group = group;
    p->frozen = (bool *)&l->frozen;
    return SSD_OK;
}

ssd_status ssd_layer_params(ssd_layer *l, ssd_param_list *list, ssd_param_group group) {
    switch (l->kind) {
    case SSD_L_CONV:
        SSD_TRY(add(list, l, "weight", &l->u.conv.w, NULL, &l->u.conv.gw, group));
        if (l->u.conv.has_bias)
            SSD_TRY(add(list, l, "bias", &l->u.conv.b, NULL, &l->u.conv.gb, group));
        break;
    case SSD_L_BN:
        SSD_TRY(add(list, l, "weight", &l->u.bn.gamma, NULL, &l->u.bn.ggamma, group));
        SSD_TRY(add(list, l, "bias", &l->u.bn.beta, NULL, &l->u.bn.gbeta, group));
        SSD_TRY(add(list, l, "running_mean", &l->u.bn.running_mean, NULL, NULL, group));
        SSD_TRY(add(list, l, "running_var", &l->u.bn.running_var, NULL, NULL, group));
        SSD_TRY(
            add(list, l, "num_batches_tracked", NULL, &l->u.bn.num_batches_tracked, NULL, group));
        break;
    case SSD_L_L2NORM:
        SSD_TRY(add(list, l, "weight", &l->u.l2.scale, NULL, &l->u.l2.gscale, group));
        break;
    case SSD_L_ACT:
    case SSD_L_MAXPOOL:
    case SSD_L_GAP:
        break;
    }
    return SSD_OK;
}
