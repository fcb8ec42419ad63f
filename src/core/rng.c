#include "core/rng.h"

#include <math.h>

/* Philox4x32-10 as published by Salmon et al., "Parallel random numbers: as
 * easy as 1, 2, 3" (SC'11), with the multipliers and Weyl key increments of
 * Random123. Word order follows Random123: ctr = {c0, c1, c2, c3} with
 * c0|c1 = ctr_lo (low word first) and c2|c3 = ctr_hi; key = {k0, k1} with
 * k0 = low 32 bits of `key`. tests/unit/test_core_rng.c checks it against
 * Random123's known-answer vectors. */
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u /* golden ratio */
#define PHILOX_W1 0xBB67AE85u /* sqrt(3) - 1 */

void ssd_philox4x32(uint64_t key, uint64_t ctr_hi, uint64_t ctr_lo, uint32_t out[4]) {
    uint32_t c0 = (uint32_t)ctr_lo, c1 = (uint32_t)(ctr_lo >> 32);
    uint32_t c2 = (uint32_t)ctr_hi, c3 = (uint32_t)(ctr_hi >> 32);
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int round = 0; round < 10; round++) {
        if (round > 0) {
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* splitmix64's finaliser: a bijection on 64 bits with full avalanche. */
static uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 31;
    return x;
}

/* Mixed rather than packed (a << 32 | b) so that neither id is limited to 32
 * bits; distinct pairs collide with probability ~2^-64. */
uint64_t ssd_rng_stream(uint64_t a, uint64_t b) {
    return mix64(mix64(a + 0x9E3779B97F4A7C15ull) ^ b);
}

void ssd_rng_init(ssd_rng *r, uint64_t seed, uint64_t stream) {
    r->key = seed;
    r->stream = stream;
    r->ctr = 0;
    r->left = 0;
}

uint32_t ssd_rng_u32(ssd_rng *r) {
    if (r->left == 0) {
        ssd_philox4x32(r->key, r->stream, r->ctr++, r->buf);
        r->left = 4;
    }
    return r->buf[4 - r->left--];
}

uint64_t ssd_rng_u64(ssd_rng *r) {
    uint64_t lo = ssd_rng_u32(r);
    uint64_t hi = ssd_rng_u32(r);
    return hi << 32 | lo;
}

double ssd_rng_uniform(ssd_rng *r) {
    return (double)(ssd_rng_u64(r) >> 11) * 0x1.0p-53;
}

double ssd_rng_range(ssd_rng *r, double lo, double hi) {
    double x = lo + (hi - lo) * ssd_rng_uniform(r);
    /* Rounding can land exactly on hi for some (lo, hi); keep the interval half-open. */
    return x < hi ? x : lo;
}

/* Lemire, "Fast random integer generation in an interval" (2019): multiply
 * into 128 bits and reject the few low products that would bias the result. */
int64_t ssd_rng_int(ssd_rng *r, int64_t lo, int64_t hi) {
    if (hi <= lo) return lo;
    uint64_t range = (uint64_t)hi - (uint64_t)lo;
    unsigned __int128 m = (unsigned __int128)ssd_rng_u64(r) * range;
    uint64_t low = (uint64_t)m;
    if (low < range) {
        uint64_t threshold = -range % range; /* 2^64 mod range */
        while (low < threshold) {
            m = (unsigned __int128)ssd_rng_u64(r) * range;
            low = (uint64_t)m;
        }
    }
    return (int64_t)((uint64_t)lo + (uint64_t)(m >> 64));
}

double ssd_rng_normal(ssd_rng *r) {
    /* u1 in (0, 1] so that log never sees 0. The sine partner is dropped so
     * that ssd_rng stays a counter plus one block, copyable at any point. */
    double u1 = (double)((ssd_rng_u64(r) >> 11) + 1) * 0x1.0p-53;
    double u2 = ssd_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

void ssd_rng_shuffle(ssd_rng *r, int64_t *idx, int64_t n) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = ssd_rng_int(r, 0, i + 1);
        int64_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}
