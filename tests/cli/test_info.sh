#!/usr/bin/env bash
# ssd info, and the OpenMP wait policy every ssd command starts with: a short
# spin (GOMP_SPINCOUNT=10000, core/threads.h) when the environment names no
# policy, the user's when it does; bad usage exits 2.
set -euo pipefail
build=$1
src=$2
ssd=$build/ssd
out=$build/fixtures/info
rm -rf "$out"
mkdir -p "$out"
. "$src/tests/common/cli.sh"

expect_rc 0 env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT "$ssd" info
grep -q "^threads: " "$out/last.out" || fail "no threads line: $(cat "$out/last.out")"
grep -q "^bf16: " "$out/last.out" || fail "no bf16 line: $(cat "$out/last.out")"
grep -q "^waiting:   OMP_WAIT_POLICY=(unset) GOMP_SPINCOUNT=10000$" "$out/last.out" ||
    fail "default policy: $(grep waiting "$out/last.out")"
expect_rc 0 env -u OMP_WAIT_POLICY GOMP_SPINCOUNT=7 "$ssd" info
grep -q "GOMP_SPINCOUNT=7$" "$out/last.out" || fail "user's spin count: $(cat "$out/last.out")"
expect_rc 0 env -u GOMP_SPINCOUNT OMP_WAIT_POLICY=passive "$ssd" info --threads=1
grep -q "OMP_WAIT_POLICY=passive GOMP_SPINCOUNT=(unset)$" "$out/last.out" ||
    fail "user's policy: $(cat "$out/last.out")"
grep -q "^threads:   1 " "$out/last.out" || fail "--threads=1: $(cat "$out/last.out")"
# thread binding asked for: libgomp has pinned the first thread to one core
# before main, yet every core counts and nothing re-executes onto that one
n=$(nproc)
if [ "$n" -ge 2 ]; then
    expect_rc 0 env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT OMP_PROC_BIND=true "$ssd" info
    grep -q "^threads:   $n (of $n cores)" "$out/last.out" ||
        fail "OMP_PROC_BIND=true: $(grep threads "$out/last.out")"
fi
# the arguments survive the re-execution
expect_rc 2 env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT "$ssd" info --bogus
expect_rc 0 env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT "$ssd" info --help
grep -q "usage: ssd info" "$out/last.out" || fail "--help: $(cat "$out/last.out")"
# --precision bf16's requirement, as oneDNN sees the CPU
expect_rc 0 env DNNL_MAX_CPU_ISA=AVX2 "$ssd" info
grep -q "^bf16:      no " "$out/last.out" || fail "bf16 under AVX2: $(grep bf16 "$out/last.out")"
# oneDNN has Winograd only from AVX-512 on: under AVX2 the 3x3 convs get ours
if grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo; then
    grep -q "^winograd:  ours, AVX2" "$out/last.out" ||
        fail "winograd under AVX2: $(grep winograd "$out/last.out")"
else
    grep -q "^winograd:  none" "$out/last.out" || fail "winograd, no AVX2: $(grep winograd "$out/last.out")"
fi
echo "ok"
