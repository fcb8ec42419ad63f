/* mb1-ssd: MobileNetV1 (vision/nn/mobilenet.py) under the SSD heads of
 * vision/ssd/mobilenetv1_ssd.py. Layer indices inside each module follow the
 * PyTorch Sequential, whose ReLU modules we fuse into the preceding layer, so
 * the names skip them (conv_dw: .0 conv, .1 bn, .3 conv, .4 bn). */
#include "models/model.h"

#include <stdio.h>

static int conv_bn(ssd_graph *g, int x, int idx, int cin, int cout, int stride) {
    char name[64];
    snprintf(name, sizeof name, "base_net.%d.0", idx);
    x = ssd_graph_conv(g, x, name, cin, cout, 3, stride, 1, 1, 1, false, SSD_ACT_NONE);
    snprintf(name, sizeof name, "base_net.%d.1", idx);
    return ssd_graph_bn(g, x, name, cout, SSD_ACT_RELU);
}

static int conv_dw(ssd_graph *g, int x, int idx, int cin, int cout, int stride) {
    char name[64];
    snprintf(name, sizeof name, "base_net.%d.0", idx);
    x = ssd_graph_conv(g, x, name, cin, cin, 3, stride, 1, 1, cin, false, SSD_ACT_NONE);
    snprintf(name, sizeof name, "base_net.%d.1", idx);
    x = ssd_graph_bn(g, x, name, cin, SSD_ACT_RELU);
    snprintf(name, sizeof name, "base_net.%d.3", idx);
    x = ssd_graph_conv(g, x, name, cin, cout, 1, 1, 0, 1, 1, false, SSD_ACT_NONE);
    snprintf(name, sizeof name, "base_net.%d.4", idx);
    return ssd_graph_bn(g, x, name, cout, SSD_ACT_RELU);
}

/* 1x1 conv + ReLU, then 3x3 stride-2 conv + ReLU, each with bias. */
static int extra(ssd_graph *g, int x, int idx, int cin, int mid, int cout) {
    char name[64];
    snprintf(name, sizeof name, "extras.%d.0", idx);
    x = ssd_graph_conv(g, x, name, cin, mid, 1, 1, 0, 1, 1, true, SSD_ACT_RELU);
    snprintf(name, sizeof name, "extras.%d.2", idx);
    return ssd_graph_conv(g, x, name, mid, cout, 3, 2, 1, 1, 1, true, SSD_ACT_RELU);
}

ssd_status ssd_build_mb1_ssd(ssd_model *m) {
    static const struct {
        int cin, cout, stride;
    } dw[13] = {{32, 64, 1},   {64, 128, 2},   {128, 128, 1},  {128, 256, 2}, {256, 256, 1},
                {256, 512, 2}, {512, 512, 1},  {512, 512, 1},  {512, 512, 1}, {512, 512, 1},
                {512, 512, 1}, {512, 1024, 2}, {1024, 1024, 1}};
    static const int head_in[6] = {512, 1024, 512, 256, 256, 256};
    static const int extras[4][3] = {
        {1024, 256, 512}, {512, 128, 256}, {256, 128, 256}, {256, 128, 256}};
    ssd_graph *g = &m->g;
    ssd_graph_set_section(g, SSD_SEC_BASE);
    int x = conv_bn(g, m->input, 0, 3, 32, 2);
    for (int i = 0; i < 13; i++) {
        x = conv_dw(g, x, i + 1, dw[i].cin, dw[i].cout, dw[i].stride);
        if (i == 10) m->tap[0] = x; /* source layer 12: after base_net.11 */
    }
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
    /* mobilenetv1_ssd_config */
    m->image_mean[0] = m->image_mean[1] = m->image_mean[2] = 127.0f;
    m->image_std = 128.0f;
    m->center_variance = 0.1f;
    m->size_variance = 0.2f;
    m->iou_threshold = 0.45f;
    m->priors_family = SSD_PRIORS_MOBILENETV1;
    return ssd_graph_status(g);
}
