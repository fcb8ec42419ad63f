"""Helpers of test_nets_cli.sh.

  input OUT.f32 RES              a fixed random (1,3,RES,RES) input batch
  check NET CKPT ONNX RES IN.f32 ORT_PREFIX
      onnx.checker and strict shape inference on ONNX, its metadata naming NET;
      CKPT loads with strict=True into our PyTorch NET (tests/golden/nets_torch.py),
      whose softmax scores and decoded corner boxes on IN.f32 must equal ONNX
      Runtime's outputs of ONNX (ORT_PREFIX.scores.f32, ORT_PREFIX.boxes.f32)."""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden"))
torch.set_num_threads(2)


def main():
    if sys.argv[1] == "input":
        res = int(sys.argv[3])
        g = torch.Generator().manual_seed(7)
        torch.randn(1, 3, res, res, generator=g).numpy().tofile(sys.argv[2])
        return 0
    import onnx
    import nets_torch
    net_name, ckpt, model, res, inp, prefix = sys.argv[2:8]
    res = int(res)
    m = onnx.load(model)
    onnx.checker.check_model(m, full_check=True)
    onnx.shape_inference.infer_shapes(m, check_type=True, strict_mode=True)
    md = {p.key: p.value for p in m.metadata_props}
    if md.get("net") != net_name or md.get("resolution") != str(res):
        print("%s: metadata says net %s resolution %s" % (model, md.get("net"),
                                                          md.get("resolution")))
        return 1
    net = nets_torch.NETS[net_name](len(md["labels"].split("\n")))
    net.load_state_dict(torch.load(ckpt), strict=True)  # raises on any mismatch
    net.eval()
    x = torch.from_numpy(np.fromfile(inp, dtype=np.float32).reshape(1, 3, res, res))
    with torch.no_grad():
        conf, loc = net(x)
    priors = nets_torch.priors(net, res)
    scores = torch.softmax(conf, 2)
    c = torch.cat([loc[..., :2] * 0.1 * priors[:, 2:] + priors[:, :2],
                   torch.exp(loc[..., 2:] * 0.2) * priors[:, 2:]], -1)
    boxes = torch.cat([c[..., :2] - c[..., 2:] / 2, c[..., :2] + c[..., 2:] / 2], -1)
    ok = True
    for name, want in (("scores", scores), ("boxes", boxes)):
        got = np.fromfile("%s.%s.f32" % (prefix, name), dtype=np.float32)
        want = want.numpy().reshape(-1)
        if got.size != want.size:
            print("%s: ONNX Runtime gives %d %s values, PyTorch %d" % (model, got.size, name,
                                                                      want.size))
            ok = False
            continue
        err = np.abs(got - want).max()
        scale = np.abs(want).max()
        print("%s %s: ONNX Runtime vs PyTorch max error %.3g (scale %.3g)" % (net_name, name,
                                                                             err, scale))
        ok = ok and err <= 1e-4 * max(scale, 1.0)
    return 0 if ok else 1


sys.exit(main())
