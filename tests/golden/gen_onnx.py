"""Fixtures for the ONNX runtime test: a checkpoint and model dir, real images
with PyTorch's is_test outputs, torch.onnx.export files of the same model
(opset 11 static batch, opset 13 dynamic batch), small graphs covering each
supported operator at opsets 11 and 13 with their expected outputs, and a
graph with unsupported operators."""
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "common"))
sys.path.insert(0, here)
import fixture  # noqa: E402
from onnx_fixture import IsTest, images, make_net, write_model_dir  # noqa: E402

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
torch.set_num_threads(2)

net = make_net(0)
write_model_dir(os.path.join(out, "model"), net)
wrapped = IsTest(net).eval()
# The reference backend is slow, so most checks use one image; the dynamic-batch
# files also run a batch of two.
x = torch.from_numpy(images(2))
with torch.no_grad():
    scores, boxes = wrapped(x[:1])
    s2, b2 = wrapped(x)
t = {"x": x[:1], "scores": scores, "boxes": boxes, "x2": x, "scores2": s2, "boxes2": b2}

kw = dict(input_names=["input_0"], output_names=["scores", "boxes"], do_constant_folding=True)
torch.onnx.export(wrapped, x[:1], os.path.join(out, "torch_op11.onnx"), opset_version=11, **kw)
torch.onnx.export(wrapped, x[:1], os.path.join(out, "torch_op13_dyn.onnx"), opset_version=13,
                  dynamic_axes={"input_0": {0: "batch"}, "scores": {0: "batch"},
                                "boxes": {0: "batch"}}, **kw)

# ---- small graphs, one output per operator case ---------------------------------------
rng = np.random.default_rng(0)
X = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
W = (rng.standard_normal((4, 3, 3, 3)) * 0.3).astype(np.float32)
B = rng.standard_normal(4).astype(np.float32)
bn = [rng.uniform(0.5, 1.5, 4), rng.uniform(-0.2, 0.2, 4), rng.uniform(-0.1, 0.1, 4),
      rng.uniform(0.5, 1.5, 4)]
bn = [a.astype(np.float32) for a in bn]
bn3 = [a[:3].copy() for a in bn]
C1 = rng.standard_normal((1, 3, 1, 1)).astype(np.float32)


def expected(opset):
    x = torch.from_numpy(X)
    e = {}
    if opset < 13:
        e["softmax"] = torch.softmax(x.reshape(2, -1), 1).reshape(x.shape)
    else:
        e["softmax"] = torch.softmax(x, 1)
    e["slice"] = torch.from_numpy(X[:, :, 3:0:-1, ::-2].copy())
    e["gather"] = x[:, [2, 0]]
    e["flatten"] = x.reshape(6, 20)
    e["clip"] = x.clamp(-0.5, 0.7)
    e["divsub"] = (x - torch.from_numpy(C1)) / 1.5
    e["maxpool"] = F.max_pool2d(x, 2, 2, ceil_mode=True)
    e["squeeze"] = x[:, 1:2].squeeze(1).unsqueeze(0)
    e["transpose"] = x.permute(3, 1, 0, 2)
    e["reshape"] = x.reshape(2, -1)
    e["exp"] = torch.exp(x * 0.5)
    e["relu_add"] = torch.relu(x + x)
    y = F.conv2d(x, torch.from_numpy(W), torch.from_numpy(B), padding=1)
    g, b, mu, var = [torch.from_numpy(a) for a in bn]
    y = (y - mu[None, :, None, None]) / torch.sqrt(var[None, :, None, None] + 1e-5) * \
        g[None, :, None, None] + b[None, :, None, None]
    e["conv_bn_relu"] = torch.relu(y)
    g, b, mu, var = [torch.from_numpy(a) for a in bn3]
    e["bn_relu6"] = ((x - mu[None, :, None, None]) / torch.sqrt(var[None, :, None, None] + 1e-5) *
                     g[None, :, None, None] + b[None, :, None, None]).clamp(0, 6)
    e["concat"] = torch.cat([x, torch.relu(x)], -1)
    # Cast: of the data float -> float; of a shape int64 -> float -> int64 into a Reshape;
    # of float indices to int64 (toward zero: 2.7 -> 2, -0.9 -> 0) into a Gather
    e["cast"] = x.clone()
    e["cast_reshape"] = x.reshape(2, 3, 20)
    e["cast_gather"] = x[:, [2, 0]]
    return e


def ops_graph(opset):
    nodes, inits = [], []

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def i64(name, vals):
        return const(name, np.array(vals, dtype=np.int64))

    nodes.append(helper.make_node("Softmax", ["X"], ["softmax"], axis=1))
    nodes.append(helper.make_node("Slice", ["X", i64("s_st", [3, -1]), i64("s_en", [0, -100]),
                                            i64("s_ax", [2, 3]), i64("s_sp", [-1, -2])],
                                  ["slice"]))
    nodes.append(helper.make_node("Gather", ["X", i64("g_ix", [2, 0])], ["gather"], axis=1))
    nodes.append(helper.make_node("Flatten", ["X"], ["flatten"], axis=2))
    nodes.append(helper.make_node("Clip", ["X", const("c_lo", np.float32(-0.5)),
                                           const("c_hi", np.float32(0.7))], ["clip"]))
    nodes.append(helper.make_node("Sub", ["X", const("C1", C1)], ["sub"]))
    if opset < 12:
        nodes.append(helper.make_node("Constant", [], ["k15"],
                                      value=helper.make_tensor("k", TensorProto.FLOAT, [], [1.5])))
    else:
        nodes.append(helper.make_node("Constant", [], ["k15"], value_float=1.5))
    nodes.append(helper.make_node("Div", ["sub", "k15"], ["divsub"]))
    nodes.append(helper.make_node("MaxPool", ["X"], ["maxpool"], kernel_shape=[2, 2],
                                  strides=[2, 2], ceil_mode=1))
    nodes.append(helper.make_node("Slice", ["X", i64("q_st", [1]), i64("q_en", [2]),
                                            i64("q_ax", [1])], ["x1"]))
    if opset < 13:
        nodes.append(helper.make_node("Squeeze", ["x1"], ["sq"], axes=[1]))
        nodes.append(helper.make_node("Unsqueeze", ["sq"], ["squeeze"], axes=[0]))
    else:
        nodes.append(helper.make_node("Squeeze", ["x1", i64("sq_ax", [1])], ["sq"]))
        nodes.append(helper.make_node("Unsqueeze", ["sq", i64("us_ax", [0])], ["squeeze"]))
    nodes.append(helper.make_node("Transpose", ["X"], ["transpose"], perm=[3, 1, 0, 2]))
    # PyTorch's view(x.size(0), -1): Shape -> Gather -> Unsqueeze -> Concat -> Reshape
    nodes.append(helper.make_node("Shape", ["X"], ["shp"]))
    nodes.append(helper.make_node("Gather", ["shp", const("zero", np.array(0, np.int64))],
                                  ["n0"], axis=0))
    if opset < 13:
        nodes.append(helper.make_node("Unsqueeze", ["n0"], ["n0u"], axes=[0]))
    else:
        nodes.append(helper.make_node("Unsqueeze", ["n0", i64("us0", [0])], ["n0u"]))
    nodes.append(helper.make_node("Concat", ["n0u", i64("m1", [-1])], ["tshape"], axis=0))
    nodes.append(helper.make_node("Reshape", ["X", "tshape"], ["reshape"]))
    nodes.append(helper.make_node("Mul", ["X", const("half", np.float32(0.5))], ["xh"]))
    nodes.append(helper.make_node("Exp", ["xh"], ["xe"]))
    nodes.append(helper.make_node("Identity", ["xe"], ["exp"]))
    nodes.append(helper.make_node("Add", ["X", "X"], ["xx"]))
    nodes.append(helper.make_node("Relu", ["xx"], ["relu_add"]))
    nodes.append(helper.make_node("Conv", ["X", const("W", W), const("B", B)], ["cv"],
                                  kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
    names = [const("bn_" + k, a) for k, a in zip("gbmv", bn)]
    nodes.append(helper.make_node("BatchNormalization", ["cv"] + names, ["cvbn"], epsilon=1e-5))
    nodes.append(helper.make_node("Relu", ["cvbn"], ["conv_bn_relu"]))
    names = [const("bn3_" + k, a) for k, a in zip("gbmv", bn3)]
    nodes.append(helper.make_node("BatchNormalization", ["X"] + names, ["xbn"], epsilon=1e-5))
    nodes.append(helper.make_node("Clip", ["xbn", const("z", np.float32(0)),
                                           const("six", np.float32(6))], ["bn_relu6"]))
    nodes.append(helper.make_node("Relu", ["X"], ["xr"]))
    nodes.append(helper.make_node("Concat", ["X", "xr"], ["concat"], axis=-1))
    F, I = TensorProto.FLOAT, TensorProto.INT64
    nodes.append(helper.make_node("Cast", ["X"], ["cast"], to=F))
    nodes.append(helper.make_node("Shape", ["X"], ["shp2"]))
    nodes.append(helper.make_node("Slice", ["shp2", i64("c_st", [0]), i64("c_en", [2]),
                                            i64("c_ax", [0])], ["nc"]))
    nodes.append(helper.make_node("Cast", ["nc"], ["ncf"], to=F))
    nodes.append(helper.make_node("Cast", ["ncf"], ["nci"], to=I))
    nodes.append(helper.make_node("Concat", ["nci", i64("m1b", [-1])], ["cshape"], axis=0))
    nodes.append(helper.make_node("Reshape", ["X", "cshape"], ["cast_reshape"]))
    nodes.append(helper.make_node("Cast", [const("fidx", np.array([2.7, -0.9], np.float32))],
                                  ["iidx"], to=I))
    nodes.append(helper.make_node("Gather", ["X", "iidx"], ["cast_gather"], axis=1))
    outs = list(expected(opset).keys())
    g = helper.make_graph(nodes, "ops", [helper.make_tensor_value_info("X", TensorProto.FLOAT,
                                                                       list(X.shape))],
                          [helper.make_tensor_value_info(o, TensorProto.FLOAT, list(expected(opset)[o].shape))
                           for o in outs],
                          inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 7
    onnx.checker.check_model(m)
    return m


for opset in (11, 13):
    onnx.save(ops_graph(opset), os.path.join(out, "ops%d.onnx" % opset))
    e = expected(opset)
    e["X"] = torch.from_numpy(X)
    fixture.save(os.path.join(out, "ops%d.ssdt" % opset), e)

# ---- opset 9: Slice, Clip and Unsqueeze take attributes; Softmax coerces to 2-D ------------
nodes = [helper.make_node("Slice", ["X"], ["slice"], starts=[1, -3], ends=[3, 100], axes=[1, 3]),
         helper.make_node("Clip", ["X"], ["clip"], min=-0.5, max=0.7),
         helper.make_node("Unsqueeze", ["X"], ["unsq"], axes=[0, 5]),
         helper.make_node("Softmax", ["X"], ["softmax"], axis=2),
         helper.make_node("Clip", ["X"], ["c6"], min=0.0, max=6.0),
         helper.make_node("Flatten", ["c6"], ["relu6"], axis=0)]
x9 = torch.from_numpy(X)
e9 = {"slice": x9[:, 1:3, :, 2:5], "clip": x9.clamp(-0.5, 0.7),
      "unsq": x9[None, ..., None], "softmax": torch.softmax(x9.reshape(6, 20), 1).reshape(X.shape),
      "relu6": x9.clamp(0, 6).reshape(1, -1)}
g = helper.make_graph(nodes, "ops9", [helper.make_tensor_value_info("X", TensorProto.FLOAT,
                                                                    list(X.shape))],
                      [helper.make_tensor_value_info(k, TensorProto.FLOAT, list(v.shape))
                       for k, v in e9.items()])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 9)])
m.ir_version = 4
onnx.checker.check_model(m)
onnx.save(m, os.path.join(out, "ops9.onnx"))
e9["X"] = x9
fixture.save(os.path.join(out, "ops9.ssdt"), e9)

# ---- unsupported operators: every one must be named in the error ---------------------------
nodes = [helper.make_node("Relu", ["X"], ["a"]),
         helper.make_node("LSTM", ["a", "a", "a"], ["b"]),
         helper.make_node("NonMaxSuppression", ["b", "b"], ["c"]),
         helper.make_node("LSTM", ["c", "c", "c"], ["d"]),
         helper.make_node("Frobnicate", ["d"], ["e"], domain="com.example")]
g = helper.make_graph(nodes, "bad", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1])],
                      [helper.make_tensor_value_info("e", TensorProto.FLOAT, [1])])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13),
                                        helper.make_opsetid("com.example", 1)])
onnx.save(m, os.path.join(out, "bad_ops.onnx"))

fixture.save(os.path.join(out, "data.ssdt"), t)
print("onnx fixtures in", out)
