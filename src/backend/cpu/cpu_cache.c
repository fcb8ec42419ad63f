/* The primitive cache (a hash map from cpu_key to an op's entry), cached
 * reorders, and the table of reordered weight copies. */
#include "backend/cpu/cpu.h"

#include "core/mem.h"

#include <string.h>

struct cpu_entry {
    uint64_t hash;
    cpu_key *key; /* NULL = empty slot */
    void *obj;
    void (*destroy)(void *);
};

struct cpu_wcopy {
    const void *src;  /* weight tensor's data pointer */
    uint64_t version; /* its version when the copy was made */
    dnnl_memory_desc_t md;
    cpu_buf buf;
};

ssd_status cpu_buf_reserve(cpu_buf *b, size_t bytes) {
    if (b->cap >= bytes) return SSD_OK;
    void *p = ssd_aligned_alloc(bytes);
    if (!p) return SSD_E_NOMEM;
    ssd_free(b->p);
    b->p = p;
    b->cap = bytes;
    return SSD_OK;
}

void cpu_buf_free(cpu_buf *b) {
    ssd_free(b->p);
    b->p = NULL;
    b->cap = 0;
}

/* ---- keys ---- */

void cpu_key_init(cpu_key *k, int kind) {
    k->n = 0;
    cpu_key_add(k, kind);
}

void cpu_key_add(cpu_key *k, int64_t v) {
    /* Overflow only from a programming error (keys are fixed-size per op);
     * mark it so the key can never match anything rather than truncate. */
    if (k->n < CPU_KEY_MAX)
        k->v[k->n++] = v;
    else
        k->v[0] = -1;
}

/* Canonical form of a memory descriptor: only fields that define the layout,
 * so two equal descriptors give equal keys whatever their unused bytes hold. */
void cpu_key_md(cpu_key *k, const dnnl_memory_desc_t *md) {
    cpu_key_add(k, md->ndims);
    cpu_key_add(k, md->data_type);
    cpu_key_add(k, md->format_kind);
    cpu_key_add(k, md->offset0);
    for (int i = 0; i < md->ndims; i++) {
        cpu_key_add(k, md->dims[i]);
        cpu_key_add(k, md->padded_dims[i]);
    }
    if (md->format_kind == dnnl_blocked) {
        const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
        for (int i = 0; i < md->ndims; i++) cpu_key_add(k, b->strides[i]);
        cpu_key_add(k, b->inner_nblks);
        for (int i = 0; i < b->inner_nblks; i++) {
            cpu_key_add(k, b->inner_blks[i]);
            cpu_key_add(k, b->inner_idxs[i]);
        }
    }
    if (md->format_kind == dnnl_format_kind_wino) {
        const dnnl_wino_desc_t *w = &md->format_desc.wino_desc;
        int64_t v[] = {w->wino_format, w->r,        w->alpha,     w->ic,        w->oc,
                       w->ic_block,    w->oc_block, w->ic2_block, w->oc2_block, (int64_t)w->size};
        for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) cpu_key_add(k, v[i]);
    }
    cpu_key_add(k, (int64_t)md->extra.flags);
}

static uint64_t key_hash(const cpu_key *k) {
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < k->n; i++) {
        h ^= (uint64_t)k->v[i];
        h *= 1099511628211ull;
        h ^= h >> 29;
    }
    return h;
}

static bool key_eq(const cpu_key *a, const cpu_key *b) {
    return a->n == b->n && memcmp(a->v, b->v, (size_t)a->n * sizeof a->v[0]) == 0;
}

/* ---- hash map ---- */

void *cpu_cache_find(cpu_impl *c, const cpu_key *k) {
    if (!c->nslots) return NULL;
    uint64_t h = key_hash(k);
    size_t mask = c->nslots - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        cpu_entry *e = &c->slots[i];
        if (!e->key) return NULL;
        if (e->hash == h && key_eq(e->key, k)) return e->obj;
    }
}

static void place(cpu_entry *slots, size_t nslots, cpu_entry e) {
    size_t mask = nslots - 1;
    size_t i = e.hash & mask;
    while (slots[i].key) i = (i + 1) & mask;
    slots[i] = e;
}

ssd_status cpu_cache_insert(cpu_impl *c, const cpu_key *k, void *obj, void (*destroy)(void *)) {
    ssd_status st = SSD_OK;
    cpu_key *kc = NULL;
    if (2 * (c->nused + 1) > c->nslots) {
        size_t n = c->nslots ? 2 * c->nslots : 64;
        cpu_entry *s = ssd_calloc(n, sizeof *s);
        if (!s) {
            st = SSD_E_NOMEM;
            goto fail;
        }
        for (size_t i = 0; i < c->nslots; i++)
            if (c->slots[i].key) place(s, n, c->slots[i]);
        ssd_free(c->slots);
        c->slots = s;
        c->nslots = n;
    }
    kc = ssd_malloc(sizeof *kc);
    if (!kc) {
        st = SSD_E_NOMEM;
        goto fail;
    }
    *kc = *k;
    place(c->slots, c->nslots, (cpu_entry){key_hash(k), kc, obj, destroy});
    c->nused++;
    return SSD_OK;
fail:
    destroy(obj);
    return st;
}

void cpu_cache_clear(cpu_impl *c) {
    for (size_t i = 0; i < c->nslots; i++) {
        if (!c->slots[i].key) continue;
        c->slots[i].destroy(c->slots[i].obj);
        ssd_free(c->slots[i].key);
    }
    ssd_free(c->slots);
    c->slots = NULL;
    c->nslots = c->nused = 0;
}

/* ---- reorders ---- */

typedef struct {
    cpu_prim p;
} reorder_entry;

static void reorder_destroy(void *o) {
    reorder_entry *e = o;
    if (!e) return;
    cpu_prim_destroy(&e->p);
    ssd_free(e);
}

ssd_status cpu_reorder(cpu_impl *c, const dnnl_memory_desc_t *src_md, const void *src,
                       const dnnl_memory_desc_t *dst_md, void *dst) {
    cpu_key k;
    cpu_key_init(&k, CPU_K_REORDER);
    cpu_key_md(&k, src_md);
    cpu_key_md(&k, dst_md);
    reorder_entry *e = cpu_cache_find(c, &k);
    if (!e) {
        e = ssd_calloc(1, sizeof *e);
        if (!e) return SSD_E_NOMEM;
        int nthr = cpu_nthr_bytes(cpu_md_size(src_md) + cpu_md_size(dst_md));
        ssd_status st = cpu_prim_reorder(c, &e->p, src_md, dst_md, nthr);
        if (st == SSD_OK) st = cpu_prim_arg(c, &e->p, DNNL_ARG_FROM, src_md);
        if (st == SSD_OK) st = cpu_prim_arg(c, &e->p, DNNL_ARG_TO, dst_md);
        if (st != SSD_OK) {
            reorder_destroy(e);
            return st;
        }
        SSD_TRY(cpu_cache_insert(c, &k, e, reorder_destroy));
    }
    void *h[2] = {(void *)src, dst};
    return cpu_prim_exec(c, &e->p, h);
}

ssd_status cpu_input(cpu_impl *c, const ssd_tensor *t, const dnnl_memory_desc_t *t_md,
                     const dnnl_memory_desc_t *want, cpu_buf *buf, void **out) {
    dnnl_memory_desc_t own;
    if (!t_md) {
        cpu_md_of(t, &own);
        t_md = &own;
    }
    if (cpu_md_equal(t_md, want)) {
        *out = t->data;
        return SSD_OK;
    }
    SSD_TRY(cpu_buf_reserve(buf, cpu_md_size(want)));
    SSD_TRY(cpu_reorder(c, t_md, t->data, want, buf->p));
    c->n_reorders++;
    *out = buf->p;
    return SSD_OK;
}

/* ---- weight copies ---- */

typedef struct {
    const dnnl_memory_desc_t *from, *to;
} reorder_fill_ctx;

static ssd_status reorder_fill(cpu_impl *c, const ssd_tensor *w, void *dst, void *ctx) {
    const reorder_fill_ctx *r = ctx;
    return cpu_reorder(c, r->from, w->data, r->to, dst);
}

ssd_status cpu_weights(cpu_impl *c, const ssd_tensor *w, const dnnl_memory_desc_t *w_md,
                       const dnnl_memory_desc_t *want, void **out) {
    if (cpu_md_equal(w_md, want)) {
        *out = w->data;
        return SSD_OK;
    }
    reorder_fill_ctx r = {w_md, want};
    return cpu_weights_made(c, w, want, cpu_md_size(want), reorder_fill, &r, out);
}

ssd_status cpu_weights_made(cpu_impl *c, const ssd_tensor *w, const dnnl_memory_desc_t *key,
                            size_t bytes, cpu_weights_fill fill, void *ctx, void **out) {
    cpu_wcopy *e = NULL;
    for (int i = 0; i < c->nwc; i++) {
        if (c->wc[i].src == w->data && cpu_md_equal(&c->wc[i].md, key)) {
            e = &c->wc[i];
            break;
        }
    }
    if (!e) {
        if (c->nwc == c->capwc) {
            int n = c->capwc ? 2 * c->capwc : 32;
            cpu_wcopy *p = ssd_realloc(c->wc, (size_t)n * sizeof *p);
            if (!p) return SSD_E_NOMEM;
            c->wc = p;
            c->capwc = n;
        }
        e = &c->wc[c->nwc];
        memset(e, 0, sizeof *e);
        SSD_TRY(cpu_buf_reserve(&e->buf, bytes));
        e->src = w->data;
        e->md = *key;
        e->version = w->version + 1; /* forces the first fill */
        c->nwc++;
    }
    if (e->version != w->version) {
        SSD_TRY(fill(c, w, e->buf.p, ctx));
        e->version = w->version;
        c->n_weight_reorders++;
    }
    *out = e->buf.p;
    return SSD_OK;
}

void cpu_weights_forget(cpu_impl *c, const void *data) {
    for (int i = 0; i < c->nwc;) {
        if (c->wc[i].src == data) {
            cpu_buf_free(&c->wc[i].buf);
            c->wc[i] = c->wc[--c->nwc];
        } else {
            i++;
        }
    }
}

void cpu_weights_clear(cpu_impl *c) {
    for (int i = 0; i < c->nwc; i++) cpu_buf_free(&c->wc[i].buf);
    ssd_free(c->wc);
    c->wc = NULL;
    c->nwc = c->capwc = 0;
}
