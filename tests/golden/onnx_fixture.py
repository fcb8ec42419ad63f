"""Shared pieces of the ONNX fixtures: a seeded mb1-ssd with non-trivial batch
norm, its is_test wrapper (softmax + box decode, as pytorch-ssd's SSD with
is_test=True), and real CCPD frames preprocessed as the reference does."""
import glob
import os

import cv2
import numpy as np
import torch

from mb1_torch import MB1SSD, corner, priors_300

CLASSES = ["BACKGROUND", "plate", "car"]


def data_dir():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.join(here, "..", "..")
    for d in (os.path.join(root, "data", "ccpd-sample"),
              os.path.join(root, "..", "shared", "data", "ccpd-sample"),
              "/work/shared/data/ccpd-sample"):
        if os.path.isdir(d):
            return d
    raise SystemExit("ccpd-sample not found (data/ccpd-sample or /work/shared/data/ccpd-sample)")


def randomise_bn(net):
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)


def make_net(seed=0, name="mb1-ssd"):
    """A seeded net of len(CLASSES) classes in eval mode with non-trivial batch
    norm: mb1-ssd, or any net of nets_torch.NETS."""
    torch.manual_seed(seed)
    if name == "mb1-ssd":
        net = MB1SSD(len(CLASSES))
    else:
        import nets_torch
        net = nets_torch.NETS[name](len(CLASSES))
    randomise_bn(net)
    return net.eval()


class IsTest(torch.nn.Module):
    """scores = softmax(conf), boxes = corner form of the decoded locations
    (priors: mb1-ssd's at 300x300 unless given)."""

    def __init__(self, net, priors=None):
        super().__init__()
        self.net = net
        self.register_buffer("priors", priors_300() if priors is None else priors)

    def forward(self, x):
        conf, loc = self.net(x)
        scores = torch.softmax(conf, dim=2)
        p = self.priors
        c = torch.cat([loc[..., :2] * 0.1 * p[..., 2:] + p[..., :2],
                       torch.exp(loc[..., 2:] * 0.2) * p[..., 2:]], dim=loc.dim() - 1)
        return scores, corner(c)


def other_nets():
    """The nets of nets_torch.NETS but mb1-ssd, sorted."""
    import nets_torch
    return sorted(n for n in nets_torch.NETS if n != "mb1-ssd")


def is_test_net(name, seed, size=300):
    """make_net(seed, name) wrapped in IsTest with the net's own priors."""
    import nets_torch
    net = make_net(seed, name)
    return IsTest(net, nets_torch.priors(net, size).float()).eval()


def images(n, size=300):
    """n real frames: RGB, bilinear resize to size x size, (x - 127) / 128, NCHW."""
    files = sorted(glob.glob(os.path.join(data_dir(), "val", "*.jpg")))[:n]
    if len(files) < n:
        raise SystemExit("ccpd-sample has fewer than %d validation images" % n)
    out = []
    for f in files:
        im = cv2.cvtColor(cv2.imread(f), cv2.COLOR_BGR2RGB)
        im = cv2.resize(im, (size, size)).astype(np.float32)
        out.append(((im - 127.0) / 128.0).transpose(2, 0, 1))
    return np.ascontiguousarray(np.stack(out))


def write_model_dir(d, net):
    """A model dir as train writes it: the best checkpoint, a worse one, and a
    name whose loss does not parse (the reference's quirk could pick it)."""
    os.makedirs(d, exist_ok=True)
    torch.save(net.state_dict(), os.path.join(d, "mb1-ssd-Epoch-3-Loss-2.5.pth"))
    with open(os.path.join(d, "mb1-ssd-Epoch-1-Loss-3.25.pth"), "wb") as f:
        f.write(b"not the best checkpoint")
    with open(os.path.join(d, "mobilenet-v1-ssd-mp-0_675.pth"), "wb") as f:
        f.write(b"does not parse as a loss")
    with open(os.path.join(d, "labels.txt"), "w") as f:
        f.write("\n".join(CLASSES) + "\n\n")
