"""A corpus of hostile and awkward image uploads, generated in memory (no binary fixtures).

Each builder returns the bytes a client might send; ``test_hostile_uploads.py`` states what the
system must answer for each one on every image-taking route.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable

import numpy as np
from PIL import Image

#: The upright test picture: four quadrants of distinct colours, so every EXIF orientation
#: (a mirror, a quarter turn or both) puts a different colour in the top-left corner.
QUADRANTS = {
    "top_left": (230, 30, 30),
    "top_right": (30, 200, 40),
    "bottom_left": (30, 40, 230),
    "bottom_right": (240, 240, 240),
}
UPRIGHT_SIZE = (96, 64)  # landscape: a quarter turn left unapplied shows up as portrait


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def upright() -> Image.Image:
    """The quadrant picture as a viewer should show it."""
    width, height = UPRIGHT_SIZE
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[: height // 2, : width // 2] = QUADRANTS["top_left"]
    pixels[: height // 2, width // 2 :] = QUADRANTS["top_right"]
    pixels[height // 2 :, : width // 2] = QUADRANTS["bottom_left"]
    pixels[height // 2 :, width // 2 :] = QUADRANTS["bottom_right"]
    return Image.fromarray(pixels)


#: For EXIF orientation n, the transform that turns the upright picture into the stored pixels
#: (the inverse of what a viewer applies; Pillow's ``exif_transpose`` table, inverted).
_STORED: dict[int, Callable[[Image.Image], Image.Image]] = {
    1: lambda im: im,
    2: lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    3: lambda im: im.transpose(Image.Transpose.ROTATE_180),
    4: lambda im: im.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
    5: lambda im: im.transpose(Image.Transpose.TRANSPOSE),
    6: lambda im: im.transpose(Image.Transpose.ROTATE_90),
    7: lambda im: im.transpose(Image.Transpose.TRANSVERSE),
    8: lambda im: im.transpose(Image.Transpose.ROTATE_270),
}


def exif_rotated_jpeg(orientation: int) -> bytes:
    """The quadrant picture stored sideways/mirrored with the EXIF orientation that undoes it."""
    stored = _STORED[orientation](upright())
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _save(stored, "JPEG", quality=95, exif=exif.tobytes())


def picture(width: int = 160, height: int = 120) -> Image.Image:
    """A small picture with structure (a gradient and a block), quick to make."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    pixels = np.stack([np.broadcast_to(x, (height, width)), np.broadcast_to(y, (height, width))], axis=2)
    pixels = np.concatenate([pixels, np.full((height, width, 1), 128, np.float32)], axis=2)
    pixels[height // 3 : height // 2, width // 4 : width // 2] = (250, 40, 40)
    return Image.fromarray(pixels.astype(np.uint8))


def jpeg(width: int = 160, height: int = 120) -> bytes:
    return _save(picture(width, height), "JPEG", quality=90)


def png(width: int = 160, height: int = 120) -> bytes:
    return _save(picture(width, height), "PNG")


def webp(width: int = 160, height: int = 120) -> bytes:
    return _save(picture(width, height), "WEBP", quality=80)


def gif(width: int = 160, height: int = 120) -> bytes:
    return _save(picture(width, height).convert("P"), "GIF")


# --- decompression bombs: huge declared dimensions, tiny files ---------------------------------


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_bomb(side: int = 100_000) -> bytes:
    """A PNG declaring side x side pixels whose one IDAT holds a few compressed zero rows."""
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)  # 8-bit RGB
    rows = zlib.compress(b"\x00" * (1 + 3 * side) * 4, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", rows)
        + _png_chunk(b"IEND", b"")
    )


def jpeg_bomb(width: int = 65_000, height: int = 65_000) -> bytes:
    """A small JPEG whose SOF0 header is rewritten to declare width x height."""
    data = bytearray(jpeg(16, 16))
    sof = data.find(b"\xff\xc0")
    assert sof > 0, "Pillow wrote no baseline SOF0"
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def webp_bomb(side: int = 16_383) -> bytes:
    """A lossy WebP whose VP8 frame header declares side x side (14 bits: the format's largest)."""
    data = bytearray(webp(16, 16))
    start = data.find(b"\x9d\x01\x2a")  # the VP8 key frame start code; dimensions follow
    assert start > 0, "Pillow wrote no simple lossy WebP"
    struct.pack_into("<HH", data, start + 3, side, side)
    return bytes(data)


def gif_bomb(side: int = 65_535) -> bytes:
    """A GIF whose logical screen and first image descriptor declare side x side."""
    data = bytearray(gif(16, 16))
    struct.pack_into("<HH", data, 6, side, side)  # logical screen descriptor
    at = 13 + (3 * 2 ** ((data[10] & 7) + 1) if data[10] & 0x80 else 0)  # past the global colour table
    while data[at] == 0x21:  # extension blocks: label, then sub-blocks up to a zero length
        at += 2
        while data[at]:
            at += data[at] + 1
        at += 1
    assert data[at] == 0x2C, "no image descriptor where one was expected"
    struct.pack_into("<HH", data, at + 5, side, side)  # image width, height
    return bytes(data)


def animated_gif_frame_bomb(frames: int = 60, side: int = 1_000) -> bytes:
    """Frames x side x side over the 50 MP limit, each frame small on its own (and tiny on disk)."""
    images = [Image.new("L", (side, side), 4 * i) for i in range(frames)]  # distinct: none is merged
    return _save(images[0], "GIF", save_all=True, append_images=images[1:], duration=40)


# --- damaged, disguised and unusual files ------------------------------------------------------


def noise_image(width: int, height: int) -> Image.Image:
    """Incompressible pixels, so the second half of an encoded file is pixel data, not padding."""
    return Image.fromarray(np.random.default_rng(11).integers(0, 256, (height, width, 3), dtype=np.uint8))


def truncated(fmt: str, *, keep: float = 0.5) -> bytes:
    """A file with a sound header whose data is cut short."""
    options: dict[str, object] = {"quality": 90} if fmt in {"JPEG", "WEBP"} else {}
    image = noise_image(200, 150)
    data = _save(image.convert("P") if fmt == "GIF" else image, fmt, **options)
    return data[: int(len(data) * keep)]


def jpeg_zip_polyglot() -> bytes:
    """A valid JPEG with a ZIP archive appended: JPEG readers stop at EOI, unzip reads from the end."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("payload.html", "<script>alert(1)</script>")
    return jpeg() + archive.getvalue()


def cmyk_jpeg() -> bytes:
    return _save(picture().convert("CMYK"), "JPEG", quality=90)


def png_16_bit() -> bytes:
    """A 16-bit greyscale gradient (Pillow's I;16)."""
    ramp = np.tile(np.linspace(0, 65535, 160, dtype=np.uint16), (120, 1))
    return _save(Image.fromarray(ramp), "PNG")


def png_16_bit_rgb() -> bytes:
    """A 16-bit-per-channel RGB PNG, written by hand (Pillow cannot save RGB48)."""
    width, height = 64, 48
    pixels = np.zeros((height, width, 3), dtype=">u2")
    pixels[..., 0] = np.linspace(0, 65535, width, dtype=np.uint16)[None, :]
    pixels[..., 1] = np.linspace(0, 65535, height, dtype=np.uint16)[:, None]
    pixels[..., 2] = 40000
    raw = b"".join(b"\x00" + row.tobytes() for row in pixels)
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(raw))
        + _png_chunk(b"IEND", b"")
    )


def animated(fmt: str, frames: int = 4) -> bytes:
    """A short animation, each frame a different solid colour."""
    colours = [(220, 30, 30), (30, 200, 40), (30, 40, 230), (240, 240, 240)]
    images = [Image.new("RGB", (120, 90), colours[i % len(colours)]) for i in range(frames)]
    if fmt == "GIF":
        images = [image.convert("P") for image in images]
    return _save(images[0], fmt, save_all=True, append_images=images[1:], duration=80, loop=0)


def multipage_tiff() -> bytes:
    pages = [picture(), picture(120, 160), picture(64, 64)]
    return _save(pages[0], "TIFF", save_all=True, append_images=pages[1:])


def bmp() -> bytes:
    return _save(picture(), "BMP")


def one_pixel_png() -> bytes:
    return _save(Image.new("RGB", (1, 1), (200, 10, 10)), "PNG")


SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
    b'<rect width="64" height="64" fill="red"/><script>alert(1)</script></svg>'
)
HTML = b"<!doctype html><html><body><img src=x onerror=alert(1)><h1>not an image</h1></body></html>"
