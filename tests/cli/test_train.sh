#!/usr/bin/env bash
# ssd train end to end on a small cut of the repo's CCPD sample:
# usage errors, dataset errors, the files it writes, 10 steps against our own
# PyTorch loop, and exact resume (2 epochs == 1 + 1 with --resume).
set -euo pipefail
build=$1
src=$2
ssd=$build/ssd
py=/usr/bin/python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
expect_rc() { # rc command...
    local want=$1; shift
    set +e; "$@" >"$work/out" 2>&1; local rc=$?; set -e
    [ "$rc" = "$want" ] || { cat "$work/out"; fail "'$*' exited $rc, expected $want"; }
}

# --- usage -------------------------------------------------------------------
expect_rc 0 "$ssd" train --help
grep -q -- "--validation-mean-ap" "$work/out" || fail "help lacks options"
expect_rc 2 "$ssd" train --batch-size=abc
grep -q "batch-size" "$work/out" || fail "bad int message"
expect_rc 2 "$ssd" train --net=resnet-ssd
expect_rc 2 "$ssd" train --scheduler=linear
expect_rc 2 "$ssd" train --dataset-type=coco
expect_rc 2 "$ssd" train --no-such-flag
expect_rc 2 "$ssd" train --log-level=loud
expect_rc 2 "$ssd" train --milestones=10,x
expect_rc 2 "$ssd" train --validation-mean-ap=maybe

# --- dataset errors ------------------------------------------------------------
expect_rc 1 "$ssd" train --dataset-type=voc --data="$work/nowhere" --model-dir="$work/m0" --epochs=1
grep -q "nowhere" "$work/out" || { cat "$work/out"; fail "missing dataset not named"; }

# --- a small VOC set ------------------------------------------------------------
"$ssd" convert ccpd "$src/data/ccpd-sample" "$work/voc" >/dev/null
head -n 40 "$work/voc/ImageSets/Main/train.txt" >"$work/voc/ImageSets/Main/trainval.txt"
head -n 4 "$work/voc/ImageSets/Main/val.txt" >"$work/voc/ImageSets/Main/test.txt"
$py "$src/tests/cli/train_ref.py" init "$work/init.pth"
# 16-bit training is the GPU's: on the CPU a one-line refusal naming the precision
expect_rc 1 "$ssd" train --dataset-type=voc --data="$work/voc" --model-dir="$work/mp" --epochs=1 \
    --use-cuda=false --precision=bf16
tail -1 "$work/out" | grep -q "precision bf16: the cpu backend computes in fp32 only" ||
    { cat "$work/out"; fail "bf16 on the CPU not refused clearly"; }
expect_rc 2 "$ssd" train --precision=fp8

# --- 10 steps against PyTorch -----------------------------------------------------
# 128x128 keeps PyTorch's float64 replay short; the learning rates keep the
# trajectory out of the chaotic regime of a from-scratch start at 0.01.
"$ssd" train --dataset-type=voc --data="$work/voc" --model-dir="$work/m1" --resume="$work/init.pth" \
    --no-augment --no-shuffle --batch-size=4 --epochs=1 --workers=2 --debug-steps=5 \
    --resolution=128 --lr=0.001 --base-net-lr=0.0001 >"$work/log1" 2>&1 \
    || { cat "$work/log1"; fail "training failed"; }
$py "$src/tests/cli/train_ref.py" steps "$work/voc" "$work/init.pth" "$work/m1/metrics.csv" 4 128 0.001 0.0001 \
    || fail "losses differ from PyTorch"

# --- files and logs ---------------------------------------------------------------------
[ "$(cat "$work/m1/labels.txt")" = "$(printf 'BACKGROUND\nplate')" ] || fail "labels.txt content"
[ "$(tail -c 1 "$work/m1/labels.txt" | od -An -c | tr -d ' ')" = "e" ] || fail "labels.txt trailing newline"
ck=$(ls "$work/m1"/mb1-ssd-Epoch-0-Loss-*.pth)
[ -f "${ck%.pth}.state" ] || fail "no training state beside $ck"
ls "$work/m1"/tensorboard/*/events.out.tfevents.* >/dev/null || fail "no tensorboard events"
for line in "Namespace(dataset_type='voc'" "model resolution 128x128" \
    "SSDSpec(feature_map_size=8, shrinkage=16, box_sizes=SSDBoxSizes(min=12.8, max=25.6), aspect_ratios=[2, 3])" \
    "Prepare training datasets." "Stored labels into file" "Train dataset size: 40" \
    "Prepare Validation datasets." "Validation dataset size: 4" "Build network." \
    "Resuming from the model" "Learning rate: 0.001, Base net learning rate: 0.0001, Extra Layers learning rate: 0.001." \
    "Uses CosineAnnealingLR scheduler." "Start training from epoch 0." \
    "Epoch: 0, Step: 5/10, Avg Loss:" "Epoch: 0, Training Loss:" "Epoch: 0, Validation Loss:" \
    "Saved model $ck" "Task done, exiting program."; do
    grep -qF -- "$line" "$work/log1" || { cat "$work/log1"; fail "log lacks: $line"; }
done
# the checkpoint name carries Python's repr of the validation loss
$py - "$ck" "$work/log1" <<'PYEOF' || fail "checkpoint name"
import re, sys, torch
name = sys.argv[1]
loss = re.search(r"-Loss-(.*)\.pth$", name).group(1)
assert repr(float(loss)) == loss, loss
sd = torch.load(name)
assert "classification_headers.5.bias" in sd and sd["classification_headers.5.bias"].shape == (12,)
PYEOF

# --- exact resume: 2 epochs in one run == 1 + 1 --------------------------------------------
common=(--dataset-type=voc --data="$work/voc" --batch-size=8 --workers=2 --seed=3 --pretrained-ssd="$work/init.pth")
"$ssd" train "${common[@]}" --model-dir="$work/a" --epochs=2 >"$work/loga" 2>&1 || { cat "$work/loga"; fail "run a"; }
"$ssd" train "${common[@]}" --model-dir="$work/b" --epochs=1 >"$work/logb" 2>&1 || { cat "$work/logb"; fail "run b"; }
first=$(ls "$work/b"/mb1-ssd-Epoch-0-Loss-*.pth)
"$ssd" train "${common[@]}" --model-dir="$work/b" --epochs=2 --resume="$first" >"$work/logc" 2>&1 \
    || { cat "$work/logc"; fail "run c"; }
grep -q "Start training from epoch 1." "$work/logc" || fail "resume did not continue at epoch 1"
a=$(ls "$work/a"/mb1-ssd-Epoch-1-Loss-*.pth)
b=$(ls "$work/b"/mb1-ssd-Epoch-1-Loss-*.pth)
[ "$(basename "$a")" = "$(basename "$b")" ] || fail "validation loss differs: $(basename "$a") vs $(basename "$b")"
cmp -s "$a" "$b" || fail "weights after 2 epochs differ from 1 + 1 resumed"

# --- Ctrl-C: a checkpoint with its state, exit 130, and it resumes -------------------------
"$ssd" train "${common[@]}" --model-dir="$work/ci" --epochs=50 >"$work/logi" 2>&1 &
pid=$!
for _ in $(seq 1 600); do grep -q "Start training" "$work/logi" && break; sleep 0.1; done
sleep 2
kill -INT "$pid"
set +e; wait "$pid"; rc=$?; set -e
[ "$rc" = 130 ] || { cat "$work/logi"; fail "Ctrl-C exit code $rc, expected 130"; }
intr=$(ls "$work/ci"/mb1-ssd-Epoch-*-interrupted.pth) || fail "no checkpoint after Ctrl-C"
[ -f "${intr%.pth}.state" ] || fail "no state beside $intr"
grep -q "Interrupted: saved model" "$work/logi" || fail "Ctrl-C not reported"
"$ssd" train "${common[@]}" --model-dir="$work/ci" --epochs=1 --resume="$intr" >"$work/logr" 2>&1 \
    || { cat "$work/logr"; fail "resume from the interrupted checkpoint"; }
echo "1 passed, 0 failed"
