"""PyTorch side of bench/train.sh: the pytorch-ssd training loop (mb1-ssd,
TrainAugmentation + MatchPrior in a 2-worker DataLoader, MultiboxLoss, SGD with
the reference's parameter groups) on the CCPD images of a folder.

  train_torch.py IMAGE_DIR EPOCHS BATCH THREADS WORKERS

Prints 'torch_images_per_s <rate of the epochs after the first>' and
'torch_peak_rss_mb <largest resident set of the process or a worker>'."""
import os
import resource
import sys
import time

import torch
from torch.utils.data import DataLoader

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, "..", "tests", "golden"))
from data_torch import CCPD  # noqa: E402
from mb1_torch import MB1SSD, multibox_loss  # noqa: E402

root, epochs, batch, threads, workers = sys.argv[1], *map(int, sys.argv[2:6])
torch.set_num_threads(threads)
torch.manual_seed(0)
ds = CCPD(root)
loader = DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers)
net = MB1SSD(2)
net.train()
groups = [{"params": net.base_net.parameters(), "lr": 0.001},
          {"params": net.extras.parameters(), "lr": 0.01},
          {"params": list(net.regression_headers.parameters()) +
           list(net.classification_headers.parameters())}]
opt = torch.optim.SGD(groups, lr=0.01, momentum=0.9, weight_decay=5e-4)
t_steady, n_steady = None, 0
for epoch in range(epochs):
    if epoch == 1:
        t_steady = time.perf_counter()
    for img, loc, lab in loader:
        img = img.permute(0, 3, 1, 2) if img.shape[-1] == 3 else img
        opt.zero_grad()
        c, l = net(img.float())
        reg, cls = multibox_loss(c, l, lab, loc.float())
        (reg + cls).backward()
        opt.step()
        if epoch >= 1:
            n_steady += img.shape[0]
rate = n_steady / (time.perf_counter() - t_steady)
rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
          resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
print("torch_images_per_s %.2f" % rate)
print("torch_peak_rss_mb %.0f" % rss)
