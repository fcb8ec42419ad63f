#!/usr/bin/env bash
# ssd convert ccpd on the repo's CCPD sample: every XML box equals the box in
# its file name (after the reader's -1), split counts, idempotence; ssd convert
# split: counts, determinism, existing files respected; bad usage exits 2.
set -euo pipefail
build=$1
src=$2
ssd=$build/ssd
py=/usr/bin/python3
out=$build/fixtures/convert
rm -rf "$out"
mkdir -p "$out"
. "$src/tests/common/cli.sh"

sample=$src/data/ccpd-sample
voc=$out/voc
expect_rc 0 "$ssd" convert ccpd "$sample" "$voc"
grep -q "103 images (train 86, val 17, test 0" "$out/last.out" || fail "summary: $(cat "$out/last.out")"

$py - "$voc" "$sample" <<'PY'
import os, sys, xml.etree.ElementTree as ET
voc, sample = sys.argv[1], sys.argv[2]
def ids(name):
    with open(os.path.join(voc, "ImageSets/Main", name)) as f:
        return [l.rstrip("\n") for l in f]
train, val, trainval, test = (ids(n + ".txt") for n in ("train", "val", "trainval", "test"))
assert len(train) == 86 and len(val) == 17, (len(train), len(val))
assert trainval == train + val and test == val, "trainval/test"
assert not set(train) & set(val)
def listed(split):
    return sorted(os.path.splitext(os.path.basename(l.strip()))[0]
                  for l in open(os.path.join(sample, "splits", split + ".txt")) if l.strip())
assert sorted(train) == listed("train") and sorted(val) == listed("val")
assert open(os.path.join(voc, "labels.txt")).read() == "plate\n"
for i in trainval:
    root = ET.parse(os.path.join(voc, "Annotations", i + ".xml")).getroot()
    fields = i.split("-")
    (a, b) = fields[2].split("_")
    want = [float(v) for v in a.split("&") + b.split("&")]
    objs = root.findall("object")
    assert len(objs) == 1 and objs[0].find("name").text == "plate"
    bb = objs[0].find("bndbox")
    # The reference VOCDataset's reading: float(text) - 1.
    got = [float(bb.find(k).text) - 1 for k in ("xmin", "ymin", "xmax", "ymax")]
    assert got == want, (i, got, want)
    verts = [float(objs[0].find("vertices").find(k).text) - 1
             for k in ("x1", "y1", "x2", "y2", "x3", "y3", "x4", "y4")]
    assert verts == [float(v) for p in fields[3].split("_") for v in p.split("&")], i
    assert root.find("filename").text == i + ".jpg"
    size = root.find("size")
    assert (size.find("width").text, size.find("height").text, size.find("depth").text) == ("720", "1160", "3")
    img = os.path.join(voc, "JPEGImages", i + ".jpg")
    split = "train" if i in train else "val"
    assert open(img, "rb").read() == open(os.path.join(sample, split, i + ".jpg"), "rb").read(), i
assert len(os.listdir(os.path.join(voc, "Annotations"))) == 103
assert len(os.listdir(os.path.join(voc, "JPEGImages"))) == 103
print("convert: 103 boxes match their file names")
PY

snapshot() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
snapshot "$voc" >"$out/snap1"
expect_rc 0 "$ssd" convert ccpd "$sample" "$voc"
snapshot "$voc" >"$out/snap2"
cmp -s "$out/snap1" "$out/snap2" || fail "second run changed the tree"

# CCPD2020 layout without lists: train/ val/ folders only, plus junk names.
alt=$out/ccpd2020
mkdir -p "$alt/train" "$alt/val" "$alt/test"
cp "$sample"/train/0*.jpg "$alt/train/"
cp "$sample"/val/*.jpg "$alt/test/"
cp "$(ls "$sample"/train/*.jpg | head -1)" "$alt/train/not-a-ccpd-name.jpg"
cp "$(ls "$sample"/train/*.jpg | head -1)" "$alt/train/1005.jpg"
echo "not a jpeg" >"$alt/val/0-1_2-10&10_20&20-1&1_2&2_3&3_4&4-0_0_0_0_0_0_0-1-1.jpg"
expect_rc 0 "$ssd" convert ccpd "$alt" "$out/voc2020"
grep -q "skipped: 2 names without a box, 0 duplicate names, 0 missing, 1 unreadable" "$out/last.out" ||
    fail "ccpd2020 summary: $(cat "$out/last.out")"
[ "$(wc -l <"$out/voc2020/ImageSets/Main/test.txt")" -eq 17 ] || fail "ccpd2020 test split"

# Split generation.
sp=$out/split
mkdir -p "$sp"
cp -r "$voc/Annotations" "$voc/JPEGImages" "$sp/"
expect_rc 0 "$ssd" convert split "$sp" --seed 3
$py - "$sp" <<'PY'
import os, sys
d = os.path.join(sys.argv[1], "ImageSets/Main")
s = {n: open(os.path.join(d, n + ".txt")).read().split() for n in ("train", "val", "trainval", "test")}
assert (len(s["train"]), len(s["val"]), len(s["test"])) == (72, 21, 10), {k: len(v) for k, v in s.items()}
assert sorted(s["trainval"]) == sorted(s["train"] + s["val"])
allids = set(s["train"]) | set(s["val"]) | set(s["test"])
assert len(allids) == 103 and not set(s["train"]) & set(s["test"]) and not set(s["val"]) & set(s["test"])
PY
snapshot "$sp/ImageSets" >"$out/split1"
expect_rc 0 "$ssd" convert split "$sp" --seed 3
grep -q "nothing to do" "$out/last.out" || fail "second split run: $(cat "$out/last.out")"
expect_rc 0 "$ssd" convert split "$sp" --seed=3 --force
snapshot "$sp/ImageSets" >"$out/split2"
cmp -s "$out/split1" "$out/split2" || fail "split with the same seed differs"
expect_rc 0 "$ssd" convert split "$sp" --seed=4 --force
snapshot "$sp/ImageSets" >"$out/split3"
cmp -s "$out/split1" "$out/split3" && fail "another seed gave the same split"
# Only test.txt missing: it gets what trainval does not list.
rm "$sp/ImageSets/Main/test.txt"
expect_rc 0 "$ssd" convert split "$sp" --seed 4
$py - "$sp" <<'PY'
import os, sys
d = os.path.join(sys.argv[1], "ImageSets/Main")
tv = set(open(os.path.join(d, "trainval.txt")).read().split())
te = set(open(os.path.join(d, "test.txt")).read().split())
assert te and not tv & te, "regenerated test.txt overlaps trainval"
PY
expect_rc 0 "$ssd" convert split "$sp" --train 0.8 --val 0.2 --force
[ "$(wc -l <"$sp/ImageSets/Main/test.txt")" -eq 0 ] || fail "--test defaults to the rest"

# Usage errors: exit 2; failures: exit 1 naming the path.
expect_rc 2 "$ssd" convert
expect_rc 2 "$ssd" convert nothing
expect_rc 2 "$ssd" convert ccpd
expect_rc 2 "$ssd" convert ccpd "$sample"
expect_rc 2 "$ssd" convert ccpd "$sample" "$out/x" extra
expect_rc 2 "$ssd" convert ccpd --bogus "$sample" "$out/x"
expect_rc 2 "$ssd" convert split
expect_rc 2 "$ssd" convert split "$sp" --train abc
expect_rc 2 "$ssd" convert split "$sp" --train 0.9 --val 0.3
expect_rc 2 "$ssd" convert split "$sp" --train 0.5 --val 0.3 --test 0.3
expect_rc 2 "$ssd" convert split "$sp" --seed -1
expect_rc 0 "$ssd" convert --help
grep -q "ccpd SRC DST" "$out/last.out" || fail "convert --help"
expect_rc 0 "$ssd" convert ccpd --help
expect_rc 0 "$ssd" convert split --help
expect_rc 1 "$ssd" convert ccpd "$out/does-not-exist" "$out/x"
grep -q "does-not-exist" "$out/last.err" || fail "missing SRC not named"
expect_rc 1 "$ssd" convert ccpd "$out/split/Annotations" "$out/x"
grep -q "no CCPD images" "$out/last.err" || fail "not-CCPD SRC: $(cat "$out/last.err")"
expect_rc 1 "$ssd" convert split "$out/does-not-exist"
"$ssd" --help | grep -q convert || fail "convert not in ssd --help"
echo "convert: all checks passed"
