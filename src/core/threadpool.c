#include "core/threadpool.h"

#include "core/mem.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

typedef struct {
    ssd_task_fn fn;
    void *arg;
} task;

struct ssd_threadpool {
    pthread_mutex_t mu;
    pthread_cond_t work; /* queue became non-empty, or stop */
    pthread_cond_t idle; /* pending dropped to 0 */
    pthread_cond_t pf;   /* a parallel_for job finished its last index */
    task *q;             /* ring buffer */
    size_t cap, head, len;
    long pending; /* queued + running */
    bool stop;
    int n; /* threads started */
    pthread_t *threads;
};

static void *worker(void *arg) {
    ssd_threadpool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->len == 0 && !p->stop) pthread_cond_wait(&p->work, &p->mu);
        if (p->len == 0) break; /* stop requested and the queue has drained */
        task t = p->q[p->head];
        p->head = (p->head + 1) % p->cap;
        p->len--;
        pthread_mutex_unlock(&p->mu);
        t.fn(t.arg);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0) pthread_cond_broadcast(&p->idle);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void pool_free(ssd_threadpool *p, bool sync_ready) {
    if (sync_ready) {
        pthread_cond_destroy(&p->pf);
        pthread_cond_destroy(&p->idle);
        pthread_cond_destroy(&p->work);
        pthread_mutex_destroy(&p->mu);
    }
    ssd_free(p->threads);
    ssd_free(p->q);
    ssd_free(p);
}

static void stop_and_join(ssd_threadpool *p) {
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n; i++) pthread_join(p->threads[i], NULL);
}

ssd_status ssd_threadpool_create(ssd_threadpool **out, int n) {
    *out = NULL;
    if (n < 1) return ssd_error_set(SSD_E_INVAL, "thread pool: %d threads requested", n);
    ssd_threadpool *p = ssd_calloc(1, sizeof *p);
    if (!p) return ssd_error_prefix(SSD_E_NOMEM, "thread pool");
    p->cap = 64;
    p->q = ssd_malloc(p->cap * sizeof *p->q);
    p->threads = ssd_malloc((size_t)n * sizeof *p->threads);
    if (!p->q || !p->threads) {
        pool_free(p, false);
        return ssd_error_prefix(SSD_E_NOMEM, "thread pool");
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->idle, NULL);
    pthread_cond_init(&p->pf, NULL);
    for (int i = 0; i < n; i++) {
        int err = pthread_create(&p->threads[i], NULL, worker, p);
        if (err) {
            stop_and_join(p);
            pool_free(p, true);
            return ssd_error_set(err == EAGAIN ? SSD_E_NOMEM : SSD_E_BACKEND,
                                 "thread pool: cannot start thread %d of %d: %s", i + 1, n,
                                 strerror(err));
        }
        p->n = i + 1;
    }
    *out = p;
    return SSD_OK;
}

void ssd_threadpool_destroy(ssd_threadpool *p) {
    if (!p) return;
    stop_and_join(p);
    pool_free(p, true);
}

ssd_status ssd_threadpool_submit(ssd_threadpool *p, ssd_task_fn fn, void *arg) {
    ssd_status st = SSD_OK;
    pthread_mutex_lock(&p->mu);
    if (p->len == p->cap) {
        /* Grow and unwrap the ring so that head is 0 again. */
        task *q = ssd_malloc(2 * p->cap * sizeof *q);
        if (!q) {
            st = ssd_error_prefix(SSD_E_NOMEM, "thread pool queue");
            goto done;
        }
        for (size_t i = 0; i < p->len; i++) q[i] = p->q[(p->head + i) % p->cap];
        ssd_free(p->q);
        p->q = q;
        p->head = 0;
        p->cap *= 2;
    }
    p->q[(p->head + p->len) % p->cap] = (task){fn, arg};
    p->len++;
    p->pending++;
    pthread_cond_signal(&p->work);
done:
    pthread_mutex_unlock(&p->mu);
    return st;
}

void ssd_threadpool_wait(ssd_threadpool *p) {
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0) pthread_cond_wait(&p->idle, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

int ssd_threadpool_size(const ssd_threadpool *p) {
    return p ? p->n : 0;
}

/* One parallel_for call. The caller works through the indices too, so the
 * loop finishes even when no helper task ever gets a worker (a parallel_for
 * inside a pool task, or a failed submit). Helpers that start after the last
 * index was claimed only drop their reference; the last reference frees the
 * job, which is why it lives on the heap and not on the caller's stack. */
typedef struct {
    ssd_threadpool *p;
    void (*fn)(int64_t i, void *arg);
    void *arg;
    int64_t n, chunk;
    atomic_int_fast64_t next; /* first unclaimed index */
    atomic_int_fast64_t done; /* indices finished */
    atomic_int refs;
} pf_job;

static void pf_release(pf_job *j) {
    if (atomic_fetch_sub(&j->refs, 1) == 1) ssd_free(j);
}

static void pf_run(pf_job *j) {
    for (;;) {
        int64_t lo = atomic_fetch_add(&j->next, j->chunk);
        if (lo >= j->n) break;
        int64_t hi = lo + j->chunk < j->n ? lo + j->chunk : j->n;
        for (int64_t i = lo; i < hi; i++) j->fn(i, j->arg);
        if (atomic_fetch_add(&j->done, hi - lo) + (hi - lo) == j->n) {
            pthread_mutex_lock(&j->p->mu);
            pthread_cond_broadcast(&j->p->pf);
            pthread_mutex_unlock(&j->p->mu);
        }
    }
}

static void pf_helper(void *arg) {
    pf_job *j = arg;
    pf_run(j);
    pf_release(j);
}

void ssd_parallel_for(ssd_threadpool *p, int64_t n, void (*fn)(int64_t i, void *arg), void *arg) {
    if (n <= 0) return;
    pf_job *j = p && n > 1 ? ssd_malloc(sizeof *j) : NULL;
    if (!j) {
        for (int64_t i = 0; i < n; i++) fn(i, arg);
        return;
    }
    j->p = p;
    j->fn = fn;
    j->arg = arg;
    j->n = n;
    /* ~8 chunks per thread balances uneven items without an atomic per index. */
    int64_t parts = (int64_t)(p->n + 1) * 8;
    j->chunk = n / parts > 0 ? n / parts : 1;
    atomic_init(&j->next, 0);
    atomic_init(&j->done, 0);
    atomic_init(&j->refs, 1);
    int helpers = p->n < n - 1 ? p->n : (int)(n - 1);
    for (int h = 0; h < helpers; h++) {
        atomic_fetch_add(&j->refs, 1);
        if (ssd_threadpool_submit(p, pf_helper, j) != SSD_OK) {
            atomic_fetch_sub(&j->refs, 1);
            break;
        }
    }
    pf_run(j);
    pthread_mutex_lock(&p->mu);
    while (atomic_load(&j->done) < n) pthread_cond_wait(&p->pf, &p->mu);
    pthread_mutex_unlock(&p->mu);
    pf_release(j);
}
