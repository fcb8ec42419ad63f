"""PyTorch side of test_train.sh.

init OUT.pth            write seeded initial weights for a 2-class mb1-ssd
steps VOC LOG CSV      replay the batches `ssd train --no-augment --no-shuffle`
                        used (VOC trainval order, test transform, matching) for
                        one epoch and compare each step's losses with metrics.csv
"""
import csv
import math
import os
import sys
import xml.etree.ElementTree as ET

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "golden"))
from mb1_torch import MB1SSD, match, multibox_loss, priors_300  # noqa: E402

torch.set_num_threads(2)


def load_sample(root, image_id, classes, size):
    img = np.asarray(Image.open(os.path.join(root, "JPEGImages", image_id + ".jpg")).convert("RGB"))
    h, w = img.shape[:2]
    boxes, labels = [], []
    for obj in ET.parse(os.path.join(root, "Annotations", image_id + ".xml")).findall("object"):
        bb = obj.find("bndbox")
        b = [float(bb.find(k).text) - 1 for k in ("xmin", "ymin", "xmax", "ymax")]
        boxes.append([b[0] / w, b[1] / h, b[2] / w, b[3] / h])
        labels.append(classes.index(obj.find("name").text.strip()))
    import cv2
    # TestTransform resizes the uint8 image (cv2's fixed-point path), then normalises.
    x = cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    x = (x - 127.0) / 128.0
    return (torch.from_numpy(x.transpose(2, 0, 1).copy()), torch.tensor(boxes, dtype=torch.float32),
            torch.tensor(labels, dtype=torch.long))


def main():
    if sys.argv[1] == "init":
        torch.manual_seed(7)
        torch.save(MB1SSD(2).state_dict(), sys.argv[2])
        return 0
    root, init, metrics, batch = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
    size, lr, base_lr = int(sys.argv[6]), float(sys.argv[7]), float(sys.argv[8])
    classes = ["BACKGROUND"] + [l.strip() for l in open(os.path.join(root, "labels.txt")) if l.strip()]
    ids = [l.strip() for l in open(os.path.join(root, "ImageSets/Main/trainval.txt")) if l.strip()]
    priors = priors_300(size)
    want = []
    for row in csv.DictReader(open(metrics)):
        if row["kind"] == "step" and row["epoch"] == "0":
            want.append((float(row["regression_loss"]), float(row["classification_loss"])))
    steps = (len(ids) + batch - 1) // batch
    if len(want) != steps:
        print("metrics.csv has %d step rows, expected %d" % (len(want), steps))
        return 1
    batches = []
    for s in range(steps):
        xs, ls, gs = [], [], []
        for i in ids[s * batch:(s + 1) * batch]:
            x, b, l = load_sample(root, i, classes, size)
            gl, gb = match(b, l, priors)
            xs.append(x)
            ls.append(gb)
            gs.append(gl)
        batches.append((torch.stack(xs), torch.stack(ls), torch.stack(gs)))

    def trajectory(dt):
        net = MB1SSD(2).to(dt)
        net.load_state_dict(torch.load(init))
        net.train()
        groups = [{"params": net.base_net.parameters(), "lr": base_lr},
                  {"params": net.extras.parameters(), "lr": lr},
                  {"params": list(net.regression_headers.parameters()) +
                   list(net.classification_headers.parameters())}]
        opt = torch.optim.SGD(groups, lr=lr, momentum=0.9, weight_decay=5e-4)
        out = []
        for x, lab, gl in batches:
            opt.zero_grad()
            c, l = net(x.to(dt))
            reg, cls = multibox_loss(c, l, lab, gl.to(dt))
            (reg + cls).backward()
            opt.step()
            out.append((reg.item(), cls.item()))
        return out

    # The first step has no history: its losses (the batch the loader built, the
    # forward, the matching and the loss) must agree to 1e-4. After it, hard negative
    # mining is a discrete choice that float32 rounding flips, so two float32
    # trajectories drift apart; ours must stay as close to PyTorch's float64 trajectory
    # as 3x the largest drift PyTorch's own float32 run shows, plus 1e-4 relative.
    l32, l64 = trajectory(torch.float32), trajectory(torch.float64)
    drift = max(abs(a - b) / abs(b) for s in range(steps) for a, b in zip(l32[s], l64[s]))
    worst = 0.0
    for s in range(steps):
        for q in range(2):
            got, ref = want[s][q], l64[s][q]
            err = abs(got - ref)
            worst = max(worst, err / abs(ref))
            if err > ((3 * drift if s else 0) + 1e-4) * abs(ref):
                print("step %d: ssd %.9g, pytorch float64 %.9g, float32 %.9g" %
                      (s, got, ref, l32[s][q]))
                return 1
    print("train_ref: %d steps, worst relative loss difference to float64 %.3g "
          "(PyTorch float32: %.3g)" % (steps, worst, drift))
    return 0


sys.exit(main())
