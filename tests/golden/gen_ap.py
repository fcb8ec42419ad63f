"""Fixed lists of ground truth and detections, and what our Python implementation
of the reference evaluation (ap_ref.py) says about them, for test_ap.c.

Cases: random scenes with ties in scores, difficult objects, a class without
objects and one with only difficult objects; a crowded scene (> 100 detections
per image, every object size); a detection on a difficult object ranked first
(the reference's NaN); a class with objects and no detection; duplicates."""
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import ap_ref  # noqa: E402
from fixture import save  # noqa: E402

torch.set_num_threads(1)
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rnd = np.random.RandomState(0)


def rand_box(w, h, smin, smax):
    bw, bh = rnd.uniform(smin, smax), rnd.uniform(smin, smax)
    x, y = rnd.uniform(-5, w - bw + 5), rnd.uniform(-5, h - bh + 5)
    return [x, y, x + bw, y + bh]


def jitter(box, s):
    w, h = box[2] - box[0], box[3] - box[1]
    return [box[0] + rnd.normal(0, s * w), box[1] + rnd.normal(0, s * h),
            box[2] + rnd.normal(0, s * w), box[3] + rnd.normal(0, s * h)]


def f32(v):
    return float(np.float32(v))


def scene(n_images, n_classes, gt_classes, p_diff, max_gt, n_fp, smin, smax, quant, w=500,
          h=400, dups=0):
    images = []
    for i in range(n_images):
        gt, det = [], []
        for _ in range(rnd.randint(0, max_gt + 1)):
            c = int(rnd.choice(gt_classes))
            gt.append(([f32(v) for v in rand_box(w, h, smin, smax)], c, int(rnd.rand() < p_diff)))
        for box, c, _ in gt:
            for _ in range(rnd.randint(0, 3)):
                det.append((jitter(box, 0.08), c, rnd.rand()))
        for _ in range(n_fp):
            det.append((rand_box(w, h, smin, smax), int(rnd.randint(1, n_classes)), rnd.rand() * 0.6))
        for _ in range(dups):
            if det:
                det.append(det[rnd.randint(len(det))])
        # Quantised scores give ties within and across images.
        det = [([f32(v) for v in b], c, f32(np.round(s * quant) / quant if quant else s))
               for b, c, s in det]
        # Predictor order: grouped by class, by score within a class.
        det.sort(key=lambda d: (d[1], -d[2]))
        images.append({"id": "img %03d" % i, "gt": gt, "det": det})
    return images


cases = []
# 0: classes 1..3 have objects, 4 only difficult ones, 5 none; ties from 2-digit scores.
imgs = scene(40, 6, [1, 2, 3], 0.15, 4, 3, 20, 200, 100)
for im in imgs[:6]:
    im["gt"].append(([f32(v) for v in rand_box(500, 400, 30, 90)], 4, 1))
cases.append((imgs, ["BACKGROUND", "car", "dog", "person", "hard", "none"]))
# 1: crowded: > 100 detections of one class in some images, boxes from 4 to 300 pixels.
cases.append((scene(12, 3, [1, 2], 0.1, 25, 120, 4, 300, 0, w=640, h=480),
              ["BACKGROUND", "a", "b"]))
# 2: the top detection hits a difficult object (reference: 0/0 precision, NaN VOC07 AP).
gt = [([10, 10, 60, 60], 1, 1), ([100, 100, 160, 150], 1, 0), ([200, 40, 260, 90], 1, 0)]
det = [([11, 10, 60, 61], 1, 0.9), ([101, 99, 160, 151], 1, 0.8), ([300, 300, 340, 340], 1, 0.7),
       ([199, 41, 259, 91], 1, 0.6)]
cases.append(([{"id": "a", "gt": [([f32(v) for v in b], c, d) for b, c, d in gt],
                "det": [([f32(v) for v in b], c, f32(s)) for b, c, s in det]}],
              ["BACKGROUND", "x"]))
# 3: a class with objects and no detection at all; 4: duplicates and equal scores everywhere.
imgs = scene(10, 3, [1, 2], 0.0, 3, 1, 30, 150, 4)
for im in imgs:
    im["det"] = [d for d in im["det"] if d[1] != 2]
cases.append((imgs, ["BACKGROUND", "p", "q"]))
cases.append((scene(15, 2, [1], 0.2, 3, 2, 30, 150, 3, dups=3), ["BACKGROUND", "p"]))

for ci, (images, names) in enumerate(cases):
    res = ap_ref.evaluate(images, names)
    if ci == 2:
        assert np.isnan(res["ap07_raw"][0]) and not np.isnan(res["ap07"][0]), res
    gts = [(i, b, c, d) for i, im in enumerate(images) for b, c, d in im["gt"]]
    dets = [(i, b, c, s) for i, im in enumerate(images) for b, c, s in im["det"]]
    t = {
        "n_images": np.array([len(images)], dtype=np.int64),
        "n_classes": np.array([len(names)], dtype=np.int64),
        "gt_img": np.array([g[0] for g in gts], dtype=np.int64).reshape(-1),
        "gt_box": np.array([g[1] for g in gts], dtype=np.float32).reshape(-1, 4),
        "gt_label": np.array([g[2] for g in gts], dtype=np.int64).reshape(-1),
        "gt_diff": np.array([g[3] for g in gts], dtype=np.int64).reshape(-1),
        "det_img": np.array([d[0] for d in dets], dtype=np.int64).reshape(-1),
        "det_box": np.array([d[1] for d in dets], dtype=np.float32).reshape(-1, 4),
        "det_label": np.array([d[2] for d in dets], dtype=np.int64).reshape(-1),
        "det_score": np.array([d[3] for d in dets], dtype=np.float32).reshape(-1),
        "ap07": np.array(res["ap07"], dtype=np.float64),
        "area": np.array(res["area"], dtype=np.float64),
        "coco": np.array(res["coco"], dtype=np.float64).reshape(-1, 6),
        "coco_all": np.array(res["coco_all"], dtype=np.float64),
        "tp": np.array(res["tp"], dtype=np.int64),
        "fp": np.array(res["fp"], dtype=np.int64),
        "npos": np.array(res["npos"], dtype=np.int64),
        "best_f1": np.array(res["best_f1"], dtype=np.float64),
        "best_t": np.array(res["best_t"], dtype=np.float64),
    }
    save(os.path.join(out, "case%d.bin" % ci), t)
    with open(os.path.join(out, "case%d_names.txt" % ci), "w") as f:
        f.write("\n".join(names) + "\n")
    with open(os.path.join(out, "case%d_ids.txt" % ci), "w") as f:
        f.write("\n".join(im["id"] for im in images) + "\n")
    ddir = os.path.join(out, "case%d_det" % ci)
    os.makedirs(ddir, exist_ok=True)
    for name, text in res["files"].items():
        with open(os.path.join(ddir, "det_test_%s.txt" % name), "w") as f:
            f.write(text)
with open(os.path.join(out, "ncases.txt"), "w") as f:
    f.write("%d\n" % len(cases))

# numpy's str() of float32 values, for ssd_np_float32_str.
vals = [0.0, -0.0, 1.0, 0.5, 0.01, 1e-4, 9.9999e-5, 1e-5, 123.456, 1e16, 1.5e16, 9.999999e15,
        3.4028235e38, 1.4e-45, 2.0 ** -126, 16777216.0, 16777217.0, 0.1, 0.3, 2.0 ** 24 - 1]
vals += list(rnd.uniform(0, 1, 3000)) + list(rnd.uniform(-50, 800, 3000))
vals += [rnd.uniform(-1, 1) * 10.0 ** rnd.randint(-40, 38) for _ in range(3000)]
# Powers of two and their neighbours, where the shortest-digits search has uneven gaps.
vals += [2.0 ** e for e in range(-120, 120)]
with open(os.path.join(out, "f32str.txt"), "w") as f:
    for v in vals:
        x = np.float32(v)
        f.write("%08x %s\n" % (struct.unpack("<I", struct.pack("<f", x))[0], str(x)))
