/* mb3-large-ssd-lite and mb3-small-ssd-lite: qfgaohao/pytorch-ssd's
 * MobileNetV3 (vision/nn/mobilenetv3.py) under the SSD-Lite heads of
 * vision/ssd/mobilenetv3_ssd_lite.py.
 *
 * The base net is the flat feature list: stem conv (0), bn (1), hard-swish
 * (2), one module per bottleneck block, then the last conv, bn, hard-swish.
 * A block expands (conv1/bn1), filters depthwise (conv2/bn2), projects
 * (conv3/bn3), optionally gates the projection by squeeze-excite (se.se.{1,2,4,5}:
 * avgpool, 1x1 conv C->C/4, bn + ReLU, 1x1 conv back, bn, hard-sigmoid) and,
 * at stride 1, adds its input (through shortcut.{0,1} when the width changes).
 * ReLU is fused into the BN before it; hard-swish and hard-sigmoid are nodes.
 *
 * The Block constructor assigns its SE module before conv1, so the SE's keys
 * come first in the state_dict although it runs last: the builder moves the
 * SE nodes' rank in front of conv1. */
#include "models/mb_lite.h"

#include <stdio.h>

typedef struct {
    int k, exp, out;
    bool hswish, se;
    int stride;
} block_cfg;

static const block_cfg large[15] = {
    {3, 16, 16, false, false, 1}, {3, 64, 24, false, false, 2}, {3, 72, 24, false, false, 1},
    {5, 72, 40, false, true, 2},  {5, 120, 40, false, true, 1}, {5, 120, 40, false, true, 1},
    {3, 240, 80, true, false, 2}, {3, 200, 80, true, false, 1}, {3, 184, 80, true, false, 1},
    {3, 184, 80, true, false, 1}, {3, 480, 112, true, true, 1}, {3, 672, 112, true, true, 1},
    {5, 672, 160, true, true, 1}, {5, 672, 160, true, true, 2}, {5, 960, 160, true, true, 1}};

static const block_cfg small[11] = {
    {3, 16, 16, false, true, 2}, {3, 72, 24, false, false, 2}, {3, 88, 24, false, false, 1},
    {5, 96, 40, true, true, 2},  {5, 240, 40, true, true, 1},  {5, 240, 40, true, true, 1},
    {5, 120, 48, true, true, 1}, {5, 144, 48, true, true, 1},  {5, 288, 96, true, true, 2},
    {5, 576, 96, true, true, 1}, {5, 576, 96, true, true, 1}};

/* BN then the block's nonlinearity: ReLU fused, hard-swish as its own node. */
static int bn_act(ssd_graph *g, int x, const char *name, int c, bool hswish) {
    x = ssd_graph_bn(g, x, name, c, hswish ? SSD_ACT_NONE : SSD_ACT_RELU);
    return hswish ? ssd_graph_act(g, x, SSD_ACT_HARDSWISH) : x;
}

static int conv1x1(ssd_graph *g, int x, const char *name, int cin, int cout) {
    return ssd_graph_conv(g, x, name, cin, cout, 1, 1, 0, 1, 1, false, SSD_ACT_NONE);
}

/* x * hsigmoid(bn(conv(relu(bn(conv(avgpool(x))))))), the SE layers ranked
 * just below `before` (the block's conv1). */
static int squeeze_excite(ssd_graph *g, int x, const char *prefix, int c, int before) {
    char name[96];
    int first = g->n;
    int s = ssd_graph_gap(g, x);
    snprintf(name, sizeof name, "%s.se.se.1", prefix);
    s = conv1x1(g, s, name, c, c / 4);
    snprintf(name, sizeof name, "%s.se.se.2", prefix);
    s = ssd_graph_bn(g, s, name, c / 4, SSD_ACT_RELU);
    snprintf(name, sizeof name, "%s.se.se.4", prefix);
    s = conv1x1(g, s, name, c / 4, c);
    snprintf(name, sizeof name, "%s.se.se.5", prefix);
    s = ssd_graph_bn(g, s, name, c, SSD_ACT_NONE);
    s = ssd_graph_act(g, s, SSD_ACT_HARDSIGMOID);
    if (s < 0) return -1;
    for (int i = first, j = 1; i <= s; i++, j++)
        g->nodes[i].rank = before - 1 + j / (double)(s - first + 2);
    return ssd_graph_scale(g, x, s);
}

static int block(ssd_graph *g, int x, const char *prefix, int cin, const block_cfg *b) {
    char name[96];
    snprintf(name, sizeof name, "%s.conv1", prefix);
    int y = conv1x1(g, x, name, cin, b->exp);
    int conv1 = y;
    snprintf(name, sizeof name, "%s.bn1", prefix);
    y = bn_act(g, y, name, b->exp, b->hswish);
    snprintf(name, sizeof name, "%s.conv2", prefix);
    y = ssd_graph_conv(g, y, name, b->exp, b->exp, b->k, b->stride, b->k / 2, 1, b->exp, false,
                       SSD_ACT_NONE);
    snprintf(name, sizeof name, "%s.bn2", prefix);
    y = bn_act(g, y, name, b->exp, b->hswish);
    snprintf(name, sizeof name, "%s.conv3", prefix);
    y = conv1x1(g, y, name, b->exp, b->out);
    snprintf(name, sizeof name, "%s.bn3", prefix);
    y = ssd_graph_bn(g, y, name, b->out, SSD_ACT_NONE);
    if (b->se && y >= 0) y = squeeze_excite(g, y, prefix, b->out, conv1);
    if (b->stride != 1) return y;
    int sc = x;
    if (cin != b->out) {
        snprintf(name, sizeof name, "%s.shortcut.0", prefix);
        sc = conv1x1(g, x, name, cin, b->out);
        snprintf(name, sizeof name, "%s.shortcut.1", prefix);
        sc = ssd_graph_bn(g, sc, name, b->out, SSD_ACT_NONE);
    }
    return ssd_graph_add(g, y, sc);
}

/* tap: base_net index whose input is the first feature map. */
static ssd_status build(ssd_model *m, const block_cfg *blocks, int nblocks, int last, int tap) {
    ssd_graph *g = &m->g;
    char name[96];
    ssd_graph_set_section(g, SSD_SEC_BASE);
    int x = ssd_graph_conv(g, m->input, "base_net.0", 3, 16, 3, 2, 1, 1, 1, false, SSD_ACT_NONE);
    x = bn_act(g, x, "base_net.1", 16, true);
    int c = 16;
    for (int i = 0; i < nblocks; i++) {
        if (3 + i == tap) m->tap[0] = x;
        snprintf(name, sizeof name, "base_net.%d", 3 + i);
        x = block(g, x, name, c, &blocks[i]);
        c = blocks[i].out;
    }
    snprintf(name, sizeof name, "base_net.%d", 3 + nblocks);
    x = conv1x1(g, x, name, c, last);
    snprintf(name, sizeof name, "base_net.%d", 4 + nblocks);
    x = bn_act(g, x, name, last, true);
    m->tap[1] = x;

    static const block_cfg extras[4] = {{3, 256, 512, true, false, 2},
                                        {3, 128, 256, true, false, 2},
                                        {3, 128, 256, true, false, 2},
                                        {3, 64, 64, true, false, 2}};
    ssd_graph_set_section(g, SSD_SEC_EXTRAS);
    c = last;
    for (int e = 0; e < 4; e++) {
        snprintf(name, sizeof name, "extras.%d", e);
        x = block(g, x, name, c, &extras[e]);
        c = extras[e].out;
        m->tap[2 + e] = x;
    }
    SSD_TRY(ssd_graph_status(g));
    const int head_in[6] = {blocks[tap - 4].out, last, 512, 256, 256, 64};
    return ssd_mb_lite_heads(m, head_in);
}

ssd_status ssd_build_mb3_large_ssd_lite(ssd_model *m) {
    return build(m, large, 15, 960, 15);
}

ssd_status ssd_build_mb3_small_ssd_lite(ssd_model *m) {
    return build(m, small, 11, 576, 11);
}
