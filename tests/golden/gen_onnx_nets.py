"""Fixtures for test_onnx_nets: torch.onnx.export files of every net of
nets_torch.NETS other than mb1-ssd (test_onnx covers it), at 300x300 with 3
classes, wrapped as pytorch-ssd's is_test SSD (softmax scores, decoded corner
boxes), with a dynamic batch, the opsets taking turns over 11, 13 and 17;
and PyTorch's outputs on two real frames. nets.txt lists "net opset file"."""
import os
import sys

import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "common"))
sys.path.insert(0, here)
import fixture  # noqa: E402
import nets_torch  # noqa: E402
from mb1_torch import corner  # noqa: E402
from onnx_fixture import images  # noqa: E402

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
torch.set_num_threads(2)
C, RES = 3, 300


class IsTest(torch.nn.Module):
    def __init__(self, net, priors):
        super().__init__()
        self.net = net
        self.register_buffer("priors", priors)

    def forward(self, x):
        conf, loc = self.net(x)
        p = self.priors
        c = torch.cat([loc[..., :2] * 0.1 * p[..., 2:] + p[..., :2],
                       torch.exp(loc[..., 2:] * 0.2) * p[..., 2:]], dim=loc.dim() - 1)
        return torch.softmax(conf, dim=2), corner(c)


x = torch.from_numpy(images(2, RES))
tensors, lines = {}, []
for i, name in enumerate(sorted(n for n in nets_torch.NETS if n != "mb1-ssd")):
    torch.manual_seed(i)
    net = nets_torch.NETS[name](C).eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    wrapped = IsTest(net, nets_torch.priors(net, RES).float()).eval()
    with torch.no_grad():
        scores, boxes = wrapped(x)
    opset = (11, 13, 17)[i % 3]
    f = "%s_op%d.onnx" % (name, opset)
    torch.onnx.export(wrapped, x, os.path.join(out, f), opset_version=opset,
                      input_names=["input_0"], output_names=["scores", "boxes"],
                      dynamic_axes={"input_0": {0: "batch"}, "scores": {0: "batch"},
                                    "boxes": {0: "batch"}}, do_constant_folding=True)
    tensors["scores_" + name] = scores
    tensors["boxes_" + name] = boxes
    lines.append("%s %d %s" % (name, opset, f))
tensors["x"] = x
fixture.save(os.path.join(out, "nets.ssdt"), tensors)
with open(os.path.join(out, "nets.txt"), "w") as fh:
    fh.write("\n".join(lines) + "\n")
print("onnx net exports in", out)
