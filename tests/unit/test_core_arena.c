/* Arena: alignment, non-overlap, growth, reuse across resets with no system
 * allocation in steady state, and every allocation failure handled. */
#include "core/arena.h"
#include "core/mem.h"
#include "test.h"

#include <stdint.h>
#include <string.h>

static const size_t sizes[] = {1, 3, 64, 65, 100, 1000, 4095, 4096, 7, 20000, 0, 33};
#define NSIZES (sizeof sizes / sizeof sizes[0])

/* One "training step": allocations of mixed sizes, each filled with its own
 * byte and checked afterwards, so an overlap shows up as a wrong byte. */
static int step(ssd_arena *a, int tag) {
    uint8_t *p[NSIZES];
    for (size_t i = 0; i < NSIZES; i++) {
        p[i] = ssd_arena_alloc(a, sizes[i]);
        if (!p[i]) return 0;
        if ((uintptr_t)p[i] % 64 != 0) return 0;
        memset(p[i], (int)(i + (size_t)tag), sizes[i]);
    }
    for (size_t i = 0; i < NSIZES; i++)
        for (size_t j = 0; j < sizes[i]; j++)
            if (p[i][j] != (uint8_t)(i + (size_t)tag)) return 0;
    return 1;
}

static void test_alloc_and_reuse(void) {
    ssd_arena a;
    ssd_arena_init(&a, 4096); /* small blocks so that a step needs several */
    CHECK(step(&a, 1));
    size_t one_step = a.used_total;
    CHECK(one_step >= 20000 + 4096 + 1000);
    CHECK(a.peak == one_step);
    ssd_arena_reset(&a);
    CHECK(a.used_total == 0);

    /* After the first reset merged the blocks, steps allocate nothing. */
    CHECK(step(&a, 2));
    ssd_arena_reset(&a);
    long before = ssd_alloc_count();
    int ok = 1;
    for (int s = 0; s < 100; s++) {
        ok &= step(&a, s);
        ssd_arena_reset(&a);
    }
    CHECK(ok);
    CHECK(ssd_alloc_count() == before);
    CHECK(a.peak == one_step);

    /* A step twice as large grows once, then is steady again. */
    CHECK(step(&a, 3) && step(&a, 4));
    ssd_arena_reset(&a);
    before = ssd_alloc_count();
    for (int s = 0; s < 10; s++) {
        ok &= step(&a, 5) && step(&a, 6);
        ssd_arena_reset(&a);
    }
    CHECK(ok);
    CHECK(ssd_alloc_count() == before);
    CHECK(a.peak == 2 * one_step);

    /* Larger than any block: served whole. */
    uint8_t *big = ssd_arena_alloc(&a, (size_t)3 << 20);
    CHECK(big && (uintptr_t)big % 64 == 0);
    if (big) memset(big, 1, (size_t)3 << 20);
    /* Absurd sizes fail cleanly. */
    CHECK(ssd_arena_alloc(&a, SIZE_MAX) == NULL);
    CHECK(strstr(ssd_error_message(), "arena") != NULL);
    CHECK(ssd_arena_alloc(&a, SIZE_MAX - 10) == NULL);
    ssd_arena_deinit(&a);
    ssd_arena_deinit(&a); /* twice is fine */
    ssd_arena_deinit(NULL);

    /* Default block size. */
    ssd_arena_init(&a, 0);
    CHECK(ssd_arena_alloc(&a, 10) != NULL);
    ssd_arena_deinit(&a);
}

/* Fail the k-th system allocation for every k the scenario makes: each
 * failure is a NULL with an out-of-memory message, the arena stays usable,
 * and deinit frees everything (ASan/valgrind check the leaks). */
static void test_fault_injection(void) {
    int nulls = 0;
    long k;
    for (k = 1; k < 1000; k++) {
        ssd_arena a;
        ssd_arena_init(&a, 1024);
        ssd_alloc_fail_at(k);
        int failed_ok = 1, got_null = 0;
        for (int s = 0; s < 3; s++) {
            for (size_t i = 0; i < NSIZES; i++) {
                void *p = ssd_arena_alloc(&a, sizes[i] * (size_t)(s + 1));
                if (!p) {
                    got_null = 1;
                    failed_ok &= strstr(ssd_error_message(), "out of memory") != NULL;
                } else
                    memset(p, 0xab, sizes[i] * (size_t)(s + 1));
            }
            ssd_arena_reset(&a);
        }
        long made = ssd_alloc_count();
        ssd_alloc_fail_at(0);
        /* Still usable after the failure. */
        void *p = ssd_arena_alloc(&a, 5000);
        CHECK(p != NULL);
        ssd_arena_deinit(&a);
        CHECK(failed_ok);
        nulls += got_null;
        if (made < k) break; /* the k-th allocation never happened: all covered */
    }
    printf("arena fault injection: %ld allocation points, %d gave NULL\n", k - 1, nulls);
    CHECK(k > 3 && k < 1000);
    CHECK(nulls >= 1);
}

int main(void) {
    test_alloc_and_reuse();
    test_fault_injection();
    return test_finish();
}
