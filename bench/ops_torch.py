"""PyTorch's side of bench/ops: times forward+backward of the configurations
bench_ops.c sends on stdin (protocol in main) with autograd, at the thread
count it is given. Started by bench_ops with Debian's python3."""
import argparse
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

ACTS = {0: None, 1: F.relu, 2: F.relu6}


def rnd(*shape, scale=1.0, grad=True):
    t = (torch.rand(*shape) * 2 - 1) * scale
    return t.requires_grad_(grad)


def grads(out, dy, inputs):
    # .contiguous(): cat's and permute's backward return strided views and
    # leave the copy to the next layer (whose oneDNN call makes it contiguous);
    # ours hands back dense gradients, so both sides pay for the copy here.
    # For every other op the gradients are contiguous already: a no-op.
    for g in torch.autograd.grad(out, inputs, dy):
        g.contiguous()


def conv(c):
    x = rnd(c["n"], c["c"], c["h"], c["w"], grad=bool(c["dx"]))
    cg = c["c"] // c["g"]
    w = rnd(c["o"], cg, c["k"], c["k"], scale=(cg * c["k"] * c["k"]) ** -0.5)
    b = rnd(c["o"]) if c["bias"] else None
    act = ACTS[c["act"]]
    ho = (c["h"] + 2 * c["p"] - c["d"] * (c["k"] - 1) - 1) // c["s"] + 1
    dy = rnd(c["n"], c["o"], ho, ho, grad=False)
    ins = [t for t in (x, w, b) if t is not None and t.requires_grad]

    def step():
        y = F.conv2d(x, w, b, c["s"], c["p"], c["d"], c["g"])
        if act:
            y = act(y)
        grads(y, dy, ins)
    return step


def bn(c):
    x = rnd(c["n"], c["c"], c["h"], c["w"])
    g, b = rnd(c["c"]), rnd(c["c"])
    rm, rv = torch.zeros(c["c"]), torch.ones(c["c"])
    dy = rnd(c["n"], c["c"], c["h"], c["w"], grad=False)
    act = ACTS[c["act"]]

    def step():
        y = F.batch_norm(x, rm, rv, g, b, bool(c["train"]), 0.1, 1e-5)
        if act:
            y = act(y)
        grads(y, dy, [x, g, b])
    return step


def act(c):
    x = rnd(c["n"], c["c"], c["h"], c["w"])
    dy = rnd(c["n"], c["c"], c["h"], c["w"], grad=False)
    fn = ACTS[c["act"]]

    def step():
        grads(fn(x), dy, [x])
    return step


def pool(c):
    x = rnd(c["n"], c["c"], c["h"], c["w"])
    y0 = F.max_pool2d(x, c["k"], c["s"], c["p"], ceil_mode=bool(c["ceil"]))
    dy = rnd(*y0.shape, grad=False)

    def step():
        y = F.max_pool2d(x, c["k"], c["s"], c["p"], ceil_mode=bool(c["ceil"]))
        grads(y, dy, [x])
    return step


def add(c):
    a = rnd(c["n"], c["c"], c["h"], c["w"], grad=False)
    b = rnd(c["n"], c["c"], c["h"], c["w"], grad=False)

    def step():  # forward only: the backward of a sum is the identity
        return a + b
    return step


def cat(xs, axis):
    y0 = torch.cat(xs, axis)
    dy = rnd(*y0.shape, grad=False)

    def step():
        grads(torch.cat(xs, axis), dy, xs)
    return step


def cat4(c):
    return cat([rnd(c["n"], c["c"], c["h"], c["w"]), rnd(c["n"], c["o"], c["h"], c["w"])], 1)


def cat3(c):
    return cat([rnd(c["n"], k, c["kk"]) for k in (2166, 600, 150, 54, 24, 6)], 1)


def softmax(c):
    x = rnd(c["n"], c["c"], c["h"], scale=3.0)
    dy = rnd(c["n"], c["c"], c["h"], grad=False)
    fn = F.log_softmax if c["log"] else F.softmax

    def step():
        grads(fn(x, dim=c["axis"]), dy, [x])
    return step


def head(c):
    x = rnd(c["n"], c["c"], c["h"], c["w"])
    dy = rnd(c["n"], c["h"] * c["w"] * (c["c"] // c["kk"]), c["kk"], grad=False)

    def step():
        y = x.permute(0, 2, 3, 1).contiguous().view(c["n"], -1, c["kk"])
        grads(y, dy, [x])
    return step


def l2norm(c):
    x = rnd(c["n"], c["c"], c["h"], c["w"])
    s = rnd(c["c"], scale=20.0)
    dy = rnd(c["n"], c["c"], c["h"], c["w"], grad=False)

    def step():
        norm = x.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10
        y = s.view(1, -1, 1, 1) * (x / norm)
        grads(y, dy, [x, s])
    return step


def conv_bn(cin, cout, k, stride, groups):
    return [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def module_step(m, x, dy):
    m.train()
    params = [p for p in m.parameters()]

    def step():
        y = m(x)
        grads(y, dy, params + ([x] if x.requires_grad else []))
    return step


def block(c):
    m = nn.Sequential(*conv_bn(c["c"], c["c"], 3, c["s"], c["c"]), *conv_bn(c["c"], c["o"], 1, 1, 1))
    x = rnd(c["n"], c["c"], c["h"], c["w"])
    return module_step(m, x, rnd(c["n"], c["o"], c["h"], c["w"], grad=False))


def mb1(c):
    cfg = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1),
           (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]
    layers = conv_bn(3, 32, 3, 2, 1)
    ch = 32
    for out, s in cfg:
        layers += conv_bn(ch, ch, 3, s, ch) + conv_bn(ch, out, 1, 1, 1)
        ch = out
    m = nn.Sequential(*layers)
    x = rnd(c["n"], 3, c["h"], c["w"], grad=False)
    with torch.no_grad():
        shape = m(x).shape
    return module_step(m, x, rnd(*shape, grad=False))


BUILD = {"conv": conv, "bn": bn, "act": act, "pool": pool, "add": add, "cat4": cat4,
         "cat3": cat3, "softmax": softmax, "head": head, "l2norm": l2norm, "block": block,
         "mb1": mb1}


def best_ms(step, budget, min_steps):
    best, n, t_all = float("inf"), 0, time.perf_counter()
    while n < min_steps or time.perf_counter() - t_all < budget:
        t0 = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - t0)
        n += 1
    return 1e3 * best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)  # Debian's torch starts with 1 thread here
    torch.manual_seed(0)
    steps = {}
    # One request per line: name|op|k=v,...|budget_seconds|min_steps; one reply line
    # with the fastest step in ms (-1 when the config failed).
    for line in sys.stdin:
        name, op, params, budget, min_steps = line.rstrip("\n").split("|")
        try:
            if name not in steps:
                c = {k: int(v) for k, v in (kv.split("=") for kv in params.split(","))}
                steps.clear()  # one config at a time keeps memory flat
                steps[name] = BUILD[op](c)
            ms = best_ms(steps[name], float(budget), int(min_steps))
        except Exception as e:  # report and go on: one failure must not hide the rest
            print(f"{name}: {e}", file=sys.stderr)
            ms = -1
        print(f"{ms:.4f}", flush=True)


if __name__ == "__main__":
    main()
