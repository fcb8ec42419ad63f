"""Checkpoints written by test_nets_b.c (load + save in float32) load in PyTorch
with strict=True and equal the originals bit for bit, in the same key order."""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from net_mb2_torch import MB2SSDLite  # noqa: E402
from net_mb3_torch import MB3SSDLite  # noqa: E402

d = sys.argv[1]
torch.set_num_threads(2)
ok = True
for line in open(os.path.join(d, "cases.txt")):
    net, wm = line.split()[:2]
    tag = "%s_%s" % (net, wm)
    ref = torch.load(os.path.join(d, tag + ".pth"))
    ours = torch.load(os.path.join(d, tag + "_c.pth"))
    model = MB2SSDLite(3, float(wm)) if net.startswith("mb2") else MB3SSDLite(net, 3)
    model.load_state_dict(ours, strict=True)
    if list(ours) != list(ref):
        print("%s: key order differs from PyTorch's state_dict" % tag)
        ok = False
    for k, v in ref.items():
        if v.dtype != ours[k].dtype or v.shape != ours[k].shape or not torch.equal(v, ours[k]):
            print("%s: roundtrip mismatch: %s" % (tag, k))
            ok = False
sys.exit(0 if ok else 1)
