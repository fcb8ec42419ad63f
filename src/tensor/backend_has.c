/* Op availability across backends whose vtables grew at different times: an
 * entry left NULL (a backend written before the op existed) means "no". */
#include "tensor/backend.h"

bool ssd_backend_has(ssd_backend *be, ssd_op op, ssd_dtype dt, const void *params) {
    if (!be || !be->ops) return false;
    const ssd_backend_ops *o = be->ops;
    bool set;
    switch (op) {
    case SSD_OP_GAP:
        set = o->gap_fwd && o->gap_bwd;
        break;
    case SSD_OP_SCALE:
        set = o->scale_fwd && o->scale_bwd;
        break;
    default:
        set = true;
        break;
    }
    return set && o->supports && o->supports(be, op, dt, params);
}
