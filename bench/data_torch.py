"""Reference side of bench_data: the pytorch-ssd training data pipeline
(VOCDataset-style cv2 decode, TrainAugmentation, MatchPrior, default-collate
DataLoader with shuffle), reimplemented here with cv2/numpy/torch the way the
reference does it, timed in images per second.

  data_torch.py DATA_DIR IMAGES WORKERS [WORKERS ...]

Boxes come from the CCPD file names. Prints one line per worker count:
  torch_images_per_s <workers> <images per second> <images per CPU second>
"""
import gc
import glob
import os
import resource
import sys
import time

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

SIZE = 300
MEAN = np.array([127, 127, 127], np.float32)
STD = 128.0


# ---- TrainAugmentation, step by step as the reference runs it ------------------------------

def photometric(im):
    im = im.copy()
    if np.random.randint(2):
        im += np.random.uniform(-32, 32)

    def contrast(x):
        if np.random.randint(2):
            x *= np.random.uniform(0.5, 1.5)
        return x

    def hsv_part(x):
        x = cv2.cvtColor(x, cv2.COLOR_RGB2HSV)
        if np.random.randint(2):
            x[:, :, 1] *= np.random.uniform(0.5, 1.5)
        if np.random.randint(2):
            x[:, :, 0] += np.random.uniform(-18.0, 18.0)
            x[:, :, 0][x[:, :, 0] > 360.0] -= 360.0
            x[:, :, 0][x[:, :, 0] < 0.0] += 360.0
        return cv2.cvtColor(x, cv2.COLOR_HSV2RGB)

    if np.random.randint(2):
        im = hsv_part(contrast(im))
    else:
        im = contrast(hsv_part(im))
    if np.random.randint(2):
        perms = [(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)]
        im = im[:, :, list(perms[np.random.randint(6)])]
    return im


def expand(im, boxes):
    if np.random.randint(2):
        return im, boxes
    h, w, d = im.shape
    ratio = np.random.uniform(1, 4)
    left = np.random.uniform(0, w * ratio - w)
    top = np.random.uniform(0, h * ratio - h)
    canvas = np.empty((int(h * ratio), int(w * ratio), d), im.dtype)
    canvas[:, :, :] = MEAN
    canvas[int(top):int(top + h), int(left):int(left + w)] = im
    boxes = boxes.copy()
    boxes[:, :2] += (int(left), int(top))
    boxes[:, 2:] += (int(left), int(top))
    return canvas, boxes


def iou_rect(boxes, rect):
    lt = np.maximum(boxes[:, :2], rect[:2])
    rb = np.minimum(boxes[:, 2:], rect[2:])
    wh = np.clip(rb - lt, 0, np.inf)
    inter = wh[:, 0] * wh[:, 1]
    a = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    b = (rect[2] - rect[0]) * (rect[3] - rect[1])
    return inter / (a + b - inter)


MODES = (None, (0.1, None), (0.3, None), (0.7, None), (0.9, None), (None, None))


def sample_crop(im, boxes, labels):
    h, w, _ = im.shape
    while True:
        mode = MODES[np.random.randint(len(MODES))]
        if mode is None:
            return im, boxes, labels
        lo = float("-inf") if mode[0] is None else mode[0]
        hi = float("inf")
        for _ in range(50):
            cw = np.random.uniform(0.3 * w, w)
            ch = np.random.uniform(0.3 * h, h)
            if ch / cw < 0.5 or ch / cw > 2:
                continue
            left = np.random.uniform(w - cw)  # numpy: low=w-cw, high=1 (as the reference)
            top = np.random.uniform(h - ch)
            rect = np.array([int(left), int(top), int(left + cw), int(top + ch)])
            ov = iou_rect(boxes, rect)
            if ov.min() < lo and hi < ov.max():
                continue
            c = (boxes[:, :2] + boxes[:, 2:]) / 2.0
            m = (rect[0] < c[:, 0]) * (rect[1] < c[:, 1]) * (rect[2] > c[:, 0]) * (rect[3] > c[:, 1])
            if not m.any():
                continue
            nb = boxes[m, :].copy()
            nb[:, :2] = np.maximum(nb[:, :2], rect[:2]) - rect[:2]
            nb[:, 2:] = np.minimum(nb[:, 2:], rect[2:]) - rect[:2]
            return im[rect[1]:rect[3], rect[0]:rect[2], :], nb, labels[m]


def train_augment(img, boxes, labels):
    im = img.astype(np.float32)
    im = photometric(im)
    im, boxes = expand(im, boxes)
    im, boxes, labels = sample_crop(im, boxes, labels)
    if np.random.randint(2):
        w = im.shape[1]
        im = im[:, ::-1]
        boxes = boxes.copy()
        boxes[:, 0::2] = w - boxes[:, 2::-2]
    h, w, _ = im.shape
    boxes = boxes.copy()
    boxes[:, 0::2] /= w
    boxes[:, 1::2] /= h
    im = cv2.resize(im, (SIZE, SIZE))
    im = im.astype(np.float32)
    im -= MEAN
    im = im / STD
    return torch.from_numpy(im.astype(np.float32)).permute(2, 0, 1), boxes, labels


# ---- MatchPrior with the mb1-ssd priors at 300 -----------------------------------------------

def mb1_priors():
    specs = [(19, 16, 60, 105), (10, 32, 105, 150), (5, 64, 150, 195), (3, 100, 195, 240),
             (2, 150, 240, 285), (1, 300, 285, 330)]
    out = []
    for fm, shrink, mn, mx in specs:
        scale = SIZE / shrink
        for j in range(fm):
            for i in range(fm):
                cx, cy = (i + 0.5) / scale, (j + 0.5) / scale
                s = mn / SIZE
                out.append([cx, cy, s, s])
                s2 = np.sqrt(mx * mn) / SIZE
                out.append([cx, cy, s2, s2])
                for r in (2, 3):
                    r = np.sqrt(r)
                    out.append([cx, cy, mn / SIZE * r, mn / SIZE / r])
                    out.append([cx, cy, mn / SIZE / r, mn / SIZE * r])
    return torch.clamp(torch.tensor(out, dtype=torch.float32), 0.0, 1.0)


def corner(b):
    return torch.cat([b[..., :2] - b[..., 2:] / 2, b[..., :2] + b[..., 2:] / 2], -1)


def iou(a, b, eps=1e-5):
    lt = torch.max(a[..., :2], b[..., :2])
    rb = torch.min(a[..., 2:], b[..., 2:])
    wh = torch.clamp(rb - lt, min=0.0)
    inter = wh[..., 0] * wh[..., 1]
    area = lambda x: torch.clamp(x[..., 2:] - x[..., :2], min=0.0).prod(-1)  # noqa: E731
    return inter / (area(a) + area(b) - inter + eps)


class MatchPrior:
    def __init__(self, priors):
        self.center = priors
        self.corner = corner(priors)

    def __call__(self, gt, labels):
        gt = torch.from_numpy(gt)
        labels = torch.from_numpy(labels)
        ious = iou(gt.unsqueeze(0), self.corner.unsqueeze(1))
        best_target, best_target_idx = ious.max(1)
        _, best_prior_idx = ious.max(0)
        for t, p in enumerate(best_prior_idx):
            best_target_idx[p] = t
        best_target.index_fill_(0, best_prior_idx, 2)
        lab = labels[best_target_idx]
        lab[best_target < 0.5] = 0
        boxes = gt[best_target_idx]
        c = torch.cat([(boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]], 1)
        loc = torch.cat([(c[:, :2] - self.center[:, :2]) / self.center[:, 2:] / 0.1,
                         torch.log(c[:, 2:] / self.center[:, 2:]) / 0.2], 1)
        return loc, lab


# ---- dataset ---------------------------------------------------------------------------------

def ccpd_box(path):
    a, b = os.path.basename(path).split("-")[2].split("_")
    x1, y1 = a.split("&")
    x2, y2 = b.split("&")
    return [float(x1), float(y1), float(x2), float(y2)]


class CCPD(Dataset):
    def __init__(self, root):
        self.files = sorted(glob.glob(os.path.join(root, "*.jpg")))
        self.boxes = [np.array([ccpd_box(f)], np.float32) for f in self.files]
        self.target = MatchPrior(mb1_priors())

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        img = cv2.imread(self.files[i])
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        img, boxes, labels = train_augment(img, self.boxes[i].copy(), np.array([1], np.int64))
        loc, lab = self.target(boxes, labels)
        return img, loc, lab


def cpu_seconds():
    self_, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return self_.ru_utime + self_.ru_stime + kids.ru_utime + kids.ru_stime


def rate(ds, workers, images, batch=32):
    """Images/s from the end of the first batch to the last one (so start-up is excluded),
    running epochs until `images` images are counted; later epochs restart the workers as the
    reference's DataLoader does (no persistent_workers). Also images per CPU second over the
    whole run (start-up and worker processes included, once they are joined)."""
    loader = DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers)
    c0 = cpu_seconds()
    t0, n, total = None, 0, 0
    while n < images:
        it = iter(loader)
        for img, loc, lab in it:
            total += img.shape[0]
            if t0 is None:
                t0 = time.perf_counter()
                continue
            n += img.shape[0]
            if n >= images:
                break
        del it
        gc.collect()
    wall = n / (time.perf_counter() - t0)
    return wall, total / (cpu_seconds() - c0)


def main():
    root, images = sys.argv[1], int(sys.argv[2])
    np.random.seed(0)
    torch.manual_seed(0)
    ds = CCPD(root)
    if not len(ds):
        sys.exit("no images in " + root)
    for w in sys.argv[3:]:
        wall, cpu = rate(ds, int(w), images)
        print("torch_images_per_s %d %.2f %.2f" % (int(w), wall, cpu), flush=True)


if __name__ == "__main__":
    main()
