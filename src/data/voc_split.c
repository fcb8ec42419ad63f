/* `ssd convert split`: the missing VOC split files, from JPEGImages/. */
#include "data/convert.h"

#include "core/log.h"
#include "core/mem.h"
#include "data/data_io.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const files[4] = {"train.txt", "val.txt", "trainval.txt", "test.txt"};

/* The same extensions as the VOC reader. */
static const char *const exts[] = {".jpg", ".JPG", ".jpeg", ".JPEG", ".png",  ".PNG",
                                   ".bmp", ".BMP", ".tif",  ".TIF",  ".tiff", ".TIFF"};

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static uint64_t mix64(uint64_t z) { /* splitmix64's finaliser */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

typedef struct {
    uint64_t key;
    const char *id;
} keyed;

static int cmp_keyed(const void *a, const void *b) {
    const keyed *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return strcmp(x->id, y->id);
}

static bool is_file(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static bool listed(const ssd_strlist *sorted, const char *id) {
    int64_t lo = 0, hi = sorted->n;
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        int c = strcmp(sorted->v[mid], id);
        if (!c) return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static ssd_status write_ids(const char *path, const ssd_strlist *ids) {
    size_t cap = 1, n = 0;
    for (int64_t i = 0; i < ids->n; i++) cap += strlen(ids->v[i]) + 1;
    char *buf = ssd_malloc(cap);
    if (!buf) return SSD_E_NOMEM;
    for (int64_t i = 0; i < ids->n; i++) {
        size_t k = strlen(ids->v[i]);
        memcpy(buf + n, ids->v[i], k);
        buf[n + k] = '\n';
        n += k + 1;
    }
    ssd_status st = ssd_file_write_atomic(path, buf, n);
    ssd_free(buf);
    return st;
}

/* Image ids in JPEGImages that have an annotation, sorted and unique. */
static ssd_status collect_ids(const char *root, ssd_strlist *ids, ssd_voc_split_result *r) {
    ssd_strlist names = {0};
    char *dir = ssd_dio_strfmt("%s/JPEGImages", root);
    if (!dir) return SSD_E_NOMEM;
    ssd_status st = ssd_dio_list_files(dir, &names);
    for (int64_t i = 0; i < names.n && st == SSD_OK; i++) {
        char *name = names.v[i];
        char *dot = strrchr(name, '.');
        bool image = false;
        for (size_t k = 0; dot && k < sizeof exts / sizeof exts[0]; k++)
            image |= !strcmp(dot, exts[k]);
        if (!image) continue;
        *dot = 0;
        if (ids->n && !strcmp(ids->v[ids->n - 1], name)) continue; /* x.jpg and x.png */
        char *xml = ssd_dio_strfmt("%s/Annotations/%s.xml", root, name);
        if (!xml) {
            st = SSD_E_NOMEM;
            break;
        }
        if (is_file(xml)) {
            st = ssd_strlist_push(ids, name);
        } else if (++r->no_xml <= 5) {
            ssd_warn("%s: missing; image '%s' left out of the splits", xml, name);
        }
        ssd_free(xml);
    }
    ssd_strlist_free(&names);
    ssd_free(dir);
    /* File names were sorted with their extensions, which can order the bare ids
     * differently ("a-b.jpg" < "a.jpg" but "a" < "a-b"): sort again, then drop repeats. */
    ssd_strlist_sort(ids);
    int64_t k = 0;
    for (int64_t i = 0; i < ids->n; i++) {
        if (k && !strcmp(ids->v[k - 1], ids->v[i])) {
            ssd_free(ids->v[i]);
            continue;
        }
        ids->v[k++] = ids->v[i];
    }
    ids->n = k;
    return st;
}

ssd_status ssd_voc_split(const char *root, const ssd_voc_split_opts *o, ssd_voc_split_result *r) {
    ssd_strlist ids = {0}, taken = {0}, out[4] = {{0}};
    char *paths[4] = {0};
    keyed *order = NULL;
    bool exists[4];
    ssd_status st = SSD_OK;
    memset(r, 0, sizeof *r);
    double sum = o->train + o->val + o->test;
    if (o->train < 0 || o->val < 0 || o->test < 0 || fabs(sum - 1) > 1e-6)
        return ssd_error_set(SSD_E_INVAL,
                             "split fractions %g + %g + %g must be non-negative and sum to 1",
                             o->train, o->val, o->test);
    for (int f = 0; f < 4; f++) {
        paths[f] = ssd_dio_strfmt("%s/ImageSets/Main/%s", root, files[f]);
        if (!paths[f]) goto nomem;
        exists[f] = !o->force && is_file(paths[f]);
        r->count[f] = exists[f] ? -1 : 0;
    }
    if (exists[0] && exists[1] && exists[2] && exists[3]) goto done;
    SSD_CHECK_GOTO(st, collect_ids(root, &ids, r), done);
    r->images = ids.n;
    if (ids.n == 0) {
        st = ssd_error_set(SSD_E_FORMAT, "%s/JPEGImages: no images with annotations", root);
        goto done;
    }
    /* Ids an existing file already uses stay where they are and are not handed out again. */
    for (int f = 0; f < 4; f++)
        if (exists[f]) SSD_CHECK_GOTO(st, ssd_dio_read_lines(paths[f], &taken), done);
    ssd_strlist_sort(&taken);

    order = ssd_malloc(sizeof *order * (size_t)ids.n);
    if (!order) goto nomem;
    for (int64_t i = 0; i < ids.n; i++)
        order[i] = (keyed){mix64(fnv1a(ids.v[i]) ^ mix64(o->seed)), ids.v[i]};
    qsort(order, (size_t)ids.n, sizeof *order, cmp_keyed);
    int64_t n = ids.n;
    int64_t n_train = (int64_t)floor(n * o->train + 0.5), n_val = (int64_t)floor(n * o->val + 0.5);
    if (n_train > n) n_train = n;
    if (n_val > n - n_train) n_val = n - n_train;
    if (o->test == 0) n_train = n - n_val; /* rounding leftovers must not become a test set */
    for (int64_t i = 0; i < n; i++) {
        int which = i < n_train ? 0 : i < n_train + n_val ? 1 : 3;
        if (exists[which] || listed(&taken, order[i].id)) continue;
        SSD_CHECK_GOTO(st, ssd_strlist_push(&out[which], order[i].id), done);
    }
    /* trainval = train + val, from the files as they will be on disk. */
    if (!exists[2])
        for (int f = 0; f < 2; f++) {
            if (exists[f])
                SSD_CHECK_GOTO(st, ssd_dio_read_lines(paths[f], &out[2]), done);
            else
                for (int64_t i = 0; i < out[f].n; i++)
                    SSD_CHECK_GOTO(st, ssd_strlist_push(&out[2], out[f].v[i]), done);
        }
    char *dir = ssd_dio_strfmt("%s/ImageSets/Main", root);
    if (!dir) goto nomem;
    st = ssd_mkdir_p(dir);
    ssd_free(dir);
    if (st != SSD_OK) goto done;
    for (int f = 0; f < 4; f++) {
        if (exists[f]) continue;
        if (f != 2) ssd_strlist_sort(&out[f]);
        SSD_CHECK_GOTO(st, write_ids(paths[f], &out[f]), done);
        r->count[f] = out[f].n;
    }
    goto done;
nomem:
    st = SSD_E_NOMEM;
done:
    for (int f = 0; f < 4; f++) {
        ssd_free(paths[f]);
        ssd_strlist_free(&out[f]);
    }
    ssd_free(order);
    ssd_strlist_free(&ids);
    ssd_strlist_free(&taken);
    return st;
}
