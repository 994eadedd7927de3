"""Time per call of the gateway's upload check: the header read it does now against the full decode it did.

Two JPEGs: a ~23 KB 640x480 (the issue's social submission) and a 12 MP 4000x3000 photo. "header"
is ``inspect_image`` as the gateway calls it; "header + decode" adds ``verify_pixels``, the
streaming full decode the gateway used to run on every upload (and the worker now runs once,
before a provider call). The median of ROUNDS calls is reported, in one run.
"""

from __future__ import annotations

import io
import json
import sys

import numpy as np
from _timing import median_seconds
from PIL import Image

from imagestudio.imaging import inspect_image, verify_pixels

MAX_PIXELS = 50_000_000
MAX_BYTES = 25 * 1024 * 1024


def photo_jpeg(width: int, height: int, quality: int) -> bytes:
    """A photo-like JPEG: smooth gradients with a little grain (compresses like a real picture)."""
    rng = np.random.default_rng(0)
    xs = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    ys = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    base = np.dstack([200 * xs + 30 * ys, 120 + 80 * ys * xs, 180 - 100 * ys + 0 * xs])
    grain = rng.normal(0, 6, (height, width, 3)).astype(np.float32)
    pixels = np.clip(base + grain, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def main() -> dict[str, dict[str, object]]:
    cases = {
        "jpeg_640x480": (photo_jpeg(640, 480, quality=72), 200),
        "jpeg_12mp": (photo_jpeg(4000, 3000, quality=85), 10),
    }
    results: dict[str, dict[str, object]] = {}
    for name, (data, rounds) in cases.items():

        def header(data: bytes = data) -> object:
            return inspect_image(data, max_pixels=MAX_PIXELS, max_bytes=MAX_BYTES)

        def header_and_decode(data: bytes = data) -> object:
            header(data)
            verify_pixels(data, max_pixels=MAX_PIXELS)
            return None

        new = median_seconds(header, rounds)
        old = median_seconds(header_and_decode, rounds)
        results[name] = {
            "bytes": len(data),
            "header_ms": round(new * 1000, 3),
            "header_and_decode_ms": round(old * 1000, 3),
            "speedup": round(old / new, 1),
        }
    return results


if __name__ == "__main__":
    json.dump(main(), sys.stdout, indent=2)
    sys.stdout.write("\n")
