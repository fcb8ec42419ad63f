#!/usr/bin/env bash
# test_conv_infer on a CPU without bfloat16 dot products, as oneDNN's
# DNNL_MAX_CPU_ISA makes it look: the cpu backend must refuse bfloat16 convs
# (supports() false, conv2d_infer SSD_E_UNSUPPORTED naming what is missing)
# and keep its float32 results; AVX2 also takes the non-AVX-512 kernels.
set -euo pipefail
build=$1
out=$(DNNL_MAX_CPU_ISA=AVX2 "$build/test_conv_infer")
echo "$out" | tail -n 2
echo "$out" | grep -q "bfloat16 convs: not on this CPU" || { echo "FAIL: bf16 not refused"; exit 1; }
