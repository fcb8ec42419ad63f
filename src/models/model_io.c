/* state_dict <-> model, with pytorch-ssd's three loading modes. */
#include "models/model.h"

#include "core/mem.h"
#include "formats/pth.h"
#include "models/net_guess.h"
#include "tensor/convert.h"

#include <stdio.h>
#include <string.h>

static bool is_head_key(const char *k) {
    return strncmp(k, "classification_headers.", 23) == 0 ||
           strncmp(k, "regression_headers.", 19) == 0;
}

static bool in_mode(const ssd_param *p, ssd_load_mode mode) {
    if (mode == SSD_LOAD_PRETRAINED_SSD) return !is_head_key(p->name);
    if (mode == SSD_LOAD_BASE_NET) return p->group == SSD_GROUP_BASE;
    return true;
}

/* The file's name for a model key: a base-net file holds the MobileNet's own
 * Sequential, so "base_net.3.0.weight" is "3.0.weight" there (or "model.3.0.weight"). */
static const ssd_pth_tensor *find_key(const ssd_state_dict *sd, const char *key, ssd_load_mode mode,
                                      const char **used) {
    const ssd_pth_tensor *t = ssd_state_dict_find(sd, key);
    if (t || mode != SSD_LOAD_BASE_NET) {
        *used = key;
        return t;
    }
    const char *rest = key + strlen("base_net.");
    char alt[160];
    t = ssd_state_dict_find(sd, rest);
    if (t) {
        *used = rest;
        return t;
    }
    snprintf(alt, sizeof alt, "model.%s", rest);
    t = ssd_state_dict_find(sd, alt);
    *used = t ? t->name : key;
    return t;
}

/* Problems of a load, by kind, so that one line can report all of them: every size
 * mismatch, and the first few missing and unexpected keys with their counts. */
typedef struct {
    char *buf;
    size_t len, cap;
    int count;
} problem_list;

typedef struct {
    problem_list shape, missing, unexpected;
} problems;

#define LIST_NAMES 6 /* names shown per kind before "and N more" */

static void add_item(problem_list *p, const char *item, bool always) {
    p->count++;
    if (!always && p->count > LIST_NAMES) return;
    size_t n = strlen(item);
    if (p->len + n + 3 > p->cap) {
        size_t cap = (p->cap + n + 3) * 2;
        char *nb = ssd_realloc(p->buf, cap);
        if (!nb) return;
        p->buf = nb;
        p->cap = cap;
    }
    if (p->len) {
        memcpy(p->buf + p->len, ", ", 2);
        p->len += 2;
    }
    memcpy(p->buf + p->len, item, n + 1);
    p->len += n;
}

static void problem(problems *p, const char *fmt, const char *a, const char *b, const char *c) {
    char line[512];
    snprintf(line, sizeof line, fmt, a, b, c);
    if (strncmp(fmt, "missing", 7) == 0)
        add_item(&p->missing, line + 12, false);
    else if (strncmp(fmt, "unexpected", 10) == 0)
        add_item(&p->unexpected, line + 15, false);
    else
        add_item(&p->shape, line, true);
}

static int problems_count(const problems *p) {
    return p->shape.count + p->missing.count + p->unexpected.count;
}

/* "size mismatch ...; missing 3 keys: 'a', 'b', 'c'; unexpected 140 keys: 'x', ... (134 more)" */
static char *problems_text(const problems *p) {
    size_t cap = p->shape.len + p->missing.len + p->unexpected.len + 256;
    char *t = ssd_malloc(cap);
    if (!t) return NULL;
    size_t o = 0;
    t[0] = '\0';
    const problem_list *lists[2] = {&p->missing, &p->unexpected};
    const char *names[2] = {"missing", "unexpected"};
    if (p->shape.count)
        o += (size_t)snprintf(t + o, cap - o, "size mismatch (file vs model) for %s", p->shape.buf);
    for (int i = 0; i < 2; i++) {
        const problem_list *l = lists[i];
        if (!l->count) continue;
        o += (size_t)snprintf(t + o, cap - o, "%s%s %d key%s: %s", o ? "; " : "", names[i],
                              l->count, l->count == 1 ? "" : "s", l->buf ? l->buf : "");
        if (l->count > LIST_NAMES)
            o += (size_t)snprintf(t + o, cap - o, " (and %d more)", l->count - LIST_NAMES);
    }
    return t;
}

static void shape_str(char *buf, size_t n, int ndim, const int64_t *shape) {
    size_t off = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && off < n; i++)
        off += (size_t)snprintf(buf + off, n - off, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (off < n) snprintf(buf + off, n - off, "]");
}

ssd_status ssd_model_load(ssd_model *m, const char *path, ssd_load_mode mode) {
    ssd_state_dict sd;
    ssd_state_dict_init(&sd);
    SSD_TRY(ssd_pth_load(&sd, path));
    bool *used = ssd_calloc((size_t)(sd.count ? sd.count : 1), sizeof *used);
    problems pr;
    memset(&pr, 0, sizeof pr);
    ssd_status st = used ? SSD_OK : SSD_E_NOMEM;
    /* Check everything first so that one message lists every problem and a failed
     * load leaves the model untouched. */
    for (int i = 0; i < m->params.n && st == SSD_OK; i++) {
        const ssd_param *p = &m->params.p[i];
        if (!in_mode(p, mode)) continue;
        const char *fk;
        const ssd_pth_tensor *t = find_key(&sd, p->name, mode, &fk);
        if (!t) {
            problem(&pr, "missing key '%s'%s%s", fk, "", "");
            continue;
        }
        used[t - sd.t] = true;
        char a[64], b[64];
        if (p->i64) {
            if (ssd_pth_tensor_numel(t) != 1) {
                shape_str(a, sizeof a, t->ndim, t->shape);
                problem(&pr, "'%s' %s vs %s", fk, a, "[]");
            }
            continue;
        }
        const ssd_tensor *v = p->value;
        bool same = t->ndim == v->ndim;
        for (int d = 0; same && d < v->ndim; d++) same = t->shape[d] == v->shape[d];
        if (!same) {
            shape_str(a, sizeof a, t->ndim, t->shape);
            shape_str(b, sizeof b, v->ndim, v->shape);
            problem(&pr, "'%s' %s vs %s", fk, a, b);
        }
        if (t->dtype == SSD_I64 || t->dtype == SSD_I32 || t->dtype == SSD_U8)
            problem(&pr, "'%s' has dtype %s, expected floating point%s", fk,
                    ssd_dtype_name(t->dtype), "");
    }
    for (int i = 0; i < sd.count && st == SSD_OK; i++) {
        if (used[i]) continue;
        const char *k = sd.t[i].name;
        if (mode == SSD_LOAD_PRETRAINED_SSD && is_head_key(k)) continue;
        /* A base-net file may be a whole SSD or the ImageNet MobileNet with its classifier. */
        if (mode == SSD_LOAD_BASE_NET &&
            (strncmp(k, "fc.", 3) == 0 || strncmp(k, "extras.", 7) == 0 || is_head_key(k) ||
             strncmp(k, "source_layer_add_ons.", 21) == 0))
            continue;
        problem(&pr, "unexpected key '%s'%s%s", k, "", "");
    }
    if (st == SSD_OK && problems_count(&pr)) {
        char *text = problems_text(&pr);
        /* A checkpoint of another net (--pretrained-ssd, --resume, --net left at its default)
         * gives hundreds of key problems; naming the net it was written for says it all. */
        const char *other = mode == SSD_LOAD_BASE_NET ? NULL : ssd_net_guess(&sd, m->be);
        if (other && strcmp(other, m->net) != 0)
            st = ssd_error_set(SSD_E_FORMAT, "%s: holds %s weights, not %s ones: %s", path, other,
                               m->net, text ? text : "?");
        else
            st = ssd_error_set(SSD_E_FORMAT, "%s: does not fit %s with %d classes: %s", path,
                               m->net, m->num_classes, text ? text : "?");
        ssd_free(text);
    }
    for (int i = 0; i < m->params.n && st == SSD_OK; i++) {
        ssd_param *p = &m->params.p[i];
        if (!in_mode(p, mode)) continue;
        const char *fk;
        const ssd_pth_tensor *t = find_key(&sd, p->name, mode, &fk);
        if (p->i64) {
            int64_t v = 0;
            st = ssd_convert(&v, SSD_I64, t->data, t->dtype, 1);
            *p->i64 = v;
            continue;
        }
        st = ssd_tensor_set(p->value, t->data, t->dtype);
        if (st != SSD_OK) ssd_error_prefix(st, "%s: key '%s'", path, fk);
    }
    ssd_free(pr.shape.buf);
    ssd_free(pr.missing.buf);
    ssd_free(pr.unexpected.buf);
    ssd_free(used);
    ssd_state_dict_free(&sd);
    return st;
}

static ssd_status save(ssd_model *m, const char *path, bool heads) {
    ssd_state_dict sd;
    ssd_state_dict_init(&sd);
    ssd_status st = SSD_OK;
    float *buf = NULL;
    size_t cap = 0;
    for (int i = 0; i < m->params.n && st == SSD_OK; i++) {
        ssd_param *p = &m->params.p[i];
        if (!heads && is_head_key(p->name)) continue;
        if (p->i64) {
            st = ssd_state_dict_add(&sd, p->name, SSD_I64, 0, NULL, p->i64);
            continue;
        }
        size_t n = (size_t)ssd_tensor_numel(p->value);
        if (n > cap) {
            float *nb = ssd_realloc(buf, n * sizeof *buf);
            if (!nb) {
                st = SSD_E_NOMEM;
                break;
            }
            buf = nb;
            cap = n;
        }
        st = ssd_tensor_get(p->value, buf, SSD_F32);
        if (st == SSD_OK)
            st = ssd_state_dict_add(&sd, p->name, SSD_F32, p->value->ndim, p->value->shape, buf);
    }
    if (st == SSD_OK) st = ssd_pth_save(&sd, path);
    ssd_free(buf);
    ssd_state_dict_free(&sd);
    return st;
}

ssd_status ssd_model_save(ssd_model *m, const char *path) {
    return save(m, path, true);
}

ssd_status ssd_model_save_without_heads(ssd_model *m, const char *path) {
    return save(m, path, false);
}
