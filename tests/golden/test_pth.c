/* .pth reader and writer against torch.save / torch.load (fixtures from gen_pth.py):
 * every golden checkpoint loads with exactly the stored values, broken ones give a
 * one-line SSD_E_FORMAT naming the file (and key), truncations, bit flips and failed
 * allocations never crash or leak, and ssd_pth_save's output is byte-identical to
 * torch.save's and loads strictly into the module (pth_check.py). */
#include "formats/pth.h"

#include "core/mem.h"
#include "fixture.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *dir;

static char *path(const char *name) {
    static char buf[8][1024];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

static uint8_t *slurp(const char *p, size_t *n) {
    FILE *fp = fopen(p, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *d = malloc((size_t)len + 1);
    if (d && fread(d, 1, (size_t)len, fp) != (size_t)len) {
        free(d);
        d = NULL;
    }
    fclose(fp);
    *n = (size_t)len;
    return d;
}

static double half_to_f64(uint16_t h) {
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0    ? m * 0x1p-24
               : e == 31 ? (m ? NAN : INFINITY)
                         : (1024 + m) * 0x1p-25 * (double)(1 << e);
    return h & 0x8000 ? -v : v;
}

/* Element i of t as a double (floats) or an integer (ints), for exact comparison. */
static double as_f64(const ssd_pth_tensor *t, int64_t i) {
    const uint8_t *p = (const uint8_t *)t->data + i * (int64_t)ssd_dtype_size(t->dtype);
    float f;
    uint32_t u;
    uint16_t h;
    double d;
    switch (t->dtype) {
    case SSD_F32:
        memcpy(&f, p, 4);
        return f;
    case SSD_F64:
        memcpy(&d, p, 8);
        return d;
    case SSD_F16:
        memcpy(&h, p, 2);
        return half_to_f64(h);
    case SSD_BF16:
        memcpy(&h, p, 2);
        u = (uint32_t)h << 16;
        memcpy(&f, &u, 4);
        return f;
    default:
        return NAN;
    }
}

static int64_t as_i64(const ssd_pth_tensor *t, int64_t i) {
    const uint8_t *p = (const uint8_t *)t->data + i * (int64_t)ssd_dtype_size(t->dtype);
    int64_t l;
    int32_t w;
    switch (t->dtype) {
    case SSD_I64:
        memcpy(&l, p, 8);
        return l;
    case SSD_I32:
        memcpy(&w, p, 4);
        return w;
    case SSD_U8:
        return *p;
    default:
        return INT64_MIN;
    }
}

/* sd must hold exactly the fixture's tensors, in order, with equal dtype, shape and values. */
static void compare(const char *what, const ssd_state_dict *sd, const fixture_file *want) {
    int k = 0;
    for (int i = 0; i < want->count; i++) {
        const fixture_tensor *w = &want->t[i];
        if (strchr(w->name, '#')) continue;
        char dname[300], sname[300];
        snprintf(dname, sizeof dname, "%s#dtype", w->name);
        snprintf(sname, sizeof sname, "%s#shape", w->name);
        const fixture_tensor *wd = fixture_find(want, dname), *ws = fixture_find(want, sname);
        if (k >= sd->count || strcmp(sd->t[k].name, w->name) != 0) {
            fprintf(stderr, "%s: expected key %s at position %d\n", what, w->name, k);
            CHECK(0);
            return;
        }
        const ssd_pth_tensor *t = &sd->t[k++];
        bool ok = wd && ws && t->dtype == (ssd_dtype)((int64_t *)wd->data)[0] &&
                  t->ndim == ws->numel && ssd_pth_tensor_numel(t) == w->numel;
        for (int d = 0; ok && d < t->ndim; d++) ok = t->shape[d] == ((int64_t *)ws->data)[d];
        for (int64_t j = 0; ok && j < w->numel; j++)
            ok = w->dtype == SSD_F64 ? as_f64(t, j) == ((double *)w->data)[j]
                                     : as_i64(t, j) == ((int64_t *)w->data)[j];
        if (!ok) fprintf(stderr, "%s: %s differs\n", what, w->name);
        CHECK(ok);
    }
    CHECK(k == sd->count);
}

static void load_and_compare(const char *file, const fixture_file *want) {
    ssd_state_dict sd;
    ssd_status st = ssd_pth_load(&sd, path(file));
    CHECK_OK(st);
    if (st == SSD_OK) compare(file, &sd, want);
    ssd_state_dict_free(&sd);
}

static void expect_errors(void) {
    size_t n;
    char *list = (char *)slurp(path("bad_cases.txt"), &n);
    CHECK(list != NULL);
    if (!list) return;
    list[n] = '\0';
    int cases = 0;
    for (char *line = strtok(list, "\n"); line; line = strtok(NULL, "\n")) {
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        *tab = '\0';
        const char *p = path(line), *msg = tab + 1;
        ssd_state_dict sd;
        ssd_status st = ssd_pth_load(&sd, p);
        const char *m = ssd_error_message();
        bool ok = st == SSD_E_FORMAT && strstr(m, p) && strstr(m, msg) && !strchr(m, '\n') &&
                  sd.count == 0 && sd.t == NULL;
        if (!ok)
            fprintf(stderr, "%s: status %s, message '%s' (want '%s')\n", line, ssd_status_name(st),
                    m, msg);
        CHECK(ok);
        ssd_state_dict_free(&sd);
        cases++;
    }
    CHECK(cases >= 15);
    free(list);
}

/* Every proper prefix is an error; the whole file loads. */
static void truncations(const char *file) {
    size_t n;
    uint8_t *d = slurp(path(file), &n);
    CHECK(d != NULL);
    if (!d) return;
    int bad = 0;
    for (size_t len = 0; len < n; len++) {
        ssd_state_dict sd;
        ssd_status st = ssd_pth_load_mem(&sd, d, len, file);
        if (st != SSD_E_FORMAT || !strstr(ssd_error_message(), file)) {
            if (bad++ < 3) fprintf(stderr, "%s cut at %zu: %s\n", file, len, ssd_status_name(st));
        }
        ssd_state_dict_free(&sd);
    }
    CHECK(bad == 0);
    ssd_state_dict sd;
    CHECK_OK(ssd_pth_load_mem(&sd, d, n, file));
    ssd_state_dict_free(&sd);
    free(d);
}

/* Any single flipped bit loads or fails cleanly; in a zip most are caught (CRC, headers). */
static void bit_flips(const char *file) {
    size_t n;
    uint8_t *d = slurp(path(file), &n);
    CHECK(d != NULL);
    if (!d) return;
    long okc = 0, errc = 0, other = 0;
    for (size_t i = 0; i < n; i++) {
        for (int b = 0; b < 8; b++) {
            d[i] ^= (uint8_t)(1 << b);
            ssd_state_dict sd;
            ssd_status st = ssd_pth_load_mem(&sd, d, n, file);
            if (st == SSD_OK)
                okc++;
            else if (st == SSD_E_FORMAT && strstr(ssd_error_message(), file))
                errc++;
            else
                other++;
            ssd_state_dict_free(&sd);
            d[i] ^= (uint8_t)(1 << b);
        }
    }
    printf("%s: %zu bit flips: %ld load, %ld rejected\n", file, n * 8, okc, errc);
    CHECK(other == 0);
    CHECK(errc > 0);
    free(d);
}

/* Failing the k-th allocation, for every k, gives SSD_E_NOMEM and frees everything. */
static void alloc_failures(const char *file) {
    size_t n;
    uint8_t *d = slurp(path(file), &n);
    CHECK(d != NULL);
    if (!d) return;
    int bad = 0;
    long k = 1;
    for (;; k++) {
        ssd_alloc_fail_at(k);
        ssd_state_dict sd;
        ssd_status st = ssd_pth_load_mem(&sd, d, n, file);
        long used = ssd_alloc_count();
        ssd_alloc_fail_at(0);
        ssd_state_dict_free(&sd);
        if (st == SSD_OK && used < k) break;
        if (st != SSD_E_NOMEM && bad++ < 3)
            fprintf(stderr, "%s: allocation %ld failed -> %s\n", file, k, ssd_status_name(st));
    }
    CHECK(bad == 0);
    CHECK(k > 5);
    free(d);
}

static void build_and_save(void) {
    ssd_state_dict sd;
    ssd_state_dict_init(&sd);
    float f32[24];
    double f64[5];
    uint16_t f16[6] = {0x0000, 0x3400, 0x3800, 0x3a00, 0x3c00, 0x3d00}, bf16[4];
    int64_t i64[3] = {-(1LL << 40), 7, 1LL << 33};
    int32_t i32 = -123456;
    uint8_t u8[6] = {0, 51, 102, 153, 204, 255}, *big = calloc(70000, 1);
    for (int i = 0; i < 24; i++) f32[i] = (float)(i * 0.5 - 3);
    for (int i = 0; i < 5; i++) f64[i] = i / 3.0;
    for (int i = 0; i < 4; i++) {
        float f = (float)(i - 1.5);
        uint32_t u;
        memcpy(&u, &f, 4);
        bf16[i] = (uint16_t)(u >> 16);
    }
    CHECK_OK(ssd_state_dict_add(&sd, "f32", SSD_F32, 3, (int64_t[]){2, 3, 4}, f32));
    CHECK_OK(ssd_state_dict_add(&sd, "f64", SSD_F64, 1, (int64_t[]){5}, f64));
    CHECK_OK(ssd_state_dict_add(&sd, "f16", SSD_F16, 2, (int64_t[]){3, 2}, f16));
    CHECK_OK(ssd_state_dict_add(&sd, "bf16", SSD_BF16, 1, (int64_t[]){4}, bf16));
    CHECK_OK(ssd_state_dict_add(&sd, "i64", SSD_I64, 1, (int64_t[]){3}, i64));
    CHECK_OK(ssd_state_dict_add(&sd, "i32", SSD_I32, 0, NULL, &i32));
    CHECK_OK(ssd_state_dict_add(&sd, "u8", SSD_U8, 1, (int64_t[]){6}, u8));
    CHECK_OK(ssd_state_dict_add(&sd, "empty", SSD_F32, 2, (int64_t[]){0, 3}, NULL));
    CHECK_OK(ssd_state_dict_add(&sd, "big.size", SSD_U8, 2, (int64_t[]){1, 70000}, big));
    CHECK(ssd_state_dict_add(&sd, "f32", SSD_F32, 0, NULL, f32) == SSD_E_INVAL);
    CHECK(sd.count == 9);
    const ssd_pth_tensor *t = ssd_state_dict_find(&sd, "f32");
    CHECK(t && ssd_pth_tensor_numel(t) == 24 && ((float *)t->data)[23] == 8.5f);
    CHECK(ssd_state_dict_find(&sd, "nope") == NULL);
    CHECK(ssd_pth_tensor_numel(ssd_state_dict_find(&sd, "i32")) == 1);
    CHECK_OK(ssd_pth_save(&sd, path("out_built.pth")));

    /* The save itself fails cleanly on every allocation and on an unwritable path. */
    int bad = 0;
    for (long k = 1;; k++) {
        ssd_alloc_fail_at(k);
        ssd_status st = ssd_pth_save(&sd, path("out_faulty.pth"));
        long used = ssd_alloc_count();
        ssd_alloc_fail_at(0);
        if (st == SSD_OK && used < k) break;
        if (st != SSD_E_NOMEM) bad++;
    }
    CHECK(bad == 0);
    CHECK(ssd_pth_save(&sd, path("no/such/dir/x.pth")) == SSD_E_IO);
    CHECK(strstr(ssd_error_message(), "no/such/dir") != NULL);

    ssd_state_dict back;
    CHECK_OK(ssd_pth_load(&back, path("out_built.pth")));
    CHECK(back.count == sd.count);
    for (int i = 0; i < back.count && i < sd.count; i++) {
        const ssd_pth_tensor *a = &sd.t[i], *b = &back.t[i];
        size_t nb = (size_t)ssd_pth_tensor_numel(a) * ssd_dtype_size(a->dtype);
        CHECK(strcmp(a->name, b->name) == 0 && a->dtype == b->dtype && a->ndim == b->ndim &&
              memcmp(a->shape, b->shape, sizeof(int64_t) * (size_t)a->ndim) == 0 &&
              (nb == 0 || memcmp(a->data, b->data, nb) == 0));
    }
    ssd_state_dict_free(&back);
    ssd_state_dict_free(&sd);
    free(big);
}

static void resave(const char *in, const char *out, const fixture_file *want) {
    ssd_state_dict sd, back;
    CHECK_OK(ssd_pth_load(&sd, path(in)));
    CHECK_OK(ssd_pth_save(&sd, path(out)));
    CHECK_OK(ssd_pth_load(&back, path(out)));
    compare(out, &back, want);
    ssd_state_dict_free(&back);
    ssd_state_dict_free(&sd);
}

int main(int argc, char **argv) {
    if (argc < 2) return test_skip("usage: test_pth FIXDIR");
    dir = argv[1];
    fixture_file tensors, module, crafted;
    REQUIRE_OK(fixture_load(&tensors, path("tensors.ssdt")));
    REQUIRE_OK(fixture_load(&module, path("module.ssdt")));
    REQUIRE_OK(fixture_load(&crafted, path("crafted_ok.ssdt")));

    static const char *tensor_files[] = {"tensors.zip.pth", "tensors.legacy.pth",
                                         "tensors.deflate.pth", "tensors.zip64.pth"};
    for (size_t i = 0; i < 4; i++) load_and_compare(tensor_files[i], &tensors);
    static const char *module_files[] = {"module.zip.pth", "module.legacy.pth", "wrapped.zip.pth",
                                         "wrapped.legacy.pth", "wrapped2.zip.pth"};
    for (size_t i = 0; i < 5; i++) load_and_compare(module_files[i], &module);
    load_and_compare("crafted_ok_legacy.pth", &crafted);
    load_and_compare("crafted_ok_zip.pth", &crafted);

    expect_errors();
    ssd_state_dict sd;
    CHECK(ssd_pth_load(&sd, path("does_not_exist.pth")) == SSD_E_IO);

    truncations("tensors.zip.pth");
    truncations("tensors.legacy.pth");
    truncations("tensors.deflate.pth");
    bit_flips("module.zip.pth");
    bit_flips("module.legacy.pth");
    bit_flips("tensors.deflate.pth");
    alloc_failures("tensors.zip.pth");
    alloc_failures("tensors.legacy.pth");
    alloc_failures("tensors.deflate.pth");

    resave("tensors.zip.pth", "out_tensors.pth", &tensors);
    resave("module.legacy.pth", "out_module.pth", &module);
    build_and_save();

    char cmd[2200];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s", path("pth_check.py"), dir);
    int rc = system(cmd);
    if (rc != 0) fprintf(stderr, "%s -> %d\n", cmd, rc);
    CHECK(rc == 0);

    fixture_free(&tensors);
    fixture_free(&module);
    fixture_free(&crafted);
    return test_finish();
}
