"""Fixtures for test_onnx_ort.sh: a model dir (best checkpoint, decoys,
labels.txt with 3 classes), a working directory holding a dataset-style
labels.txt with 2 names (it must not win), and two real images
preprocessed as the reference does (images.ssdt for C, images.f32 for Node).
nets/: a checkpoint of every other net (nets.txt: name and prior count), labels.txt,
and PyTorch's is_test outputs on the two images (nets.ssdt, with them as x)."""
import os
import sys

import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "common"))
sys.path.insert(0, here)
import fixture  # noqa: E402
from onnx_fixture import (CLASSES, images, is_test_net, make_net, other_nets,  # noqa: E402
                          write_model_dir)

out = sys.argv[1]
os.makedirs(os.path.join(out, "cwd"), exist_ok=True)
torch.set_num_threads(2)
write_model_dir(os.path.join(out, "model"), make_net(0))
with open(os.path.join(out, "cwd", "labels.txt"), "w") as f:
    f.write("plate\ncar\n")
x = images(2)
fixture.save(os.path.join(out, "images.ssdt"), {"x": x})
x.tofile(os.path.join(out, "images.f32"))

nd = os.path.join(out, "nets")
os.makedirs(nd, exist_ok=True)
with open(os.path.join(nd, "labels.txt"), "w") as f:
    f.write("\n".join(CLASSES) + "\n")
t, lines = {"x": x}, []
for i, name in enumerate(other_nets()):
    wrapped = is_test_net(name, 10 + i)
    torch.save(wrapped.net.state_dict(), os.path.join(nd, name + ".pth"))
    with torch.no_grad():
        t["scores_" + name], t["boxes_" + name] = wrapped(torch.from_numpy(x))
    lines.append("%s %d" % (name, wrapped.priors.shape[0]))
fixture.save(os.path.join(nd, "nets.ssdt"), t)
with open(os.path.join(nd, "nets.txt"), "w") as f:
    f.write("\n".join(lines) + "\n")
