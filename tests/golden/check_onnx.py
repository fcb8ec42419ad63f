"""onnx.checker (full check) and strict shape inference on an exported SSD
graph; the inferred output shapes and the metadata must be as written.
usage: check_onnx.py FILE BATCH(or 'batch') RESOLUTION PRIORS CLASSES [NET]
(NET: mb1-ssd unless given; its mean and std are the reference's config's:
vgg16-ssd's [123, 117, 104] and 1, every other net's 127 and 128)"""
import sys

import onnx

path, batch, res, priors, classes = sys.argv[1:6]
net = sys.argv[6] if len(sys.argv) > 6 else "mb1-ssd"
mean, std = ([123.0, 117.0, 104.0], 1.0) if net == "vgg16-ssd" else ([127.0] * 3, 128.0)
m = onnx.load(path)
onnx.checker.check_model(m, full_check=True)
inferred = onnx.shape_inference.infer_shapes(m, check_type=True, strict_mode=True)


def dims(vi):
    return [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]


def want(*rest):
    return [batch if batch == "batch" else int(batch)] + list(rest)


ins = {v.name: dims(v) for v in inferred.graph.input}
outs = {v.name: dims(v) for v in inferred.graph.output}
assert ins == {"input_0": want(3, int(res), int(res))}, ins
assert outs["scores"] == want(int(priors), int(classes)), outs
assert outs["boxes"] == want(int(priors), 4), outs
# every intermediate value got a type from shape inference
typed = {v.name for v in inferred.graph.value_info}
untyped = [o for n in inferred.graph.node for o in n.output if o not in typed and o not in outs]
assert not untyped, untyped[:5]
md = {p.key: p.value for p in m.metadata_props}
assert md["labels"].split("\n")[0] == "BACKGROUND" and len(md["labels"].split("\n")) == int(classes), md
assert md["net"] == net and md["resolution"] == res, md
assert [float(v) for v in md["mean"].split(",")] == mean and float(md["std"]) == std, md
assert [round(float(v), 6) for v in md["variances"].split(",")] == [0.1, 0.2], md
print("check_onnx: %s ok (opset %d, %d nodes)" % (path, m.opset_import[0].version, len(m.graph.node)))
