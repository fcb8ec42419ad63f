"""PyTorch side of bench_model: mb1-ssd forward+backward(+SGD) at a batch size,
with an explicit thread count. Prints 'torch_ms_per_step <ms>' and peak RSS."""
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "golden"))
from mb1_torch import MB1SSD  # noqa: E402

batch, threads, iters = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
torch.manual_seed(0)
net = MB1SSD(21)
net.train()
opt = torch.optim.SGD(net.parameters(), lr=1e-4, momentum=0.9, weight_decay=5e-4)
x = torch.randn(batch, 3, 300, 300)


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
