#include "core/mem.h"

#include "core/status.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static atomic_long alloc_count;
static atomic_long fail_at;

void ssd_alloc_fail_at(long k) {
    atomic_store(&alloc_count, 0);
    atomic_store(&fail_at, k);
}

long ssd_alloc_count(void) {
    return atomic_load(&alloc_count);
}

static int injected_failure(void) {
    long n = atomic_fetch_add(&alloc_count, 1) + 1;
    long k = atomic_load(&fail_at);
    return k > 0 && n == k;
}

static void *nomem(size_t n) {
    ssd_error_set(SSD_E_NOMEM, "out of memory allocating %zu bytes", n);
    return NULL;
}

void *ssd_malloc(size_t n) {
    if (injected_failure()) return nomem(n);
    void *p = malloc(n ? n : 1);
    return p ? p : nomem(n);
}

void *ssd_calloc(size_t count, size_t size) {
    size_t total = size && count > SIZE_MAX / size ? SIZE_MAX : count * size;
    if (injected_failure()) return nomem(total);
    void *p = calloc(count ? count : 1, size ? size : 1);
    return p ? p : nomem(total);
}

void *ssd_realloc(void *p, size_t n) {
    if (injected_failure()) return nomem(n);
    void *q = realloc(p, n ? n : 1);
    return q ? q : nomem(n);
}

void *ssd_aligned_alloc(size_t n) {
    if (injected_failure()) return nomem(n);
    if (n > SIZE_MAX - 63) return nomem(n); /* rounding up would wrap to a tiny block */
    size_t rounded = (n + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, rounded ? rounded : 64);
    if (!p) return nomem(n);
    memset(p, 0, rounded ? rounded : 64);
    return p;
}

char *ssd_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = ssd_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

void ssd_free(void *p) {
    free(p);
}
