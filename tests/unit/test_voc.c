/* The VOC reader on small trees written here: the reference's rules (labels,
 * split files, extensions, -1 offset, difficult) and the cases it got wrong
 * (blank label lines, negatives, inverted and out-of-image boxes, malformed or
 * missing XML, empty split files), plus garbled XML in a loop. */
#include "test.h"

#include "core/log.h"
#include "core/mem.h"
#include "data/data_io.h"
#include "data/voc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char base[1024];

static void image(const char *root, const char *name, int w, int h) {
    char path[4096];
    snprintf(path, sizeof path, "%s/JPEGImages", root);
    ssd_mkdir_p(path);
    snprintf(path, sizeof path, "%s/JPEGImages/%s", root, name);
    ssd_image img;
    if (ssd_image_alloc(&img, w, h, 3) != SSD_OK) exit(1);
    for (int i = 0; i < w * h * 3; i++) img.px[i] = (uint8_t)(i * 13);
    const char *ext = strrchr(name, '.');
    if (!strcasecmp(ext, ".png") || !strcasecmp(ext, ".jpg")) {
        if (!strcasecmp(ext, ".png") ? ssd_image_save_png(&img, path) != SSD_OK
                                     : ssd_image_save_jpeg(&img, path, 90) != SSD_OK)
            exit(1);
    } else { /* .bmp, 24-bit bottom-up */
        int stride = (w * 3 + 3) & ~3;
        uint8_t hdr[54] = {'B', 'M'};
        uint32_t off = 54, size = off + (uint32_t)(stride * h);
        memcpy(hdr + 2, &size, 4);
        memcpy(hdr + 10, &off, 4);
        uint32_t dib = 40;
        int32_t ww = w, hh = h;
        uint16_t planes = 1, bpp = 24;
        memcpy(hdr + 14, &dib, 4);
        memcpy(hdr + 18, &ww, 4);
        memcpy(hdr + 22, &hh, 4);
        memcpy(hdr + 26, &planes, 2);
        memcpy(hdr + 28, &bpp, 2);
        FILE *fp = fopen(path, "wb");
        fwrite(hdr, 1, 54, fp);
        uint8_t *row = calloc(1, (size_t)stride);
        for (int y = 0; y < h; y++) fwrite(row, 1, (size_t)stride, fp);
        free(row);
        fclose(fp);
    }
    ssd_image_free(&img);
}

static const char *obj(const char *name, const char *box, const char *extra) {
    static char buf[8][512];
    static int k;
    char *b = buf[k++ % 8];
    snprintf(b, 512, "  <object>\n    <name>%s</name>%s\n    <bndbox>%s</bndbox>\n  </object>\n",
             name, extra, box);
    return b;
}

static const char *bb(const char *x1, const char *y1, const char *x2, const char *y2) {
    static char buf[8][256];
    static int k;
    char *b = buf[k++ % 8];
    snprintf(b, 256, "<xmin>%s</xmin><ymin>%s</ymin><xmax>%s</xmax><ymax>%s</ymax>", x1, y1, x2,
             y2);
    return b;
}

#define SIZE(w, h) "<size><width>" #w "</width><height>" #h "</height><depth>3</depth></size>\n"

static char root_a[2200];

static void make_tree_a(void) {
    snprintf(root_a, sizeof root_a, "%s/a", base);
    const char *r = root_a;
    test_put(r, "labels.txt", "\ncar\n\n  person  \n\n");
    test_put(r, "ImageSets/Main/trainval.txt", "img1\n\nimg2\nimg3\nimg4\nnoimg\nimg5\n");
    test_put(r, "ImageSets/Main/test.txt", "img1\r\nimg4\r\n");
    image(r, "img1.jpg", 40, 30);
    image(r, "img2.png", 16, 16);
    image(r, "img3.JPG", 50, 20); /* .JPG comes before .png in the reference's order */
    image(r, "img3.png", 8, 8);
    image(r, "img4.bmp", 33, 17);
    image(r, "img5.jpg", 20, 20);
    test_put(r, "Annotations/img1.xml", "<annotation>\n" SIZE(40, 30) "%s%s%s%s%s</annotation>\n",
             obj(" car \n", bb("5", "6", "20", "25"), "<difficult></difficult>"),
             obj("person", bb("2", "2", "10", "10"), "<difficult> 1 </difficult>"),
             obj("dog", bb("1", "1", "5", "5"), ""),
             obj("car", bb("20", "5", "10", "9"), "<difficult>0</difficult>"),
             obj("car", bb("0", "0", "45", "35"), ""));
    test_put(r, "Annotations/img2.xml", "<annotation>" SIZE(16, 16) "</annotation>");
    test_put(r, "Annotations/img3.xml", "<annotation>%s</annotation>",
             obj("person", bb("30", "2", "60", "18"), ""));
    test_put(r, "Annotations/img4.xml", "<annotation>" SIZE(33, 17) "%s</annotation>",
             obj("person", bb("10.5", "2", "12.25", "3"), "<difficult>0</difficult>"));
    test_put(r, "Annotations/noimg.xml", "<annotation>" SIZE(10, 10) "</annotation>");
    test_put(r, "Annotations/img5.xml", "<annotation>" SIZE(20, 20) "%s</annotation>",
             obj("car", bb("30", "30", "40", "40"), ""));
}

static bool box_is(const float *b, float x1, float y1, float x2, float y2) {
    bool ok = fabsf(b[0] - x1) < 1e-6f && fabsf(b[1] - y1) < 1e-6f && fabsf(b[2] - x2) < 1e-6f &&
              fabsf(b[3] - y2) < 1e-6f;
    if (!ok)
        fprintf(stderr, "box %g %g %g %g, want %g %g %g %g\n", b[0], b[1], b[2], b[3], x1, y1, x2,
                y2);
    return ok;
}

static void test_tree_a(void) {
    ssd_dataset *ds = NULL;
    CHECK_OK(ssd_voc_open(&ds, root_a, false, NULL));
    if (!ds) return;
    CHECK(ds->num_classes == 3);
    CHECK(!strcmp(ds->class_names[0], "BACKGROUND") && !strcmp(ds->class_names[1], "car") &&
          !strcmp(ds->class_names[2], "person"));
    CHECK(ssd_dataset_size(ds) == 5);
    ssd_voc_stats s;
    CHECK_OK(ssd_voc_stats_get(ds, &s));
    CHECK(s.listed == 6 && s.images == 5 && s.empty_lines == 1 && s.missing_image == 1);
    CHECK(s.unknown_class == 1);
    CHECK(s.rejected == 2);  /* img1's inverted box, img5's box outside the image */
    CHECK(s.clamped == 2);   /* img1's 0..45 box, img3's box past its header width */
    CHECK(s.negatives == 2); /* img2 (no objects) and img5 (its only box dropped) */
    CHECK(s.objects == 5 && s.difficult == 1);
    CHECK(strstr(s.split_file, "trainval.txt") != NULL);
    CHECK(!strcmp(ds->ops->image_id(ds, 0), "img1") && !strcmp(ds->ops->image_id(ds, 4), "img5"));
    CHECK(strstr(ds->ops->image_path(ds, 2), "img3.JPG") != NULL);
    CHECK(strstr(ds->ops->image_path(ds, 3), "img4.bmp") != NULL);
    CHECK(ds->ops->image_id(ds, 5) == NULL);

    ssd_annotation a;
    CHECK_OK(ds->ops->annotation(ds, 0, true, &a));
    CHECK(a.n == 3);
    if (a.n == 3) {
        CHECK(box_is(a.boxes, 4, 5, 19, 24) && a.labels[0] == 1 && a.difficult[0] == 0);
        CHECK(box_is(a.boxes + 4, 1, 1, 9, 9) && a.labels[1] == 2 && a.difficult[1] == 1);
        CHECK(box_is(a.boxes + 8, 0, 0, 39, 29) && a.labels[2] == 1);
    }
    ssd_annotation_free(&a);
    CHECK_OK(ds->ops->annotation(ds, 0, false, &a));
    CHECK(a.n == 2 && a.labels[0] == 1 && a.labels[1] == 1);
    ssd_annotation_free(&a);
    CHECK(ds->ops->annotation(ds, 99, false, &a) == SSD_E_INVAL);

    ssd_image img;
    CHECK_OK(ds->ops->get(ds, 0, false, &img, &a));
    CHECK(img.w == 40 && img.h == 30 && img.c == 3 && a.n == 2);
    ssd_image_free(&img);
    ssd_annotation_free(&a);
    CHECK_OK(ds->ops->get(ds, 1, false, &img, &a)); /* a negative: an image and no boxes */
    CHECK(img.w == 16 && a.n == 0 && a.boxes == NULL);
    ssd_image_free(&img);
    ssd_annotation_free(&a);
    CHECK_OK(ds->ops->get(ds, 2, true, &img, &a)); /* size from the image header */
    CHECK(img.w == 50 && img.h == 20 && a.n == 1 && box_is(a.boxes, 29, 1, 49, 17));
    ssd_image_free(&img);
    ssd_annotation_free(&a);
    CHECK_OK(ds->ops->get(ds, 3, true, &img, &a));
    CHECK(img.w == 33 && img.h == 17 && a.n == 1 && box_is(a.boxes, 9.5f, 1, 11.25f, 2));
    ssd_image_free(&img);
    ssd_annotation_free(&a);
    ssd_dataset_destroy(ds);

    CHECK_OK(ssd_voc_open(&ds, root_a, true, NULL));
    if (ds) {
        CHECK(ssd_dataset_size(ds) == 2 && !strcmp(ds->ops->image_id(ds, 1), "img4"));
        CHECK_OK(ssd_voc_stats_get(ds, &s));
        CHECK(s.empty_lines == 0 && strstr(s.split_file, "test.txt"));
    }
    ssd_dataset_destroy(ds);
}

/* Opens root expecting `want`, with every needle in the message. */
static void expect_fail(const char *root, bool is_test, ssd_status want, const char *n1,
                        const char *n2) {
    ssd_dataset *ds = (ssd_dataset *)1;
    ssd_status st = ssd_voc_open(&ds, root, is_test, NULL);
    const char *msg = ssd_error_message();
    bool ok = st == want && ds == NULL && (!n1 || strstr(msg, n1)) && (!n2 || strstr(msg, n2));
    if (!ok)
        fprintf(stderr, "%s: got %s '%s', want %s with '%s' '%s'\n", root, ssd_status_name(st), msg,
                ssd_status_name(want), n1 ? n1 : "", n2 ? n2 : "");
    CHECK(ok);
    if (st == SSD_OK) ssd_dataset_destroy(ds);
}

static void one_image_root(char *r, size_t cap, const char *name, const char *xml) {
    snprintf(r, cap, "%s/%s", base, name);
    test_put(r, "labels.txt", "car\nperson\n");
    test_put(r, "ImageSets/Main/trainval.txt", "x\n");
    image(r, "x.jpg", 20, 20);
    test_put(r, "Annotations/x.xml", "%s", xml);
}

static void test_errors(void) {
    char r[2200];
    one_image_root(r, sizeof r, "malformed",
                   "<annotation>\n<object><name>car</name>\n<bndbox>"
                   "<xmin>1</xmin></object>\n</annotation>\n");
    expect_fail(r, false, SSD_E_FORMAT, "x.xml:3:", "malformed XML");
    one_image_root(r, sizeof r, "nan",
                   "<annotation>\n<object><name>car</name>\n<bndbox>"
                   "<xmin>1</xmin><ymin>1</ymin>\n<xmax>abc</xmax>"
                   "<ymax>3</ymax></bndbox></object></annotation>");
    expect_fail(r, false, SSD_E_FORMAT, "x.xml:4:", "<xmax> is not a number");
    one_image_root(r, sizeof r, "nobox",
                   "<annotation>\n\n<object><name>car</name></object></annotation>");
    expect_fail(r, false, SSD_E_FORMAT, "x.xml:3:", "without <bndbox>");
    one_image_root(r, sizeof r, "noname", "<annotation><object><bndbox/></object></annotation>");
    expect_fail(r, false, SSD_E_FORMAT, "x.xml:1:", "without <name>");
    one_image_root(r, sizeof r, "baddiff",
                   "<annotation><object><name>car</name><difficult>x</difficult><bndbox><xmin>1"
                   "</xmin><ymin>1</ymin><xmax>3</xmax><ymax>3</ymax></bndbox></object>"
                   "</annotation>");
    expect_fail(r, false, SSD_E_FORMAT, "x.xml:1:", "<difficult>");
    one_image_root(r, sizeof r, "empty-xml", "");
    expect_fail(r, false, SSD_E_FORMAT, "x.xml", "malformed");

    /* A listed id without its XML. */
    one_image_root(r, sizeof r, "noxml", "<annotation/>");
    test_put(r, "ImageSets/Main/trainval.txt", "x\nghost\n");
    image(r, "ghost.jpg", 8, 8);
    expect_fail(r, false, SSD_E_IO, "Annotations/ghost.xml", "trainval.txt:2");

    /* Split files: empty, missing, default.txt fallback. */
    one_image_root(r, sizeof r, "emptysplit", "<annotation/>");
    test_put(r, "ImageSets/Main/trainval.txt", "%s", "");
    expect_fail(r, false, SSD_E_FORMAT, "trainval.txt", "lists no images");
    test_put(r, "ImageSets/Main/trainval.txt", "\n\n");
    expect_fail(r, false, SSD_E_FORMAT, "trainval.txt", "lists no images");
    test_put(r, "ImageSets/Main/trainval.txt", "y\nz\n");
    test_put(r, "Annotations/y.xml", "<annotation/>");
    test_put(r, "Annotations/z.xml", "<annotation/>");
    expect_fail(r, false, SSD_E_FORMAT, "trainval.txt", "none of the 2");
    expect_fail(r, true, SSD_E_IO, "ImageSets/Main/test.txt", "convert split");
    test_put(r, "ImageSets/Main/default.txt", "x\n");
    ssd_dataset *ds = NULL;
    CHECK_OK(ssd_voc_open(&ds, r, true, NULL));
    ssd_voc_stats s;
    if (ds) {
        CHECK_OK(ssd_voc_stats_get(ds, &s));
        CHECK(strstr(s.split_file, "default.txt") != NULL && ssd_dataset_size(ds) == 1);
        CHECK(s.negatives == 1);
    }
    ssd_dataset_destroy(ds);
    expect_fail("/nonexistent/voc", false, SSD_E_IO, "/nonexistent/voc", NULL);

    /* labels.txt: absent -> VOC classes; BACKGROUND not doubled; duplicates refused. */
    one_image_root(r, sizeof r, "labels", "<annotation/>");
    char lp[4200];
    snprintf(lp, sizeof lp, "%s/labels.txt", r);
    unlink(lp);
    CHECK_OK(ssd_voc_open(&ds, r, false, NULL));
    if (ds) CHECK(ds->num_classes == 21 && !strcmp(ds->class_names[20], "tvmonitor"));
    ssd_dataset_destroy(ds);
    test_put(r, "labels.txt", "BACKGROUND\nplate\n");
    CHECK_OK(ssd_voc_open(&ds, r, false, NULL));
    if (ds) CHECK(ds->num_classes == 2 && !strcmp(ds->class_names[1], "plate"));
    ssd_dataset_destroy(ds);
    test_put(r, "labels.txt", "a\nb\n\na \n");
    expect_fail(r, false, SSD_E_FORMAT, "labels.txt:4", "'a' is listed twice");
    test_put(r, "labels.txt", "\n \n");
    expect_fail(r, false, SSD_E_FORMAT, "labels.txt", "no class names");
    char **names;
    int n;
    CHECK(ssd_labels_load("/nonexistent/labels.txt", &names, &n) == SSD_E_IO);
}

static void test_concat(void) {
    char r[2200];
    one_image_root(r, sizeof r, "second", "<annotation/>");
    test_put(r, "labels.txt", "car\nperson\n");
    const char *roots[2] = {root_a, r};
    ssd_dataset *ds = NULL;
    CHECK_OK(ssd_voc_concat(&ds, roots, 2, false, NULL));
    if (ds) {
        CHECK(ssd_dataset_size(ds) == 6 && ds->num_classes == 3);
        CHECK(!strcmp(ds->ops->image_id(ds, 4), "img5") && !strcmp(ds->ops->image_id(ds, 5), "x"));
        CHECK(ds->ops->image_id(ds, 6) == NULL && ds->ops->image_id(ds, -1) == NULL);
        ssd_image img;
        ssd_annotation a;
        CHECK_OK(ds->ops->get(ds, 5, false, &img, &a));
        CHECK(img.w == 20 && a.n == 0);
        ssd_image_free(&img);
        ssd_annotation_free(&a);
        CHECK_OK(ds->ops->annotation(ds, 0, true, &a));
        CHECK(a.n == 3);
        ssd_annotation_free(&a);
        CHECK(ssd_voc_stats_get(ds, &(ssd_voc_stats){0}) == SSD_E_INVAL);
    }
    ssd_dataset_destroy(ds);
    test_put(r, "labels.txt", "car\ntruck\n");
    CHECK(ssd_voc_concat(&ds, roots, 2, false, NULL) == SSD_E_INVAL && ds == NULL);
    CHECK(strstr(ssd_error_message(), "'truck'") && strstr(ssd_error_message(), root_a));
}

static uint64_t lcg = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(lcg >> 33);
}

/* Garbled annotations: OK or an error naming the file, never a crash. */
static void fuzz_xml(void) {
    char r[2200];
    const char *good =
        "<?xml version=\"1.0\"?>\n<annotation>\n <size><width>20</width><height>20</height>"
        "</size>\n <object>\n  <name>car</name>\n  <difficult>1</difficult>\n  <bndbox><xmin>2"
        "</xmin><ymin>3</ymin><xmax>15.5</xmax><ymax>19</ymax></bndbox>\n </object>\n <object>"
        "<name>person</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>30</xmax><ymax>5</ymax>"
        "</bndbox></object>\n</annotation>\n";
    one_image_root(r, sizeof r, "fuzz", good);
    char xp[4200];
    snprintf(xp, sizeof xp, "%s/Annotations/x.xml", r);
    static const char junk[] = "<>/&;\"'=![]-?x0 \n\xff\xc3";
    size_t glen = strlen(good);
    int opened = 0, failed_bad = 0;
    ssd_log_level saved = ssd_log_get_level();
    ssd_log_set_level(SSD_LOG_CRITICAL); /* thousands of expected warnings */
    for (int round = 0; round < 400; round++) {
        char buf[1024];
        size_t len;
        if (round < 100) { /* truncations */
            len = glen * (size_t)round / 100;
            memcpy(buf, good, len);
        } else { /* byte edits */
            memcpy(buf, good, glen);
            len = glen;
            int edits = 1 + (int)(rnd() % 6);
            for (int e = 0; e < edits; e++) {
                size_t at = rnd() % len;
                switch (rnd() % 3) {
                case 0:
                    buf[at] = junk[rnd() % (sizeof junk - 1)];
                    break;
                case 1: /* delete */
                    memmove(buf + at, buf + at + 1, len - at - 1);
                    len--;
                    break;
                default: /* duplicate a chunk */
                    if (len + 16 < sizeof buf) {
                        memmove(buf + at + 16, buf + at, len - at);
                        len += 16;
                    }
                }
            }
        }
        FILE *fp = fopen(xp, "wb");
        fwrite(buf, 1, len, fp);
        fclose(fp);
        ssd_dataset *ds = NULL;
        ssd_status st = ssd_voc_open(&ds, r, false, NULL);
        if (st == SSD_OK) {
            opened++;
            ssd_annotation a;
            if (ds->ops->annotation(ds, 0, true, &a) == SSD_OK) {
                for (int k = 0; k < a.n; k++) {
                    const float *b = a.boxes + 4 * k;
                    /* Whatever survives is a proper box inside the 20x20 image. */
                    if (!(b[0] >= 0 && b[1] >= 0 && b[2] <= 19 && b[3] <= 19 && b[0] < b[2] &&
                          b[1] < b[3]))
                        failed_bad++;
                }
                ssd_annotation_free(&a);
            }
            ssd_dataset_destroy(ds);
        } else if (!strstr(ssd_error_message(), "x.xml") || ds != NULL) {
            fprintf(stderr, "fuzz: message without the file: %s\n", ssd_error_message());
            failed_bad++;
        }
    }
    ssd_log_set_level(saved);
    CHECK(failed_bad == 0);
    CHECK(opened > 0 && opened < 400);
}

/* Every allocation failing in turn while opening tree A. */
static void alloc_failures(void) {
    ssd_log_level saved = ssd_log_get_level();
    ssd_log_set_level(SSD_LOG_CRITICAL);
    int bad = 0;
    long k = 1;
    for (; k < 1000; k++) {
        ssd_alloc_fail_at(k);
        ssd_dataset *ds = NULL;
        ssd_status st = ssd_voc_open(&ds, root_a, false, NULL);
        ssd_alloc_fail_at(0);
        if (st == SSD_OK) {
            ssd_dataset_destroy(ds);
            break;
        }
        if (st != SSD_E_NOMEM || ds) bad++;
    }
    ssd_log_set_level(saved);
    CHECK(bad == 0);
    CHECK(k > 20 && k < 1000); /* it did allocate, and it did finish */
}

int main(int argc, char **argv) {
    if (argc < 2) return test_skip("needs a scratch directory");
    snprintf(base, sizeof base, "%s", argv[1]);
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", base, base);
    if (system(cmd) != 0) return test_skip("cannot create the scratch directory");
    ssd_log_set_timestamps(0);
    make_tree_a();
    test_tree_a();
    test_errors();
    test_concat();
    fuzz_xml();
    alloc_failures();
    return test_finish();
}
