/* Bump allocator for per-step scratch: allocate freely during a step, reset
 * once at its end. Blocks grow geometrically and are kept across resets, so a
 * steady-state step allocates nothing from the system. */
#ifndef SSD_CORE_ARENA_H
#define SSD_CORE_ARENA_H

#include "core/status.h"

#include <stddef.h>

typedef struct ssd_arena_block ssd_arena_block;

typedef struct {
    ssd_arena_block *head;
    size_t used_total; /* bytes handed out since the last reset */
    size_t peak;       /* largest used_total seen */
    size_t min_block;
} ssd_arena;

void ssd_arena_init(ssd_arena *a, size_t min_block);
/* 64-byte aligned; NULL (with SSD_E_NOMEM message) on failure. */
void *ssd_arena_alloc(ssd_arena *a, size_t n);
/* Marks everything free; keeps the blocks (merged into one if there were several). */
void ssd_arena_reset(ssd_arena *a);
void ssd_arena_deinit(ssd_arena *a);

#endif
