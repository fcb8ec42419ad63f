/* Pieces shared by the .pth reader and writer; not part of the public API. */
#ifndef SSD_FORMATS_PTH_INTERNAL_H
#define SSD_FORMATS_PTH_INTERNAL_H

#include "formats/pth.h"

#include <stddef.h>

/* Appends a tensor whose name and data (ssd_malloc'd) the state dict takes over;
 * on failure the caller still owns them. No duplicate check. */
ssd_status pth_sd_append_owned(ssd_state_dict *sd, char *name, ssd_dtype dt, int ndim,
                               const int64_t *shape, void *data);

/* Copies s[0..n) into buf (cap bytes) for an error message: control bytes become
 * '?' so that the message stays on one line, long names are cut with "...". */
const char *pth_printable(char *buf, size_t cap, const char *s, size_t n);

#endif
