#!/usr/bin/python3
"""Writes the tree oi_server.py serves for test_download.sh: a class list, the
three annotation files in the Open Images V4 layout and small JPEGs.

usage: oi_fixture.py DIR

Selected with --class-names "apple, ORANGE" (see test_download.sh for the
counts this gives):
  train       t01 Apple+Orange (Source holds a comma, so it is quoted),
              t02 an Apple group box covering a single Apple box, plus an Orange,
              t03 Orange, t04 Car only, t05 an Apple depiction,
              t06_missing (no image: 404), t07_trunc (a truncated JPEG),
              t08_slow, t09_drop, t10_flaky (see oi_server.py), t11 "Banana, ripe"
  validation  v01 Apple, v02 two Apples, v03 an Orange depiction
  test        s01 Orange, s02 Apple+Orange
"""
import io
import os
import sys

import numpy as np
from PIL import Image

out = sys.argv[1]
rng = np.random.default_rng(0)
HEADER = ("ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,"
          "IsOccluded,IsTruncated,IsGroupOf,IsDepiction,IsInside")
IDS = {"Apple": "/m/apple", "Orange": "/m/orange", "Banana, ripe": "/m/banana", "Car": "/m/car"}

# (image, class, xmin, xmax, ymin, ymax, group, depiction, source)
ROWS = {
    "train": [
        ("t01", "Apple", .1, .5, .1, .6, 0, 0, '"xclick, verified"'),
        ("t01", "Orange", .5, .9, .4, .9, 0, 0, "xclick"),
        ("t02", "Apple", 0., 1., 0., 1., 1, 0, "xclick"),
        ("t02", "Apple", .2, .4, .2, .4, 0, 0, "xclick"),
        ("t02", "Orange", .3, .5, .3, .5, 0, 0, "xclick"),
        ("t03", "Orange", .2, .8, .2, .8, 0, 0, "xclick"),
        ("t04", "Car", .1, .9, .1, .9, 0, 0, "xclick"),
        ("t05", "Apple", .1, .9, .1, .9, 0, 1, "xclick"),
        ("t06_missing", "Apple", .1, .9, .1, .9, 0, 0, "xclick"),
        ("t07_trunc", "Apple", .1, .9, .1, .9, 0, 0, "xclick"),
        ("t08_slow", "Orange", .1, .9, .1, .9, 0, 0, "xclick"),
        ("t09_drop", "Apple", .2, .8, .1, .9, 0, 0, "xclick"),
        ("t10_flaky", "Orange", .1, .6, .3, .9, 0, 0, "xclick"),
        ("t11", "Banana, ripe", .1, .9, .1, .9, 0, 0, "xclick"),
    ],
    "validation": [
        ("v01", "Apple", .1, .9, .1, .9, 0, 0, "xclick"),
        ("v02", "Apple", .1, .4, .1, .4, 0, 0, "xclick"),
        ("v02", "Apple", .5, .9, .5, .9, 0, 0, "xclick"),
        ("v03", "Orange", .1, .9, .1, .9, 0, 1, "xclick"),
    ],
    "test": [
        ("s01", "Orange", .1, .9, .2, .8, 0, 0, "xclick"),
        ("s02", "Apple", .2, .7, .2, .7, 0, 0, "xclick"),
        ("s02", "Orange", 0., .5, .5, 1., 0, 0, "xclick"),
    ],
}


def jpeg(w=64, h=48):
    px = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(px).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "class-descriptions-boxable.csv"), "w") as f:
    for name, mid in IDS.items():
        f.write(f'{mid},"{name}"\n' if "," in name else f"{mid},{name}\n")
for split, rows in ROWS.items():
    os.makedirs(os.path.join(out, split), exist_ok=True)
    os.makedirs(os.path.join(out, "img", split), exist_ok=True)
    with open(os.path.join(out, split, f"{split}-annotations-bbox.csv"), "w") as f:
        f.write(HEADER + "\r\n")  # the real files end lines with CRLF
        for img, cls, x0, x1, y0, y1, g, d, src in rows:
            f.write(f"{img},{src},{IDS[cls]},1,{x0},{x1},{y0},{y1},0,0,{g},{d},0\r\n")
    for img in sorted({r[0] for r in rows}):
        if "missing" in img:
            continue
        data = jpeg()
        if "trunc" in img:
            data = data[: len(data) * 6 // 10]
        with open(os.path.join(out, "img", split, img + ".jpg"), "wb") as f:
            f.write(data)
