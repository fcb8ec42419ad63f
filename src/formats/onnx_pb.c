/* protobuf-c's allocator routed through core/mem.h. */
#include "formats/onnx.h"

#include "core/mem.h"

#include <protobuf-c/protobuf-c.h>

static void *pb_alloc(void *ctx, size_t n) {
    (void)ctx;
    return ssd_malloc(n ? n : 1);
}

static void pb_free(void *ctx, void *p) {
    (void)ctx;
    ssd_free(p);
}

static ProtobufCAllocator allocator = {pb_alloc, pb_free, NULL};

struct ProtobufCAllocator *ssd_onnx_pb_allocator(void) {
    return &allocator;
}
