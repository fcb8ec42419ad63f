"""TensorFlow.js weight fixtures for test_tfjs.c: a synthetic manifest covering
every supported dtype and quantisation (one group split across two files, one
in a subfolder, plus the model.json form), with the expected values computed
here with numpy; and expected values of a few tensors of the real face-api
SSD-MobileNetV1 files, de-quantised here from the manifest and .bin."""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "common"))
from fixture import save  # noqa: E402

out = sys.argv[1]
os.makedirs(os.path.join(out, "syn", "sub"), exist_ok=True)
rng = np.random.default_rng(0)
REAL = os.path.join(os.path.dirname(__file__), "..", "..", "data", "pretrained",
                    "face-api-ssd-mobilenetv1")


def dequant(q, scale, mn, dtype):
    """As tf.io: q * scale + min in double, then float32 or Math.round for int32."""
    v = q.astype(np.float64) * scale + mn
    if dtype == "int32":
        return np.floor(v + 0.5).astype(np.int64)
    return v.astype(np.float32)


expected = {}
entries_a, entries_b = [], []
blob_a, blob_b = bytearray(), bytearray()


def add(entries, blob, name, shape, dtype, quant=None, scale=None, mn=None):
    n = int(np.prod(shape)) if shape else 1
    e = {"name": name, "shape": shape, "dtype": dtype}
    if quant in ("uint8", "uint16"):
        q = rng.integers(0, 256 if quant == "uint8" else 65536, n).astype(
            np.uint8 if quant == "uint8" else np.uint16)
        blob += q.astype(q.dtype.newbyteorder("<")).tobytes()
        e["quantization"] = {"dtype": quant, "scale": scale, "min": mn}
        val = dequant(q, scale, mn, dtype)
    elif quant == "float16":
        h = (rng.standard_normal(n) * 3).astype(np.float16)
        h[:3] = [np.float16(6.1e-5), np.float16(-0.0), np.float16(65504)][: min(3, n)]
        blob += h.astype("<f2").tobytes()
        e["quantization"] = {"dtype": "float16"}
        val = h.astype(np.float32)
    elif dtype == "float32":
        val = rng.standard_normal(n).astype(np.float32)
        blob += val.astype("<f4").tobytes()
    elif dtype == "int32":
        v = rng.integers(-2**31, 2**31 - 1, n).astype(np.int32)
        blob += v.astype("<i4").tobytes()
        val = v.astype(np.int64)
    elif dtype == "bool":
        v = np.array([1, 0, 1][:n], dtype=np.uint8)
        blob += v.tobytes()
        val = v.astype(np.int64)
    entries.append(e)
    expected[name] = np.asarray(val).reshape(shape) if n else np.zeros(shape, np.float32)


add(entries_a, blob_a, "w_u8", [2, 3, 4], "float32", "uint8", 0.02, -1.3)
add(entries_a, blob_a, "w_f32", [5], "float32")
add(entries_a, blob_a, "w_u16", [3, 2], "float32", "uint16", 1e-4, -3.25)
# min -2.5 and scale 0.5 land on halves: Math.round(-2.5) = -2, Math.round(-0.5) = -0.
add(entries_a, blob_a, "i_u8", [4, 2], "int32", "uint8", 0.5, -2.5)
add(entries_a, blob_a, "s_i32", [], "int32")
add(entries_b, blob_b, "h_f16", [7], "float32", "float16")
add(entries_b, blob_b, "flag", [3], "bool")
add(entries_b, blob_b, "empty", [0, 3], "float32")
add(entries_b, blob_b, "name with \u00e9", [1, 1, 2, 1], "float32", "uint8", 0.25, 0.0)
cut = 29  # splits w_f32 across the two files
with open(os.path.join(out, "syn", "a1.bin"), "wb") as f:
    f.write(blob_a[:cut])
with open(os.path.join(out, "syn", "sub", "a2.bin"), "wb") as f:
    f.write(blob_a[cut:])
with open(os.path.join(out, "syn", "b.bin"), "wb") as f:
    f.write(blob_b)
groups = [{"paths": ["a1.bin", "sub/a2.bin"], "weights": entries_a},
          {"paths": ["b.bin"], "weights": entries_b}]
with open(os.path.join(out, "syn", "manifest.json"), "w") as f:
    json.dump(groups, f, indent=1)
with open(os.path.join(out, "syn", "model.json"), "w") as f:
    json.dump({"format": "graph-model", "modelTopology": {"node": []},
               "weightsManifest": groups}, f)
save(os.path.join(out, "syn_expected.ssdt"), {k: v for k, v in expected.items()
                                               if k != "name with \u00e9"})

# The real files: walk the manifest with our own offsets.
man = json.load(open(os.path.join(REAL, "ssd_mobilenetv1_model-weights_manifest.json")))
data = open(os.path.join(REAL, man[0]["paths"][0]), "rb").read()
want = ["MobilenetV1/Conv2d_0_pointwise/weights",
        "MobilenetV1/Conv2d_13_depthwise/BatchNorm/moving_variance",
        "Prediction/Conv2d_7_pointwise/convolution_bn_offset",
        "Postprocessor/stack/1", "Output/extra_dim"]
real = {}
off = 0
for w in man[0]["weights"]:
    n = int(np.prod(w["shape"])) if w["shape"] else 1
    q = w.get("quantization")
    if q:
        raw = np.frombuffer(data, np.uint8, n, off)
        off += n
        val = dequant(raw, q["scale"], q["min"], w["dtype"])
    else:
        val = np.frombuffer(data, "<f4", n, off).astype(np.float32)
        off += 4 * n
    if w["name"] in want:
        real[w["name"]] = val.reshape(w["shape"])
assert off == len(data), (off, len(data))
real["count"] = np.array([len(man[0]["weights"])], np.int64)
save(os.path.join(out, "real_expected.ssdt"), real)
