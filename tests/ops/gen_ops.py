"""Writes the op fixtures that tests/ops/test_ops.c checks every backend against.

Usage: gen_ops.py OUTDIR

One SSDT file (tests/common/fixture.py) per op configuration used by the SSD
models, named "<op>-<config>.ssdt"; the op is the part before the first "-"
and selects how test_ops.c reads the file:

  op            params (float64 tensors "p.<name>")       tensors
  conv2d        stride[2] pad[2] dilation[2] groups act   x w [b] y dy dx dw [db]
  batchnorm     eps momentum training act                 x gamma beta running_mean
                                                          running_var y running_mean_out
                                                          running_var_out dy dx dgamma dbeta
  act           kind                                      x y dy dx
  gap           -                                         x y dy dx
  scale         -                                         x s y dy dx ds
  maxpool       kernel[2] stride[2] pad[2] ceil_mode      x y idx (int64) dy dx
  add           -                                         a b y
  concat        axis n                                    x0..x{n-1} y dy dx0..dx{n-1}
  softmax       axis log                                  x y dy dx
  head_permute  k                                         x y dy dx
  l2norm        eps                                       x scale y dy dx dscale

act values follow ssd_act: 0 none, 1 ReLU, 2 ReLU6, 3 hardswish, 4 hardsigmoid
(as pytorch-ssd's MobileNetV3 writes them: x * relu6(x + 3) / 6, relu6(x + 3) / 6). `dy` is a random upstream
gradient of the op's output (after any fused activation); every d* tensor is
what autograd gives for it. For a conv with a fused activation, the backend's
conv backward takes the gradient before the activation, so the test applies
act_bwd to dy first. For batchnorm, running_* hold the statistics before the
call and running_*_out after it (PyTorch updates them in training mode).

Everything is float32 on one thread, each config seeded from its own name so
that adding a config leaves the others unchanged.
"""
import os
import sys
import zlib

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import fixture  # noqa: E402

ACT = {"none": 0, "relu": 1, "relu6": 2, "hardswish": 3, "hardsigmoid": 4}


def act_apply(z, act):
    if act == "relu":
        return F.relu(z)
    if act == "relu6":
        return F.relu6(z)
    if act == "hardswish":
        return z * F.relu6(z + 3) / 6
    if act == "hardsigmoid":
        return F.relu6(z + 3) / 6
    return z


def p64(*v):
    return np.array(v, dtype=np.float64)


def grads(y, inputs):
    """Backpropagates a random dy through y; returns dy and the input grads."""
    dy = torch.randn_like(y)
    gs = torch.autograd.grad(y, inputs, dy)
    return dy, gs


def leaf(t):
    return t.detach().clone().requires_grad_(True)


def conv(c_in, c_out, hw, k, stride=1, pad=0, dil=1, groups=1, bias=True, act="none", wscale=1.0):
    def make():
        x = leaf(torch.randn(2, c_in, hw, hw))
        fan_in = c_in // groups * k * k
        w = leaf(torch.randn(c_out, c_in // groups, k, k) * wscale * (2.0 / fan_in) ** 0.5)
        b = leaf(torch.randn(c_out) * 0.1) if bias else None
        y = act_apply(F.conv2d(x, w, b, stride, pad, dil, groups), act)
        ins = [x, w] + ([b] if bias else [])
        dy, gs = grads(y, ins)
        out = {
            "p.stride": p64(stride, stride),
            "p.pad": p64(pad, pad),
            "p.dilation": p64(dil, dil),
            "p.groups": p64(groups),
            "p.act": p64(ACT[act]),
            "x": x,
            "w": w,
            "y": y,
            "dy": dy,
            "dx": gs[0],
            "dw": gs[1],
        }
        if bias:
            out["b"] = b
            out["db"] = gs[2]
        return out

    return make


def batchnorm(training, act, c=16, hw=9):
    def make():
        x = leaf(torch.randn(2, c, hw, hw) * 1.5 + 0.5)
        # gamma and beta large enough that ReLU6 clips some outputs at 6.
        gamma = leaf(torch.rand(c) * 2.5 + 0.5)
        beta = leaf(torch.rand(c) * 3.0 - 0.5)
        rm = torch.randn(c) * 0.3
        rv = torch.rand(c) * 1.5 + 0.5
        rm_out, rv_out = rm.clone(), rv.clone()
        z = F.batch_norm(x, rm_out, rv_out, gamma, beta, training=training, momentum=0.1, eps=1e-5)
        y = act_apply(z, act)
        dy, (dx, dg, db) = grads(y, [x, gamma, beta])
        return {
            "p.eps": p64(1e-5),
            "p.momentum": p64(0.1),
            "p.training": p64(1 if training else 0),
            "p.act": p64(ACT[act]),
            "x": x,
            "gamma": gamma,
            "beta": beta,
            "running_mean": rm,
            "running_var": rv,
            "y": y,
            "running_mean_out": rm_out,
            "running_var_out": rv_out,
            "dy": dy,
            "dx": dx,
            "dgamma": dg,
            "dbeta": db,
        }

    return make


def act_op(kind):
    def make():
        x = torch.randn(2, 8, 9, 9) * 4.0
        # The kinks exactly (x + 3 = 0, 6 and relu6's 0, 6), where autograd's
        # choice of subgradient must be matched.
        kinks = torch.tensor([-3.0, 3.0, 0.0, 6.0, -6.0])
        x.view(-1)[: 4 * len(kinks)] = kinks.repeat(4)
        x = leaf(x)
        y = act_apply(x, kind)
        dy, (dx,) = grads(y, [x])
        return {"p.kind": p64(ACT[kind]), "x": x, "y": y, "dy": dy, "dx": dx}

    return make


def maxpool(hw, k, stride, pad=0, ceil_mode=False, ties=False):
    def make():
        if ties:
            # Small integers after a ReLU: most windows hold several equal
            # maxima, so this pins down which one gets the gradient.
            x = torch.randint(-3, 3, (2, 4, hw, hw)).float().clamp(min=0)
        else:
            # Distinct values: a well-defined argmax everywhere.
            x = (torch.randperm(2 * 4 * hw * hw).float() / 37.0 - 10.0).reshape(2, 4, hw, hw)
        x = leaf(x)
        y, idx = F.max_pool2d(x, k, stride, pad, 1, ceil_mode, return_indices=True)
        dy, (dx,) = grads(y, [x])
        return {
            "p.kernel": p64(k, k),
            "p.stride": p64(stride, stride),
            "p.pad": p64(pad, pad),
            "p.ceil_mode": p64(1 if ceil_mode else 0),
            "x": x,
            "y": y,
            "idx": idx.to(torch.int64),
            "dy": dy,
            "dx": dx,
        }

    return make


def gap(c, hw):
    def make():
        x = leaf(torch.randn(2, c, hw, hw))
        y = F.adaptive_avg_pool2d(x, 1)
        dy, (dx,) = grads(y, [x])
        return {"x": x, "y": y, "dy": dy, "dx": dx}

    return make


def scale(c, hw):
    def make():
        x = leaf(torch.randn(2, c, hw, hw))
        s = leaf(torch.rand(2, c, 1, 1))
        y = x * s
        dy, (dx, ds) = grads(y, [x, s])
        return {"x": x, "s": s, "y": y, "dy": dy, "dx": dx, "ds": ds}

    return make


def add():
    a = torch.randn(2, 8, 9, 9)
    b = torch.randn(2, 8, 9, 9)
    return {"a": a, "b": b, "y": a + b}


def concat(shapes, axis):
    def make():
        xs = [leaf(torch.randn(*s)) for s in shapes]
        y = torch.cat(xs, axis)
        dy, gs = grads(y, xs)
        out = {"p.axis": p64(axis), "p.n": p64(len(xs))}
        for i, x in enumerate(xs):
            out["x%d" % i] = x
        out["y"] = y
        out["dy"] = dy
        for i, g in enumerate(gs):
            out["dx%d" % i] = g
        return out

    return make


def softmax(shape, axis, log):
    def make():
        x = leaf(torch.randn(*shape) * 2.0)
        y = F.log_softmax(x, axis) if log else F.softmax(x, axis)
        dy, (dx,) = grads(y, [x])
        return {"p.axis": p64(axis), "p.log": p64(1 if log else 0), "x": x, "y": y, "dy": dy,
                "dx": dx}

    return make


def head_permute(anchors, k, hw):
    def make():
        x = leaf(torch.randn(2, anchors * k, hw, hw))
        y = x.permute(0, 2, 3, 1).contiguous().view(2, -1, k)
        dy, (dx,) = grads(y, [x])
        return {"p.k": p64(k), "x": x, "y": y, "dy": dy, "dx": dx}

    return make


def l2norm(scale_jitter):
    def make():
        c = 16
        x = leaf(torch.randn(2, c, 9, 9))
        # ssd.pytorch initialises the scale to 20; the jittered variant also
        # checks that each channel uses its own scale.
        scale = leaf(20.0 + scale_jitter * torch.randn(c))
        eps = 1e-10
        norm = x.pow(2).sum(dim=1, keepdim=True).sqrt() + eps
        y = scale.view(1, c, 1, 1) * (x / norm)
        dy, (dx, ds) = grads(y, [x, scale])
        return {"p.eps": p64(eps), "x": x, "scale": scale, "y": y, "dy": dy, "dx": dx,
                "dscale": ds}

    return make


CONFIGS = {
    # MobileNet v1/v2 stem: 3 -> 32, 3x3 stride 2, followed by BN (no bias).
    "conv2d-stem_3to32_k3s2p1": conv(3, 32, 19, 3, 2, 1, bias=False),
    # Depthwise 3x3 (MobileNet blocks without bias; SSD-lite heads with bias).
    "conv2d-dw_k3s1p1": conv(16, 16, 11, 3, 1, 1, groups=16, bias=False),
    "conv2d-dw_k3s2p1": conv(16, 16, 13, 3, 2, 1, groups=16, bias=False),
    "conv2d-dw_k3s1p1_bias": conv(16, 16, 11, 3, 1, 1, groups=16, bias=True),
    "conv2d-dw_k3s2p1_bias": conv(16, 16, 12, 3, 2, 1, groups=16, bias=True),
    # Depthwise with ReLU6 fused: MobileNet v2 blocks (no bias), SSD-lite's
    # separable heads (bias, ReLU6, no BN).
    "conv2d-dw_k3s1p1_relu6": conv(16, 16, 11, 3, 1, 1, groups=16, bias=False, act="relu6",
                                   wscale=4.0),
    "conv2d-dw_k3s2p1_bias_relu6": conv(24, 24, 12, 3, 2, 1, groups=24, bias=True,
                                        act="relu6", wscale=4.0),
    # MobileNetV3 depthwise 5x5.
    "conv2d-dw_k5s1p2": conv(16, 16, 11, 5, 1, 2, groups=16, bias=False),
    "conv2d-dw_k5s2p2": conv(16, 16, 13, 5, 2, 2, groups=16, bias=False),
    # Pointwise 1x1 (MobileNet, SSD-lite separable convs, extras).
    "conv2d-pw_1x1": conv(16, 24, 9, 1, bias=False),
    "conv2d-pw_1x1_bias": conv(16, 24, 9, 1, bias=True),
    # 3x3 pad 1 with bias: heads, VGG body.
    "conv2d-k3s1p1_bias": conv(8, 12, 10, 3, 1, 1),
    # 3x3 stride 2 pad 1 with bias: extras.
    "conv2d-k3s2p1_bias": conv(8, 12, 11, 3, 2, 1),
    # 3x3 pad 0: the last VGG extras (5x5 -> 3x3).
    "conv2d-k3s1p0_bias": conv(8, 12, 5, 3, 1, 0),
    # VGG fc6: 3x3, pad 6, dilation 6.
    "conv2d-dil6_k3p6_bias": conv(8, 12, 13, 3, 1, 6, dil=6),
    # VGG fc6 (dilation 6) and fc7 (1x1) with their ReLU, channels scaled down.
    "conv2d-fc6_dil6_k3p6_relu": conv(16, 32, 19, 3, 1, 6, dil=6, act="relu"),
    "conv2d-fc7_1x1_relu": conv(32, 32, 19, 1, act="relu"),
    # Grouped but not depthwise.
    "conv2d-grouped4_k3p1_bias": conv(8, 16, 9, 3, 1, 1, groups=4),
    # Fused activations (weights scaled up so that ReLU6 clips some outputs).
    "conv2d-k3p1_bias_relu": conv(8, 12, 9, 3, 1, 1, act="relu"),
    "conv2d-pw_1x1_relu6": conv(16, 24, 9, 1, bias=True, act="relu6", wscale=3.0),
    "batchnorm-train": batchnorm(True, "none"),
    "batchnorm-train_relu": batchnorm(True, "relu"),
    "batchnorm-train_relu6": batchnorm(True, "relu6"),
    "batchnorm-eval": batchnorm(False, "none"),
    "batchnorm-eval_relu": batchnorm(False, "relu"),
    "batchnorm-eval_relu6": batchnorm(False, "relu6"),
    "act-relu": act_op("relu"),
    "act-relu6": act_op("relu6"),
    "act-hardswish": act_op("hardswish"),
    "act-hardsigmoid": act_op("hardsigmoid"),
    # MobileNetV3 squeeze-excite: AdaptiveAvgPool2d(1), then x * hsigmoid(...).
    "gap-c40_hw10": gap(40, 10),
    "gap-c16_hw19": gap(16, 19),
    "scale-c40_hw10": scale(40, 10),
    "scale-c24_hw5": scale(24, 5),
    "maxpool-k2s2": maxpool(10, 2, 2),
    # VGG pool3 (75 -> 38): ceil_mode on an odd size.
    "maxpool-k2s2_ceil_odd": maxpool(11, 2, 2, ceil_mode=True),
    # VGG pool5: 3x3 stride 1 pad 1.
    "maxpool-k3s1p1": maxpool(9, 3, 1, 1),
    # SqueezeNet: 3x3 stride 2 ceil_mode (14 -> 7; floor would give 6).
    "maxpool-k3s2_ceil": maxpool(14, 3, 2, ceil_mode=True),
    # VGG's 'C' pool at its real size: 75 -> 38.
    "maxpool-k2s2_ceil_75": maxpool(75, 2, 2, ceil_mode=True),
    "maxpool-k2s2_ties": maxpool(10, 2, 2, ties=True),
    "maxpool-k3s1p1_ties": maxpool(9, 3, 1, 1, ties=True),
    "add-nchw": add,
    "concat-ch2": concat([(2, 4, 9, 9), (2, 6, 9, 9)], 1),
    # SqueezeNet fire modules: expand1x1 and expand3x3 outputs side by side.
    "concat-fire_64_64": concat([(2, 64, 5, 5), (2, 64, 5, 5)], 1),
    "concat-fire_128_128": concat([(1, 128, 4, 4), (1, 128, 4, 4)], 1),
    "concat-fire_192_192": concat([(1, 192, 3, 3), (1, 192, 3, 3)], 1),
    "concat-fire_256_256": concat([(1, 256, 3, 3), (1, 256, 3, 3)], 1),
    "concat-ch3": concat([(2, 3, 5, 5), (2, 4, 5, 5), (2, 5, 5, 5)], 1),
    # Priors / head outputs: (N, K_i, k) along K.
    "concat-axis1_3d": concat([(2, 30, 4), (2, 12, 4), (2, 6, 4)], 1),
    "softmax-last_nkc": softmax((2, 20, 21), 2, False),
    "softmax-last_nkc_log": softmax((2, 20, 21), 2, True),
    "softmax-nchw_axis1": softmax((2, 6, 5, 5), 1, False),
    "softmax-nchw_axis1_log": softmax((2, 6, 5, 5), 1, True),
    "head_permute-k4": head_permute(6, 4, 5),
    "head_permute-k21": head_permute(3, 21, 3),
    "l2norm-scale20": l2norm(0.0),
    "l2norm-scale20_jitter": l2norm(2.0),
}


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gen_ops.py OUTDIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    for name, make in CONFIGS.items():
        torch.manual_seed(zlib.crc32(name.encode()))
        fixture.save(os.path.join(out, name + ".ssdt"), make())


if __name__ == "__main__":
    main()
