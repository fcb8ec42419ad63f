"""Fixtures for tests/golden/test_box.c: priors, matching, encode/decode, NMS, the predictor's
post-processing and the multibox loss with its gradients.

This is our own Python/torch implementation of the semantics of pytorch-ssd's
vision/utils/box_utils.py, vision/ssd/predictor.py and vision/nn/multibox_loss.py (written from
the description in shared/reference/PYTORCH-SSD.md and a reading of those files). It keeps the
reference's float32 tensor operations where the C side must agree bit for bit (IoU, NMS, the
encoding), and checks that every random case is free of ties and near-threshold values, drawing
again when it is not, so that exact comparisons are meaningful.

Usage: gen_box.py OUTDIR  (writes OUTDIR/box.ssdt)
"""
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from fixture import save  # noqa: E402

torch.set_num_threads(1)
F32 = torch.float32

# ---------------------------------------------------------------- priors

# (feature map, shrinkage, min size, max size, aspect ratios)
MB1_300 = [(19, 16, 60, 105, [2, 3]), (10, 32, 105, 150, [2, 3]), (5, 64, 150, 195, [2, 3]),
           (3, 100, 195, 240, [2, 3]), (2, 150, 240, 285, [2, 3]), (1, 300, 285, 330, [2, 3])]
VGG_300 = [(38, 8, 30, 60, [2]), (19, 16, 60, 111, [2, 3]), (10, 32, 111, 162, [2, 3]),
           (5, 64, 162, 213, [2, 3]), (3, 100, 213, 264, [2]), (1, 300, 264, 315, [2])]
SQUEEZE_300 = [(17, 16, 60, 105, [2, 3])] + MB1_300[1:]
# mb1-ssd feature maps per input size (3x3 stride-2 pad-1 stages: s -> ceil(s/2)).
MB1_FEATURE_MAPS = {320: [20, 10, 5, 3, 2, 1], 512: [32, 16, 8, 4, 2, 1],
                    640: [40, 20, 10, 5, 3, 2]}


def mb1_feature_maps(size):
    """Every stride-2 stage (3x3, pad 1) maps s to ceil(s/2): four before the stride-16 source,
    one more for the stride-32 source, one per extra layer."""
    s, out = size, []
    for stage in range(9):
        s = (s + 1) // 2
        if stage >= 3:
            out.append(s)
    return out


def mb1_specs(size, fms):
    """set_image_size(size, 20, 90): the fixed table at 300, else derived from the maps."""
    if size == 300:
        return MB1_300
    lo_r, hi_r = 20, 90
    step = (hi_r - lo_r) // (len(fms) - 2)
    ratios = list(range(lo_r, hi_r + 1, step))
    mins = [size * (lo_r / 2) / 100.0] + [size * r / 100.0 for r in ratios]
    maxs = [size * lo_r / 100.0] + [size * (r + step) / 100.0 for r in ratios]
    return [(fm, math.ceil(size / fm), mins[i], maxs[i], [2, 3]) for i, fm in enumerate(fms)]


def make_priors(specs, size, clamp=True):
    """Python floats throughout, one conversion to float32, then clamp to [0, 1]."""
    rows = []
    for fm, shrink, lo, hi, ratios in specs:
        scale = size / shrink
        small = lo / size
        big = math.sqrt(hi * lo) / size
        for j in range(fm):
            for i in range(fm):
                cx, cy = (i + 0.5) / scale, (j + 0.5) / scale
                rows.append([cx, cy, small, small])
                rows.append([cx, cy, big, big])
                for r in ratios:
                    q = math.sqrt(r)
                    rows.append([cx, cy, small * q, small / q])
                    rows.append([cx, cy, small / q, small * q])
    t = torch.tensor(rows, dtype=F32)
    return t.clamp(0.0, 1.0) if clamp else t


# ---------------------------------------------------------------- box math (float32)

def to_corner(b):
    return torch.cat([b[..., :2] - b[..., 2:] / 2, b[..., :2] + b[..., 2:] / 2], -1)


def to_center(b):
    return torch.cat([(b[..., :2] + b[..., 2:]) / 2, b[..., 2:] - b[..., :2]], -1)


def box_area(b):
    wh = (b[..., 2:] - b[..., :2]).clamp(min=0.0)
    return wh[..., 0] * wh[..., 1]


def iou(a, b):
    lt = torch.max(a[..., :2], b[..., :2])
    rb = torch.min(a[..., 2:], b[..., 2:])
    wh = (rb - lt).clamp(min=0.0)
    inter = wh[..., 0] * wh[..., 1]
    return inter / (box_area(a) + box_area(b) - inter + 1e-5)


def encode(center_boxes, center_priors, cv=0.1, sv=0.2):
    return torch.cat([(center_boxes[..., :2] - center_priors[..., :2]) / center_priors[..., 2:] / cv,
                      torch.log(center_boxes[..., 2:] / center_priors[..., 2:]) / sv], -1)


def decode(loc, center_priors, cv=0.1, sv=0.2):
    return torch.cat([loc[..., :2] * cv * center_priors[..., 2:] + center_priors[..., :2],
                      torch.exp(loc[..., 2:] * sv) * center_priors[..., 2:]], -1)


class Tie(Exception):
    pass


def assign(gt, gt_labels, corner_priors, thr=0.5):
    ious = iou(gt.unsqueeze(0), corner_priors.unsqueeze(1))  # (K, G)
    best_t, best_t_idx = ious.max(1)
    best_p, best_p_idx = ious.max(0)
    # Equal IoUs are common (priors of equal area inside a large box; all-zero rows) and are
    # computed bit for bit alike on both sides; what matters is the rule that breaks them: the
    # first index, which torch's max documents and numpy's argmax shares.
    a = ious.numpy()
    assert np.array_equal(best_t_idx.numpy(), a.argmax(1))
    assert np.array_equal(best_p_idx.numpy(), a.argmax(0))
    if bool(((best_t - thr).abs() < 1e-6).any()):
        raise Tie("IoU at the threshold")
    for t, p in enumerate(best_p_idx.tolist()):
        best_t_idx[p] = t
    best_t[best_p_idx] = 2.0
    labels = gt_labels[best_t_idx].clone()
    labels[best_t < thr] = 0
    return gt[best_t_idx], labels, best_p_idx


def random_gt(rng, g, lo=0.05, hi=0.6):
    c = rng.uniform(0.0, 1.0, (g, 2))
    wh = rng.uniform(lo, hi, (g, 2))
    b = np.concatenate([c - wh / 2, c + wh / 2], 1).clip(0.0, 1.0)
    return torch.tensor(b, dtype=F32)


# ---------------------------------------------------------------- NMS

class Margins:
    """How close the NMS decisions came to flipping. Hard NMS uses only + - * / and compares,
    which the C side computes bit for bit alike, so only exact score ties (broken by the sort)
    matter there. Soft NMS rescales with exp, which may differ in the last bit: its argmax gaps
    and threshold distances must stay clear of that."""

    def __init__(self):
        self.tie = False
        self.soft = math.inf

    def hard_scores(self, s):
        u = s.sort().values
        self.tie |= bool((u[1:] == u[:-1]).any())

    def soft_argmax(self, s):
        if s.numel() > 1:
            top = s.topk(2).values
            self.soft = min(self.soft, float((top[0] - top[1]) / top[0]))

    def soft_threshold(self, s, thr):
        if s.numel():
            self.soft = min(self.soft, float(((s - thr).abs() / thr).min()))

    def ok(self):
        return not self.tie and self.soft > 1e-5


def hard_nms(boxes, scores, thr, top_k=-1, cand=200, mg=None):
    order = scores.sort(descending=True).indices[:cand]
    if mg:
        mg.hard_scores(scores)
    kept = []
    while order.numel() > 0:
        cur = int(order[0])
        kept.append(cur)
        if (top_k > 0 and len(kept) == top_k) or order.numel() == 1:
            break
        order = order[1:]
        v = iou(boxes[order], boxes[cur].unsqueeze(0))
        order = order[v <= thr]
    return kept


def soft_nms(boxes, scores, score_thr, sigma=0.5, top_k=-1, mg=None):
    """Follows the reference's data movement (last row into the picked row, order-preserving
    filter) and returns original indices with the scores they had when picked."""
    idx = torch.arange(boxes.shape[0])
    s = scores.clone()
    kept, kept_s = [], []
    while idx.numel() > 0:
        if mg:
            mg.soft_argmax(s)
        m = int(torch.argmax(s))
        kept.append(int(idx[m]))
        kept_s.append(float(s[m]))
        if (top_k > 0 and len(kept) == top_k) or idx.numel() == 1:
            break
        cur = boxes[idx[m]]
        idx[m] = idx[-1].clone()
        s[m] = s[-1].clone()
        idx, s = idx[:-1], s[:-1]
        v = iou(cur.unsqueeze(0), boxes[idx])
        s = s * torch.exp(-(v * v) / sigma)
        if mg:
            mg.soft_threshold(s, score_thr)
        keep = s > score_thr
        idx, s = idx[keep], s[keep]
    return kept, kept_s


def predict(scores, boxes, width, height, prob_thr, iou_thr=0.45, cand=200, top_k=-1,
            soft=False, sigma=0.5, mg=None):
    out_b, out_l, out_p = [], [], []
    for cls in range(1, scores.shape[1]):
        p = scores[:, cls]
        mask = p > prob_thr
        if not bool(mask.any()):
            continue
        sb, sp = boxes[mask], p[mask]
        if soft:
            k, ks = soft_nms(sb, sp, prob_thr, sigma, top_k, mg)
            ks = torch.tensor(ks, dtype=F32)
        else:
            k = hard_nms(sb, sp, iou_thr, top_k, cand, mg)
            ks = sp[k]
        out_b.append(sb[k])
        out_p.append(ks)
        out_l += [cls] * len(k)
    if not out_b:
        return torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64), torch.zeros(0)
    b = torch.cat(out_b)
    b[:, 0] *= width
    b[:, 1] *= height
    b[:, 2] *= width
    b[:, 3] *= height
    return b, torch.tensor(out_l, dtype=torch.int64), torch.cat(out_p)


# ---------------------------------------------------------------- multibox loss

def multibox_loss(conf, loc, labels, gt_loc, ratio=3):
    """Loss in float64 with autograd; mining ranks the float32 background loss as the reference
    does, and the chosen set must not depend on near-equal losses."""
    bg32 = -torch.log_softmax(conf.float(), 2)[:, :, 0]
    pos = labels > 0
    mask = pos.clone()
    for n in range(conf.shape[0]):
        npos = int(pos[n].sum())
        neg = (~pos[n]).nonzero().flatten()
        m = min(npos * ratio, neg.numel())
        if m == 0:
            continue
        v, order = bg32[n, neg].sort(descending=True)
        if m < neg.numel() and float(v[m - 1] - v[m]) < 1e-5 * float(v[m - 1].abs()):
            raise Tie("hard negative mining at a tie")
        mask[n, neg[order[:m]]] = True
    conf = conf.double().requires_grad_()
    loc = loc.double().requires_grad_()
    c = conf.shape[2]
    cls = torch.nn.functional.cross_entropy(conf[mask].reshape(-1, c), labels[mask],
                                            reduction="sum")
    reg = torch.nn.functional.smooth_l1_loss(loc[pos].reshape(-1, 4),
                                             gt_loc.double()[pos].reshape(-1, 4), reduction="sum")
    # Beyond the reference: no positives in the batch divides by 1 instead of 0.
    npos = max(int(pos.sum()), 1)
    reg, cls = reg / npos, cls / npos
    (reg + cls).backward()
    return reg.detach(), cls.detach(), conf.grad.float(), loc.grad.float(), mask


# ---------------------------------------------------------------- cases

def retry(fn, rng, what, tries=50):
    for t in range(tries):
        try:
            out = fn(rng)
            if t:
                print("gen_box: %s drawn again %d times" % (what, t))
            return out
        except Tie:
            continue
    raise SystemExit("gen_box: no tie-free %s in %d draws" % (what, tries))


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    rng = np.random.default_rng(20240611)
    torch.manual_seed(7)
    fx = {}

    # Priors: the fixed mb1 table, derived mb1 specs, vgg, squeezenet.
    priors = {}
    for size in (300, 320, 512, 640):
        fms = MB1_FEATURE_MAPS.get(size, [19, 10, 5, 3, 2, 1])
        assert size == 300 or mb1_feature_maps(size) == fms, (size, mb1_feature_maps(size))
        specs = mb1_specs(size, fms)
        p = make_priors(specs, size)
        priors[size] = p
        fx["priors_mb1_%d" % size] = p
        fx["fm_mb1_%d" % size] = np.array(fms, np.int64)
        fx["spec_mb1_%d" % size] = np.array([[s[1], s[2], s[3]] for s in specs], np.float64)
    assert priors[300].shape[0] == 3000 and priors[320].shape[0] == 3234
    assert priors[512].shape[0] == 8190 and priors[640].shape[0] == 12828
    fx["priors_vgg"] = make_priors(VGG_300, 300)
    fx["priors_squeezenet"] = make_priors(SQUEEZE_300, 300)
    assert fx["priors_vgg"].shape[0] == 8732 and fx["priors_squeezenet"].shape[0] == 2568
    fx["priors_mb1_300_noclamp"] = make_priors(MB1_300, 300, clamp=False)

    # Matching on random ground-truth sets.
    cases = [(300, 1, 0.05, 0.6), (300, 3, 0.05, 0.6), (300, 8, 0.05, 0.6),
             (300, 20, 0.02, 0.2), (300, "twins", 0, 0), (512, 5, 0.05, 0.6),
             (640, 12, 0.03, 0.5)]
    for ci, (size, g, lo, hi) in enumerate(cases):
        pc = priors[size]
        pk = to_corner(pc)

        def draw(r, g=g, lo=lo, hi=hi, pk=pk):
            if g == "twins":
                # Two near-identical boxes share their best prior: the later one takes it.
                a = random_gt(r, 1, 0.2, 0.4)
                gt = torch.cat([a, a + torch.tensor([0.004, 0.003, 0.004, 0.0031]),
                                random_gt(r, 2)]).clamp(0, 1)
            else:
                gt = random_gt(r, g, lo, hi)
            gl = torch.tensor(r.integers(1, 21, gt.shape[0]), dtype=torch.int64)
            boxes, labels, bp = assign(gt, gl, pk)
            if g == "twins" and int(bp[0]) != int(bp[1]):
                raise Tie("twins do not share a prior")
            return gt, gl, boxes, labels

        gt, gl, boxes, labels = retry(draw, rng, "matching")
        fx["match%d_size" % ci] = np.array([size], np.int64)
        fx["match%d_gt" % ci] = gt
        fx["match%d_gt_labels" % ci] = gl
        fx["match%d_boxes" % ci] = boxes
        fx["match%d_labels" % ci] = labels
        fx["match%d_loc" % ci] = encode(to_center(boxes), pc)
    fx["match_count"] = np.array([len(cases)], np.int64)

    # Encode / decode against the 300 priors.
    p300 = priors[300]
    loc = torch.tensor(rng.normal(0, 1.0, (3000, 4)), dtype=F32)
    fx["dec_loc"] = loc
    fx["dec_center"] = decode(loc, p300)
    fx["dec_corner"] = to_corner(decode(loc, p300))
    eb = random_gt(rng, 3000, 0.01, 0.9)
    fx["enc_boxes"] = eb
    fx["enc_loc"] = encode(to_center(eb), p300)

    # NMS on clustered boxes with distinct scores.
    def nms_case(r):
        centers = r.uniform(0.1, 0.9, (25, 2))
        n = 320
        c = centers[r.integers(0, 25, n)] + r.normal(0, 0.02, (n, 2))
        wh = r.uniform(0.05, 0.25, (n, 2))
        b = torch.tensor(np.concatenate([c - wh / 2, c + wh / 2], 1), dtype=F32)
        s = torch.tensor(r.permutation(n) / n * 0.98 + r.uniform(0, 1e-3, n) + 0.01, dtype=F32)
        mg = Margins()
        out = {
            "hard0": hard_nms(b, s, 0.45, -1, 200, mg),
            "hard1": hard_nms(b, s, 0.3, 7, 50, mg),
            "hard2": hard_nms(b, s, 0.6, -1, 1000, mg),
        }
        soft0 = soft_nms(b, s, 0.2, 0.5, -1, mg)
        soft1 = soft_nms(b, s, 0.05, 0.3, 6, mg)
        if not mg.ok():
            raise Tie("nms margins")
        return b, s, out, soft0, soft1

    b, s, hard, soft0, soft1 = retry(nms_case, rng, "nms")
    fx["nms_boxes"], fx["nms_scores"] = b, s
    for name, kept in hard.items():
        fx["nms_%s_keep" % name] = np.array(kept, np.int64)
    for name, (kept, ks) in (("soft0", soft0), ("soft1", soft1)):
        fx["nms_%s_keep" % name] = np.array(kept, np.int64)
        fx["nms_%s_scores" % name] = np.array(ks, np.float32)
    assert 1 < len(hard["hard0"]) < 200 and len(hard["hard1"]) == 7
    assert len(soft1[0]) == 6 and len(soft0[0]) > 10

    # Predictor post-processing: softmax scores and decoded corner boxes over the 300 priors.
    def pred_case(r):
        c = 4
        logits = torch.tensor(r.normal(0, 1.5, (3000, c)), dtype=F32)
        scores = torch.softmax(logits, 1)
        boxes = to_corner(decode(torch.tensor(r.normal(0, 0.7, (3000, 4)), dtype=F32), p300))
        mg = Margins()
        res = [
            predict(scores, boxes, 640, 480, 0.4, mg=mg),
            predict(scores, boxes, 640, 480, 0.01, top_k=10, mg=mg),
            predict(scores, boxes, 640, 480, 0.5, soft=True, sigma=0.5, mg=mg),
            predict(scores, boxes, 333, 517, 0.3, iou_thr=0.3, cand=50, top_k=5, mg=mg),
        ]
        if not mg.ok():
            raise Tie("predictor margins")
        return scores, boxes, res

    scores, boxes, res = retry(pred_case, rng, "predictor")
    fx["pred_scores"], fx["pred_boxes"] = scores, boxes
    for i, (pb, pl, pp) in enumerate(res):
        fx["pred%d_boxes" % i] = pb.reshape(-1, 4)
        fx["pred%d_labels" % i] = pl
        fx["pred%d_probs" % i] = pp
    assert all(r[0].shape[0] > 0 for r in res)

    # Multibox loss on matched targets; image 2 has no objects (background everywhere, and its
    # unused targets are -inf as encoding a zero box gives).
    def loss_case(r, n=4, c=6, ratio=3):
        labels = torch.zeros(n, 3000, dtype=torch.int64)
        gtl = torch.zeros(n, 3000, 4)
        pk = to_corner(p300)
        for i in range(n):
            if i == 2:
                gtl[i] = encode(to_center(torch.zeros(3000, 4)), p300)
                continue
            gt = random_gt(r, int(r.integers(1, 6)))
            gl = torch.tensor(r.integers(1, c, gt.shape[0]), dtype=torch.int64)
            bx, lb, _ = assign(gt, gl, pk)
            labels[i], gtl[i] = lb, encode(to_center(bx), p300)
        conf = torch.tensor(r.normal(0, 1.5, (n, 3000, c)), dtype=F32)
        loc = torch.tensor(r.normal(0, 1.0, (n, 3000, 4)), dtype=F32)
        loc[labels > 0] = gtl[labels > 0] + loc[labels > 0] * 1.3  # both smooth-L1 branches
        reg, cls, dconf, dloc, mask = multibox_loss(conf, loc, labels, gtl, ratio)
        return dict(conf=conf, loc=loc, labels=labels, gt_loc=gtl, reg=reg, cls=cls,
                    dconf=dconf, dloc=dloc, mask=mask.long(), ratio=np.array([ratio]))

    lc = retry(loss_case, rng, "loss")
    assert int((lc["labels"][2] > 0).sum()) == 0 and int((lc["labels"] > 0).sum()) > 10
    for kk, v in lc.items():
        fx["loss0_" + kk] = v if kk not in ("reg", "cls") else np.array([float(v)])

    # Small: more negatives wanted than exist (C = 2), ratio 2, and a batch with no positives.
    def small_case(r):
        labels = torch.tensor([[1, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0, 0],
                               [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]], dtype=torch.int64)
        conf = torch.tensor(r.normal(0, 2.0, (2, 12, 2)), dtype=F32)
        loc = torch.tensor(r.normal(0, 1.0, (2, 12, 4)), dtype=F32)
        gtl = torch.tensor(r.normal(0, 1.0, (2, 12, 4)), dtype=F32)
        reg, cls, dconf, dloc, mask = multibox_loss(conf, loc, labels, gtl, 2)
        return dict(conf=conf, loc=loc, labels=labels, gt_loc=gtl, reg=reg, cls=cls,
                    dconf=dconf, dloc=dloc, mask=mask.long(), ratio=np.array([2]))

    sc = retry(small_case, rng, "small loss")
    assert int(sc["mask"][0].sum()) == 12 and int(sc["mask"][1].sum()) == 3
    for kk, v in sc.items():
        fx["loss1_" + kk] = v if kk not in ("reg", "cls") else np.array([float(v)])

    def empty_case(r):
        labels = torch.zeros(2, 50, dtype=torch.int64)
        conf = torch.tensor(r.normal(0, 2.0, (2, 50, 3)), dtype=F32)
        loc = torch.tensor(r.normal(0, 1.0, (2, 50, 4)), dtype=F32)
        gtl = torch.tensor(r.normal(0, 1.0, (2, 50, 4)), dtype=F32)
        reg, cls, dconf, dloc, mask = multibox_loss(conf, loc, labels, gtl, 3)
        return dict(conf=conf, loc=loc, labels=labels, gt_loc=gtl, reg=reg, cls=cls,
                    dconf=dconf, dloc=dloc, mask=mask.long(), ratio=np.array([3]))

    ec = retry(empty_case, rng, "empty loss")
    assert float(ec["reg"]) == 0 and float(ec["cls"]) == 0
    for kk, v in ec.items():
        fx["loss2_" + kk] = v if kk not in ("reg", "cls") else np.array([float(v)])
    fx["loss_count"] = np.array([3], np.int64)

    clean = {}
    for kk, v in fx.items():
        if isinstance(v, np.ndarray) and v.dtype.kind == "i":
            v = v.astype(np.int64)
        elif isinstance(v, np.ndarray) and v.dtype == np.float64 and not kk.startswith(
                ("spec_", "loss")):
            v = v.astype(np.float32)
        clean[kk] = v
    save(os.path.join(outdir, "box.ssdt"), clean)


if __name__ == "__main__":
    main()
