"""Golden fixtures for mb1-ssd: weights (.pth, zip and legacy), an input, the
train-mode outputs, running statistics, every parameter gradient for a fixed
upstream gradient, eval-mode outputs, and the losses of 10 SGD steps."""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "common"))
sys.path.insert(0, os.path.dirname(__file__))
import fixture  # noqa: E402
from mb1_torch import MB1SSD, match, multibox_loss, priors_300  # noqa: E402

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)
torch.set_num_threads(2)
C, N, R = 3, 2, 300

net = MB1SSD(C)
with torch.no_grad():  # non-trivial BN state so that eval mode is exercised
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.1, 0.1)
torch.save(net.state_dict(), os.path.join(out, "init.pth"))
torch.save(net.state_dict(), os.path.join(out, "init_legacy.pth"),
           _use_new_zipfile_serialization=False)
# a backbone-only file, as init_from_base_net loads it (keys without "base_net.")
torch.save(net.base_net.state_dict(), os.path.join(out, "base_net.pth"))

x = torch.randn(N, 3, R, R)
t = {"x": x}

net.eval()
with torch.no_grad():
    c, l = net(x)
t["eval_conf"], t["eval_loc"] = c, l

net.train()
c, l = net(x)
g_conf = torch.randn_like(c)
g_loc = torch.randn_like(l)
(c * g_conf).sum().add((l * g_loc).sum()).backward()
t.update({"conf": c, "loc": l, "g_conf": g_conf, "g_loc": g_loc})
for name, p in net.named_parameters():
    t["grad." + name] = p.grad
for name, b in net.named_buffers():
    if b.dtype == torch.float32:
        t["after." + name] = b


def grads64(x, g_conf, g_loc):
    """The same step in float64: the exact answer float32 implementations approximate."""
    n64 = MB1SSD(C).double()
    n64.load_state_dict(torch.load(os.path.join(out, "init.pth")))
    n64.train()
    c, l = n64(x.double())
    (c * g_conf.double()).sum().add((l * g_loc.double()).sum()).backward()
    return c, l, {name: p.grad for name, p in n64.named_parameters()}


# Training-mode batch norm backward cancels (dy - mean(dy) - xhat*mean(dy*xhat)) at every
# layer, so float32 rounding is amplified on the way down: PyTorch's own float32
# gradients of the first layers differ from float64 by up to a few percent of their
# scale. Store the float64 truth and PyTorch's float32 error so that the C test can
# hold our float32 gradients to PyTorch's own accuracy.
_, _, g64 = grads64(x, g_conf, g_loc)
for name, p in net.named_parameters():
    t["grad64." + name] = g64[name]
    t["err32." + name] = torch.tensor([(p.grad.double() - g64[name]).abs().max().item()],
                                      dtype=torch.float64)
fixture.save(os.path.join(out, "mb1.bin"), t)

# A smaller float64 case for the reference backend, which runs it in float64: it must
# agree with PyTorch's float64 to near double precision, which checks every op and the
# wiring of the model exactly, free of float32 noise.
x128 = torch.randn(2, 3, 128, 128, dtype=torch.float64)
with torch.no_grad():
    c128, l128 = MB1SSD(C)(x128.float())  # shapes only
gc = torch.randn(c128.shape, dtype=torch.float64)
gl = torch.randn(l128.shape, dtype=torch.float64)
c128, l128, g128 = grads64(x128, gc, gl)
t64 = {"x": x128, "conf": c128, "loc": l128, "g_conf": gc, "g_loc": gl}
for name, g in g128.items():
    t64["grad64." + name] = g
fixture.save(os.path.join(out, "mb1_f64_128.bin"), t64)

# 10 SGD steps with the multibox loss on fixed batches and targets, from init.pth,
# with pytorch-ssd's three parameter groups. The hard negative mining is a discrete
# choice, so float32 rounding changes which negatives are mined and the trajectories of
# two float32 implementations drift apart (PyTorch float32 vs float64: several percent
# after 10 steps). Both PyTorch trajectories are stored; the C test holds its losses to
# the float64 trajectory within a bound set by PyTorch float32's own drift.
LRS = (1e-4, 1e-3, 1e-3)
RS = 128  # the float64 trajectory at 300x300 would take minutes; the arithmetic is the same
priors = priors_300(RS)
g = torch.Generator().manual_seed(1)
S = 10
xs = torch.randn(S, N, 3, RS, RS, generator=g)
labels_all, loc_all = [], []
for s in range(S):
    ls, gs = [], []
    for i in range(N):
        k = 1 + (s + i) % 3
        xy = torch.rand(k, 2, generator=g) * 0.6
        wh = 0.1 + torch.rand(k, 2, generator=g) * 0.3
        boxes = torch.cat([xy, xy + wh], 1)
        lab = torch.randint(1, C, (k,), generator=g)
        if s == 3 and i == 1:  # a background-only image
            gl, gb = torch.zeros(priors.size(0), 4), torch.zeros(priors.size(0), dtype=torch.long)
        else:
            gl, gb = match(boxes, lab, priors)
        ls.append(gb)
        gs.append(gl)
    labels_all.append(torch.stack(ls))
    loc_all.append(torch.stack(gs))


def trajectory(dt, xs=xs, labels_all=labels_all, loc_all=loc_all):
    net = MB1SSD(C).to(dt)
    net.load_state_dict(torch.load(os.path.join(out, "init.pth")))
    net.train()
    groups = [{"params": net.base_net.parameters(), "lr": LRS[0]},
              {"params": net.extras.parameters(), "lr": LRS[1]},
              {"params": list(net.classification_headers.parameters()) +
               list(net.regression_headers.parameters()), "lr": LRS[2]}]
    opt = torch.optim.SGD(groups, lr=LRS[2], momentum=0.9, weight_decay=5e-4)
    losses = []
    for s in range(S):
        opt.zero_grad()
        c, l = net(xs[s].to(dt))
        reg, cls = multibox_loss(c, l, labels_all[s], loc_all[s].to(dt))
        (reg + cls).backward()
        opt.step()
        losses.append([reg.item(), cls.item()])
    return net, losses


net, losses = trajectory(torch.float32)
_, losses64 = trajectory(torch.float64)

# The same 10 steps at 64x64 in float64, for the reference backend in float64: with no
# float32 rounding the mined negatives are the same, so the losses must agree closely.
p64 = priors_300(64)
xs64 = torch.randn(S, N, 3, 64, 64, generator=g, dtype=torch.float64)
lab64, loc64 = [], []
for s in range(S):
    ls, gs = [], []
    for i in range(N):
        xy = torch.rand(2, 2, generator=g) * 0.5
        boxes = torch.cat([xy, xy + 0.2 + torch.rand(2, 2, generator=g) * 0.3], 1)
        gl, gb = match(boxes, torch.randint(1, C, (2,), generator=g), p64)
        ls.append(gb)
        gs.append(gl)
    lab64.append(torch.stack(ls))
    loc64.append(torch.stack(gs))
_, traj64 = trajectory(torch.float64, xs64, lab64, loc64)
fixture.save(os.path.join(out, "steps_f64_64.bin"),
             {"x": xs64, "labels": torch.stack(lab64), "gt_loc": torch.stack(loc64),
              "losses64": torch.tensor(traj64, dtype=torch.float64),
              "lrs": torch.tensor(LRS, dtype=torch.float64),
              "resolution": torch.tensor([64], dtype=torch.float64)})
steps = {"lrs": torch.tensor(LRS, dtype=torch.float64),
         "resolution": torch.tensor([RS], dtype=torch.float64),
         "losses64": torch.tensor(losses64, dtype=torch.float64)}
steps["x"] = xs
steps["labels"] = torch.stack(labels_all)
steps["gt_loc"] = torch.stack(loc_all)
steps["losses"] = torch.tensor(losses, dtype=torch.float64)
steps["priors"] = priors
fixture.save(os.path.join(out, "steps.bin"), steps)
torch.save(net.state_dict(), os.path.join(out, "after_steps.pth"))
