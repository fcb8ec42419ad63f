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
from onnx_fixture import images, is_test_net, other_nets  # noqa: E402

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
torch.set_num_threads(2)
RES = 300

x = torch.from_numpy(images(2, RES))
tensors, lines = {}, []
for i, name in enumerate(other_nets()):
    wrapped = is_test_net(name, i, RES)
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
