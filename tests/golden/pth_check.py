"""Shared by gen_pth.py and test_pth.c: the small module whose state_dict the
tests use, and the PyTorch-side checks of checkpoints written by ssd_pth_save.

    python3 pth_check.py FIXDIR   checks FIXDIR/out_*.pth (written by test_pth)
"""
import collections
import io
import sys

import torch


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(4)
        self.head = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(4, 2))

    def forward(self, x):
        return self.head(self.bn(self.conv(x)).mean((2, 3)))


def make_net():
    torch.manual_seed(1)
    net = Net()
    with torch.no_grad():
        net.bn.running_mean.uniform_(-1, 1)
        net.bn.running_var.uniform_(0.5, 2)
        net.bn.weight.uniform_(0.5, 1.5)
        net.bn.num_batches_tracked.fill_(5)
    return net.eval()


def built_tensors():
    """What test_pth.c builds with ssd_state_dict_add (values i * 0.5 - 3 etc.)."""
    sd = collections.OrderedDict()
    sd["f32"] = (torch.arange(24, dtype=torch.float64) * 0.5 - 3).float().reshape(2, 3, 4)
    sd["f64"] = torch.arange(5, dtype=torch.float64) / 3
    sd["f16"] = (torch.arange(6, dtype=torch.float64) * 0.25).half().reshape(3, 2)
    sd["bf16"] = (torch.arange(4, dtype=torch.float64) - 1.5).bfloat16()
    sd["i64"] = torch.tensor([-(2**40), 7, 2**33], dtype=torch.int64)
    sd["i32"] = torch.tensor(-123456, dtype=torch.int32)
    sd["u8"] = torch.arange(0, 256, 51).to(torch.uint8)
    sd["empty"] = torch.zeros(0, 3)
    sd["big.size"] = torch.zeros(70000, dtype=torch.uint8).reshape(1, 70000)
    return sd


def same(a, b, what):
    if list(a.keys()) != list(b.keys()):
        raise SystemExit(f"{what}: keys differ: {list(a.keys())} vs {list(b.keys())}")
    for k in a:
        x, y = a[k], b[k]
        if x.dtype != y.dtype or x.shape != y.shape or not torch.equal(x, y):
            raise SystemExit(f"{what}: {k} differs ({x.dtype} {tuple(x.shape)} vs "
                             f"{y.dtype} {tuple(y.shape)})")


def check_identical_to_torch(path):
    """torch.save of what torch.load reads back must give the very same bytes."""
    with open(path, "rb") as f:
        ours = f.read()
    sd = torch.load(path)
    if type(sd) is not collections.OrderedDict:
        raise SystemExit(f"{path}: loads as {type(sd)}")
    buf = io.BytesIO()
    torch.save(sd, buf)
    if buf.getvalue() != ours:
        theirs = buf.getvalue()
        at = next((i for i in range(min(len(ours), len(theirs))) if ours[i] != theirs[i]),
                  min(len(ours), len(theirs)))
        raise SystemExit(f"{path}: differs from torch.save output at byte {at} "
                         f"({len(ours)} vs {len(theirs)} bytes)")
    return sd


def main(d):
    torch.set_num_threads(1)
    # 1. every tensor of the golden file, re-saved by ssd_pth_save
    got = check_identical_to_torch(f"{d}/out_tensors.pth")
    ref = torch.load(f"{d}/tensors.zip.pth")
    same(got, collections.OrderedDict((k, v.contiguous()) for k, v in ref.items()), "out_tensors")
    # 2. a module's state_dict loads strictly and computes the same outputs
    got = check_identical_to_torch(f"{d}/out_module.pth")
    net, ref_net = Net(), make_net()
    net.load_state_dict(got, strict=True)
    net.eval()
    same(net.state_dict(), ref_net.state_dict(), "out_module")
    x = torch.randn(2, 3, 5, 5, generator=torch.Generator().manual_seed(3))
    if not torch.equal(net(x), ref_net(x)):
        raise SystemExit("out_module: outputs differ")
    # 3. tensors built in C with ssd_state_dict_add
    got = check_identical_to_torch(f"{d}/out_built.pth")
    same(got, built_tensors(), "out_built")
    print("pth_check: ok")


if __name__ == "__main__":
    main(sys.argv[1])
