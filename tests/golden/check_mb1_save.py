"""Checkpoints written by test_mb1.c load in PyTorch with strict=True:
roundtrip.pth is bit-identical to init.pth; after_steps_c.pth (10 SGD steps
in C) is a complete state_dict with the same integer buffers."""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from mb1_torch import MB1SSD  # noqa: E402

d = sys.argv[1]
torch.set_num_threads(2)
ok = True
ref = torch.load(os.path.join(d, "init.pth"))
ours = torch.load(os.path.join(d, "roundtrip.pth"))
net = MB1SSD(3)
net.load_state_dict(ours, strict=True)
if list(ours.keys()) != list(ref.keys()):
    print("key order differs from PyTorch's state_dict")
    ok = False
for k, v in ref.items():
    if v.dtype != ours[k].dtype or v.shape != ours[k].shape or not torch.equal(v, ours[k]):
        print("roundtrip mismatch:", k)
        ok = False
# after 10 SGD steps in C: a complete state_dict PyTorch loads strictly, with the
# buffers PyTorch's own 10 steps give (10 tracked batches per BN).
a = torch.load(os.path.join(d, "after_steps.pth"))
b = torch.load(os.path.join(d, "after_steps_c.pth"))
MB1SSD(3).load_state_dict(b, strict=True)
for k, v in a.items():
    if not v.dtype.is_floating_point and not torch.equal(v, b[k]):
        print("buffer differs:", k, v, b[k])
        ok = False
sys.exit(0 if ok else 1)
