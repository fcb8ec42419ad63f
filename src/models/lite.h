/* Pieces shared by the SSD-lite builders (models/<net>.c): pytorch-ssd's
 * SeperableConv2d and MobileNetV1 as graph nodes under state_dict names. */
#ifndef SSD_MODELS_LITE_H
#define SSD_MODELS_LITE_H

#include "models/model.h"
#include "nn/graph.h"

/* SeperableConv2d(cin, cout, k, stride, pad) named prefix: depthwise k x k with bias
 * (prefix.0), ReLU (fused), pointwise 1x1 with bias (prefix.2), no activation. */
int ssd_lite_sep_conv(ssd_graph *g, int x, const char *prefix, int cin, int cout, int k, int stride,
                      int pad);

/* An extra layer of the -lite nets, extras.<idx>: 1x1 conv cin->mid + ReLU (.0), then
 * SeperableConv2d(mid, cout, 3, stride 2, pad) (.2). */
int ssd_lite_extra(ssd_graph *g, int x, int idx, int cin, int mid, int cout, int pad);

/* The -lite header list: SeperableConv2d(in[h], per, 3, pad 1) for h < n-1 and a plain 1x1
 * conv for the last, named <prefix>.<h>; out[h] receives each header's last node. */
void ssd_lite_headers(ssd_graph *g, const int *taps, const int *in, int n, int per,
                      const char *prefix, int *out);

/* The heads of a -lite net whose six taps are set: six anchors per map,
 * classification_headers then regression_headers (ssd_lite_headers) with in
 * channels head_in, and the priors of `family`. Returns the graph's status. */
ssd_status ssd_lite_heads(ssd_model *m, const int head_in[6], ssd_priors_family family);

/* MobileNetV1's features (vision/nn/mobilenet.py, base_net.0 .. base_net.13) from node x:
 * returns the last node and sets *tap12 to the output of base_net.11 (source layer 12). */
int ssd_mobilenet_v1(ssd_graph *g, int x, int *tap12);

#endif
