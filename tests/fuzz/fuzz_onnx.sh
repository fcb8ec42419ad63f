#!/usr/bin/env bash
# Builds the ONNX loader's libFuzzer target with clang (ASan + UBSan) into
# build-fuzz/ and runs it for SECONDS (default 60) on a seed corpus of the
# test fixtures (run `make test` first so that build/fixtures/onnx exists).
#   tests/fuzz/fuzz_onnx.sh [SECONDS]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-60}
out=$root/build-fuzz
mkdir -p "$out/pb" "$out/corpus"
protoc-c --proto_path=/usr/include/onnx --c_out="$out/pb" /usr/include/onnx/onnx.proto
srcs=$(ls "$root"/src/core/*.c "$root"/src/tensor/*.c "$root"/src/backend/ref/*.c \
          "$root"/src/runtime/*.c "$root"/src/formats/onnx_pb.c)
cat > "$out/no_cpu.c" <<'C'
#include "tensor/backend.h"
ssd_status ssd_backend_cpu_create(ssd_backend **out) { *out = 0; return ssd_error_set(SSD_E_UNSUPPORTED, "no cpu"); }
C
clang -O1 -g -D_GNU_SOURCE -std=gnu11 -fopenmp -fsanitize=fuzzer,address,undefined \
    -I"$root/src" -I"$out/pb" -o "$out/fuzz_onnx" "$root/tests/fuzz/fuzz_onnx.c" $srcs \
    "$out/no_cpu.c" "$out/pb/onnx.pb-c.c" -lprotobuf-c -lm -lpthread
cp "$root"/build/fixtures/onnx/ops1?.onnx "$root"/build/fixtures/onnx/bad_ops.onnx "$out/corpus/" 2>/dev/null || true
ASAN_OPTIONS=allocator_may_return_null=1 "$out/fuzz_onnx" -max_total_time="$secs" -rss_limit_mb=2048 \
    -max_len=8192 -artifact_prefix="$out/" "$out/corpus"
