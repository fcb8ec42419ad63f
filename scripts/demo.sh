#!/usr/bin/env bash
# `make demo`: the tutorial's whole job on the CCPD sample shipped in the repo,
# on the CPU, in a few minutes:
#   CCPD -> Pascal VOC, convert the shipped pretrained weights, fine-tune mb1-ssd,
#   evaluate the mAP, export ONNX, and draw
#   the detected plates on the held-back images.
# DEMO_DIR (default build/demo) receives everything; DEMO_EPOCHS sets the length.
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
ssd="$build/ssd"
out=${DEMO_DIR:-$build/demo}
epochs=${DEMO_EPOCHS:-12}
rm -rf "$out"
mkdir -p "$out"
step() { printf '\n== %s\n' "$*"; }

step "ssd info"
"$ssd" info

step "1. CCPD sample -> Pascal VOC ($out/ccpd-voc)"
"$ssd" convert ccpd "$here/data/ccpd-sample" "$out/ccpd-voc"

step "2. pretrained weights: the TensorFlow.js SSD-MobileNetV1 shipped in data/pretrained"
# No model hub is reachable; this MIT-licensed face detector's backbone and extras are a
# real pretrained start. --calibrate restores the batch norms folded into its weights.
"$ssd" convert tfjs "$here/data/pretrained/face-api-ssd-mobilenetv1/ssd_mobilenetv1_model-weights_manifest.json" \
    "$out/mb1-ssd-face-api.pth" --calibrate "$out/ccpd-voc/JPEGImages" --calibrate-images 32

step "3. fine-tune mb1-ssd for $epochs epochs (batch 8)"
# Its features are large (ReLU, no ReLU6 clip), so the reference's lr 0.01 diverges;
# these rates train stably (data/pretrained/face-api-ssd-mobilenetv1/SOURCE.md).
"$ssd" train --dataset-type=voc --data="$out/ccpd-voc" --model-dir="$out/models" \
    --pretrained-ssd="$out/mb1-ssd-face-api.pth" --batch-size=8 --epochs="$epochs" \
    --lr=0.0005 --extra-layers-lr=0.0005 --base-net-lr=0.0001 --debug-steps=5 \
    --validation-mean-ap
best=$(ls "$out"/models/mb1-ssd-Epoch-*-Loss-*.pth | awk -F'-Loss-' '{print $2" "$0}' |
    sed 's/\.pth / /' | sort -g | head -n 1 | cut -d' ' -f2)

step "4. evaluate $best"
"$ssd" eval --net=mb1-ssd --trained-model="$best" --dataset="$out/ccpd-voc" \
    --label-file="$out/models/labels.txt" --eval-dir="$out/eval"

step "5. export ONNX"
"$ssd" export --model-dir="$out/models"

if "$ssd" detect --help >/dev/null 2>&1; then
    step "6. detect plates on the validation images"
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
