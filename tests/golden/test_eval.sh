#!/usr/bin/env bash
# End to end: `ssd eval` of a checkpoint on the repo's CCPD sample (converted to VOC with
# `ssd convert ccpd`) gives the mAP (VOC07 and area), COCO AP and AP50 of our PyTorch
# evaluation of the same checkpoint (eval_torch.py: PyTorch forward, our Python predictor,
# ap_ref.py) to 1e-4, with hard and soft NMS, and the same detections in the result files.
# The checkpoint is a hand-made plate detector whose mAP is about 0.2, so ranks, matches
# and NMS all matter. Also: the printed lines, --use_2007_metric false, the PR curve PNG,
# metrics.json, and usage errors.
set -euo pipefail
build=$1
src=$2
ssd=$build/ssd
py=/usr/bin/python3
out=$build/fixtures/eval_e2e
rm -rf "$out"
mkdir -p "$out"
. "$src/tests/common/cli.sh"

expect_rc 0 "$ssd" convert ccpd "$src/data/ccpd-sample" "$out/voc"
$py "$src/tests/golden/eval_torch.py" model "$out/model.pth"
$py "$src/tests/golden/eval_torch.py" eval "$out/voc" "$out/model.pth" "$out/py"

for method in hard soft; do
    # Underscore spellings as eval_ssd.py, a batch size that leaves a partial last batch.
    expect_rc 0 "$ssd" eval --net mb1-ssd --trained_model "$out/model.pth" --dataset "$out/voc" \
        --nms_method $method --eval_dir "$out/c_$method" --batch-size 5 --workers 2
    cp "$out/last.out" "$out/c_$method.log"
    $py - "$out/c_$method" "$out/py_$method.json" "$out/c_$method.log" <<'PY'
import json, re, sys
cdir, pyjson, log = sys.argv[1:4]
c = json.load(open(cdir + "/metrics.json"))
p = json.load(open(pyjson))
def close(a, b, what):
    assert abs(a - b) <= 1e-4, "%s: ssd %r, python %r" % (what, a, b)
assert p["mAP_voc07"] > 0.05, "the comparison needs a non-trivial mAP: %r" % p["mAP_voc07"]
close(c["mAP"], p["mAP_voc07"], "mAP")
close(c["mAP_voc07"], p["mAP_voc07"], "mAP VOC07")
close(c["mAP_voc_area"], p["mAP_voc_area"], "mAP area")
close(c["coco"]["AP"], p["coco"][0], "COCO AP")
close(c["coco"]["AP50"], p["coco"][1], "COCO AP50")
assert [k["detections"] for k in c["classes"]] == p["detections"], (c["classes"], p["detections"])
# The result files: same lines (ids, order), numbers equal to float32 rounding.
for name, text in p["files"].items():
    mine = open("%s/det_test_%s.txt" % (cdir, name)).read().splitlines()
    ref = text.splitlines()
    assert len(mine) == len(ref), (name, len(mine), len(ref))
    for a, b in zip(mine, ref):
        fa, fb = a.split("\t"), b.split("\t")
        assert len(fa) == 6 and fa[0] == fb[0], (a, b)
        assert abs(float(fa[1]) - float(fb[1])) <= 1e-5, (a, b)
        assert all(abs(float(x) - float(y)) <= 1e-2 for x, y in zip(fa[2:], fb[2:])), (a, b)
# The printed lines of eval_ssd.py, with the logging prefix.
text = open(log).read()
assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d - Average Precision Per-class:$", text, re.M), text
m = re.search(r"^.* - {5}plate: (\S+)$", text, re.M)
assert m and float(m.group(1)) == c["classes"][0]["AP"], text
m = re.search(r"^.* - Mean Average Precision \(mAP\):  (\S+)$", text, re.M)
assert m and float(m.group(1)) == c["mAP"], text
assert re.search(r"Average Precision  \(AP\) @\[ IoU=0.50:0.95 \| area=   all \| maxDets=100 \] = ", text)
assert re.search(r"images/s", text)
print("ssd eval matches python: mAP %.6f vs %.6f, COCO AP %.6f vs %.6f" % (
    c["mAP"], p["mAP_voc07"], c["coco"]["AP"], p["coco"][0]))
PY
    $py - "$out/c_$method/pr_plate.png" <<'PY'
import sys
import cv2
img = cv2.imread(sys.argv[1])
assert img is not None and img.shape[2] == 3 and img.shape[1] > 300, sys.argv[1]
# Something was drawn in the curve's blue (31, 119, 180) and the envelope's orange.
b, g, r = img[..., 0].astype(int), img[..., 1].astype(int), img[..., 2].astype(int)
assert ((abs(b - 180) < 20) & (abs(g - 119) < 20) & (abs(r - 31) < 20)).sum() > 50
assert ((abs(b - 14) < 30) & (abs(g - 127) < 30) & (abs(r - 255) < 20)).sum() > 20
PY
done

# --use_2007_metric false: the area under the envelope becomes the reported mAP.
expect_rc 0 "$ssd" eval --net=mb1-ssd --model="$out/model.pth" --dataset="$out/voc" \
    --use-2007-metric=false --eval-dir="$out/c_area" --pr-curves=false
$py - "$out/c_area/metrics.json" "$out/py_hard.json" <<'PY'
import json, sys
c, p = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert c["use_2007_metric"] is False
assert abs(c["mAP"] - p["mAP_voc_area"]) <= 1e-4, (c["mAP"], p["mAP_voc_area"])
PY
[ ! -e "$out/c_area/pr_plate.png" ] || fail "--pr-curves=false wrote a curve"

# Usage errors exit 2, unsupported requests 1, each with one line.
expect_rc 2 "$ssd" eval --dataset "$out/voc"
expect_rc 2 "$ssd" eval --model "$out/model.pth" --dataset "$out/voc" --net resnet
expect_rc 2 "$ssd" eval --model "$out/model.pth" --dataset "$out/voc" --use_2007_metric maybe
expect_rc 2 "$ssd" eval --model "$out/model.pth" --dataset "$out/voc" --nms_method fuzzy
expect_rc 2 "$ssd" eval --model "$out/model.pth" --dataset "$out/voc" --iou_threshold 1.5
expect_rc 1 "$ssd" eval --model "$out/model.pth" --dataset "$out/voc" --dataset_type open_images
grep -q "voc/sub-test-annotations-bbox.csv: not found" "$out/last.err" || fail "open_images: $(cat "$out/last.err")"
expect_rc 1 "$ssd" eval --model "$out/missing.pth" --dataset "$out/voc" --eval-dir "$out/x"
grep -q "missing.pth" "$out/last.err" || fail "missing model: $(cat "$out/last.err")"
# --precision bf16: where the CPU has bfloat16 convs, nearly the float32 mAP of the hard-NMS
# run above (8-bit operands move scores by a few thousandths); elsewhere a clear error
expect_rc 2 "$ssd" eval --model "$out/model.pth" --dataset "$out/voc" --precision fp8
DNNL_MAX_CPU_ISA=AVX2 expect_rc 1 "$ssd" eval --model "$out/model.pth" --dataset "$out/voc" \
    --precision bf16 --eval-dir "$out/b"
grep -q "AVX512_BF16" "$out/last.err" "$out/last.out" || fail "bf16 refusal: $(cat "$out/last.err")"
if "$ssd" info | grep -q '^bf16:      native'; then
    expect_rc 0 "$ssd" eval --model "$out/model.pth" --dataset "$out/voc" --precision bf16 \
        --eval-dir "$out/bf16"
    $py - "$out/c_hard/metrics.json" "$out/bf16/metrics.json" <<'PY'
import json, sys
a, b = (json.load(open(p))["mAP"] for p in sys.argv[1:])
print("mAP fp32 %.4f, bf16 %.4f" % (a, b))
assert abs(a - b) < 0.03, (a, b)
PY
fi
expect_rc 0 "$ssd" eval --help
grep -q -- "--trained-model" "$out/last.out" || fail "help"
echo "eval e2e: ok"
