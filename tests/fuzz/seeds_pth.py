"""Writes the seed inputs of tests/fuzz/corpus_pth (kept small: a few hundred
bytes each). Run once by hand: python3 tests/fuzz/seeds_pth.py tests/fuzz/corpus_pth"""
import collections
import os
import sys
import zipfile

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden"))
import gen_pth  # noqa: E402


def main(d):
    os.makedirs(d, exist_ok=True)
    base = torch.arange(6, dtype=torch.float32)
    sd = collections.OrderedDict()
    sd["w"] = base.view(2, 3).t()
    sd["b"] = base[1:3]
    sd["n"] = torch.tensor(5)
    sd["h"] = torch.tensor([1.5], dtype=torch.float16)
    torch.save(sd, f"{d}/seed_zip.pth")
    torch.save({"state_dict": sd, "epoch": 3, "lr": 0.5}, f"{d}/seed_legacy_wrapped.pth",
               _use_new_zipfile_serialization=False)
    with zipfile.ZipFile(f"{d}/seed_zip.pth") as zi, \
            zipfile.ZipFile(f"{d}/seed_deflate.pth", "w", zipfile.ZIP_DEFLATED) as zo:
        for info in zi.infolist():
            zo.writestr(info.filename, zi.read(info))
    gen_pth.to_zip64(f"{d}/seed_zip.pth", f"{d}/seed_zip64.pth")
    st = gen_pth.FakeStorage("0", 6)
    obj = gen_pth.Py2OrderedDict([
        ("old", gen_pth.FakeTensor(st, 1, (2, 2), (1, 2), torch._utils._rebuild_tensor)),
        ("v2", gen_pth.FakeTensor(st, 0, (3,), (2,)))])
    gen_pth.write_legacy(f"{d}/seed_legacy_py2.pth", gen_pth.dump(obj, legacy=True),
                         {"0": gen_pth.floats(0, 1, 2, 3, 4, 5)}, {"0": 6})


if __name__ == "__main__":
    main(sys.argv[1])
