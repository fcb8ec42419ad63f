#!/usr/bin/env bash
# images/s of `ssd detect` over a folder of the sample images at batch 1 and 8,
# decode, preprocessing, inference, NMS, drawing and JPEG encoding included.
# usage: bench/bench_detect.sh [BUILD] [MODEL.onnx]
# Without MODEL it exports one from the repo's pretrained backbone (fresh heads:
# the speed does not depend on the weights, but NMS and drawing do a little, so
# the threshold is set to give a handful of boxes per image).
set -euo pipefail
build=${1:-build}
src=$(cd "$(dirname "$0")/.." && pwd)
ssd=$build/ssd
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
model=${2:-}
if [ -z "$model" ]; then
    "$ssd" convert tfjs "$src/data/pretrained/face-api-ssd-mobilenetv1/ssd_mobilenetv1_model-weights_manifest.json" \
        "$work/face.pth" >/dev/null 2>&1
    "$ssd" convert ccpd "$src/data/ccpd-sample" "$work/voc" >/dev/null
    head -n 8 "$work/voc/ImageSets/Main/train.txt" >"$work/voc/ImageSets/Main/trainval.txt"
    head -n 8 "$work/voc/ImageSets/Main/val.txt" >"$work/voc/ImageSets/Main/test.txt"
    "$ssd" train --dataset-type=voc --data="$work/voc" --model-dir="$work/m" --pretrained-ssd="$work/face.pth" \
        --batch-size=8 --epochs=1 --lr=0.001 >/dev/null 2>&1
    "$ssd" export --input="$(ls "$work"/m/*.pth)" --labels="$work/m/labels.txt" --output="$work/m.onnx" \
        --dynamic-batch >/dev/null
    model=$work/m.onnx
fi
imgs=$src/data/ccpd-sample/val
n=$(ls "$imgs"/*.jpg | wc -l)
echo "bench detect: $n images of $imgs ($(identify -format '%wx%h' "$(ls "$imgs"/*.jpg | head -n 1)" 2>/dev/null || echo 720x1160)), $(nproc) cores"
for b in 1 8; do
    # first pass warms the caches; the second is reported
    "$ssd" detect --model="$model" --batch-size=$b --threshold=0.9 --quiet "$imgs" "$work/out$b/" >/dev/null 2>&1
    line=$("$ssd" detect --model="$model" --batch-size=$b --threshold=0.9 --quiet "$imgs" "$work/out$b/" 2>&1 >/dev/null | tail -n 1)
    echo "batch $b: ${line#ssd detect: }"
done
