/* Image decoding against PIL's convert('RGB'), round trips, and bad files:
 * truncated at many lengths, garbage, bit flips, huge headers and failed
 * allocations must all give an error, never a crash. */
#include "test.h"

#include "core/mem.h"
#include "data/image.h"
#include "fixture.h"

#include <jpeglib.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *dir;

static char *path_of(const char *name) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    return buf;
}

static uint8_t *slurp(const char *name, size_t *len) {
    FILE *fp = fopen(path_of(name), "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    *len = (size_t)ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *d = malloc(*len ? *len : 1);
    if (fread(d, 1, *len, fp) != *len) *len = 0;
    fclose(fp);
    return d;
}

/* Every pixel equal to PIL's (same libjpeg-turbo, same islow IDCT and fancy
 * upsampling; CMYK uses PIL's own rounding), so no tolerance is needed. */
static void check_against_pil(const fixture_file *refs, const char *name) {
    const fixture_tensor *r = fixture_find(refs, name);
    CHECK(r != NULL);
    if (!r) return;
    ssd_image img;
    ssd_status st = ssd_image_load(&img, path_of(name));
    CHECK_OK(st);
    if (st != SSD_OK) return;
    CHECK(img.c == 3 && img.h == r->shape[0] && img.w == r->shape[1]);
    if (img.h == r->shape[0] && img.w == r->shape[1]) {
        long n = (long)img.w * img.h * 3;
        float *a = malloc(sizeof *a * (size_t)n);
        for (long i = 0; i < n; i++) a[i] = img.px[i];
        if (!test_close_f32(name, a, r->data, n, 0, 0)) fprintf(stderr, "  in %s\n", name);
        free(a);
    }
    int w, h, c;
    CHECK_OK(ssd_image_info(path_of(name), &w, &h, &c));
    CHECK(w == img.w && h == img.h);
    ssd_image_free(&img);
}

static void check_error(const char *name, ssd_status want, const char *needle) {
    ssd_image img;
    ssd_status st = ssd_image_load(&img, path_of(name));
    CHECK(st == want);
    CHECK(img.px == NULL);
    const char *msg = ssd_error_message();
    CHECK(strstr(msg, name) != NULL);
    if (needle && !strstr(msg, needle)) {
        fprintf(stderr, "%s: message '%s' lacks '%s'\n", name, msg, needle);
        CHECK(0);
    }
    ssd_image_free(&img);
}

/* libjpeg can write YCCK (PIL cannot); inverted CMYK in, as Adobe readers expect. */
static void ycck_case(void) {
    enum { W = 40, H = 24 };
    uint8_t cmyk[H][W][4], want[H][W][3];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            /* Flat areas aligned to the 16x16 MCU (YCCK subsamples chroma) keep the loss tiny. */
            int c = x < 16 ? 30 : 200, m = y < 16 ? 60 : 160, ye = 90, k = 40;
            cmyk[y][x][0] = (uint8_t)(255 - c);
            cmyk[y][x][1] = (uint8_t)(255 - m);
            cmyk[y][x][2] = (uint8_t)(255 - ye);
            cmyk[y][x][3] = (uint8_t)(255 - k);
            want[y][x][0] = (uint8_t)((255 - c) * (255 - k) / 255);
            want[y][x][1] = (uint8_t)((255 - m) * (255 - k) / 255);
            want[y][x][2] = (uint8_t)((255 - ye) * (255 - k) / 255);
        }
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr jerr;
    ci.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&ci);
    unsigned char *buf = NULL;
    unsigned long len = 0;
    jpeg_mem_dest(&ci, &buf, &len);
    ci.image_width = W;
    ci.image_height = H;
    ci.input_components = 4;
    ci.in_color_space = JCS_CMYK;
    jpeg_set_defaults(&ci);
    jpeg_set_colorspace(&ci, JCS_YCCK);
    jpeg_set_quality(&ci, 100, TRUE);
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < H) {
        JSAMPROW row = &cmyk[ci.next_scanline][0][0];
        jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    ssd_image img;
    CHECK_OK(ssd_image_load_mem(&img, buf, len, "ycck.jpg"));
    if (img.px) {
        CHECK(img.w == W && img.h == H && img.c == 3);
        int worst = 0;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                /* Fancy upsampling blends chroma across the colour edges; skip them. */
                if (abs(x - 16) <= 2 || abs(y - 16) <= 2) continue;
                for (int k = 0; k < 3; k++) {
                    int d = abs((int)img.px[(y * W + x) * 3 + k] - (int)want[y][x][k]);
                    if (d > worst) worst = d;
                }
            }
        /* Quality 100 still rounds in YCC and the DCT; 4 grey levels bound it on flat colours. */
        if (worst > 4) fprintf(stderr, "ycck: max diff %d\n", worst);
        CHECK(worst <= 4);
    }
    ssd_image_free(&img);
    free(buf);
}

static void round_trips(void) {
    char tmp[4096];
    ssd_image a, b;
    if (ssd_image_alloc(&a, 41, 29, 3) != SSD_OK) {
        CHECK(0);
        return;
    }
    for (int i = 0; i < 41 * 29 * 3; i++) a.px[i] = (uint8_t)((i * 7) ^ (i >> 5));
    snprintf(tmp, sizeof tmp, "%s/out/rt.png", dir);
    CHECK_OK(ssd_image_save(&a, tmp));
    CHECK_OK(ssd_image_load(&b, tmp));
    CHECK(b.w == 41 && b.h == 29 && b.px && !memcmp(a.px, b.px, 41 * 29 * 3));
    ssd_image_free(&b);

    /* Smooth content for JPEG so the quality-95 error bound means something. */
    for (int y = 0; y < 29; y++)
        for (int x = 0; x < 41; x++)
            for (int k = 0; k < 3; k++)
                a.px[(y * 41 + x) * 3 + k] = (uint8_t)(x * 3 + y * 2 + k * 30);
    snprintf(tmp, sizeof tmp, "%s/out/rt.jpg", dir);
    CHECK_OK(ssd_image_save(&a, tmp));
    CHECK_OK(ssd_image_load(&b, tmp));
    if (b.px) {
        int worst = 0;
        for (int i = 0; i < 41 * 29 * 3; i++) {
            int d = abs((int)a.px[i] - (int)b.px[i]);
            if (d > worst) worst = d;
        }
        /* Quality 95 with 4:2:0 chroma on gradients: a few grey levels. */
        CHECK(worst <= 8);
    }
    int w, h;
    CHECK_OK(ssd_image_size(tmp, &w, &h));
    CHECK(w == 41 && h == 29);
    ssd_image_free(&b);
    ssd_image_free(&a);

    /* Gray JPEG out, RGB in. */
    CHECK_OK(ssd_image_alloc(&a, 16, 8, 1));
    if (!a.px) return;
    for (int i = 0; i < 128; i++) a.px[i] = (uint8_t)(i * 2);
    snprintf(tmp, sizeof tmp, "%s/out/g.JPG", dir);
    CHECK_OK(ssd_image_save_jpeg(&a, tmp, 100));
    CHECK_OK(ssd_image_load(&b, tmp));
    if (b.px) {
        CHECK(b.c == 3);
        CHECK(b.px[3 * 77] == b.px[3 * 77 + 1] && b.px[3 * 77 + 1] == b.px[3 * 77 + 2]);
        CHECK(abs((int)b.px[3 * 77] - 154) <= 2);
    }
    ssd_image_free(&b);
    CHECK(ssd_image_save_jpeg(&a, tmp, 0) == SSD_E_INVAL);
    ssd_image_free(&a);
    /* No directory: an I/O error naming the path. */
    CHECK_OK(ssd_image_alloc(&a, 4, 4, 3));
    if (!a.px) return;
    memset(a.px, 0, 48);
    CHECK(ssd_image_save(&a, "/nonexistent-dir/x.png") == SSD_E_IO);
    CHECK(strstr(ssd_error_message(), "/nonexistent-dir/x.png") != NULL);
    ssd_image_free(&a);
}

/* Cut a valid file at many lengths: each must fail cleanly. A JPEG that only
 * lacks its final EOI marker still has every pixel and may decode. */
static void truncations(const char *name) {
    size_t len = 0;
    uint8_t *d = slurp(name, &len);
    CHECK(d && len > 64);
    if (!d) return;
    int failed_ok = 0;
    for (size_t cut = 0; cut + 2 < len; cut += (cut < 64 ? 1 : 1 + len / 97)) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, d, cut);
        ssd_image img;
        ssd_status st = ssd_image_load_mem(&img, copy, cut, name);
        if (st == SSD_OK) {
            fprintf(stderr, "%s cut at %zu of %zu decoded without error\n", name, cut, len);
            failed_ok++;
        } else if (!strstr(ssd_error_message(), name)) {
            fprintf(stderr, "%s: message without the name: %s\n", name, ssd_error_message());
            failed_ok++;
        }
        ssd_image_free(&img);
        free(copy);
    }
    CHECK(failed_ok == 0);
    free(d);
}

static uint64_t lcg = 88172645463325252ull;
static uint32_t rnd(void) {
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(lcg >> 33);
}

/* Bit flips and random bytes: any status is acceptable, a crash or leak is not
 * (valgrind/ASan runs make the latter visible). */
static void garble(const char *name, int rounds) {
    size_t len = 0;
    uint8_t *d = slurp(name, &len);
    if (!d) return;
    int decoded = 0;
    for (int r = 0; r < rounds; r++) {
        uint8_t *copy = malloc(len);
        memcpy(copy, d, len);
        int flips = 1 + (int)(rnd() % 8);
        for (int k = 0; k < flips; k++) copy[rnd() % len] ^= (uint8_t)(1u << (rnd() % 8));
        ssd_image img;
        if (ssd_image_load_mem(&img, copy, len, name) == SSD_OK) {
            decoded++;
            CHECK(img.px && img.w > 0 && img.h > 0 && img.c == 3);
        } else {
            CHECK(img.px == NULL);
        }
        ssd_image_free(&img);
        free(copy);
    }
    for (int r = 0; r < rounds; r++) {
        uint8_t buf[512];
        memcpy(buf, d, 16); /* keep the magic so the decoder itself sees the garbage */
        for (size_t i = 16; i < sizeof buf; i++) buf[i] = (uint8_t)rnd();
        ssd_image img;
        CHECK(ssd_image_load_mem(&img, buf, 16 + rnd() % (sizeof buf - 16), name) != SSD_OK);
        ssd_image_free(&img);
    }
    (void)decoded;
    free(d);
}

/* Every allocation in a decode failing in turn: an error each time, nothing leaked. */
static void alloc_failures(const char *name) {
    size_t len = 0;
    uint8_t *d = slurp(name, &len);
    if (!d) return;
    int bad = 0;
    for (long k = 1; k < 20; k++) {
        ssd_alloc_fail_at(k);
        ssd_image img;
        ssd_status st = ssd_image_load_mem(&img, d, len, name);
        long used = ssd_alloc_count();
        ssd_alloc_fail_at(0);
        if (st == SSD_OK) {
            ssd_image_free(&img);
            if (used >= k) bad++; /* an injected failure was swallowed */
            break;
        }
        if (st != SSD_E_NOMEM || img.px) bad++;
    }
    CHECK(bad == 0);
    free(d);
}

int main(int argc, char **argv) {
    if (argc < 2) return test_skip("needs the fixture directory");
    dir = argv[1];
    char out[4096];
    snprintf(out, sizeof out, "mkdir -p '%s/out'", dir);
    if (system(out) != 0) return test_skip("cannot create output directory");
    fixture_file refs;
    REQUIRE_OK(fixture_load(&refs, path_of("refs.ssdt")));
    static const char *good[] = {
        "rgb.jpg",     "rgb420.jpg",     "progressive.jpg",  "gray.jpg",       "cmyk.jpg",
        "rgb.png",     "palette.png",    "palette_trns.png", "gray_alpha.png", "rgba.png",
        "bilevel.png", "rgb16.png",      "gray16.png",       "rgb24.bmp",      "topdown24.bmp",
        "rgb32.bmp",   "bitfields32.bmp"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) check_against_pil(&refs, good[i]);
    fixture_free(&refs);
    ycck_case();

    int w, h, c;
    CHECK_OK(ssd_image_info(path_of("cmyk.jpg"), &w, &h, &c));
    CHECK(c == 4);
    CHECK_OK(ssd_image_info(path_of("gray.jpg"), &w, &h, &c));
    CHECK(c == 1 && w == 37 && h == 23);

    check_error("palette8.bmp", SSD_E_UNSUPPORTED, "bits per pixel");
    check_error("rgb.tif", SSD_E_UNSUPPORTED, "TIFF");
    check_error("huge.png", SSD_E_FORMAT, "too large");
    check_error("huge.jpg", SSD_E_FORMAT, "too large");
    check_error("huge.bmp", SSD_E_FORMAT, "too large");
    CHECK(ssd_image_size(path_of("huge.jpg"), &w, &h) == SSD_E_FORMAT);
    check_error("missing.jpg", SSD_E_IO, NULL);

    round_trips();
    static const char *cut[] = {"rgb.jpg",     "progressive.jpg", "cmyk.jpg", "rgb.png",
                                "palette.png", "rgb24.bmp",       "rgb32.bmp"};
    for (size_t i = 0; i < sizeof cut / sizeof cut[0]; i++) truncations(cut[i]);
    static const char *fuzz[] = {"rgb.jpg",          "progressive.jpg", "gray.jpg", "cmyk.jpg",
                                 "palette_trns.png", "gray16.png",      "rgb24.bmp"};
    for (size_t i = 0; i < sizeof fuzz / sizeof fuzz[0]; i++) garble(fuzz[i], 60);
    ssd_image img;
    CHECK(ssd_image_load_mem(&img, (const uint8_t *)"", 0, "empty.jpg") == SSD_E_FORMAT);
    CHECK(ssd_image_load_mem(&img, (const uint8_t *)"hello world", 11, "text.jpg") == SSD_E_FORMAT);
    alloc_failures("rgb.jpg");
    alloc_failures("cmyk.jpg");
    alloc_failures("palette.png");
    alloc_failures("rgb24.bmp");
    return test_finish();
}
