#!/usr/bin/env bash
# ssd download open-images against a local server (oi_server.py, started and
# stopped here) serving oi_fixture.py's tree, with a 404, a truncated image, a
# slow answer, a dropped connection and a 503: the tree, the filtered CSVs,
# the statistics, resuming, Ctrl-C, the selection options; then
# ssd train --dataset-type=open_images on the result.
set -euo pipefail
build=$1
src=$2
ssd=$build/ssd
py=/usr/bin/python3
out=$(mktemp -d)
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$out"
}
trap cleanup EXIT
source "$src/tests/common/cli.sh"

$py "$src/tests/cli/oi_fixture.py" "$out/srv"
$py "$src/tests/cli/oi_server.py" "$out/srv" "$out/port" "$out/requests" &
server_pid=$!
for _ in $(seq 100); do [ -f "$out/port" ] && break; sleep 0.1; done
[ -f "$out/port" ] || fail "the test server did not start"
url=http://127.0.0.1:$(cat "$out/port")
urls=(--class-list-url "$url/class-descriptions-boxable.csv" --annotations-url "$url"
    --images-url "$url/img")
fast=(--num-workers 4 --retry 3 --retry-wait 0.05 --timeout 20)

# --- usage ----------------------------------------------------------------------------
expect_rc 0 "$ssd" download open-images --help
grep -q -- "--max-annotations-per-class" "$out/last.out" || fail "help lacks options"
grep -q "open-images-dataset.s3.amazonaws.com" "$out/last.out" || fail "help lacks the image URL"
expect_rc 0 "$ssd" download --help
expect_rc 2 "$ssd" download coco
expect_rc 2 "$ssd" download open-images --root "$out/x"
grep -q -- "--class-names is required" "$out/last.err" || fail "missing --class-names message"
expect_rc 2 "$ssd" download open-images --class-names A --max-images x
expect_rc 2 "$ssd" download open-images --class-names A --num-workers 0
expect_rc 2 "$ssd" download open-images --class-names A --bogus

# --- an unknown class: the reference's message, naming it ---------------------------------
expect_rc 2 "$ssd" download open-images --root "$out/bad" --class-names "Apple,Kiwi" "${urls[@]}"
grep -q "Couldn't find classes 'Kiwi' in the Open Images dataset" "$out/last.err" \
    || fail "unknown class message: $(cat "$out/last.err")"

# --- the download ---------------------------------------------------------------------------
data=$out/data
expect_rc 1 "$ssd" download open-images --root "$data" --class-names "apple, ORANGE" \
    "${urls[@]}" "${fast[@]}"
grep -q "1 of 12 images could not be downloaded" "$out/last.err" || fail "failure count"
grep -q "t06_missing.jpg does not exist (HTTP 404)" "$out/last.err" || fail "404 not reported"
grep -q "Failed to download $url/img/train/t07_trunc.jpg after 3 attempts: .*truncated JPEG" \
    "$out/last.err" || fail "truncated image not reported"
grep -q "Images: 10 downloaded (.*), 0 already there, 1 not on the server, 1 failed" \
    "$out/last.out" || fail "summary line: $(grep Images: "$out/last.out")"
cat >"$out/stats.want" <<'EOF'

-------------------------------------
 'train' set statistics
-------------------------------------
  Image count:  8
  Bounding box count:  11
  Bounding box distribution: 
    Apple:  6/11 = 0.55
    Orange:  5/11 = 0.45
 

-------------------------------------
 'validation' set statistics
-------------------------------------
  Image count:  2
  Bounding box count:  3
  Bounding box distribution: 
    Apple:  3/3 = 1.00
 

-------------------------------------
 'test' set statistics
-------------------------------------
  Image count:  2
  Bounding box count:  3
  Bounding box distribution: 
    Orange:  2/3 = 0.67
    Apple:  1/3 = 0.33
 

-------------------------------------
 Overall statistics
-------------------------------------
  Image count:  12
  Bounding box count:  17

EOF
# the block is the stdout lines without a log timestamp
grep -v '^[0-9]\{4\}-[0-9][0-9]-[0-9][0-9] ' "$out/last.out" >"$out/stats.got" || true
diff "$out/stats.want" "$out/stats.got" || fail "statistics block differs"

(cd "$data" && find . -type f | sort) >"$out/tree"
cat >"$out/tree.want" <<'EOF'
./class-descriptions-boxable.csv
./sub-test-annotations-bbox.csv
./sub-train-annotations-bbox.csv
./sub-validation-annotations-bbox.csv
./test-annotations-bbox.csv
./test/s01.jpg
./test/s02.jpg
./train-annotations-bbox.csv
./train/t01.jpg
./train/t02.jpg
./train/t03.jpg
./train/t08_slow.jpg
./train/t09_drop.jpg
./train/t10_flaky.jpg
./validation-annotations-bbox.csv
./validation/v01.jpg
./validation/v02.jpg
EOF
diff "$out/tree.want" "$out/tree" || fail "downloaded tree differs"
for f in t01 t02 t03 t08_slow t09_drop t10_flaky; do
    cmp -s "$out/srv/img/train/$f.jpg" "$data/train/$f.jpg" || fail "train/$f.jpg differs"
done
grep -c "GET /img/train/t09_drop.jpg" "$out/requests" | grep -qx 2 || fail "dropped connection not retried once"
grep -c "GET /img/train/t10_flaky.jpg" "$out/requests" | grep -qx 2 || fail "503 not retried once"
grep -c "GET /img/train/t07_trunc.jpg" "$out/requests" | grep -qx 3 || fail "truncated image not tried 3 times"

# the filtered CSVs: the source columns plus id and ClassName, quoting kept
$py - "$data" <<'PYEOF' || fail "filtered CSVs"
import csv, sys
root = sys.argv[1]
want = {"train": ["t01", "t01", "t02", "t02", "t02", "t03", "t06_missing", "t07_trunc",
                  "t08_slow", "t09_drop", "t10_flaky"],
        "validation": ["v01", "v02", "v02"], "test": ["s01", "s02", "s02"]}
for split, ids in want.items():
    with open(f"{root}/sub-{split}-annotations-bbox.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["ImageID"] for r in rows] == ids, (split, [r["ImageID"] for r in rows])
    assert list(rows[0].keys())[-2:] == ["id", "ClassName"]
    for r in rows:
        assert r["ClassName"] in ("Apple", "Orange") and r["IsDepiction"] == "0"
        assert r["id"] == r["LabelName"] == {"Apple": "/m/apple", "Orange": "/m/orange"}[r["ClassName"]]
    if split == "train":
        assert rows[0]["Source"] == "xclick, verified" and rows[0]["XMax"] == "0.5"
PYEOF

# --- resume: nothing downloaded again; a damaged image is fetched again ----------------------
head -c 300 "$data/train/t01.jpg" >"$data/t01" && mv "$data/t01" "$data/train/t01.jpg"
before=$(wc -l <"$out/requests")
expect_rc 1 "$ssd" download open-images --root "$data" --class-names "Apple,Orange" \
    "${urls[@]}" "${fast[@]}"
grep -q "train/t01.jpg is damaged" "$out/last.err" || fail "damaged image not noticed"
grep -q "Images: 1 downloaded (.*), 9 already there, 1 not on the server, 1 failed" \
    "$out/last.out" || fail "resume summary: $(grep Images: "$out/last.out")"
tail -n +$((before + 1)) "$out/requests" | sort >"$out/again"
printf 'GET /img/train/t01.jpg\nGET /img/train/t06_missing.jpg\nGET /img/train/t07_trunc.jpg\nGET /img/train/t07_trunc.jpg\nGET /img/train/t07_trunc.jpg\n' \
    | diff - "$out/again" || fail "the re-run fetched more than the missing files"
cmp -s "$out/srv/img/train/t01.jpg" "$data/train/t01.jpg" || fail "t01.jpg not repaired"

# --- Ctrl-C during a transfer: no partial file, and a re-run completes -------------------------
mkdir "$out/int"
cp "$data"/*.csv "$out/int/"
rc=0
timeout --preserve-status -s INT 1 "$ssd" download open-images --root "$out/int" --class-names "Orange" \
    "${urls[@]}" "${fast[@]}" >"$out/int.log" 2>&1 || rc=$?
[ "$rc" = 130 ] || { cat "$out/int.log"; fail "Ctrl-C exit status $rc, want 130"; }
[ -z "$(find "$out/int" -name '*.part' -o -name '*.tmp.*')" ] || fail "partial files left: $(find "$out/int" -name '*.part')"
[ ! -e "$out/int/train/t08_slow.jpg" ] || fail "the slow image cannot be complete after 1 s"
expect_rc 0 "$ssd" download open-images --root "$out/int" --class-names "Orange" \
    "${urls[@]}" "${fast[@]}"
cmp -s "$out/srv/img/train/t08_slow.jpg" "$out/int/train/t08_slow.jpg" || fail "resumed t08_slow.jpg"

# --- selection options (statistics only) ------------------------------------------------------
stats() { # name, extra options...
    local name=$1
    shift
    expect_rc 0 "$ssd" download open-images --root "$data" --class-names "Apple,Orange" \
        "${urls[@]}" --stats-only "$@"
    grep -v '^[0-9]\{4\}-' "$out/last.out" >"$out/$name" || true
}
before=$(wc -l <"$out/requests")
stats overlap --remove-overlapped
grep -A6 "'train' set" "$out/overlap" | grep -q "Bounding box count:  10" || fail "--remove-overlapped"
grep -q "Apple:  5/10 = 0.50" "$out/overlap" || fail "--remove-overlapped distribution"
stats depict --include-depiction
grep -q "Apple:  7/12 = 0.58" "$out/depict" || fail "--include-depiction train"
grep -q "Orange:  1/4 = 0.25" "$out/depict" || fail "--include-depiction validation"
stats maxann --max-annotations-per-class 2
grep -q "Apple:  2/4 = 0.50" "$out/maxann" || fail "--max-annotations-per-class train"
grep -q "Apple:  2/2 = 1.00" "$out/maxann" || fail "--max-annotations-per-class validation"
stats maximg --max-images 6
grep -A3 "'train' set" "$out/maximg" | grep -q "Image count:  4" || fail "--max-images train share"
grep -A3 "Overall" "$out/maximg" | grep -q "Image count:  6" || fail "--max-images total"
[ "$(wc -l <"$out/requests")" = "$before" ] || fail "--stats-only downloaded something"

# --- training on the download --------------------------------------------------------------------
expect_rc 0 "$ssd" train --dataset-type=open_images --data="$data" --model-dir="$out/m" \
    --epochs=1 --batch-size=2 --workers=1 --resolution=128
grep -qF "2 of 8 images are missing from $data/train and were dropped" "$out/last.err" \
    || fail "missing images not counted"
for line in "Train dataset size: 6" \
    "Validation dataset size: 2" "Epoch: 0, Training Loss:" "Epoch: 0, Validation Loss:" \
    "Task done, exiting program."; do
    grep -qF -- "$line" "$out/last.out" || { cat "$out/last.out"; fail "train log lacks: $line"; }
done
[ "$(cat "$out/m/labels.txt")" = "$(printf 'BACKGROUND\nApple\nOrange')" ] || fail "labels.txt"
ls "$out/m"/mb1-ssd-Epoch-0-Loss-*.pth >/dev/null || fail "no checkpoint"
ck=$(ls "$out/m"/mb1-ssd-Epoch-0-Loss-*.pth)
expect_rc 0 "$ssd" eval --dataset-type=open_images --dataset="$data" --model="$ck" \
    --label-file="$out/m/labels.txt" --resolution=128 --eval-dir="$out/ev"
grep -q "evaluating 2 images" "$out/last.out" || { cat "$out/last.out"; fail "eval on the test split"; }
[ -f "$out/ev/metrics.json" ] || fail "eval wrote no metrics.json"
printf 'BACKGROUND\nOrange\nApple\n' >"$out/wrong.txt"
expect_rc 2 "$ssd" eval --dataset-type=open_images --dataset="$data" --model="$ck" \
    --label-file="$out/wrong.txt" --resolution=128 --eval-dir="$out/ev"
grep -q "wrong.txt: class 1 is 'Orange' there but 'Apple'" "$out/last.err" || fail "label mismatch"
expect_rc 0 "$ssd" train --dataset-type=open_images --data="$data" --model-dir="$out/m2" \
    --epochs=0 --balance-data
grep -q "Minimum Number of Images for a Class: 3" "$out/last.out" || fail "--balance-data"
echo "download: ok"
