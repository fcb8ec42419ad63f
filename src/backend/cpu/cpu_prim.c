/* oneDNN glue: primitives with pre-made memory objects and a shared user
 * scratchpad, so executing one costs no allocation of ours. */
#include "backend/cpu/cpu.h"

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

static ssd_status finish(cpu_impl *c, cpu_prim *p, const char *what) {
    (void)c;
    CPU_DNNL(dnnl_primitive_create(&p->prim, p->pd), what);
    const dnnl_memory_desc_t *sp = cpu_pd_md(p, dnnl_query_scratchpad_md);
    p->scratch = sp ? dnnl_memory_desc_get_size(sp) : 0;
    c->n_prims++;
    return SSD_OK;
}

ssd_status cpu_prim_create(cpu_impl *c, cpu_prim *p, const void *op_desc,
                           dnnl_primitive_attr_t attr, const_dnnl_primitive_desc_t hint,
                           const char *what) {
    memset(p, 0, sizeof *p);
    dnnl_primitive_attr_t own = NULL;
    if (!attr) {
        CPU_DNNL(dnnl_primitive_attr_create(&own), what);
        attr = own;
    }
    dnnl_status_t s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (s == dnnl_success) s = dnnl_primitive_desc_create(&p->pd, op_desc, attr, c->eng, hint);
    if (own) dnnl_primitive_attr_destroy(own);
    if (s != dnnl_success) {
        p->pd = NULL;
        return cpu_dnnl_err(s, what);
    }
    return finish(c, p, what);
}

ssd_status cpu_prim_from_pd(cpu_impl *c, cpu_prim *p, dnnl_primitive_desc_t pd, const char *what) {
    memset(p, 0, sizeof *p);
    p->pd = pd;
    return finish(c, p, what);
}

ssd_status cpu_prim_arg(cpu_impl *c, cpu_prim *p, int arg, const dnnl_memory_desc_t *md) {
    if (p->nargs >= CPU_MAX_ARGS - 1)
        return ssd_error_set(SSD_E_BACKEND, "cpu backend: too many primitive arguments");
    CPU_DNNL(dnnl_memory_create(&p->mem[p->nargs], md, c->eng, DNNL_MEMORY_NONE), "memory");
    p->arg[p->nargs++] = arg;
    return SSD_OK;
}

ssd_status cpu_prim_arg_q(cpu_impl *c, cpu_prim *p, int arg, dnnl_query_t q) {
    const dnnl_memory_desc_t *md = cpu_pd_md(p, q);
    if (!md)
        return ssd_error_set(SSD_E_BACKEND, "cpu backend: primitive has no md for arg %d", arg);
    return cpu_prim_arg(c, p, arg, md);
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
    CPU_DNNL(dnnl_primitive_execute(p->prim, c->strm, n, args), "execute");
    CPU_DNNL(dnnl_stream_wait(c->strm), "stream wait");
    return SSD_OK;
}

void cpu_prim_destroy(cpu_prim *p) {
    if (!p) return;
    for (int i = 0; i < CPU_MAX_ARGS; i++)
        if (p->mem[i]) dnnl_memory_destroy(p->mem[i]);
    if (p->prim) dnnl_primitive_destroy(p->prim);
    if (p->pd) dnnl_primitive_desc_destroy(p->pd);
    memset(p, 0, sizeof *p);
}
