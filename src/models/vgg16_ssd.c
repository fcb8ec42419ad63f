/* vgg16-ssd (vision/ssd/vgg_ssd.py over vision/nn/vgg.py): VGG16 with the
 * reduced fc layers (pool5 3x3 stride 1, dilated conv6, 1x1 conv7). Layer
 * indices follow the reference's ModuleList, whose ReLUs we fuse into the
 * preceding conv. The first header reads conv4_3 through a BatchNorm2d(512),
 * the source_layer_add_on of the tap (23, BatchNorm2d(512)), while the base
 * net continues from conv4_3 itself. */
#include "models/model.h"

#include <stdio.h>

static int conv(ssd_graph *g, int x, const char *fmt, int idx, int cin, int cout, int k, int stride,
                int pad, int dil) {
    char name[64];
    snprintf(name, sizeof name, fmt, idx);
    return ssd_graph_conv(g, x, name, cin, cout, k, stride, pad, dil, 1, true, SSD_ACT_RELU);
}

ssd_status ssd_build_vgg16_ssd(ssd_model *m) {
    /* channels of each conv, 0 = floor-mode 2x2 pool, -1 = ceil-mode 2x2 pool */
    static const int cfg[17] = {64, 64,  0,   128, 128, 0,   256, 256, 256,
                                -1, 512, 512, 512, 0,   512, 512, 512};
    static const int head_in[6] = {512, 1024, 512, 256, 256, 256};
    static const int anchors[6] = {4, 6, 6, 6, 4, 4};
    static const struct {
        int cin, mid, cout, stride, pad;
    } extras[4] = {{1024, 256, 512, 2, 1},
                   {512, 128, 256, 2, 1},
                   {256, 128, 256, 1, 0},
                   {256, 128, 256, 1, 0}};
    ssd_graph *g = &m->g;
    ssd_graph_set_section(g, SSD_SEC_BASE);
    int x = m->input, idx = 0, cin = 3;
    for (int i = 0; i < 17; i++) {
        if (cfg[i] <= 0) {
            x = ssd_graph_maxpool(g, x, 2, 2, 0, cfg[i] < 0);
            idx++;
        } else {
            x = conv(g, x, "base_net.%d", idx, cin, cfg[i], 3, 1, 1, 1);
            cin = cfg[i];
            idx += 2;
        }
        if (idx == 23) { /* conv4_3 + ReLU: the first source layer */
            ssd_graph_set_section(g, SSD_SEC_ADDONS);
            m->tap[0] = ssd_graph_bn(g, x, "source_layer_add_ons.0", 512, SSD_ACT_NONE);
            ssd_graph_set_section(g, SSD_SEC_BASE);
        }
    }
    x = ssd_graph_maxpool(g, x, 3, 1, 1, false);                           /* 30: pool5 */
    x = conv(g, x, "base_net.%d", 31, 512, 1024, 3, 1, 6, 6);              /* conv6 (dilated) */
    m->tap[1] = x = conv(g, x, "base_net.%d", 33, 1024, 1024, 1, 1, 0, 1); /* conv7 */
    ssd_graph_set_section(g, SSD_SEC_EXTRAS);
    for (int e = 0; e < 4; e++) {
        x = conv(g, x, "extras.%d.0", e, extras[e].cin, extras[e].mid, 1, 1, 0, 1);
        x = conv(g, x, "extras.%d.2", e, extras[e].mid, extras[e].cout, 3, extras[e].stride,
                 extras[e].pad, 1);
        m->tap[2 + e] = x;
    }
    m->nheads = 6;
    for (int h = 0; h < 6; h++) {
        char name[64];
        m->anchors[h] = anchors[h];
        ssd_graph_set_section(g, SSD_SEC_CLS);
        snprintf(name, sizeof name, "classification_headers.%d", h);
        m->cls_out[h] = ssd_graph_conv(g, m->tap[h], name, head_in[h], anchors[h] * m->num_classes,
                                       3, 1, 1, 1, 1, true, SSD_ACT_NONE);
        ssd_graph_set_section(g, SSD_SEC_REG);
        snprintf(name, sizeof name, "regression_headers.%d", h);
        m->reg_out[h] = ssd_graph_conv(g, m->tap[h], name, head_in[h], anchors[h] * 4, 3, 1, 1, 1,
                                       1, true, SSD_ACT_NONE);
    }
    ssd_model_set_config(m, SSD_PRIORS_VGG);
    return ssd_graph_status(g);
}
