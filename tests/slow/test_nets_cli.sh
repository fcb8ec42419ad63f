#!/usr/bin/env bash
# Every net end to end through the CLI on a tiny cut of the repo's CCPD sample:
# `ssd train` (one short epoch), `ssd eval`, `ssd export` (onnx.checker, and
# ONNX Runtime against our PyTorch definition loaded with the trained
# checkpoint, strict=True), `ssd detect` on the ONNX and on the .pth, and
# --pretrained-ssd from another net's checkpoint failing with one clear line.
# $1 = build dir, $2 = source dir. NETS="..." limits the nets.
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
ssd=$build/ssd
py=/usr/bin/python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
NETS=${NETS:-"mb1-ssd-lite vgg16-ssd sq-ssd-lite mb2-ssd-lite mb3-large-ssd-lite mb3-small-ssd-lite"}
# smallest input each net takes quickly (vgg16-ssd's unpadded last extras need >= 268)
res_of() { case $1 in vgg16-ssd) echo 268 ;; *) echo 128 ;; esac; }

# ONNX Runtime (npm onnxruntime-node), as test_onnx_ort.sh installs it
command -v npm >/dev/null 2>&1 || { echo "SKIPPED: npm is not installed (ONNX Runtime)"; exit 77; }
npm_dir=$build/npm
if [ ! -f "$npm_dir/node_modules/onnxruntime-node/package.json" ]; then
    ONNXRUNTIME_NODE_INSTALL=skip npm install --prefix "$npm_dir" --no-audit --no-fund \
        --loglevel=error onnxruntime-node@1.30.0 ||
        fail "npm could not install onnxruntime-node@1.30.0"
fi
export NODE_PATH=$npm_dir/node_modules

"$ssd" convert ccpd "$src/data/ccpd-sample" "$work/voc" >/dev/null
head -n 4 "$work/voc/ImageSets/Main/train.txt" >"$work/voc/ImageSets/Main/trainval.txt"
head -n 2 "$work/voc/ImageSets/Main/val.txt" >"$work/voc/ImageSets/Main/test.txt"
img="$work/voc/JPEGImages/$(head -n 1 "$work/voc/ImageSets/Main/test.txt").jpg"

prev=""
for net in $NETS; do
    res=$(res_of "$net")
    m=$work/m-$net
    echo "== $net at ${res}x$res"
    "$ssd" train --net="$net" --dataset-type=voc --data="$work/voc" --model-dir="$m" \
        --batch-size=2 --epochs=1 --workers=1 --resolution="$res" --validation-mean-ap=true \
        >"$work/log" 2>&1 || { cat "$work/log"; fail "$net: training"; }
    ck=$(ls "$m/$net"-Epoch-0-Loss-*.pth) || fail "$net: no checkpoint"
    grep -q "Validation Loss" "$work/log" || fail "$net: no validation"

    "$ssd" eval --net="$net" --trained-model="$ck" --dataset="$work/voc" --resolution="$res" \
        --eval-dir="$work/ev-$net" --workers=1 --pr-curves=false >"$work/log" 2>&1 ||
        { cat "$work/log"; fail "$net: eval"; }
    grep -q "Mean Average Precision" "$work/log" || fail "$net: eval printed no mAP"

    "$ssd" export --net="$net" --input="$ck" --labels="$m/labels.txt" --resolution="$res" \
        --output="$work/$net.onnx" >"$work/log" 2>&1 || { cat "$work/log"; fail "$net: export"; }
    $py "$src/tests/slow/nets_cli_check.py" input "$work/in-$net.f32" "$res"
    node "$src/tests/golden/ort_run.js" "$work/$net.onnx" "$work/in-$net.f32" "1,3,$res,$res" \
        "$work/ort-$net" 2 >/dev/null || fail "$net: ONNX Runtime could not run the export"
    $py "$src/tests/slow/nets_cli_check.py" check "$net" "$ck" "$work/$net.onnx" "$res" \
        "$work/in-$net.f32" "$work/ort-$net" || fail "$net: export vs PyTorch / ONNX Runtime"

    "$ssd" detect --model="$work/$net.onnx" --threshold=0.01 --json="$work/d1.json" --quiet \
        "$img" "$work/det-$net.jpg" >"$work/log" 2>&1 || { cat "$work/log"; fail "$net: detect"; }
    [ -s "$work/det-$net.jpg" ] && [ -s "$work/d1.json" ] || fail "$net: detect wrote nothing"
    "$ssd" detect --model="$ck" --net="$net" --resolution="$res" --labels="$m/labels.txt" \
        --threshold=0.01 --json="$work/d2.json" --quiet "$img" >"$work/log" 2>&1 ||
        { cat "$work/log"; fail "$net: detect from the checkpoint"; }

    if [ -n "$prev" ]; then # another net's checkpoint as --pretrained-ssd
        set +e
        "$ssd" train --net="$net" --dataset-type=voc --data="$work/voc" --model-dir="$work/x" \
            --epochs=1 --resolution="$res" --pretrained-ssd="$prev" >"$work/log" 2>"$work/err"
        rc=$?
        set -e
        [ "$rc" = 1 ] || { cat "$work/err"; fail "$net: --pretrained-ssd of another net: exit $rc"; }
        [ "$(wc -l <"$work/err")" = 1 ] || { cat "$work/err"; fail "$net: error not one line"; }
        grep -q "$(basename "$prev"): holds $prev_net weights, not $net ones" "$work/err" ||
            { cat "$work/err"; fail "$net: error does not name the file and the net"; }
    fi
    prev=$ck
    prev_net=$net
done
echo "$(wc -w <<<"$NETS") nets passed"
