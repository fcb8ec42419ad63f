"""Fixtures for test_tfjs_convert.c, from the face-api SSD-MobileNetV1 files.

Our own numpy reader de-quantises the manifest + .bin (independently of the C
reader), and our own PyTorch version of the original TensorFlow graph (SAME
padding, depthwise batch norm with eps 1e-3, folded pointwise batch norm as
an offset, ReLU6) runs one real image. Written:
  input         (1,3,257,257) the image, mb1-ssd preprocessing
  calib         (2,3,65,65)   two images for the calibration checks
  relu/<tap>    taps of the TF graph with ReLU instead of ReLU6
  relu6/<tap>   the same with ReLU6 (the true graph), for the report
  key/<name>    expected state_dict values, converted here with numpy
257 is chosen so that every stride-2 convolution of the converted layers
sees an odd input size: there TF's SAME padding equals PyTorch's padding 1."""
import json
import os
import sys

import cv2
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "common"))
from fixture import save  # noqa: E402

torch.set_num_threads(2)
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
MODEL = os.path.join(ROOT, "data", "pretrained", "face-api-ssd-mobilenetv1")
IMAGES = os.path.join(ROOT, "data", "ccpd-sample", "train")


def read_tfjs(manifest):
    groups = json.load(open(manifest))
    w = {}
    for g in groups:
        data = b"".join(open(os.path.join(os.path.dirname(manifest), p), "rb").read()
                        for p in g["paths"])
        off = 0
        for e in g["weights"]:
            n = int(np.prod(e["shape"])) if e["shape"] else 1
            q = e.get("quantization")
            if q:
                v = np.frombuffer(data, np.uint8, n, off).astype(np.float64) * q["scale"] + q["min"]
                off += n
                v = np.floor(v + 0.5) if e["dtype"] == "int32" else v.astype(np.float32)
            else:
                v = np.frombuffer(data, "<f4", n, off)
                off += 4 * n
            w[e["name"]] = np.asarray(v).reshape(e["shape"])
        assert off == len(data)
    return w


W = read_tfjs(os.path.join(MODEL, "ssd_mobilenetv1_model-weights_manifest.json"))
T = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in W.items()
     if v.dtype != np.float64}


def same_pad(x, k, s):
    """TensorFlow's SAME: total padding split with the extra row/column at the bottom/right."""
    def total(n):
        return max((-(-n // s) - 1) * s + k - n, 0)
    th, tw = total(x.shape[2]), total(x.shape[3])
    return F.pad(x, (tw // 2, tw - tw // 2, th // 2, th - th // 2))


def conv(x, w_hwio, s, depthwise=False):
    x = same_pad(x, w_hwio.shape[0], s)
    if depthwise:  # [kh, kw, C, 1] -> [C, 1, kh, kw]
        return F.conv2d(x, w_hwio.permute(2, 3, 0, 1), stride=s, groups=x.shape[1])
    return F.conv2d(x, w_hwio.permute(3, 2, 0, 1), stride=s)


def tf_graph(x, act):
    taps = {}
    p = "MobilenetV1/Conv2d_0_pointwise/"
    x = act(conv(x, T[p + "weights"], 2) + T[p + "convolution_bn_offset"].view(1, -1, 1, 1))
    strides = [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]
    for i in range(1, 14):
        d = "MobilenetV1/Conv2d_%d_depthwise/" % i
        x = conv(x, T[d + "depthwise_weights"], strides[i - 1], depthwise=True)
        bn = [T[d + "BatchNorm/" + n].view(1, -1, 1, 1)
              for n in ("gamma", "beta", "moving_mean", "moving_variance")]
        x = act(bn[0] * (x - bn[2]) / torch.sqrt(bn[3] + 1e-3) + bn[1])
        p = "MobilenetV1/Conv2d_%d_pointwise/" % i
        x = act(conv(x, T[p + "weights"], 1) + T[p + "convolution_bn_offset"].view(1, -1, 1, 1))
        if i == 11:
            taps["f11"] = x
    taps["f13"] = x
    for j in range(3):
        for k, s in ((2 * j, 1), (2 * j + 1, 2)):
            p = "Prediction/Conv2d_%d_pointwise/" % k
            x = act(conv(x, T[p + "weights"], s) + T[p + "convolution_bn_offset"].view(1, -1, 1, 1))
        taps["e%d" % j] = x
    return taps


def preprocess(path, size):
    """mb1-ssd's test transform: BGR->RGB, resize (INTER_LINEAR), (x - 127) / 128, CHW."""
    img = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
    img = cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    return torch.from_numpy(((img - 127.0) / 128.0).transpose(2, 0, 1).copy())


names = sorted(f for f in os.listdir(IMAGES) if f.endswith(".jpg"))
x = preprocess(os.path.join(IMAGES, names[0]), 257).unsqueeze(0)
calib = torch.stack([preprocess(os.path.join(IMAGES, n), 65) for n in names[1:3]])
fx = {"input": x, "calib": calib}
with torch.no_grad():
    for name, act in (("relu", F.relu), ("relu6", lambda v: torch.clamp(v, 0, 6))):
        for k, v in tf_graph(x, act).items():
            fx["%s/%s" % (name, k)] = v

# Expected state_dict values, converted with numpy (HWIO -> OIHW by transpose).
def hwio(name):
    return W[name].transpose(3, 2, 0, 1)


d1 = "MobilenetV1/Conv2d_1_depthwise/"
fx["key/base_net.0.0.weight"] = hwio("MobilenetV1/Conv2d_0_pointwise/weights")
fx["key/base_net.0.1.bias"] = W["MobilenetV1/Conv2d_0_pointwise/convolution_bn_offset"]
fx["key/base_net.1.0.weight"] = W[d1 + "depthwise_weights"].transpose(2, 3, 0, 1)
fx["key/base_net.1.1.weight"] = W[d1 + "BatchNorm/gamma"]
fx["key/base_net.1.1.running_mean"] = W[d1 + "BatchNorm/moving_mean"]
fx["key/base_net.1.1.running_var"] = (
    W[d1 + "BatchNorm/moving_variance"].astype(np.float64) + 1e-3 - 1e-5).astype(np.float32)
fx["key/base_net.13.3.weight"] = hwio("MobilenetV1/Conv2d_13_pointwise/weights")
fx["key/base_net.13.4.bias"] = W["MobilenetV1/Conv2d_13_pointwise/convolution_bn_offset"]
fx["key/base_net.13.1.running_var"] = (
    W["MobilenetV1/Conv2d_13_depthwise/BatchNorm/moving_variance"].astype(np.float64)
    + 1e-3 - 1e-5).astype(np.float32)
fx["key/extras.0.0.weight"] = hwio("Prediction/Conv2d_0_pointwise/weights")
fx["key/extras.2.2.weight"] = hwio("Prediction/Conv2d_5_pointwise/weights")
fx["key/extras.2.2.bias"] = W["Prediction/Conv2d_5_pointwise/convolution_bn_offset"]
save(os.path.join(out, "tfjs.ssdt"), fx)

# Folders for the whole conversion: one small image plus a corrupt .jpg (skipped)
# and a text file (ignored); an empty folder; a folder with only a corrupt image.
for d in ("calib_dir", "empty_dir", "bad_dir"):
    os.makedirs(os.path.join(out, d), exist_ok=True)
small = cv2.resize(cv2.imread(os.path.join(IMAGES, names[3])), (96, 64))
cv2.imwrite(os.path.join(out, "calib_dir", "a.png"), small)
for d in ("calib_dir", "bad_dir"):
    with open(os.path.join(out, d, "broken.jpg"), "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 not really a jpeg")
with open(os.path.join(out, "calib_dir", "notes.txt"), "w") as f:
    f.write("not an image\n")

# A manifest without two tensors the mapping needs (the .bin without their bytes).
man = json.load(open(os.path.join(MODEL, "ssd_mobilenetv1_model-weights_manifest.json")))
data = open(os.path.join(MODEL, man[0]["paths"][0]), "rb").read()
drop = {"MobilenetV1/Conv2d_13_pointwise/weights", "MobilenetV1/Conv2d_5_depthwise/BatchNorm/beta"}
keep, blob, off = [], bytearray(), 0
for e in man[0]["weights"]:
    n = (int(np.prod(e["shape"])) if e["shape"] else 1) * (1 if e.get("quantization") else 4)
    if e["name"] not in drop:
        keep.append(e)
        blob += data[off:off + n]
    off += n
with open(os.path.join(out, "partial.bin"), "wb") as f:
    f.write(blob)
with open(os.path.join(out, "partial.json"), "w") as f:
    json.dump([{"paths": ["partial.bin"], "weights": keep}], f)
