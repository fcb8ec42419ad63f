#!/usr/bin/env bash
# ssd convert tfjs on the repo's face-api SSD-MobileNetV1: the summary (147
# tensors, the two extras whose shapes differ, 14 folded batch norms), a .pth
# that PyTorch's mb1-ssd loads with only the heads missing, --verbose,
# --calibrate on one image, and bad usage / bad files (exit 2 / 1, one line).
set -euo pipefail
build=$1
src=$2
ssd=$build/ssd
py=/usr/bin/python3
out=$build/fixtures/convert_tfjs
rm -rf "$out"
mkdir -p "$out"
. "$src/tests/common/cli.sh"
if ! "$ssd" convert tfjs --help >/dev/null 2>&1; then
    echo "skipped: this ssd does not dispatch 'convert tfjs' yet"
    exit 77
fi
man=$src/data/pretrained/face-api-ssd-mobilenetv1/ssd_mobilenetv1_model-weights_manifest.json
# The cpu backend where it is built, else the reference one (slower).
backend=cpu
"$ssd" convert tfjs "$man" "$out/probe.pth" --backend cpu >/dev/null 2>&1 || backend=ref
expect_rc 0 "$ssd" convert tfjs "$man" "$out/id.pth" --backend "$backend" --verbose
o=$out/last.out
grep -q "^$out/id.pth: 147 tensors converted from " "$o" || fail "summary: $(cat "$o")"
grep -q "identity: 14 layers" "$o" || fail "folded: $(cat "$o")"
grep -q "^  extras.3.0: weight \[128, 256, 1, 1\] in the model, \[64, 256, 1, 1\] from Prediction/Conv2d_6_pointwise/weights$" "$o" ||
    fail "fresh extras.3.0: $(cat "$o")"
grep -q "^  extras.3.2: weight \[256, 128, 3, 3\] in the model, \[128, 64, 3, 3\] from Prediction/Conv2d_7_pointwise/weights$" "$o" ||
    fail "fresh extras.3.2: $(cat "$o")"
grep -q "46 tensors of the file unused" "$o" || fail "unused: $(cat "$o")"
[ "$(grep -c '^  Prediction/BoxPredictor_' "$o")" -eq 34 ] || fail "--verbose list: $(cat "$o")"

mkdir -p "$out/calib"
cp "$(ls "$src"/data/ccpd-sample/train/*.jpg | head -1)" "$out/calib/"
expect_rc 0 "$ssd" convert tfjs "$man" "$out/cal.pth" --calibrate "$out/calib" --backend "$backend"
grep -q "calibrated on 1 image: 14 layers" "$out/last.out" || fail "calibrate: $(cat "$out/last.out")"

$py - "$out" "$src/tests/golden" <<'PY'
import os, sys, torch
sys.path.insert(0, sys.argv[2])
from mb1_torch import MB1SSD
for name in ("id.pth", "cal.pth"):
    sd = torch.load(os.path.join(sys.argv[1], name))
    net = MB1SSD(2)
    r = net.load_state_dict(sd, strict=False)
    heads = sorted(k for k in net.state_dict() if "headers." in k)
    assert sorted(r.missing_keys) == heads and not r.unexpected_keys, (name, r)
a, b = (torch.load(os.path.join(sys.argv[1], n)) for n in ("id.pth", "cal.pth"))
# Calibration changes the folded BNs only; the same seed gives the same fresh extras.
changed = sorted({k.rsplit(".", 1)[0] for k in a if not torch.equal(a[k], b[k])})
assert set(changed) == {"base_net.0.1"} | {"base_net.%d.4" % i for i in range(1, 14)}, changed
assert torch.equal(a["extras.3.0.weight"], b["extras.3.0.weight"])
PY

# Bad usage: exit 2 with the synopsis.
expect_rc 2 "$ssd" convert tfjs "$man"
grep -q "needs MANIFEST and OUT.pth" "$out/last.err" || fail "usage: $(cat "$out/last.err")"
expect_rc 2 "$ssd" convert tfjs "$man" "$out/x.pth" --batch-size 0
expect_rc 2 "$ssd" convert tfjs "$man" "$out/x.pth" --calibrate-images abc
expect_rc 2 "$ssd" convert tfjs "$man" "$out/x.pth" --bogus
# Bad files: exit 1, one line naming the file.
expect_rc 1 "$ssd" convert tfjs "$out/none.json" "$out/x.pth"
grep -q "none.json" "$out/last.err" || fail "missing manifest: $(cat "$out/last.err")"
printf '[{"paths": ["w.bin"], "weights": [{"name": "a", "shape": [4], "dtype": "float32"}]}]' >"$out/short.json"
printf 'abc' >"$out/w.bin"
expect_rc 1 "$ssd" convert tfjs "$out/short.json" "$out/x.pth"
grep -q "w.bin: too short: tensor 'a'" "$out/last.err" || fail "short bin: $(cat "$out/last.err")"
[ "$(wc -l <"$out/last.err")" -eq 1 ] || fail "more than one line: $(cat "$out/last.err")"
expect_rc 1 "$ssd" convert tfjs "$man" "$out/x.pth" --calibrate "$out/nodir" --backend "$backend"
grep -q "nodir" "$out/last.err" || fail "calibrate dir: $(cat "$out/last.err")"
[ ! -e "$out/x.pth" ] || fail "x.pth written despite errors"
echo "ok"
