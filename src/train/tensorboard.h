/* TensorBoard scalar event files written in C: TFRecord framing (length,
 * masked CRC-32C, payload, masked CRC-32C) around hand-encoded Event protos,
 * readable by TensorBoard. The reader exists for tests and tools. */
#ifndef SSD_TRAIN_TENSORBOARD_H
#define SSD_TRAIN_TENSORBOARD_H

#include "core/status.h"

#include <stdint.h>
#include <stdio.h>

typedef struct {
    FILE *fp;
    char *path;
} ssd_tb_writer;

/* Creates dir (with parents) and events.out.tfevents.<secs>.<host> in it. */
ssd_status ssd_tb_open(ssd_tb_writer *w, const char *dir);
ssd_status ssd_tb_scalar(ssd_tb_writer *w, const char *tag, int64_t step, float value);
void ssd_tb_close(ssd_tb_writer *w);

typedef struct {
    char tag[128];
    int64_t step;
    float value;
    double wall_time;
} ssd_tb_scalar_event;

/* Reads every scalar event of a file (CRCs checked); *out with ssd_malloc. */
ssd_status ssd_tb_read(const char *path, ssd_tb_scalar_event **out, int *n);

uint32_t ssd_crc32c(uint32_t crc, const void *data, size_t n);

#endif
