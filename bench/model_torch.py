"""PyTorch side of bench_model: a net's forward+backward(+SGD) at a batch size,
with an explicit thread count. Prints 'torch_ms_per_step <ms>' and peak RSS.
usage: model_torch.py BATCH THREADS ITERS [NET [RESOLUTION]]"""
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "golden"))
from mb1_torch import MB1SSD  # noqa: E402

batch, threads, iters = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
name = sys.argv[4] if len(sys.argv) > 4 else "mb1-ssd"
res = int(sys.argv[5]) if len(sys.argv) > 5 else 300
torch.set_num_threads(threads)
torch.manual_seed(0)
if name == "mb1-ssd":
    net = MB1SSD(21)
else:
    import nets_torch  # noqa: E402
    net = nets_torch.NETS[name](21)
net.train()
opt = torch.optim.SGD(net.parameters(), lr=1e-4, momentum=0.9, weight_decay=5e-4)
x = torch.randn(batch, 3, res, res)


def step():
    opt.zero_grad()
    c, l = net(x)
    (c.square().mean() + l.square().mean()).backward()
    opt.step()


step()
t0 = time.perf_counter()
for _ in range(iters):
    step()
dt = (time.perf_counter() - t0) / iters
print("torch_ms_per_step %.3f" % (dt * 1000))
print("torch_peak_rss_mb %.1f" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
