/* SGD with momentum and weight decay, exactly torch.optim.SGD (dampening 0,
 * no Nesterov): d = g + wd*p; buf = d on the first step, else m*buf + d;
 * p -= lr*buf. Parameters belong to groups with their own learning rates. */
#ifndef SSD_TRAIN_SGD_H
#define SSD_TRAIN_SGD_H

#include "nn/nn.h"

typedef struct {
    double lr[3]; /* per ssd_param_group: base, extras, heads */
    double momentum, weight_decay;
    ssd_param_list *params; /* borrowed */
    ssd_tensor *buf;        /* momentum buffers, one per param (unused for buffers/frozen) */
    bool *has_buf;
    int64_t steps;
} ssd_sgd;

ssd_status ssd_sgd_init(ssd_sgd *o, ssd_param_list *params, double momentum, double weight_decay);
void ssd_sgd_deinit(ssd_sgd *o);
/* One update of every trainable (non-frozen, non-buffer) parameter from its gradient. */
ssd_status ssd_sgd_step(ssd_sgd *o);

#endif
