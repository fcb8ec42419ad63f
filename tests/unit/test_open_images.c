/* The Open Images reader on small trees written here: classes from the union
 * of the splits (so the test split's indices match training's), ImageID order,
 * boxes scaled to pixels, missing images dropped and counted, clamped and
 * rejected boxes, --balance-data, concatenation, and errors naming the file
 * and line; then failed allocations at every allocation. */
#include "test.h"

#include "core/fileio.h"
#include "core/log.h"
#include "core/mem.h"
#include "data/open_images.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char base[1024];

static void image(const char *root, const char *split, const char *id, int w, int h) {
    char path[2200];
    snprintf(path, sizeof path, "%s/%s", root, split);
    ssd_mkdir_p(path);
    snprintf(path, sizeof path, "%s/%s/%s.jpg", root, split, id);
    ssd_image img;
    if (ssd_image_alloc(&img, w, h, 3) != SSD_OK) exit(1);
    for (int i = 0; i < w * h * 3; i++) img.px[i] = (uint8_t)(i * 7);
    if (ssd_image_save_jpeg(&img, path, 90) != SSD_OK) exit(1);
    ssd_image_free(&img);
}

#define HDR "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsGroupOf,id,ClassName\n"

static char root_a[1100];

/* train: Apple, Orange; validation: Pear too; test: Orange only. */
static void make_tree_a(void) {
    snprintf(root_a, sizeof root_a, "%s/a", base);
    test_put(root_a, "sub-train-annotations-bbox.csv",
             HDR "b2,x,/m/o,1,0.5,1.0,0.0,0.5,0,/m/o,Orange\n"
                 "a1,\"x, y\",/m/a,1,0.25,0.75,0.1,0.6,0,/m/a,Apple\n"
                 "c3_missing,x,/m/a,1,0.1,0.2,0.1,0.2,0,/m/a,Apple\n"
                 "a1,x,/m/o,1,-0.5,0.5,0.5,1.5,0,/m/o,Orange\n"
                 "b2,x,/m/a,1,0.6,0.4,0.1,0.2,0,/m/a,Apple\n");
    test_put(root_a, "sub-validation-annotations-bbox.csv",
             HDR "v1,x,/m/p,1,0.1,0.9,0.1,0.9,0,/m/p,Pear\n");
    test_put(root_a, "sub-test-annotations-bbox.csv",
             HDR "t1,x,/m/o,1,0.1,0.9,0.1,0.9,0,/m/o,Orange\n");
    image(root_a, "train", "a1", 40, 20);
    image(root_a, "train", "b2", 16, 16);
    image(root_a, "validation", "v1", 8, 8);
    image(root_a, "test", "t1", 10, 30);
}

static bool boxes_are(const ssd_annotation *a, const float *want, const int64_t *labels, int n) {
    if (a->n != n) {
        fprintf(stderr, "  %d objects, want %d\n", a->n, n);
        return false;
    }
    for (int k = 0; k < n; k++) {
        if (a->labels[k] != labels[k] || a->difficult[k]) return false;
        for (int j = 0; j < 4; j++)
            if (fabsf(a->boxes[4 * k + j] - want[4 * k + j]) > 1e-4f) {
                fprintf(stderr, "  box %d[%d] = %g, want %g\n", k, j, a->boxes[4 * k + j],
                        want[4 * k + j]);
                return false;
            }
    }
    return true;
}

static void test_tree_a(void) {
    ssd_dataset *ds = NULL;
    ssd_status st = ssd_oi_open(&ds, root_a, "train", false, 0);
    CHECK_OK(st);
    if (st != SSD_OK) return;
    /* the union of all three splits, sorted, BACKGROUND first */
    CHECK(ds->num_classes == 4);
    CHECK(!strcmp(ds->class_names[0], "BACKGROUND") && !strcmp(ds->class_names[1], "Apple") &&
          !strcmp(ds->class_names[2], "Orange") && !strcmp(ds->class_names[3], "Pear"));
    CHECK(ssd_dataset_size(ds) == 2);
    CHECK(!strcmp(ds->ops->image_id(ds, 0), "a1") && !strcmp(ds->ops->image_id(ds, 1), "b2"));
    CHECK(strstr(ds->ops->image_path(ds, 0), "/train/a1.jpg") != NULL);
    ssd_oi_stats s;
    CHECK_OK(ssd_oi_stats_get(ds, &s));
    CHECK(s.rows == 5 && s.listed == 3 && s.images == 2 && s.missing_image == 1);
    CHECK(s.objects == 3 && s.clamped == 1 && s.rejected == 1 && s.min_image_num == -1);

    /* a1 is 40x20: Apple 0.25..0.75 x 0.1..0.6; the Orange is clamped to 0..0.5 x 0.5..1 */
    static const float a1[] = {10, 2, 30, 12, 0, 10, 20, 20};
    static const int64_t a1l[] = {1, 2};
    ssd_annotation ann;
    CHECK_OK(ds->ops->annotation(ds, 0, false, &ann));
    CHECK(boxes_are(&ann, a1, a1l, 2));
    ssd_annotation_free(&ann);
    ssd_image img;
    CHECK_OK(ds->ops->get(ds, 0, false, &img, &ann));
    CHECK(img.w == 40 && img.h == 20 && img.c == 3);
    CHECK(boxes_are(&ann, a1, a1l, 2));
    ssd_annotation_free(&ann);
    ssd_image_free(&img);
    /* b2 is 16x16: its inverted Apple box is gone */
    static const float b2[] = {8, 0, 16, 8};
    static const int64_t b2l[] = {2};
    CHECK_OK(ds->ops->annotation(ds, 1, true, &ann));
    CHECK(boxes_are(&ann, b2, b2l, 1));
    ssd_annotation_free(&ann);
    CHECK(ds->ops->annotation(ds, 2, false, &ann) == SSD_E_INVAL);
    ssd_dataset_destroy(ds);

    /* the test split has only Orange, yet Orange keeps training's index */
    CHECK_OK(ssd_oi_open(&ds, root_a, "test", false, 0));
    if (ds) {
        CHECK(ds->num_classes == 4 && ssd_dataset_size(ds) == 1);
        CHECK_OK(ds->ops->annotation(ds, 0, false, &ann));
        CHECK(ann.n == 1 && ann.labels[0] == 2);
        CHECK(fabsf(ann.boxes[1] - 3.f) < 1e-4f && fabsf(ann.boxes[3] - 27.f) < 1e-4f);
        ssd_annotation_free(&ann);
    }
    ssd_dataset_destroy(ds);

    /* two roots with the same classes concatenate */
    const char *roots[2] = {root_a, root_a};
    CHECK_OK(ssd_oi_concat(&ds, roots, 2, "train", false, 0));
    CHECK(ds && ssd_dataset_size(ds) == 4 && ds->num_classes == 4);
    ssd_dataset_destroy(ds);
}

/* Apple in five images, Orange in two, Pear in none of train: each class
 * keeps two images (the rarest count), so Orange's both stay. */
static void test_balance(void) {
    char root[1100];
    snprintf(root, sizeof root, "%s/bal", base);
    test_put(root, "sub-train-annotations-bbox.csv",
             HDR "i1,x,/m/a,1,0.1,0.9,0.1,0.9,0,/m/a,Apple\n"
                 "i2,x,/m/a,1,0.1,0.9,0.1,0.9,0,/m/a,Apple\n"
                 "i3,x,/m/a,1,0.1,0.9,0.1,0.9,0,/m/a,Apple\n"
                 "i4,x,/m/a,1,0.1,0.9,0.1,0.9,0,/m/a,Apple\n"
                 "i5,x,/m/a,1,0.1,0.9,0.1,0.9,0,/m/a,Apple\n"
                 "o1,x,/m/o,1,0.1,0.9,0.1,0.9,0,/m/o,Orange\n"
                 "o2,x,/m/o,1,0.1,0.9,0.1,0.9,0,/m/o,Orange\n");
    test_put(root, "sub-test-annotations-bbox.csv",
             HDR "p1,x,/m/p,1,0.1,0.9,0.1,0.9,0,/m/p,Pear\n");
    const char *ids[] = {"i1", "i2", "i3", "i4", "i5", "o1", "o2"};
    for (int k = 0; k < 7; k++) image(root, "train", ids[k], 8, 8);
    for (uint64_t seed = 0; seed < 4; seed++) {
        ssd_dataset *ds = NULL;
        CHECK_OK(ssd_oi_open(&ds, root, "train", true, seed));
        if (!ds) continue;
        ssd_oi_stats s;
        CHECK_OK(ssd_oi_stats_get(ds, &s));
        CHECK(s.min_image_num == 2);
        CHECK(ssd_dataset_size(ds) == 4);
        int64_t n = ssd_dataset_size(ds);
        CHECK(!strcmp(ds->ops->image_id(ds, n - 2), "o1") &&
              !strcmp(ds->ops->image_id(ds, n - 1), "o2"));
        for (int64_t i = 1; i < n; i++) /* still in ImageID order */
            CHECK(strcmp(ds->ops->image_id(ds, i - 1), ds->ops->image_id(ds, i)) < 0);
        ssd_dataset_destroy(ds);
    }
}

static void expect_error(const char *root, const char *split, ssd_status want, const char *text) {
    ssd_dataset *ds = NULL;
    ssd_status st = ssd_oi_open(&ds, root, split, false, 0);
    CHECK(st == want && ds == NULL);
    if (!strstr(ssd_error_message(), text))
        fprintf(stderr, "  message [%s] lacks [%s]\n", ssd_error_message(), text);
    CHECK(strstr(ssd_error_message(), text) != NULL);
    ssd_dataset_destroy(ds);
}

static void test_errors(void) {
    char root[1100];
    snprintf(root, sizeof root, "%s/err", base);
    expect_error(root, "train", SSD_E_IO, "sub-train-annotations-bbox.csv: not found");
    test_put(root, "sub-train-annotations-bbox.csv", "ImageID,XMin,XMax,YMin,YMax\nx,0,1,0,1\n");
    expect_error(root, "train", SSD_E_FORMAT,
                 "sub-train-annotations-bbox.csv:1: the header has "
                 "no column 'ClassName'");
    test_put(root, "sub-train-annotations-bbox.csv", HDR "x,s,l,1,0,1,0,1,0,l,A\ny,s,l,1,0,1\n");
    expect_error(root, "train", SSD_E_FORMAT,
                 "sub-train-annotations-bbox.csv:3: 6 fields, expected 11");
    test_put(root, "sub-train-annotations-bbox.csv",
             HDR "x,s,l,1,0,1,0,1,0,l,A\ny,s,l,1,0,abc,0,1,0,l,A\n");
    expect_error(root, "train", SSD_E_FORMAT,
                 "sub-train-annotations-bbox.csv:3: XMax is not a number: 'abc'");
    test_put(root, "sub-train-annotations-bbox.csv", HDR "x,\"s,l,1,0,1,0,1,0,l,A\n");
    expect_error(root, "train", SSD_E_FORMAT, "sub-train-annotations-bbox.csv:2: quoted field");
    test_put(root, "sub-train-annotations-bbox.csv", HDR "../x,s,l,1,0,1,0,1,0,l,A\n");
    expect_error(root, "train", SSD_E_FORMAT, "ImageID with a '/'");
    /* a bad row in another split's file is reported too: the classes come from all */
    test_put(root, "sub-train-annotations-bbox.csv", HDR "x,s,l,1,0,1,0,1,0,l,A\n");
    test_put(root, "sub-test-annotations-bbox.csv", HDR "x,s,l,1,0,1,0,1,0,l\n");
    expect_error(root, "train", SSD_E_FORMAT, "sub-test-annotations-bbox.csv:2: 10 fields");
    /* no image at all: an empty dataset, not an error (training reports it) */
    test_put(root, "sub-test-annotations-bbox.csv", HDR "x,s,l,1,0,1,0,1,0,l,A\n");
    ssd_dataset *ds = NULL;
    CHECK_OK(ssd_oi_open(&ds, root, "train", false, 0));
    CHECK(ds && ssd_dataset_size(ds) == 0);
    ssd_dataset_destroy(ds);
}

static void alloc_failures(void) {
    int failed = 0;
    for (long k = 1; k < 400; k++) {
        ssd_alloc_fail_at(k);
        ssd_dataset *ds = NULL;
        ssd_status st = ssd_oi_open(&ds, root_a, "train", true, 0);
        ssd_alloc_fail_at(0);
        CHECK(st == SSD_OK || st == SSD_E_NOMEM);
        if (st != SSD_OK) {
            failed++;
            CHECK(ds == NULL);
        }
        ssd_dataset_destroy(ds);
    }
    CHECK(failed > 20);
}

int main(int argc, char **argv) {
    if (argc < 2) return test_skip("needs a scratch directory");
    snprintf(base, sizeof base, "%s", argv[1]);
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", base, base);
    if (system(cmd) != 0) return test_skip("cannot create the scratch directory");
    ssd_log_set_timestamps(0);
    ssd_log_set_level(SSD_LOG_ERROR);
    make_tree_a();
    test_tree_a();
    test_balance();
    test_errors();
    alloc_failures();
    return test_finish();
}
