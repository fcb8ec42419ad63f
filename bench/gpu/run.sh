#!/usr/bin/env bash
# bench/gpu: mb1-ssd on the GPU, ssd's cuda backend next to PyTorch on the same
# card in the same run (training images/s at batch 32/128, inference at batch
# 1/64; fp32, tf32, and PyTorch's bf16 autocast row), then the whole
# `ssd train` loop with its loader on the repo's CCPD sample.
#   bench/gpu/run.sh [BUILD_DIR] [SECONDS]     (SECONDS: budget for the whole run, default 200)
# Env: PYTHON (default python3, which must have PyTorch with CUDA), ITERS (default 5).
set -uo pipefail
build=${1:-build}
budget=${2:-200}
py=${PYTHON:-python3}
iters=${ITERS:-5}
here=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
end=$(($(date +%s) + budget))
left() { local l=$((end - $(date +%s))); echo $((l > 5 ? l : 5)); }

# Ours and PyTorch's share the budget: ~40% each, the rest for the training loop.
timeout $(($(left) * 2 / 5)) "$build/bench_gpu" --iters "$iters" >"$work/ours" 2>"$work/ours.err"
rc=$?
[ $rc = 77 ] && { cat "$work/ours"; exit 77; }
[ $rc = 0 ] || { echo "bench_gpu: exit $rc (124 = out of time)"; tail -3 "$work/ours.err"; }
timeout $(($(left) * 2 / 3)) "$py" "$here/bench/gpu/torch_gpu.py" "$iters" >"$work/torch" 2>"$work/torch.err" ||
    { echo "torch_gpu.py: exit $? (124 = out of time)"; tail -3 "$work/torch.err"; }

echo "mb1-ssd 300x300, $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)"
printf '  %-6s %5s %-5s %12s %12s %8s\n' kind batch prec "ssd img/s" "torch img/s" "ssd/torch"
awk '
    { split($3, b, "="); split($4, p, "="); split($6, r, "=");
      k = $2 " " b[2] " " p[2]; v[$1, k] = r[2]; if (!(k in seen)) { seen[k] = 1; order[n++] = k } }
    END {
      for (i = 0; i < n; i++) {
        split(order[i], f, " "); o = v["ours", order[i]]; t = v["torch", order[i]];
        ratio = (o != "" && t != "") ? sprintf("%.2fx", o / t) : "-";
        printf "  %-6s %5s %-5s %12s %12s %8s\n", f[1], f[2], f[3], o == "" ? "n/a" : o, t == "" ? "n/a" : t, ratio
      }
    }' "$work/ours" "$work/torch"

# The whole training loop: loader threads, host loss, checkpoints off (validation never).
"$build/ssd" convert ccpd "$here/data/ccpd-sample" "$work/voc" >/dev/null 2>&1 &&
    cp "$work/voc/ImageSets/Main/train.txt" "$work/voc/ImageSets/Main/trainval.txt" || {
    echo "train loop: could not convert the sample"; exit 1; }
timeout "$(left)" "$build/ssd" train --use-cuda --dataset-type=voc --data="$work/voc" \
    --model-dir="$work/m" --batch-size=32 --workers=4 --epochs=3 --validation-epochs=1000 \
    --pretrained-ssd="" >"$work/train.log" 2>&1
rc=$?
if [ $rc = 0 ] && [ -f "$work/m/metrics.csv" ]; then
    gpu=$(grep -c "Training on the GPU" "$work/train.log")
    awk -F, -v gpu="$gpu" '$1=="train" && $2>=1 {s+=$10; n++}
        END {printf "  ssd train loop (CCPD sample, batch 32, 4 workers, %s): %.1f images/s (epochs 2-3)\n",
             gpu > 0 ? "GPU" : "CPU!", n ? s/n : 0}' "$work/m/metrics.csv"
else
    echo "  ssd train loop: exit $rc (124 = out of time)"; tail -5 "$work/train.log"
fi
