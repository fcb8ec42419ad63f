#!/usr/bin/env bash
# bench/train: the whole training loop on the repo's CCPD sample (86 training
# images, mb1-ssd, 300x300, batch 32, 2 data workers, 2 compute threads), ssd
# next to a PyTorch loop doing the same work, in the same run. Reports images/s
# of the epochs after the first and the peak resident memory of each.
#   bench/train.sh [BUILD_DIR] [EPOCHS]
set -euo pipefail
build=${1:-build}
epochs=${2:-4}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$build/ssd" convert ccpd "$here/data/ccpd-sample" "$work/voc" >/dev/null
cp "$work/voc/ImageSets/Main/train.txt" "$work/voc/ImageSets/Main/trainval.txt"
/usr/bin/time -f "%M" -o "$work/ssd.rss" "$build/ssd" train --dataset-type=voc --data="$work/voc" \
    --model-dir="$work/m" --batch-size=32 --workers=2 --threads=2 --epochs="$epochs" \
    --validation-epochs=1000 --pretrained-ssd="" >"$work/ssd.log" 2>&1 || { cat "$work/ssd.log"; exit 1; }
ours=$(awk -F, '$1=="train" && $2>=1 {s+=$10; n++} END {printf "%.2f", s/n}' "$work/m/metrics.csv")
ours_mb=$(awk '{printf "%.0f", $1/1024}' "$work/ssd.rss")
OMP_NUM_THREADS=2 /usr/bin/python3 "$here/bench/train_torch.py" "$here/data/ccpd-sample/train" \
    "$epochs" 32 2 2 >"$work/torch.out"
theirs=$(awk '/torch_images_per_s/ {print $2}' "$work/torch.out")
theirs_mb=$(awk '/torch_peak_rss_mb/ {print $2}' "$work/torch.out")
echo "training loop, mb1-ssd 300x300, batch 32, 2 workers, 2 threads, epochs 2..$epochs of $epochs"
printf '  %-8s %10s %10s\n' "" "images/s" "peak MB"
printf '  %-8s %10s %10s\n' ssd "$ours" "$ours_mb" pytorch "$theirs" "$theirs_mb"
awk -v a="$ours" -v b="$theirs" -v c="$ours_mb" -v d="$theirs_mb" \
    'BEGIN {printf "  speed-up %.2fx, memory %.2fx of PyTorch'"'"'s\n", a/b, c/d}'
