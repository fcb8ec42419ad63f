"""Our Python implementation of the evaluation that pytorch-ssd's eval_ssd.py
(MeanAPEvaluator, D23) and vision/utils/measurements.py perform, written from
the reference notes (shared/reference/PYTORCH-SSD.md section 6) and a reading
of those files, plus pycocotools' COCOeval algorithm for boxes. Used by the
golden tests as the oracle of src/eval/.

Images are dicts: {"id": str, "gt": [(box, label, difficult)], "det": [(box, label, score)]}
with boxes (x1, y1, x2, y2) in pixels; detections of an image in predictor order.
"""
import math

import numpy as np
import torch


def np_str32(v):
    """What the reference writes for one float32 value: str() of a numpy float32."""
    return str(np.float32(v))


def write_det_files(images, class_names):
    """The reference's result files: {class: text}; boxes + 1, tab-separated."""
    out = {}
    for c in range(1, len(class_names)):
        lines = []
        for im in images:
            for box, label, score in im["det"]:
                if label != c:
                    continue
                b = torch.tensor(box, dtype=torch.float32) + 1.0
                vals = [np_str32(score)] + [np_str32(v) for v in b.numpy()]
                lines.append(im["id"] + "\t" + "\t".join(vals) + "\n")
        out[class_names[c]] = "".join(lines)
    return out


def iou_of(boxes0, boxes1, eps=1e-5):
    """IoU in float32 torch arithmetic, no +1 pixel, eps in the denominator."""
    lt = torch.max(boxes0[..., :2], boxes1[..., :2])
    rb = torch.min(boxes0[..., 2:], boxes1[..., 2:])

    def area(a, b):
        wh = torch.clamp(b - a, min=0.0)
        return wh[..., 0] * wh[..., 1]

    ov = area(lt, rb)
    a0 = area(boxes0[..., :2], boxes0[..., 2:])
    a1 = area(boxes1[..., :2], boxes1[..., 2:])
    return ov / (a0 + a1 - ov + eps)


def group_gt(images):
    """Per class: number of non-difficult objects, {image_id: boxes (M,4)}, {image_id: [difficult]}."""
    count, boxes, diff = {}, {}, {}
    for im in images:
        for box, label, d in im["gt"]:
            if not d:
                count[label] = count.get(label, 0) + 1
            boxes.setdefault(label, {}).setdefault(im["id"], []).append(
                torch.tensor(box, dtype=torch.float32))
            diff.setdefault(label, {}).setdefault(im["id"], []).append(d)
    for label in boxes:
        for i in boxes[label]:
            boxes[label][i] = torch.stack(boxes[label][i])
    return count, boxes, diff


def voc07(precision, recall):
    ap = 0.
    for t in np.arange(0., 1.1, 0.1):
        sel = recall >= t
        p = 0 if np.sum(sel) == 0 else np.max(precision[sel])
        ap = ap + p / 11.
    return ap


def voc_area(precision, recall):
    prec = np.concatenate([[0.0], precision, [0.0]])
    for i in range(len(prec) - 1, 0, -1):
        prec[i - 1] = np.maximum(prec[i - 1], prec[i])
    rec = np.concatenate([[0.0], recall, [1.0]])
    ch = np.where(rec[1:] != rec[:-1])[0]
    return ((rec[ch + 1] - rec[ch]) * prec[ch + 1]).sum()


def match_file(text, gt_boxes, gt_diff, iou_threshold):
    """Reads a result file as the reference does and matches it: (scores sorted, flags)
    with flag 1 TP, 0 FP, -1 neither (best match difficult)."""
    ids, boxes, scores = [], [], []
    for line in text.splitlines():
        t = line.rstrip().split("\t")
        ids.append(t[0])
        scores.append(float(t[1]))
        b = torch.tensor([float(v) for v in t[2:]]).unsqueeze(0)
        b -= 1.0
        boxes.append(b)
    scores = np.array(scores)
    # The reference calls np.argsort(-scores) (quicksort); we pin ties to the file order.
    order = np.argsort(-scores, kind="stable")
    flags = np.zeros(len(order), dtype=np.int64)
    matched = set()
    for k, i in enumerate(order):
        if ids[i] not in gt_boxes:
            flags[k] = 0
            continue
        ious = iou_of(boxes[i], gt_boxes[ids[i]])
        best = torch.max(ious).item()
        arg = torch.argmax(ious).item()
        if best > iou_threshold:
            if gt_diff[ids[i]][arg] == 0:
                if (ids[i], arg) not in matched:
                    flags[k] = 1
                    matched.add((ids[i], arg))
                else:
                    flags[k] = 0
            else:
                flags[k] = -1
        else:
            flags[k] = 0
    return scores[order], flags


def voc_class(text, npos, gt_boxes, gt_diff, iou_threshold, drop_ignored):
    """(AP07, AP area) as the reference computes them; with drop_ignored the ignored
    detections are left out of the curve (our documented handling of the reference's 0/0)."""
    scores, flags = match_file(text, gt_boxes, gt_diff, iou_threshold)
    if drop_ignored:
        flags = flags[flags >= 0]
    tp = np.cumsum((flags == 1).astype(np.float64))
    fp = np.cumsum((flags == 0).astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = tp / (tp + fp)
    recall = tp / npos
    return voc07(precision, recall), voc_area(precision, recall)


def prf(text, npos, gt_boxes, gt_diff, iou_threshold, score_threshold):
    """tp, fp at score >= threshold; best F1 and its threshold (end of runs of equal scores)."""
    scores, flags = match_file(text, gt_boxes, gt_diff, iou_threshold)
    scores32 = scores.astype(np.float32)
    tp = fp = 0
    tp_t = fp_t = 0
    best, best_t = 0.0, float("nan")
    for i in range(len(flags)):
        tp += flags[i] == 1
        fp += flags[i] == 0
        if float(scores32[i]) >= score_threshold:
            tp_t, fp_t = tp, fp
        end = i + 1 == len(flags) or scores32[i + 1] != scores32[i]
        if end and npos and tp + fp:
            p, r = tp / (tp + fp), tp / npos
            f = 2 * p * r / (p + r) if p + r > 0 else 0.0
            if f > best:
                best, best_t = f, float(np_str32(scores32[i]))
    return int(tp_t), int(fp_t), best, best_t


# --- pycocotools' algorithm --------------------------------------------------------

IOU_THRS = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
REC_THRS = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)
AREAS = [[0 ** 2, 1e5 ** 2], [0 ** 2, 32 ** 2], [32 ** 2, 96 ** 2], [96 ** 2, 1e5 ** 2]]
MAX_DETS = 100


def ref_box(box):
    """The detection box after the reference's file round trip."""
    b = torch.tensor(box, dtype=torch.float32) + 1.0
    b = torch.tensor([float(np_str32(v)) for v in b.numpy()]) - 1.0
    return [float(v) for v in b]


def xywh(box):
    x1, y1, x2, y2 = [float(v) for v in box]
    return [x1, y1, x2 - x1, y2 - y1]


def bb_iou(d, g):
    w = min(d[2] + d[0], g[2] + g[0]) - max(d[0], g[0])
    if w <= 0:
        return 0.0
    h = min(d[3] + d[1], g[3] + g[1]) - max(d[1], g[1])
    if h <= 0:
        return 0.0
    i = w * h
    return i / (d[2] * d[3] + g[2] * g[3] - i)


def coco_class(images, c):
    """precision (A, T, R) of class c, -1 where the class has no counted objects."""
    T, R, A = len(IOU_THRS), len(REC_THRS), len(AREAS)
    prec = -np.ones((A, T, R))
    per_img = []
    for im in images:
        gts = [(xywh(b), bool(d)) for b, l, d in im["gt"] if l == c]
        dts = [(xywh(ref_box(b)), float(np.float32(s))) for b, l, s in im["det"] if l == c]
        order = np.argsort([-s for _, s in dts], kind="mergesort")
        dts = [dts[i] for i in order][:MAX_DETS]
        per_img.append((gts, dts))
    for a, (lo, hi) in enumerate(AREAS):
        evals = []
        for gts, dts in per_img:
            if not gts and not dts:
                continue
            g_ig = [1 if (d or g[2] * g[3] < lo or g[2] * g[3] > hi) else 0 for g, d in gts]
            gind = np.argsort(g_ig, kind="mergesort")
            gs = [gts[i][0] for i in gind]
            gig = [g_ig[i] for i in gind]
            ious = [[bb_iou(d, g) for g in gs] for d, _ in dts]
            dtm = np.zeros((T, len(dts)))
            dtig = np.zeros((T, len(dts)))
            for t, thr in enumerate(IOU_THRS):
                gtm = np.zeros(len(gs))
                for di in range(len(dts)):
                    iou = min([thr, 1 - 1e-10])
                    m = -1
                    for gi in range(len(gs)):
                        if gtm[gi] > 0:
                            continue
                        if m > -1 and gig[m] == 0 and gig[gi] == 1:
                            break
                        if ious[di][gi] < iou:
                            continue
                        iou = ious[di][gi]
                        m = gi
                    if m == -1:
                        continue
                    dtig[t, di] = gig[m]
                    dtm[t, di] = 1
                    gtm[m] = 1
            out = np.array([d[2] * d[3] < lo or d[2] * d[3] > hi for d, _ in dts]).reshape(1, -1)
            dtig = np.logical_or(dtig, np.logical_and(dtm == 0, np.repeat(out, T, 0)))
            evals.append(([s for _, s in dts], dtm, dtig, np.array(gig)))
        if not evals:
            continue
        scores = np.concatenate([e[0] for e in evals])
        inds = np.argsort(-scores, kind="mergesort")
        dtm = np.concatenate([e[1] for e in evals], axis=1)[:, inds]
        dtig = np.concatenate([e[2] for e in evals], axis=1)[:, inds]
        gig = np.concatenate([e[3] for e in evals])
        npig = np.count_nonzero(gig == 0)
        if npig == 0:
            continue
        tps = np.logical_and(dtm, np.logical_not(dtig))
        fps = np.logical_and(np.logical_not(dtm), np.logical_not(dtig))
        tp_sum = np.cumsum(tps, axis=1).astype(np.float64)
        fp_sum = np.cumsum(fps, axis=1).astype(np.float64)
        for t in range(T):
            tp, fp = tp_sum[t], fp_sum[t]
            nd = len(tp)
            rc = tp / npig
            pr = (tp / (fp + tp + np.spacing(1))).tolist()
            q = [0.0] * R
            for i in range(nd - 1, 0, -1):
                if pr[i] > pr[i - 1]:
                    pr[i - 1] = pr[i]
            idx = np.searchsorted(rc, REC_THRS, side="left")
            for ri, pi in enumerate(idx):
                if pi >= nd:
                    break
                q[ri] = pr[pi]
            prec[a, t] = q
    return prec


def coco_summary(precs):
    """[AP, AP50, AP75, small, medium, large] over a list of per-class (A, T, R) arrays."""
    s = np.stack(precs) if precs else -np.ones((1, 4, 10, 101))

    def mean(x):
        x = x[x > -1]
        return float(np.mean(x)) if x.size else -1.0

    return [mean(s[:, 0]), mean(s[:, 0, 0]), mean(s[:, 0, 5]), mean(s[:, 1]), mean(s[:, 2]),
            mean(s[:, 3])]


def evaluate(images, class_names, iou_threshold=0.5, score_threshold=0.5):
    """Everything our C code reports, per class: dict of lists."""
    count, boxes, diff = group_gt(images)
    files = write_det_files(images, class_names)
    res = {"ap07": [], "area": [], "ap07_raw": [], "coco": [], "tp": [], "fp": [], "npos": [],
           "best_f1": [], "best_t": []}
    precs = []
    for c in range(1, len(class_names)):
        npos = count.get(c, 0)
        text = files[class_names[c]]
        gb, gd = boxes.get(c, {}), diff.get(c, {})
        tp, fp, bf, bt = prf(text, npos, gb, gd, iou_threshold, score_threshold)
        if npos:
            a07, aa = voc_class(text, npos, gb, gd, iou_threshold, True)
            raw07, rawa = voc_class(text, npos, gb, gd, iou_threshold, False)
            assert math.isnan(raw07) or raw07 == a07, (raw07, a07)
            assert math.isnan(rawa) or abs(rawa - aa) < 1e-12, (rawa, aa)
        else:
            a07 = aa = raw07 = float("nan")
            bf = bt = float("nan")
        prec = coco_class(images, c)
        precs.append(prec)
        res["ap07"].append(a07)
        res["area"].append(aa)
        res["ap07_raw"].append(raw07)
        res["coco"].append(coco_summary([prec]))
        res["tp"].append(tp)
        res["fp"].append(fp)
        res["npos"].append(npos)
        res["best_f1"].append(bf)
        res["best_t"].append(bt)
    res["coco_all"] = coco_summary(precs)
    res["files"] = files
    return res
