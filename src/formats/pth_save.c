/* Writing a state_dict the way torch.save (1.13, pickle protocol 2) does, byte
 * for byte: the pickle below follows CPython's pickler (memoising every str,
 * tuple, global and reduced object in order, batching dict items by 1000) for
 * an OrderedDict of _rebuild_tensor_v2 calls, one storage per tensor. */
#include "formats/pth.h"

#include "core/mem.h"
#include "formats/pth_internal.h"
#include "formats/pth_zip.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- pickle emitter ------------------------------------------------------------------------- */

typedef struct {
    uint8_t *d;
    size_t n, cap;
    int oom;
    uint32_t memo; /* next memo index */
    /* memo indices of objects the pickler would find in its memo again (-1: not yet) */
    int64_t g_odict, g_rebuild, s_storage, s_cpu, g_storage[7];
} pkw;

static void emit(pkw *w, const void *p, size_t n) {
    if (w->oom) return;
    if (w->cap - w->n < n) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap - w->n < n) cap *= 2;
        uint8_t *d = ssd_realloc(w->d, cap);
        if (!d) {
            w->oom = 1;
            return;
        }
        w->d = d;
        w->cap = cap;
    }
    memcpy(w->d + w->n, p, n);
    w->n += n;
}

static void op(pkw *w, uint8_t c) {
    emit(w, &c, 1);
}

static void op_u32(pkw *w, uint8_t c, uint32_t v) {
    uint8_t b[5] = {c, (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    emit(w, b, 5);
}

static int64_t memoize(pkw *w) {
    uint32_t i = w->memo++;
    if (i < 256) {
        uint8_t b[2] = {'q', (uint8_t)i}; /* BINPUT */
        emit(w, b, 2);
    } else {
        op_u32(w, 'r', i); /* LONG_BINPUT */
    }
    return i;
}

static void memo_get(pkw *w, int64_t i) {
    if (i < 256) {
        uint8_t b[2] = {'h', (uint8_t)i}; /* BINGET */
        emit(w, b, 2);
    } else {
        op_u32(w, 'j', (uint32_t)i); /* LONG_BINGET */
    }
}

static void save_str(pkw *w, const char *s) {
    size_t n = strlen(s);
    op_u32(w, 'X', (uint32_t)n); /* BINUNICODE */
    emit(w, s, n);
    memoize(w);
}

/* A str or global that CPython would find in its memo after the first time. */
static void save_str_once(pkw *w, int64_t *slot, const char *s) {
    if (*slot >= 0) {
        memo_get(w, *slot);
        return;
    }
    save_str(w, s);
    *slot = w->memo - 1;
}

static void save_global_once(pkw *w, int64_t *slot, const char *mod, const char *name) {
    if (*slot >= 0) {
        memo_get(w, *slot);
        return;
    }
    op(w, 'c');
    emit(w, mod, strlen(mod));
    op(w, '\n');
    emit(w, name, strlen(name));
    op(w, '\n');
    *slot = memoize(w);
}

static void save_int(pkw *w, int64_t v) {
    if (v >= 0 && v <= 0xff) {
        uint8_t b[2] = {'K', (uint8_t)v};
        emit(w, b, 2);
    } else if (v >= 0 && v <= 0xffff) {
        uint8_t b[3] = {'M', (uint8_t)v, (uint8_t)(v >> 8)};
        emit(w, b, 3);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        op_u32(w, 'J', (uint32_t)(int32_t)v);
    } else {
        /* LONG1: minimal little-endian two's complement (sizes are never negative). */
        uint8_t b[11] = {0x8a, 0};
        int n = 0;
        uint64_t u = (uint64_t)v;
        while (u) {
            b[2 + n++] = (uint8_t)u;
            u >>= 8;
        }
        if (b[1 + n] & 0x80) b[2 + n++] = 0;
        b[1] = (uint8_t)n;
        emit(w, b, (size_t)(2 + n));
    }
}

static void save_int_tuple(pkw *w, const int64_t *v, int n) {
    if (n == 0) {
        op(w, ')'); /* EMPTY_TUPLE, never memoised */
        return;
    }
    if (n > 3) op(w, '(');
    for (int i = 0; i < n; i++) save_int(w, v[i]);
    op(w, n > 3 ? 't' : (uint8_t)(0x84 + n)); /* TUPLE or TUPLE1..3 */
    memoize(w);
}

static const char *storage_class(ssd_dtype dt) {
    switch (dt) {
    case SSD_F32:
        return "FloatStorage";
    case SSD_F64:
        return "DoubleStorage";
    case SSD_F16:
        return "HalfStorage";
    case SSD_BF16:
        return "BFloat16Storage";
    case SSD_I64:
        return "LongStorage";
    case SSD_I32:
        return "IntStorage";
    case SSD_U8:
        return "ByteStorage";
    }
    return NULL;
}

static void save_tensor(pkw *w, const ssd_pth_tensor *t, int key) {
    char skey[24];
    snprintf(skey, sizeof skey, "%d", key);
    int64_t stride[SSD_MAX_DIMS], s = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        stride[d] = s;
        s *= t->shape[d] > 1 ? t->shape[d] : 1; /* torch's contiguous strides skip 0 sizes */
    }
    save_global_once(w, &w->g_rebuild, "torch._utils", "_rebuild_tensor_v2");
    op(w, '('); /* args: (storage, 0, size, stride, False, OrderedDict()) */
    op(w, '('); /* persistent id: ('storage', type, key, 'cpu', numel) */
    save_str_once(w, &w->s_storage, "storage");
    save_global_once(w, &w->g_storage[t->dtype], "torch", storage_class(t->dtype));
    save_str(w, skey);
    save_str_once(w, &w->s_cpu, "cpu");
    save_int(w, ssd_pth_tensor_numel(t));
    op(w, 't');
    memoize(w);
    op(w, 'Q'); /* BINPERSID */
    save_int(w, 0);
    save_int_tuple(w, t->shape, t->ndim);
    save_int_tuple(w, stride, t->ndim);
    op(w, 0x89); /* NEWFALSE: requires_grad */
    memo_get(w, w->g_odict);
    op(w, ')');
    op(w, 'R'); /* backward_hooks = OrderedDict() */
    memoize(w);
    op(w, 't');
    memoize(w);
    op(w, 'R');
    memoize(w);
}

static void save_pickle(pkw *w, const ssd_state_dict *sd) {
    op(w, 0x80);
    op(w, 2); /* PROTO 2 */
    save_global_once(w, &w->g_odict, "collections", "OrderedDict");
    op(w, ')');
    op(w, 'R');
    memoize(w);
    for (int i = 0; i < sd->count; i += 1000) {
        int n = sd->count - i < 1000 ? sd->count - i : 1000;
        if (n > 1) op(w, '(');
        for (int j = i; j < i + n; j++) {
            save_str(w, sd->t[j].name);
            save_tensor(w, &sd->t[j], j);
        }
        op(w, n > 1 ? 'u' : 's'); /* SETITEMS / SETITEM */
    }
    op(w, '.');
}

/* ---- archive -------------------------------------------------------------------------------- */

static int cmp_decimal_key(const void *pa, const void *pb) {
    char a[24], b[24];
    snprintf(a, sizeof a, "%d", *(const int *)pa);
    snprintf(b, sizeof b, "%d", *(const int *)pb);
    return strcmp(a, b);
}

static ssd_status check_sd(const ssd_state_dict *sd, const char *path) {
    for (int i = 0; i < sd->count; i++) {
        const ssd_pth_tensor *t = &sd->t[i];
        if (!t->name || t->ndim < 0 || t->ndim > SSD_MAX_DIMS || !storage_class(t->dtype))
            return ssd_error_set(SSD_E_INVAL, "%s: tensor %d is malformed", path, i);
        int64_t n = 1;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0 || __builtin_mul_overflow(n, t->shape[d], &n))
                return ssd_error_set(SSD_E_INVAL, "%s: %s: bad shape", path, t->name);
        }
        if (n > 0 && !t->data) return ssd_error_set(SSD_E_INVAL, "%s: %s: no data", path, t->name);
        for (int j = 0; j < i; j++)
            if (strcmp(sd->t[j].name, t->name) == 0)
                return ssd_error_set(SSD_E_INVAL, "%s: duplicate key '%s'", path, t->name);
    }
    return SSD_OK;
}

static ssd_status write_archive(const ssd_state_dict *sd, FILE *fp, const char *path) {
    pkw w;
    memset(&w, 0, sizeof w);
    w.g_odict = w.g_rebuild = w.s_storage = w.s_cpu = -1;
    for (int i = 0; i < 7; i++) w.g_storage[i] = -1;
    save_pickle(&w, sd);
    int *order = ssd_malloc((size_t)(sd->count ? sd->count : 1) * sizeof *order);
    if (w.oom || !order) {
        ssd_free(w.d);
        ssd_free(order);
        return ssd_error_prefix(SSD_E_NOMEM, "%s", path);
    }
    /* torch writes the storages in the sorted order of their (decimal) keys. */
    for (int i = 0; i < sd->count; i++) order[i] = i;
    qsort(order, (size_t)sd->count, sizeof *order, cmp_decimal_key);

    zip_writer z;
    zip_writer_init(&z, fp, path);
    zip_write_begin(&z, "archive/data.pkl", w.n);
    zip_write_data(&z, w.d, w.n);
    zip_write_end(&z);
    for (int i = 0; i < sd->count; i++) {
        const ssd_pth_tensor *t = &sd->t[order[i]];
        char name[48];
        snprintf(name, sizeof name, "archive/data/%d", order[i]);
        size_t nbytes = (size_t)ssd_pth_tensor_numel(t) * ssd_dtype_size(t->dtype);
        zip_write_begin(&z, name, nbytes);
        if (nbytes) zip_write_data(&z, t->data, nbytes);
        zip_write_end(&z);
    }
    zip_write_begin(&z, "archive/version", 2);
    zip_write_data(&z, "3\n", 2);
    zip_write_end(&z);
    ssd_status st = zip_writer_finish(&z);
    if (st == SSD_E_NOMEM) ssd_error_prefix(st, "%s", path);
    zip_writer_deinit(&z);
    ssd_free(order);
    ssd_free(w.d);
    return st;
}

ssd_status ssd_pth_save(const ssd_state_dict *sd, const char *path) {
    /* A local stand-in for core/fileio.h's ssd_afile: temp name, fsync, rename. */
    SSD_TRY(check_sd(sd, path));
    size_t n = strlen(path) + 32;
    char *tmp = ssd_malloc(n);
    if (!tmp) return ssd_error_prefix(SSD_E_NOMEM, "%s", path);
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    ssd_status st = SSD_OK;
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        st = ssd_error_set(SSD_E_IO, "%s: cannot create: %s", tmp, strerror(errno));
        goto done;
    }
    st = write_archive(sd, fp, path);
    if (st == SSD_OK && (fflush(fp) != 0 || fsync(fileno(fp)) != 0))
        st = ssd_error_set(SSD_E_IO, "%s: write failed: %s", path, strerror(errno));
    if (fclose(fp) != 0 && st == SSD_OK)
        st = ssd_error_set(SSD_E_IO, "%s: write failed: %s", path, strerror(errno));
    if (st == SSD_OK && rename(tmp, path) != 0)
        st = ssd_error_set(SSD_E_IO, "%s: cannot rename %s into place: %s", path, tmp,
                           strerror(errno));
    if (st != SSD_OK) remove(tmp);
done:
    ssd_free(tmp);
    return st;
}
