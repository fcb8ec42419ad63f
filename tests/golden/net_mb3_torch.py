"""Our own PyTorch definitions of mb3-large-ssd-lite and mb3-small-ssd-lite with the
parameter names, shapes and order of qfgaohao/pytorch-ssd's MobileNetV3 SSD-Lite.

The base net is the flat feature list: stem conv (0), bn (1), hard-swish (2), the
bottleneck blocks, then last conv, bn, hard-swish. A block registers its
squeeze-excite module before its convolutions, so its `se.se.*` keys come first in
the state_dict although the SE runs after bn3. The SE reads bn3's output:
avgpool, 1x1 conv C->C/4, bn, ReLU, 1x1 conv C/4->C, bn, hard-sigmoid, multiply.
A stride-1 block adds its input (through a 1x1 conv + bn `shortcut` when the
channel count changes); a stride-2 block adds nothing."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class HSwish(nn.Module):
    def forward(self, x):
        return x * F.relu6(x + 3) / 6


class HSigmoid(nn.Module):
    def forward(self, x):
        return F.relu6(x + 3) / 6


def _act(kind):
    return nn.ReLU(inplace=True) if kind == "RE" else HSwish()


class SE(nn.Module):
    def __init__(self, c):
        super().__init__()
        r = c // 4
        self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, r, 1, bias=False),
                                nn.BatchNorm2d(r), nn.ReLU(inplace=True),
                                nn.Conv2d(r, c, 1, bias=False), nn.BatchNorm2d(c), HSigmoid())

    def forward(self, x):
        return x * self.se(x)


class Block(nn.Module):
    def __init__(self, k, cin, exp, cout, act, se, stride):
        super().__init__()
        self.stride = stride
        self.se = SE(cout) if se else None  # registered first, as the reference does
        self.conv1 = nn.Conv2d(cin, exp, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(exp)
        self.nolinear1 = _act(act)
        self.conv2 = nn.Conv2d(exp, exp, k, stride, k // 2, groups=exp, bias=False)
        self.bn2 = nn.BatchNorm2d(exp)
        self.nolinear2 = _act(act)
        self.conv3 = nn.Conv2d(exp, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        if stride == 1 and cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False),
                                          nn.BatchNorm2d(cout))
        else:
            self.shortcut = nn.Sequential()

    def forward(self, x):
        y = self.nolinear1(self.bn1(self.conv1(x)))
        y = self.nolinear2(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        if self.se is not None:
            y = self.se(y)
        return y + self.shortcut(x) if self.stride == 1 else y


# (kernel, expand, out, activation, squeeze-excite, stride), input channels chain from 16
LARGE = [(3, 16, 16, "RE", False, 1), (3, 64, 24, "RE", False, 2), (3, 72, 24, "RE", False, 1),
         (5, 72, 40, "RE", True, 2), (5, 120, 40, "RE", True, 1), (5, 120, 40, "RE", True, 1),
         (3, 240, 80, "HS", False, 2), (3, 200, 80, "HS", False, 1),
         (3, 184, 80, "HS", False, 1), (3, 184, 80, "HS", False, 1),
         (3, 480, 112, "HS", True, 1), (3, 672, 112, "HS", True, 1),
         (5, 672, 160, "HS", True, 1), (5, 672, 160, "HS", True, 2),
         (5, 960, 160, "HS", True, 1)]
SMALL = [(3, 16, 16, "RE", True, 2), (3, 72, 24, "RE", False, 2), (3, 88, 24, "RE", False, 1),
         (5, 96, 40, "HS", True, 2), (5, 240, 40, "HS", True, 1), (5, 240, 40, "HS", True, 1),
         (5, 120, 48, "HS", True, 1), (5, 144, 48, "HS", True, 1), (5, 288, 96, "HS", True, 2),
         (5, 576, 96, "HS", True, 1), (5, 576, 96, "HS", True, 1)]
# blocks, last conv width, first tap (base_net index), width of the first feature map
VARIANTS = {"mb3-large-ssd-lite": (LARGE, 960, 15, 112),
            "mb3-small-ssd-lite": (SMALL, 576, 11, 48)}


def mb3_features(blocks, last):
    mods = [nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), HSwish()]
    c = 16
    for k, e, o, a, se, s in blocks:
        mods.append(Block(k, c, e, o, a, se, s))
        c = o
    mods += [nn.Conv2d(c, last, 1, bias=False), nn.BatchNorm2d(last), HSwish()]
    return nn.Sequential(*mods)


def _sep(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cin, 3, padding=1, groups=cin), nn.BatchNorm2d(cin),
                         nn.ReLU6(), nn.Conv2d(cin, cout, 1))


class MB3SSDLite(nn.Module):
    def __init__(self, net, num_classes):
        super().__init__()
        blocks, last, self.tap, first = VARIANTS[net]
        self.num_classes = num_classes
        self.family = "mobilenetv1"  # prior config
        self.base_net = mb3_features(blocks, last)
        self.extras = nn.ModuleList([Block(3, last, 256, 512, "HS", False, 2),
                                     Block(3, 512, 128, 256, "HS", False, 2),
                                     Block(3, 256, 128, 256, "HS", False, 2),
                                     Block(3, 256, 64, 64, "HS", False, 2)])
        head_in = [first, last, 512, 256, 256]
        self.classification_headers = nn.ModuleList(
            [_sep(c, 6 * num_classes) for c in head_in] + [nn.Conv2d(64, 6 * num_classes, 1)])
        self.regression_headers = nn.ModuleList(
            [_sep(c, 6 * 4) for c in head_in] + [nn.Conv2d(64, 6 * 4, 1)])

    def forward(self, x, feature_maps=None):
        confs, locs = [], []

        def header(h, y):
            if feature_maps is not None:
                feature_maps.append(y.shape[2])
            c = self.classification_headers[h](y).permute(0, 2, 3, 1).contiguous()
            r = self.regression_headers[h](y).permute(0, 2, 3, 1).contiguous()
            confs.append(c.view(c.size(0), -1, self.num_classes))
            locs.append(r.view(r.size(0), -1, 4))

        for i, m in enumerate(self.base_net):
            if i == self.tap:
                header(0, x)
            x = m(x)
        header(1, x)
        for h, e in enumerate(self.extras):
            x = e(x)
            header(h + 2, x)
        return torch.cat(confs, 1), torch.cat(locs, 1)


NETS = {name: (lambda n: lambda num_classes, width_mult=1.0: MB3SSDLite(n, num_classes))(name)
        for name in VARIANTS}

# gen_nets.py settings (see nets_torch.py)
# golden/nets_b checks these (BN on 1x1 maps needs its tolerances)
GOLDEN = {name: {"res": 128, "f64": True, "own_test": True} for name in VARIANTS}
