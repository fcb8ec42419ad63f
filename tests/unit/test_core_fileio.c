/* Whole-file reads, atomic writes and their failure modes: a failed write
 * must leave neither a temporary file nor a changed or partial target, and
 * every error names the file. */
#include "core/fileio.h"
#include "core/mem.h"
#include "core/rng.h"
#include "test.h"

#include <dirent.h>
#include <ftw.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* REQUIRE_OK for void helpers: a failed set-up step ends that helper only. */
#define REQUIRE_OK_VOID(expr)                                                                      \
    do {                                                                                           \
        ssd_status rq_ = (expr);                                                                   \
        CHECK(rq_ == SSD_OK);                                                                      \
        if (rq_ != SSD_OK) {                                                                       \
            fprintf(stderr, "  %s: %s\n", #expr, ssd_error_message());                             \
            return;                                                                                \
        }                                                                                          \
    } while (0)

static char root[64];

static char *join(const char *a, const char *b) {
    char *p = ssd_path_join(a, b);
    if (!p) abort();
    return p;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

/* Number of entries in dir whose name contains ".tmp." */
static int temp_files(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

static int msg_has(const char *s) {
    int ok = strstr(ssd_error_message(), s) != NULL;
    if (!ok) fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", ssd_error_message(), s);
    return ok;
}

static int file_is(const char *path, const char *want) {
    uint8_t *d;
    size_t n;
    if (ssd_file_read_all(path, &d, &n) != SSD_OK) return 0;
    int ok = n == strlen(want) && memcmp(d, want, n) == 0;
    ssd_free(d);
    return ok;
}

static void test_round_trip(void) {
    char *p = join(root, "blob.bin");
    enum { N = 300001 };
    uint8_t *src = ssd_malloc(N);
    ssd_rng r;
    ssd_rng_init(&r, 1, 2);
    for (int i = 0; i < N; i++) src[i] = (uint8_t)ssd_rng_u32(&r);
    src[10] = 0; /* binary-safe */
    CHECK_OK(ssd_file_write_atomic(p, src, N));
    uint8_t *got = NULL;
    size_t n = 0;
    CHECK_OK(ssd_file_read_all(p, &got, &n));
    CHECK(n == N);
    CHECK(got && memcmp(got, src, N) == 0);
    CHECK(got && got[n] == 0);
    ssd_free(got);
    CHECK(temp_files(root) == 0);

    /* Overwrite with something shorter: no stale tail. */
    CHECK_OK(ssd_file_write_atomic(p, "abc", 3));
    CHECK(file_is(p, "abc"));

    /* Empty file: a valid empty, NUL-terminated buffer. */
    CHECK_OK(ssd_file_write_atomic(p, NULL, 0));
    CHECK_OK(ssd_file_read_all(p, &got, &n));
    CHECK(n == 0 && got && got[0] == 0);
    ssd_free(got);

    /* Files whose size stat does not know (procfs reports 0). */
    CHECK_OK(ssd_file_read_all("/proc/self/status", &got, &n));
    CHECK(n > 0 && got && strstr((char *)got, "Name:") != NULL);
    ssd_free(got);

    ssd_free(src);
    ssd_free(p);
}

static void test_read_errors(void) {
    char *p = join(root, "missing.txt");
    uint8_t *d = (uint8_t *)"x";
    size_t n = 5;
    CHECK(ssd_file_read_all(p, &d, &n) == SSD_E_IO);
    CHECK(msg_has(p));
    CHECK(d == NULL && n == 0);
    CHECK(ssd_file_read_all(root, &d, &n) == SSD_E_IO);
    CHECK(msg_has(root));
    ssd_free(p);
}

/* The k-th read cut short, for every k a read of this file makes. */
static void test_injected_short_reads(void) {
    char *p = join(root, "short.bin");
    static uint8_t src[70000];
    for (size_t i = 0; i < sizeof src; i++) src[i] = (uint8_t)(i * 7);
    REQUIRE_OK_VOID(ssd_file_write_atomic(p, src, sizeof src));

    int failures = 0;
    for (long k = 1; k < 100; k++) {
        ssd_read_fail_at(k);
        uint8_t *d = NULL;
        size_t n = 0;
        ssd_status st = ssd_file_read_all(p, &d, &n);
        long reads = ssd_read_count();
        ssd_read_fail_at(0);
        if (reads < k) { /* the hook was never reached: a clean read */
            CHECK(st == SSD_OK && n == sizeof src);
            ssd_free(d);
            break;
        }
        failures++;
        CHECK(st == SSD_E_IO);
        CHECK(msg_has(p) && msg_has("short read"));
        CHECK(d == NULL);
    }
    CHECK(failures >= 1);

    /* /proc files are read in several chunks: every one of those reads can fail. */
    failures = 0;
    for (long k = 1; k < 100; k++) {
        ssd_read_fail_at(k);
        uint8_t *d = NULL;
        size_t n = 0;
        ssd_status st = ssd_file_read_all("/proc/self/smaps", &d, &n);
        long reads = ssd_read_count();
        ssd_read_fail_at(0);
        ssd_free(d);
        if (reads < k) {
            CHECK(st == SSD_OK);
            break;
        }
        failures++;
        CHECK(st == SSD_E_IO && msg_has("/proc/self/smaps"));
    }
    CHECK(failures >= 1);

    /* Every allocation a read makes, failed in turn (the /proc file grows its buffer). */
    int nomem = 0;
    for (long k = 1; k < 100; k++) {
        ssd_alloc_fail_at(k);
        uint8_t *d = NULL;
        size_t n = 0;
        ssd_status st = ssd_file_read_all("/proc/self/smaps", &d, &n);
        long made = ssd_alloc_count();
        ssd_alloc_fail_at(0);
        ssd_free(d);
        if (made < k) {
            CHECK(st == SSD_OK);
            break;
        }
        nomem++;
        CHECK(st == SSD_E_NOMEM && msg_has("/proc/self/smaps") && d == NULL);
    }
    CHECK(nomem >= 2);

    /* ssd_fread_checked itself. */
    FILE *fp = fopen(p, "rb");
    char buf[100];
    ssd_read_fail_at(2);
    CHECK(ssd_fread_checked(buf, 100, fp) == 100);
    CHECK(ssd_fread_checked(buf, 100, fp) < 100);
    CHECK(ssd_fread_checked(buf, 100, fp) == 100);
    ssd_read_fail_at(0);
    fclose(fp);
    ssd_free(p);
}

static void test_atomic_failures(void) {
    /* 1. Directory does not exist. */
    char *nodir = join(root, "no/such/dir");
    char *p = join(nodir, "out.bin");
    CHECK(ssd_file_write_atomic(p, "data", 4) == SSD_E_IO);
    CHECK(msg_has(p));
    CHECK(!ssd_path_exists(nodir));
    ssd_free(p);
    ssd_free(nodir);

    /* 2. Read-only location. procfs refuses new files even for root; a 0555
     * directory only stops non-root users. */
    CHECK(ssd_file_write_atomic("/proc/ssd_test_out.bin", "data", 4) == SSD_E_IO);
    CHECK(msg_has("/proc/ssd_test_out.bin"));
    if (geteuid() != 0) {
        char *ro = join(root, "ro");
        CHECK_OK(ssd_mkdir_p(ro));
        chmod(ro, 0555);
        char *q = join(ro, "out.bin");
        CHECK(ssd_file_write_atomic(q, "data", 4) == SSD_E_IO);
        CHECK(msg_has(q));
        CHECK(temp_files(ro) == 0 && !ssd_path_exists(q));
        chmod(ro, 0755);
        ssd_free(q);
        ssd_free(ro);
    }

    /* 3. The rename fails (the target is a directory): temp removed, target untouched. */
    char *dtarget = join(root, "target_dir");
    CHECK_OK(ssd_mkdir_p(dtarget));
    CHECK(ssd_file_write_atomic(dtarget, "data", 4) == SSD_E_IO);
    CHECK(msg_has(dtarget));
    CHECK(ssd_path_is_dir(dtarget));
    CHECK(temp_files(root) == 0);
    ssd_free(dtarget);

    /* 4. A write that fails half-way (file size limit, EFBIG): the old target
     * survives whole and no temp file is left. */
    char *t = join(root, "keep.txt");
    CHECK_OK(ssd_file_write_atomic(t, "old contents", 12));
    struct rlimit old;
    getrlimit(RLIMIT_FSIZE, &old);
    struct rlimit lim = old;
    lim.rlim_cur = 8192;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &lim) == 0) {
        static uint8_t big[1 << 20];
        ssd_status st = ssd_file_write_atomic(t, big, sizeof big);
        setrlimit(RLIMIT_FSIZE, &old);
        CHECK(st == SSD_E_IO);
        CHECK(msg_has(t));
        CHECK(file_is(t, "old contents"));
        CHECK(temp_files(root) == 0);
    } else {
        fprintf(stderr, "note: setrlimit(RLIMIT_FSIZE) refused; mid-write failure not tested\n");
    }
    signal(SIGXFSZ, prev);
    ssd_free(t);
}

static void test_afile(void) {
    char *p = join(root, "stream.txt");
    CHECK_OK(ssd_file_write_atomic(p, "before", 6));
    ssd_afile f;
    REQUIRE_OK_VOID(ssd_afile_open(&f, p));
    CHECK_OK(ssd_afile_write(&f, "hello ", 6));
    CHECK_OK(ssd_afile_write(&f, "", 0));
    CHECK_OK(ssd_afile_write(&f, "world", 5));
    CHECK(file_is(p, "before")); /* nothing visible before commit */
    CHECK(temp_files(root) == 1);
    CHECK_OK(ssd_afile_commit(&f));
    CHECK(file_is(p, "hello world"));
    CHECK(temp_files(root) == 0);
    ssd_afile_abort(&f); /* no-op after commit */
    ssd_afile_abort(NULL);
    CHECK(ssd_afile_write(&f, "x", 1) != SSD_OK); /* closed */

    /* Abort: target unchanged, temp gone. */
    REQUIRE_OK_VOID(ssd_afile_open(&f, p));
    CHECK_OK(ssd_afile_write(&f, "partial", 7));
    ssd_afile_abort(&f);
    CHECK(file_is(p, "hello world"));
    CHECK(temp_files(root) == 0);

    /* Allocation failures in open: an error, nothing created. */
    for (long k = 1; k <= 2; k++) {
        ssd_alloc_fail_at(k);
        ssd_status st = ssd_afile_open(&f, p);
        ssd_alloc_fail_at(0);
        CHECK(st == SSD_E_NOMEM && msg_has(p));
        CHECK(temp_files(root) == 0);
    }
    ssd_free(p);
}

static void test_mkdir_and_paths(void) {
    char *deep = join(root, "a/b//c/d/");
    CHECK_OK(ssd_mkdir_p(deep));
    CHECK(ssd_path_is_dir(deep));
    CHECK_OK(ssd_mkdir_p(deep)); /* exists: fine */
    char *file = join(root, "a/b/plain");
    CHECK_OK(ssd_file_write_atomic(file, "x", 1));
    CHECK(ssd_path_exists(file) && !ssd_path_is_dir(file));
    char *under = join(file, "sub");
    CHECK(ssd_mkdir_p(under) == SSD_E_IO);
    CHECK(msg_has(file));
    CHECK(ssd_mkdir_p(file) == SSD_E_IO); /* exists but is a file */
    CHECK(ssd_mkdir_p("") == SSD_E_INVAL);
    CHECK_OK(ssd_mkdir_p("/"));
    ssd_free(under);
    ssd_free(file);
    ssd_free(deep);

    static const struct {
        const char *a, *b, *want;
    } joins[] = {{"dir", "f", "dir/f"}, {"dir/", "f", "dir/f"}, {"dir//", "/f", "dir/f"},
                 {"", "f", "f"},        {"/", "f", "/f"},       {"/x", "y/z", "/x/y/z"},
                 {"a", "", "a/"}};
    for (size_t i = 0; i < sizeof joins / sizeof joins[0]; i++) {
        char *j = ssd_path_join(joins[i].a, joins[i].b);
        CHECK(j && strcmp(j, joins[i].want) == 0);
        if (j && strcmp(j, joins[i].want) != 0)
            fprintf(stderr, "  join(%s, %s) = %s\n", joins[i].a, joins[i].b, j);
        ssd_free(j);
    }
    CHECK(strcmp(ssd_path_basename("a/b/c.jpg"), "c.jpg") == 0);
    CHECK(strcmp(ssd_path_basename("c.jpg"), "c.jpg") == 0);
    CHECK(strcmp(ssd_path_basename("a/"), "") == 0);

    setenv("HOME", "/home/someone", 1);
    static const struct {
        const char *in, *want;
    } ex[] = {{"~/models/x.pth", "/home/someone/models/x.pth"},
              {"~", "/home/someone"},
              {"~other/x", "~other/x"},
              {"/abs/~/x", "/abs/~/x"},
              {"rel", "rel"}};
    for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
        char *e = ssd_path_expand_user(ex[i].in);
        CHECK(e && strcmp(e, ex[i].want) == 0);
        ssd_free(e);
    }
    unsetenv("HOME");
    char *e = ssd_path_expand_user("~/x");
    CHECK(e && strcmp(e, "~/x") == 0);
    ssd_free(e);
}

int main(void) {
    snprintf(root, sizeof root, "/tmp/ssd_fileio_XXXXXX");
    if (!mkdtemp(root)) return test_skip("cannot create a temporary directory");
    test_round_trip();
    test_read_errors();
    test_injected_short_reads();
    test_atomic_failures();
    test_afile();
    test_mkdir_and_paths();
    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return test_finish();
}
