"""The checkpoints test_nets.c wrote (<net>_c.pth, after one training step's
forward and backward, no update) load into our PyTorch definitions with
strict=True, keep PyTorch's key order, hold the parameters of <net>.pth bit
for bit, and count the one training forward in num_batches_tracked."""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import nets_torch  # noqa: E402

d = sys.argv[1]
only = sys.argv[2:]
torch.set_num_threads(2)
ok = True
with open(os.path.join(d, "nets.txt")) as f:
    nets = [line.split()[0] for line in f if line.strip()]
for name in nets:
    if only and not any(name in o for o in only):
        continue
    ref = torch.load(os.path.join(d, name + ".pth"))
    ours = torch.load(os.path.join(d, name + "_c.pth"))
    net = nets_torch.NETS[name](3)
    try:
        net.load_state_dict(ours, strict=True)
    except RuntimeError as e:
        print(name, "does not load:", str(e).splitlines()[0])
        ok = False
        continue
    if list(ours.keys()) != list(ref.keys()):
        print(name, ": key order differs from PyTorch's state_dict")
        ok = False
    params = dict(net.named_parameters())
    for k, v in ref.items():
        if k in params and not torch.equal(v, ours[k]):
            print(name, ": parameter differs:", k)
            ok = False
        if k.endswith("num_batches_tracked") and ours[k].item() != 1:
            print(name, ":", k, "=", ours[k].item())
            ok = False
    print(name, "checkpoint loads in PyTorch" if ok else "FAILED")
sys.exit(0 if ok else 1)
