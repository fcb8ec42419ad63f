/* mb1-ssd-lite (vision/ssd/mobilenetv1_ssd_lite.py): MobileNetV1 with the 3x3
 * convolutions of the extras and headers replaced by SeperableConv2d, whose
 * pointwise output has no activation; the last header is a plain 1x1 conv. */
#include "models/lite.h"
#include "models/model.h"

ssd_status ssd_build_mb1_ssd_lite(ssd_model *m) {
    static const int head_in[6] = {512, 1024, 512, 256, 256, 256};
    static const int extras[4][3] = {
        {1024, 256, 512}, {512, 128, 256}, {256, 128, 256}, {256, 128, 256}};
    ssd_graph *g = &m->g;
    ssd_graph_set_section(g, SSD_SEC_BASE);
    int x = ssd_mobilenet_v1(g, m->input, &m->tap[0]);
    m->tap[1] = x;
    ssd_graph_set_section(g, SSD_SEC_EXTRAS);
    for (int e = 0; e < 4; e++) {
        x = ssd_lite_extra(g, x, e, extras[e][0], extras[e][1], extras[e][2], 1);
        m->tap[2 + e] = x;
    }
    return ssd_lite_heads(m, head_in, SSD_PRIORS_MOBILENETV1);
}
