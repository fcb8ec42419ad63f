/* Philox4x32-10 against Random123's known answers, then the properties the
 * loader relies on: same (seed, stream) gives the same numbers, distributions
 * are right, integers carry no modulo bias. Every seed is fixed, so the
 * statistical checks are deterministic: each bound is far out in the tail
 * (noted per check) and exists to catch gross bugs, not to test quality. */
#include "core/rng.h"
#include "test.h"

#include <math.h>
#include <string.h>

static uint64_t pack(uint32_t lo, uint32_t hi) {
    return (uint64_t)hi << 32 | lo;
}

static void test_kat(void) {
    /* Random123 tests/kat_vectors, the three "philox4x32 10" lines
     * (github.com/DEShawResearch/random123, also quoted verbatim by several
     * independent ports found via code search). Columns: CTR[4] KEY[2] EXPECTED[4]. */
    static const uint32_t kat[3][10] = {
        {0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x6627e8d5,
         0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d,
         0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09,
         0x94fdcceb, 0x5001e420, 0x24126ea1},
    };
    for (int t = 0; t < 3; t++) {
        const uint32_t *v = kat[t];
        uint32_t out[4];
        ssd_philox4x32(pack(v[4], v[5]), pack(v[2], v[3]), pack(v[0], v[1]), out);
        for (int i = 0; i < 4; i++) {
            if (out[i] != v[6 + i])
                fprintf(stderr, "kat %d word %d: got %08x want %08x\n", t, i, out[i], v[6 + i]);
            CHECK(out[i] == v[6 + i]);
        }
    }
    /* The stream layout: (seed 0, stream 0) starts with block (key 0, ctr 0), KAT line 1. */
    ssd_rng r;
    ssd_rng_init(&r, 0, 0);
    CHECK(ssd_rng_u32(&r) == 0x6627e8d5);
    CHECK(ssd_rng_u32(&r) == 0xe169c58d);
    CHECK(ssd_rng_u32(&r) == 0xbc57ac4c);
    CHECK(ssd_rng_u32(&r) == 0x9b00dbd8);
    /* ...and the 5th word is the first of counter 1. */
    uint32_t b1[4];
    ssd_philox4x32(0, 0, 1, b1);
    CHECK(ssd_rng_u32(&r) == b1[0]);
}

static void test_determinism(void) {
    ssd_rng a, b, c, d;
    ssd_rng_init(&a, 1234, ssd_rng_stream(3, 77));
    ssd_rng_init(&b, 1234, ssd_rng_stream(3, 77));
    ssd_rng_init(&c, 1234, ssd_rng_stream(3, 78));
    ssd_rng_init(&d, 1235, ssd_rng_stream(3, 77));
    int same_ab = 0, same_ac = 0, same_ad = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = ssd_rng_u64(&a);
        same_ab += x == ssd_rng_u64(&b);
        same_ac += x == ssd_rng_u64(&c);
        same_ad += x == ssd_rng_u64(&d);
    }
    CHECK(same_ab == 1000);
    CHECK(same_ac == 0);
    CHECK(same_ad == 0);

    /* A copy taken mid-block continues identically (state is plain data). */
    ssd_rng_u32(&a);
    ssd_rng e = a;
    int same = 0;
    for (int i = 0; i < 37; i++) same += ssd_rng_u32(&a) == ssd_rng_u32(&e);
    CHECK(same == 37);

    /* Stream ids: no collisions on a grid, and order matters. */
    enum { G = 64 };
    static uint64_t ids[G * G];
    for (int i = 0; i < G; i++)
        for (int j = 0; j < G; j++) ids[i * G + j] = ssd_rng_stream((uint64_t)i, (uint64_t)j);
    int coll = 0;
    for (int i = 0; i < G * G; i++)
        for (int j = i + 1; j < G * G; j++) coll += ids[i] == ids[j];
    CHECK(coll == 0);
    CHECK(ssd_rng_stream(1, 2) != ssd_rng_stream(2, 1));
}

static void test_uniform(void) {
    /* Chi-square over 100 bins, 200k draws: 99 degrees of freedom, mean 99,
     * sd 14; 200 is p < 1e-8. A broken mapping (e.g. only 32 bits, or a
     * constant) lands in the thousands. */
    enum { BINS = 100, N = 200000 };
    static long count[BINS];
    memset(count, 0, sizeof count);
    ssd_rng r;
    ssd_rng_init(&r, 42, 0);
    double lo = 1, hi = 0, sum = 0;
    for (int i = 0; i < N; i++) {
        double u = ssd_rng_uniform(&r);
        if (u < lo) lo = u;
        if (u > hi) hi = u;
        sum += u;
        count[(int)(u * BINS)]++;
    }
    double chi2 = 0, e = (double)N / BINS;
    for (int b = 0; b < BINS; b++) chi2 += (count[b] - e) * (count[b] - e) / e;
    printf("uniform: chi2 %.1f (99 dof), min %.2e max %.9f mean %.5f\n", chi2, lo, hi, sum / N);
    CHECK(chi2 < 200);
    CHECK(lo >= 0 && hi < 1);
    CHECK(fabs(sum / N - 0.5) < 0.005); /* sd of the mean is 0.00065 */

    /* ssd_rng_range stays inside [lo, hi), including at the edges of a tiny interval. */
    int inside = 0;
    for (int i = 0; i < 10000; i++) {
        double x = ssd_rng_range(&r, 1.0, nextafter(1.0, 2.0));
        double y = ssd_rng_range(&r, -3.0, 5.0);
        inside += x == 1.0 && y >= -3.0 && y < 5.0;
    }
    CHECK(inside == 10000);

    /* Chi-square for ints in [-3, 4): 6 dof, 40 is p < 1e-6. */
    long ic[7] = {0};
    int out = 0;
    for (int i = 0; i < 70000; i++) {
        int64_t v = ssd_rng_int(&r, -3, 4);
        if (v < -3 || v >= 4)
            out++;
        else
            ic[v + 3]++;
    }
    double ci = 0;
    for (int b = 0; b < 7; b++) ci += (ic[b] - 10000.0) * (ic[b] - 10000.0) / 10000.0;
    printf("int[-3,4): chi2 %.1f (6 dof)\n", ci);
    CHECK(out == 0);
    CHECK(ci < 40);
}

static void test_int_bias(void) {
    ssd_rng r;
    ssd_rng_init(&r, 7, 1);
    /* range = 3 * 2^62. `u64 % range` would put half the draws in the first
     * third ([lo, lo + 2^62)); unbiased is one third. With 30000 draws the sd
     * of the fraction is 0.0027, so 0.02 is > 7 sd either way. */
    const int64_t lo = INT64_MIN, hi = INT64_C(1) << 62; /* hi - lo = 3 * 2^62 */
    const int64_t third = -(INT64_C(1) << 62);           /* lo + 2^62 */
    int below = 0, out = 0;
    for (int i = 0; i < 30000; i++) {
        int64_t v = ssd_rng_int(&r, lo, hi);
        out += v < lo || v >= hi;
        below += v < third;
    }
    double frac = below / 30000.0;
    printf("int bias: fraction in first third %.4f (want 0.3333)\n", frac);
    CHECK(out == 0);
    CHECK(fabs(frac - 1.0 / 3.0) < 0.02);

    /* The widest range and the degenerate ones. */
    int ok = 1;
    for (int i = 0; i < 1000; i++) {
        int64_t v = ssd_rng_int(&r, INT64_MIN, INT64_MAX);
        ok &= v < INT64_MAX;
        ok &= ssd_rng_int(&r, 5, 6) == 5;
    }
    CHECK(ok);
    CHECK(ssd_rng_int(&r, 9, 9) == 9);
    CHECK(ssd_rng_int(&r, 9, 3) == 9);
}

static void test_normal(void) {
    ssd_rng r;
    ssd_rng_init(&r, 99, 5);
    enum { N = 200000 };
    double s = 0, s2 = 0;
    long within1 = 0;
    int finite = 1;
    for (int i = 0; i < N; i++) {
        double x = ssd_rng_normal(&r);
        finite &= isfinite(x);
        s += x;
        s2 += x * x;
        within1 += fabs(x) < 1;
    }
    double mean = s / N, var = s2 / N - mean * mean, p1 = (double)within1 / N;
    printf("normal: mean %.4f var %.4f P(|x|<1) %.4f\n", mean, var, p1);
    /* sd of the mean 0.0022, of the variance 0.0032, of P 0.001: bounds are > 8 sd. */
    CHECK(finite);
    CHECK(fabs(mean) < 0.02);
    CHECK(fabs(var - 1) < 0.03);
    CHECK(fabs(p1 - 0.682689) < 0.01);
}

static void test_shuffle(void) {
    enum { N = 1000 };
    static int64_t a[N], b[N];
    for (int i = 0; i < N; i++) a[i] = b[i] = i;
    ssd_rng r1, r2;
    ssd_rng_init(&r1, 5, ssd_rng_stream(0, 0));
    ssd_rng_init(&r2, 5, ssd_rng_stream(0, 0));
    ssd_rng_shuffle(&r1, a, N);
    ssd_rng_shuffle(&r2, b, N);
    CHECK(memcmp(a, b, sizeof a) == 0);
    static char seen[N];
    memset(seen, 0, sizeof seen);
    int perm = 1, fixed = 0;
    for (int i = 0; i < N; i++) {
        if (a[i] < 0 || a[i] >= N || seen[a[i]])
            perm = 0;
        else
            seen[a[i]] = 1;
        fixed += a[i] == i;
    }
    CHECK(perm);
    CHECK(fixed < 10); /* expected 1 fixed point; 10 has p < 1e-7 */

    /* All 24 orders of 4 items equally likely: chi-square, 23 dof, 80 is p < 1e-7. */
    long cnt[256] = {0};
    ssd_rng r;
    ssd_rng_init(&r, 11, 0);
    for (int t = 0; t < 24000; t++) {
        int64_t v[4] = {0, 1, 2, 3};
        ssd_rng_shuffle(&r, v, 4);
        cnt[v[0] * 64 + v[1] * 16 + v[2] * 4 + v[3]]++;
    }
    double chi2 = 0;
    int orders = 0;
    for (int i = 0; i < 256; i++)
        if (cnt[i]) {
            orders++;
            chi2 += (cnt[i] - 1000.0) * (cnt[i] - 1000.0) / 1000.0;
        }
    printf("shuffle: %d orders, chi2 %.1f (23 dof)\n", orders, chi2);
    CHECK(orders == 24);
    CHECK(chi2 < 80);

    int64_t one = 7;
    ssd_rng_shuffle(&r, &one, 1);
    ssd_rng_shuffle(&r, NULL, 0);
    CHECK(one == 7);
}

int main(void) {
    test_kat();
    test_determinism();
    test_uniform();
    test_int_bias();
    test_normal();
    test_shuffle();
    return test_finish();
}
