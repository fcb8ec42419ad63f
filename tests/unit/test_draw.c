/* Drawing detections: exact pixel values of the alpha blend and the outline,
 * text pixels inside the label background, clipping at every border, boxes
 * outside the image / degenerate / non-finite, and a missing font. Writes
 * draw_demo.png into the fixture folder for a person to look at. */
#include "core/fileio.h"
#include "data/draw.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t BG[3] = {10, 20, 30};

static void make(ssd_image *img, int w, int h) {
    img->w = w, img->h = h, img->c = 3;
    img->px = malloc((size_t)w * h * 3);
    for (int i = 0; i < w * h; i++) memcpy(img->px + 3 * i, BG, 3);
}

static const uint8_t *at(const ssd_image *img, int x, int y) {
    return img->px + ((size_t)y * img->w + x) * 3;
}

static bool is(const uint8_t *p, int r, int g, int b) {
    return p[0] == r && p[1] == g && p[2] == b;
}

static int blend(int dst, int src, int a) {
    return (dst * (255 - a) + src * a + 127) / 255;
}

/* Pixels outside [x0,x1)x[y0,y1) still have the background colour. */
static bool untouched_outside(const ssd_image *img, int x0, int y0, int x1, int y1) {
    for (int y = 0; y < img->h; y++)
        for (int x = 0; x < img->w; x++)
            if ((x < x0 || x >= x1 || y < y0 || y >= y1) && !is(at(img, x, y), BG[0], BG[1], BG[2]))
                return false;
    return true;
}

static void test_primitives(void) {
    ssd_image img;
    make(&img, 64, 48);
    const uint8_t col[3] = {200, 100, 0};
    ssd_draw_fill_rect(&img, 10, 5, 20, 15, col, 120);
    CHECK(is(at(&img, 10, 5), blend(10, 200, 120), blend(20, 100, 120), blend(30, 0, 120)));
    CHECK(is(at(&img, 19, 14), 99, 58, 16)); /* by hand: (10*135+200*120+127)/255 = 99 */
    CHECK(untouched_outside(&img, 10, 5, 20, 15));
    /* Clipping: a rectangle hanging over every border fills the whole image. */
    ssd_draw_fill_rect(&img, -100, -100, 1000, 1000, col, 255);
    CHECK(is(at(&img, 0, 0), 200, 100, 0) && is(at(&img, 63, 47), 200, 100, 0));
    free(img.px);

    make(&img, 64, 48);
    ssd_draw_outline(&img, 10, 10, 30, 20, col, 2);
    CHECK(is(at(&img, 10, 10), 200, 100, 0) && is(at(&img, 11, 15), 200, 100, 0));
    CHECK(is(at(&img, 29, 19), 200, 100, 0) && is(at(&img, 28, 18), 200, 100, 0));
    CHECK(is(at(&img, 12, 12), BG[0], BG[1], BG[2])); /* inside the outline */
    CHECK(is(at(&img, 27, 17), BG[0], BG[1], BG[2]));
    CHECK(untouched_outside(&img, 10, 10, 30, 20));
    /* Half outside on the left and top: the visible edges only. */
    ssd_draw_outline(&img, -5, -5, 5, 5, col, 2);
    CHECK(is(at(&img, 2, 0), BG[0], BG[1], BG[2]) && is(at(&img, 3, 0), 200, 100, 0));
    CHECK(is(at(&img, 0, 4), 200, 100, 0) && is(at(&img, 2, 2), BG[0], BG[1], BG[2]));
    free(img.px);
}

static void test_font(ssd_font **font) {
    char buf[512];
    const char *none[] = {"/nonexistent/a.ttf", "/nonexistent/b.ttf", NULL};
    CHECK(ssd_font_find(buf, sizeof buf, none) == SSD_E_IO);
    CHECK(strstr(ssd_error_message(), "/nonexistent/b.ttf") &&
          strstr(ssd_error_message(), "fonts-dejavu-core"));
    ssd_font *f = NULL;
    CHECK(ssd_font_open(&f, "/nonexistent/x.ttf") == SSD_E_IO && f == NULL);
    CHECK(strstr(ssd_error_message(), "/nonexistent/x.ttf") != NULL);
    /* A file that is not a font. */
    CHECK(ssd_font_open(&f, SRC_DIR "/test_draw.c") == SSD_E_FORMAT && f == NULL);
    ssd_font_close(NULL);
    if (ssd_font_find(buf, sizeof buf, NULL) != SSD_OK) {
        fprintf(stderr, "%s\n", ssd_error_message());
        return;
    }
    CHECK_OK(ssd_font_open(font, NULL));
    int w = 0, h = 0;
    if (!*font) return;
    CHECK_OK(ssd_font_measure(*font, "plate 93.4%", 20, &w, &h));
    CHECK(w > 60 && w < 200 && h >= 20 && h < 30);
    int w2;
    CHECK_OK(ssd_font_measure(*font, "plate 93.4%plate 93.4%", 20, &w2, &h));
    CHECK(w2 == 2 * w);
    /* Invalid UTF-8 and a non-Latin label measure without error. */
    CHECK_OK(ssd_font_measure(*font, "\xff\xc3(\xe8\xbd\xa6\xe7\x89\x8c", 20, &w, &h));
    CHECK(ssd_font_measure(*font, "x", 0, &w, &h) == SSD_E_INVAL);
}

static void test_detections(ssd_font *font) {
    ssd_image img;
    make(&img, 160, 120);
    ssd_draw_opts o;
    ssd_draw_opts_default(&o);
    o.font_px = 14;
    CHECK(o.alpha == 120 && o.line_width == 2);
    uint8_t col[3];
    ssd_draw_class_color(1, col);
    ssd_draw_det d = {40.2f, 50.0f, 120.0f, 100.4f, 1, 0.934f, "plate"};
    CHECK_OK(ssd_draw_detections(&img, font, &d, 1, &o));
    /* Box pixels [40,120) x [50,100): outline opaque, inside blended. */
    CHECK(is(at(&img, 40, 50), col[0], col[1], col[2]));
    CHECK(is(at(&img, 41, 99), col[0], col[1], col[2]) &&
          is(at(&img, 119, 70), col[0], col[1], col[2]));
    CHECK(is(at(&img, 80, 75), blend(BG[0], col[0], 120), blend(BG[1], col[1], 120),
             blend(BG[2], col[2], 120)));
    CHECK(is(at(&img, 120, 75), BG[0], BG[1], BG[2]) && is(at(&img, 80, 100), BG[0], BG[1], BG[2]));
    /* Label above the box: background of colour alpha 200, with text pixels
     * (dark on this light green) inside it. */
    int tw, th;
    CHECK_OK(ssd_font_measure(font, "plate 93.4%", 14, &tw, &th));
    int pad = 2, bh = th + 2 * pad, bw = tw + 2 * pad;
    const uint8_t bgl[3] = {(uint8_t)blend(BG[0], col[0], 200), (uint8_t)blend(BG[1], col[1], 200),
                            (uint8_t)blend(BG[2], col[2], 200)};
    CHECK(is(at(&img, 40, 50 - bh), bgl[0], bgl[1], bgl[2]));
    CHECK(is(at(&img, 40 + bw - 1, 49), bgl[0], bgl[1], bgl[2]));
    CHECK(is(at(&img, 40 + bw, 49), BG[0], BG[1], BG[2]) &&
          is(at(&img, 40, 50 - bh - 1), BG[0], BG[1], BG[2]));
    int text = 0, dark = 0;
    for (int y = 50 - bh; y < 50; y++)
        for (int x = 40; x < 40 + bw; x++) {
            const uint8_t *p = at(&img, x, y);
            if (!is(p, bgl[0], bgl[1], bgl[2])) text++;
            if (p[0] < 40 && p[1] < 40 && p[2] < 40) dark++;
        }
    CHECK(text > 40 && dark > 10);
    CHECK(untouched_outside(&img, 40, 50 - bh, 40 + bw > 120 ? 40 + bw : 120, 100));
    free(img.px);

    /* Flags: lines only leaves the inside; none of the text flags needs no font. */
    make(&img, 160, 120);
    o.flags = SSD_DRAW_LINES;
    CHECK_OK(ssd_draw_detections(&img, NULL, &d, 1, &o));
    CHECK(is(at(&img, 80, 75), BG[0], BG[1], BG[2]) &&
          is(at(&img, 40, 50), col[0], col[1], col[2]));
    CHECK(untouched_outside(&img, 40, 50, 120, 100));
    o.flags = SSD_DRAW_LABELS;
    CHECK(ssd_draw_detections(&img, NULL, &d, 1, &o) == SSD_E_INVAL);
    free(img.px);
}

static void test_clipping(ssd_font *font) {
    ssd_image img;
    make(&img, 100, 80);
    ssd_draw_opts o;
    ssd_draw_opts_default(&o);
    o.font_px = 16;
    uint8_t col[3];
    ssd_draw_class_color(2, col);
    /* Hanging over the top-left corner: label goes inside at the top, the box
     * covers what is visible. */
    ssd_draw_det d = {-50, -10, 30, 40, 2, 0.5f, "a long label that runs off the right border"};
    CHECK_OK(ssd_draw_detections(&img, font, &d, 1, &o));
    CHECK(is(at(&img, 29, 39), col[0], col[1], col[2])); /* bottom-right corner of the outline */
    CHECK(is(at(&img, 0, 39), col[0], col[1], col[2]));  /* bottom edge at the image border */
    CHECK(is(at(&img, 60, 60), BG[0], BG[1], BG[2]));
    free(img.px);

    /* Over the bottom-right corner, label near the right border. */
    make(&img, 100, 80);
    ssd_draw_det e = {90, 70, 300, 300, 3, 0.99f, "x"};
    CHECK_OK(ssd_draw_detections(&img, font, &e, 1, &o));
    ssd_draw_class_color(3, col);
    CHECK(is(at(&img, 90, 79), col[0], col[1], col[2]) &&
          is(at(&img, 99, 70), col[0], col[1], col[2]));
    free(img.px);

    /* Nothing drawn for boxes entirely outside, inverted, empty or not finite. */
    make(&img, 100, 80);
    ssd_draw_det bad[] = {
        {200, 10, 300, 50, 1, 0.9f, "out right"},
        {-300, 10, -200, 50, 1, 0.9f, "out left"},
        {10, -90, 50, -80, 1, 0.9f, "above"},
        {10, 100, 50, 180, 1, 0.9f, "below"},
        {50, 50, 40, 60, 1, 0.9f, "inverted"},
        {30, 30, 30, 60, 1, 0.9f, "zero width"},
        {NAN, 1, 20, 20, 1, 0.9f, "nan"},
        {1, 1, INFINITY, 20, 1, 0.9f, "inf"},
        {-1e30f, -1e30f, -1e29f, -1e29f, 1, 0.9f, "far"},
    };
    CHECK_OK(ssd_draw_detections(&img, font, bad, (int)(sizeof bad / sizeof bad[0]), &o));
    CHECK(untouched_outside(&img, 0, 0, 0, 0));
    /* Huge boxes covering the whole image are clipped, not overflowed (the
     * outline lies on the border pixels). */
    ssd_draw_det huge = {-1e30f, -1e30f, 1e30f, 1e30f, 0, NAN, NULL};
    CHECK_OK(ssd_draw_detections(&img, font, &huge, 1, &o));
    ssd_draw_class_color(0, col);
    CHECK(is(at(&img, 50, 79), col[0], col[1], col[2]) &&
          is(at(&img, 99, 50), col[0], col[1], col[2]));
    CHECK(is(at(&img, 50, 78), blend(BG[0], col[0], 120), blend(BG[1], col[1], 120),
             blend(BG[2], col[2], 120)));
    free(img.px);

    /* A 1x1 image and a box of one pixel. */
    make(&img, 1, 1);
    ssd_draw_det one = {0, 0, 1, 1, 5, 0.5f, "tiny"};
    CHECK_OK(ssd_draw_detections(&img, font, &one, 1, &o));
    ssd_draw_class_color(5, col);
    CHECK(is(at(&img, 0, 0), col[0], col[1], col[2]));
    free(img.px);

    ssd_image gray = {4, 4, 1, NULL};
    uint8_t g[16] = {0};
    gray.px = g;
    CHECK(ssd_draw_detections(&gray, font, &one, 1, &o) == SSD_E_INVAL);
}

/* A scene to look at: a gradient with several classes, one over the border. */
static void demo(ssd_font *font, const char *dir) {
    ssd_image img = {480, 320, 3, malloc(480 * 320 * 3)};
    for (int y = 0; y < img.h; y++)
        for (int x = 0; x < img.w; x++) {
            uint8_t *p = img.px + ((size_t)y * img.w + x) * 3;
            p[0] = (uint8_t)(x * 255 / img.w), p[1] = (uint8_t)(y * 255 / img.h), p[2] = 128;
        }
    ssd_draw_det d[] = {
        {40, 60, 200, 110, 1, 0.934f, "plate"},
        {250, 150, 420, 290, 2, 0.71f, "car"},
        {400, -20, 520, 60, 3, 0.5f, "clipped"},
        {10, 200, 120, 300, 4, 0.999f, "\xe8\xbd\xa6\xe7\x89\x8c person"},
    };
    ssd_draw_opts o;
    ssd_draw_opts_default(&o);
    if (ssd_draw_detections(&img, font, d, 4, &o) == SSD_OK) {
        char path[600];
        snprintf(path, sizeof path, "%s/draw_demo.png", dir);
        CHECK_OK(ssd_image_save_png(&img, path));
        printf("wrote %s\n", path);
    }
    free(img.px);
}

int main(int argc, char **argv) {
    test_primitives();
    ssd_font *font = NULL;
    test_font(&font);
    if (!font) {
        fprintf(stderr, "no font: text tests not run\n");
        return test_finish();
    }
    test_detections(font);
    test_clipping(font);
    if (argc > 1 && ssd_mkdir_p(argv[1]) == SSD_OK) demo(font, argv[1]);
    ssd_font_close(font);
    return test_finish();
}
