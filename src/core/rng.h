/* Counter-based random numbers (Philox4x32-10). A stream is keyed by
 * (seed, stream id) and indexed by a counter, so the numbers a sample gets
 * depend only on (seed, epoch, sample index), never on which worker thread
 * draws them or in what order. */
#ifndef SSD_CORE_RNG_H
#define SSD_CORE_RNG_H

#include <stdint.h>

/* One Philox4x32-10 block: 4 x 32 random bits for (key, counter). */
void ssd_philox4x32(uint64_t key, uint64_t ctr_hi, uint64_t ctr_lo, uint32_t out[4]);

typedef struct {
    uint64_t key;    /* the seed */
    uint64_t stream; /* e.g. ssd_rng_stream(epoch, index) */
    uint64_t ctr;    /* next block */
    uint32_t buf[4];
    int left; /* unread words in buf */
} ssd_rng;

/* Combines two ids (epoch, sample index; or a purpose tag) into a stream id. */
uint64_t ssd_rng_stream(uint64_t a, uint64_t b);

void ssd_rng_init(ssd_rng *r, uint64_t seed, uint64_t stream);
uint32_t ssd_rng_u32(ssd_rng *r);
uint64_t ssd_rng_u64(ssd_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double ssd_rng_uniform(ssd_rng *r);
/* Uniform in [lo, hi). */
double ssd_rng_range(ssd_rng *r, double lo, double hi);
/* Uniform integer in [lo, hi) (hi > lo), without modulo bias. */
int64_t ssd_rng_int(ssd_rng *r, int64_t lo, int64_t hi);
/* Standard normal (Box-Muller). */
double ssd_rng_normal(ssd_rng *r);
/* Fisher-Yates shuffle of n int64 indices. */
void ssd_rng_shuffle(ssd_rng *r, int64_t *idx, int64_t n);

#endif
