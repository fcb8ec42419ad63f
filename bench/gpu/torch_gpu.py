"""PyTorch side of bench_gpu: the same mb1-ssd (tests/golden/mb1_torch.py) on
the same GPU, the same rows: training images/s (forward, the multibox loss with
hard negative mining on the GPU, backward, SGD, the loss read every step as
train_ssd.py does) at batch 32 and 128 and inference at batch 1 and 64 (the
outputs copied to the host), in fp32 (TF32 off), tf32, and bf16 (autocast +
channels_last). One line per row:
  torch <train|infer> batch=<N> prec=<P> ms=<ms per step> img_s=<images/s>
usage: torch_gpu.py [ITERS] [--quick]"""
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "golden"))
from mb1_torch import MB1SSD  # noqa: E402

iters = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 10
quick = "--quick" in sys.argv
if not torch.cuda.is_available():
    print("torch_gpu: skipped: no CUDA device")
    sys.exit(77)
dev = torch.device("cuda")
torch.backends.cudnn.benchmark = True  # as our backend: time the algorithms once per shape


def multibox_loss(conf, loc, labels, gt, ratio=3):
    """vision/nn/multibox_loss.py's loss: hard negative mining by sorting the background
    loss, cross-entropy over positives and mined negatives, smooth L1 over positives, both
    divided by the number of positives."""
    with torch.no_grad():
        bg = -F.log_softmax(conf, dim=2)[:, :, 0]
        pos = labels > 0
        want = pos.long().sum(dim=1, keepdim=True) * ratio
        bg[pos] = -math.inf
        _, idx = bg.sort(dim=1, descending=True)
        _, rank = idx.sort(dim=1)
        mask = pos | (rank < want)
    c = conf.size(2)
    cls = F.cross_entropy(conf[mask].reshape(-1, c), labels[mask], reduction="sum")
    reg = F.smooth_l1_loss(loc[pos].reshape(-1, 4), gt[pos].reshape(-1, 4), reduction="sum")
    n = pos.sum().clamp(min=1)
    return reg / n, cls / n


def run(train, batch, prec, n):
    torch.backends.cudnn.allow_tf32 = prec != "fp32"
    torch.backends.cuda.matmul.allow_tf32 = prec != "fp32"
    torch.manual_seed(0)
    net = MB1SSD(21).to(dev)
    if prec == "bf16":
        net = net.to(memory_format=torch.channels_last)
    net.train(train)
    opt = torch.optim.SGD(net.parameters(), lr=1e-4, momentum=0.9, weight_decay=5e-4)
    xh = torch.randn(batch, 3, 300, 300).pin_memory()
    # targets as ours (bench_gpu.c): about 1 prior in 40 positive
    k = 3000
    g = torch.Generator().manual_seed(1)
    pos = torch.randint(0, 40, (batch, k), generator=g) == 0
    labels_h = torch.where(pos, torch.randint(1, 21, (batch, k), generator=g), 0).pin_memory()
    gt_h = (torch.rand(batch, k, 4, generator=g) * 2 - 1).pin_memory()

    def step():
        x = xh.to(dev, non_blocking=True)
        if prec == "bf16":
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=prec == "bf16"):
            with torch.set_grad_enabled(train):
                c, l = net(x)
        if not train:  # detection reads the outputs on the host
            c.float().cpu()
            l.float().cpu()
            return
        labels = labels_h.to(dev, non_blocking=True)
        gt = gt_h.to(dev, non_blocking=True)
        reg, cls = multibox_loss(c.float(), l.float(), labels, gt)
        opt.zero_grad(set_to_none=True)
        (reg + cls).backward()
        opt.step()
        (reg + cls).item()  # train_ssd.py reads the loss every step

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) * 1000 / n


for prec in ("fp32", "tf32", "bf16"):
    for train, batch in ((True, 32), (True, 128), (False, 1), (False, 64)):
        if quick and batch == 128:
            continue
        n = iters * 5 if batch == 1 else iters
        ms = run(train, batch, prec, n)
        kind = "train" if train else "infer"
        print(f"torch {kind} batch={batch} prec={prec} ms={ms:.3f} img_s={batch * 1000 / ms:.1f}",
              flush=True)
        torch.cuda.empty_cache()
