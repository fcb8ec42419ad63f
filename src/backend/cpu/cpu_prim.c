/* oneDNN glue: primitives with pre-made memory objects and a shared user
 * scratchpad, so executing one costs no allocation of ours. */
#include "backend/cpu/cpu.h"

#include <omp.h>
#include <string.h>

static const char *dnnl_status_str(dnnl_status_t s) {
    switch (s) {
    case dnnl_success:
        return "success";
    case dnnl_out_of_memory:
        return "out of memory";
    case dnnl_invalid_arguments:
        return "invalid arguments";
    case dnnl_unimplemented:
        return "unimplemented";
    case dnnl_iterator_ends:
        return "iterator ends";
    case dnnl_runtime_error:
        return "runtime error";
    case dnnl_not_required:
        return "not required";
    default:
        return "unknown error";
    }
}

ssd_status cpu_dnnl_err(dnnl_status_t s, const char *what) {
    ssd_status st = s == dnnl_out_of_memory   ? SSD_E_NOMEM
                    : s == dnnl_unimplemented ? SSD_E_UNSUPPORTED
                                              : SSD_E_BACKEND;
    return ssd_error_set(st, "cpu backend: oneDNN %s: %s", what, dnnl_status_str(s));
}

const dnnl_memory_desc_t *cpu_pd_md(const cpu_prim *p, dnnl_query_t q) {
    return dnnl_primitive_desc_query_md(p->pd, q, 0);
}

/* Runs the calling thread's next parallel regions on nthr threads (0: all);
 * returns what to restore. oneDNN reads the OpenMP thread count both when it
 * creates a primitive and when it runs it, so both are wrapped alike. */
static int threads_push(int nthr) {
    int prev = omp_get_max_threads();
    if (nthr && nthr != prev) omp_set_num_threads(nthr);
    return prev;
}

static void threads_pop(int nthr, int prev) {
    if (nthr && nthr != prev) omp_set_num_threads(prev);
}

static ssd_status finish(cpu_impl *c, cpu_prim *p, const char *what) {
    int prev = threads_push(p->nthr);
    dnnl_status_t s = dnnl_primitive_create(&p->prim, p->pd);
    threads_pop(p->nthr, prev);
    if (s != dnnl_success) return cpu_dnnl_err(s, what);
    const dnnl_memory_desc_t *sp = cpu_pd_md(p, dnnl_query_scratchpad_md);
    p->scratch = sp ? dnnl_memory_desc_get_size(sp) : 0;
    c->n_prims++;
    return SSD_OK;
}

ssd_status cpu_prim_create(cpu_impl *c, cpu_prim *p, const void *op_desc,
                           dnnl_primitive_attr_t attr, const_dnnl_primitive_desc_t hint, int nthr,
                           const char *what) {
    memset(p, 0, sizeof *p);
    p->nthr = nthr;
    dnnl_primitive_attr_t own = NULL;
    if (!attr) {
        CPU_DNNL(dnnl_primitive_attr_create(&own), what);
        attr = own;
    }
    dnnl_status_t s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (s == dnnl_success) {
        int prev = threads_push(nthr);
        s = dnnl_primitive_desc_create(&p->pd, op_desc, attr, c->eng, hint);
        threads_pop(nthr, prev);
    }
    if (own) dnnl_primitive_attr_destroy(own);
    if (s != dnnl_success) {
        p->pd = NULL;
        return cpu_dnnl_err(s, what);
    }
    return finish(c, p, what);
}

static ssd_status user_scratchpad_attr(dnnl_primitive_attr_t *attr, const char *what) {
    CPU_DNNL(dnnl_primitive_attr_create(attr), what);
    dnnl_status_t s = dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user);
    if (s != dnnl_success) {
        dnnl_primitive_attr_destroy(*attr);
        return cpu_dnnl_err(s, what);
    }
    return SSD_OK;
}

ssd_status cpu_prim_reorder(cpu_impl *c, cpu_prim *p, const dnnl_memory_desc_t *src,
                            const dnnl_memory_desc_t *dst, int nthr) {
    memset(p, 0, sizeof *p);
    p->nthr = nthr;
    dnnl_primitive_attr_t attr;
    SSD_TRY(user_scratchpad_attr(&attr, "reorder"));
    int prev = threads_push(nthr);
    dnnl_status_t s = dnnl_reorder_primitive_desc_create(&p->pd, src, c->eng, dst, c->eng, attr);
    threads_pop(nthr, prev);
    dnnl_primitive_attr_destroy(attr);
    if (s != dnnl_success) {
        p->pd = NULL;
        return cpu_dnnl_err(s, "reorder");
    }
    return finish(c, p, "reorder");
}

ssd_status cpu_prim_concat(cpu_impl *c, cpu_prim *p, int n, int axis,
                           const dnnl_memory_desc_t *srcs, int nthr) {
    memset(p, 0, sizeof *p);
    p->nthr = nthr;
    dnnl_primitive_attr_t attr;
    SSD_TRY(user_scratchpad_attr(&attr, "concat"));
    int prev = threads_push(nthr);
    dnnl_status_t s = dnnl_concat_primitive_desc_create(&p->pd, NULL, n, axis, srcs, attr, c->eng);
    threads_pop(nthr, prev);
    dnnl_primitive_attr_destroy(attr);
    if (s != dnnl_success) {
        p->pd = NULL;
        return cpu_dnnl_err(s, "concat");
    }
    return finish(c, p, "concat");
}

ssd_status cpu_prim_arg(cpu_impl *c, cpu_prim *p, int arg, const dnnl_memory_desc_t *md) {
    if (p->nargs >= CPU_MAX_ARGS - 1)
        return ssd_error_set(SSD_E_BACKEND, "cpu backend: too many primitive arguments");
    CPU_DNNL(dnnl_memory_create(&p->mem[p->nargs], md, c->eng, DNNL_MEMORY_NONE), "memory");
    p->arg[p->nargs++] = arg;
    return SSD_OK;
}

ssd_status cpu_prim_exec(cpu_impl *c, cpu_prim *p, void *const *handles) {
    dnnl_exec_arg_t args[CPU_MAX_ARGS];
    int n = p->nargs;
    for (int i = 0; i < n; i++) {
        CPU_DNNL(dnnl_memory_set_data_handle_v2(p->mem[i], handles[i], c->strm), "set handle");
        args[i].arg = p->arg[i];
        args[i].memory = p->mem[i];
    }
    if (p->scratch) {
        SSD_TRY(cpu_buf_reserve(&c->scratch, p->scratch));
        if (!p->mem[CPU_MAX_ARGS - 1]) {
            const dnnl_memory_desc_t *sp = cpu_pd_md(p, dnnl_query_scratchpad_md);
            CPU_DNNL(dnnl_memory_create(&p->mem[CPU_MAX_ARGS - 1], sp, c->eng, DNNL_MEMORY_NONE),
                     "scratchpad memory");
        }
        CPU_DNNL(dnnl_memory_set_data_handle_v2(p->mem[CPU_MAX_ARGS - 1], c->scratch.p, c->strm),
                 "set scratchpad");
        args[n].arg = DNNL_ARG_SCRATCHPAD;
        args[n].memory = p->mem[CPU_MAX_ARGS - 1];
        n++;
    }
    int prev = threads_push(p->nthr);
    dnnl_status_t s = dnnl_primitive_execute(p->prim, c->strm, n, args);
    if (s == dnnl_success) s = dnnl_stream_wait(c->strm);
    threads_pop(p->nthr, prev);
    return s == dnnl_success ? SSD_OK : cpu_dnnl_err(s, "execute");
}

void cpu_prim_destroy(cpu_prim *p) {
    if (!p) return;
    for (int i = 0; i < CPU_MAX_ARGS; i++)
        if (p->mem[i]) dnnl_memory_destroy(p->mem[i]);
    if (p->prim) dnnl_primitive_destroy(p->prim);
    if (p->pd) dnnl_primitive_desc_destroy(p->pd);
    memset(p, 0, sizeof *p);
}
