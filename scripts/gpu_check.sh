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

# A build dir configured for another checkout path (carried from elsewhere) is used as it
# is: rebuilding it would need a reconfiguration.
cached_src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt" 2>/dev/null)
if [ -n "$cached_src" ] && [ "$cached_src" != "$here" ] && [ "${SKIP_BUILD:-0}" != 1 ]; then
    echo "note: $build was configured for $cached_src; using its binaries without building"
    SKIP_BUILD=1
fi
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

# The test binaries are run directly (not through ctest, whose files hold absolute paths
# of the machine that configured the build).
echo "== CUDA tests"
for t in "$build"/test_cuda_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    s=$(date +%s)
    timeout 120 "$t" "$build/fixtures/${name#test_}" >"$log/$name" 2>&1
    rc=$?
    case $rc in
    0) verdict=PASS ;;
    77) verdict=SKIP; status=1 ;;
    124) verdict="TIMEOUT"; status=1 ;;
    *) verdict="FAIL (exit $rc)"; status=1 ;;
    esac
    printf '  %-18s %-14s %4ss  %s\n' "$name" "$verdict" "$(($(date +%s) - s))" "$(tail -1 "$log/$name")"
    grep '^measured' "$log/$name" | sed 's/^/    /' # errors of the reduced precisions
    [ $rc = 0 ] || [ $rc = 77 ] || grep -E 'FAIL|CHECK failed|->|max abs' "$log/$name" | head -30 | sed 's/^/    /'
    if [ $rc != 0 ] && [ $rc != 77 ] && [ $rc != 124 ]; then
        # again with every launch waited for, so a kernel fault names its own op
        echo "    rerun with SSD_CUDA_SYNC=1:"
        SSD_CUDA_SYNC=1 timeout 60 "$t" "$build/fixtures/${name#test_}" 2>&1 | grep -vE '^ok' | tail -8 | sed 's/^/    /'
    fi
done

echo "== bench/gpu"
spent=$(($(date +%s) - t0))
budget=$((280 - spent))
[ $budget -lt 60 ] && budget=60
bench/gpu/run.sh "$build" "$budget"
[ $? = 0 ] || status=1
echo "== gpu-check done in $(($(date +%s) - t0)) s: $([ $status = 0 ] && echo PASS || echo FAIL)"
exit $status
