/* mb1-ssd: MobileNetV1 (vision/nn/mobilenet.py) under the SSD heads of
 * vision/ssd/mobilenetv1_ssd.py. Layer indices inside each module follow the
 * PyTorch Sequential, whose ReLU modules we fuse into the preceding layer, so
 * the names skip them (models/lite.c builds the MobileNetV1 it shares with
 * mb1-ssd-lite). */
#include "models/lite.h"
#include "models/model.h"

#include <stdio.h>

/* 1x1 conv + ReLU, then 3x3 stride-2 conv + ReLU, each with bias. */
static int extra(ssd_graph *g, int x, int idx, int cin, int mid, int cout) {
    char name[64];
    snprintf(name, sizeof name, "extras.%d.0", idx);
    x = ssd_graph_conv(g, x, name, cin, mid, 1, 1, 0, 1, 1, true, SSD_ACT_RELU);
    snprintf(name, sizeof name, "extras.%d.2", idx);
    return ssd_graph_conv(g, x, name, mid, cout, 3, 2, 1, 1, 1, true, SSD_ACT_RELU);
}

ssd_status ssd_build_mb1_ssd(ssd_model *m) {
    static const int head_in[6] = {512, 1024, 512, 256, 256, 256};
    static const int extras[4][3] = {
        {1024, 256, 512}, {512, 128, 256}, {256, 128, 256}, {256, 128, 256}};
    ssd_graph *g = &m->g;
    ssd_graph_set_section(g, SSD_SEC_BASE);
    int x = ssd_mobilenet_v1(g, m->input, &m->tap[0]); /* source layer 12: after base_net.11 */
    m->tap[1] = x;
    ssd_graph_set_section(g, SSD_SEC_EXTRAS);
    for (int e = 0; e < 4; e++) {
        x = extra(g, x, e, extras[e][0], extras[e][1], extras[e][2]);
        m->tap[2 + e] = x;
    }
    m->nheads = 6;
    for (int h = 0; h < 6; h++) {
        char name[64];
        m->anchors[h] = 6;
        ssd_graph_set_section(g, SSD_SEC_CLS);
        snprintf(name, sizeof name, "classification_headers.%d", h);
        m->cls_out[h] = ssd_graph_conv(g, m->tap[h], name, head_in[h], 6 * m->num_classes, 3, 1, 1,
                                       1, 1, true, SSD_ACT_NONE);
        ssd_graph_set_section(g, SSD_SEC_REG);
        snprintf(name, sizeof name, "regression_headers.%d", h);
        m->reg_out[h] = ssd_graph_conv(g, m->tap[h], name, head_in[h], 6 * 4, 3, 1, 1, 1, 1, true,
                                       SSD_ACT_NONE);
    }
    ssd_model_set_config(m, SSD_PRIORS_MOBILENETV1);
    return ssd_graph_status(g);
}
