#include "formats/tfjs.h"

#include "core/fileio.h"
#include "core/json.h"
#include "core/mem.h"

#include <math.h>
#include <string.h>

/* Bytes of every group's files, concatenated; part[i] starts at off[i]. */
typedef struct {
    int nfiles;
    char **path; /* as resolved, for messages */
    size_t *off;
    uint8_t **part;
    size_t total;
} group_data;

static void group_free(group_data *g) {
    for (int i = 0; i < g->nfiles; i++) {
        ssd_free(g->path[i]);
        ssd_free(g->part[i]);
    }
    ssd_free(g->path);
    ssd_free(g->off);
    ssd_free(g->part);
    memset(g, 0, sizeof *g);
}

/* The file that holds byte `at` (the last one when at == total). */
static const char *file_at(const group_data *g, size_t at) {
    for (int i = g->nfiles - 1; i >= 0; i--)
        if (at >= g->off[i]) return g->path[i];
    return g->nfiles ? g->path[0] : "?";
}

static void copy_out(const group_data *g, size_t at, size_t n, uint8_t *dst) {
    for (int i = 0; i < g->nfiles && n; i++) {
        size_t end = i + 1 < g->nfiles ? g->off[i + 1] : g->total;
        if (at >= end) continue;
        size_t k = end - at < n ? end - at : n;
        memcpy(dst, g->part[i] + (at - g->off[i]), k);
        dst += k, at += k, n -= k;
    }
}

static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return ssd_strdup(".");
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *d = ssd_malloc(n + 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = 0;
    }
    return d;
}

static ssd_status read_group(group_data *g, const ssd_json *paths, const char *dir,
                             const char *manifest) {
    int n = ssd_json_len(paths);
    if (!paths || paths->type != SSD_JSON_ARRAY || n == 0)
        return ssd_error_set(SSD_E_FORMAT, "%s:%d:%d: \"paths\" must be a non-empty list of files",
                             manifest, paths ? paths->line : 0, paths ? paths->col : 0);
    g->path = ssd_calloc((size_t)n, sizeof *g->path);
    g->off = ssd_calloc((size_t)n, sizeof *g->off);
    g->part = ssd_calloc((size_t)n, sizeof *g->part);
    if (!g->path || !g->off || !g->part) return SSD_E_NOMEM;
    for (int i = 0; i < n; i++) {
        const ssd_json *p = ssd_json_at(paths, i);
        const char *s = ssd_json_str(p);
        if (!s || !s[0])
            return ssd_error_set(SSD_E_FORMAT, "%s:%d:%d: a weight file path must be a string",
                                 manifest, p->line, p->col);
        g->path[i] = s[0] == '/' ? ssd_strdup(s) : ssd_path_join(dir, s);
        if (!g->path[i]) return SSD_E_NOMEM;
        g->nfiles = i + 1;
        size_t len;
        SSD_TRY(ssd_file_read_all(g->path[i], &g->part[i], &len));
        g->off[i] = g->total;
        g->total += len;
    }
    return SSD_OK;
}

static float half_to_float(uint16_t h) {
    int e = (h >> 10) & 31, m = h & 1023;
    float v = e == 0    ? ldexpf((float)m, -24)
              : e == 31 ? (m ? NAN : INFINITY)
                        : ldexpf((float)(m | 1024), e - 25);
    return (h & 0x8000) ? -v : v;
}

static const char *err_at(const ssd_json *j, char *buf, size_t n, const char *manifest) {
    snprintf(buf, n, "%s:%d:%d", manifest, j->line, j->col);
    return buf;
}

typedef struct {
    const char *dtype;
    ssd_dtype dt;
    size_t size;
} dtype_info;

static const dtype_info dtypes[] = {
    {"float32", SSD_F32, 4},
    {"int32", SSD_I32, 4},
    {"bool", SSD_U8, 1},
};

/* Parses one weights entry's metadata into t (name, shape, dtype) and its byte size. */
static ssd_status parse_entry(ssd_tfjs_tensor *t, size_t *nbytes, double *scale, double *min,
                              const ssd_json *e, const char *manifest) {
    char at[600];
    const char *name = ssd_json_str(ssd_json_get(e, "name"));
    if (e->type != SSD_JSON_OBJECT || !name)
        return ssd_error_set(SSD_E_FORMAT, "%s: a weights entry needs a \"name\" string",
                             err_at(e, at, sizeof at, manifest));
    t->name = ssd_strdup(name);
    if (!t->name) return SSD_E_NOMEM;
    const ssd_json *shape = ssd_json_get(e, "shape");
    int nd = ssd_json_len(shape);
    if (!shape || shape->type != SSD_JSON_ARRAY || nd > SSD_MAX_DIMS)
        return ssd_error_set(SSD_E_FORMAT,
                             "%s: tensor '%s': \"shape\" must be a list of at most %d sizes",
                             err_at(e, at, sizeof at, manifest), name, SSD_MAX_DIMS);
    int64_t numel = 1;
    for (int d = 0; d < nd; d++) {
        int64_t v;
        /* 2^31 per dimension and 2^40 in all keep byte counts far from overflow. */
        if (!ssd_json_int(ssd_json_at(shape, d), &v) || v < 0 || v > (1LL << 31) ||
            (v && numel > (1LL << 40) / v))
            return ssd_error_set(SSD_E_FORMAT, "%s: tensor '%s': bad size in \"shape\"",
                                 err_at(e, at, sizeof at, manifest), name);
        t->shape[d] = v;
        numel *= v;
    }
    t->ndim = nd;
    const char *dtype = ssd_json_str(ssd_json_get(e, "dtype"));
    const dtype_info *di = NULL;
    for (size_t i = 0; dtype && i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(dtype, dtypes[i].dtype) == 0) di = &dtypes[i];
    if (!di)
        return ssd_error_set(
            dtype ? SSD_E_UNSUPPORTED : SSD_E_FORMAT,
            "%s: tensor '%s': dtype %s%s%s is not supported (float32, int32, bool)",
            err_at(e, at, sizeof at, manifest), name, dtype ? "'" : "", dtype ? dtype : "missing",
            dtype ? "'" : "");
    t->dtype = di->dt;
    size_t elem = di->size;
    const ssd_json *q = ssd_json_get(e, "quantization");
    if (q) {
        if (di->dt == SSD_U8)
            return ssd_error_set(SSD_E_UNSUPPORTED,
                                 "%s: tensor '%s': quantised bool tensors are not supported",
                                 err_at(q, at, sizeof at, manifest), name);
        const char *qd = ssd_json_str(ssd_json_get(q, "dtype"));
        if (qd && strcmp(qd, "uint8") == 0)
            t->quant = "uint8", elem = 1;
        else if (qd && strcmp(qd, "uint16") == 0)
            t->quant = "uint16", elem = 2;
        else if (qd && strcmp(qd, "float16") == 0 && di->dt == SSD_F32)
            t->quant = "float16", elem = 2;
        else
            return ssd_error_set(SSD_E_UNSUPPORTED,
                                 "%s: tensor '%s': quantization dtype %s is not supported "
                                 "(uint8, uint16, float16)",
                                 err_at(q, at, sizeof at, manifest), name, qd ? qd : "missing");
        if (strcmp(t->quant, "float16") != 0) {
            const ssd_json *js = ssd_json_get(q, "scale"), *jm = ssd_json_get(q, "min");
            if (!js || js->type != SSD_JSON_NUMBER || !jm || jm->type != SSD_JSON_NUMBER)
                return ssd_error_set(
                    SSD_E_FORMAT,
                    "%s: tensor '%s': quantization needs numbers \"scale\" and \"min\"",
                    err_at(q, at, sizeof at, manifest), name);
            *scale = js->u.num;
            *min = jm->u.num;
        }
    }
    *nbytes = (size_t)numel * elem;
    return SSD_OK;
}

static ssd_status decode(ssd_tfjs_tensor *t, const uint8_t *raw, int64_t numel, double scale,
                         double min) {
    t->data = ssd_malloc((size_t)(numel ? numel : 1) * ssd_dtype_size(t->dtype));
    if (!t->data) return SSD_E_NOMEM;
    float *f = t->data;
    int32_t *i32 = t->data;
    for (int64_t i = 0; i < numel; i++) {
        if (!t->quant) {
            memcpy((uint8_t *)t->data + i * (int64_t)ssd_dtype_size(t->dtype),
                   raw + i * (int64_t)ssd_dtype_size(t->dtype), ssd_dtype_size(t->dtype));
            continue;
        }
        if (t->quant[0] == 'f') {
            f[i] = half_to_float((uint16_t)(raw[2 * i] | raw[2 * i + 1] << 8));
            continue;
        }
        unsigned q = t->quant[4] == '8' ? raw[i] : (unsigned)(raw[2 * i] | raw[2 * i + 1] << 8);
        /* As tf.io does it: in double, then stored (float32) or rounded (int32). */
        double v = q * scale + min;
        if (t->dtype == SSD_F32) {
            f[i] = (float)v;
        } else {
            double r = floor(v + 0.5); /* JavaScript's Math.round */
            i32[i] = isnan(r)             ? 0
                     : r >= 2147483647.0  ? INT32_MAX
                     : r <= -2147483648.0 ? INT32_MIN
                                          : (int32_t)r;
        }
    }
    return SSD_OK;
}

static ssd_status load_group(ssd_tfjs_weights *w, const ssd_json *grp, const char *dir,
                             const char *manifest) {
    char at[600];
    group_data g = {0};
    ssd_status st = SSD_OK;
    const ssd_json *ws = ssd_json_get(grp, "weights");
    if (grp->type != SSD_JSON_OBJECT || !ws || ws->type != SSD_JSON_ARRAY) {
        st = ssd_error_set(SSD_E_FORMAT,
                           "%s: a weights group needs \"paths\" and a \"weights\" list",
                           err_at(grp, at, sizeof at, manifest));
        goto done;
    }
    SSD_CHECK_GOTO(st, read_group(&g, ssd_json_get(grp, "paths"), dir, manifest), done);
    size_t pos = 0;
    const char *last = NULL;
    int n = ssd_json_len(ws);
    ssd_tfjs_tensor *nt = ssd_realloc(w->t, (size_t)(w->count + n + 1) * sizeof *nt);
    if (!nt) {
        st = SSD_E_NOMEM;
        goto done;
    }
    w->t = nt;
    uint8_t *raw = NULL;
    for (int i = 0; i < n && st == SSD_OK; i++) {
        ssd_tfjs_tensor *t = &w->t[w->count];
        memset(t, 0, sizeof *t);
        w->count++;
        size_t nbytes = 0;
        double scale = 1, min = 0;
        const ssd_json *e = ssd_json_at(ws, i);
        SSD_CHECK_GOTO(st, parse_entry(t, &nbytes, &scale, &min, e, manifest), done);
        for (int k = 0; k < w->count - 1; k++)
            if (strcmp(w->t[k].name, t->name) == 0) {
                st = ssd_error_set(SSD_E_FORMAT, "%s: tensor '%s' appears twice",
                                   err_at(e, at, sizeof at, manifest), t->name);
                goto done;
            }
        if (nbytes > g.total - pos) {
            st = ssd_error_set(SSD_E_FORMAT,
                               "%s: too short: tensor '%s' needs bytes %zu..%zu but the files of "
                               "its group hold %zu bytes",
                               file_at(&g, g.total), t->name, pos, pos + nbytes, g.total);
            goto done;
        }
        raw = ssd_malloc(nbytes ? nbytes : 1);
        if (!raw) {
            st = SSD_E_NOMEM;
            goto done;
        }
        copy_out(&g, pos, nbytes, raw);
        st = decode(t, raw, ssd_tfjs_numel(t), scale, min);
        ssd_free(raw);
        pos += nbytes;
        last = t->name;
    }
    if (st == SSD_OK && pos != g.total)
        st = ssd_error_set(SSD_E_FORMAT,
                           "%s: %zu bytes left over after the last tensor%s%s%s: the manifest %s "
                           "describes %zu bytes, its files hold %zu",
                           file_at(&g, g.total), g.total - pos, last ? " '" : "", last ? last : "",
                           last ? "'" : "", manifest, pos, g.total);
done:
    group_free(&g);
    return st;
}

ssd_status ssd_tfjs_load(ssd_tfjs_weights *w, const char *manifest) {
    memset(w, 0, sizeof *w);
    ssd_json *root = NULL;
    char *dir = NULL;
    ssd_status st;
    SSD_CHECK_GOTO(st, ssd_json_parse_file(&root, manifest), done);
    const ssd_json *groups = root;
    if (root->type == SSD_JSON_OBJECT) groups = ssd_json_get(root, "weightsManifest");
    if (!groups || groups->type != SSD_JSON_ARRAY) {
        st = ssd_error_set(SSD_E_FORMAT,
                           "%s: not a TensorFlow.js weights manifest (expected a list of weight "
                           "groups or an object with \"weightsManifest\")",
                           manifest);
        goto done;
    }
    dir = dir_of(manifest);
    if (!dir) {
        st = SSD_E_NOMEM;
        goto done;
    }
    for (int i = 0; i < ssd_json_len(groups) && st == SSD_OK; i++)
        st = load_group(w, ssd_json_at(groups, i), dir, manifest);
    if (st == SSD_OK && w->count == 0)
        st = ssd_error_set(SSD_E_FORMAT, "%s: the manifest lists no tensors", manifest);
done:
    if (st != SSD_OK) ssd_tfjs_free(w);
    ssd_free(dir);
    ssd_json_free(root);
    return st;
}

void ssd_tfjs_free(ssd_tfjs_weights *w) {
    if (!w) return;
    for (int i = 0; i < w->count; i++) {
        ssd_free(w->t[i].name);
        ssd_free(w->t[i].data);
    }
    ssd_free(w->t);
    memset(w, 0, sizeof *w);
}

const ssd_tfjs_tensor *ssd_tfjs_find(const ssd_tfjs_weights *w, const char *name) {
    for (int i = 0; i < w->count; i++)
        if (strcmp(w->t[i].name, name) == 0) return &w->t[i];
    return NULL;
}

int64_t ssd_tfjs_numel(const ssd_tfjs_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}
