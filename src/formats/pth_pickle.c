#include "formats/pth_pickle.h"

#include "core/mem.h"
#include "formats/pth_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- arena -------------------------------------------------------------------------------- */

struct pk_chunk {
    pk_chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

enum { CHUNK_BYTES = 64 * 1024 };

static void *arena_alloc(pk_ctx *c, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (n > c->arena_limit - c->arena_used) {
        c->over_limit = 1;
        return NULL;
    }
    c->arena_used += n;
    pk_chunk *ch = c->chunks;
    if (!ch || ch->cap - ch->used < n) {
        size_t cap = n > CHUNK_BYTES ? n : CHUNK_BYTES;
        ch = ssd_malloc(sizeof *ch + cap);
        if (!ch) return NULL;
        ch->used = 0;
        ch->cap = cap;
        ch->next = c->chunks;
        c->chunks = ch;
    }
    void *p = ch->data + ch->used;
    ch->used += n;
    memset(p, 0, n);
    return p;
}

void pk_init(pk_ctx *c, const char *file, size_t arena_limit) {
    memset(c, 0, sizeof *c);
    c->file = file;
    c->arena_limit = arena_limit;
}

void pk_free(pk_ctx *c) {
    if (!c) return;
    pk_chunk *ch = c->chunks;
    while (ch) {
        pk_chunk *next = ch->next;
        ssd_free(ch);
        ch = next;
    }
    ssd_free(c->storages);
    memset(c, 0, sizeof *c);
}

/* ---- helpers used by callers ---------------------------------------------------------------- */

int pk_str_eq(pk_str a, const char *s) {
    size_t n = strlen(s);
    return a.n == n && memcmp(a.s, s, n) == 0;
}

pk_obj *pk_dict_get(const pk_obj *dict, const char *key) {
    if (!dict || dict->kind != PK_DICT) return NULL;
    for (size_t i = dict->u.seq.n; i >= 2; i -= 2) {
        const pk_obj *k = dict->u.seq.v[i - 2];
        if (k->kind == PK_STR && pk_str_eq(k->u.s, key)) return dict->u.seq.v[i - 1];
    }
    return NULL;
}

const char *pk_kind_name(pk_kind k) {
    static const char *names[] = {"None",  "bool", "int",  "int",    "float",   "str",   "bytes",
                                  "tuple", "list", "dict", "global", "storage", "tensor"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

/* ---- the machine ---------------------------------------------------------------------------- */

typedef struct {
    pk_ctx *c;
    const uint8_t *d;
    size_t len, p, op_at;
    const char *what;
    pk_obj **stack;
    size_t sn, scap;
    size_t *marks;
    size_t mn, mcap;
    pk_obj **memo;
    size_t memo_cap, memo_count;
} vm;

__attribute__((format(printf, 2, 3))) static ssd_status bad(vm *m, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ssd_error_set(SSD_E_FORMAT, "%s: %s: byte %zu: %s", m->c->file, m->what, m->op_at, msg);
}

static ssd_status nomem(vm *m) {
    if (m->c->over_limit) return bad(m, "pickle builds implausibly large objects");
    return ssd_error_prefix(SSD_E_NOMEM, "%s: %s", m->c->file, m->what);
}

static pk_obj *new_obj(vm *m, pk_kind kind) {
    pk_obj *o = arena_alloc(m->c, sizeof *o);
    if (o) o->kind = kind;
    return o;
}

static ssd_status push(vm *m, pk_obj *o) {
    if (!o) return nomem(m);
    if (m->sn == m->scap) {
        size_t cap = m->scap ? m->scap * 2 : 64;
        pk_obj **s = ssd_realloc(m->stack, cap * sizeof *s);
        if (!s) return nomem(m);
        m->stack = s;
        m->scap = cap;
    }
    m->stack[m->sn++] = o;
    return SSD_OK;
}

static ssd_status pop(vm *m, pk_obj **o) {
    size_t floor = m->mn ? m->marks[m->mn - 1] : 0;
    if (m->sn <= floor) return bad(m, "stack underflow");
    *o = m->stack[--m->sn];
    return SSD_OK;
}

static ssd_status top(vm *m, pk_obj **o) {
    size_t floor = m->mn ? m->marks[m->mn - 1] : 0;
    if (m->sn <= floor) return bad(m, "stack underflow");
    *o = m->stack[m->sn - 1];
    return SSD_OK;
}

static ssd_status push_mark(vm *m) {
    if (m->mn == m->mcap) {
        size_t cap = m->mcap ? m->mcap * 2 : 16;
        size_t *s = ssd_realloc(m->marks, cap * sizeof *s);
        if (!s) return nomem(m);
        m->marks = s;
        m->mcap = cap;
    }
    m->marks[m->mn++] = m->sn;
    return SSD_OK;
}

static ssd_status pop_mark(vm *m, size_t *k) {
    if (!m->mn) return bad(m, "no MARK on the stack");
    *k = m->marks[--m->mn];
    return SSD_OK;
}

static ssd_status need(vm *m, size_t n) {
    if (n > m->len - m->p) return bad(m, "truncated (needs %zu more bytes)", n);
    return SSD_OK;
}

static uint64_t rd_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static ssd_status seq_reserve(vm *m, pk_obj *o, size_t extra) {
    if (o->u.seq.cap - o->u.seq.n >= extra) return SSD_OK;
    size_t want = o->u.seq.n + extra, cap = o->u.seq.cap ? o->u.seq.cap * 2 : 4;
    if (cap < want) cap = want;
    if (cap > SIZE_MAX / sizeof(pk_obj *)) return nomem(m);
    pk_obj **v = arena_alloc(m->c, cap * sizeof *v);
    if (!v) return nomem(m);
    if (o->u.seq.n) memcpy(v, o->u.seq.v, o->u.seq.n * sizeof *v);
    o->u.seq.v = v;
    o->u.seq.cap = cap;
    return SSD_OK;
}

/* Moves stack[k..sn) into a fresh tuple/list/dict. */
static ssd_status collect(vm *m, pk_kind kind, size_t k, pk_obj **out) {
    size_t n = m->sn - k;
    if (kind == PK_DICT && n % 2) return bad(m, "odd number of items for a dict");
    pk_obj *o = new_obj(m, kind);
    if (!o) return nomem(m);
    if (n) {
        SSD_TRY(seq_reserve(m, o, n));
        memcpy(o->u.seq.v, m->stack + k, n * sizeof(pk_obj *));
        o->u.seq.n = n;
    }
    m->sn = k;
    *out = o;
    return SSD_OK;
}

static ssd_status extend(vm *m, pk_obj *o, pk_obj **items, size_t n) {
    if (!n) return SSD_OK; /* v may still be NULL */
    SSD_TRY(seq_reserve(m, o, n));
    memcpy(o->u.seq.v + o->u.seq.n, items, n * sizeof(pk_obj *));
    o->u.seq.n += n;
    return SSD_OK;
}

static ssd_status memo_put(vm *m, uint64_t idx) {
    pk_obj *o;
    SSD_TRY(top(m, &o));
    /* Picklers number memo entries densely, so an index beyond the pickle's
     * length is garbage; refusing it keeps the memo linear in the input. */
    if (idx > m->len) return bad(m, "memo index %llu out of range", (unsigned long long)idx);
    if (idx >= m->memo_cap) {
        size_t cap = m->memo_cap ? m->memo_cap : 64;
        while (cap <= idx) cap *= 2;
        pk_obj **v = ssd_realloc(m->memo, cap * sizeof *v);
        if (!v) return nomem(m);
        memset(v + m->memo_cap, 0, (cap - m->memo_cap) * sizeof *v);
        m->memo = v;
        m->memo_cap = cap;
    }
    if (!m->memo[idx]) m->memo_count++;
    m->memo[idx] = o;
    return SSD_OK;
}

static ssd_status memo_get(vm *m, uint64_t idx) {
    if (idx >= m->memo_cap || !m->memo[idx])
        return bad(m, "memo index %llu not set", (unsigned long long)idx);
    return push(m, m->memo[idx]);
}

static ssd_status push_str(vm *m, pk_kind kind, uint64_t n) {
    if (n > m->len - m->p) return bad(m, "truncated string (%llu bytes)", (unsigned long long)n);
    pk_obj *o = new_obj(m, kind);
    if (!o) return nomem(m);
    o->u.s.s = (const char *)m->d + m->p;
    o->u.s.n = (size_t)n;
    m->p += (size_t)n;
    return push(m, o);
}

static ssd_status push_int(vm *m, int64_t v) {
    pk_obj *o = new_obj(m, PK_INT);
    if (!o) return nomem(m);
    o->u.i = v;
    return push(m, o);
}

static ssd_status push_long(vm *m, uint64_t n) {
    if (n > m->len - m->p) return bad(m, "truncated long (%llu bytes)", (unsigned long long)n);
    const uint8_t *b = m->d + m->p;
    m->p += (size_t)n;
    if (n > 8) {
        pk_obj *o = new_obj(m, PK_BIGINT);
        if (!o) return nomem(m);
        o->u.s.s = (const char *)b;
        o->u.s.n = (size_t)n;
        return push(m, o);
    }
    uint64_t v = rd_le(b, (int)n);
    if (n > 0 && n < 8 && (b[n - 1] & 0x80)) v |= ~(uint64_t)0 << (8 * n); /* sign-extend */
    return push_int(m, (int64_t)v);
}

/* ---- globals, REDUCE, persistent ids ------------------------------------------------------- */

static int storage_dtype(pk_str name, ssd_dtype *dt) {
    static const struct {
        const char *name;
        ssd_dtype dt;
    } map[] = {{"FloatStorage", SSD_F32},     {"DoubleStorage", SSD_F64}, {"HalfStorage", SSD_F16},
               {"BFloat16Storage", SSD_BF16}, {"LongStorage", SSD_I64},   {"IntStorage", SSD_I32},
               {"ByteStorage", SSD_U8}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (pk_str_eq(name, map[i].name)) {
            *dt = map[i].dt;
            return 1;
        }
    return 0;
}

static ssd_status push_global(vm *m, pk_str mod, pk_str name) {
    pk_obj *o = new_obj(m, PK_GLOBAL);
    if (!o) return nomem(m);
    if (pk_str_eq(mod, "collections") && pk_str_eq(name, "OrderedDict")) {
        o->u.g.which = PK_G_ORDERED_DICT;
    } else if (pk_str_eq(mod, "torch._utils") && pk_str_eq(name, "_rebuild_tensor_v2")) {
        o->u.g.which = PK_G_REBUILD_TENSOR_V2;
    } else if (pk_str_eq(mod, "torch._utils") && pk_str_eq(name, "_rebuild_tensor")) {
        o->u.g.which = PK_G_REBUILD_TENSOR;
    } else if (pk_str_eq(mod, "torch._utils") && pk_str_eq(name, "_rebuild_parameter")) {
        o->u.g.which = PK_G_REBUILD_PARAMETER;
    } else if (pk_str_eq(mod, "torch._utils") && pk_str_eq(name, "_rebuild_parameter_with_state")) {
        o->u.g.which = PK_G_REBUILD_PARAMETER_WITH_STATE;
    } else if ((pk_str_eq(mod, "torch") || pk_str_eq(mod, "torch.cuda")) &&
               storage_dtype(name, &o->u.g.dtype)) {
        o->u.g.which = PK_G_STORAGE;
    } else {
        char a[64], b[64];
        return bad(m, "unsupported global '%s.%s'", pth_printable(a, sizeof a, mod.s, mod.n),
                   pth_printable(b, sizeof b, name.s, name.n));
    }
    return push(m, o);
}

static int is_int(const pk_obj *o) {
    return o->kind == PK_INT || o->kind == PK_BOOL;
}

static ssd_status int_tuple(vm *m, const pk_obj *o, const char *what, int64_t *v, int *n) {
    if (o->kind != PK_TUPLE)
        return bad(m, "tensor %s is a %s, not a tuple", what, pk_kind_name(o->kind));
    if (o->u.seq.n > SSD_MAX_DIMS)
        return bad(m, "tensor with %zu dimensions (at most %d)", o->u.seq.n, SSD_MAX_DIMS);
    for (size_t i = 0; i < o->u.seq.n; i++) {
        if (o->u.seq.v[i]->kind != PK_INT) return bad(m, "tensor %s holds a non-int", what);
        v[i] = o->u.seq.v[i]->u.i;
    }
    *n = (int)o->u.seq.n;
    return SSD_OK;
}

static ssd_status rebuild_tensor(vm *m, pk_obj **a, size_t n, pk_obj **out) {
    if (a[0]->kind != PK_STORAGE) return bad(m, "tensor storage is a %s", pk_kind_name(a[0]->kind));
    if (a[1]->kind != PK_INT) return bad(m, "tensor storage offset is not an int");
    pk_tensor *t = arena_alloc(m->c, sizeof *t);
    pk_obj *o = new_obj(m, PK_TENSOR);
    if (!t || !o) return nomem(m);
    t->storage = a[0]->u.st;
    t->offset = a[1]->u.i;
    int ns, nt;
    SSD_TRY(int_tuple(m, a[2], "size", t->size, &ns));
    SSD_TRY(int_tuple(m, a[3], "stride", t->stride, &nt));
    if (ns != nt) return bad(m, "tensor size and stride differ in length");
    t->ndim = ns;
    if (n > 4 && !is_int(a[4])) return bad(m, "tensor requires_grad is not a bool");
    o->u.t = t;
    *out = o;
    return SSD_OK;
}

static ssd_status reduce(vm *m) {
    pk_obj *args = NULL, *fn = NULL, *res = NULL;
    SSD_TRY(pop(m, &args));
    SSD_TRY(pop(m, &fn));
    if (fn->kind != PK_GLOBAL) return bad(m, "REDUCE calls a %s", pk_kind_name(fn->kind));
    if (args->kind != PK_TUPLE) return bad(m, "REDUCE arguments are not a tuple");
    pk_obj **a = args->u.seq.v;
    size_t n = args->u.seq.n;
    switch (fn->u.g.which) {
    case PK_G_ORDERED_DICT:
        res = new_obj(m, PK_DICT);
        if (!res) return nomem(m);
        if (n == 0) break;
        /* Python 2 pickled an OrderedDict as OrderedDict([[k, v], ...]). */
        if (n != 1 || (a[0]->kind != PK_LIST && a[0]->kind != PK_TUPLE))
            return bad(m, "OrderedDict called with unexpected arguments");
        for (size_t i = 0; i < a[0]->u.seq.n; i++) {
            pk_obj *kv = a[0]->u.seq.v[i];
            if ((kv->kind != PK_LIST && kv->kind != PK_TUPLE) || kv->u.seq.n != 2)
                return bad(m, "OrderedDict item is not a pair");
            SSD_TRY(extend(m, res, kv->u.seq.v, 2));
        }
        break;
    case PK_G_REBUILD_TENSOR_V2:
        if (n != 6 && n != 7) return bad(m, "_rebuild_tensor_v2 with %zu arguments", n);
        SSD_TRY(rebuild_tensor(m, a, n, &res));
        break;
    case PK_G_REBUILD_TENSOR:
        if (n != 4) return bad(m, "_rebuild_tensor with %zu arguments", n);
        SSD_TRY(rebuild_tensor(m, a, n, &res));
        break;
    case PK_G_REBUILD_PARAMETER:
    case PK_G_REBUILD_PARAMETER_WITH_STATE:
        if (n != (fn->u.g.which == PK_G_REBUILD_PARAMETER ? 3u : 4u) || a[0]->kind != PK_TENSOR)
            return bad(m, "_rebuild_parameter with unexpected arguments");
        res = a[0];
        break;
    case PK_G_STORAGE:
        return bad(m, "a storage class is called");
    }
    return push(m, res);
}

static ssd_status persistent_load(vm *m) {
    pk_obj *pid = NULL;
    SSD_TRY(pop(m, &pid));
    if (pid->kind != PK_TUPLE || pid->u.seq.n < 1)
        return bad(m, "persistent id is a %s", pk_kind_name(pid->kind));
    pk_obj **a = pid->u.seq.v;
    size_t n = pid->u.seq.n;
    if (a[0]->kind != PK_STR) return bad(m, "persistent id tag is not a str");
    if (!pk_str_eq(a[0]->u.s, "storage")) {
        char b[64];
        return bad(m, "unsupported persistent id '%s' (only tensors are supported)",
                   pth_printable(b, sizeof b, a[0]->u.s.s, a[0]->u.s.n));
    }
    if (n != 5 && n != 6) return bad(m, "storage id with %zu fields", n);
    if (a[1]->kind != PK_GLOBAL || a[1]->u.g.which != PK_G_STORAGE)
        return bad(m, "storage type is not a torch storage class");
    if (a[2]->kind != PK_STR) return bad(m, "storage key is not a str");
    if (a[3]->kind != PK_STR) return bad(m, "storage location is not a str");
    if (a[4]->kind != PK_INT || a[4]->u.i < 0) return bad(m, "storage size is not a count");
    pk_storage *s = arena_alloc(m->c, sizeof *s);
    if (!s) return nomem(m);
    s->key = a[2]->u.s;
    s->dtype = a[1]->u.g.dtype;
    s->numel = a[4]->u.i;
    s->view_numel = -1;
    if (n == 6 && a[5]->kind != PK_NONE) {
        /* Pre-0.4 storage views: (view_key, offset, size) into the root storage. */
        pk_obj *v = a[5];
        if (v->kind != PK_TUPLE || v->u.seq.n != 3 || v->u.seq.v[1]->kind != PK_INT ||
            v->u.seq.v[2]->kind != PK_INT || v->u.seq.v[1]->u.i < 0 || v->u.seq.v[2]->u.i < 0)
            return bad(m, "malformed storage view");
        s->view_offset = v->u.seq.v[1]->u.i;
        s->view_numel = v->u.seq.v[2]->u.i;
    }
    pk_ctx *c = m->c;
    if (c->nstorages == c->cap_storages) {
        size_t cap = c->cap_storages ? c->cap_storages * 2 : 64;
        pk_storage **v = ssd_realloc(c->storages, cap * sizeof *v);
        if (!v) return nomem(m);
        c->storages = v;
        c->cap_storages = cap;
    }
    c->storages[c->nstorages++] = s;
    pk_obj *o = new_obj(m, PK_STORAGE);
    if (!o) return nomem(m);
    o->u.st = s;
    return push(m, o);
}

/* ---- the loop ------------------------------------------------------------------------------- */

static ssd_status read_line(vm *m, pk_str *s) {
    const uint8_t *nl = memchr(m->d + m->p, '\n', m->len - m->p);
    if (!nl) return bad(m, "unterminated GLOBAL");
    s->s = (const char *)m->d + m->p;
    s->n = (size_t)(nl - (m->d + m->p));
    m->p += s->n + 1;
    return SSD_OK;
}

static ssd_status step(vm *m, int *done, pk_obj **out) {
    pk_obj *a = NULL, *b = NULL, *o = NULL;
    size_t k = 0;
    SSD_TRY(need(m, 1));
    m->op_at = m->p;
    uint8_t op = m->d[m->p++];
    switch (op) {
    case 0x80: /* PROTO */
        SSD_TRY(need(m, 1));
        if (m->d[m->p] > 5) return bad(m, "unsupported pickle protocol %d", m->d[m->p]);
        m->p++;
        return SSD_OK;
    case 0x95: /* FRAME: framing is only a read-ahead hint */
        SSD_TRY(need(m, 8));
        m->p += 8;
        return SSD_OK;
    case '.': /* STOP */
        SSD_TRY(top(m, out));
        *done = 1;
        return SSD_OK;
    case '(':
        return push_mark(m);
    case '0': /* POP */
        if (m->mn && m->sn == m->marks[m->mn - 1]) return pop_mark(m, &k);
        return pop(m, &a);
    case '1': /* POP_MARK */
        SSD_TRY(pop_mark(m, &k));
        m->sn = k;
        return SSD_OK;
    case '2': /* DUP */
        SSD_TRY(top(m, &a));
        return push(m, a);
    case 'N':
        return push(m, new_obj(m, PK_NONE));
    case 0x88: /* NEWTRUE */
    case 0x89: /* NEWFALSE */
        o = new_obj(m, PK_BOOL);
        if (o) o->u.i = op == 0x88;
        return push(m, o);
    case 'K': /* BININT1 */
        SSD_TRY(need(m, 1));
        m->p += 1;
        return push_int(m, m->d[m->p - 1]);
    case 'M': /* BININT2 */
        SSD_TRY(need(m, 2));
        m->p += 2;
        return push_int(m, (int64_t)rd_le(m->d + m->p - 2, 2));
    case 'J': /* BININT */
        SSD_TRY(need(m, 4));
        m->p += 4;
        return push_int(m, (int32_t)(uint32_t)rd_le(m->d + m->p - 4, 4));
    case 0x8a: /* LONG1 */
        SSD_TRY(need(m, 1));
        m->p += 1;
        return push_long(m, m->d[m->p - 1]);
    case 0x8b: /* LONG4 */
        SSD_TRY(need(m, 4));
        m->p += 4;
        if (m->d[m->p - 1] & 0x80) return bad(m, "negative LONG4 length");
        return push_long(m, rd_le(m->d + m->p - 4, 4));
    case 'G': { /* BINFLOAT, big-endian */
        SSD_TRY(need(m, 8));
        uint64_t bits = 0;
        for (int i = 0; i < 8; i++) bits = bits << 8 | m->d[m->p + i];
        m->p += 8;
        o = new_obj(m, PK_FLOAT);
        if (o) memcpy(&o->u.f, &bits, sizeof bits);
        return push(m, o);
    }
    case 'X': /* BINUNICODE */
    case 'B': /* BINBYTES */
        SSD_TRY(need(m, 4));
        m->p += 4;
        return push_str(m, op == 'X' ? PK_STR : PK_BYTES, rd_le(m->d + m->p - 4, 4));
    case 'T': /* BINSTRING (Python 2 str) */
        SSD_TRY(need(m, 4));
        m->p += 4;
        if (m->d[m->p - 1] & 0x80) return bad(m, "negative BINSTRING length");
        return push_str(m, PK_STR, rd_le(m->d + m->p - 4, 4));
    case 0x8c: /* SHORT_BINUNICODE */
    case 'U':  /* SHORT_BINSTRING */
    case 'C':  /* SHORT_BINBYTES */
        SSD_TRY(need(m, 1));
        m->p += 1;
        return push_str(m, op == 'C' ? PK_BYTES : PK_STR, m->d[m->p - 1]);
    case 0x8d: /* BINUNICODE8 */
    case 0x8e: /* BINBYTES8 */
        SSD_TRY(need(m, 8));
        m->p += 8;
        return push_str(m, op == 0x8d ? PK_STR : PK_BYTES, rd_le(m->d + m->p - 8, 8));
    case ')':
        return push(m, new_obj(m, PK_TUPLE));
    case ']':
        return push(m, new_obj(m, PK_LIST));
    case '}':
        return push(m, new_obj(m, PK_DICT));
    case 't': /* TUPLE */
    case 'l': /* LIST */
    case 'd': /* DICT */
        SSD_TRY(pop_mark(m, &k));
        SSD_TRY(collect(m, op == 't' ? PK_TUPLE : op == 'l' ? PK_LIST : PK_DICT, k, &o));
        return push(m, o);
    case 0x85: /* TUPLE1..3 */
    case 0x86:
    case 0x87: {
        size_t n = (size_t)(op - 0x84), floor = m->mn ? m->marks[m->mn - 1] : 0;
        if (m->sn - floor < n) return bad(m, "stack underflow");
        SSD_TRY(collect(m, PK_TUPLE, m->sn - n, &o));
        return push(m, o);
    }
    case 'a': /* APPEND */
        SSD_TRY(pop(m, &a));
        SSD_TRY(top(m, &o));
        if (o->kind != PK_LIST) return bad(m, "APPEND to a %s", pk_kind_name(o->kind));
        return extend(m, o, &a, 1);
    case 'e': /* APPENDS */
    case 'u': /* SETITEMS */
        SSD_TRY(pop_mark(m, &k));
        if (k == 0 || (m->mn && m->marks[m->mn - 1] >= k)) return bad(m, "stack underflow");
        o = m->stack[k - 1];
        if (o->kind != (op == 'e' ? PK_LIST : PK_DICT))
            return bad(m, "%s on a %s", op == 'e' ? "APPENDS" : "SETITEMS", pk_kind_name(o->kind));
        if (op == 'u' && (m->sn - k) % 2) return bad(m, "odd number of items for SETITEMS");
        SSD_TRY(extend(m, o, m->stack + k, m->sn - k));
        m->sn = k;
        return SSD_OK;
    case 's': /* SETITEM */
        SSD_TRY(pop(m, &b));
        SSD_TRY(pop(m, &a));
        SSD_TRY(top(m, &o));
        if (o->kind != PK_DICT) return bad(m, "SETITEM on a %s", pk_kind_name(o->kind));
        SSD_TRY(extend(m, o, &a, 1));
        return extend(m, o, &b, 1);
    case 'c': { /* GLOBAL */
        pk_str mod, name;
        SSD_TRY(read_line(m, &mod));
        SSD_TRY(read_line(m, &name));
        return push_global(m, mod, name);
    }
    case 0x93: /* STACK_GLOBAL */
        SSD_TRY(pop(m, &b));
        SSD_TRY(pop(m, &a));
        if (a->kind != PK_STR || b->kind != PK_STR) return bad(m, "STACK_GLOBAL needs two strs");
        return push_global(m, a->u.s, b->u.s);
    case 'R':
        return reduce(m);
    case 'b': /* BUILD */
        SSD_TRY(pop(m, &a));
        SSD_TRY(top(m, &o));
        /* OrderedDict state is its _metadata; tensors' state is Python attributes. */
        if (o->kind != PK_DICT && o->kind != PK_TENSOR)
            return bad(m, "BUILD on a %s", pk_kind_name(o->kind));
        return SSD_OK;
    case 'Q':
        return persistent_load(m);
    case 'q': /* BINPUT */
        SSD_TRY(need(m, 1));
        m->p += 1;
        return memo_put(m, m->d[m->p - 1]);
    case 'r': /* LONG_BINPUT */
        SSD_TRY(need(m, 4));
        m->p += 4;
        return memo_put(m, rd_le(m->d + m->p - 4, 4));
    case 0x94:
        return memo_put(m, m->memo_count); /* MEMOIZE */
    case 'h':                              /* BINGET */
        SSD_TRY(need(m, 1));
        m->p += 1;
        return memo_get(m, m->d[m->p - 1]);
    case 'j': /* LONG_BINGET */
        SSD_TRY(need(m, 4));
        m->p += 4;
        return memo_get(m, rd_le(m->d + m->p - 4, 4));
    default:
        if (op >= 0x20 && op < 0x7f) return bad(m, "unsupported pickle opcode '%c'", op);
        return bad(m, "unsupported pickle opcode 0x%02x", op);
    }
}

ssd_status pk_load(pk_ctx *c, const uint8_t *data, size_t len, size_t *pos, const char *what,
                   pk_obj **out) {
    vm m = {.c = c, .d = data, .len = len, .p = *pos, .op_at = *pos, .what = what};
    ssd_status st = SSD_OK;
    int done = 0;
    *out = NULL;
    while (!done && st == SSD_OK) st = step(&m, &done, out);
    if (st == SSD_OK)
        *pos = m.p;
    else
        *out = NULL;
    ssd_free(m.stack);
    ssd_free(m.marks);
    ssd_free(m.memo);
    return st;
}
