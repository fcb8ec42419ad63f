/* Reading torch.save output: the zip format (torch >= 1.6) and the legacy
 * stream of pickles followed by raw storages. Both end up as a pickled object
 * whose tensors name storages by key; the storages are then looked up, checked
 * against the tensors' offsets and strides, and gathered into contiguous
 * copies. Assumes a little-endian host, as torch's own files do. */
#include "formats/pth.h"

#include "core/mem.h"
#include "formats/pth_internal.h"
#include "formats/pth_pickle.h"
#include "formats/pth_zip.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *pth_printable(char *buf, size_t cap, const char *s, size_t n) {
    size_t o = 0;
    for (size_t i = 0; i < n && o + 4 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        buf[o++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    if (o < n && o + 4 >= cap && cap >= 4) {
        o = cap - 4;
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    if (cap) buf[o < cap ? o : cap - 1] = '\0';
    return buf;
}

/* One distinct storage key and where its bytes are. */
typedef struct {
    const pk_storage *ref; /* first reference; gives key and dtype */
    const uint8_t *data;
    uint64_t nbytes;
    uint8_t *owned; /* inflated zip entry */
    int loaded;
} slot;

typedef struct {
    const char *path;
    const uint8_t *data;
    size_t len;
    pk_ctx pk;
    zip_reader zip;
    int is_zip;
    pk_str prefix;    /* zip: archive folder name */
    uint8_t *pkl_own; /* zip: inflated data.pkl */
    slot *slots;
    size_t nslots;
    uint64_t budget; /* bytes that inflated entries and tensors may still take */
} loader;

static int cmp_pkstr(pk_str a, pk_str b) {
    size_t n = a.n < b.n ? a.n : b.n;
    int c = n ? memcmp(a.s, b.s, n) : 0;
    return c ? c : (a.n > b.n) - (a.n < b.n);
}

static int cmp_storage_ref(const void *pa, const void *pb) {
    const pk_storage *a = *(pk_storage *const *)pa, *b = *(pk_storage *const *)pb;
    return cmp_pkstr(a->key, b->key);
}

static int cmp_slot_key(const void *pk, const void *ps) {
    return cmp_pkstr(*(const pk_str *)pk, ((const slot *)ps)->ref->key);
}

static slot *find_slot(loader *L, pk_str key) {
    if (!L->nslots) return NULL;
    return bsearch(&key, L->slots, L->nslots, sizeof *L->slots, cmp_slot_key);
}

/* Groups the storage ids the pickle produced by key. */
static ssd_status build_slots(loader *L) {
    size_t n = L->pk.nstorages;
    if (!n) return SSD_OK;
    pk_storage **refs = L->pk.storages;
    qsort(refs, n, sizeof *refs, cmp_storage_ref);
    L->slots = ssd_calloc(n, sizeof *L->slots);
    if (!L->slots) return ssd_error_prefix(SSD_E_NOMEM, "%s", L->path);
    for (size_t i = 0; i < n; i++) {
        if (L->nslots && cmp_pkstr(L->slots[L->nslots - 1].ref->key, refs[i]->key) == 0) {
            if (L->slots[L->nslots - 1].ref->dtype != refs[i]->dtype) {
                char b[64];
                return ssd_error_set(SSD_E_FORMAT, "%s: storage '%s' used with two dtypes", L->path,
                                     pth_printable(b, sizeof b, refs[i]->key.s, refs[i]->key.n));
            }
            continue;
        }
        L->slots[L->nslots++].ref = refs[i];
    }
    return SSD_OK;
}

/* ---- zip ------------------------------------------------------------------------------------ */

static ssd_status zip_entry_bytes(loader *L, const char *suffix, pk_str key, const zip_entry **e,
                                  char **name_out) {
    size_t sl = strlen(suffix), n = L->prefix.n + 1 + sl + key.n;
    char *name = ssd_malloc(n + 1);
    if (!name) return ssd_error_prefix(SSD_E_NOMEM, "%s", L->path);
    memcpy(name, L->prefix.s, L->prefix.n);
    name[L->prefix.n] = '/';
    memcpy(name + L->prefix.n + 1, suffix, sl);
    if (key.n) memcpy(name + L->prefix.n + 1 + sl, key.s, key.n);
    name[n] = '\0';
    *e = zip_find(&L->zip, name, n);
    *name_out = name;
    return SSD_OK;
}

static ssd_status load_zip_slot(loader *L, slot *s) {
    const zip_entry *e;
    char *name = NULL, b[128];
    ssd_status st = zip_entry_bytes(L, "data/", s->ref->key, &e, &name);
    if (st != SSD_OK) return st;
    if (!e) {
        st = ssd_error_set(SSD_E_FORMAT, "%s: storage entry '%s' missing", L->path,
                           pth_printable(b, sizeof b, name, strlen(name)));
    } else {
        st = zip_read(&L->zip, e, L->budget, &s->data, &s->owned);
        if (st == SSD_OK) {
            s->nbytes = e->usize;
            if (s->owned) L->budget -= e->usize;
            s->loaded = 1;
        }
    }
    ssd_free(name);
    return st;
}

static ssd_status load_zip(loader *L, pk_obj **root) {
    SSD_TRY(zip_open(&L->zip, L->data, L->len, L->path));
    const zip_entry *pkl = NULL;
    for (size_t i = 0; i < L->zip.n && !pkl; i++) {
        const zip_entry *e = &L->zip.e[i];
        static const char tail[] = "/data.pkl";
        size_t tl = sizeof tail - 1;
        if (e->name_len <= tl || memcmp(e->name + e->name_len - tl, tail, tl)) continue;
        if (memchr(e->name, '/', e->name_len - tl)) continue;
        pkl = e;
        L->prefix.s = e->name;
        L->prefix.n = e->name_len - tl;
    }
    if (!pkl)
        return ssd_error_set(SSD_E_FORMAT, "%s: zip archive without <name>/data.pkl", L->path);

    const zip_entry *bo;
    char *name;
    SSD_TRY(zip_entry_bytes(L, "byteorder", (pk_str){"", 0}, &bo, &name));
    ssd_free(name);
    if (bo) {
        const uint8_t *p;
        uint8_t *own;
        SSD_TRY(zip_read(&L->zip, bo, 64, &p, &own));
        int little = bo->usize == 6 && memcmp(p, "little", 6) == 0;
        ssd_free(own);
        if (!little) return ssd_error_set(SSD_E_FORMAT, "%s: big-endian checkpoint", L->path);
    }

    const uint8_t *pkl_data;
    SSD_TRY(zip_read(&L->zip, pkl, L->budget, &pkl_data, &L->pkl_own));
    if (L->pkl_own) L->budget -= pkl->usize;
    char what[160], b[128];
    snprintf(what, sizeof what, "%s", pth_printable(b, sizeof b, pkl->name, pkl->name_len));
    size_t pos = 0;
    SSD_TRY(pk_load(&L->pk, pkl_data, (size_t)pkl->usize, &pos, what, root));
    return build_slots(L);
}

/* ---- legacy --------------------------------------------------------------------------------- */

static ssd_status load_legacy(loader *L, pk_obj **root) {
    /* torch's magic number 0x1950a86a20f9469cfc6c as pickle LONG1 bytes. */
    static const uint8_t magic[] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
    size_t pos = 0;
    pk_obj *o, *keys;
    SSD_TRY(pk_load(&L->pk, L->data, L->len, &pos, "magic number", &o));
    if (o->kind != PK_BIGINT || o->u.s.n != sizeof magic || memcmp(o->u.s.s, magic, sizeof magic))
        return ssd_error_set(SSD_E_FORMAT, "%s: not a PyTorch checkpoint (bad magic number)",
                             L->path);
    SSD_TRY(pk_load(&L->pk, L->data, L->len, &pos, "protocol version", &o));
    if (o->kind != PK_INT || o->u.i != 1001)
        return ssd_error_set(SSD_E_FORMAT, "%s: unsupported legacy protocol version", L->path);
    SSD_TRY(pk_load(&L->pk, L->data, L->len, &pos, "sys_info", &o));
    if (o->kind != PK_DICT)
        return ssd_error_set(SSD_E_FORMAT, "%s: sys_info is not a dict", L->path);
    pk_obj *le = pk_dict_get(o, "little_endian");
    if (le && (le->kind != PK_BOOL || !le->u.i))
        return ssd_error_set(SSD_E_FORMAT, "%s: big-endian checkpoint", L->path);
    SSD_TRY(pk_load(&L->pk, L->data, L->len, &pos, "object pickle", root));
    SSD_TRY(pk_load(&L->pk, L->data, L->len, &pos, "storage key list", &keys));
    if (keys->kind != PK_LIST)
        return ssd_error_set(SSD_E_FORMAT, "%s: storage key list is a %s", L->path,
                             pk_kind_name(keys->kind));
    SSD_TRY(build_slots(L));
    /* The storages follow in key-list order: u64 element count, then raw data. */
    for (size_t i = 0; i < keys->u.seq.n; i++) {
        pk_obj *k = keys->u.seq.v[i];
        char b[64];
        if (k->kind != PK_STR)
            return ssd_error_set(SSD_E_FORMAT, "%s: storage key %zu is a %s", L->path, i,
                                 pk_kind_name(k->kind));
        pth_printable(b, sizeof b, k->u.s.s, k->u.s.n);
        slot *s = find_slot(L, k->u.s);
        if (!s)
            return ssd_error_set(SSD_E_FORMAT, "%s: storage '%s' listed but never used", L->path,
                                 b);
        if (s->loaded)
            return ssd_error_set(SSD_E_FORMAT, "%s: storage '%s' listed twice", L->path, b);
        size_t es = ssd_dtype_size(s->ref->dtype);
        if (L->len - pos < 8)
            return ssd_error_set(SSD_E_FORMAT, "%s: storage '%s': truncated", L->path, b);
        uint64_t numel = 0;
        for (int j = 7; j >= 0; j--) numel = numel << 8 | L->data[pos + (size_t)j];
        pos += 8;
        if (numel > (L->len - pos) / es)
            return ssd_error_set(SSD_E_FORMAT,
                                 "%s: storage '%s': %llu elements run past the end (truncated?)",
                                 L->path, b, (unsigned long long)numel);
        s->data = L->data + pos;
        s->nbytes = numel * es;
        s->loaded = 1;
        pos += (size_t)s->nbytes;
    }
    return SSD_OK;
}

/* ---- tensors -------------------------------------------------------------------------------- */

static void gather(uint8_t *dst, const uint8_t *src, size_t es, const pk_tensor *t, int64_t numel) {
    if (numel == 0) return;
    if (t->ndim == 0) {
        memcpy(dst, src, es);
        return;
    }
    int last = t->ndim - 1;
    int64_t inner = t->size[last], istride = t->stride[last], idx[SSD_MAX_DIMS] = {0};
    for (int64_t o = 0, outer = numel / inner; o < outer; o++) {
        int64_t off = 0;
        for (int d = 0; d < last; d++) off += idx[d] * t->stride[d];
        const uint8_t *s = src + (size_t)off * es;
        if (istride == 1) {
            memcpy(dst, s, (size_t)inner * es);
            dst += (size_t)inner * es;
        } else {
            for (int64_t j = 0; j < inner; j++, dst += es)
                memcpy(dst, s + (size_t)(j * istride) * es, es);
        }
        for (int d = last - 1; d >= 0; d--) {
            if (++idx[d] < t->size[d]) break;
            idx[d] = 0;
        }
    }
}

static ssd_status add_tensor(loader *L, ssd_state_dict *sd, pk_str key, const pk_tensor *t) {
    char kb[128];
    pth_printable(kb, sizeof kb, key.s, key.n);
    if (memchr(key.s, '\0', key.n))
        return ssd_error_set(SSD_E_FORMAT, "%s: key '%s' contains a NUL byte", L->path, kb);
    slot *s = find_slot(L, t->storage->key);
    if (!s) return ssd_error_set(SSD_E_FORMAT, "%s: %s: storage not found", L->path, kb);
    if (!s->loaded) {
        if (!L->is_zip)
            return ssd_error_set(SSD_E_FORMAT, "%s: %s: storage data missing", L->path, kb);
        SSD_TRY(load_zip_slot(L, s));
    }
    ssd_dtype dt = s->ref->dtype;
    size_t es = ssd_dtype_size(dt);
    uint64_t elems = s->nbytes / es, base = 0, limit = elems;
    if (L->is_zip && (uint64_t)t->storage->numel > elems)
        return ssd_error_set(SSD_E_FORMAT, "%s: %s: storage holds %llu elements, id says %lld",
                             L->path, kb, (unsigned long long)elems, (long long)t->storage->numel);
    if (t->storage->view_numel >= 0) {
        if ((uint64_t)t->storage->view_offset > elems ||
            (uint64_t)t->storage->view_numel > elems - (uint64_t)t->storage->view_offset)
            return ssd_error_set(SSD_E_FORMAT, "%s: %s: storage view out of range", L->path, kb);
        base = (uint64_t)t->storage->view_offset;
        limit = (uint64_t)t->storage->view_numel;
    }
    int64_t numel = 1, last = t->offset;
    if (t->offset < 0)
        return ssd_error_set(SSD_E_FORMAT, "%s: %s: negative storage offset", L->path, kb);
    for (int d = 0; d < t->ndim; d++) {
        if (t->size[d] < 0 || t->stride[d] < 0)
            return ssd_error_set(SSD_E_FORMAT, "%s: %s: negative size or stride", L->path, kb);
        if (__builtin_mul_overflow(numel, t->size[d], &numel))
            return ssd_error_set(SSD_E_FORMAT, "%s: %s: shape too large", L->path, kb);
    }
    if (numel > 0) {
        for (int d = 0; d < t->ndim; d++) {
            int64_t span;
            if (__builtin_mul_overflow(t->size[d] - 1, t->stride[d], &span) ||
                __builtin_add_overflow(last, span, &last))
                return ssd_error_set(SSD_E_FORMAT, "%s: %s: strides too large", L->path, kb);
        }
        if ((uint64_t)last >= limit)
            return ssd_error_set(SSD_E_FORMAT,
                                 "%s: %s: offset/strides reach element %lld of a %llu-element "
                                 "storage",
                                 L->path, kb, (long long)last, (unsigned long long)limit);
    }
    uint64_t nbytes;
    if (__builtin_mul_overflow((uint64_t)numel, (uint64_t)es, &nbytes) || nbytes > L->budget)
        return ssd_error_set(SSD_E_FORMAT, "%s: %s: tensor of %lld elements is implausibly large",
                             L->path, kb, (long long)numel);
    L->budget -= nbytes;
    char *name = ssd_malloc(key.n + 1);
    void *data = ssd_aligned_alloc((size_t)nbytes);
    if (!name || !data) {
        ssd_free(name);
        ssd_free(data);
        return ssd_error_prefix(SSD_E_NOMEM, "%s: %s", L->path, kb);
    }
    memcpy(name, key.s, key.n);
    name[key.n] = '\0';
    gather(data, s->data + (base + (uint64_t)t->offset) * es, es, t, numel);
    ssd_status st = pth_sd_append_owned(sd, name, dt, t->ndim, t->size, data);
    if (st != SSD_OK) {
        ssd_free(name);
        ssd_free(data);
        return ssd_error_prefix(st, "%s: %s", L->path, kb);
    }
    return SSD_OK;
}

static int cmp_tensor_name(const void *pa, const void *pb) {
    return strcmp((*(ssd_pth_tensor *const *)pa)->name, (*(ssd_pth_tensor *const *)pb)->name);
}

static ssd_status check_duplicates(loader *L, const ssd_state_dict *sd) {
    if (sd->count < 2) return SSD_OK;
    const ssd_pth_tensor **v = ssd_malloc((size_t)sd->count * sizeof *v);
    if (!v) return ssd_error_prefix(SSD_E_NOMEM, "%s", L->path);
    for (int i = 0; i < sd->count; i++) v[i] = &sd->t[i];
    qsort(v, (size_t)sd->count, sizeof *v, cmp_tensor_name);
    ssd_status st = SSD_OK;
    for (int i = 1; i < sd->count && st == SSD_OK; i++)
        if (strcmp(v[i - 1]->name, v[i]->name) == 0) {
            char b[128];
            st = ssd_error_set(SSD_E_FORMAT, "%s: duplicate key '%s'", L->path,
                               pth_printable(b, sizeof b, v[i]->name, strlen(v[i]->name)));
        }
    ssd_free(v);
    return st;
}

static ssd_status collect(loader *L, pk_obj *root, ssd_state_dict *sd) {
    if (root->kind != PK_DICT)
        return ssd_error_set(SSD_E_FORMAT, "%s: checkpoint holds a %s, not a state_dict", L->path,
                             pk_kind_name(root->kind));
    static const char *wrappers[] = {"state_dict", "model", "net", "model_state_dict"};
    pk_obj *dict = root;
    for (size_t i = 0; i < sizeof wrappers / sizeof wrappers[0]; i++) {
        pk_obj *v = pk_dict_get(root, wrappers[i]);
        if (v && v->kind == PK_DICT) {
            dict = v;
            break;
        }
    }
    for (size_t i = 0; i + 1 < dict->u.seq.n; i += 2) {
        pk_obj *k = dict->u.seq.v[i], *v = dict->u.seq.v[i + 1];
        char b[128];
        if (k->kind != PK_STR)
            return ssd_error_set(SSD_E_FORMAT, "%s: state_dict key %zu is a %s, not a str", L->path,
                                 i / 2, pk_kind_name(k->kind));
        if (v->kind != PK_TENSOR)
            return ssd_error_set(SSD_E_FORMAT, "%s: %s: value is a %s, not a tensor", L->path,
                                 pth_printable(b, sizeof b, k->u.s.s, k->u.s.n),
                                 pk_kind_name(v->kind));
        SSD_TRY(add_tensor(L, sd, k->u.s, v->u.t));
    }
    return check_duplicates(L, sd);
}

ssd_status ssd_pth_load_mem(ssd_state_dict *sd, const uint8_t *data, size_t len, const char *name) {
    loader L;
    memset(&L, 0, sizeof L);
    L.path = name;
    L.data = data;
    L.len = len;
    /* Shared storages and broadcast views may legitimately make the tensors
     * larger than the file, but not without bound. */
    L.budget = (uint64_t)len * 8 + ((uint64_t)64 << 20);
    /* A pickle op makes at most a few dozen bytes of objects. */
    pk_init(&L.pk, name, len > SIZE_MAX / 128 ? SIZE_MAX / 2 : len * 64 + ((size_t)1 << 20));
    ssd_state_dict_init(sd);
    pk_obj *root = NULL;
    ssd_status st;
    if (zip_is_zip(data, len)) {
        L.is_zip = 1;
        st = load_zip(&L, &root);
    } else if (len > 0 && data[0] == 0x80) {
        st = load_legacy(&L, &root);
    } else if (len >= 262 && memcmp(data + 257, "ustar", 5) == 0) {
        st = ssd_error_set(SSD_E_FORMAT, "%s: tar checkpoint (torch < 0.1.10) unsupported", name);
    } else {
        st = ssd_error_set(SSD_E_FORMAT, "%s: not a PyTorch checkpoint (%s)", name,
                           len ? "unknown header" : "empty file");
    }
    if (st == SSD_OK) st = collect(&L, root, sd);
    for (size_t i = 0; i < L.nslots; i++) ssd_free(L.slots[i].owned);
    ssd_free(L.slots);
    ssd_free(L.pkl_own);
    zip_close(&L.zip);
    pk_free(&L.pk);
    if (st != SSD_OK) ssd_state_dict_free(sd);
    return st;
}

static ssd_status read_file(const char *path, uint8_t **data, size_t *len) {
    /* core/fileio.h's ssd_file_read_all is meant for this; until it exists, a local copy. */
    *data = NULL;
    *len = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return ssd_error_set(SSD_E_IO, "%s: cannot open: %s", path, strerror(errno));
    ssd_status st = SSD_OK;
    struct stat sb;
    uint8_t *buf = NULL;
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = ssd_error_set(SSD_E_IO, "%s: not a regular file", path);
        goto done;
    }
    size_t n = (size_t)sb.st_size;
    buf = ssd_malloc(n + 1);
    if (!buf) {
        st = ssd_error_prefix(SSD_E_NOMEM, "%s", path);
        goto done;
    }
    if (fread(buf, 1, n, fp) != n) {
        st = ssd_error_set(SSD_E_IO, "%s: read failed: %s", path,
                           ferror(fp) ? strerror(errno) : "file shrank while reading");
        goto done;
    }
    buf[n] = 0;
    *data = buf;
    *len = n;
    buf = NULL;
done:
    ssd_free(buf);
    fclose(fp);
    return st;
}

ssd_status ssd_pth_load(ssd_state_dict *sd, const char *path) {
    uint8_t *data;
    size_t len;
    ssd_state_dict_init(sd);
    SSD_TRY(read_file(path, &data, &len));
    ssd_status st = ssd_pth_load_mem(sd, data, len, path);
    ssd_free(data);
    return st;
}
