/* Single-thread decode rate of a folder of images (default: the repo's CCPD
 * sample): files are read into memory first so only decoding is timed.
 * usage: bench_image [DIR] [passes] */
#include "core/mem.h"
#include "data/data_io.h"
#include "data/image.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "data/ccpd-sample/train";
    int passes = argc > 2 ? atoi(argv[2]) : 3;
    ssd_strlist names = {0};
    if (ssd_dio_list_files(dir, &names) != SSD_OK || names.n == 0) {
        fprintf(stderr, "bench_image: %s: no files (%s)\n", dir, ssd_error_message());
        return 1;
    }
    uint8_t **data = calloc((size_t)names.n, sizeof *data);
    size_t *len = calloc((size_t)names.n, sizeof *len);
    long pixels = 0;
    for (int64_t i = 0; i < names.n; i++) {
        char *p = ssd_dio_strfmt("%s/%s", dir, names.v[i]);
        if (ssd_file_read_all(p, &data[i], &len[i]) != SSD_OK) return 1;
        ssd_free(p);
    }
    double best = 1e30;
    for (int pass = 0; pass < passes; pass++) {
        double t0 = now();
        pixels = 0;
        for (int64_t i = 0; i < names.n; i++) {
            ssd_image img;
            if (ssd_image_load_mem(&img, data[i], len[i], names.v[i]) != SSD_OK) {
                fprintf(stderr, "%s\n", ssd_error_message());
                return 1;
            }
            pixels += (long)img.w * img.h;
            ssd_image_free(&img);
        }
        double t = now() - t0;
        if (t < best) best = t;
    }
    printf(
        "%lld images (%.2f MP each) in %.3f s: %.1f images/s, %.1f MP/s (1 thread, best of %d)\n",
        (long long)names.n, pixels / 1e6 / (double)names.n, best, names.n / best,
        pixels / 1e6 / best, passes);
    for (int64_t i = 0; i < names.n; i++) ssd_free(data[i]);
    free(data);
    free(len);
    ssd_strlist_free(&names);
    return 0;
}
