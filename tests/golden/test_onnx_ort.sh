#!/usr/bin/env bash
# `ssd export` end to end: the reference's prints and file choices, the
# errors, onnx.checker + strict shape inference on the files, and ONNX Runtime
# (npm onnxruntime-node, CPU) against our own forward pass on real images;
# then every other net exported and run by ONNX Runtime and by our runtime,
# against PyTorch.
# $1 = build dir, $2 = source dir. Exit 77 (skipped) only when npm is missing;
# a failed install of onnxruntime-node is a failure.
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
fx=$build/fixtures/onnx_ort
ssd=$build/ssd
fail() { echo "FAIL: $*"; exit 1; }

cd "$fx/cwd"
rm -f ../model/*.onnx ./*.onnx
out=$("$ssd" export --model-dir ../model --batch-size 2)
expected="=> found best checkpoint with loss 2.5 (../model/mb1-ssd-Epoch-3-Loss-2.5.pth)
=> creating network:  ssd-mobilenet
=> num classes:       3
=> resolution:        300x300
=> loading checkpoint:  ../model/mb1-ssd-Epoch-3-Loss-2.5.pth
=> exporting model to ONNX...
model exported to:  ../model/ssd-mobilenet.onnx"
[ "$out" == "$expected" ] || { diff <(echo "$expected") <(echo "$out") || true; fail "export prints"; }
ls ../model/*.tmp* 2>/dev/null && fail "temporary file left behind"
"$ssd" export --model-dir ../model --net mb1-ssd --dynamic-batch --opset 11 \
    --output "$fx/dyn11.onnx" >/dev/null
"$ssd" export --input ../model/mb1-ssd-Epoch-3-Loss-2.5.pth --labels ../model/labels.txt \
    --opset 17 --output "$fx/op17.onnx" >/dev/null

# errors: one line on stderr, non-zero exit
expect_fail() { # code pattern args...
    local code=$1 pat=$2; shift 2
    set +e
    err=$("$ssd" export "$@" 2>&1 >/dev/null); rc=$?
    set -e
    [ "$rc" == "$code" ] || fail "ssd export $*: exit $rc, want $code ($err)"
    grep -q -- "$pat" <<<"$err" || fail "ssd export $*: '$err' lacks '$pat'"
    [ "$(wc -l <<<"$err")" == 1 ] || fail "ssd export $*: more than one line: $err"
}
expect_fail 1 "holds mb1-ssd weights, not vgg16-ssd ones" --model-dir ../model --net vgg16-ssd
expect_fail 2 "net type is wrong" --model-dir ../model --net resnet
expect_fail 2 "expected an integer in 11..17" --model-dir ../model --opset 10
mkdir -p empty
expect_fail 1 "couldn't find valid .pth checkpoint under 'empty'" --model-dir empty
expect_fail 1 "mb1-ssd-Epoch-1-Loss-3.25.pth" --model-dir ../model --input mb1-ssd-Epoch-1-Loss-3.25.pth

for f in ../model/ssd-mobilenet.onnx:2 "$fx/dyn11.onnx":batch "$fx/op17.onnx":1; do
    /usr/bin/python3 "$src/tests/golden/check_onnx.py" "${f%:*}" "${f##*:}" 300 3000 3 ||
        fail "onnx.checker / shape inference rejected ${f%:*}"
done

if ! command -v npm >/dev/null 2>&1; then
    echo "SKIPPED: npm is not installed, so ONNX Runtime cannot be installed and the exported"
    echo "files were not compared with ONNX Runtime (install nodejs with npm to run this check)."
    exit 77
fi
npm_dir=$build/npm
if [ ! -f "$npm_dir/node_modules/onnxruntime-node/package.json" ]; then
    echo "installing onnxruntime-node@1.30.0 into $npm_dir"
    # The CPU binaries ship in the package; skip its optional download of CUDA binaries.
    ONNXRUNTIME_NODE_INSTALL=skip npm install --prefix "$npm_dir" --no-audit --no-fund \
        --loglevel=error onnxruntime-node@1.30.0 ||
        fail "npm could not install onnxruntime-node@1.30.0 (offline or registry unreachable?)"
fi
export NODE_PATH=$npm_dir/node_modules
for f in "$fx/model/ssd-mobilenet.onnx" "$fx/dyn11.onnx"; do
    node "$src/tests/golden/ort_run.js" "$f" "$fx/images.f32" 2,3,300,300 "$f" 2 ||
        fail "ONNX Runtime could not run $f"
done
"$build/test_onnx" "$fx" --ort "$fx/model/ssd-mobilenet.onnx" "$fx/dyn11.onnx"

# the other nets: `ssd export` of each, checked, run by ONNX Runtime, then compared
nets=()
while read -r net priors; do
    [ -n "$net" ] || continue
    nets+=("$net")
    "$ssd" export --net "$net" --input "$fx/nets/$net.pth" --labels "$fx/nets/labels.txt" \
        --output "$fx/nets/$net.onnx" --dynamic-batch >/dev/null || fail "ssd export --net $net"
    /usr/bin/python3 "$src/tests/golden/check_onnx.py" "$fx/nets/$net.onnx" batch 300 "$priors" 3 "$net" ||
        fail "onnx.checker / shape inference rejected $net.onnx"
    node "$src/tests/golden/ort_run.js" "$fx/nets/$net.onnx" "$fx/images.f32" 2,3,300,300 \
        "$fx/nets/$net.onnx" 2 >/dev/null || fail "ONNX Runtime could not run $net.onnx"
done <"$fx/nets/nets.txt"
[ ${#nets[@]} -eq 6 ] || fail "expected 6 other nets in nets.txt, got ${#nets[@]}"
"$build/test_onnx_nets" "$fx/nets" --ort "${nets[@]}"
