/* JSON reader and string escaper: valid documents into the right tree, each
 * kind of malformed input to an error naming line and column, escaper round
 * trips, random garbling of a real manifest, and every allocation failing. */
#include "core/json.h"
#include "core/mem.h"
#include "core/rng.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static ssd_json *parse(const char *s) {
    ssd_json *j = NULL;
    ssd_status st = ssd_json_parse(&j, s, strlen(s), "t.json");
    if (st != SSD_OK) fprintf(stderr, "unexpected parse error: %s\n", ssd_error_message());
    return j;
}

static void test_values(void) {
    const char *doc = "{\n  \"a\": [1, -2.5, 1e3, -0, 0.125E+2, 12345678901234567],\n"
                      "  \"s\": \"q\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00x\",\n"
                      "  \"u\": \"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\",\n"
                      "  \"t\": true, \"f\": false, \"n\": null, \"e\": {}, \"ea\": [],\n"
                      "  \"a\": \"dup\"\n}";
    ssd_json *j = parse(doc);
    CHECK(j != NULL);
    if (!j) return;
    CHECK(j->type == SSD_JSON_OBJECT && ssd_json_len(j) == 9);
    const ssd_json *a = &j->u.obj.vals[0];
    CHECK(a->type == SSD_JSON_ARRAY && ssd_json_len(a) == 6);
    CHECK(a->line == 2 && a->col == 8);
    CHECK(ssd_json_at(a, 0)->u.num == 1.0 && ssd_json_at(a, 1)->u.num == -2.5);
    CHECK(ssd_json_at(a, 2)->u.num == 1000.0 && ssd_json_at(a, 4)->u.num == 12.5);
    CHECK(ssd_json_at(a, 3)->u.num == 0.0 && signbit(ssd_json_at(a, 3)->u.num));
    CHECK(ssd_json_at(a, 6) == NULL && ssd_json_at(a, -1) == NULL);
    int64_t iv = 0;
    CHECK(ssd_json_int(ssd_json_at(a, 0), &iv) && iv == 1);
    CHECK(!ssd_json_int(ssd_json_at(a, 1), &iv));
    CHECK(ssd_json_int(ssd_json_at(a, 5), &iv) && iv == 12345678901234568LL);
    /* A repeated key: the last one wins, as in Python's json. */
    CHECK(strcmp(ssd_json_str(ssd_json_get(j, "a")), "dup") == 0);
    const ssd_json *s = ssd_json_get(j, "s");
    const char *want = "q\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80x";
    CHECK(s && s->u.str.len == strlen(want) && strcmp(s->u.str.s, want) == 0);
    CHECK(strcmp(ssd_json_str(ssd_json_get(j, "u")), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80") == 0);
    CHECK(ssd_json_get(j, "t")->u.b == true && ssd_json_get(j, "f")->u.b == false);
    CHECK(ssd_json_get(j, "n")->type == SSD_JSON_NULL);
    CHECK(ssd_json_len(ssd_json_get(j, "e")) == 0 && ssd_json_len(ssd_json_get(j, "ea")) == 0);
    CHECK(ssd_json_get(j, "zz") == NULL && ssd_json_get(a, "a") == NULL);
    CHECK(ssd_json_str(a) == NULL);
    ssd_json_free(j);

    /* \u0000 inside a value is kept (len counts it). */
    j = parse("[\"a\\u0000b\"]");
    CHECK(j && j->u.arr.items[0].u.str.len == 3 && j->u.arr.items[0].u.str.s[2] == 'b');
    ssd_json_free(j);
    j = parse("  7 ");
    CHECK(j && j->type == SSD_JSON_NUMBER && j->u.num == 7 && j->line == 1 && j->col == 3);
    ssd_json_free(j);
    ssd_json_free(NULL);
}

/* Each malformed input gives SSD_E_FORMAT and exactly this message. */
static void test_errors(void) {
    static const struct {
        const char *doc, *msg;
    } cases[] = {
        {"", "t.json:1:1: unexpected end of input, expected a value"},
        {"   \n  ", "t.json:2:3: unexpected end of input, expected a value"},
        {"[1,]", "t.json:1:4: trailing comma in an array"},
        {"{\"a\":1,}", "t.json:1:8: trailing comma in an object"},
        {"{\"a\" 1}", "t.json:1:6: expected ':' after an object key"},
        {"{a:1}", "t.json:1:2: expected a string key in an object"},
        {"[1 2]", "t.json:1:4: expected ',' or ']' after an array item"},
        {"{\"a\":1 \"b\":2}", "t.json:1:8: expected ',' or '}' after an object member"},
        {"[1,\n  [2,\n   3", "t.json:3:5: unterminated array"},
        {"{\"a\":", "t.json:1:6: unexpected end of input, expected a value"},
        {"\"abc", "t.json:1:1: unterminated string"},
        {"[\"a\nb\"]", "t.json:1:4: newline inside a string"},
        {"[\"a\tb\"]", "t.json:1:4: unescaped control character inside a string"},
        {"\"\\x\"", "t.json:1:2: invalid escape in a string"},
        {"\"\\u12g4\"", "t.json:1:2: \\u must be followed by four hex digits"},
        {"\"\\u12\"", "t.json:1:2: \\u must be followed by four hex digits"},
        {"\"\\ud800x\"", "t.json:1:2: high surrogate \\u escape without a low surrogate"},
        {"\"\\udc00\"", "t.json:1:2: lone low surrogate \\u escape"},
        {"\"\xc3(\"", "t.json:1:2: invalid UTF-8 inside a string"},
        {"\"\xed\xa0\x80\"", "t.json:1:2: invalid UTF-8 inside a string"},
        {"\"\xc0\xaf\"", "t.json:1:2: invalid UTF-8 inside a string"},
        {"{\"a\\u0000\":1}", "t.json:1:2: object key contains \\u0000"},
        {"01", "t.json:1:1: number with a leading zero"},
        {"-", "t.json:1:1: invalid number"},
        {"1.", "t.json:1:1: invalid number: no digit after '.'"},
        {"1e+", "t.json:1:1: invalid number: empty exponent"},
        {"+1", "t.json:1:1: unexpected character, expected a value"},
        {"[1e999]", "t.json:1:2: number out of range"},
        {"NaN", "t.json:1:1: unexpected character, expected a value"},
        {"tru", "t.json:1:1: invalid literal (expected true, false or null)"},
        {"nulls", "t.json:1:5: unexpected text after the JSON value"},
        {"{} {}", "t.json:1:4: unexpected text after the JSON value"},
        {"// c\n1", "t.json:1:1: unexpected character, expected a value"},
        {"[\n\n   'a']", "t.json:3:4: unexpected character, expected a value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ssd_json *j = (ssd_json *)1;
        ssd_status st = ssd_json_parse(&j, cases[i].doc, strlen(cases[i].doc), "t.json");
        bool ok = st == SSD_E_FORMAT && j == NULL && strcmp(ssd_error_message(), cases[i].msg) == 0;
        if (!ok)
            fprintf(stderr, "case %zu: got %s '%s', want '%s'\n", i, ssd_status_name(st),
                    ssd_error_message(), cases[i].msg);
        CHECK(ok);
    }
    /* An embedded NUL byte, on line 2. */
    ssd_json *j;
    CHECK(ssd_json_parse(&j, "[1,\n 2\0]", 8, "t.json") == SSD_E_FORMAT);
    CHECK(strcmp(ssd_error_message(), "t.json:2:3: NUL byte in the text") == 0);
    /* Deep nesting is refused, not a stack overflow. */
    size_t n = 100000;
    char *deep = malloc(n);
    memset(deep, '[', n);
    CHECK(ssd_json_parse(&j, deep, n, "t.json") == SSD_E_FORMAT);
    CHECK(strstr(ssd_error_message(), "nesting too deep") != NULL);
    free(deep);
    /* Exactly the maximum depth is fine. */
    char buf[2 * (SSD_JSON_MAX_DEPTH + 1) + 1];
    for (int i = 0; i <= SSD_JSON_MAX_DEPTH; i++) {
        buf[i] = '[';
        buf[2 * SSD_JSON_MAX_DEPTH + 1 - i] = ']';
    }
    buf[2 * (SSD_JSON_MAX_DEPTH + 1)] = 0;
    CHECK_OK(ssd_json_parse(&j, buf, strlen(buf), "t.json"));
    ssd_json_free(j);
    CHECK(ssd_json_parse_file(&j, "/nonexistent/x.json") == SSD_E_IO);
}

static void test_escape(void) {
    char buf[64];
    CHECK(ssd_json_escape(buf, sizeof buf, "a\"b\\c\n\x01/") == 18);
    CHECK(strcmp(buf, "\"a\\\"b\\\\c\\n\\u0001/\"") == 0);
    /* Invalid UTF-8 becomes U+FFFD; valid multi-byte passes through. */
    ssd_json_escape(buf, sizeof buf, "\xff\xc3\xa9");
    CHECK(strcmp(buf, "\"\xef\xbf\xbd\xc3\xa9\"") == 0);
    /* Truncation like snprintf: full length returned, output NUL-terminated. */
    CHECK(ssd_json_escape(buf, 4, "abcdef") == 8 && strcmp(buf, "\"ab") == 0);
    CHECK(ssd_json_escape(NULL, 0, "") == 2);
    char *q = ssd_json_quote("tab\there");
    CHECK(q && strcmp(q, "\"tab\\there\"") == 0);
    ssd_free(q);

    /* Round trip: random byte strings, quoted, parse back to the same bytes
     * (or the U+FFFD-repaired bytes when the input was not UTF-8). */
    ssd_rng r;
    ssd_rng_init(&r, 7, 1);
    int bad = 0;
    for (int it = 0; it < 2000; it++) {
        char s[40];
        int n = (int)ssd_rng_int(&r, 0, 39);
        for (int i = 0; i < n; i++) {
            /* Mostly ASCII and controls, some UTF-8 lead/continuation bytes. */
            uint32_t v = ssd_rng_u32(&r);
            s[i] = (char)(v % 4 == 0 ? 0x80 + (v >> 8) % 0x7f : 1 + (v >> 8) % 0x7f);
        }
        s[n] = 0;
        q = ssd_json_quote(s);
        ssd_json *j = NULL;
        if (!q || ssd_json_parse(&j, q, strlen(q), "q") != SSD_OK) {
            bad++;
        } else {
            /* Re-escaping the parsed value must give the same literal. */
            char *q2 = ssd_json_quote(j->u.str.s);
            if (!q2 || strcmp(q, q2) != 0) bad++;
            bool valid = true;
            for (int i = 0; i < n; i++) valid &= (unsigned char)s[i] < 0x80;
            if (valid && strcmp(j->u.str.s, s) != 0) bad++;
            ssd_free(q2);
        }
        ssd_json_free(j);
        ssd_free(q);
    }
    CHECK(bad == 0);
}

/* "f.json:<line>:<col>: " */
static bool has_position(const char *m) {
    int line = 0, col = 0, used = 0;
    return sscanf(m, "f.json:%d:%d: %n", &line, &col, &used) == 2 && used > 0 && line >= 1 &&
           col >= 1;
}

/* Garbles a real document: the parser must return OK or FORMAT with a
 * "name:line:col: " message, never crash, and free everything (valgrind). */
static void test_fuzz(void) {
    const char *base =
        "[{\"paths\": [\"m.bin\"], \"weights\": [{\"name\": \"MobilenetV1/Conv2d_0/w\", "
        "\"shape\": [3, 3, 3, 32], \"dtype\": \"float32\", \"quantization\": {\"scale\": "
        "0.0394855, \"min\": -5.0146e0, \"dtype\": \"uint8\"}}, {\"name\": \"b\\u00e9\", "
        "\"shape\": [], \"dtype\": \"int32\"}]}, null, true, false, -1.5e-3, \"\\ud83d\\ude00\"]";
    size_t bn = strlen(base);
    ssd_rng r;
    ssd_rng_init(&r, 1, 2);
    static const char alphabet[] = "{}[]\",:\\ \n0123456789.eE+-tfnulasrx\x80\xc3\xff";
    int nok = 0, nfmt = 0, other = 0;
    char *buf = malloc(bn + 64);
    for (int it = 0; it < 20000; it++) {
        size_t n = bn;
        memcpy(buf, base, bn);
        int edits = 1 + (int)ssd_rng_int(&r, 0, 4);
        for (int e = 0; e < edits; e++) {
            int kind = (int)ssd_rng_int(&r, 0, 4);
            size_t at = (size_t)ssd_rng_int(&r, 0, (int64_t)n);
            char c = alphabet[ssd_rng_int(&r, 0, sizeof alphabet - 1)];
            if (kind == 0 && n > 0) { /* replace */
                if (at == n) at--;
                buf[at] = c;
            } else if (kind == 1 && n > 0) { /* delete */
                if (at == n) at--;
                memmove(buf + at, buf + at + 1, n - at - 1);
                n--;
            } else if (kind == 2 && n < bn + 60) { /* insert */
                memmove(buf + at + 1, buf + at, n - at);
                buf[at] = c;
                n++;
            } else { /* truncate */
                n = at;
            }
        }
        ssd_json *j = NULL;
        ssd_status st = ssd_json_parse(&j, buf, n, "f.json");
        if (st == SSD_OK) {
            nok++;
            ssd_json_free(j);
        } else if (st == SSD_E_FORMAT && j == NULL && has_position(ssd_error_message())) {
            nfmt++;
        } else {
            if (other++ < 5)
                fprintf(stderr, "fuzz: %s '%s'\n", ssd_status_name(st), ssd_error_message());
        }
    }
    free(buf);
    printf("fuzz: %d parsed, %d rejected\n", nok, nfmt);
    CHECK(other == 0);
    /* Both outcomes occur, so the garbling exercises both paths. */
    CHECK(nok > 100 && nfmt > 10000);
}

/* Every allocation failing in turn: NOMEM and no leak, then success. */
static void test_alloc_failures(void) {
    const char *doc = "{\"a\": [1, 2, {\"b\": \"xyz\", \"c\": [[], {}]}], \"long\": "
                      "1.00000000000000000000000000000000000000000000000000000000000000000000001}";
    int k, failures = 0;
    for (k = 1; k < 200; k++) {
        ssd_alloc_fail_at(k);
        ssd_json *j = NULL;
        ssd_status st = ssd_json_parse(&j, doc, strlen(doc), "a.json");
        ssd_alloc_fail_at(0);
        if (st == SSD_OK) {
            ssd_json_free(j);
            break;
        }
        if (st == SSD_E_NOMEM && j == NULL) failures++;
    }
    CHECK(k > 5 && failures == k - 1);
}

int main(void) {
    test_values();
    test_errors();
    test_escape();
    test_fuzz();
    test_alloc_failures();
    return test_finish();
}
