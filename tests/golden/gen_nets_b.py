"""Golden fixtures for mb2-ssd-lite with --mb2-width-mult and the mb3 nets
(test_nets_b.c).

Per case (net, width multiplier): weights with non-trivial batch-norm state
(<net>_<wm>.pth), the state_dict keys in PyTorch's order (<net>_<wm>.keys), an input batch, fixed upstream
gradients, and from PyTorch in float64 the eval and train outputs, every
parameter gradient and the running statistics after the step; PyTorch float32's
error on each gradient is the yardstick for our float32 ones (see gen_mb1.py).
cases.txt lists "net width_mult resolution" per line."""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "common"))
sys.path.insert(0, os.path.dirname(__file__))
import fixture  # noqa: E402
from net_mb2_torch import MB2SSDLite  # noqa: E402
from net_mb3_torch import MB3SSDLite  # noqa: E402

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
torch.set_num_threads(2)
C = 3
# (net, width multiplier, resolution, batch): batch 4 keeps the training-mode BN on the
# 1x1 maps of the last extras (and the mb3 squeeze-excite BN) from being decided by
# two samples.
CASES = [("mb2-ssd-lite", "0.5", 96, 4), ("mb2-ssd-lite", "0.75", 96, 4),
         ("mb3-large-ssd-lite", "1.0", 96, 4), ("mb3-small-ssd-lite", "1.0", 96, 4)]

lines = []
for k, (netname, wm_s, R, N) in enumerate(CASES):
    wm = float(wm_s)
    tag = "%s_%s" % (netname, wm_s)

    def build(c, w, netname=netname):
        return MB2SSDLite(c, w) if netname.startswith("mb2") else MB3SSDLite(netname, c)

    torch.manual_seed(10 + k)
    net = build(C, wm)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    sd = net.state_dict()
    torch.save(sd, os.path.join(out, tag + ".pth"))
    with open(os.path.join(out, tag + ".keys"), "w") as f:
        f.write("".join(key + "\n" for key in sd))

    x = torch.randn(N, 3, R, R, dtype=torch.float64)
    n64 = build(C, wm).double()
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
    net.eval()
    with torch.no_grad():
        ec32, el32 = net(x.float())
    net.train()
    c32, l32 = net(x.float())
    for key, v32 in (("eval_conf", ec32), ("eval_loc", el32), ("conf", c32), ("loc", l32)):
        t["err32." + key] = torch.tensor([(v32.detach().double() - t[key]).abs().max().item()],
                                         dtype=torch.float64)
    ((c32 * gc.float()).sum() + (l32 * gl.float()).sum()).backward()
    for name, p in net.named_parameters():
        t["err32." + name] = torch.tensor([(p.grad.double() - n64.get_parameter(name).grad)
                                           .abs().max().item()], dtype=torch.float64)
    for name, b in net.named_buffers():
        if b.dtype.is_floating_point:
            t["err32." + name] = torch.tensor([(b.double() - n64.get_buffer(name))
                                               .abs().max().item()], dtype=torch.float64)
    fixture.save(os.path.join(out, tag + ".bin"), t)
    lines.append("%s %s %d\n" % (netname, wm_s, R))
with open(os.path.join(out, "cases.txt"), "w") as f:
    f.writelines(lines)
