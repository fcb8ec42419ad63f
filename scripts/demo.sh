#!/usr/bin/env bash
# `make demo`: the tutorial's whole job on the CCPD sample shipped in the repo,
# on the CPU, in a few minutes:
#   CCPD -> Pascal VOC, train mb1-ssd, evaluate the mAP, export ONNX, and draw
#   the detected plates on the held-back images.
# DEMO_DIR (default build/demo) receives everything; DEMO_EPOCHS sets the length.
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
ssd="$build/ssd"
out=${DEMO_DIR:-$build/demo}
epochs=${DEMO_EPOCHS:-8}
rm -rf "$out"
mkdir -p "$out"
step() { printf '\n== %s\n' "$*"; }

step "ssd info"
"$ssd" info

step "1. CCPD sample -> Pascal VOC ($out/ccpd-voc)"
"$ssd" convert ccpd "$here/data/ccpd-sample" "$out/ccpd-voc"

step "2. train mb1-ssd from scratch for $epochs epochs (batch 8, lr 0.003 for every group)"
# From scratch the reference's lr 0.01 makes the first epochs swing; 0.003 for every
# group descends steadily on this small sample.
"$ssd" train --dataset-type=voc --data="$out/ccpd-voc" --model-dir="$out/models" \
    --batch-size=8 --epochs="$epochs" --lr=0.003 --base-net-lr=0.003 --debug-steps=5 \
    --validation-mean-ap
best=$(ls "$out"/models/mb1-ssd-Epoch-*-Loss-*.pth | awk -F'-Loss-' '{print $2" "$0}' |
    sed 's/\.pth / /' | sort -g | head -n 1 | cut -d' ' -f2)

step "3. evaluate $best"
"$ssd" eval --net=mb1-ssd --trained-model="$best" --dataset="$out/ccpd-voc" \
    --label-file="$out/models/labels.txt" --eval-dir="$out/eval"

step "4. export ONNX"
"$ssd" export --model-dir="$out/models"

if "$ssd" detect --help >/dev/null 2>&1; then
    step "5. detect plates on the held-back images"
    mkdir -p "$out/detections"
    "$ssd" detect --model="$out/models/ssd-mobilenet.onnx" --labels="$out/models/labels.txt" \
        --input-blob=input_0 --output-cvg=scores --output-bbox=boxes --threshold=0.3 \
        --json="$out/detections/detections.json" \
        "$here/data/ccpd-sample/val" "$out/detections/plate_%i.jpg"
fi

printf '\nDone.\n  checkpoints:  %s/models/\n  evaluation:   %s/eval/ (metrics.json, pr_plate.png)\n  ONNX model:   %s/models/ssd-mobilenet.onnx\n' \
    "$out" "$out" "$out"
[ -d "$out/detections" ] && printf '  annotated images: %s/detections/\n' "$out"
exit 0
