/* Training data pipeline throughput: the loader (JPEG decode, training augmentation at 300x300,
 * prior matching for mb1-ssd, batch 32) with 1 and 2 workers, next to the reference pipeline
 * (bench/data_torch.py: cv2 + numpy + torch DataLoader) with 0 and 2 workers, same images,
 * same run.
 *   bench_data [--data DIR] [--images N] [--no-python]
 * DIR defaults to data/ccpd-sample/train in the repository, else ../shared/data/ccpd-sample/train.
 * Boxes come from the CCPD file names. */
#include "box/box.h"
#include "core/mem.h"
#include "core/progress.h"
#include "data/image.h"
#include "data/loader.h"

#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* The bench folder: given by the build, else the directory of this file (CMake compiles it by
 * absolute path). */
static const char *bench_dir(void) {
#ifdef BENCH_DIR
    return BENCH_DIR;
#else
    static char d[1024];
    snprintf(d, sizeof d, "%s", __FILE__);
    char *slash = strrchr(d, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(d, sizeof d, "bench");
    return d;
#endif
}

/* ---- a folder of CCPD JPEGs as an ssd_dataset ----------------------------------------------- */

typedef struct {
    int n;
    char **paths;
    float (*boxes)[4];
} ccpd;

static int64_t ccpd_size(const ssd_dataset *ds) {
    return ((const ccpd *)ds->impl)->n;
}

static ssd_status ccpd_ann(const ssd_dataset *ds, int64_t i, bool keep_difficult,
                           ssd_annotation *a) {
    (void)keep_difficult;
    const ccpd *c = ds->impl;
    memset(a, 0, sizeof *a);
    a->boxes = ssd_malloc(4 * sizeof(float));
    a->labels = ssd_malloc(sizeof(int64_t));
    a->difficult = ssd_calloc(1, 1);
    if (!a->boxes || !a->labels || !a->difficult) {
        ssd_annotation_free(a);
        return SSD_E_NOMEM;
    }
    memcpy(a->boxes, c->boxes[i], 4 * sizeof(float));
    a->labels[0] = 1;
    a->n = 1;
    return SSD_OK;
}

static ssd_status ccpd_get(const ssd_dataset *ds, int64_t i, bool kd, ssd_image *img,
                           ssd_annotation *a) {
    memset(a, 0, sizeof *a);
    SSD_TRY(ssd_image_load(img, ((const ccpd *)ds->impl)->paths[i]));
    ssd_status st = ccpd_ann(ds, i, kd, a);
    if (st != SSD_OK) ssd_image_free(img);
    return st;
}

static const char *ccpd_path(const ssd_dataset *ds, int64_t i) {
    return ((const ccpd *)ds->impl)->paths[i];
}

static void ccpd_destroy(ssd_dataset *ds) {
    ccpd *c = ds->impl;
    for (int i = 0; i < c->n; i++) free(c->paths[i]);
    free(c->paths);
    free(c->boxes);
    memset(c, 0, sizeof *c);
}

static const ssd_dataset_ops ccpd_ops = {.size = ccpd_size,
                                         .annotation = ccpd_ann,
                                         .get = ccpd_get,
                                         .image_id = ccpd_path,
                                         .image_path = ccpd_path,
                                         .destroy = ccpd_destroy};

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "area-tilt-x1&y1_x2&y2-..." */
static int parse_box(const char *name, float *b) {
    const char *p = name;
    for (int k = 0; k < 2; k++) {
        p = strchr(p, '-');
        if (!p) return 0;
        p++;
    }
    return sscanf(p, "%f&%f_%f&%f", &b[0], &b[1], &b[2], &b[3]) == 4;
}

static int ccpd_open(ssd_dataset *ds, ccpd *c, const char *dir) {
    memset(c, 0, sizeof *c);
    ds->ops = &ccpd_ops;
    ds->impl = c;
    ds->num_classes = 2;
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int cap = 0;
    while ((e = readdir(d))) {
        size_t L = strlen(e->d_name);
        float b[4];
        if (L < 5 || strcmp(e->d_name + L - 4, ".jpg") || !parse_box(e->d_name, b)) continue;
        if (c->n == cap) {
            cap = cap ? 2 * cap : 128;
            c->paths = realloc(c->paths, cap * sizeof *c->paths);
        }
        c->paths[c->n] = malloc(strlen(dir) + L + 2);
        sprintf(c->paths[c->n++], "%s/%s", dir, e->d_name);
    }
    closedir(d);
    qsort(c->paths, c->n, sizeof *c->paths, cmp_str);
    c->boxes = malloc((c->n ? c->n : 1) * sizeof *c->boxes);
    for (int i = 0; i < c->n; i++) parse_box(strrchr(c->paths[i], '/') + 1, c->boxes[i]);
    return c->n;
}

/* ---- measurements ------------------------------------------------------------------------- */

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
           1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* Images/s from the end of the first batch to the last (start-up excluded), over epochs until
 * `images` images were counted, as data_torch.py measures the reference; and images per CPU
 * second over the whole run (the machine may be shared: CPU time is what other load disturbs
 * least). */
static void loader_rate(const ssd_dataset *ds, ssd_prior_target *pt, int workers, int images,
                        double rate[2]) {
    ssd_loader_cfg c;
    ssd_loader_cfg_default(&c);
    c.batch_size = 32;
    c.workers = workers;
    c.shuffle = true;
    c.seed = 1;
    c.train = true;
    c.image_size = 300;
    c.mean[0] = c.mean[1] = c.mean[2] = 127;
    c.std = 128;
    c.priors = pt->priors_center;
    c.num_priors = pt->k;
    ssd_loader *l;
    rate[0] = rate[1] = -1;
    double c0 = cpu_seconds();
    if (ssd_loader_create(&l, ds, &c) != SSD_OK) return;
    double t0 = 0;
    int n = 0, total = 0;
    bool first = true;
    for (int64_t epoch = 0; n < images; epoch++) {
        if (epoch) ssd_loader_start_epoch(l, epoch);
        ssd_batch *b;
        while (n < images && ssd_loader_next(l, &b) == SSD_OK && b) {
            total += b->n;
            if (first) {
                t0 = ssd_now();
                first = false;
            } else {
                n += b->n;
            }
            ssd_loader_release(l, b);
        }
    }
    rate[0] = n / (ssd_now() - t0);
    ssd_loader_destroy(l);
    rate[1] = total / (cpu_seconds() - c0);
}

/* Where one worker's time goes: decode, augment+render, match, per image. */
static void breakdown(const ssd_dataset *ds, ssd_prior_target *pt, double ms[3]) {
    ssd_transform_cfg tc = {.size = 300, .mean = {127, 127, 127}, .std = 128};
    ssd_augment_scratch s = {0};
    float *out = ssd_malloc(3 * 300 * 300 * sizeof(float));
    float *loc = ssd_malloc((size_t)pt->k * 4 * sizeof(float));
    float *scr = ssd_malloc((size_t)pt->k * 4 * sizeof(float));
    int64_t *lab = ssd_malloc((size_t)pt->k * sizeof(int64_t));
    int64_t n = ssd_dataset_size(ds);
    ms[0] = ms[1] = ms[2] = 0;
    for (int64_t i = 0; i < n; i++) {
        ssd_image img;
        ssd_annotation a;
        double t0 = ssd_now();
        if (ds->ops->get(ds, i, false, &img, &a) != SSD_OK) continue;
        double t1 = ssd_now();
        ssd_rng r;
        ssd_rng_init(&r, 3, (uint64_t)i);
        ssd_augment_params p;
        ssd_augment_draw(&p, &r, img.w, img.h, a.boxes, a.n);
        float bx[4];
        int64_t bl[1];
        int m = ssd_augment_boxes(&p, a.boxes, a.labels, a.n, bx, bl);
        ssd_augment_render(&p, &img, &tc, out, &s);
        double t2 = ssd_now();
        ssd_prior_target_fn(pt, bx, bl, m, loc, lab, scr);
        double t3 = ssd_now();
        ms[0] += t1 - t0, ms[1] += t2 - t1, ms[2] += t3 - t2;
        ssd_image_free(&img);
        ssd_annotation_free(&a);
    }
    for (int k = 0; k < 3; k++) ms[k] *= 1000.0 / (double)n;
    ssd_augment_scratch_free(&s);
    ssd_free(out);
    ssd_free(loc);
    ssd_free(scr);
    ssd_free(lab);
}

/* The repository's copy of the sample (train/ or flat), else the shared one. */
static int open_default(ssd_dataset *ds, ccpd *c, const char **dir) {
    static char buf[3][1024];
    snprintf(buf[0], sizeof buf[0], "%s/../data/ccpd-sample/train", bench_dir());
    snprintf(buf[1], sizeof buf[1], "%s/../data/ccpd-sample", bench_dir());
    snprintf(buf[2], sizeof buf[2], "%s", "/work/shared/data/ccpd-sample/train");
    for (int i = 0; i < 3; i++) {
        if (ccpd_open(ds, c, buf[i])) {
            *dir = buf[i];
            return 1;
        }
        ccpd_destroy(ds);
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *dir = NULL;
    int images = 320, python = 1, c;
    static const struct option opts[] = {{"data", required_argument, 0, 'd'},
                                         {"images", required_argument, 0, 'n'},
                                         {"no-python", no_argument, 0, 'P'},
                                         {0, 0, 0, 0}};
    while ((c = getopt_long(argc, argv, "d:n:P", opts, NULL)) != -1) {
        if (c == 'd')
            dir = optarg;
        else if (c == 'n')
            images = atoi(optarg);
        else if (c == 'P')
            python = 0;
        else
            return 2;
    }
    ssd_dataset ds = {0};
    ccpd cc;
    if (dir ? !ccpd_open(&ds, &cc, dir) : !open_default(&ds, &cc, &dir)) {
        fprintf(stderr, "bench_data: no CCPD images in %s\n", dir ? dir : "data/ccpd-sample");
        return 1;
    }
    int fm[6] = {19, 10, 5, 3, 2, 1};
    ssd_prior_spec specs[6];
    ssd_priors_specs_mobilenetv1(300, fm, specs);
    float *priors = NULL;
    int k = 0;
    ssd_prior_target pt;
    if (ssd_priors_generate(specs, 6, 300, true, &priors, &k) != SSD_OK ||
        ssd_prior_target_init(&pt, priors, k, 0.5f, 0.1f, 0.2f) != SSD_OK) {
        fprintf(stderr, "bench_data: %s\n", ssd_error_message());
        return 1;
    }
    printf("training data pipeline, %d CCPD images (%s), 300x300, batch 32, %d priors\n", cc.n, dir,
           k);
    double ms[3];
    breakdown(&ds, &pt, ms);
    printf("  one thread, per image: decode %.2f ms, augment+resize %.2f ms, match %.2f ms\n",
           ms[0], ms[1], ms[2]);
    double ours[2][2];
    for (int w = 1; w <= 2; w++) loader_rate(&ds, &pt, w, images, ours[w - 1]);
    double ref[2][2] = {{0, 0}, {0, 0}};
    if (python) {
        char cmd[4400], line[256];
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/data_torch.py '%s' %d 0 2", bench_dir(), dir,
                 images / 2);
        FILE *p = popen(cmd, "r");
        while (p && fgets(line, sizeof line, p)) {
            int w;
            double r, rc;
            if (sscanf(line, "torch_images_per_s %d %lf %lf", &w, &r, &rc) == 3)
                ref[w == 0 ? 0 : 1][0] = r, ref[w == 0 ? 0 : 1][1] = rc;
        }
        if (p) pclose(p);
    }
    printf("  %-34s %10s %11s %14s\n", "", "images/s", "per worker", "per CPU-second");
    printf("  %-34s %10.1f %11.1f %14.1f\n", "ssd loader, 1 worker", ours[0][0], ours[0][0],
           ours[0][1]);
    printf("  %-34s %10.1f %11.1f %14.1f\n", "ssd loader, 2 workers", ours[1][0], ours[1][0] / 2,
           ours[1][1]);
    if (ref[0][0] > 0) {
        printf("  %-34s %10.1f %11.1f %14.1f\n", "reference, 0 workers (1 process)", ref[0][0],
               ref[0][0], ref[0][1]);
        printf("  %-34s %10.1f %11.1f %14.1f\n", "reference, 2 workers", ref[1][0], ref[1][0] / 2,
               ref[1][1]);
        printf("  ratio, images/s: 1 worker / 1 process %.1fx, 2 workers / 2 workers %.1fx\n",
               ours[0][0] / ref[0][0], ref[1][0] > 0 ? ours[1][0] / ref[1][0] : 0);
        printf("  ratio, images per CPU-second: %.1fx (1), %.1fx (2)\n", ours[0][1] / ref[0][1],
               ref[1][1] > 0 ? ours[1][1] / ref[1][1] : 0);
    } else if (python) {
        printf("  reference: not measured (python3 with cv2 and torch?)\n");
    }
    ssd_prior_target_deinit(&pt);
    ssd_free(priors);
    ccpd_destroy(&ds);
    return 0;
}
