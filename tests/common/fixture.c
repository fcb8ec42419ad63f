#include "fixture.h"

#include "core/mem.h"
#include "tensor/backend.h"

#include <stdio.h>
#include <string.h>

static int rd(FILE *fp, void *p, size_t n) {
    return fread(p, 1, n, fp) == n;
}

ssd_status fixture_load(fixture_file *f, const char *path) {
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "rb");
    if (!fp) return ssd_error_set(SSD_E_IO, "%s: cannot open fixture", path);
    char magic[8];
    uint32_t count;
    ssd_status st = SSD_OK;
    if (!rd(fp, magic, 8) || memcmp(magic, "SSDT0001", 8) || !rd(fp, &count, 4) || count > 100000) {
        st = ssd_error_set(SSD_E_FORMAT, "%s: not a fixture file", path);
        goto done;
    }
    f->t = ssd_calloc(count ? count : 1, sizeof *f->t);
    if (!f->t) {
        st = SSD_E_NOMEM;
        goto done;
    }
    for (uint32_t i = 0; i < count; i++) {
        fixture_tensor *t = &f->t[i];
        uint32_t nl, dt, nd;
        if (!rd(fp, &nl, 4) || nl > 4096) goto bad;
        t->name = ssd_calloc(nl + 1, 1);
        if (!t->name) {
            st = SSD_E_NOMEM;
            goto done;
        }
        f->count++;
        if (!rd(fp, t->name, nl) || !rd(fp, &dt, 4) || !rd(fp, &nd, 4) || nd > SSD_MAX_DIMS)
            goto bad;
        t->dtype = dt == 0 ? SSD_F32 : dt == 1 ? SSD_F64 : SSD_I64;
        t->ndim = (int)nd;
        t->numel = 1;
        for (uint32_t d = 0; d < nd; d++) {
            if (!rd(fp, &t->shape[d], 8) || t->shape[d] < 0) goto bad;
            t->numel *= t->shape[d];
        }
        size_t bytes = (size_t)t->numel * ssd_dtype_size(t->dtype);
        t->data = ssd_malloc(bytes);
        if (!t->data) {
            st = SSD_E_NOMEM;
            goto done;
        }
        if (!rd(fp, t->data, bytes)) goto bad;
    }
    goto done;
bad:
    st = ssd_error_set(SSD_E_FORMAT, "%s: truncated or malformed fixture", path);
done:
    fclose(fp);
    if (st != SSD_OK) fixture_free(f);
    return st;
}

void fixture_free(fixture_file *f) {
    for (int i = 0; i < f->count; i++) {
        ssd_free(f->t[i].name);
        ssd_free(f->t[i].data);
    }
    ssd_free(f->t);
    memset(f, 0, sizeof *f);
}

const fixture_tensor *fixture_find(const fixture_file *f, const char *name) {
    for (int i = 0; i < f->count; i++)
        if (strcmp(f->t[i].name, name) == 0) return &f->t[i];
    return NULL;
}

ssd_status fixture_to_tensor(ssd_tensor *t, ssd_backend *be, ssd_dtype dt,
                             const fixture_tensor *ft) {
    ssd_tensor_init(t, be, dt, ft->ndim, ft->shape);
    SSD_TRY(ssd_tensor_alloc(t));
    if (ft->dtype == SSD_I64) return ssd_error_set(SSD_E_INVAL, "%s: int64 fixture", ft->name);
    return ssd_tensor_set(t, ft->data, ft->dtype);
}
