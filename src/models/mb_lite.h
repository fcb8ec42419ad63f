/* SSD-Lite heads shared by mb2-ssd-lite and the mb3 nets (their
 * SeperableConv2d has BN and ReLU6, unlike mb1-ssd-lite's). */
#ifndef SSD_MODELS_MB_LITE_H
#define SSD_MODELS_MB_LITE_H

#include "models/model.h"

/* Header h of one kind ("classification_headers" or "regression_headers"):
 * dw 3x3 conv with bias, BN + ReLU6, pw 1x1 conv with bias as "<kind>.<h>.{0,1,3}",
 * or, for the last map, one 1x1 conv with bias "<kind>.<h>". Returns the node id. */
int ssd_mb_lite_header(ssd_graph *g, int x, const char *kind, int h, int cin, int cout, bool last);

/* Both headers of six maps (6 anchors each) on m->tap[], then the
 * mobilenetv1_ssd_config values. head_in: channels of each tap. */
ssd_status ssd_mb_lite_heads(ssd_model *m, const int head_in[6]);

#endif
