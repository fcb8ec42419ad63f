"""Fixtures for test_onnx_ops.c: small modules using the operators the
pytorch-ssd nets export (MobileNetV3's hard-swish, hard-sigmoid and
squeeze-excite, SqueezeNet's fire modules and ceil-mode pools, VGG's dilated
fc6 and pool5, MobileNetV2's inverted residual with ReLU6, 5x5 depthwise
convs), written by torch.onnx.export at opsets 11, 13 and 17, each with an
input and PyTorch's output: "<name>_op<N>.onnx" and "<name>.ssdt" (x, y).
The opset 17 files are also rewritten as newer exporters write them
(torch >= 2.5's default): at opset 18 and 21, ReduceMean's axes as a constant
input instead of an attribute; nothing else these graphs use changed
meaning after 17 (19-21 only added element types)."""
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import helper, numpy_helper

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "common"))
import fixture  # noqa: E402


def bn(c):
    b = nn.BatchNorm2d(c)
    # non-trivial statistics so that folding them is exercised
    with torch.no_grad():
        b.running_mean.uniform_(-0.5, 0.5)
        b.running_var.uniform_(0.5, 1.5)
        b.weight.uniform_(0.5, 1.5)
        b.bias.uniform_(-0.5, 0.5)
    return b


class SE(nn.Module):
    """MobileNetV3 block tail: 5x5 depthwise + BN + hswish (as pytorch-ssd
    writes it), then squeeze-excite with AdaptiveAvgPool2d, hsigmoid, Mul."""

    def __init__(self, c=24):
        super().__init__()
        self.dw = nn.Conv2d(c, c, 5, 1, 2, groups=c, bias=False)
        self.bn = bn(c)
        self.fc1 = nn.Conv2d(c, c // 4, 1, bias=False)
        self.fc2 = nn.Conv2d(c // 4, c, 1, bias=False)

    def forward(self, x):
        x = self.bn(self.dw(x))
        x = x * F.relu6(x + 3) / 6
        s = F.adaptive_avg_pool2d(x, 1)
        s = F.relu(self.fc1(s))
        s = F.relu6(self.fc2(s) + 3) / 6
        return x * s


class HardOps(nn.Module):
    """torch's own Hardswish / Hardsigmoid modules (HardSwish from opset 14,
    HardSigmoid), ReduceMean over H, W, and a Mul broadcast the other way."""

    def __init__(self, c=16):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 2, 1, groups=c)
        self.hs = nn.Hardswish()
        self.hsig = nn.Hardsigmoid()

    def forward(self, x):
        x = self.hs(self.conv(x))
        s = self.hsig(x.mean((2, 3), keepdim=True))
        return s * x


class Fire(nn.Module):
    """SqueezeNet: ceil-mode 3x3/2 max pool, squeeze 1x1, expand 1x1 and 3x3, concat."""

    def __init__(self, c=32, sq=16, e=32):
        super().__init__()
        self.sq = nn.Conv2d(c, sq, 1)
        self.e1 = nn.Conv2d(sq, e, 1)
        self.e3 = nn.Conv2d(sq, e, 3, padding=1)

    def forward(self, x):
        x = F.max_pool2d(x, 3, 2, ceil_mode=True)
        s = F.relu(self.sq(x))
        return torch.cat([F.relu(self.e1(s)), F.relu(self.e3(s))], 1)


class VGGTail(nn.Module):
    """VGG: the 'C' pool (k2 s2 ceil), pool5 (k3 s1 p1), fc6 dilated 6, fc7 1x1."""

    def __init__(self, c=16):
        super().__init__()
        self.fc6 = nn.Conv2d(c, 32, 3, padding=6, dilation=6)
        self.fc7 = nn.Conv2d(32, 32, 1)

    def forward(self, x):
        x = F.max_pool2d(x, 2, 2, ceil_mode=True)
        x = F.max_pool2d(x, 3, 1, 1)
        return F.relu(self.fc7(F.relu(self.fc6(x))))


class InvRes(nn.Module):
    """MobileNetV2 inverted residual: expand 1x1 + BN + ReLU6, depthwise 3x3 +
    BN + ReLU6, project 1x1 + BN, plus the input."""

    def __init__(self, c=16, t=6):
        super().__init__()
        h = c * t
        self.body = nn.Sequential(
            nn.Conv2d(c, h, 1, bias=False), bn(h), nn.ReLU6(inplace=True),
            nn.Conv2d(h, h, 3, 1, 1, groups=h, bias=False), bn(h), nn.ReLU6(inplace=True),
            nn.Conv2d(h, c, 1, bias=False), bn(c))

    def forward(self, x):
        return x + self.body(x)


NETS = {
    "se": (SE, (1, 24, 10, 10)),
    "hardops": (HardOps, (2, 16, 9, 9)),
    "fire": (Fire, (1, 32, 15, 15)),
    "vgg": (VGGTail, (1, 16, 19, 19)),
    "invres": (InvRes, (2, 16, 10, 10)),
}


def newer_opset(src, dst, opset):
    m = onnx.load(src)
    for o in m.opset_import:
        if o.domain in ("", "ai.onnx"):
            o.version = opset
    for k, n in enumerate(m.graph.node):
        if n.op_type != "ReduceMean":
            continue
        axes = [a for a in n.attribute if a.name == "axes"]
        if not axes:
            continue
        name = "reducemean_axes_%d" % k
        m.graph.initializer.append(numpy_helper.from_array(
            np.array(list(axes[0].ints), dtype=np.int64), name))
        n.attribute.remove(axes[0])
        n.input.append(name)
    onnx.save(m, dst)  # onnx 1.12's checker knows opsets <= 17: not checked here


def reducemean18(out):
    """ReduceMean-18 with its axes input empty or absent: noop_with_empty_axes=1 makes it the
    identity, 0 (the default) the mean over every axis. Written by hand: exporters keep axes."""
    x = np.random.default_rng(5).standard_normal((2, 3, 4, 5)).astype(np.float32)
    for name, noop, axes_input in (("rm_noop_empty", 1, True), ("rm_all_empty", 0, True),
                                   ("rm_noop_none", 1, False), ("rm_all_none", 0, False)):
        inits = [numpy_helper.from_array(np.zeros(0, dtype=np.int64), "axes")] if axes_input else []
        node = helper.make_node("ReduceMean", ["x", "axes"] if axes_input else ["x"], ["y"],
                                noop_with_empty_axes=noop)
        y = x if noop else x.mean(dtype=np.float64).astype(np.float32).reshape(1, 1, 1, 1)
        g = helper.make_graph([node], name, [helper.make_tensor_value_info("x", 1, x.shape)],
                              [helper.make_tensor_value_info("y", 1, y.shape)], inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
        m.ir_version = 8
        onnx.save(m, os.path.join(out, name + "_op18.onnx"))
        fixture.save(os.path.join(out, name + ".ssdt"),
                     {"x": torch.from_numpy(x), "y": torch.from_numpy(np.ascontiguousarray(y))})


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gen_onnx_ops.py OUTDIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    for i, (name, (cls, shape)) in enumerate(NETS.items()):
        torch.manual_seed(100 + i)
        net = cls().eval()
        x = torch.randn(*shape) * 2
        with torch.no_grad():
            y = net(x)
        fixture.save(os.path.join(out, name + ".ssdt"), {"x": x, "y": y})
        for opset in (11, 13, 17):
            torch.onnx.export(net, x, os.path.join(out, "%s_op%d.onnx" % (name, opset)),
                              opset_version=opset, input_names=["x"], output_names=["y"],
                              do_constant_folding=True)
        for opset in (18, 21):
            newer_opset(os.path.join(out, "%s_op17.onnx" % name),
                        os.path.join(out, "%s_op%d.onnx" % (name, opset)), opset)
    reducemean18(out)


if __name__ == "__main__":
    main()
