/* detectnet's clustering and the NMS path of ssd_detect_postprocess on hand-made priors, and the
 * output naming of ssd detect (patterns, directories, bad specs). */
#include "../common/test.h"

#include "core/mem.h"
#include "data/image_list.h"
#include "runtime/detector.h"

#include <math.h>
#include <string.h>

/* 3 classes (background, a, b), 5 priors on a 100 x 50 image. */
static const float scores[5 * 3] = {
    0.1f, 0.8f,  0.1f,  /* 0: a 0.8 */
    0.1f, 0.7f,  0.2f,  /* 1: a 0.7, overlaps 0 heavily -> merged (clustering) / suppressed (NMS) */
    0.2f, 0.1f,  0.7f,  /* 2: b 0.7, same place as 0 but another class */
    0.5f, 0.45f, 0.05f, /* 3: below any useful threshold */
    0.0f, 0.6f,  0.4f,  /* 4: a 0.6, far away, bigger, partly outside */
};
static const float boxes[5 * 4] = {
    0.10f, 0.10f, 0.50f, 0.50f, /**/ 0.12f, 0.10f, 0.52f,      0.50f, /**/ 0.10f, 0.10f,
    0.50f, 0.50f, 0.0f,  0.0f,  1.0f,       1.0f,  /**/ 0.60f, 0.40f, 1.20f,      1.30f,
};

static void test_cluster(void) {
    ssd_detect_post p;
    ssd_detect_post_default(&p);
    p.clustering = true;
    p.threshold = 0.5f;
    ssd_detection *d = NULL;
    int n = 0;
    CHECK_OK(ssd_detect_postprocess(&d, &n, scores, boxes, 5, 3, 100, 50, &p));
    CHECK(n == 3);
    if (n == 3) {
        /* by clamped area: prior 4 (x 60..99, y 20..49 = 39*29), then the merged a, then b */
        CHECK(d[0].label == 1 && d[0].prob == 0.6f);
        CHECK(fabsf(d[0].box[0] - 60) < 1e-4f && d[0].box[1] == 20 && d[0].box[2] == 99 &&
              d[0].box[3] == 49);
        CHECK(d[1].label == 1 && d[1].prob == 0.8f);
        CHECK(d[1].box[0] == 10 && d[1].box[2] == 52); /* union of priors 0 and 1 */
        CHECK(d[2].label == 2 && d[2].prob == 0.7f && d[2].box[2] == 50);
    }
    ssd_free(d);
    /* a class marked skip ("void") is never reported */
    bool skip[3] = {false, true, false};
    p.skip = skip;
    CHECK_OK(ssd_detect_postprocess(&d, &n, scores, boxes, 5, 3, 100, 50, &p));
    CHECK(n == 1 && d && d[0].label == 2);
    ssd_free(d);
    /* a merge needs overlap > cluster * the larger area: 0.99 keeps 0 and 1 apart */
    p.skip = NULL;
    p.cluster = 0.99f;
    CHECK_OK(ssd_detect_postprocess(&d, &n, scores, boxes, 5, 3, 100, 50, &p));
    CHECK(n == 4);
    ssd_free(d);
}

static void test_nms(void) {
    ssd_detect_post p;
    ssd_detect_post_default(&p);
    p.threshold = 0.5f;
    ssd_detection *d = NULL;
    int n = 0;
    CHECK_OK(ssd_detect_postprocess(&d, &n, scores, boxes, 5, 3, 100, 50, &p));
    /* class a: 0 (0.8) keeps, 1 suppressed (IoU > 0.45), 4 kept; class b: 2 */
    CHECK(n == 3);
    if (n == 3) {
        CHECK(d[0].label == 1 && d[0].prob == 0.8f && d[0].box[0] == 10);
        CHECK(d[1].label == 1 && d[1].prob == 0.6f && d[1].box[2] == 100 && d[1].box[3] == 50);
        CHECK(d[2].label == 2);
    }
    ssd_free(d);
    p.threshold = 0.99f;
    CHECK_OK(ssd_detect_postprocess(&d, &n, scores, boxes, 5, 3, 100, 50, &p));
    CHECK(n == 0 && d == NULL);
    CHECK(ssd_detect_postprocess(&d, &n, scores, boxes, 5, 3, 0, 50, &p) == SSD_E_INVAL);
}

static void check_path(const char *spec, int i, const char *in, const char *want) {
    ssd_out_spec o;
    ssd_status st = ssd_out_spec_parse(&o, spec);
    CHECK(st == SSD_OK);
    if (st != SSD_OK) return;
    char *p = ssd_out_spec_path(&o, i, in);
    CHECK(p && !strcmp(p, want));
    if (p && strcmp(p, want)) fprintf(stderr, "  %s -> %s, want %s\n", spec, p, want);
    ssd_free(p);
    ssd_out_spec_free(&o);
}

static void test_outputs(void) {
    check_path("out/plate_%i.jpg", 7, "a.jpg", "out/plate_7.jpg");
    check_path("out/plate_%04i.jpg", 7, "a.jpg", "out/plate_0007.jpg");
    check_path("p%-3d_100%%.png", 12, "a.jpg", "p12 _100%.png");
    check_path("one%%.jpg", 3, "a.jpg", "one%.jpg");
    check_path("dir/", 0, "x/y/img.bmp", "dir/img.jpg");
    check_path("dir//", 0, "img.PNG", "dir/img.PNG");
    ssd_out_spec o;
    CHECK_OK(ssd_out_spec_parse(&o, NULL));
    CHECK(o.kind == SSD_OUT_NONE && ssd_out_spec_path(&o, 0, "a.jpg") == NULL);
    const char *bad[] = {"a_%i_%i.jpg", "a_%s.jpg", "a_%.2i.jpg", "a_%123i.jpg",
                         "a.gif",       "a_%i",     "a_%",        "noext"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(ssd_out_spec_parse(&o, bad[i]) == SSD_E_INVAL);
        ssd_out_spec_free(&o);
    }
}

int main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    test_cluster();
    test_nms();
    test_outputs();
    return test_finish();
}
