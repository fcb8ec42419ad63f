/* `ssd train`: the options of train_ssd.py and the training loop. */
#ifndef SSD_TRAIN_TRAIN_H
#define SSD_TRAIN_TRAIN_H

#include "core/status.h"

#include <stdbool.h>
#include <stdint.h>

#define SSD_MAX_DATASETS   16
#define SSD_MAX_MILESTONES 32

typedef struct {
    const char *dataset_type; /* "voc" | "open_images" */
    const char *datasets[SSD_MAX_DATASETS];
    int ndatasets;
    bool balance_data;
    const char *net;
    int resolution;
    bool freeze_base_net, freeze_net;
    double mb2_width_mult;
    const char *base_net, *pretrained_ssd, *resume;
    bool pretrained_ssd_given; /* explicitly on the command line */
    double lr, momentum, weight_decay, gamma, base_net_lr;
    double extra_layers_lr;     /* NaN: None (use lr) */
    const char *scheduler;      /* "cosine" | "multi-step" */
    const char *milestones_str; /* as given, for the arguments line */
    int milestones[SSD_MAX_MILESTONES];
    int nmilestones;
    double t_max;
    int batch_size, num_epochs, num_workers, validation_epochs, debug_steps;
    bool validation_mean_ap, use_cuda;
    const char *model_dir;
    const char *log_level;
    /* beyond the reference */
    uint64_t seed;
    int threads;
    bool strict;
    bool no_augment, no_shuffle; /* for tests: identical batches to a reference loop */
    const char *precision;       /* --precision: fp32 (default), tf32, bf16, fp16 */
} ssd_train_config;

void ssd_train_config_defaults(ssd_train_config *c);
ssd_status ssd_train_run(const ssd_train_config *c);

#endif
