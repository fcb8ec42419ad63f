/* TensorFlow.js weights reader: every dtype and quantisation against values
 * de-quantised by numpy (gen_tfjs.py), groups split across files, the
 * model.json form, the real face-api files, and bad manifests / weight files
 * (each error names the file and tensor), garbled and allocation-starved. */
#include "core/fileio.h"
#include "core/mem.h"
#include "core/rng.h"
#include "fixture.h"
#include "formats/tfjs.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

static char dir[512];

static char *path(const char *rel) {
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, rel);
    return buf[k];
}

/* Same dtype, shape and values (bit-exact for floats: both sides round the
 * same double to float32). */
static void check_tensor(const ssd_tfjs_tensor *t, const fixture_tensor *ft) {
    CHECK(t != NULL);
    if (!t || !ft) return;
    /* fixture.py's np.ascontiguousarray stores a 0-d array as shape (1,). */
    bool shape = t->ndim == ft->ndim || (t->ndim == 0 && ft->ndim == 1 && ft->shape[0] == 1);
    for (int d = 0; shape && d < t->ndim && d < ft->ndim; d++) shape = t->shape[d] == ft->shape[d];
    if (!shape) fprintf(stderr, "%s: shape differs\n", t->name);
    CHECK(shape);
    int64_t n = ssd_tfjs_numel(t);
    CHECK(n == ft->numel);
    if (!shape || n != ft->numel) return;
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double want = ft->dtype == SSD_I64 ? (double)((int64_t *)ft->data)[i]
                                           : (double)((float *)ft->data)[i];
        double got = t->dtype == SSD_F32   ? (double)((float *)t->data)[i]
                     : t->dtype == SSD_I32 ? (double)((int32_t *)t->data)[i]
                                           : (double)((uint8_t *)t->data)[i];
        if (got != want && bad++ < 3)
            fprintf(stderr, "%s[%lld]: got %.9g want %.9g\n", t->name, (long long)i, got, want);
    }
    CHECK(bad == 0);
}

static void test_synthetic(void) {
    fixture_file fx;
    if (fixture_load(&fx, path("syn_expected.ssdt")) != SSD_OK) {
        CHECK(false);
        return;
    }
    const char *manifests[] = {"syn/manifest.json", "syn/model.json"};
    for (int m = 0; m < 2; m++) {
        ssd_tfjs_weights w;
        CHECK_OK(ssd_tfjs_load(&w, path(manifests[m])));
        CHECK(w.count == 9);
        for (int i = 0; i < fx.count; i++) check_tensor(ssd_tfjs_find(&w, fx.t[i].name), &fx.t[i]);
        const ssd_tfjs_tensor *t = ssd_tfjs_find(&w, "w_u8");
        CHECK(t && t->dtype == SSD_F32 && t->quant && strcmp(t->quant, "uint8") == 0);
        t = ssd_tfjs_find(&w, "i_u8");
        CHECK(t && t->dtype == SSD_I32);
        /* Math.round semantics on the halves -2.5 and -0.5 (q = 0 and 4). */
        t = ssd_tfjs_find(&w, "s_i32");
        CHECK(t && t->ndim == 0 && t->quant == NULL && ssd_tfjs_numel(t) == 1);
        t = ssd_tfjs_find(&w, "flag");
        CHECK(t && t->dtype == SSD_U8 && ((uint8_t *)t->data)[0] == 1);
        t = ssd_tfjs_find(&w, "h_f16");
        CHECK(t && strcmp(t->quant, "float16") == 0 && ((float *)t->data)[2] == 65504.0f);
        t = ssd_tfjs_find(&w, "name with \xc3\xa9");
        CHECK(t && t->ndim == 4 && t->shape[2] == 2);
        CHECK(ssd_tfjs_find(&w, "nope") == NULL);
        ssd_tfjs_free(&w);
        ssd_tfjs_free(&w); /* idempotent */
    }
    fixture_free(&fx);
}

static void test_real(void) {
    fixture_file fx;
    if (fixture_load(&fx, path("real_expected.ssdt")) != SSD_OK) {
        CHECK(false);
        return;
    }
    ssd_tfjs_weights w;
    CHECK_OK(ssd_tfjs_load(&w, SRC_DIR "/../../data/pretrained/face-api-ssd-mobilenetv1/"
                                       "ssd_mobilenetv1_model-weights_manifest.json"));
    const fixture_tensor *cnt = fixture_find(&fx, "count");
    CHECK(cnt && w.count == ((int64_t *)cnt->data)[0]);
    int checked = 0;
    for (int i = 0; i < fx.count; i++) {
        if (strcmp(fx.t[i].name, "count") == 0) continue;
        check_tensor(ssd_tfjs_find(&w, fx.t[i].name), &fx.t[i]);
        checked++;
    }
    CHECK(checked == 5);
    /* A hand check of the first value: min + scale * q with q = bin[0]. */
    const ssd_tfjs_tensor *t = ssd_tfjs_find(&w, "Postprocessor/stack/1");
    CHECK(t && t->dtype == SSD_I32 && ((int32_t *)t->data)[0] == 5118);
    ssd_tfjs_free(&w);
    fixture_free(&fx);
}

static ssd_status write_text(const char *rel, const char *text) {
    return ssd_file_write_atomic(path(rel), text, strlen(text));
}

/* Loads rel and expects status st with every fragment in the message. */
static void expect_error(const char *rel, ssd_status st, const char *frag1, const char *frag2) {
    ssd_tfjs_weights w;
    ssd_status got = ssd_tfjs_load(&w, path(rel));
    const char *msg = ssd_error_message();
    bool ok = got == st && (!frag1 || strstr(msg, frag1)) && (!frag2 || strstr(msg, frag2)) &&
              w.count == 0 && w.t == NULL;
    if (!ok)
        fprintf(stderr, "%s: got %s '%s', want %s with '%s' '%s'\n", rel, ssd_status_name(got), msg,
                ssd_status_name(st), frag1 ? frag1 : "", frag2 ? frag2 : "");
    CHECK(ok);
}

static void test_errors(void) {
    uint8_t *a1;
    size_t n1;
    if (ssd_file_read_all(path("syn/a1.bin"), &a1, &n1) != SSD_OK) {
        CHECK(false);
        return;
    }
    /* Truncated: the second file is the short one here. */
    CHECK_OK(ssd_file_write_atomic(path("syn/short.bin"), a1, n1));
    CHECK_OK(
        write_text("syn/m_short.json",
                   "[{\"paths\": [\"short.bin\"], \"weights\": [{\"name\": \"w_u8\", \"shape\": "
                   "[2,3,4], \"dtype\": \"float32\", \"quantization\": {\"dtype\": \"uint8\", "
                   "\"scale\": 1, \"min\": 0}}, {\"name\": \"big\", \"shape\": [3], \"dtype\": "
                   "\"float32\"}]}]"));
    expect_error("syn/m_short.json", SSD_E_FORMAT, "short.bin: too short: tensor 'big'",
                 "bytes 24..36");
    /* Left over: the same file with one tensor less. */
    CHECK_OK(write_text("syn/m_long.json", "[{\"paths\": [\"short.bin\"], \"weights\": [{\"name\": "
                                           "\"w\", \"shape\": [2,2], \"dtype\": \"float32\"}]}]"));
    expect_error("syn/m_long.json", SSD_E_FORMAT, "short.bin: 13 bytes left over", "tensor 'w'");
    CHECK_OK(
        write_text("syn/m_missing.json",
                   "[{\"paths\": [\"gone.bin\"], \"weights\": [{\"name\": \"w\", \"shape\": [1], "
                   "\"dtype\": \"float32\"}]}]"));
    expect_error("syn/m_missing.json", SSD_E_IO, "gone.bin", NULL);
    CHECK_OK(
        write_text("syn/m_dtype.json",
                   "[{\"paths\": [\"short.bin\"], \"weights\": [{\"name\": \"c\", \"shape\": [1], "
                   "\"dtype\": \"complex64\"}]}]"));
    expect_error("syn/m_dtype.json", SSD_E_UNSUPPORTED, "m_dtype.json:1:39: tensor 'c'",
                 "complex64");
    CHECK_OK(
        write_text("syn/m_q.json",
                   "[{\"paths\": [\"short.bin\"], \"weights\": [{\"name\": \"q\", \"shape\": [1], "
                   "\"dtype\": \"float32\", \"quantization\": {\"dtype\": \"uint8\", \"min\": "
                   "0}}]}]"));
    expect_error("syn/m_q.json", SSD_E_FORMAT, "tensor 'q'", "\"scale\" and \"min\"");
    CHECK_OK(
        write_text("syn/m_q2.json",
                   "[{\"paths\": [\"short.bin\"], \"weights\": [{\"name\": \"q\", \"shape\": [1], "
                   "\"dtype\": \"float32\", \"quantization\": {\"dtype\": \"int4\"}}]}]"));
    expect_error("syn/m_q2.json", SSD_E_UNSUPPORTED, "tensor 'q'", "int4");
    CHECK_OK(
        write_text("syn/m_shape.json",
                   "[{\"paths\": [\"short.bin\"], \"weights\": [{\"name\": \"s\", \"shape\": [2, "
                   "-1], \"dtype\": \"float32\"}]}]"));
    expect_error("syn/m_shape.json", SSD_E_FORMAT, "tensor 's': bad size", NULL);
    CHECK_OK(write_text("syn/m_huge.json",
                        "[{\"paths\": [\"short.bin\"], \"weights\": [{\"name\": \"s\", \"shape\": "
                        "[2147483648, 2147483648], \"dtype\": \"float32\"}]}]"));
    expect_error("syn/m_huge.json", SSD_E_FORMAT, "tensor 's': bad size", NULL);
    CHECK_OK(
        write_text("syn/m_dup.json",
                   "[{\"paths\": [\"short.bin\"], \"weights\": [{\"name\": \"d\", \"shape\": [1], "
                   "\"dtype\": \"float32\"}, {\"name\": \"d\", \"shape\": [1], \"dtype\": "
                   "\"float32\"}]}]"));
    expect_error("syn/m_dup.json", SSD_E_FORMAT, "tensor 'd' appears twice", NULL);
    CHECK_OK(write_text("syn/m_obj.json", "{\"a\": 1}"));
    expect_error("syn/m_obj.json", SSD_E_FORMAT, "m_obj.json: not a TensorFlow.js", NULL);
    CHECK_OK(write_text("syn/m_empty.json", "[]"));
    expect_error("syn/m_empty.json", SSD_E_FORMAT, "lists no tensors", NULL);
    CHECK_OK(write_text("syn/m_paths.json", "[{\"paths\": [], \"weights\": []}]"));
    expect_error("syn/m_paths.json", SSD_E_FORMAT, "m_paths.json:1:12: \"paths\"", NULL);
    CHECK_OK(write_text("syn/m_bad.json", "[{\"paths\": [\"a.bin\"],\n \"weights\": [}]"));
    expect_error("syn/m_bad.json", SSD_E_FORMAT, "m_bad.json:2:14:", NULL);
    expect_error("syn/nonexistent.json", SSD_E_IO, "nonexistent.json", NULL);

    /* Every truncation of the first file is caught and names a file. */
    int bad = 0;
    for (size_t k = 0; k < n1; k++) {
        CHECK_OK(ssd_file_write_atomic(path("syn/short.bin"), a1, k));
        ssd_tfjs_weights w;
        if (ssd_tfjs_load(&w, path("syn/m_short.json")) != SSD_E_FORMAT ||
            !strstr(ssd_error_message(), "short.bin: too short"))
            bad++;
    }
    CHECK(bad == 0);
    ssd_free(a1);
}

/* Garbled manifests: any outcome but a crash or a silent partial result. */
static void test_fuzz(void) {
    uint8_t *text;
    size_t n;
    if (ssd_file_read_all(path("syn/manifest.json"), &text, &n) != SSD_OK) {
        CHECK(false);
        return;
    }
    ssd_rng r;
    ssd_rng_init(&r, 3, 4);
    char *buf = malloc(n + 8);
    static const char alphabet[] = "{}[]\",:0123456789-.e abdfilmnpqstuwx";
    int ok = 0, err = 0, nomsg = 0;
    for (int it = 0; it < 400; it++) {
        memcpy(buf, text, n);
        size_t len = n;
        for (int e = 0; e < 1; e++) {
            size_t at = (size_t)ssd_rng_int(&r, 0, (int64_t)len);
            buf[at] = alphabet[ssd_rng_int(&r, 0, sizeof alphabet - 1)];
        }
        if (ssd_rng_int(&r, 0, 4) == 0) len = (size_t)ssd_rng_int(&r, 0, (int64_t)len);
        CHECK_OK(ssd_file_write_atomic(path("syn/fuzz.json"), buf, len));
        ssd_tfjs_weights w;
        ssd_error_clear();
        ssd_status st = ssd_tfjs_load(&w, path("syn/fuzz.json"));
        if (st == SSD_OK) {
            ok++;
            ssd_tfjs_free(&w);
        } else {
            err++;
            if (!ssd_error_message()[0]) nomsg++;
        }
    }
    free(buf);
    ssd_free(text);
    printf("fuzz: %d loaded, %d rejected\n", ok, err);
    CHECK(nomsg == 0 && err > 300);
}

static void test_alloc_failures(void) {
    int k, nomem = 0;
    for (k = 1; k < 2000; k++) {
        ssd_alloc_fail_at(k);
        ssd_tfjs_weights w;
        ssd_status st = ssd_tfjs_load(&w, path("syn/manifest.json"));
        ssd_alloc_fail_at(0);
        if (st == SSD_OK) {
            ssd_tfjs_free(&w);
            break;
        }
        if (st == SSD_E_NOMEM && w.count == 0) nomem++;
    }
    CHECK(k > 20 && nomem == k - 1);
}

int main(int argc, char **argv) {
    if (argc < 2) return test_skip("usage: test_tfjs FIXTURE_DIR");
    snprintf(dir, sizeof dir, "%s", argv[1]);
    test_synthetic();
    test_real();
    test_errors();
    test_fuzz();
    test_alloc_failures();
    return test_finish();
}
