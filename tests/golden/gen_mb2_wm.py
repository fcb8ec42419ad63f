"""Golden fixtures for mb2-ssd-lite with --mb2-width-mult (test_mb2_wm.c).

Per multiplier: weights with non-trivial batch-norm state (wm<m>.pth), the
state_dict keys in PyTorch's order (wm<m>.keys), an input batch, fixed upstream
gradients, and from PyTorch in float64 the eval and train outputs, every
parameter gradient and the running statistics after the step; PyTorch float32's
error on each gradient is the yardstick for our float32 ones (see gen_mb1.py).
cases.txt lists "width_mult resolution" per line."""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "common"))
sys.path.insert(0, os.path.dirname(__file__))
import fixture  # noqa: E402
from net_mb2_torch import MB2SSDLite  # noqa: E402

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
torch.set_num_threads(2)
C, N, R = 3, 4, 96
CASES = ["0.5", "0.75"]

lines = []
for k, wm_s in enumerate(CASES):
    wm = float(wm_s)
    torch.manual_seed(10 + k)
    net = MB2SSDLite(C, wm)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    sd = net.state_dict()
    torch.save(sd, os.path.join(out, "wm%s.pth" % wm_s))
    with open(os.path.join(out, "wm%s.keys" % wm_s), "w") as f:
        f.write("".join(key + "\n" for key in sd))

    x = torch.randn(N, 3, R, R, dtype=torch.float64)
    n64 = MB2SSDLite(C, wm).double()
    n64.load_state_dict(sd)
    t = {"x": x}
    n64.eval()
    with torch.no_grad():
        t["eval_conf"], t["eval_loc"] = n64(x)
    n64.train()
    c, l = n64(x)
    gc, gl = torch.randn_like(c), torch.randn_like(l)
    ((c * gc).sum() + (l * gl).sum()).backward()
    t.update({"conf": c, "loc": l, "g_conf": gc, "g_loc": gl})
    for name, p in n64.named_parameters():
        t["grad64." + name] = p.grad
    for name, b in n64.named_buffers():
        if b.dtype.is_floating_point:
            t["after." + name] = b
    net.train()
    c32, l32 = net(x.float())
    ((c32 * gc.float()).sum() + (l32 * gl.float()).sum()).backward()
    for name, p in net.named_parameters():
        t["err32." + name] = torch.tensor([(p.grad.double() - n64.get_parameter(name).grad)
                                           .abs().max().item()], dtype=torch.float64)
    for name, b in net.named_buffers():
        if b.dtype.is_floating_point:
            t["err32." + name] = torch.tensor([(b.double() - n64.get_buffer(name))
                                               .abs().max().item()], dtype=torch.float64)
    fixture.save(os.path.join(out, "wm%s.bin" % wm_s), t)
    lines.append("%s %d\n" % (wm_s, R))
with open(os.path.join(out, "cases.txt"), "w") as f:
    f.writelines(lines)
