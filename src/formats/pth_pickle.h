/* The subset of Python's pickle machine that torch.save output needs
 * (protocols 2..5): containers, scalars, strings, memo, GLOBAL/REDUCE for an
 * allowlist of callables (OrderedDict, the torch tensor and parameter
 * rebuilders, the typed storage classes) and persistent ids for storages.
 *
 * Objects live in an arena owned by a pk_ctx and are freed all at once, so
 * shared references (memo gets) and cycles cost nothing and nothing is ever
 * walked recursively. Strings point into the input buffer, which must outlive
 * the context. */
#ifndef SSD_FORMATS_PTH_PICKLE_H
#define SSD_FORMATS_PTH_PICKLE_H

#include "core/status.h"
#include "tensor/tensor.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    PK_NONE,
    PK_BOOL,
    PK_INT,
    PK_BIGINT, /* an int wider than 64 bits: raw little-endian two's complement bytes in s */
    PK_FLOAT,
    PK_STR,
    PK_BYTES,
    PK_TUPLE,
    PK_LIST,
    PK_DICT, /* v[2i] key, v[2i+1] value, in insertion order */
    PK_GLOBAL,
    PK_STORAGE,
    PK_TENSOR,
} pk_kind;

typedef enum {
    PK_G_ORDERED_DICT,
    PK_G_REBUILD_TENSOR_V2,
    PK_G_REBUILD_TENSOR,
    PK_G_REBUILD_PARAMETER,
    PK_G_REBUILD_PARAMETER_WITH_STATE,
    PK_G_STORAGE, /* torch.<X>Storage / torch.cuda.<X>Storage; dtype says which */
} pk_global;

typedef struct {
    const char *s;
    size_t n;
} pk_str;

/* One persistent id ('storage', type, key, location, numel[, view_metadata]). */
typedef struct {
    pk_str key;
    ssd_dtype dtype;
    int64_t numel;       /* as declared in the id */
    int64_t view_offset; /* legacy storage views: elements into the root storage */
    int64_t view_numel;  /* -1 unless a view */
} pk_storage;

typedef struct {
    const pk_storage *storage;
    int64_t offset;
    int ndim;
    int64_t size[SSD_MAX_DIMS], stride[SSD_MAX_DIMS];
} pk_tensor;

typedef struct pk_obj pk_obj;
struct pk_obj {
    pk_kind kind;
    union {
        int64_t i; /* BOOL, INT */
        double f;
        pk_str s; /* STR, BYTES, BIGINT */
        struct {
            pk_obj **v;
            size_t n, cap;
        } seq; /* TUPLE, LIST, DICT */
        struct {
            pk_global which;
            ssd_dtype dtype;
        } g;
        const pk_storage *st;
        const pk_tensor *t;
    } u;
};

typedef struct pk_chunk pk_chunk;

typedef struct {
    const char *file; /* for messages */
    pk_chunk *chunks;
    size_t arena_used, arena_limit;
    int over_limit;
    /* Every storage id seen, in order. */
    pk_storage **storages;
    size_t nstorages, cap_storages;
} pk_ctx;

/* Objects may take at most arena_limit bytes in all: a pickle can make its
 * objects big (OrderedDict(list) copies the list, however often it is called),
 * so a limit proportional to the input keeps memory bounded. */
void pk_init(pk_ctx *c, const char *file, size_t arena_limit);
void pk_free(pk_ctx *c);

/* Runs one pickle from data[*pos] to its STOP; *pos moves past it. `what`
 * names the pickle in messages ("archive/data.pkl"). The result lives in c. */
ssd_status pk_load(pk_ctx *c, const uint8_t *data, size_t len, size_t *pos, const char *what,
                   pk_obj **out);

/* Value of the last str key equal to `key` in a dict, or NULL. */
pk_obj *pk_dict_get(const pk_obj *dict, const char *key);
const char *pk_kind_name(pk_kind k);
int pk_str_eq(pk_str a, const char *s);

#endif
