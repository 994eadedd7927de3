"""Issue 11's submission benchmarks (placeholder while written)."""

from __future__ import annotations

import io

from PIL import Image


def photo() -> bytes:
    """A 640x480 JPEG of about 23 KB: the social submission's upload."""
    buf = io.BytesIO()
    Image.effect_mandelbrot((640, 480), (-2, -1.2, 1, 1.2), 100).convert("RGB").save(buf, "JPEG", quality=85)
    return buf.getvalue()
