/* Checked allocation. Every heap allocation in src/ goes through these so
 * that fault-injection tests can fail the k-th one (see ssd_alloc_fail_at). */
#ifndef SSD_CORE_MEM_H
#define SSD_CORE_MEM_H

#include <stddef.h>

/* Return NULL on failure (or injected failure) and set SSD_E_NOMEM's message. */
void *ssd_malloc(size_t n);
void *ssd_calloc(size_t count, size_t size);
void *ssd_realloc(void *p, size_t n);
/* 64-byte aligned, zero-filled; free with ssd_free. */
void *ssd_aligned_alloc(size_t n);
char *ssd_strdup(const char *s);
void ssd_free(void *p);

#endif
