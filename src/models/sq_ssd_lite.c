/* sq-ssd-lite (vision/ssd/squeezenet_ssd_lite.py): the features of
 * pytorch-ssd's own squeezenet1_1 (vision/nn/squeezenet.py, whose pools are
 * floor-mode, unlike torchvision's) under SeperableConv2d extras and headers.
 * A Fire module is squeeze 1x1 + ReLU feeding expand1x1 and expand3x3 (each
 * + ReLU), joined along the channels. */
#include "models/lite.h"
#include "models/model.h"

#include <stdio.h>

static int fire(ssd_graph *g, int x, int idx, int cin, int sq, int e1, int e3) {
    char name[64];
    snprintf(name, sizeof name, "base_net.%d.squeeze", idx);
    x = ssd_graph_conv(g, x, name, cin, sq, 1, 1, 0, 1, 1, true, SSD_ACT_RELU);
    int br[2];
    snprintf(name, sizeof name, "base_net.%d.expand1x1", idx);
    br[0] = ssd_graph_conv(g, x, name, sq, e1, 1, 1, 0, 1, 1, true, SSD_ACT_RELU);
    snprintf(name, sizeof name, "base_net.%d.expand3x3", idx);
    br[1] = ssd_graph_conv(g, x, name, sq, e3, 3, 1, 1, 1, 1, true, SSD_ACT_RELU);
    return ssd_graph_concat(g, br, 2, 1);
}

ssd_status ssd_build_sq_ssd_lite(ssd_model *m) {
    static const int head_in[6] = {512, 512, 512, 256, 256, 256};
    static const struct {
        int cin, mid, cout, pad;
    } extras[5] = {{512, 256, 512, 2},
                   {512, 256, 512, 1},
                   {512, 128, 256, 1},
                   {256, 128, 256, 1},
                   {256, 128, 256, 1}};
    ssd_graph *g = &m->g;
    ssd_graph_set_section(g, SSD_SEC_BASE);
    int x = ssd_graph_conv(g, m->input, "base_net.0", 3, 64, 3, 2, 0, 1, 1, true, SSD_ACT_RELU);
    x = ssd_graph_maxpool(g, x, 3, 2, 0, false); /* 2 */
    x = fire(g, x, 3, 64, 16, 64, 64);
    x = fire(g, x, 4, 128, 16, 64, 64);
    x = ssd_graph_maxpool(g, x, 3, 2, 0, false); /* 5 */
    x = fire(g, x, 6, 128, 32, 128, 128);
    x = fire(g, x, 7, 256, 32, 128, 128);
    x = ssd_graph_maxpool(g, x, 3, 2, 0, false); /* 8 */
    x = fire(g, x, 9, 256, 48, 192, 192);
    x = fire(g, x, 10, 384, 48, 192, 192);
    x = fire(g, x, 11, 384, 64, 256, 256);
    m->tap[0] = x; /* source layer 12 */
    x = fire(g, x, 12, 512, 64, 256, 256);
    ssd_graph_set_section(g, SSD_SEC_EXTRAS);
    for (int e = 0; e < 5; e++) {
        x = ssd_lite_extra(g, x, e, extras[e].cin, extras[e].mid, extras[e].cout, extras[e].pad);
        m->tap[1 + e] = x;
    }
    return ssd_lite_heads(m, head_in, SSD_PRIORS_SQUEEZENET);
}
