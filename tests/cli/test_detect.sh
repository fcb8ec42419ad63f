#!/usr/bin/env bash
# ssd detect end to end: a checkpoint trained one short epoch on a cut of the
# CCPD sample, exported to ONNX; the ONNX and the .pth agree; every option and
# input/output form, good and bad; JSON/CSV contents and box ranges.
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
has() { grep -qF -- "$1" "$work/out" || { cat "$work/out"; fail "output lacks: $1"; }; }

# --- a model that sees something: the repo's pretrained backbone, one epoch on 16 images ----
# (seeded random weights give outputs that hardly depend on the image, which would hide a
# batch mix-up)
"$ssd" convert ccpd "$src/data/ccpd-sample" "$work/voc" >/dev/null
head -n 16 "$work/voc/ImageSets/Main/train.txt" >"$work/voc/ImageSets/Main/trainval.txt"
head -n 4 "$work/voc/ImageSets/Main/val.txt" >"$work/voc/ImageSets/Main/test.txt"
"$ssd" convert tfjs "$src/data/pretrained/face-api-ssd-mobilenetv1/ssd_mobilenetv1_model-weights_manifest.json" \
    "$work/face.pth" >/dev/null 2>&1
"$ssd" train --dataset-type=voc --data="$work/voc" --model-dir="$work/m" --pretrained-ssd="$work/face.pth" \
    --batch-size=8 --epochs=1 --workers=2 --lr=0.001 >"$work/trainlog" 2>&1 \
    || { cat "$work/trainlog"; fail "training failed"; }
pth=$(ls "$work/m"/mb1-ssd-Epoch-0-Loss-*.pth)
labels=$work/m/labels.txt
"$ssd" export --input="$pth" --labels="$labels" --output="$work/m.onnx" >/dev/null
"$ssd" export --input="$pth" --labels="$labels" --output="$work/dyn.onnx" --dynamic-batch >/dev/null
onnx=$work/m.onnx

imgs=$work/imgs
mkdir -p "$imgs"
for f in $(head -n 6 "$work/voc/ImageSets/Main/val.txt"); do cp "$work/voc/JPEGImages/$f.jpg" "$imgs/"; done
one=$(ls "$imgs"/*.jpg | head -n 1)

# --- usage errors (exit 2) ---------------------------------------------------------------
expect_rc 0 "$ssd" detect --help
has "--output-bbox"
expect_rc 2 "$ssd" detect
expect_rc 2 "$ssd" detect "$one"
has "--model is required"
expect_rc 2 "$ssd" detect --model="$onnx" --overlay=box,sparkles "$one"
has "sparkles"
expect_rc 2 "$ssd" detect --model="$onnx" --threshold=1.5 "$one"
expect_rc 2 "$ssd" detect --model="$onnx" --confidence=abc "$one"
expect_rc 2 "$ssd" detect --model="$onnx" --alpha=256 "$one"
expect_rc 2 "$ssd" detect --model="$onnx" --batch-size=0 "$one"
expect_rc 2 "$ssd" detect --model="$onnx" --clustering=2 "$one"
expect_rc 2 "$ssd" detect --model="$onnx" --no-such-flag "$one"
expect_rc 2 "$ssd" detect --model="$onnx" "$one" "$work/a.jpg" "$work/b.jpg"
has "quote a glob"
expect_rc 2 "$ssd" detect --model="$onnx" "$one" "$work/out.gif"
has ".gif"
expect_rc 2 "$ssd" detect --model="$onnx" "$imgs" "$work/o_%i_%i.jpg"
expect_rc 2 "$ssd" detect --model="$onnx" "$imgs" "$work/o_%s.jpg"
expect_rc 2 "$ssd" detect --model="$onnx" "$imgs" "$work/o_%.3i.jpg"
expect_rc 2 "$ssd" detect --model="$onnx" "$imgs" "$work/one.jpg"
has "one file for 6 inputs"
expect_rc 2 "$ssd" detect --model="$onnx" "$imgs" "$imgs"
has "overwrite an input"
expect_rc 2 "$ssd" detect --model="$onnx" --input-blob=data "$one"
has "'data'"
has "input_0"
expect_rc 2 "$ssd" detect --model="$onnx" --output-cvg=coverage "$one"
has "'coverage'"
expect_rc 2 "$ssd" detect --model="$onnx" --output-bbox=bboxes "$one"
has "'bboxes'"
expect_rc 2 "$ssd" detect --model="$pth" "$one"
has "--labels"
expect_rc 2 "$ssd" detect --model="$pth" --labels="$labels" --input-blob=input_0 "$one"

# --- model and input errors (exit 1) -------------------------------------------------------
expect_rc 1 "$ssd" detect --model="$work/nothere.onnx" "$one"
has "nothere.onnx"
head -c 1000 "$onnx" >"$work/cut.onnx"
expect_rc 1 "$ssd" detect --model="$work/cut.onnx" "$one"
has "cut.onnx"
expect_rc 1 "$ssd" detect --model="$pth" --labels="$src/README.md" "$one" # 1 class: wrong shapes
expect_rc 1 "$ssd" detect --model="$onnx" "$work/nothere.jpg"
has "nothere.jpg"
mkdir -p "$work/empty"
expect_rc 1 "$ssd" detect --model="$onnx" "$work/empty"
expect_rc 1 "$ssd" detect --model="$onnx" "$work/empty/*.jpg"
has "no file matches"
printf '\n\n' >"$work/empty.txt"
expect_rc 1 "$ssd" detect --model="$onnx" "$work/empty.txt"

# --- ONNX and .pth agree; JSON and CSV contents ------------------------------------------------
common=(--threshold=0.6 --overlay=none)
"$ssd" detect --model="$onnx" "${common[@]}" --json="$work/onnx.json" --csv="$work/onnx.csv" "$imgs" >"$work/out" 2>&1 \
    || { cat "$work/out"; fail "onnx run"; }
has "detected "
has "objects in image"
"$ssd" detect --model="$pth" --labels="$labels" "${common[@]}" --json="$work/pth.json" "$imgs" >"$work/out" 2>&1 \
    || { cat "$work/out"; fail "pth run"; }
"$ssd" detect --model="$work/dyn.onnx" "${common[@]}" --batch-size=4 --json="$work/b4.json" "$imgs" >"$work/out" 2>&1 \
    || { cat "$work/out"; fail "batch 4 run"; }
"$ssd" detect --model="$onnx" "${common[@]}" --batch-size=4 --threads=1 --json="$work/fixed.json" "$imgs" >"$work/out" 2>&1 \
    || { cat "$work/out"; fail "fixed-batch run"; }
has "takes batches of 1"
"$ssd" detect --model="$onnx" --threshold=0 --overlay=none --json="$work/t0.json" "$imgs" >/dev/null 2>&1
"$ssd" detect --model="$onnx" --overlay=none --json="$work/t5.json" "$imgs" >/dev/null 2>&1
cmp -s "$work/t0.json" "$work/t5.json" || fail "--threshold 0 is not the default"
"$ssd" detect --model="$onnx" "${common[@]}" --clustering=0 --json="$work/clu.json" "$imgs" >/dev/null 2>&1 \
    || fail "clustering run"
$py - "$work" "$imgs" <<'PYEOF' || fail "JSON checks"
import csv, glob, json, os, sys
work, imgs = sys.argv[1], sys.argv[2]
L = lambda n: json.load(open(os.path.join(work, n)))
onnx, pth, b4, fixed, clu = L("onnx.json"), L("pth.json"), L("b4.json"), L("fixed.json"), L("clu.json")
names = sorted(glob.glob(imgs + "/*.jpg"))
assert [r["image"] for r in onnx] == names, "images in directory order"
total = 0
for r in onnx:
    assert set(r) == {"image", "width", "height", "detections"}
    assert (r["width"], r["height"]) == (720, 1160), r
    for d in r["detections"]:
        assert set(d) == {"class_id", "label", "confidence", "box"}
        assert d["class_id"] == 1 and d["label"] == "plate"
        assert 0.6 < d["confidence"] <= 1
        x1, y1, x2, y2 = d["box"]
        assert 0 <= x1 <= x2 <= r["width"] and 0 <= y1 <= y2 <= r["height"], d
    total += len(r["detections"])
assert total > 0, "nothing detected at 0.6"
counts = [len(r["detections"]) for r in onnx]
assert len(set(counts)) > 1 or len({str(r["detections"][:1]) for r in onnx}) > 1, "same result everywhere"
def same(a, b, what):
    assert len(a) == len(b), what
    for ra, rb in zip(a, b):
        assert ra["image"] == rb["image"] and len(ra["detections"]) == len(rb["detections"]), (what, ra["image"])
        for da, db in zip(ra["detections"], rb["detections"]):
            assert da["class_id"] == db["class_id"], what
            assert abs(da["confidence"] - db["confidence"]) < 1e-4, (what, da, db)
            assert max(abs(p - q) for p, q in zip(da["box"], db["box"])) < 0.1, (what, da, db)
same(onnx, pth, "onnx vs pth")
same(onnx, b4, "batch 1 vs batch 4")
same(onnx, fixed, "fixed batch")
rows = list(csv.reader(open(os.path.join(work, "onnx.csv"))))
assert len(rows) == total, (len(rows), total)
assert rows[0][0] == onnx[0]["image"] and rows[0][4] == "plate"
for r in clu:
    areas = [(d["box"][2] - d["box"][0]) * (d["box"][3] - d["box"][1]) for d in r["detections"]]
    assert areas == sorted(areas, reverse=True), "clustering sorts by area"
    for d in r["detections"]:
        x1, y1, x2, y2 = d["box"]
        assert 0 <= x1 <= x2 <= r["width"] - 1 and 0 <= y1 <= y2 <= r["height"] - 1
assert sum(len(r["detections"]) for r in clu) > 0
PYEOF

# --- input forms: file, glob, list (relative to the list), unusual images ------------------------
expect_rc 0 "$ssd" detect --model="$onnx" --overlay=none "$one"
[ "$(grep -c "objects in image" "$work/out")" = 1 ] || fail "one file"
expect_rc 0 "$ssd" detect --model="$onnx" --overlay=none "$imgs/*.jpg"
[ "$(grep -c "objects in image" "$work/out")" = 6 ] || fail "glob"
mkdir -p "$work/lists"
(cd "$imgs" && ls *.jpg | head -n 3) | sed '2s/^/# /' >"$work/lists/l.txt"
cp "$imgs"/*.jpg "$work/lists/"
printf '\n' >>"$work/lists/l.txt"
expect_rc 0 "$ssd" detect --model="$onnx" --overlay=none "$work/lists/l.txt"
[ "$(grep -c "objects in image" "$work/out")" = 2 ] || fail "list file (comment, blank line)"
$py - "$work/odd" <<'PYEOF'
import cv2, numpy as np, os, sys
d = sys.argv[1]; os.makedirs(d)
rng = np.random.default_rng(0)
cv2.imwrite(d + "/a_gray.jpg", rng.integers(0, 255, (200, 300), np.uint8))
cv2.imwrite(d + "/b_alpha.png", rng.integers(0, 255, (150, 100, 4), np.uint8))
cv2.imwrite(d + "/c_big.jpg", np.full((3000, 4000, 3), 90, np.uint8))
cv2.imwrite(d + "/d_tiny.bmp", rng.integers(0, 255, (1, 1, 3), np.uint8))
open(d + "/e_broken.jpg", "wb").write(b"\xff\xd8\xff\xe0 not really a jpeg")
open(d + "/f_empty.png", "wb").close()
PYEOF
expect_rc 1 "$ssd" detect --model="$onnx" --threshold=0.01 --json="$work/odd.json" --csv="$work/odd.csv" "$work/odd" "$work/oddout/"
has "e_broken.jpg"
has "f_empty.png"
has "4 images"
has "2 failed"
$py - "$work/odd.json" "$work/oddout" <<'PYEOF' || fail "unusual images"
import json, os, sys
r = json.load(open(sys.argv[1]))
assert [(os.path.basename(x["image"]), x["width"], x["height"]) for x in r] == [
    ("a_gray.jpg", 300, 200), ("b_alpha.png", 100, 150), ("c_big.jpg", 4000, 3000), ("d_tiny.bmp", 1, 1)], r
assert sorted(os.listdir(sys.argv[2])) == ["a_gray.jpg", "b_alpha.png", "c_big.jpg", "d_tiny.jpg"]
PYEOF

# --- outputs: file, directory, %i patterns, PNG; drawing changes pixels, none does not --------
expect_rc 0 "$ssd" detect --model="$onnx" --threshold=0.2 "$one" "$work/single.jpg"
[ -s "$work/single.jpg" ] || fail "single output"
expect_rc 0 "$ssd" detect --model="$onnx" --threshold=0.2 "$imgs" "$work/seq/plate_%04i.jpg"
[ "$(ls "$work/seq")" = "$(printf 'plate_%04d.jpg\n' 0 1 2 3 4 5)" ] || { ls "$work/seq"; fail "%04i"; }
expect_rc 0 "$ssd" detect --model="$onnx" --threshold=0.2 "$imgs" "$work/seq2/p%i-100%%.png"
[ -f "$work/seq2/p5-100%.png" ] || { ls "$work/seq2"; fail "%i with %%"; }
$py -c "import PIL" 2>/dev/null || true
$py - "$work" "$one" "$onnx" "$ssd" <<'PYEOF' || fail "drawing"
import cv2, numpy as np, subprocess, sys
work, one, onnx, ssd = sys.argv[1:]
src = cv2.imread(one)
cv2.imwrite(work + "/in.png", src)
def run(*a):
    subprocess.run([ssd, "detect", "--model=" + onnx, "--threshold=0.2", *a], check=True, capture_output=True)
run("--overlay=none", work + "/in.png", work + "/none.png")
assert np.array_equal(cv2.imread(work + "/none.png"), src), "--overlay none changed pixels"
run(work + "/in.png", work + "/drawn.png")
run("--overlay=lines", "--alpha=0", work + "/in.png", work + "/lines.png")
run("--overlay=BOX|Labels", "--alpha=255", work + "/in.png", work + "/box255.png")
d, l, b = (cv2.imread(work + f) for f in ("/drawn.png", "/lines.png", "/box255.png"))
diff = lambda a: int((np.abs(a.astype(int) - src).sum(2) > 0).sum())
assert diff(d) > 1000 and diff(l) > 100 and diff(b) > 1000, (diff(d), diff(l), diff(b))
assert diff(l) < diff(d), "outlines cover less than filled boxes"
PYEOF

# --- labels: fewer than classes -> "Class #n" with a warning; void skipped ------------------------
echo BACKGROUND >"$work/short.txt"
expect_rc 0 "$ssd" detect --model="$onnx" --labels="$work/short.txt" --threshold=0.2 --overlay=none --json="$work/short.json" "$imgs"
has "warning"
grep -q '"label": "Class #1"' "$work/short.json" || fail "Class #1"
printf 'BACKGROUND\n\nvoid\n' >"$work/void.txt"
expect_rc 0 "$ssd" detect --model="$onnx" --labels="$work/void.txt" --threshold=0.2 --overlay=none --json="$work/void.json" "$imgs"
! grep -q class_id "$work/void.json" || fail "void class reported"

# --- --use-cuda: the GPU where there is one, else the CPU with a note --------------------------
expect_rc 2 "$ssd" detect --model="$onnx" --use-cuda=maybe "$one"
"$ssd" detect --model="$onnx" --use-cuda=true --threshold=0.2 --overlay=none --json="$work/cu.json" "$imgs" >"$work/out" 2>&1 \
    || { cat "$work/out"; fail "--use-cuda=true"; }
"$ssd" detect --model="$onnx" --threshold=0.2 --overlay=none --json="$work/cpu.json" "$imgs" >/dev/null 2>&1
if "$ssd" info | grep -q '^cuda: .*no device\|^cuda: .*not built'; then
    has "CUDA is not available"
    cmp -s "$work/cu.json" "$work/cpu.json" || fail "--use-cuda without a GPU changed the detections"
fi

# --- --precision: bf16 where the backend has bfloat16 convs, a clear error elsewhere ----------
expect_rc 2 "$ssd" detect --model="$onnx" --precision=fp8 "$one"
has "--precision"
DNNL_MAX_CPU_ISA=AVX2 expect_rc 1 "$ssd" detect --model="$onnx" --precision=bf16 "$one"
has "AVX512_BF16"
has "$onnx"
DNNL_MAX_CPU_ISA=AVX2 expect_rc 1 "$ssd" detect --model="$pth" --labels="$labels" --precision=bf16 "$one"
has "AVX512_BF16"
has "$pth"
"$ssd" detect --model="$onnx" --precision=fp32 --threshold=0.2 --overlay=none --json="$work/p32.json" "$imgs" >/dev/null 2>&1 \
    || fail "--precision fp32"
set +e
"$ssd" detect --model="$onnx" --precision=bf16 --threshold=0.2 --overlay=none --json="$work/p16.json" "$imgs" >"$work/out" 2>&1
rc=$?
set -e
if [ $rc -ne 0 ]; then # no AVX512_BF16 / AMX here: the error names the file and what is missing
    [ $rc = 1 ] || fail "--precision bf16 exited $rc"
    has "bf16"
    has "$onnx"
    echo "bf16: not on this machine ($(head -c 200 "$work/out"))"
else
    "$ssd" detect --model="$pth" --labels="$labels" --threshold=0.2 --overlay=none --json="$work/q32.json" "$imgs" >/dev/null 2>&1
    "$ssd" detect --model="$pth" --labels="$labels" --precision=bf16 --threshold=0.2 --overlay=none \
        --json="$work/q16.json" "$imgs" >/dev/null 2>&1 || fail "--precision bf16 on a .pth"
    # 8 significant bits in every conv: the same plates, scores within a few hundredths
    $py - "$work/p32.json" "$work/p16.json" "$work/q32.json" "$work/q16.json" <<'PYEOF' || fail "bf16 detections"
import json, sys
def iou(p, q):
    w = min(p[2], q[2]) - max(p[0], q[0]); h = min(p[3], q[3]) - max(p[1], q[1])
    i = max(w, 0) * max(h, 0)
    return i / ((p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - i)
for f32, f16 in ((sys.argv[1], sys.argv[2]), (sys.argv[3], sys.argv[4])):
    a, b = ({d["image"]: d["detections"] for d in json.load(open(p))} for p in (f32, f16))
    n = matched = 0
    worst = 0.0
    for img, da in a.items():
        for d in da:
            n += 1
            m = [e for e in b[img] if e["class_id"] == d["class_id"] and iou(d["box"], e["box"]) > 0.8]
            if m:
                matched += 1
                worst = max(worst, min(abs(e["confidence"] - d["confidence"]) for e in m))
    print(f"bf16 vs fp32 ({f16[-8:]}): {matched} of {n} detections matched (IoU > 0.8), "
          f"worst score diff {worst:.3f}")
    assert n > 10 and matched >= 0.9 * n and worst < 0.1, (n, matched, worst)
PYEOF
fi
echo "ok"
