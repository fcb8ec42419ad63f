/* Thread pool: many tasks, parallel_for, nesting, destroy with a full queue,
 * and every allocation failure during creation and queue growth. */
#include "core/mem.h"
#include "core/threadpool.h"
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

/* REQUIRE_OK for void helpers. */
#define REQUIRE_OK_RET(expr)                                                                       \
    do {                                                                                           \
        ssd_status rq_ = (expr);                                                                   \
        CHECK(rq_ == SSD_OK);                                                                      \
        if (rq_ != SSD_OK) return;                                                                 \
    } while (0)

static atomic_long counter;

static void bump(void *arg) {
    long *by = arg;
    atomic_fetch_add(&counter, by ? *by : 1);
}

/* Busy work that takes long enough for the queue to back up. */
static void slow_bump(void *arg) {
    (void)arg;
    volatile double x = 0;
    for (int i = 0; i < 2000; i++) x += i * 0.5;
    atomic_fetch_add(&counter, 1);
}

static void test_tasks(int nthreads, int ntasks) {
    ssd_threadpool *p = NULL;
    REQUIRE_OK_RET(ssd_threadpool_create(&p, nthreads));
    CHECK(ssd_threadpool_size(p) == nthreads);
    atomic_store(&counter, 0);
    long three = 3;
    int ok = 1;
    for (int i = 0; i < ntasks; i++)
        ok &= ssd_threadpool_submit(p, bump, i % 2 ? &three : NULL) == SSD_OK;
    ssd_threadpool_wait(p);
    CHECK(ok);
    CHECK(atomic_load(&counter) == (long)(ntasks / 2) * 3 + (ntasks - ntasks / 2));
    /* The pool is reusable after a wait. */
    for (int i = 0; i < 10; i++) ssd_threadpool_submit(p, bump, NULL);
    ssd_threadpool_wait(p);
    ssd_threadpool_wait(p); /* nothing pending: returns at once */
    CHECK(atomic_load(&counter) == (long)(ntasks / 2) * 3 + (ntasks - ntasks / 2) + 10);
    ssd_threadpool_destroy(p);
}

static void fill(int64_t i, void *arg) {
    int64_t *out = arg;
    out[i] += 2 * i + 1; /* += catches an index run twice */
}

static void test_parallel_for(ssd_threadpool *p) {
    enum { N = 100003 };
    static int64_t out[N];
    const int64_t lens[] = {0, 1, 2, 3, 17, 1000, N};
    for (size_t t = 0; t < sizeof lens / sizeof lens[0]; t++) {
        int64_t n = lens[t];
        memset(out, 0, sizeof out);
        ssd_parallel_for(p, n, fill, out);
        int64_t sum = 0;
        int exact = 1;
        for (int64_t i = 0; i < N; i++) {
            sum += out[i];
            exact &= out[i] == (i < n ? 2 * i + 1 : 0);
        }
        CHECK(exact);
        CHECK(sum == n * n); /* sum of the first n odd numbers */
    }
}

/* parallel_for from inside a pool task: the caller does the work itself if
 * no worker is free, so even a one-thread pool cannot deadlock. */
typedef struct {
    ssd_threadpool *p;
    int64_t *out;
    atomic_int ok;
} nested_ctx;

static void nested_task(void *arg) {
    nested_ctx *c = arg;
    int64_t local[500];
    memset(local, 0, sizeof local);
    ssd_parallel_for(c->p, 500, fill, local);
    int good = 1;
    for (int i = 0; i < 500; i++) good &= local[i] == 2 * i + 1;
    if (good) atomic_fetch_add(&c->ok, 1);
}

static void test_nested(int nthreads) {
    ssd_threadpool *p = NULL;
    REQUIRE_OK_RET(ssd_threadpool_create(&p, nthreads));
    nested_ctx c = {.p = p};
    atomic_init(&c.ok, 0);
    for (int i = 0; i < 8; i++) ssd_threadpool_submit(p, nested_task, &c);
    ssd_threadpool_wait(p);
    CHECK(atomic_load(&c.ok) == 8);
    ssd_threadpool_destroy(p);
}

static void test_destroy_pending(void) {
    ssd_threadpool *p = NULL;
    REQUIRE_OK_RET(ssd_threadpool_create(&p, 2));
    atomic_store(&counter, 0);
    for (int i = 0; i < 3000; i++) ssd_threadpool_submit(p, slow_bump, NULL);
    ssd_threadpool_destroy(p); /* drains the queue, then joins */
    CHECK(atomic_load(&counter) == 3000);
    ssd_threadpool_destroy(NULL);
}

/* A task that holds its worker until released, so that submits pile up in the queue. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_open, gate_started;

static void gate_task(void *arg) {
    (void)arg;
    pthread_mutex_lock(&gate_mu);
    gate_started = 1;
    pthread_cond_broadcast(&gate_cv);
    while (!gate_open) pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
}

/* Occupies the pool's only worker; returns once the gate task is running, so
 * the queue is empty and every later submit stays queued. */
static ssd_status gate_close(ssd_threadpool *p) {
    gate_open = gate_started = 0;
    ssd_status st = ssd_threadpool_submit(p, gate_task, NULL);
    pthread_mutex_lock(&gate_mu);
    while (st == SSD_OK && !gate_started) pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
    return st;
}

static void gate_release(void) {
    pthread_mutex_lock(&gate_mu);
    gate_open = 1;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
}

static void test_fault_injection(void) {
    /* Creation: every allocation in it failed in turn. */
    long k;
    int fails = 0;
    for (k = 1; k < 100; k++) {
        ssd_threadpool *p = (ssd_threadpool *)&k;
        ssd_alloc_fail_at(k);
        ssd_status st = ssd_threadpool_create(&p, 3);
        long made = ssd_alloc_count();
        ssd_alloc_fail_at(0);
        if (st == SSD_OK) {
            CHECK(p != NULL);
            ssd_threadpool_destroy(p);
        } else {
            fails++;
            CHECK(st == SSD_E_NOMEM);
            CHECK(p == NULL);
            CHECK(strstr(ssd_error_message(), "out of memory") != NULL);
        }
        if (made < k) break;
    }
    printf("threadpool create: %ld allocation points\n", k - 1);
    CHECK(fails == k - 1 && fails >= 1);

    /* Queue growth fails: submit reports it, the tasks already queued still run. */
    ssd_threadpool *p = NULL;
    REQUIRE_OK_RET(ssd_threadpool_create(&p, 1));
    atomic_store(&counter, 0);
    CHECK_OK(gate_close(p));
    ssd_alloc_fail_at(1);
    int accepted = 0;
    ssd_status st = SSD_OK;
    for (int i = 0; i < 200 && st == SSD_OK; i++) {
        st = ssd_threadpool_submit(p, bump, NULL);
        accepted += st == SSD_OK;
    }
    ssd_alloc_fail_at(0);
    CHECK(st == SSD_E_NOMEM);
    CHECK(accepted == 64); /* the initial queue capacity */
    gate_release();
    ssd_threadpool_wait(p);
    CHECK(atomic_load(&counter) == accepted);

    /* parallel_for whose bookkeeping allocation fails still computes everything. */
    static int64_t out[5000];
    memset(out, 0, sizeof out);
    ssd_alloc_fail_at(1);
    ssd_parallel_for(p, 5000, fill, out);
    ssd_alloc_fail_at(0);
    int exact = 1;
    for (int i = 0; i < 5000; i++) exact &= out[i] == 2 * i + 1;
    CHECK(exact);

    /* ...and so does one whose helper submits fail (queue full, growth refused). */
    CHECK_OK(gate_close(p));
    for (int i = 0; i < 64; i++) ssd_threadpool_submit(p, bump, NULL); /* queue now full */
    memset(out, 0, sizeof out);
    ssd_alloc_fail_at(2); /* 1: the job, 2: the queue growth for its helper */
    ssd_parallel_for(p, 5000, fill, out);
    long made = ssd_alloc_count();
    ssd_alloc_fail_at(0);
    CHECK(made == 2);
    exact = 1;
    for (int i = 0; i < 5000; i++) exact &= out[i] == 2 * i + 1;
    CHECK(exact);
    gate_release();
    ssd_threadpool_destroy(p);

    ssd_threadpool *q = (ssd_threadpool *)&k;
    CHECK(ssd_threadpool_create(&q, 0) == SSD_E_INVAL && q == NULL);
}

int main(void) {
    test_tasks(1, 1000);
    test_tasks(4, 10000);
    ssd_threadpool *p = NULL;
    REQUIRE_OK(ssd_threadpool_create(&p, 3));
    test_parallel_for(p);
    ssd_threadpool_destroy(p);
    test_parallel_for(NULL);
    REQUIRE_OK(ssd_threadpool_create(&p, 1));
    test_parallel_for(p);
    ssd_threadpool_destroy(p);
    test_nested(1);
    test_nested(3);
    test_destroy_pending();
    test_fault_injection();
    return test_finish();
}
