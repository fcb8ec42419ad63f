"""Fixtures for test_onnx_ort.sh: a model dir (best checkpoint, decoys,
labels.txt with 3 classes), a working directory holding a dataset-style
labels.txt with 2 names (it must not win), and two real images
preprocessed as the reference does (images.ssdt for C, images.f32 for Node)."""
import os
import sys

import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "common"))
sys.path.insert(0, here)
import fixture  # noqa: E402
from onnx_fixture import images, make_net, write_model_dir  # noqa: E402

out = sys.argv[1]
os.makedirs(os.path.join(out, "cwd"), exist_ok=True)
torch.set_num_threads(2)
write_model_dir(os.path.join(out, "model"), make_net(0))
with open(os.path.join(out, "cwd", "labels.txt"), "w") as f:
    f.write("plate\ncar\n")
x = images(2)
fixture.save(os.path.join(out, "images.ssdt"), {"x": x})
x.tofile(os.path.join(out, "images.f32"))
