/* Internal to the box layer: partial selection of the best m of n indices by a float key,
 * in place and without allocation (NMS and hard negative mining run on caller buffers). */
#ifndef SSD_BOX_TOPK_H
#define SSD_BOX_TOPK_H

/* idx[0..n) holds indices into key. Afterwards idx[0..m) are the m indices with the largest
 * keys, in descending order; equal keys keep increasing index (as a stable descending sort),
 * NaN ranks above every number (as torch's descending sort puts it first). m is clamped to
 * [0, n]. Returns m. O(n log m). */
int ssd_box_topk(int *idx, int n, int m, const float *key);

#endif
