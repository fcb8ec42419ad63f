"""Our own PyTorch definition of mb1-ssd with pytorch-ssd's parameter names,
plus the multibox loss and prior matching, used to make golden fixtures."""
import itertools
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv_bn(inp, oup, stride):
    return nn.Sequential(nn.Conv2d(inp, oup, 3, stride, 1, bias=False), nn.BatchNorm2d(oup),
                         nn.ReLU(inplace=True))


def conv_dw(inp, oup, stride):
    return nn.Sequential(
        nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False), nn.BatchNorm2d(inp),
        nn.ReLU(inplace=True), nn.Conv2d(inp, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup),
        nn.ReLU(inplace=True))


def extra(cin, mid, cout):
    return nn.Sequential(nn.Conv2d(cin, mid, 1), nn.ReLU(), nn.Conv2d(mid, cout, 3, 2, 1), nn.ReLU())


class MB1SSD(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.num_classes = num_classes
        cfg = [(32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1),
               (256, 512, 2)] + [(512, 512, 1)] * 5 + [(512, 1024, 2), (1024, 1024, 1)]
        self.base_net = nn.Sequential(conv_bn(3, 32, 2), *[conv_dw(a, b, s) for a, b, s in cfg])
        self.extras = nn.ModuleList([extra(1024, 256, 512), extra(512, 128, 256),
                                     extra(256, 128, 256), extra(256, 128, 256)])
        head_in = [512, 1024, 512, 256, 256, 256]
        self.classification_headers = nn.ModuleList(
            [nn.Conv2d(c, 6 * num_classes, 3, padding=1) for c in head_in])
        self.regression_headers = nn.ModuleList([nn.Conv2d(c, 6 * 4, 3, padding=1) for c in head_in])

    def forward(self, x):
        confs, locs = [], []
        heads = 0

        def header(y):
            nonlocal heads
            c = self.classification_headers[heads](y).permute(0, 2, 3, 1).contiguous()
            l = self.regression_headers[heads](y).permute(0, 2, 3, 1).contiguous()
            confs.append(c.view(c.size(0), -1, self.num_classes))
            locs.append(l.view(l.size(0), -1, 4))
            heads += 1

        for i in range(12):
            x = self.base_net[i](x)
        header(x)
        for i in range(12, 14):
            x = self.base_net[i](x)
        header(x)
        for e in self.extras:
            x = e(x)
            header(x)
        return torch.cat(confs, 1), torch.cat(locs, 1)


def feature_maps(size):
    net = MB1SSD(2).eval()
    sizes = []
    with torch.no_grad():
        x = torch.zeros(1, 3, size, size)
        for i in range(14):
            x = net.base_net[i](x)
            if i in (11, 13):
                sizes.append(x.shape[2])
        for e in net.extras:
            x = e(x)
            sizes.append(x.shape[2])
    return sizes


def specs_for(size):
    """mobilenetv1_ssd_config: the fixed table at 300, else set_image_size(size, 20, 90)."""
    if size == 300:
        return [(19, 16, 60, 105), (10, 32, 105, 150), (5, 64, 150, 195), (3, 100, 195, 240),
                (2, 150, 240, 285), (1, 300, 285, 330)]
    fms = feature_maps(size)
    steps = [math.ceil(size / f) for f in fms]
    step = int(math.floor((90 - 20) / (len(fms) - 2)))
    mins = [size * 10 / 100.0] + [size * r / 100.0 for r in range(20, 91, step)]
    maxs = [size * 20 / 100.0] + [size * (r + step) / 100.0 for r in range(20, 91, step)]
    return [(f, s, a, b) for f, s, a, b in zip(fms, steps, mins, maxs)]


def priors_300(size=300):
    specs = specs_for(size)
    out = []
    for fm, shrink, mn, mx in specs:
        scale = size / shrink
        for j, i in itertools.product(range(fm), repeat=2):
            cx, cy = (i + 0.5) / scale, (j + 0.5) / scale
            s = mn / size
            out.append([cx, cy, s, s])
            s2 = math.sqrt(mx * mn) / size
            out.append([cx, cy, s2, s2])
            for r in (2, 3):
                q = math.sqrt(r)
                out.append([cx, cy, s * q, s / q])
                out.append([cx, cy, s / q, s * q])
    return torch.clamp(torch.tensor(out, dtype=torch.float32), 0.0, 1.0)


def corner(b):
    return torch.cat([b[..., :2] - b[..., 2:] / 2, b[..., :2] + b[..., 2:] / 2], -1)


def iou(a, b, eps=1e-5):
    lt = torch.max(a[..., :2], b[..., :2])
    rb = torch.min(a[..., 2:], b[..., 2:])
    wh = torch.clamp(rb - lt, min=0)
    inter = wh[..., 0] * wh[..., 1]
    area = lambda x: torch.clamp(x[..., 2:] - x[..., :2], min=0).prod(-1)
    return inter / (area(a) + area(b) - inter + eps)


def match(gt, labels, priors, thr=0.5):
    """Each prior takes its best ground truth; each ground truth's best prior is forced to it."""
    pc = corner(priors)
    ious = iou(gt.unsqueeze(0), pc.unsqueeze(1))  # (K, G)
    best_t, best_t_idx = ious.max(1)
    best_p, best_p_idx = ious.max(0)
    for t, p in enumerate(best_p_idx):
        best_t_idx[p] = t
    best_t.index_fill_(0, best_p_idx, 2)
    lab = labels[best_t_idx].clone()
    lab[best_t < thr] = 0
    boxes = gt[best_t_idx]
    c = torch.cat([(boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]], 1)
    loc = torch.cat([(c[:, :2] - priors[:, :2]) / priors[:, 2:] / 0.1,
                     torch.log(c[:, 2:] / priors[:, 2:]) / 0.2], 1)
    return loc, lab


def multibox_loss(conf, loc, labels, gt_loc, neg_pos_ratio=3):
    nc = conf.size(2)
    with torch.no_grad():
        bg = -F.log_softmax(conf, dim=2)[:, :, 0]
        pos = labels > 0
        num_pos = pos.long().sum(1, keepdim=True)
        num_neg = num_pos * neg_pos_ratio
        bg[pos] = -math.inf
        _, idx = bg.sort(1, descending=True)
        _, rank = idx.sort(1)
        mask = pos | (rank < num_neg)
    c = conf[mask, :]
    cls = F.cross_entropy(c.reshape(-1, nc), labels[mask], reduction="sum")
    p = labels > 0
    reg = F.smooth_l1_loss(loc[p, :].reshape(-1, 4), gt_loc[p, :].reshape(-1, 4), reduction="sum")
    n = max(p.long().sum().item(), 1)
    return reg / n, cls / n
