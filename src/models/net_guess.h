/* Which net a state_dict was written for, to make a cross-net load error say so. */
#ifndef SSD_MODELS_NET_GUESS_H
#define SSD_MODELS_NET_GUESS_H

#include "formats/pth.h"
#include "tensor/backend.h"

/* The supported net (default width) whose keys and shapes, headers aside, are exactly
 * those of sd, or NULL. Builds each candidate once on be, so it is for error paths only;
 * it leaves the thread's error message as it found it. */
const char *ssd_net_guess(const ssd_state_dict *sd, ssd_backend *be);

#endif
