/* Activation buffers shared between values whose lifetimes do not overlap.
 *
 * Every value the plan computes used to keep storage of its own, so one
 * mb1-ssd run at 300x300 wrote about 38 MB of activations to memory it had
 * not touched since the previous run. The big early maps then pushed the
 * weights of the layers after them out of the caches: the 19x19 head took
 * 0.75 ms run alone and 1.06-1.25 ms after the whole backbone, 0.94-1.11 ms
 * after only its 75x75 and later layers. Now, after the first run of a plan
 * (when every value's size in its backend layout is known), each value
 * computed by a backend kernel borrows a buffer (a tensor view) from a pool:
 * the free buffer released last, so a layer writes where a layer shortly
 * before it wrote, in cache. A value whose layout later needs more than its
 * buffer gets storage of its own again (the views' contract, tensor.h). */
#include "runtime/rt_internal.h"

#include "core/mem.h"

#include <string.h>

/* Whether v may live in a pooled buffer: computed by a kernel of the plan
 * into its own backend storage, and read only while the run lasts (not a
 * graph output) and not as conv weights (the backend keys its weight copies
 * by the storage's address). */
static bool shareable(const ssd_onnx_model *m, int v) {
    const rt_value *val = &m->v[v];
    if (v == m->input || val->is_const || val->graph_output || val->producer < 0) return false;
    if (m->n[val->producer].k == K_NONE || !val->t.data || val->t.view || val->t.be != m->be)
        return false;
    for (int j = 0; j < m->nn; j++) {
        const rt_node *r = &m->n[j];
        if (r->k == K_CONV)
            for (int a = 1; a < r->nin; a++)
                if (r->in[a] == v) return false;
    }
    return true;
}

/* Index of the last kernel that reads v (a head permute reads through its
 * dead Transpose), or def when none does. */
static int last_use(const ssd_onnx_model *m, int v, int def) {
    int last = def;
    for (int j = def + 1; j < m->nn; j++) {
        const rt_node *r = &m->n[j];
        if (r->k == K_NONE) continue;
        bool reads = r->k == K_HEAD && r->head_src == v;
        for (int a = 0; a < r->nin; a++) reads = reads || r->in[a] == v;
        if (reads) last = j;
    }
    return last;
}

/* t with its shape and no storage (a view's buffer is borrowed, not freed):
 * the next kernel that writes it allocates, unless it is pointed at a buffer. */
static void drop_storage(const ssd_onnx_model *m, ssd_tensor *t) {
    ssd_dtype dt = t->dtype;
    int nd = t->ndim;
    int64_t shape[SSD_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    ssd_tensor_deinit(t);
    ssd_tensor_init(t, m->be, dt, nd, shape);
}

typedef struct {
    size_t bytes;
    int free_after; /* the last use of the value holding it */
} slot_plan;

ssd_status rt_share(ssd_onnx_model *m) {
    if (m->shared) return SSD_OK;
    m->shared = true;
    /* device backends keep their own allocation policy */
    if (m->be->ops->device_memory) return SSD_OK;
    int *slot_of = ssd_malloc(sizeof *slot_of * (size_t)(m->nv > 0 ? m->nv : 1));
    slot_plan *sp = ssd_malloc(sizeof *sp * (size_t)(m->nv > 0 ? m->nv : 1));
    if (!slot_of || !sp) {
        ssd_free(slot_of);
        ssd_free(sp);
        return SSD_E_NOMEM;
    }
    int ns = 0;
    size_t own = 0;
    for (int v = 0; v < m->nv; v++) slot_of[v] = -1;
    /* values in the order the plan computes them: a node's outputs follow its
     * inputs, whose buffers are still taken while it runs */
    for (int i = 0; i < m->nn; i++) {
        const rt_node *n = &m->n[i];
        if (n->k == K_NONE) continue;
        for (int o = 0; o < n->nout; o++) {
            int v = n->out[o];
            if (v < 0 || m->v[v].producer != i || !shareable(m, v)) continue;
            size_t bytes = m->v[v].t.cap;
            int best = -1;
            for (int s = 0; s < ns; s++)
                if (sp[s].free_after < i && (best < 0 || sp[s].free_after > sp[best].free_after))
                    best = s; /* the free buffer released last */
            if (best < 0) {
                best = ns++;
                sp[best].bytes = 0;
            }
            if (sp[best].bytes < bytes) sp[best].bytes = bytes;
            sp[best].free_after = last_use(m, v, i);
            slot_of[v] = best;
            own += bytes;
        }
    }
    ssd_status st = SSD_OK;
    m->slots = ns ? ssd_calloc((size_t)ns, sizeof *m->slots) : NULL;
    if (ns && !m->slots) st = SSD_E_NOMEM;
    for (int s = 0; s < ns && st == SSD_OK; s++) {
        int64_t shape[1] = {(int64_t)((sp[s].bytes + sizeof(float) - 1) / sizeof(float))};
        ssd_tensor_init(&m->slots[s], m->be, SSD_F32, 1, shape);
        st = ssd_tensor_alloc(&m->slots[s]);
        m->nslots = s + 1;
    }
    size_t pooled = 0;
    for (int s = 0; s < m->nslots && st == SSD_OK; s++) pooled += m->slots[s].cap;
    for (int v = 0; v < m->nv && st == SSD_OK; v++) {
        if (slot_of[v] < 0) continue;
        ssd_tensor *t = &m->v[v].t, *b = &m->slots[slot_of[v]];
        drop_storage(m, t);
        t->data = b->data;
        t->cap = b->cap;
        t->view = true;
        m->stats.shared_values++;
    }
    if (st == SSD_OK) {
        m->stats.shared_buffers = m->nslots;
        m->stats.shared_bytes = pooled;
        m->stats.unshared_bytes = own;
    } else {
        rt_unshare(m);    /* the values get storage of their own again, */
        m->shared = true; /* and this plan does without */
    }
    ssd_free(slot_of);
    ssd_free(sp);
    return st;
}

void rt_unshare(ssd_onnx_model *m) {
    for (int v = 0; v < m->nv; v++) {
        if (m->v[v].t.view) drop_storage(m, &m->v[v].t);
    }
    for (int s = 0; s < m->nslots; s++) ssd_tensor_deinit(&m->slots[s]);
    ssd_free(m->slots);
    m->slots = NULL;
    m->nslots = 0;
    m->shared = false;
    m->stats.shared_values = m->stats.shared_buffers = 0;
    m->stats.shared_bytes = m->stats.unshared_bytes = 0;
}
