#include "models/lite.h"

#include <stdio.h>

int ssd_lite_sep_conv(ssd_graph *g, int x, const char *prefix, int cin, int cout, int k, int stride,
                      int pad) {
    char name[96];
    snprintf(name, sizeof name, "%s.0", prefix);
    x = ssd_graph_conv(g, x, name, cin, cin, k, stride, pad, 1, cin, true, SSD_ACT_RELU);
    snprintf(name, sizeof name, "%s.2", prefix);
    return ssd_graph_conv(g, x, name, cin, cout, 1, 1, 0, 1, 1, true, SSD_ACT_NONE);
}

int ssd_lite_extra(ssd_graph *g, int x, int idx, int cin, int mid, int cout, int pad) {
    char name[96];
    snprintf(name, sizeof name, "extras.%d.0", idx);
    x = ssd_graph_conv(g, x, name, cin, mid, 1, 1, 0, 1, 1, true, SSD_ACT_RELU);
    snprintf(name, sizeof name, "extras.%d.2", idx);
    return ssd_lite_sep_conv(g, x, name, mid, cout, 3, 2, pad);
}

void ssd_lite_headers(ssd_graph *g, const int *taps, const int *in, int n, int per,
                      const char *prefix, int *out) {
    for (int h = 0; h < n; h++) {
        char name[96];
        snprintf(name, sizeof name, "%s.%d", prefix, h);
        out[h] = h < n - 1 ? ssd_lite_sep_conv(g, taps[h], name, in[h], per, 3, 1, 1)
                           : ssd_graph_conv(g, taps[h], name, in[h], per, 1, 1, 0, 1, 1, true,
                                            SSD_ACT_NONE);
    }
}

ssd_status ssd_lite_heads(ssd_model *m, const int head_in[6], ssd_priors_family family) {
    ssd_graph *g = &m->g;
    m->nheads = 6;
    for (int h = 0; h < 6; h++) m->anchors[h] = 6;
    ssd_graph_set_section(g, SSD_SEC_CLS);
    ssd_lite_headers(g, m->tap, head_in, 6, 6 * m->num_classes, "classification_headers",
                     m->cls_out);
    ssd_graph_set_section(g, SSD_SEC_REG);
    ssd_lite_headers(g, m->tap, head_in, 6, 6 * 4, "regression_headers", m->reg_out);
    ssd_model_set_config(m, family);
    return ssd_graph_status(g);
}

/* conv_bn and conv_dw of mobilenet.py; the ReLU modules are fused, so the names skip
 * them (conv_dw: .0 conv, .1 bn, .3 conv, .4 bn). */
int ssd_mobilenet_v1(ssd_graph *g, int x, int *tap12) {
    static const struct {
        int cin, cout, stride;
    } dw[13] = {{32, 64, 1},   {64, 128, 2},   {128, 128, 1},  {128, 256, 2}, {256, 256, 1},
                {256, 512, 2}, {512, 512, 1},  {512, 512, 1},  {512, 512, 1}, {512, 512, 1},
                {512, 512, 1}, {512, 1024, 2}, {1024, 1024, 1}};
    char name[64];
    x = ssd_graph_conv(g, x, "base_net.0.0", 3, 32, 3, 2, 1, 1, 1, false, SSD_ACT_NONE);
    x = ssd_graph_bn(g, x, "base_net.0.1", 32, SSD_ACT_RELU);
    for (int i = 0; i < 13; i++) {
        int cin = dw[i].cin, cout = dw[i].cout;
        snprintf(name, sizeof name, "base_net.%d.0", i + 1);
        x = ssd_graph_conv(g, x, name, cin, cin, 3, dw[i].stride, 1, 1, cin, false, SSD_ACT_NONE);
        snprintf(name, sizeof name, "base_net.%d.1", i + 1);
        x = ssd_graph_bn(g, x, name, cin, SSD_ACT_RELU);
        snprintf(name, sizeof name, "base_net.%d.3", i + 1);
        x = ssd_graph_conv(g, x, name, cin, cout, 1, 1, 0, 1, 1, false, SSD_ACT_NONE);
        snprintf(name, sizeof name, "base_net.%d.4", i + 1);
        x = ssd_graph_bn(g, x, name, cout, SSD_ACT_RELU);
        if (i == 10) *tap12 = x;
    }
    return x;
}
