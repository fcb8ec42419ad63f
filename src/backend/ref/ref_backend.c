/* Placeholder until the reference ops land. */
#include "backend/ref/ref.h"

ssd_status ssd_backend_ref_create(ssd_backend **out) {
    *out = NULL;
    return ssd_error_set(SSD_E_UNSUPPORTED, "ref backend not built yet");
}
