"""Our own PyTorch definition of mb2-ssd-lite with pytorch-ssd's (dusty-nv) parameter
names, shapes and order: MobileNetV2 features under SSD-Lite heads.

Names follow the reference's Sequentials, whose ReLU6 modules hold an index but no
parameters: an inverted residual with expansion is conv.{0 pw,1 bn,3 dw,4 bn,6 pw,7 bn},
without expansion conv.{0 dw,1 bn,3 pw,4 bn}; a separable header is {0 dw+bias, 1 bn,
3 pw+bias}. The first feature map taps the expansion output (after BN and ReLU6) inside
base_net.14, the block that then downsamples to stride 32."""
import torch
import torch.nn as nn


def _stem(cin, cout, k, stride):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU6(inplace=True))


class InvRes(nn.Module):
    """Expansion 1x1 (skipped when the ratio is 1), depthwise 3x3, linear 1x1."""

    def __init__(self, cin, cout, stride, ratio):
        super().__init__()
        hid = round(cin * ratio)  # Python's round, as the reference
        self.residual = stride == 1 and cin == cout
        dw = [nn.Conv2d(hid, hid, 3, stride, 1, groups=hid, bias=False), nn.BatchNorm2d(hid),
              nn.ReLU6(inplace=True)]
        pw = [nn.Conv2d(hid, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        if ratio == 1:
            self.conv = nn.Sequential(*dw, *pw)
        else:
            self.conv = nn.Sequential(nn.Conv2d(cin, hid, 1, bias=False), nn.BatchNorm2d(hid),
                                      nn.ReLU6(inplace=True), *dw, *pw)

    def forward(self, x):
        y = self.conv(x)
        return x + y if self.residual else y


def _sep(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cin, 3, padding=1, groups=cin), nn.BatchNorm2d(cin),
                         nn.ReLU6(), nn.Conv2d(cin, cout, 1))


def mb2_features(width_mult=1.0):
    """The 19 modules of MobileNetV2(width_mult).features."""
    settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1)]
    c = int(32 * width_mult)
    mods = [_stem(3, c, 3, 2)]
    for t, ch, n, s in settings:
        out = int(ch * width_mult)
        for i in range(n):
            mods.append(InvRes(c, out, s if i == 0 else 1, t))
            c = out
    last = int(1280 * width_mult) if width_mult > 1.0 else 1280
    mods.append(_stem(c, last, 1, 1))
    return nn.Sequential(*mods)


class MB2SSDLite(nn.Module):
    def __init__(self, num_classes, width_mult=1.0):
        super().__init__()
        self.num_classes = num_classes
        self.family = "mobilenetv1"  # prior config
        self.base_net = mb2_features(width_mult)
        self.extras = nn.ModuleList([InvRes(1280, 512, 2, 0.2), InvRes(512, 256, 2, 0.25),
                                     InvRes(256, 256, 2, 0.5), InvRes(256, 64, 2, 0.25)])
        head_in = [round(576 * width_mult), 1280, 512, 256, 256]
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

        for i in range(14):
            x = self.base_net[i](x)
        seq = self.base_net[14].conv
        x = seq[2](seq[1](seq[0](x)))
        header(0, x)
        for layer in seq[3:]:
            x = layer(x)
        for i in range(15, 19):
            x = self.base_net[i](x)
        header(1, x)
        for h, e in enumerate(self.extras):
            x = e(x)
            header(h + 2, x)
        return torch.cat(confs, 1), torch.cat(locs, 1)


NETS = {"mb2-ssd-lite": lambda num_classes, width_mult=1.0: MB2SSDLite(num_classes, width_mult)}

# gen_nets.py settings (see nets_torch.py)
# golden/nets_b checks these (widths 0.5, 0.75; BN on 1x1 maps needs its tolerances)
GOLDEN = {"mb2-ssd-lite": {"res": 128, "f64": True, "own_test": True}}
