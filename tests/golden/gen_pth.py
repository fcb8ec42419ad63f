"""Fixtures for test_pth: checkpoints written by torch.save (zip and legacy
formats) plus hand-made variants (deflated, ZIP64 central directory, odd
archive name, old rebuild functions) and broken ones, with the expected
tensors in SSDT files (floats as f64, ints as i64, exact; '<key>#dtype' holds
the ssd_dtype code).

    python3 gen_pth.py OUTDIR
"""
import argparse
import collections
import io
import os
import pickle
import shutil
import struct
import sys
import zipfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "common"))
import fixture  # noqa: E402
import pth_check  # noqa: E402

SSD_DTYPE = {torch.float32: 0, torch.float64: 1, torch.float16: 2, torch.bfloat16: 3,
             torch.int64: 4, torch.int32: 5, torch.uint8: 6}


def expected(sd):
    out = collections.OrderedDict()
    for k, v in sd.items():
        v = v.detach()
        out[k] = v.double() if v.is_floating_point() else v.long()
        out[k + "#dtype"] = np.array([SSD_DTYPE[v.dtype]], dtype=np.int64)
        # fixture.save stores 0-d arrays as 1-d, so the true shape goes alongside
        out[k + "#shape"] = np.array(v.shape, dtype=np.int64)
    return out


def save_both(d, stem, obj):
    torch.save(obj, f"{d}/{stem}.zip.pth")
    torch.save(obj, f"{d}/{stem}.legacy.pth", _use_new_zipfile_serialization=False)


def golden_tensors():
    g = torch.Generator().manual_seed(0)
    sd = collections.OrderedDict()
    sd["conv.weight"] = torch.randn(3, 2, 3, 3, generator=g)
    sd["half"] = torch.randn(7, generator=g).half()
    sd["double"] = torch.randn(2, 5, generator=g).double()
    sd["scalar_i64"] = torch.tensor(-42)
    sd["big_i64"] = torch.tensor([2**40, -(2**33), 1])
    sd["bytes"] = torch.arange(0, 250, 7).to(torch.uint8)
    sd["bf16"] = torch.randn(4, generator=g).bfloat16()
    sd["i32"] = torch.tensor([[1, -2], [300000, 4]], dtype=torch.int32)
    sd["param"] = torch.nn.Parameter(torch.randn(3, generator=g))
    base2d = torch.randn(4, 3, generator=g)
    sd["transposed"] = base2d.t()  # non-contiguous view of base2d's storage
    base = torch.arange(12, dtype=torch.float32) * 1.5
    sd["slice_a"] = base[2:5]  # these three share one storage
    sd["slice_b"] = base[5:].view(7, 1)
    sd["every_other"] = base[::2]
    sd["empty"] = torch.zeros(0, 3)
    return sd


# ---- hand-made pickles -------------------------------------------------------------------------

class FakeStorage:
    def __init__(self, key, numel, typ=torch.FloatStorage):
        self.key, self.numel, self.typ = key, numel, typ


class FakeTensor:
    def __init__(self, st, off, size, stride, fn=torch._utils._rebuild_tensor_v2):
        self.args = (st, off, size, stride)
        self.fn = fn

    def __reduce__(self):
        if self.fn is torch._utils._rebuild_tensor:
            return (self.fn, self.args)
        return (self.fn, self.args + (False, collections.OrderedDict()))


class Py2OrderedDict:
    """Pickles as Python 2 did: OrderedDict([[k, v], ...])."""

    def __init__(self, items):
        self.items = items

    def __reduce__(self):
        return (collections.OrderedDict, ([[k, v] for k, v in self.items],))


def dump(obj, protocol=2, legacy=False):
    """Legacy storage ids carry a sixth field, the (pre-0.4) view metadata."""
    buf = io.BytesIO()
    p = pickle.Pickler(buf, protocol=protocol)
    tail = (None,) if legacy else ()
    p.persistent_id = lambda o: (("storage", o.typ, o.key, "cpu", o.numel) + tail
                                 if isinstance(o, FakeStorage) else None)
    p.dump(obj)
    return buf.getvalue()


def write_zip(path, prefix, pkl, storages, compress=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compress) as z:
        z.writestr(f"{prefix}/data.pkl", pkl)
        for k, v in storages.items():
            z.writestr(f"{prefix}/data/{k}", v)
        z.writestr(f"{prefix}/version", b"3\n")


def write_legacy(path, pkl, storages, sizes):
    with open(path, "wb") as f:
        f.write(pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2))
        f.write(pickle.dumps(1001, protocol=2))
        f.write(pickle.dumps({"protocol_version": 1001, "little_endian": True,
                              "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2))
        f.write(pkl)
        f.write(pickle.dumps(list(storages), protocol=2))
        for k, v in storages.items():
            f.write(struct.pack("<q", sizes[k]))
            f.write(v)


def recompress(src, dst, prefix):
    """The same archive, deflated, under another folder name."""
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zo:
        for info in zi.infolist():
            zo.writestr(prefix + "/" + info.filename.split("/", 1)[1], zi.read(info))


def to_zip64(src, dst):
    """Rewrites the central directory with every size/offset in ZIP64 extra fields."""
    data = open(src, "rb").read()
    with zipfile.ZipFile(src) as z:
        infos = z.infolist()
    cd_off = data.find(b"PK\x01\x02")
    out = bytearray(data[:cd_off])
    for i in infos:
        name = i.filename.encode()
        extra = struct.pack("<HHQQQ", 1, 24, i.file_size, i.compress_size, i.header_offset)
        out += struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 45, 45, 0x808, 0, 0, 0, i.CRC,
                           0xFFFFFFFF, 0xFFFFFFFF, len(name), len(extra), 0, 0, 0, 0, 0xFFFFFFFF)
        out += name + extra
    cd_size = len(out) - cd_off
    z64 = len(out)
    out += struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, len(infos), len(infos),
                       cd_size, cd_off)
    out += struct.pack("<4sIQI", b"PK\x06\x07", 0, z64, 1)
    out += struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF,
                       0xFFFFFFFF, 0)
    open(dst, "wb").write(bytes(out))


def floats(*v):
    return np.array(v, dtype="<f4").tobytes()


def crafted(d):
    """Hand-made checkpoints: two that must load, and broken ones (name -> pickle, storages)."""
    st = FakeStorage("0", 6)
    data = {"0": floats(0, 1, 2, 3, 4, 5)}
    # old-style rebuild, a Parameter, a Python 2 OrderedDict, in the legacy layout
    obj = Py2OrderedDict([
        ("old", FakeTensor(st, 1, (2, 2), (1, 2), torch._utils._rebuild_tensor)),
        ("v2", FakeTensor(st, 0, (3,), (2,))),
    ])
    write_legacy(f"{d}/crafted_ok_legacy.pth", dump(obj, legacy=True), data, {"0": 6})
    write_zip(f"{d}/crafted_ok_zip.pth", "x", dump(obj), data)
    want = collections.OrderedDict()
    want["old"] = torch.tensor([[1.0, 3.0], [2.0, 4.0]])
    want["v2"] = torch.tensor([0.0, 2.0, 4.0])
    fixture.save(f"{d}/crafted_ok.ssdt", expected(want))

    t = lambda off, size, stride, s=st: FakeTensor(s, off, size, stride)  # noqa: E731
    bad = {
        "offset": ({"w": t(3, (4,), (1,))}, ": w: offset/strides"),
        "stride": ({"ok": t(0, (1,), (1,)), "w2": t(0, (2, 2), (5, 1))}, ": w2: offset/strides"),
        "negstride": ({"w": t(5, (2,), (-1,))}, ": w: negative"),
        "hugestride": ({"w": t(0, (3,), (2**62,))}, ": w: strides too large"),
        "hugesize": ({"w": t(0, (2**40, 2**40), (0, 0))}, ": w: shape too large"),
        "broadcast": ({"w": t(0, (2**31, 2**20), (0, 0))}, ": w: tensor of"),
        "dims": ({"w": t(0, (1,) * 7, (1,) * 7)}, "dimensions"),
        "notensor": ({"w": t(0, (2,), (1,)), "epoch": 3}, ": epoch: value is a int"),
        "keytype": ({1: t(0, (2,), (1,))}, "not a str"),
        "nostorage": ({"w": t(0, (2,), (1,), FakeStorage("7", 2))}, "missing"),
        "short": ({"w": t(0, (2,), (1,), FakeStorage("0", 9))}, ": w: storage holds 6"),
        "global": ({"w": t(0, (2,), (1,)), "args": argparse.Namespace(lr=1)},
                   "argparse.Namespace"),
        "list": ([t(0, (2,), (1,))], "list"),
    }
    cases = []
    for name, (obj, msg) in bad.items():
        write_zip(f"{d}/bad_{name}.pth", "archive", dump(obj), data)
        cases.append((f"bad_{name}.pth", msg))
    # protocol 4 adds opcodes torch never writes: EMPTY_SET is one
    write_zip(f"{d}/bad_opcode.pth", "archive", dump({"w": {1, 2}}, protocol=4), data)
    cases.append(("bad_opcode.pth", "opcode"))
    # OrderedDict(pairs) called 10000 times on one 10000-pair list: 100 KB whose objects
    # (each call copies the list) would take 1.6 GB
    n = 10000
    bomb = (b"\x80\x02]q\x00(" + b"NN\x86" * n + b"eccollections\nOrderedDict\nq\x01"
            + b"h\x01h\x00\x85R0" * n + b"}.")
    write_zip(f"{d}/bad_bomb.pth", "archive", bomb, data)
    cases.append(("bad_bomb.pth", "implausibly large"))
    # a legacy file whose object pickle is protocol 0 text
    write_legacy(f"{d}/bad_legacy_text.pth", pickle.dumps({"a": 1}, protocol=0), data, {"0": 6})
    cases.append(("bad_legacy_text.pth", "unsupported pickle opcode"))
    write_legacy(f"{d}/bad_legacy_size.pth", dump({"w": t(0, (2,), (1,))}, legacy=True), data, {"0": 7})
    cases.append(("bad_legacy_size.pth", "truncated"))
    open(f"{d}/bad_text.pth", "w").write("hello, not a checkpoint\n")
    cases.append(("bad_text.pth", "not a PyTorch checkpoint"))
    open(f"{d}/bad_empty.pth", "w").close()
    cases.append(("bad_empty.pth", "empty"))
    with open(f"{d}/bad_cases.txt", "w") as f:
        for name, msg in cases:
            f.write(f"{name}\t{msg}\n")


def main(d):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    os.makedirs(d, exist_ok=True)
    shutil.copy(os.path.join(HERE, "pth_check.py"), d)

    sd = golden_tensors()
    save_both(d, "tensors", sd)
    recompress(f"{d}/tensors.zip.pth", f"{d}/tensors.deflate.pth", "some-folder")
    to_zip64(f"{d}/tensors.zip.pth", f"{d}/tensors.zip64.pth")
    fixture.save(f"{d}/tensors.ssdt", expected(sd))

    net = pth_check.make_net()
    msd = net.state_dict()
    assert hasattr(msd, "_metadata")
    save_both(d, "module", msd)
    save_both(d, "wrapped", {"state_dict": msd, "epoch": 3,
                             "optimizer": {"lr": 0.01, "momentum": [0.9, None, True],
                                           "buf": torch.ones(2)}})
    torch.save({"config": {"milestones": (1, 2), "name": "mb1"}, "model_state_dict": msd},
               f"{d}/wrapped2.zip.pth")
    fixture.save(f"{d}/module.ssdt", expected(msd))

    crafted(d)


if __name__ == "__main__":
    main(sys.argv[1])
