/* The CSV reader: quoting, line ends, blank lines, the errors (each naming the
 * file and line), writer -> reader round trips, and garbled input in a loop
 * (every truncation, random byte edits, short reads, failed allocations). */
#include "test.h"

#include "core/fileio.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/rng.h"
#include "data/csv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char base[1024];

/* REQUIRE_OK for void helpers: report and leave the helper. */
#define SETUP(expr)                                                                                \
    do {                                                                                           \
        ssd_status s_ = (expr);                                                                    \
        CHECK_OK(s_);                                                                              \
        if (s_ != SSD_OK) return;                                                                  \
    } while (0)

/* Parses text; returns the records as "f1|f2|..." lines, or "ERR <message>". */
static char *parse(const char *text, size_t len) {
    static char out[8192];
    size_t at = 0;
    out[0] = 0;
    ssd_csv *c = NULL;
    ssd_status st = ssd_csv_open_mem(&c, "x.csv", text, len);
    bool got = true;
    while (st == SSD_OK) {
        st = ssd_csv_next(c, &got);
        if (st != SSD_OK || !got) break;
        at += (size_t)snprintf(out + at, sizeof out - at, "%ld:", ssd_csv_line(c));
        for (int i = 0; i < ssd_csv_nfields(c); i++)
            at += (size_t)snprintf(out + at, sizeof out - at, "%s%s", i ? "|" : "",
                                   ssd_csv_field(c, i));
        at += (size_t)snprintf(out + at, sizeof out - at, "\n");
    }
    if (st != SSD_OK) snprintf(out, sizeof out, "ERR %s", ssd_error_message());
    ssd_csv_close(c);
    return out;
}

#define EXPECT(text, want)                                                                         \
    do {                                                                                           \
        const char *got_ = parse(text, strlen(text));                                              \
        if (strcmp(got_, want))                                                                    \
            fprintf(stderr, "input %s\n got  [%s]\n want [%s]\n", #text, got_, want);              \
        CHECK(!strcmp(got_, want));                                                                \
    } while (0)

#define EXPECT_ERR(text, prefix)                                                                   \
    do {                                                                                           \
        const char *got_ = parse(text, strlen(text));                                              \
        if (strncmp(got_, "ERR " prefix, strlen("ERR " prefix)))                                   \
            fprintf(stderr, "input %s\n got  [%s]\n want ERR %s...\n", #text, got_, prefix);       \
        CHECK(!strncmp(got_, "ERR " prefix, strlen("ERR " prefix)));                               \
    } while (0)

static void test_dialect(void) {
    EXPECT("a,b,c\n1,2,3\n", "1:a|b|c\n2:1|2|3\n");
    EXPECT("a,b\n1,2", "1:a|b\n2:1|2\n");                 /* no final line break */
    EXPECT("a,b\r\n1,2\r\n", "1:a|b\n2:1|2\n");           /* CRLF */
    EXPECT("a,b\r1,2\r", "1:a|b\n2:1|2\n");               /* lone CR */
    EXPECT("\n\na\n\n\nb\n", "3:a\n6:b\n");               /* blank lines skipped */
    EXPECT("\xEF\xBB\xBFId,x\n1,2\n", "1:Id|x\n2:1|2\n"); /* byte-order mark */
    EXPECT(",,\n", "1:||\n");                             /* empty fields */
    EXPECT("\"\"\n", "1:\n");                             /* one quoted empty field */
    EXPECT("\"a,b\",\"say \"\"hi\"\"\"\n", "1:a,b|say \"hi\"\n");
    EXPECT("\"two\nlines\",x\nnext,y\n", "1:two\nlines|x\n3:next|y\n");
    EXPECT("\"cr\r\nin\",x\r\nz\r\n", "1:cr\r\nin|x\n3:z\n");
    EXPECT("a,\"\"\n", "1:a|\n");
    EXPECT(" a , b \n", "1: a | b \n"); /* spaces are data, as pandas keeps them */
    EXPECT("", "");
    EXPECT("\n\r\n", "");
    EXPECT_ERR("a,\"b\n", "x.csv:1: quoted field not closed");
    EXPECT_ERR("x\n\"a\nb\nc", "x.csv:2: quoted field not closed");
    EXPECT_ERR("ok\nab\"c\n", "x.csv:2: field 1: quote inside an unquoted field");
    EXPECT_ERR("ok\n1,\"a\"b\n", "x.csv:2: field 2: 'b' after the closing quote");
    static const char nul[] = "a\n\n\nb\0c\n";
    CHECK(!strncmp(parse(nul, sizeof nul - 1), "ERR x.csv:4: NUL byte", 21));
    EXPECT_ERR("\xEF\xBB", "x.csv:1: not UTF-8 text");

    /* 1 MiB of one field is refused, not buffered for ever. */
    size_t big = (1 << 20) + 10;
    char *huge = malloc(big + 1);
    memset(huge, 'a', big);
    huge[big] = 0;
    const char *r = parse(huge, big);
    CHECK(!strncmp(r, "ERR x.csv:1: record longer than", 31));
    free(huge);
}

static void test_header(void) {
    static const char text[] = "ImageID,XMin,Extra\nimg,0.5,z\nimg2,0.7\n";
    ssd_csv *c = NULL;
    int idx[3];
    const char *names[3] = {"XMin", "ImageID", "Missing"};
    const bool optional[3] = {false, false, true};
    CHECK_OK(ssd_csv_open_mem(&c, "h.csv", text, sizeof text - 1));
    CHECK_OK(ssd_csv_header(c, 3, names, optional, idx));
    CHECK(idx[0] == 1 && idx[1] == 0 && idx[2] == -1);
    bool got;
    CHECK_OK(ssd_csv_next(c, &got));
    CHECK(got && ssd_csv_expect_fields(c, 3) == SSD_OK);
    CHECK(!strcmp(ssd_csv_field(c, idx[1]), "img") && !strcmp(ssd_csv_field(c, 7), ""));
    CHECK_OK(ssd_csv_next(c, &got));
    CHECK(got && ssd_csv_expect_fields(c, 3) == SSD_E_FORMAT);
    CHECK(strstr(ssd_error_message(), "h.csv:3: 2 fields, expected 3") != NULL);
    ssd_csv_close(c);

    CHECK_OK(ssd_csv_open_mem(&c, "h.csv", text, sizeof text - 1));
    CHECK(ssd_csv_header(c, 3, names, NULL, idx) == SSD_E_FORMAT);
    CHECK(strstr(ssd_error_message(), "h.csv:1: the header has no column 'Missing'") != NULL);
    ssd_csv_close(c);
    CHECK_OK(ssd_csv_open_mem(&c, "e.csv", "", 0));
    CHECK(ssd_csv_header(c, 3, names, NULL, idx) == SSD_E_FORMAT);
    CHECK(strstr(ssd_error_message(), "e.csv: empty file") != NULL);
    ssd_csv_close(c);

    CHECK(ssd_csv_open(&c, "/nonexistent/dir/x.csv") == SSD_E_IO);
    CHECK(c == NULL && strstr(ssd_error_message(), "/nonexistent/dir/x.csv") != NULL);
}

/* Random records with every awkward character, written and read back. */
static void test_round_trip(void) {
    static const char alphabet[] = "ab ,\"\r\n";
    char path[1200];
    snprintf(path, sizeof path, "%s/round.csv", base);
    ssd_rng rng;
    ssd_rng_init(&rng, 7, 0);
    enum { RECORDS = 200, MAXF = 5, MAXLEN = 6 };
    static char fields[RECORDS][MAXF][MAXLEN + 1];
    int nf[RECORDS];
    ssd_afile af = {0};
    SETUP(ssd_afile_open(&af, path));
    for (int r = 0; r < RECORDS; r++) {
        nf[r] = (int)ssd_rng_int(&rng, 1, MAXF + 1);
        const char *ptr[MAXF];
        for (int f = 0; f < nf[r]; f++) {
            int len = (int)ssd_rng_int(&rng, 0, MAXLEN + 1);
            for (int k = 0; k < len; k++)
                fields[r][f][k] = alphabet[ssd_rng_int(&rng, 0, sizeof alphabet - 1)];
            fields[r][f][len] = 0;
            ptr[f] = fields[r][f];
        }
        CHECK_OK(ssd_csv_write_row(&af, ptr, nf[r]));
    }
    SETUP(ssd_afile_commit(&af));
    ssd_csv *c = NULL;
    SETUP(ssd_csv_open(&c, path));
    int bad = 0, r = 0;
    for (;; r++) {
        bool got;
        ssd_status st = ssd_csv_next(c, &got);
        CHECK_OK(st);
        if (st != SSD_OK || !got) break;
        if (r >= RECORDS || ssd_csv_nfields(c) != nf[r]) {
            bad++;
            continue;
        }
        for (int f = 0; f < nf[r]; f++) bad += strcmp(ssd_csv_field(c, f), fields[r][f]) != 0;
    }
    CHECK(r == RECORDS);
    CHECK(bad == 0);
    ssd_csv_close(c);
}

/* Parses everything, checking each record against the header's width as the
 * dataset reader does; garbage must end in an error naming the file, never a crash. */
static ssd_status parse_all(ssd_csv *c) {
    const char *names[1] = {"ImageID"};
    int idx[1];
    ssd_status st = ssd_csv_header(c, 1, names, NULL, idx);
    int nf = ssd_csv_nfields(c);
    while (st == SSD_OK) {
        bool got;
        st = ssd_csv_next(c, &got);
        if (st != SSD_OK || !got) break;
        st = ssd_csv_expect_fields(c, nf);
        for (int i = 0; st == SSD_OK && i < ssd_csv_nfields(c); i++) (void)ssd_csv_field(c, i);
    }
    return st;
}

static const char sample[] = "ImageID,Source,XMin,ClassName\r\n"
                             "000a1,xclick,0.1,Apple\r\n"
                             "000a2,\"a, b\",0.25,\"Say \"\"cheese\"\"\"\r\n"
                             "000a3,\"multi\nline\",0.5,Orange\r\n"
                             "\r\n"
                             "000a4,,0.75,\r\n";

static void fuzz(void) {
    size_t n = sizeof sample - 1;
    ssd_csv *c = NULL;
    CHECK_OK(ssd_csv_open_mem(&c, "f.csv", sample, n));
    CHECK_OK(parse_all(c));
    ssd_csv_close(c);

    int errors = 0, named = 0;
    for (size_t cut = 0; cut < n; cut++) { /* every truncation */
        ssd_csv_open_mem(&c, "f.csv", sample, cut);
        if (parse_all(c) != SSD_OK) {
            errors++;
            named += !strncmp(ssd_error_message(), "f.csv:", 6);
        }
        ssd_csv_close(c);
    }
    CHECK(errors > 0 && named == errors);

    static const char edits[] = "\",\r\n\0x";
    char buf[sizeof sample + 8];
    ssd_rng rng;
    ssd_rng_init(&rng, 11, 0);
    errors = named = 0;
    for (int t = 0; t < 20000; t++) {
        memcpy(buf, sample, n);
        size_t len = n;
        int k = (int)ssd_rng_int(&rng, 1, 4);
        for (int e = 0; e < k; e++) {
            size_t at = (size_t)ssd_rng_int(&rng, 0, (int64_t)len);
            char ch = edits[ssd_rng_int(&rng, 0, sizeof edits - 1)];
            switch (ssd_rng_int(&rng, 0, 3)) {
            case 0:
                buf[at] = ch;
                break;
            case 1:
                memmove(buf + at, buf + at + 1, len - at - 1), len--;
                break;
            default:
                if (len < sizeof buf) {
                    memmove(buf + at + 1, buf + at, len - at);
                    buf[at] = ch;
                    len++;
                }
            }
        }
        ssd_csv_open_mem(&c, "f.csv", buf, len);
        if (parse_all(c) != SSD_OK) {
            errors++;
            named += !strncmp(ssd_error_message(), "f.csv:", 6);
        }
        ssd_csv_close(c);
    }
    CHECK(errors > 1000);
    CHECK(named == errors);
}

/* Short reads at every read and failed allocations at every allocation. */
static void faults(void) {
    char path[1200];
    snprintf(path, sizeof path, "%s/sample.csv", base);
    SETUP(ssd_file_write_atomic(path, sample, sizeof sample - 1));
    int failures = 0;
    for (long k = 1; k < 10; k++) {
        ssd_read_fail_at(k);
        ssd_csv *c = NULL;
        ssd_status st = ssd_csv_open(&c, path);
        if (st == SSD_OK) st = parse_all(c);
        ssd_csv_close(c);
        ssd_read_fail_at(0);
        if (st != SSD_OK) {
            failures++;
            CHECK(st == SSD_E_IO && strstr(ssd_error_message(), "sample.csv") != NULL);
        }
    }
    CHECK(failures >= 1);
    for (long k = 1; k < 40; k++) {
        ssd_alloc_fail_at(k);
        ssd_csv *c = NULL;
        ssd_status st = ssd_csv_open(&c, path);
        if (st == SSD_OK) st = parse_all(c);
        ssd_csv_close(c);
        ssd_alloc_fail_at(0);
        CHECK(st == SSD_OK || st == SSD_E_NOMEM);
    }
}

int main(int argc, char **argv) {
    if (argc < 2) return test_skip("needs a scratch directory");
    snprintf(base, sizeof base, "%s", argv[1]);
    if (ssd_mkdir_p(base) != SSD_OK) return test_skip("cannot create the scratch directory");
    ssd_log_set_timestamps(0);
    test_dialect();
    test_header();
    test_round_trip();
    fuzz();
    faults();
    return test_finish();
}
