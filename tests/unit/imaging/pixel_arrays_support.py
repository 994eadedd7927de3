"""Pixels to PNG and back, for the local studios' tests that judge outputs on their pixels."""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt
from PIL import Image

Array = npt.NDArray[np.uint8]


def encode_png(pixels: Array) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def decode_pixels(encoded: bytes) -> Array:
    """The decoded pixels, RGBA when the image has alpha, RGB otherwise."""
    with Image.open(io.BytesIO(encoded)) as image:
        return np.asarray(image.convert("RGBA" if "A" in image.getbands() else "RGB"))
