/* CCPD file-name parsing (good, bad and garbled names) and the end-to-end
 * check: the repo's sample converted to VOC and read back by the VOC reader
 * gives exactly the boxes written in the file names. */
#include "test.h"

#include "core/log.h"
#include "data/convert.h"
#include "data/voc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void parse_cases(void) {
    ssd_ccpd_label l;
    CHECK_OK(ssd_ccpd_parse_name("train/025-95_113-154&383_386&473-386&473_177&454_154&383_363&"
                                 "402-0_0_22_27_27_33_16-37-15.jpg",
                                 &l));
    CHECK(l.x1 == 154 && l.y1 == 383 && l.x2 == 386 && l.y2 == 473);
    CHECK(l.vx[0] == 386 && l.vy[0] == 473 && l.vx[1] == 177 && l.vy[1] == 454 && l.vx[2] == 154 &&
          l.vy[2] == 383 && l.vx[3] == 363 && l.vy[3] == 402);
    /* CCPD2020: eight plate indices; the extension does not matter. */
    CHECK_OK(ssd_ccpd_parse_name("004827586206896552-93_265-348&574_460&613-460&613_349&610_348&"
                                 "574_459&582-0_0_3_25_28_28_32_32-153-23.JPG",
                                 &l));
    CHECK(l.x1 == 348 && l.y2 == 613);
    static const char *bad[] = {
        "",
        "1005.jpg", /* ccpd_np: no plate */
        "-------.jpg",
        "a-b-c.jpg",
        "0-1_2-386&473_154&383-386&473_177&454_154&383_363&402-0-1-1.jpg", /* inverted */
        "0-1_2-154&383_386&383-386&473_177&454_154&383_363&402-0-1-1.jpg", /* empty */
        "0-1_2-154&383_386-386&473_177&454_154&383_363&402-0-1-1.jpg",
        "0-1_2-154&383_386&473-386&473_177&454_154&383-0-1-1.jpg", /* 3 vertices */
        "0-1_2-154&383_386&473-386&473_177&454_154&383_363&402_1&1-0-1-1.jpg",
        "0-1_2-154&383_386&473-386&473_177&454_154&383_363&402-0-1-1-9.jpg",
        "0-1_2-154&383_99999999&473-386&473_177&454_154&383_363&402-0-1-1.jpg",
        "0-1_2-154&383_+386&473-386&473_177&454_154&383_363&402-0-1-1.jpg",
        "0-1_2-154&383_386&473x-386&473_177&454_154&383_363&402-0-1-1.jpg",
        "0-1_2-&_&-&_&_&_&-0-1-1.jpg",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bool ok = ssd_ccpd_parse_name(bad[i], &l) == SSD_E_FORMAT;
        if (!ok) fprintf(stderr, "parsed a bad name: '%s'\n", bad[i]);
        CHECK(ok);
    }
    /* Garbled names: either a proper box or an error. */
    const char *good = "025-95_113-154&383_386&473-386&473_177&454_154&383_363&402-0_0_22_27_27_"
                       "33_16-37-15.jpg";
    static const char alphabet[] = "0123456789&_-.x/";
    uint64_t s = 12345;
    int bad_boxes = 0;
    for (int r = 0; r < 5000; r++) {
        char buf[200];
        snprintf(buf, sizeof buf, "%s", good);
        size_t n = strlen(buf);
        for (int e = 0; e < 3; e++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            buf[(s >> 33) % n] = alphabet[(s >> 20) % (sizeof alphabet - 1)];
        }
        if (ssd_ccpd_parse_name(buf, &l) == SSD_OK && !(l.x1 < l.x2 && l.y1 < l.y2)) bad_boxes++;
    }
    CHECK(bad_boxes == 0);
}

static void sample_round_trip(const char *out) {
    /* The sample lives in the source tree, two levels above this file. */
    char src[4096];
    snprintf(src, sizeof src, "%s", __FILE__);
    for (int k = 0; k < 3; k++) {
        char *slash = strrchr(src, '/');
        if (!slash) {
            CHECK(!"no absolute source path");
            return;
        }
        *slash = 0;
    }
    strncat(src, "/data/ccpd-sample", sizeof src - strlen(src) - 1);
    char dst[4200];
    snprintf(dst, sizeof dst, "%s/voc", out);
    ssd_ccpd_stats st;
    CHECK_OK(ssd_ccpd_convert(src, dst, &st));
    CHECK(st.images[0] == 86 && st.images[1] == 17 && st.images[2] == 0 && st.test_from_val);
    CHECK(st.unparsed == 0 && st.duplicates == 0 && st.from_lists);

    ssd_dataset *ds = NULL;
    CHECK_OK(ssd_voc_open(&ds, dst, false, NULL));
    if (!ds) return;
    CHECK(ds->num_classes == 2 && !strcmp(ds->class_names[1], "plate"));
    CHECK(ssd_dataset_size(ds) == 103);
    int mismatched = 0;
    for (int64_t i = 0; i < ssd_dataset_size(ds); i++) {
        ssd_annotation a;
        ssd_ccpd_label l;
        CHECK_OK(ds->ops->annotation(ds, i, false, &a));
        CHECK_OK(ssd_ccpd_parse_name(ds->ops->image_id(ds, i), &l));
        if (a.n != 1 || a.labels[0] != 1 || a.boxes[0] != (float)l.x1 ||
            a.boxes[1] != (float)l.y1 || a.boxes[2] != (float)l.x2 || a.boxes[3] != (float)l.y2) {
            if (mismatched++ < 3)
                fprintf(stderr, "box mismatch for %s\n", ds->ops->image_id(ds, i));
        }
        ssd_annotation_free(&a);
    }
    CHECK(mismatched == 0);
    ssd_image img;
    ssd_annotation a;
    CHECK_OK(ds->ops->get(ds, 0, false, &img, &a));
    CHECK(img.w == 720 && img.h == 1160 && a.n == 1);
    ssd_image_free(&img);
    ssd_annotation_free(&a);
    ssd_dataset_destroy(ds);

    CHECK_OK(ssd_voc_open(&ds, dst, true, NULL));
    if (ds) CHECK(ssd_dataset_size(ds) == 17);
    ssd_dataset_destroy(ds);
}

int main(int argc, char **argv) {
    if (argc < 2) return test_skip("needs a scratch directory");
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", argv[1], argv[1]);
    if (system(cmd) != 0) return test_skip("cannot create the scratch directory");
    ssd_log_set_timestamps(0);
    parse_cases();
    sample_round_trip(argv[1]);
    return test_finish();
}
