"""Writer for the SSDT fixture container read by tests/common/fixture.c."""
import struct

import numpy as np

_DTYPES = {np.dtype(np.float32): 0, np.dtype(np.float64): 1, np.dtype(np.int64): 4}


def save(path, tensors):
    """tensors: dict name -> numpy array or torch tensor (f32, f64 or i64)."""
    with open(path, "wb") as f:
        f.write(b"SSDT0001")
        f.write(struct.pack("<I", len(tensors)))
        for name, a in tensors.items():
            if hasattr(a, "detach"):
                a = a.detach().cpu().numpy()
            a = np.ascontiguousarray(a)
            if a.dtype not in _DTYPES:
                a = a.astype(np.float32)
            nb = name.encode()
            f.write(struct.pack("<I", len(nb)))
            f.write(nb)
            f.write(struct.pack("<II", _DTYPES[a.dtype], a.ndim))
            f.write(struct.pack("<%dq" % a.ndim, *a.shape))
            f.write(a.astype(a.dtype.newbyteorder("<")).tobytes())
