/* The training state beside a checkpoint (X.pth -> X.state): what the weights
 * alone cannot restore, so that --resume continues bit for bit: the last
 * finished epoch, the seed (the data order and augmentation are functions of
 * seed, epoch and sample index) and the SGD momentum buffers. Stored as a zip
 * .pth so that PyTorch can read it too. */
#ifndef SSD_TRAIN_TRAIN_STATE_H
#define SSD_TRAIN_TRAIN_STATE_H

#include "train/sgd.h"

/* "dir/mb1-ssd-Epoch-3-Loss-2.5.pth" -> "dir/mb1-ssd-Epoch-3-Loss-2.5.state" (ssd_free). */
char *ssd_train_state_path(const char *checkpoint);

ssd_status ssd_train_state_save(const char *path, const ssd_sgd *opt, int64_t epoch, uint64_t seed);
/* Restores momentum buffers into opt; *epoch and *seed as saved. */
ssd_status ssd_train_state_load(const char *path, ssd_sgd *opt, int64_t *epoch, uint64_t *seed);

#endif
