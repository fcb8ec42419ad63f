/* mb1-ssd: MobileNetV1 (vision/nn/mobilenet.py) under the SSD heads of
 * vision/ssd/mobilenetv1_ssd.py. Layer indices inside each module follow the
 * PyTorch Sequential, whose ReLU modules we fuse into the preceding layer, so
 * the names skip them (conv_dw: .0 conv, .1 bn, .3 conv, .4 bn). */
#include "models/model.h"

#include "core/mem.h"

#include <stdio.h>

static ssd_status conv_bn(ssd_model *m, ssd_seq *s, int idx, int cin, int cout, int stride) {
    char name[64];
    s->l = ssd_calloc(2, sizeof *s->l);
    if (!s->l) return SSD_E_NOMEM;
    s->n = 2;
    snprintf(name, sizeof name, "base_net.%d.0", idx);
    SSD_TRY(ssd_layer_conv_init(&s->l[0], m->be, name, cin, cout, 3, stride, 1, 1, 1, false,
                                SSD_ACT_NONE));
    snprintf(name, sizeof name, "base_net.%d.1", idx);
    return ssd_layer_bn_init(&s->l[1], m->be, name, cout, SSD_ACT_RELU);
}

static ssd_status conv_dw(ssd_model *m, ssd_seq *s, int idx, int cin, int cout, int stride) {
    char name[64];
    s->l = ssd_calloc(4, sizeof *s->l);
    if (!s->l) return SSD_E_NOMEM;
    s->n = 4;
    snprintf(name, sizeof name, "base_net.%d.0", idx);
    SSD_TRY(ssd_layer_conv_init(&s->l[0], m->be, name, cin, cin, 3, stride, 1, 1, cin, false,
                                SSD_ACT_NONE));
    snprintf(name, sizeof name, "base_net.%d.1", idx);
    SSD_TRY(ssd_layer_bn_init(&s->l[1], m->be, name, cin, SSD_ACT_RELU));
    snprintf(name, sizeof name, "base_net.%d.3", idx);
    SSD_TRY(
        ssd_layer_conv_init(&s->l[2], m->be, name, cin, cout, 1, 1, 0, 1, 1, false, SSD_ACT_NONE));
    snprintf(name, sizeof name, "base_net.%d.4", idx);
    return ssd_layer_bn_init(&s->l[3], m->be, name, cout, SSD_ACT_RELU);
}

/* 1x1 conv + ReLU, then 3x3 stride-2 conv + ReLU, each with bias. */
static ssd_status extra(ssd_model *m, ssd_seq *s, int idx, int cin, int mid, int cout) {
    char name[64];
    s->l = ssd_calloc(2, sizeof *s->l);
    if (!s->l) return SSD_E_NOMEM;
    s->n = 2;
    snprintf(name, sizeof name, "extras.%d.0", idx);
    SSD_TRY(
        ssd_layer_conv_init(&s->l[0], m->be, name, cin, mid, 1, 1, 0, 1, 1, true, SSD_ACT_RELU));
    snprintf(name, sizeof name, "extras.%d.2", idx);
    return ssd_layer_conv_init(&s->l[1], m->be, name, mid, cout, 3, 2, 1, 1, 1, true, SSD_ACT_RELU);
}

ssd_status ssd_build_mb1_ssd(ssd_model *m) {
    static const struct {
        int cin, cout, stride;
    } dw[13] = {{32, 64, 1},   {64, 128, 2},   {128, 128, 1},  {128, 256, 2}, {256, 256, 1},
                {256, 512, 2}, {512, 512, 1},  {512, 512, 1},  {512, 512, 1}, {512, 512, 1},
                {512, 512, 1}, {512, 1024, 2}, {1024, 1024, 1}};
    static const int head_in[6] = {512, 1024, 512, 256, 256, 256};
    SSD_TRY(ssd_model_alloc_layout(m, 14, 4, 6));
    SSD_TRY(conv_bn(m, &m->base[0], 0, 3, 32, 2));
    for (int i = 0; i < 13; i++)
        SSD_TRY(conv_dw(m, &m->base[i + 1], i + 1, dw[i].cin, dw[i].cout, dw[i].stride));
    m->nsrc = 2;
    m->src[0] = 12;
    m->src[1] = 14;
    SSD_TRY(extra(m, &m->extras[0], 0, 1024, 256, 512));
    SSD_TRY(extra(m, &m->extras[1], 1, 512, 128, 256));
    SSD_TRY(extra(m, &m->extras[2], 2, 256, 128, 256));
    SSD_TRY(extra(m, &m->extras[3], 3, 256, 128, 256));
    for (int h = 0; h < 6; h++) {
        char name[64];
        m->anchors[h] = 6;
        snprintf(name, sizeof name, "classification_headers.%d", h);
        SSD_TRY(ssd_layer_conv_init(&m->cls[h], m->be, name, head_in[h], 6 * m->num_classes, 3, 1,
                                    1, 1, 1, true, SSD_ACT_NONE));
        snprintf(name, sizeof name, "regression_headers.%d", h);
        SSD_TRY(ssd_layer_conv_init(&m->reg[h], m->be, name, head_in[h], 6 * 4, 3, 1, 1, 1, 1, true,
                                    SSD_ACT_NONE));
    }
    /* mobilenetv1_ssd_config */
    m->image_mean[0] = m->image_mean[1] = m->image_mean[2] = 127.0f;
    m->image_std = 128.0f;
    m->center_variance = 0.1f;
    m->size_variance = 0.2f;
    m->iou_threshold = 0.45f;
    return SSD_OK;
}
