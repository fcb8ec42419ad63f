/* Error messages: formatting, prefixes, truncation at the buffer size (with a
 * visible marker and never past it), self-reference, and per-thread storage. */
#include "core/status.h"
#include "test.h"

#include <pthread.h>
#include <string.h>

static int ends_with(const char *s, const char *tail) {
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && strcmp(s + a - b, tail) == 0;
}

static ssd_status fails_with(ssd_status st) {
    return st == SSD_OK ? SSD_OK : ssd_error_set(st, "inner");
}

/* SSD_TRY and SSD_CHECK_GOTO pass the first failure through unchanged. */
static ssd_status try_chain(ssd_status st) {
    ssd_status out = SSD_OK;
    SSD_TRY(fails_with(SSD_OK));
    SSD_TRY(fails_with(st == SSD_E_IO ? st : SSD_OK));
    SSD_CHECK_GOTO(out, fails_with(st), done);
    out = SSD_E_UNSUPPORTED; /* marks "fell through": st was SSD_OK */
done:
    return out;
}

static void test_basic(void) {
    ssd_error_clear();
    CHECK(strcmp(ssd_error_message(), "") == 0);
    CHECK(ssd_error_set(SSD_E_FORMAT, "%s: line %d: bad box", "a.xml", 12) == SSD_E_FORMAT);
    CHECK(strcmp(ssd_error_message(), "a.xml: line 12: bad box") == 0);
    CHECK(ssd_error_prefix(SSD_E_IO, "loading %s", "voc") == SSD_E_IO);
    CHECK(strcmp(ssd_error_message(), "loading voc: a.xml: line 12: bad box") == 0);
    ssd_error_prefix(SSD_E_IO, "train");
    CHECK(strcmp(ssd_error_message(), "train: loading voc: a.xml: line 12: bad box") == 0);

    /* The old message as an argument of the new one. */
    ssd_error_set(SSD_E_IO, "disk full");
    ssd_error_set(SSD_E_IO, "%s: %s (%s)", "ckpt.pth", ssd_error_message(), ssd_error_message());
    CHECK(strcmp(ssd_error_message(), "ckpt.pth: disk full (disk full)") == 0);
    ssd_error_set(SSD_E_IO, "x");
    ssd_error_prefix(SSD_E_IO, "%s", ssd_error_message());
    CHECK(strcmp(ssd_error_message(), "x: x") == 0);

    ssd_error_clear();
    ssd_error_prefix(SSD_E_IO, "ctx");
    CHECK(strcmp(ssd_error_message(), "ctx: ") == 0);
    CHECK(try_chain(SSD_E_FORMAT) == SSD_E_FORMAT);
    CHECK(try_chain(SSD_E_IO) == SSD_E_IO);
    CHECK(try_chain(SSD_OK) == SSD_E_UNSUPPORTED);
}

static void test_truncation(void) {
    static char big[5 * SSD_ERROR_MSG_CAP];
    memset(big, 'm', sizeof big - 1);
    big[sizeof big - 1] = '\0';

    ssd_error_set(SSD_E_FORMAT, "%s", big);
    CHECK(strlen(ssd_error_message()) == SSD_ERROR_MSG_CAP - 1);
    CHECK(ends_with(ssd_error_message(), "..."));

    /* Exactly at the limit: no marker. */
    big[SSD_ERROR_MSG_CAP - 1] = '\0';
    ssd_error_set(SSD_E_FORMAT, "%s", big);
    CHECK(strlen(ssd_error_message()) == SSD_ERROR_MSG_CAP - 1);
    CHECK(!ends_with(ssd_error_message(), "..."));
    big[SSD_ERROR_MSG_CAP - 1] = 'm';

    /* A prefix on a full message keeps the prefix and marks the cut. */
    ssd_error_set(SSD_E_FORMAT, "%s", big);
    ssd_error_prefix(SSD_E_FORMAT, "context");
    CHECK(strlen(ssd_error_message()) == SSD_ERROR_MSG_CAP - 1);
    CHECK(strncmp(ssd_error_message(), "context: mmm", 12) == 0);
    CHECK(ends_with(ssd_error_message(), "..."));

    /* A huge prefix still leaves ": " and the start of the old message. */
    ssd_error_set(SSD_E_FORMAT, "old");
    ssd_error_prefix(SSD_E_FORMAT, "%s", big);
    const char *m = ssd_error_message();
    CHECK(strlen(m) <= SSD_ERROR_MSG_CAP - 1);
    CHECK(strstr(m, ": old") != NULL);

    /* Repeated prefixes never grow past the cap. */
    ssd_error_set(SSD_E_FORMAT, "base");
    for (int i = 0; i < 500; i++) ssd_error_prefix(SSD_E_FORMAT, "level %d", i);
    CHECK(strlen(ssd_error_message()) == SSD_ERROR_MSG_CAP - 1);
    CHECK(strncmp(ssd_error_message(), "level 499: level 498: ", 22) == 0);
}

static void *other_thread(void *arg) {
    (void)arg;
    ssd_error_set(SSD_E_IO, "from the other thread");
    return NULL;
}

static void test_thread_local(void) {
    ssd_error_set(SSD_E_IO, "mine");
    pthread_t t;
    pthread_create(&t, NULL, other_thread, NULL);
    pthread_join(t, NULL);
    CHECK(strcmp(ssd_error_message(), "mine") == 0);
}

static void test_names(void) {
    const ssd_status all[] = {SSD_OK,       SSD_E_INVAL,       SSD_E_NOMEM,   SSD_E_IO,
                              SSD_E_FORMAT, SSD_E_UNSUPPORTED, SSD_E_BACKEND, SSD_E_INTERRUPTED};
    const int n = sizeof all / sizeof all[0];
    int distinct = 1;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            distinct &= strcmp(ssd_status_name(all[i]), ssd_status_name(all[j])) != 0;
    CHECK(distinct);
    CHECK(strcmp(ssd_status_name((ssd_status)99), "unknown status") == 0);
}

int main(void) {
    test_basic();
    test_truncation();
    test_thread_local();
    test_names();
    return test_finish();
}
