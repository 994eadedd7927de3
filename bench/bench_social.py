"""Social-optimizer time per output, and its ratio to the seed's pure-Pillow approach, in one run.

Both render every platform format (smart crop for ours, centre crop + LANCZOS for the seed's
approach) from the same generated 12 MP JPEG, encoding JPEG q90. Each side runs ROUNDS times;
the median round is reported.
"""

from __future__ import annotations

import io
import json
import statistics
import sys
import time

from PIL import Image, ImageFilter

from imagestudio.imaging import SourceImage, render_format
from imagestudio.studios.social import PLATFORMS

ROUNDS = 3
FORMATS = [f for p in PLATFORMS.values() for f in p.formats]


def photo(width: int = 4000, height: int = 3000) -> bytes:
    """A photo-like test image: fractal texture, blurred, with a bright subject off-centre."""
    base = Image.effect_mandelbrot((width // 4, height // 4), (-2.2, -1.2, 1.0, 1.2), 200).convert("RGB")
    img = base.resize((width, height), Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(2))
    img.paste((230, 40, 60), (width // 8, height // 3, width // 8 + 500, height // 3 + 500))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def ours(data: bytes) -> float:
    started = time.perf_counter()
    source = SourceImage.load(data, max_pixels=50_000_000)
    for fmt in FORMATS:
        render_format(
            source, width=fmt.width, height=fmt.height, mode="smart", output_format="jpeg", quality=90
        )
    return time.perf_counter() - started


def seed_pillow(data: bytes) -> float:
    """What the seed did: decode with PIL, centre-crop to the aspect, LANCZOS resize, save."""
    started = time.perf_counter()
    img = Image.open(io.BytesIO(data)).convert("RGB")
    for fmt in FORMATS:
        target = fmt.width / fmt.height
        w, h = img.size
        if w / h > target:
            nw = int(h * target)
            box = ((w - nw) // 2, 0, (w - nw) // 2 + nw, h)
        else:
            nh = int(w / target)
            box = (0, (h - nh) // 2, w, (h - nh) // 2 + nh)
        out = img.crop(box).resize((fmt.width, fmt.height), Image.Resampling.LANCZOS)
        out.save(io.BytesIO(), "JPEG", quality=90)
    return time.perf_counter() - started


def main() -> dict[str, object]:
    data = photo()
    ours(data), seed_pillow(data)  # warm-up: imports, libvips threads, face cascade load
    ours_s = statistics.median(ours(data) for _ in range(ROUNDS))
    seed_s = statistics.median(seed_pillow(data) for _ in range(ROUNDS))
    n = len(FORMATS)
    return {
        "source": "4000x3000 JPEG",
        "outputs": n,
        "ours_ms_per_output": round(ours_s * 1000 / n, 1),
        "pillow_centre_crop_ms_per_output": round(seed_s * 1000 / n, 1),
        "ratio_ours_to_pillow": round(ours_s / seed_s, 3),
        "note": "ours includes smart crop (face detection + saliency) and sRGB/EXIF handling",
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
    sys.exit(0)
