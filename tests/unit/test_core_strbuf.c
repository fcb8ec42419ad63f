/* The growing string: appends of every size keep it NUL-terminated and equal
 * to the same text built with snprintf, across the growths; JSON string
 * literals go through ssd_json_escape; a failed allocation keeps what was
 * there, sets oom and makes later appends no-ops. */
#include "core/mem.h"
#include "core/status.h"
#include "core/strbuf.h"
#include "test.h"

#include <stdio.h>
#include <string.h>

static void test_appends(void) {
    ssd_strbuf b = {0};
    static char want[200000];
    size_t n = 0;
    for (int i = 0; i < 3000; i++) {
        if (i % 3 == 0) {
            ssd_strbuf_printf(&b, "%d:%s,", i, i % 2 ? "odd" : "even");
            n += (size_t)snprintf(want + n, sizeof want - n, "%d:%s,", i, i % 2 ? "odd" : "even");
        } else {
            char word[64];
            memset(word, 'a' + i % 26, (size_t)(i % 60));
            word[i % 60] = 0;
            ssd_strbuf_puts(&b, word);
            n += (size_t)snprintf(want + n, sizeof want - n, "%s", word);
        }
        if (b.len != n || strcmp(b.s, want) != 0 || b.cap <= b.len) {
            CHECK(!"text differs from snprintf's");
            break;
        }
    }
    CHECK(!b.oom);
    ssd_strbuf_printf(&b, "%s", ""); /* an empty append changes nothing */
    CHECK(b.len == n);
    ssd_strbuf_free(&b);
    CHECK(b.s == NULL && b.len == 0 && b.cap == 0 && !b.oom);

    ssd_strbuf e = {0}; /* the first append of nothing still makes a string */
    ssd_strbuf_puts(&e, "");
    CHECK(e.s && e.s[0] == 0 && e.len == 0);
    ssd_strbuf_free(&e);
}

static void test_json(void) {
    ssd_strbuf b = {0};
    ssd_strbuf_puts(&b, "[");
    ssd_strbuf_json(&b, "plate \"A\"\\\n\x01");
    ssd_strbuf_puts(&b, ",");
    ssd_strbuf_json(&b, "bad \xff byte");
    ssd_strbuf_puts(&b, "]");
    CHECK(!b.oom);
    CHECK(strcmp(b.s, "[\"plate \\\"A\\\"\\\\\\n\\u0001\",\"bad \xef\xbf\xbd byte\"]") == 0);
    ssd_strbuf_free(&b);
}

static void test_out_of_memory(void) {
    ssd_strbuf b = {0};
    ssd_strbuf_puts(&b, "kept");
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    ssd_alloc_fail_at(1); /* the growth this append needs */
    ssd_strbuf_puts(&b, big);
    ssd_alloc_fail_at(0);
    CHECK(b.oom);
    CHECK(strcmp(b.s, "kept") == 0 && b.len == 4);
    ssd_strbuf_printf(&b, "%s", "more"); /* no-op from now on */
    CHECK(b.oom && b.len == 4);
    ssd_strbuf_free(&b);
    CHECK(!b.oom);

    ssd_alloc_fail_at(1); /* the very first allocation */
    ssd_strbuf_printf(&b, "%d", 42);
    ssd_alloc_fail_at(0);
    CHECK(b.oom && b.s == NULL);
    ssd_strbuf_free(&b);
}

int main(void) {
    test_appends();
    test_json();
    test_out_of_memory();
    return test_finish();
}
