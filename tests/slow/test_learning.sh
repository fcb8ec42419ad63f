#!/usr/bin/env bash
# A learning check, not a timing: mb1-ssd trained from scratch on the repo's
# CCPD sample for the demo's number of epochs lowers the validation loss by at
# least 40% from the first epoch's to the last.
set -euo pipefail
build=$1
src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
epochs=$(sed -n 's/^epochs=\${DEMO_EPOCHS:-\([0-9]*\)}$/\1/p' "$src/scripts/demo.sh")
[ -n "$epochs" ] || { echo "FAIL: cannot read the demo's epochs"; exit 1; }
# from scratch (the demo fine-tunes pretrained weights; this checks learning on its own)
"$build/ssd" convert ccpd "$src/data/ccpd-sample" "$work/voc" >/dev/null
"$build/ssd" train --dataset-type=voc --data="$work/voc" --model-dir="$work/m" \
    --batch-size=8 --epochs="$epochs" --lr=0.003 --base-net-lr=0.003 >"$work/log" 2>&1 \
    || { cat "$work/log"; echo "FAIL: training"; exit 1; }
awk -F, '$1=="val" {v[n++]=$4} END {
    printf "validation loss: first epoch %.4f, last %.4f (%.0f%% lower)\n", v[0], v[n-1], 100*(1-v[n-1]/v[0]);
    if (n < 2 || v[n-1] > 0.6 * v[0]) { print "FAIL: less than 40% lower"; exit 1 }
    print "1 passed, 0 failed" }' "$work/m/metrics.csv"
