"""repr() of many floats, as bit patterns, for test_pyfmt.c."""
import os
import random
import struct
import sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rnd = random.Random(0)
vals = [0.0, -0.0, 1.0, 5.0, 0.01, 0.001, 0.0005, 5e-4, 1e-5, 1e-4, 0.1, 0.2, 0.3, 100.0, 1e16,
        1.5e16, 123456789012345678.0, 9999999999999998.0, 5.672993580500285, 2.0 ** -1074,
        1.7976931348623157e308, 0.1 + 0.2, 1 / 3, 118.4, 57.6, 32.0, 337.92, float("inf"),
        float("-inf"), float("nan")]
vals += [rnd.uniform(0, 20) for _ in range(2000)]
vals += [rnd.uniform(-1, 1) * 10 ** rnd.randint(-30, 30) for _ in range(2000)]
vals += [struct.unpack("<f", struct.pack("<f", rnd.uniform(0, 10)))[0] for _ in range(500)]
with open(os.path.join(out, "repr.txt"), "w") as f:
    for v in vals:
        f.write("%016x %s\n" % (struct.unpack("<Q", struct.pack("<d", v))[0], repr(v)))
