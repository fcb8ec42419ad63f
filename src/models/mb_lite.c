/* SSD-Lite heads of mb2-ssd-lite and the mb3 nets (see mb_lite.h). */
#include "models/mb_lite.h"

#include <stdio.h>

int ssd_mb_lite_header(ssd_graph *g, int x, const char *kind, int h, int cin, int cout, bool last) {
    char name[96];
    if (last) {
        snprintf(name, sizeof name, "%s.%d", kind, h);
        return ssd_graph_conv(g, x, name, cin, cout, 1, 1, 0, 1, 1, true, SSD_ACT_NONE);
    }
    snprintf(name, sizeof name, "%s.%d.0", kind, h);
    x = ssd_graph_conv(g, x, name, cin, cin, 3, 1, 1, 1, cin, true, SSD_ACT_NONE);
    snprintf(name, sizeof name, "%s.%d.1", kind, h);
    x = ssd_graph_bn(g, x, name, cin, SSD_ACT_RELU6);
    snprintf(name, sizeof name, "%s.%d.3", kind, h);
    return ssd_graph_conv(g, x, name, cin, cout, 1, 1, 0, 1, 1, true, SSD_ACT_NONE);
}

ssd_status ssd_mb_lite_heads(ssd_model *m, const int head_in[6]) {
    ssd_graph *g = &m->g;
    m->nheads = 6;
    for (int h = 0; h < 6; h++) {
        m->anchors[h] = 6;
        ssd_graph_set_section(g, SSD_SEC_CLS);
        m->cls_out[h] = ssd_mb_lite_header(g, m->tap[h], "classification_headers", h, head_in[h],
                                           6 * m->num_classes, h == 5);
        ssd_graph_set_section(g, SSD_SEC_REG);
        m->reg_out[h] =
            ssd_mb_lite_header(g, m->tap[h], "regression_headers", h, head_in[h], 6 * 4, h == 5);
    }
    ssd_model_set_config(m, SSD_PRIORS_MOBILENETV1);
    return ssd_graph_status(g);
}
