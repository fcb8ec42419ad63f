"""The .pth written by test_tfjs_convert.c loads into our PyTorch mb1-ssd with
only the heads missing, and that PyTorch net computes the TF graph (ReLU
variant) on the fixture image, as the C side does."""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "common"))
from mb1_torch import MB1SSD  # noqa: E402

d = sys.argv[1]
torch.set_num_threads(2)
ok = True
for name in ("converted.pth", "pipeline.pth"):
    sd = torch.load(os.path.join(d, name))
    net = MB1SSD(2)
    res = net.load_state_dict(sd, strict=False)
    heads = sorted(k for k in net.state_dict() if "headers." in k)
    if sorted(res.missing_keys) != heads or res.unexpected_keys:
        print(name, "missing", res.missing_keys[:4], "unexpected", res.unexpected_keys[:4])
        ok = False


def read_fixture(path):
    import struct
    import numpy as np
    out = {}
    with open(path, "rb") as f:
        assert f.read(8) == b"SSDT0001"
        (n,) = struct.unpack("<I", f.read(4))
        for _ in range(n):
            (ln,) = struct.unpack("<I", f.read(4))
            name = f.read(ln).decode()
            dt, nd = struct.unpack("<II", f.read(8))
            shape = struct.unpack("<%dq" % nd, f.read(8 * nd))
            np_dt = {0: np.float32, 1: np.float64, 4: np.int64}[dt]
            cnt = int(np.prod(shape)) if shape else 1
            out[name] = torch.from_numpy(
                np.frombuffer(f.read(cnt * np.dtype(np_dt).itemsize), np_dt).reshape(shape).copy())
    return out


fx = read_fixture(os.path.join(d, "tfjs.ssdt"))
net = MB1SSD(2)
net.load_state_dict(torch.load(os.path.join(d, "converted.pth")), strict=False)
net.eval()
with torch.no_grad():
    x = fx["input"]
    for i in range(14):
        x = net.base_net[i](x)
    for j in range(3):
        x = net.extras[j](x)
    ref = fx["relu/e2"]
    err = (x - ref).abs().max().item() / ref.abs().max().item()
    print("PyTorch mb1-ssd with the converted .pth vs TF graph (ReLU), e2: %.2e" % err)
    if err > 1e-4:
        ok = False
sys.exit(0 if ok else 1)
