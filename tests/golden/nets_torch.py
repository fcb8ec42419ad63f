"""Our own PyTorch definitions of the SSD nets of pytorch-ssd, written from its
structure (module order, parameter names and shapes), for golden fixtures and
for checking that checkpoints written by `ssd` load with strict=True.

NETS maps a net name to build(num_classes, width_mult=1.0) -> nn.Module whose
forward(x) returns (confidences (N,K,C), locations (N,K,4)) as pytorch-ssd's
SSD in training mode. GOLDEN maps a net name to the fixture settings of
gen_nets.py. Other modules named net_*_torch.py in this folder add their nets
by defining NETS (and optionally GOLDEN); they are merged here.

Priors: priors(net, size) gives the (K,4) center-form priors of the net's
config family, with the specs derived from the real feature-map sizes where
size != 300 (set_image_size's formula, which reproduces the vgg table at 300)."""
import collections
import glob
import importlib
import itertools
import math
import os
import sys

import torch
import torch.nn as nn

# The reference's (index, name, sub-index) tap inside a base-net module.
GraphPath = collections.namedtuple("GraphPath", ["s0", "name", "s1"])


class SSD(nn.Module):
    """Registers base_net, extras, the two header lists and the add-ons of
    tuple taps in that order, as the reference does, so state_dict order matches."""

    def __init__(self, num_classes, base_net, sources, extras, cls, reg, family="mobilenetv1"):
        super().__init__()
        self.num_classes = num_classes
        self.base_net = base_net
        self.sources = sources
        self.extras = extras
        self.classification_headers = cls
        self.regression_headers = reg
        self.source_layer_add_ons = nn.ModuleList(
            [s[1] for s in sources if isinstance(s, tuple) and not isinstance(s, GraphPath)])
        self.family = family

    def _head(self, i, y, confs, locs):
        c = self.classification_headers[i](y).permute(0, 2, 3, 1).contiguous()
        l = self.regression_headers[i](y).permute(0, 2, 3, 1).contiguous()
        confs.append(c.view(c.size(0), -1, self.num_classes))
        locs.append(l.view(l.size(0), -1, 4))

    def forward(self, x, feature_maps=None):
        confs, locs = [], []
        start, h = 0, 0
        for s in self.sources:
            path, addon = None, None
            if isinstance(s, GraphPath):
                path, end = s, s.s0
            elif isinstance(s, tuple):
                end, addon = s
            else:
                end = s
            for i in range(start, end):
                x = self.base_net[i](x)
            y = addon(x) if addon is not None else x
            if path is not None:
                sub = getattr(self.base_net[end], path.name)
                for layer in sub[:path.s1]:
                    x = layer(x)
                y = x
                for layer in sub[path.s1:]:
                    x = layer(x)
                end += 1
            start = end
            if feature_maps is not None:
                feature_maps.append(y.shape[2])
            self._head(h, y, confs, locs)
            h += 1
        for i in range(start, len(self.base_net)):
            x = self.base_net[i](x)
        for e in self.extras:
            x = e(x)
            if feature_maps is not None:
                feature_maps.append(x.shape[2])
            self._head(h, x, confs, locs)
            h += 1
        return torch.cat(confs, 1), torch.cat(locs, 1)


def sep_conv(cin, cout, k=1, stride=1, padding=0):
    """Depthwise k x k (with bias), ReLU, pointwise 1x1 (with bias): SeperableConv2d."""
    return nn.Sequential(nn.Conv2d(cin, cin, k, stride, padding, groups=cin), nn.ReLU(),
                         nn.Conv2d(cin, cout, 1))


# ---- mb1-ssd-lite ----

def mobilenet_v1():
    def conv_bn(i, o, s):
        return nn.Sequential(nn.Conv2d(i, o, 3, s, 1, bias=False), nn.BatchNorm2d(o),
                             nn.ReLU(inplace=True))

    def conv_dw(i, o, s):
        return nn.Sequential(nn.Conv2d(i, i, 3, s, 1, groups=i, bias=False), nn.BatchNorm2d(i),
                             nn.ReLU(inplace=True), nn.Conv2d(i, o, 1, 1, 0, bias=False),
                             nn.BatchNorm2d(o), nn.ReLU(inplace=True))

    cfg = [(32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1),
           (256, 512, 2)] + [(512, 512, 1)] * 5 + [(512, 1024, 2), (1024, 1024, 1)]
    return nn.Sequential(conv_bn(3, 32, 2), *[conv_dw(a, b, s) for a, b, s in cfg])


def lite_extra(cin, mid, cout, padding=1):
    return nn.Sequential(nn.Conv2d(cin, mid, 1), nn.ReLU(), sep_conv(mid, cout, 3, 2, padding))


def lite_heads(head_in, per):
    return nn.ModuleList([sep_conv(c, per, 3, 1, 1) for c in head_in[:-1]] +
                         [nn.Conv2d(head_in[-1], per, 1)])


def mb1_ssd_lite(num_classes, width_mult=1.0):
    extras = nn.ModuleList([lite_extra(1024, 256, 512), lite_extra(512, 128, 256),
                            lite_extra(256, 128, 256), lite_extra(256, 128, 256)])
    head_in = [512, 1024, 512, 256, 256, 256]
    return SSD(num_classes, mobilenet_v1(), [12, 14], extras, lite_heads(head_in, 6 * num_classes),
               lite_heads(head_in, 6 * 4))


# ---- vgg16-ssd ----

def vgg16_base():
    layers, cin = [], 3
    for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, "C", 512, 512, 512, "M", 512, 512, 512]:
        if v in ("M", "C"):
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=v == "C"))
        else:
            layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=True)]
            cin = v
    layers += [nn.MaxPool2d(3, 1, 1), nn.Conv2d(512, 1024, 3, padding=6, dilation=6),
               nn.ReLU(inplace=True), nn.Conv2d(1024, 1024, 1), nn.ReLU(inplace=True)]
    return nn.ModuleList(layers)


def vgg16_ssd(num_classes, width_mult=1.0):
    def extra(cin, mid, cout, stride, padding):
        return nn.Sequential(nn.Conv2d(cin, mid, 1), nn.ReLU(),
                             nn.Conv2d(mid, cout, 3, stride, padding), nn.ReLU())

    base = vgg16_base()
    extras = nn.ModuleList([extra(1024, 256, 512, 2, 1), extra(512, 128, 256, 2, 1),
                            extra(256, 128, 256, 1, 0), extra(256, 128, 256, 1, 0)])
    head_in = [512, 1024, 512, 256, 256, 256]
    anchors = [4, 6, 6, 6, 4, 4]
    cls = nn.ModuleList([nn.Conv2d(c, a * num_classes, 3, padding=1)
                         for c, a in zip(head_in, anchors)])
    reg = nn.ModuleList([nn.Conv2d(c, a * 4, 3, padding=1) for c, a in zip(head_in, anchors)])
    return SSD(num_classes, base, [(23, nn.BatchNorm2d(512)), len(base)], extras, cls, reg,
               family="vgg")


# ---- sq-ssd-lite ----

class Fire(nn.Module):
    def __init__(self, cin, squeeze, e1, e3):
        super().__init__()
        self.squeeze = nn.Conv2d(cin, squeeze, 1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze, e1, 1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze, e3, 3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat([self.expand1x1_activation(self.expand1x1(x)),
                          self.expand3x3_activation(self.expand3x3(x))], 1)


def squeezenet11_features():
    # pytorch-ssd's own squeezenet1_1: floor-mode pools (torchvision's use ceil_mode)
    return nn.Sequential(
        nn.Conv2d(3, 64, 3, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        Fire(64, 16, 64, 64), Fire(128, 16, 64, 64), nn.MaxPool2d(3, 2),
        Fire(128, 32, 128, 128), Fire(256, 32, 128, 128), nn.MaxPool2d(3, 2),
        Fire(256, 48, 192, 192), Fire(384, 48, 192, 192), Fire(384, 64, 256, 256),
        Fire(512, 64, 256, 256))


def sq_ssd_lite(num_classes, width_mult=1.0):
    extras = nn.ModuleList([lite_extra(512, 256, 512, padding=2), lite_extra(512, 256, 512),
                            lite_extra(512, 128, 256), lite_extra(256, 128, 256),
                            lite_extra(256, 128, 256)])
    head_in = [512, 512, 512, 256, 256, 256]
    return SSD(num_classes, squeezenet11_features(), [12], extras,
               lite_heads(head_in, 6 * num_classes), lite_heads(head_in, 6 * 4),
               family="squeezenet")


NETS = {"mb1-ssd-lite": mb1_ssd_lite, "vgg16-ssd": vgg16_ssd, "sq-ssd-lite": sq_ssd_lite}

# gen_nets.py settings: input size, batch, how many seeds to try for ReLU/pooling margins
# clear of float32 rounding (default 6; a net as large as vgg16-ssd never gets there), and
# whether the truth is PyTorch float64 (and
# the float64 reference-backend check runs). Debian's PyTorch computes float64
# convolutions with a generic BLAS, ~100x slower than float32: vgg16-ssd, which needs at
# least 268 pixels for its unpadded last extras, gets a float32 truth.
GOLDEN = {"mb1-ssd-lite": {"res": 64, "f64": True},
          "vgg16-ssd": {"res": 268, "batch": 1, "f64": False, "tries": 1},
          "sq-ssd-lite": {"res": 64, "f64": True}}


def _depthwise_by_shifts(self, x):
    """A depthwise convolution as k*k shifted multiply-adds: the same function, which
    Debian's PyTorch otherwise runs in float64 as one slow GEMM per channel."""
    k, s, p, d = self.kernel_size[0], self.stride[0], self.padding[0], self.dilation[0]
    xp = torch.nn.functional.pad(x, (p, p, p, p))
    ho = (x.shape[2] + 2 * p - d * (k - 1) - 1) // s + 1
    wo = (x.shape[3] + 2 * p - d * (k - 1) - 1) // s + 1
    y = None
    for i in range(k):
        for j in range(k):
            win = xp[:, :, i * d:i * d + s * (ho - 1) + 1:s, j * d:j * d + s * (wo - 1) + 1:s]
            term = win * self.weight[:, 0, i, j].view(1, -1, 1, 1)
            y = term if y is None else y + term
    return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)


def fast_float64(net):
    """Routes the depthwise convolutions of net through _depthwise_by_shifts."""
    for m in net.modules():
        if (isinstance(m, nn.Conv2d) and m.groups > 1 and m.groups == m.in_channels ==
                m.out_channels and m.kernel_size[0] == m.kernel_size[1]):
            m.forward = _depthwise_by_shifts.__get__(m)
    return net


def _merge_plugins():
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    for f in sorted(glob.glob(os.path.join(here, "net_*_torch.py"))):
        mod = importlib.import_module(os.path.basename(f)[:-3])
        NETS.update(getattr(mod, "NETS", {}))
        GOLDEN.update(getattr(mod, "GOLDEN", {}))


_merge_plugins()


# ---- priors ----

_TABLES_300 = {
    # (feature map, shrinkage, min, max, aspect ratios)
    "mobilenetv1": [(19, 16, 60, 105, [2, 3]), (10, 32, 105, 150, [2, 3]), (5, 64, 150, 195, [2, 3]),
                    (3, 100, 195, 240, [2, 3]), (2, 150, 240, 285, [2, 3]),
                    (1, 300, 285, 330, [2, 3])],
    "squeezenet": [(17, 16, 60, 105, [2, 3]), (10, 32, 105, 150, [2, 3]), (5, 64, 150, 195, [2, 3]),
                   (3, 100, 195, 240, [2, 3]), (2, 150, 240, 285, [2, 3]),
                   (1, 300, 285, 330, [2, 3])],
    "vgg": [(38, 8, 30, 60, [2]), (19, 16, 60, 111, [2, 3]), (10, 32, 111, 162, [2, 3]),
            (5, 64, 162, 213, [2, 3]), (3, 100, 213, 264, [2]), (1, 300, 264, 315, [2])],
}


def feature_maps(net, size):
    fms = []
    with torch.no_grad():
        net.eval()(torch.zeros(1, 3, size, size), fms)
    return fms


def specs_for(family, size, fms):
    table = _TABLES_300[family]
    if size == 300:
        return table
    # set_image_size(size, min_ratio=20, max_ratio=90) of mobilenetv1_ssd_config, applied
    # to the real feature maps; the aspect ratios stay those of the family's table
    step = int(math.floor((90 - 20) / (len(fms) - 2)))
    mins = [size * 10 / 100.0] + [size * r / 100.0 for r in range(20, 91, step)]
    maxs = [size * 20 / 100.0] + [size * (r + step) / 100.0 for r in range(20, 91, step)]
    return [(f, math.ceil(size / f), a, b, t[4]) for f, a, b, t in zip(fms, mins, maxs, table)]


def generate_priors(specs, size):
    out = []
    for fm, shrink, mn, mx, ratios in specs:
        scale = size / shrink
        for j, i in itertools.product(range(fm), repeat=2):
            cx, cy = (i + 0.5) / scale, (j + 0.5) / scale
            s = mn / size
            out.append([cx, cy, s, s])
            s2 = math.sqrt(mx * mn) / size
            out.append([cx, cy, s2, s2])
            for r in ratios:
                q = math.sqrt(r)
                out.append([cx, cy, s * q, s / q])
                out.append([cx, cy, s / q, s * q])
    return torch.clamp(torch.tensor(out, dtype=torch.float32), 0.0, 1.0)


def priors(net, size):
    return generate_priors(specs_for(net.family, size, feature_maps(net, size)), size)
