/* mb2-ssd-lite: MobileNetV2 features (vision/nn/mobilenet_v2.py) under the
 * SSD-Lite heads of vision/ssd/mobilenet_v2_ssd_lite.py (dusty-nv/pytorch-ssd).
 *
 * Names follow the PyTorch Sequentials; their ReLU6 modules are fused into the
 * preceding BN here, so the indices skip them: an inverted residual with
 * expansion is conv.{0 pw, 1 bn, 3 dw, 4 bn, 6 pw, 7 bn}, without expansion
 * conv.{0 dw, 1 bn, 3 pw, 4 bn}; a separable header {0 dw, 1 bn, 3 pw}.
 *
 * The first feature map is GraphPath(14, 'conv', 3): the expansion output
 * (after BN and ReLU6) inside base_net.14, which then goes on to downsample.
 *
 * The width multiplier follows the reference to the letter (int() of the
 * scaled widths, Python round() of the expansion and of the first header's
 * input), so a checkpoint of either side loads into the other. Multipliers for
 * which the reference builds a net that cannot run (its first header expects
 * round(576 m) channels while the tap has int(96 m) * 6; above 1 the last
 * layer outgrows the extras' fixed 1280 inputs) are refused here. */
#include "models/mb_lite.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* The multiplier as the decimal the user wrote: Python computes int(24 * 0.7)
 * in double, and 0.7f times 24 would truncate differently. */
static double wm_decimal(float wm) {
    char buf[32];
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)wm);
        if (strtof(buf, NULL) == wm) break;
    }
    return strtod(buf, NULL);
}

/* InvertedResidual(cin, cout, stride, ratio) named "<prefix>.conv.<i>".
 * *expand (when not NULL) receives the expansion output, -1 without one. */
static int inv_res(ssd_graph *g, int x, const char *prefix, int cin, int cout, int stride,
                   double ratio, int *expand) {
    char name[96];
    int hid = (int)rint(cin * ratio); /* Python's round: ties to even */
    int y = x, i = 0;
    if (expand) *expand = -1;
    if (ratio != 1.0) {
        snprintf(name, sizeof name, "%s.conv.0", prefix);
        y = ssd_graph_conv(g, y, name, cin, hid, 1, 1, 0, 1, 1, false, SSD_ACT_NONE);
        snprintf(name, sizeof name, "%s.conv.1", prefix);
        y = ssd_graph_bn(g, y, name, hid, SSD_ACT_RELU6);
        if (expand) *expand = y;
        i = 3;
    }
    snprintf(name, sizeof name, "%s.conv.%d", prefix, i);
    y = ssd_graph_conv(g, y, name, hid, hid, 3, stride, 1, 1, hid, false, SSD_ACT_NONE);
    snprintf(name, sizeof name, "%s.conv.%d", prefix, i + 1);
    y = ssd_graph_bn(g, y, name, hid, SSD_ACT_RELU6);
    snprintf(name, sizeof name, "%s.conv.%d", prefix, i + 3);
    y = ssd_graph_conv(g, y, name, hid, cout, 1, 1, 0, 1, 1, false, SSD_ACT_NONE);
    snprintf(name, sizeof name, "%s.conv.%d", prefix, i + 4);
    y = ssd_graph_bn(g, y, name, cout, SSD_ACT_NONE);
    return stride == 1 && cin == cout ? ssd_graph_add(g, x, y) : y;
}

/* conv_bn / conv_1x1_bn: conv without bias, BN, ReLU6, as "<prefix>.{0,1}". */
static int conv_bn(ssd_graph *g, int x, int idx, int cin, int cout, int k, int stride) {
    char name[96];
    snprintf(name, sizeof name, "base_net.%d.0", idx);
    x = ssd_graph_conv(g, x, name, cin, cout, k, stride, k / 2, 1, 1, false, SSD_ACT_NONE);
    snprintf(name, sizeof name, "base_net.%d.1", idx);
    return ssd_graph_bn(g, x, name, cout, SSD_ACT_RELU6);
}

ssd_status ssd_build_mb2_ssd_lite(ssd_model *m) {
    static const struct {
        int t, c, n, s;
    } cfg[7] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
    ssd_graph *g = &m->g;
    double wm = wm_decimal(m->width_mult);
    if (!(wm > 0) || (int)(16 * wm) < 1)
        return ssd_error_set(SSD_E_INVAL, "mb2-ssd-lite: --mb2-width-mult %g leaves no channels",
                             wm);
    /* The reference's own shape rules (see the top of the file). */
    int tap_c = (int)(96 * wm) * 6, head0 = (int)rint(576 * wm);
    int last = wm > 1.0 ? (int)(1280 * wm) : 1280;
    if (tap_c != head0 || last != 1280)
        return ssd_error_set(SSD_E_INVAL,
                             "mb2-ssd-lite: --mb2-width-mult %g is unusable: pytorch-ssd builds "
                             "%s (%d vs %d channels) and cannot run it; use a multiplier m <= 1 "
                             "with int(96 m) * 6 == round(576 m), e.g. 0.25, 0.5, 0.75 or 1.0",
                             wm,
                             tap_c != head0 ? "a first header that does not fit its feature map"
                                            : "a last layer wider than the extras' input",
                             tap_c != head0 ? tap_c : last, tap_c != head0 ? head0 : 1280);

    ssd_graph_set_section(g, SSD_SEC_BASE);
    int c = (int)(32 * wm), idx = 1;
    int x = conv_bn(g, m->input, 0, 3, c, 3, 2);
    for (int b = 0; b < 7; b++) {
        int out = (int)(cfg[b].c * wm);
        for (int i = 0; i < cfg[b].n; i++, idx++) {
            char prefix[32];
            int expand;
            snprintf(prefix, sizeof prefix, "base_net.%d", idx);
            x = inv_res(g, x, prefix, c, out, i == 0 ? cfg[b].s : 1, cfg[b].t, &expand);
            if (idx == 14) m->tap[0] = expand;
            c = out;
        }
    }
    x = conv_bn(g, x, idx, c, last, 1, 1);
    m->tap[1] = x;

    static const struct {
        int cin, cout;
        double ratio;
    } ex[4] = {{1280, 512, 0.2}, {512, 256, 0.25}, {256, 256, 0.5}, {256, 64, 0.25}};
    ssd_graph_set_section(g, SSD_SEC_EXTRAS);
    for (int e = 0; e < 4; e++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "extras.%d", e);
        x = inv_res(g, x, prefix, ex[e].cin, ex[e].cout, 2, ex[e].ratio, NULL);
        m->tap[2 + e] = x;
    }
    SSD_TRY(ssd_graph_status(g));
    const int head_in[6] = {head0, 1280, 512, 256, 256, 64};
    return ssd_mb_lite_heads(m, head_in);
}
