"""PyTorch side of bench_gpu: the same mb1-ssd (tests/golden/mb1_torch.py) on
the same GPU, the same rows: training images/s (forward + backward + SGD,
with the conf/loc copy to the host the C loop makes) at batch 32 and 128 and
inference at batch 1 and 64, in fp32 (TF32 off), tf32, and bf16 (autocast +
channels_last). One line per row:
  torch <train|infer> batch=<N> prec=<P> ms=<ms per step> img_s=<images/s>
usage: torch_gpu.py [ITERS] [--quick]"""
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "golden"))
from mb1_torch import MB1SSD  # noqa: E402

iters = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 10
quick = "--quick" in sys.argv
if not torch.cuda.is_available():
    print("torch_gpu: skipped: no CUDA device")
    sys.exit(77)
dev = torch.device("cuda")
torch.backends.cudnn.benchmark = True  # as our backend: time the algorithms once per shape


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

    def step():
        x = xh.to(dev, non_blocking=True)
        if prec == "bf16":
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=prec == "bf16"):
            with torch.set_grad_enabled(train):
                c, l = net(x)
        c.float().cpu()
        l.float().cpu()
        if train:
            opt.zero_grad(set_to_none=True)
            (c.float().square().mean() + l.float().square().mean()).backward()
            opt.step()

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
