"""The Python side of the end-to-end eval test (test_eval.sh).

  eval_torch.py model OUT.pth
      A hand-made mb1-ssd checkpoint (2 classes) that finds blue licence plates: the
      first convolution computes "blueness" B - (R + G) / 2 into channel 0, every
      later block carries that channel (2x2 mean in stride-2 blocks, identity
      elsewhere), and the first header turns it into the plate probability of the
      60-pixel square anchor, whose box the regression flattens and moves towards
      the blue. Its scores depend on the image: on the sample's test split the
      VOC07 mAP is about 0.2 (about 90 detections), neither 0 nor 1.

  eval_torch.py eval VOC_ROOT MODEL.pth OUT_PREFIX     (writes OUT_PREFIX_{hard,soft}.json)
      Evaluates MODEL on the test split the way eval_ssd.py does: PIL RGB image,
      cv2.resize to 300, (x - 127) / 128, the network in PyTorch (tests/golden/mb1_torch.py),
      softmax, box decoding, per-class filtering at 0.01 and NMS (IoU 0.45, 200
      candidates; and soft-NMS with sigma 0.5), boxes scaled to the image; then
      ap_ref.py (the reference's AP and pycocotools' algorithm).
"""
import json
import math
import os
import sys
import xml.etree.ElementTree as ET

import cv2
import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ap_ref  # noqa: E402
import mb1_torch  # noqa: E402

torch.set_num_threads(2)


def make_model(path):
    net = mb1_torch.MB1SSD(2)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.fill_(1.0)
                m.bias.zero_()
                m.running_mean.zero_()
                m.running_var.fill_(1.0)
            elif isinstance(m, torch.nn.Conv2d):
                m.weight.zero_()
                if m.bias is not None:
                    m.bias.zero_()
        # Stride-2 layers average the 2x2 pixels 2i, 2i+1 (taps 1..2 of the 3x3 window with
        # padding 1), so that a cell's value is centred on its prior.
        first = net.base_net[0][0].weight
        for ch, v in ((0, -0.5), (1, -0.5), (2, 1.0)):
            first[0, ch, 1:, 1:] = v / 4
        net.base_net[0][1].bias[0] = -0.1
        for i in range(1, 14):
            dw, pw = net.base_net[i][0], net.base_net[i][3]
            if dw.stride[0] == 2:
                dw.weight[0, 0, 1:, 1:] = 1.0 / 4
            else:
                dw.weight[0, 0, 1, 1] = 1.0
            pw.weight[0, 0, 0, 0] = 1.0
        for h in net.classification_headers:
            h.bias[1::2] = -10.0
        cls0 = net.classification_headers[0]
        cls0.weight[1, 0, 1, 1] = 10.0
        cls0.bias[1] = -6.0
        # The box: 1.15 x 0.3 of the 60-pixel square, its centre moved towards the blue
        # (the difference of the neighbouring cells, in the variance-scaled units).
        reg0 = net.regression_headers[0]
        reg0.weight[0, 0, 1, 2], reg0.weight[0, 0, 1, 0] = 8.0, -8.0
        reg0.weight[1, 0, 2, 1], reg0.weight[1, 0, 0, 1] = 4.0, -4.0
        reg0.bias[2] = math.log(1.15) / 0.2
        reg0.bias[3] = math.log(0.3) / 0.2
    torch.save(net.state_dict(), path)


def read_voc(root):
    names = ["BACKGROUND"] + [l.strip() for l in open(os.path.join(root, "labels.txt")) if l.strip()]
    ids = [l.strip() for l in open(os.path.join(root, "ImageSets/Main/test.txt")) if l.strip()]
    images = []
    for i in ids:
        objs = ET.parse(os.path.join(root, "Annotations", i + ".xml")).findall("object")
        gt = []
        for o in objs:
            name = o.find("name").text.strip()
            if name not in names:
                continue
            bb = o.find("bndbox")
            box = [float(np.float32(float(bb.find(k).text) - 1))
                   for k in ("xmin", "ymin", "xmax", "ymax")]
            d = o.find("difficult")
            gt.append((box, names.index(name), int(d.text) if d is not None and d.text else 0))
        images.append({"id": i, "gt": gt, "path": os.path.join(root, "JPEGImages", i + ".jpg")})
    return images, names


def hard_nms(boxes, scores, iou_threshold=0.45, candidate_size=200):
    _, order = torch.sort(scores, descending=True, stable=True)
    order = order[:candidate_size]
    keep = []
    while len(order) > 0:
        cur = order[0]
        keep.append(int(cur))
        if len(order) == 1:
            break
        order = order[1:]
        iou = ap_ref.iou_of(boxes[order], boxes[cur].unsqueeze(0))
        order = order[iou <= iou_threshold]
    return keep


def soft_nms(boxes, scores, score_threshold=0.01, sigma=0.5):
    bs = torch.cat([boxes, scores.reshape(-1, 1)], dim=1).clone()
    picked = []
    while bs.size(0) > 0:
        i = int(torch.argmax(bs[:, 4]))
        cur = bs[i].clone()
        picked.append(cur)
        if bs.size(0) == 1:
            break
        bs[i] = bs[-1]
        bs = bs[:-1]
        iou = ap_ref.iou_of(cur[:4].unsqueeze(0), bs[:, :4])
        bs[:, 4] = bs[:, 4] * torch.exp(-(iou * iou) / sigma)
        bs = bs[bs[:, 4] > score_threshold]
    return picked


def predict(scores, boxes, w, h, method):
    dets = []
    for c in range(1, scores.size(1)):
        p = scores[:, c]
        mask = p > 0.01
        if not mask.any():
            continue
        sb, sp = boxes[mask], p[mask]
        if method == "soft":
            kept = [(r[:4], float(r[4])) for r in soft_nms(sb, sp)]
        else:
            kept = [(sb[k], float(sp[k])) for k in hard_nms(sb, sp)]
        for b, s in kept:
            b = b.clone()
            b[0] *= w
            b[1] *= h
            b[2] *= w
            b[3] *= h
            dets.append(([float(v) for v in b], c, s))
    return dets


def evaluate(root, model, out_prefix):
    images, names = read_voc(root)
    net = mb1_torch.MB1SSD(len(names))
    net.load_state_dict(torch.load(model))
    net.eval()
    priors = mb1_torch.priors_300()
    xs, sizes = [], []
    for im in images:
        img = np.array(Image.open(im["path"]).convert("RGB"))
        sizes.append((img.shape[1], img.shape[0]))
        x = cv2.resize(img, (300, 300)).astype(np.float32)
        x = (x - np.array([127, 127, 127], dtype=np.float32)) / 128.0
        xs.append(torch.from_numpy(x.transpose(2, 0, 1)))
    with torch.no_grad():
        conf, loc = net(torch.stack(xs))
    dets = []
    for j in range(len(images)):
        scores = torch.softmax(conf[j:j + 1], dim=2)[0]
        centers = torch.cat([loc[j, :, :2] * 0.1 * priors[:, 2:] + priors[:, :2],
                             torch.exp(loc[j, :, 2:] * 0.2) * priors[:, 2:]], dim=1)
        boxes = torch.cat([centers[:, :2] - centers[:, 2:] / 2,
                           centers[:, :2] + centers[:, 2:] / 2], dim=1)
        dets.append((scores, boxes))
    for method in ("hard", "soft"):
        for (scores, boxes), im, (w, h) in zip(dets, images, sizes):
            im["det"] = predict(scores, boxes, w, h, method)
        res = ap_ref.evaluate(images, names)
        present = [a for a, n in zip(res["ap07"], res["npos"]) if n > 0]
        area = [a for a, n in zip(res["area"], res["npos"]) if n > 0]
        summary = {
            "mAP_voc07": sum(present) / len(present),
            "mAP_voc_area": sum(area) / len(area),
            "coco": res["coco_all"],
            "detections": [sum(1 for im in images for d in im["det"] if d[1] == c)
                           for c in range(1, len(names))],
            "files": res["files"],
        }
        with open("%s_%s.json" % (out_prefix, method), "w") as f:
            json.dump(summary, f, indent=1)
        print("python, %s NMS: mAP %.6f (area %.6f), COCO AP %.6f AP50 %.6f, detections %s" % (
            method, summary["mAP_voc07"], summary["mAP_voc_area"], res["coco_all"][0],
            res["coco_all"][1], summary["detections"]))


if __name__ == "__main__":
    if sys.argv[1] == "model":
        make_model(sys.argv[2])
    else:
        evaluate(sys.argv[2], sys.argv[3], sys.argv[4])
