#include "core/arena.h"

#include "core/mem.h"

#include <stdint.h>

#define ARENA_ALIGN         64
#define ARENA_DEFAULT_BLOCK ((size_t)1 << 20)

struct ssd_arena_block {
    ssd_arena_block *next;
    size_t size; /* usable bytes from data */
    size_t used;
    uint8_t *data; /* 64-aligned, inside the same allocation */
};

void ssd_arena_init(ssd_arena *a, size_t min_block) {
    a->head = NULL;
    a->used_total = 0;
    a->peak = 0;
    a->min_block = min_block ? min_block : ARENA_DEFAULT_BLOCK;
}

/* Plain ssd_malloc plus manual alignment: ssd_aligned_alloc would zero-fill
 * (touch) every page of a block that may never be used in full. */
static ssd_arena_block *block_new(size_t size) {
    size_t overhead = sizeof(ssd_arena_block) + ARENA_ALIGN - 1;
    if (size > SIZE_MAX - overhead) {
        ssd_error_set(SSD_E_NOMEM, "arena: block of %zu bytes is too large", size);
        return NULL;
    }
    ssd_arena_block *b = ssd_malloc(size + overhead);
    if (!b) return NULL;
    uintptr_t start = (uintptr_t)(b + 1);
    b->data = (uint8_t *)((start + ARENA_ALIGN - 1) & ~(uintptr_t)(ARENA_ALIGN - 1));
    b->size = size;
    b->used = 0;
    b->next = NULL;
    return b;
}

void *ssd_arena_alloc(ssd_arena *a, size_t n) {
    if (n > SIZE_MAX / 2) {
        ssd_error_set(SSD_E_NOMEM, "arena: request of %zu bytes is too large", n);
        return NULL;
    }
    /* Rounding every size keeps every pointer 64-aligned without per-call padding. */
    size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (need == 0) need = ARENA_ALIGN;
    ssd_arena_block *b = a->head;
    if (!b || b->size - b->used < need) {
        size_t size = a->min_block;
        if (b && b->size <= SIZE_MAX / 4 && 2 * b->size > size) size = 2 * b->size;
        if (need > size) size = need;
        b = block_new(size);
        if (!b) return NULL;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += need;
    a->used_total += need;
    if (a->used_total > a->peak) a->peak = a->used_total;
    return p;
}

void ssd_arena_reset(ssd_arena *a) {
    a->used_total = 0;
    if (a->head && a->head->next) {
        /* One block as large as all of them together holds the next step without growth. */
        size_t total = 0;
        for (ssd_arena_block *b = a->head; b; b = b->next)
            total = total > SIZE_MAX - b->size ? SIZE_MAX : total + b->size;
        ssd_arena_block *merged = block_new(total);
        if (merged) {
            ssd_arena_block *b = a->head;
            while (b) {
                ssd_arena_block *next = b->next;
                ssd_free(b);
                b = next;
            }
            a->head = merged;
        }
        /* If that allocation failed the old blocks stay and remain usable. */
    }
    for (ssd_arena_block *b = a->head; b; b = b->next) b->used = 0;
}

void ssd_arena_deinit(ssd_arena *a) {
    if (!a) return;
    ssd_arena_block *b = a->head;
    while (b) {
        ssd_arena_block *next = b->next;
        ssd_free(b);
        b = next;
    }
    a->head = NULL;
    a->used_total = 0;
}
