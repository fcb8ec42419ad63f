"""Image fixtures for test_image.c: files in many colour types, written by
PIL / OpenCV / by hand, plus what PIL's convert('RGB') makes of each (the
reference tools decode with PIL), saved as refs.ssdt."""
import os
import struct
import sys
import zlib

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "common"))
import fixture  # noqa: E402

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(4)


def smooth(h, w, c):
    """A picture with edges and gradients, so JPEG has real work to do."""
    y, x = np.mgrid[0:h, 0:w]
    planes = [(x * (3 + k) + y * (5 - k) + 40 * k) % 256 for k in range(c)]
    img = np.stack(planes, -1).astype(np.float64)
    img += rng.normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


refs = {}


def ref(name, arr):
    refs[name] = np.ascontiguousarray(arr).astype(np.float32)


def pil_ref(name):
    ref(name, np.asarray(Image.open(os.path.join(out, name)).convert("RGB")))


H, W = 23, 37  # odd sizes exercise MCU padding and BMP row padding
rgb = smooth(H, W, 3)
Image.fromarray(rgb).save(os.path.join(out, "rgb.jpg"), quality=90)
Image.fromarray(rgb).save(os.path.join(out, "rgb420.jpg"), quality=75, subsampling=2)
Image.fromarray(rgb).save(os.path.join(out, "progressive.jpg"), quality=85, progressive=True)
Image.fromarray(smooth(H, W, 1)[:, :, 0]).save(os.path.join(out, "gray.jpg"), quality=90)
# PIL writes CMYK JPEGs inverted with an Adobe marker, as Photoshop does.
Image.fromarray(smooth(H, W, 4), "CMYK").save(os.path.join(out, "cmyk.jpg"), quality=90)
for n in ["rgb.jpg", "rgb420.jpg", "progressive.jpg", "gray.jpg", "cmyk.jpg"]:
    pil_ref(n)

Image.fromarray(rgb).save(os.path.join(out, "rgb.png"))
ref("rgb.png", rgb)
pal = Image.fromarray(rgb).quantize(16)
pal.save(os.path.join(out, "palette.png"))
pil_ref("palette.png")
pal.info["transparency"] = 3
pal.save(os.path.join(out, "palette_trns.png"), transparency=3)
pil_ref("palette_trns.png")
la = np.stack([smooth(H, W, 1)[:, :, 0], rng.integers(0, 256, (H, W), dtype=np.uint8)], -1)
Image.fromarray(la, "LA").save(os.path.join(out, "gray_alpha.png"))
pil_ref("gray_alpha.png")
rgba = smooth(H, W, 4)
Image.fromarray(rgba, "RGBA").save(os.path.join(out, "rgba.png"))
ref("rgba.png", rgba[:, :, :3])  # alpha dropped, not blended (PIL convert('RGB'))
Image.fromarray(smooth(H, W, 1)[:, :, 0] > 128).save(os.path.join(out, "bilevel.png"))
pil_ref("bilevel.png")
# 16-bit: the high byte is kept (PIL does that for RGB; for 16-bit gray PIL clips instead).
rgb16 = rng.integers(0, 65536, (H, W, 3), dtype=np.uint16)
cv2.imwrite(os.path.join(out, "rgb16.png"), rgb16[:, :, ::-1])
ref("rgb16.png", rgb16 >> 8)
g16 = rng.integers(0, 65536, (H, W), dtype=np.uint16)
cv2.imwrite(os.path.join(out, "gray16.png"), g16)
ref("gray16.png", np.repeat((g16 >> 8)[:, :, None], 3, -1))

Image.fromarray(rgb).save(os.path.join(out, "rgb24.bmp"))  # bottom-up, 24-bit
ref("rgb24.bmp", rgb)


def bmp(path, img, bpp, top_down, bitfields=False):
    h, w, _ = img.shape
    stride = (w * bpp + 31) // 32 * 4
    rows = []
    for y in range(h):
        r = img[y, :, ::-1]
        if bpp == 32:
            r = np.concatenate([r, np.full((w, 1), 255, np.uint8)], 1)
        b = r.tobytes()
        rows.append(b + b"\0" * (stride - len(b)))
    if not top_down:
        rows = rows[::-1]
    data = b"".join(rows)
    extra = struct.pack("<III", 0xFF0000, 0xFF00, 0xFF) if bitfields else b""
    off = 14 + 40 + len(extra)
    hdr = b"BM" + struct.pack("<IHHI", off + len(data), 0, 0, off)
    dib = struct.pack("<IiiHHIIiiII", 40, w, -h if top_down else h, 1, bpp,
                      3 if bitfields else 0, len(data), 2835, 2835, 0, 0)
    with open(path, "wb") as f:
        f.write(hdr + dib + extra + data)


bmp(os.path.join(out, "topdown24.bmp"), rgb, 24, True)
ref("topdown24.bmp", rgb)
bmp(os.path.join(out, "rgb32.bmp"), rgb, 32, False)
ref("rgb32.bmp", rgb)
bmp(os.path.join(out, "bitfields32.bmp"), rgb, 32, True, bitfields=True)
ref("bitfields32.bmp", rgb)
pal.save(os.path.join(out, "palette8.bmp"))  # 8-bit palette: refused
Image.fromarray(rgb).save(os.path.join(out, "rgb.tif"))  # TIFF: refused

# Headers that claim huge images (valid checksums, so only the size check stops them).
def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


with open(os.path.join(out, "huge.png"), "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 40000, 10, 8, 2, 0, 0, 0))
            + png_chunk(b"IDAT", zlib.compress(b"\0" * 100)) + png_chunk(b"IEND", b""))
j = bytearray(open(os.path.join(out, "rgb.jpg"), "rb").read())
sof = j.find(b"\xff\xc0")
j[sof + 5:sof + 9] = struct.pack(">HH", 60000, 60000)  # height, width: 3.6 GP
open(os.path.join(out, "huge.jpg"), "wb").write(bytes(j))
bmp(os.path.join(out, "huge.bmp"), rgb, 24, False)
b = bytearray(open(os.path.join(out, "huge.bmp"), "rb").read())
b[18:26] = struct.pack("<ii", 25000, 25000)  # 625 MP: over the pixel limit, under the side limit
open(os.path.join(out, "huge.bmp"), "wb").write(bytes(b))

fixture.save(os.path.join(out, "refs.ssdt"), refs)
