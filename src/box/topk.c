#include "box/topk.h"

#include <math.h>
#include <stdbool.h>

/* Strict total order "a ranks before b"; NaN first, then larger keys, then smaller index. */
static bool before(const float *key, int a, int b) {
    float ka = key[a], kb = key[b];
    bool na = isnan(ka), nb = isnan(kb);
    if (na != nb) return na;
    if (!na && ka != kb) return ka > kb;
    return a < b;
}

/* Heap whose root is the element that ranks last: the one to evict first. */
static void sift_down(int *h, int n, int i, const float *key) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && before(key, h[w], h[l])) w = l;
        if (r < n && before(key, h[w], h[r])) w = r;
        if (w == i) return;
        int t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

int ssd_box_topk(int *idx, int n, int m, const float *key) {
    if (m > n) m = n;
    if (m <= 0) return 0;
    for (int i = m / 2 - 1; i >= 0; i--) sift_down(idx, m, i, key);
    for (int j = m; j < n; j++) {
        if (before(key, idx[j], idx[0])) {
            idx[0] = idx[j];
            sift_down(idx, m, 0, key);
        }
    }
    /* Heap sort: repeatedly move the last-ranked root to the end. */
    for (int e = m - 1; e > 0; e--) {
        int t = idx[0];
        idx[0] = idx[e];
        idx[e] = t;
        sift_down(idx, e, 0, key);
    }
    return m;
}
