/* A persistent pool of worker threads with a task queue. Used by the data
 * loader and host-side parallel loops; compute kernels use oneDNN's own
 * threading. */
#ifndef SSD_CORE_THREADPOOL_H
#define SSD_CORE_THREADPOOL_H

#include "core/status.h"

#include <stdint.h>

typedef struct ssd_threadpool ssd_threadpool;

typedef void (*ssd_task_fn)(void *arg);

/* n workers (n >= 1). */
ssd_status ssd_threadpool_create(ssd_threadpool **out, int n);
/* Joins the workers after the queue drains (NULL-safe). */
void ssd_threadpool_destroy(ssd_threadpool *p);
ssd_status ssd_threadpool_submit(ssd_threadpool *p, ssd_task_fn fn, void *arg);
/* Waits until every submitted task has finished. Not from inside a task:
 * it would wait for itself. */
void ssd_threadpool_wait(ssd_threadpool *p);
int ssd_threadpool_size(const ssd_threadpool *p);

/* Runs fn(i, arg) for i in [0, n) on the pool (or inline when p is NULL) and waits.
 * The caller takes part, so it may be called from inside a pool task, and it
 * completes (serially) when allocation or submit fails. */
void ssd_parallel_for(ssd_threadpool *p, int64_t n, void (*fn)(int64_t i, void *arg), void *arg);

#endif
