"""Fixtures for tests/golden/test_augment.c: the deterministic parts of the
reference augmentation (pytorch-ssd TrainAugmentation / TestTransform), done
with cv2 and numpy the way the reference does them, but with every random
choice given explicitly.

Each case stores an input image, the parameter vector the C side fills its
ssd_augment_params from, boxes, and the expected (3,S,S) output and boxes.
"""
import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "common"))
from fixture import save  # noqa: E402

cv2.setNumThreads(1)

# Order of the parameter vector; test_augment.c reads it in the same order.
PARAM_NAMES = [
    "photometric", "brightness", "brightness_delta", "contrast_first", "contrast",
    "contrast_alpha", "saturation", "saturation_factor", "hue", "hue_delta", "lighting",
    "perm0", "perm1", "perm2", "canvas_w", "canvas_h", "offset_x", "offset_y", "crop",
    "crop_x0", "crop_y0", "crop_x1", "crop_y1", "mirror", "u8_resize",
]


def default_params(w, h):
    return dict(photometric=0, brightness=0, brightness_delta=0.0, contrast_first=0,
                contrast=0, contrast_alpha=1.0, saturation=0, saturation_factor=1.0, hue=0,
                hue_delta=0.0, lighting=0, perm0=0, perm1=1, perm2=2, canvas_w=w, canvas_h=h,
                offset_x=0, offset_y=0, crop=0, crop_x0=0, crop_y0=0, crop_x1=w, crop_y1=h,
                mirror=0, u8_resize=0)


def f32(x):
    return float(np.float32(x))


# ---- the reference's steps with explicit parameters -------------------------------------

def photometric(img, p):
    """PhotometricDistort on a float32 RGB image, all in place in float32 as numpy does it."""
    im = img.copy()
    if p["brightness"]:
        im += np.float32(p["brightness_delta"])

    def contrast(x):
        if p["contrast"]:
            x *= np.float32(p["contrast_alpha"])
        return x

    if p["contrast_first"]:
        im = contrast(im)
    hsv = cv2.cvtColor(im, cv2.COLOR_RGB2HSV)
    if p["saturation"]:
        hsv[:, :, 1] *= np.float32(p["saturation_factor"])
    if p["hue"]:
        hsv[:, :, 0] += np.float32(p["hue_delta"])
        ch = hsv[:, :, 0]
        ch[ch > 360.0] -= 360.0
        ch[ch < 0.0] += 360.0
    im = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    if not p["contrast_first"]:
        im = contrast(im)
    if p["lighting"]:
        im = im[:, :, [p["perm0"], p["perm1"], p["perm2"]]]
    return im


def geometry(img, boxes, p, mean):
    """Expand, crop, mirror on the image and the pixel boxes, as the reference does them."""
    h, w, _ = img.shape
    boxes = boxes.astype(np.float32).copy()
    if (p["canvas_w"], p["canvas_h"]) != (w, h):
        canvas = np.zeros((p["canvas_h"], p["canvas_w"], 3), dtype=img.dtype)
        canvas[:, :, :] = mean
        ox, oy = p["offset_x"], p["offset_y"]
        canvas[oy:oy + h, ox:ox + w] = img
        img = canvas
        boxes[:, :2] += (ox, oy)
        boxes[:, 2:] += (ox, oy)
    if p["crop"]:
        rect = np.array([p["crop_x0"], p["crop_y0"], p["crop_x1"], p["crop_y1"]])
        img = img[rect[1]:rect[3], rect[0]:rect[2], :]
        centers = (boxes[:, :2] + boxes[:, 2:]) / 2.0
        mask = ((rect[0] < centers[:, 0]) * (rect[1] < centers[:, 1]) *
                (rect[2] > centers[:, 0]) * (rect[3] > centers[:, 1]))
        boxes = boxes[mask, :].copy()
        boxes[:, :2] = np.maximum(boxes[:, :2], rect[:2])
        boxes[:, :2] -= rect[:2]
        boxes[:, 2:] = np.minimum(boxes[:, 2:], rect[2:])
        boxes[:, 2:] -= rect[:2]
    if p["mirror"]:
        width = img.shape[1]
        img = img[:, ::-1]
        boxes = boxes.copy()
        boxes[:, 0::2] = width - boxes[:, 2::-2]
    return np.ascontiguousarray(img), boxes


def percent(img, boxes):
    h, w, _ = img.shape
    boxes = boxes.copy()
    boxes[:, 0] /= w
    boxes[:, 2] /= w
    boxes[:, 1] /= h
    boxes[:, 3] /= h
    return boxes


def finish(img, size, mean, std):
    """Resize (cv2 INTER_LINEAR on whatever dtype it gets), SubtractMeans, / std, CHW."""
    img = cv2.resize(img, (size, size))
    img = img.astype(np.float32)
    img -= np.array(mean, dtype=np.float32)
    img = img / std
    return np.ascontiguousarray(img.transpose(2, 0, 1))


def train_chain(img_u8, boxes, p, size, mean, std):
    img = img_u8.astype(np.float32)
    if p["photometric"]:
        img = photometric(img, p)
    img, boxes = geometry(img, boxes, p, mean)
    boxes = percent(img, boxes)
    return finish(img, size, mean, std), boxes


def test_chain(img_u8, boxes, size, mean, std):
    boxes = percent(img_u8, boxes.astype(np.float32))
    return finish(img_u8, size, mean, std), boxes


# ---- inputs ------------------------------------------------------------------------------

def synth(rng, w, h, dark=False):
    """Smooth gradients plus noise, with a dark band so that brightness can go below zero."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        a, b, ph = rng.uniform(-1, 1, 3)
        img[:, :, c] = 128 + 100 * np.sin(a * x / 7 + b * y / 11 + ph * 3)
    img += rng.normal(0, 12, img.shape)
    if dark:
        img[: h // 3] *= 0.15
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def rand_boxes(rng, w, h, n):
    out = []
    for _ in range(n):
        bw, bh = rng.uniform(0.1, 0.7) * w, rng.uniform(0.1, 0.7) * h
        x1, y1 = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
        out.append([np.floor(x1), np.floor(y1), np.floor(x1 + bw), np.floor(y1 + bh)])
    return np.array(out, np.float32)


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.RandomState(1234)
    cases = {}
    n = 0

    def add(img, boxes, p, size, mean, std, expect, exp_boxes):
        nonlocal n
        key = "c%02d" % n
        n += 1
        cases[key + "/img"] = img.astype(np.float32)
        cases[key + "/boxes"] = boxes.astype(np.float32).reshape(-1, 4)
        cases[key + "/params"] = np.array([float(p[k]) for k in PARAM_NAMES], np.float64)
        cases[key + "/cfg"] = np.array([size, mean[0], mean[1], mean[2], std], np.float64)
        cases[key + "/out"] = expect.astype(np.float32)
        cases[key + "/out_boxes"] = exp_boxes.astype(np.float32).reshape(-1, 4)

    mb1 = ([127.0, 127.0, 127.0], 128.0)
    vgg = ([123.0, 117.0, 104.0], 1.0)
    plain = ([0.0, 0.0, 0.0], 1.0)

    # Resize to 300 from odd sizes, up and down, exact 2x, identity: the test transform (uint8
    # resize, as the reference resizes the decoded uint8 image) and the float32 resize of the
    # training path.
    for (w, h) in [(37, 53), (301, 299), (641, 479), (600, 600), (300, 300), (1, 7), (719, 1161)]:
        img = synth(rng, w, h)
        boxes = rand_boxes(rng, w, h, 2)
        for mean, std in (plain, mb1):
            e, eb = test_chain(img, boxes, 300, mean, std)
            p = default_params(w, h)
            p["u8_resize"] = 1
            add(img, boxes, p, 300, mean, std, e, eb)
        p = default_params(w, h)
        e, eb = train_chain(img, boxes, p, 300, *vgg)
        add(img, boxes, p, 300, vgg[0], vgg[1], e, eb)

    # Photometric steps alone and together, at S = image size so the resize is exact.
    S = 48
    img = synth(rng, S, S, dark=True)
    boxes = rand_boxes(rng, S, S, 1)
    one = [
        dict(),  # the HSV round trip alone
        dict(brightness=1, brightness_delta=f32(-31.5)),
        dict(brightness=1, brightness_delta=f32(27.25)),
        dict(contrast=1, contrast_first=1, contrast_alpha=f32(1.43)),
        dict(contrast=1, contrast_first=0, contrast_alpha=f32(0.61)),
        dict(saturation=1, saturation_factor=f32(1.37)),
        dict(saturation=1, saturation_factor=f32(0.52)),
        dict(hue=1, hue_delta=f32(17.5)),
        dict(hue=1, hue_delta=f32(-17.9)),
        dict(lighting=1, perm0=2, perm1=0, perm2=1),
        dict(lighting=1, perm0=1, perm1=0, perm2=2),
        dict(brightness=1, brightness_delta=f32(-30.0), contrast=1, contrast_first=1,
             contrast_alpha=f32(1.3), saturation=1, saturation_factor=f32(1.4), hue=1,
             hue_delta=f32(12.0), lighting=1, perm0=2, perm1=1, perm2=0),
        dict(brightness=1, brightness_delta=f32(-25.0), contrast=1, contrast_first=0,
             contrast_alpha=f32(1.45), saturation=1, saturation_factor=f32(0.6), hue=1,
             hue_delta=f32(-15.0), lighting=1, perm0=1, perm1=2, perm2=0),
    ]
    for extra in one:
        p = default_params(S, S)
        p["photometric"] = 1
        p.update(extra)
        for mean, std in (plain, mb1):
            e, eb = train_chain(img, boxes, p, S, mean, std)
            add(img, boxes, p, S, mean, std, e, eb)

    # Expand, crop, mirror with fixed parameters: first at S = crop size (exact copy), then
    # with photometric and a resize to 300.
    w, h = 61, 45
    img = synth(rng, w, h)
    boxes = rand_boxes(rng, w, h, 4)
    geo = [
        dict(canvas_w=150, canvas_h=110, offset_x=37, offset_y=20),
        dict(crop=1, crop_x0=5, crop_y0=3, crop_x1=45, crop_y1=43),
        dict(mirror=1),
        dict(canvas_w=150, canvas_h=110, offset_x=37, offset_y=20, crop=1, crop_x0=20,
             crop_y0=10, crop_x1=120, crop_y1=90, mirror=1),
        dict(canvas_w=200, canvas_h=150, offset_x=139, offset_y=105, crop=1, crop_x0=1,
             crop_y0=1, crop_x1=199, crop_y1=150),
    ]
    for g in geo:
        p = default_params(w, h)
        p.update(g)
        cw = p["crop_x1"] - p["crop_x0"] if p["crop"] else p["canvas_w"]
        ch = p["crop_y1"] - p["crop_y0"] if p["crop"] else p["canvas_h"]
        if cw == ch:
            e, eb = train_chain(img, boxes, p, cw, *mb1)
            add(img, boxes, p, cw, mb1[0], mb1[1], e, eb)
        p2 = dict(p)
        p2.update(one[11])
        p2["photometric"] = 1
        for mean, std in (mb1, vgg):
            e, eb = train_chain(img, boxes, p2, 300, mean, std)
            add(img, boxes, p2, 300, mean, std, e, eb)

    # HSV conversions on values in and out of 0..255 (brightness and contrast leave the range).
    vals = rng.uniform(-60, 320, (4000, 3)).astype(np.float32)
    vals[:200] = np.round(vals[:200] / 40) * 40  # ties between channels
    vals[200:260] = rng.uniform(0, 255, (60, 1)).astype(np.float32)  # grey
    hsv = cv2.cvtColor(vals.reshape(1, -1, 3), cv2.COLOR_RGB2HSV).reshape(-1, 3)
    cases["hsv/rgb"] = vals
    cases["hsv/hsv"] = hsv
    hsv_in = np.stack([rng.uniform(0, 360, 4000), rng.uniform(0, 1.6, 4000),
                       rng.uniform(-50, 300, 4000)], 1).astype(np.float32)
    cases["hsv/hsv_in"] = hsv_in
    cases["hsv/rgb_out"] = cv2.cvtColor(hsv_in.reshape(1, -1, 3),
                                        cv2.COLOR_HSV2RGB).reshape(-1, 3)
    cases["count"] = np.array([n], np.int64)
    save(os.path.join(out_dir, "augment.ssdt"), cases)


if __name__ == "__main__":
    main()
