/* Progress bar text (at explicit times, so nothing depends on the clock) and
 * that nothing is drawn when stderr is not a terminal. */
#include "core/progress.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_format(void) {
    ssd_progress p;
    ssd_progress_init(&p, "train", "img", 100);
    p.t0 = 10.0;
    p.done = 40;
    char buf[256];
    ssd_progress_format(&p, 14.0, "loss 3.21", buf, sizeof buf);
    /* 40 in 4 s: 10 img/s, 60 left: 6 s. */
    CHECK(
        strcmp(buf, "train [#########---------------]  40% 40/100 10.0 img/s ETA 0:06 loss 3.21") ==
        0);
    printf("%s\n", buf);

    p.done = 150; /* over-counting clamps the bar, not the count */
    ssd_progress_format(&p, 20.0, NULL, buf, sizeof buf);
    CHECK(strstr(buf, "[########################] 100% 150/100") != NULL);

    ssd_progress_init(&p, "download", "B", 0); /* unknown total */
    p.t0 = 0;
    p.done = 3 << 20;
    ssd_progress_format(&p, 2.0, "", buf, sizeof buf);
    CHECK(strcmp(buf, "download 3.0 MiB 1.5 MiB/s 0:02") == 0);
    printf("%s\n", buf);

    /* No time elapsed, nothing done: no division by zero, ETA unknown. */
    ssd_progress_init(&p, "x", "img", 10);
    p.t0 = 5;
    ssd_progress_format(&p, 5.0, NULL, buf, sizeof buf);
    CHECK(strstr(buf, "ETA ?") != NULL);

    /* A tiny buffer is filled, not overrun. */
    char small[8];
    memset(small, 'z', sizeof small);
    ssd_progress_format(&p, 6.0, "extra text", small, 6);
    CHECK(strlen(small) == 5 && small[6] == 'z');
}

static void test_not_a_tty(void) {
    /* stderr pointed at a file: add/end must write nothing to it. */
    char path[] = "/tmp/ssd_progress_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return;
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    ssd_progress p;
    ssd_progress_init(&p, "quiet", "img", 10);
    for (int i = 0; i < 10; i++) ssd_progress_add(&p, 1, "x");
    ssd_progress_end(&p);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    off_t size = lseek(fd, 0, SEEK_END);
    close(fd);
    unlink(path);
    CHECK(!p.tty);
    CHECK(p.done == 10);
    CHECK(size == 0);
}

int main(void) {
    double a = ssd_now(), b = ssd_now();
    CHECK(b >= a && a > 0);
    test_format();
    test_not_a_tty();
    return test_finish();
}
