#!/usr/bin/env bash
# make gpu-check: build (an existing build dir is reused as it is: no
# reconfiguration, only out-of-date targets are rebuilt), run the CUDA tests
# and bench/gpu, and print a compact summary; meant to finish in < 5 minutes.
#   scripts/gpu_check.sh [BUILD_DIR]
# Env: SKIP_BUILD=1 uses the build dir without building; PYTHON for bench/gpu.
set -uo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
t0=$(date +%s)
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
status=0

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    if [ ! -f "$build/CMakeCache.txt" ]; then
        cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >"$log/configure" 2>&1 ||
            { tail -20 "$log/configure"; exit 1; }
    fi
    cmake --build "$build" -j "$(nproc)" >"$log/build" 2>&1 || { tail -30 "$log/build"; exit 1; }
fi
echo "== gpu-check ($(($(date +%s) - t0)) s to build)"
"$build/ssd" info | grep -E '^(backends|cuda):'
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total \
    --format=csv,noheader

echo "== CUDA tests"
(cd "$build" && timeout 150 ctest -R 'cuda' --output-on-failure --timeout 140) >"$log/ctest" 2>&1
rc=$?
grep -E '^ *[0-9]+/[0-9]+ Test|tests passed|Skipped|\*\*\*' "$log/ctest" | sed 's/^/  /'
if [ $rc != 0 ]; then
    status=1
    grep -E 'FAIL|CHECK failed|->' "$log/ctest" | head -40 | sed 's/^/  /'
fi
grep -q "Skipped" "$log/ctest" && { echo "  (no GPU here: the CUDA tests skipped)"; status=1; }

echo "== bench/gpu"
spent=$(($(date +%s) - t0))
budget=$((280 - spent))
[ $budget -lt 60 ] && budget=60
bench/gpu/run.sh "$build" "$budget"
[ $? = 0 ] || status=1
echo "== gpu-check done in $(($(date +%s) - t0)) s: $([ $status = 0 ] && echo PASS || echo FAIL)"
exit $status
