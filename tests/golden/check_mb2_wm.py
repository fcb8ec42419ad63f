"""Checkpoints written by test_mb2_wm.c (load + save in float32) load in PyTorch
with strict=True and equal the originals bit for bit, in the same key order."""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from net_mb2_torch import MB2SSDLite  # noqa: E402

d = sys.argv[1]
torch.set_num_threads(2)
ok = True
for line in open(os.path.join(d, "cases.txt")):
    wm = line.split()[0]
    ref = torch.load(os.path.join(d, "wm%s.pth" % wm))
    ours = torch.load(os.path.join(d, "wm%s_c.pth" % wm))
    MB2SSDLite(3, float(wm)).load_state_dict(ours, strict=True)
    if list(ours) != list(ref):
        print("width mult %s: key order differs from PyTorch's state_dict" % wm)
        ok = False
    for k, v in ref.items():
        if v.dtype != ours[k].dtype or v.shape != ours[k].shape or not torch.equal(v, ours[k]):
            print("width mult %s: roundtrip mismatch: %s" % (wm, k))
            ok = False
sys.exit(0 if ok else 1)
