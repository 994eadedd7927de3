"""Time per operation of the edit and upscale studios' local paths (no provider), in one run.

Every operation runs on the same generated 1600x1200 photo-like PNG (a subject on a studio
backdrop, a 25 % mask for the area operations), ROUNDS times each; the median is reported with
the megapixels per second it reached. For scale, the fast 4x upscale is compared with plain
bicubic (OpenCV decode, resize, PNG encode) on the same input: the ratio says what the
back-projection's quality costs.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable

import cv2
import numpy as np
from _timing import median_seconds
from PIL import Image, ImageDraw, ImageFilter

from imagestudio.imaging import edit, upscale

ROUNDS = 3
WIDTH, HEIGHT = 1600, 1200
#: The upscalers' input: a quarter of each side, so fast 4x gives back 1600x1200.
SMALL = (WIDTH // 4, HEIGHT // 4)


def photo(width: int = WIDTH, height: int = HEIGHT) -> Image.Image:
    """A product shot: textured subject with a shadow on a soft gradient backdrop."""
    backdrop = np.linspace(225, 245, width, dtype=np.float32)[None, :].repeat(height, axis=0)
    image = Image.fromarray(np.dstack([backdrop, backdrop, backdrop - 8]).astype(np.uint8), "RGB")
    texture = Image.effect_mandelbrot((width // 2, height // 2), (-2.2, -1.2, 1.0, 1.2), 120).convert("RGB")
    texture = texture.resize((width // 2, height // 2)).filter(ImageFilter.GaussianBlur(1))
    subject = Image.new("L", (width // 2, height // 2), 0)
    ImageDraw.Draw(subject).ellipse((0, 0, width // 2 - 1, height // 2 - 1), fill=255)
    shadow = Image.new("L", image.size, 0)
    ImageDraw.Draw(shadow).ellipse(
        (width // 4 + 30, height // 4 + 40, 3 * width // 4 + 30, 3 * height // 4 + 40), fill=60
    )
    image.paste((150, 150, 150), (0, 0), shadow.filter(ImageFilter.GaussianBlur(20)))
    image.paste(texture, (width // 4, height // 4), subject)
    return image


def encoded(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def mask(width: int = WIDTH, height: int = HEIGHT) -> bytes:
    area = Image.new("L", (width, height), 0)
    ImageDraw.Draw(area).rectangle((width // 4, height // 4, 3 * width // 4, 3 * height // 4), fill=255)
    return encoded(area)


def main() -> dict[str, object]:
    source = photo()
    image, area = encoded(source), mask()
    small = encoded(source.resize(SMALL, Image.Resampling.BOX))
    operations: dict[str, tuple[Callable[[], object], float]] = {
        "remove_background": (lambda: edit.remove_background(image), WIDTH * HEIGHT),
        "inpaint": (lambda: edit.inpaint(image, area), WIDTH * HEIGHT),
        "erase": (lambda: edit.erase(image, area), WIDTH * HEIGHT),
        "outpaint (+200 px each side)": (
            lambda: edit.outpaint(image, left=200, right=200, up=200, down=200),
            (WIDTH + 400) * (HEIGHT + 400),
        ),
        "search_recolor (masked)": (lambda: edit.recolor(image, area, color="#1e90ff"), WIDTH * HEIGHT),
        "upscale fast 4x (400x300 -> 1600x1200)": (
            lambda: upscale.upscale_fast(small, scale=4),
            WIDTH * HEIGHT,
        ),
        "upscale conservative (400x300 -> 4 MP)": (
            lambda: upscale.upscale_to_pixels(small, target_pixels=4_194_304),
            4_194_304,
        ),
    }
    figures: dict[str, dict[str, float]] = {}
    for name, (call, out_pixels) in operations.items():
        seconds = median_seconds(call, ROUNDS)
        figures[name] = {
            "ms": round(seconds * 1000, 1),
            "output_mp_per_s": round(out_pixels / 1e6 / seconds, 2),
        }
    small_buffer = np.frombuffer(small, dtype=np.uint8)
    bicubic = median_seconds(
        lambda: cv2.imencode(
            ".png",
            cv2.resize(
                cv2.imdecode(small_buffer, cv2.IMREAD_COLOR), (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC
            ),
        ),
        ROUNDS,
    )
    fast_ms = figures["upscale fast 4x (400x300 -> 1600x1200)"]["ms"]
    return {
        "source": f"{WIDTH}x{HEIGHT} PNG, 25 % mask; upscalers from {SMALL[0]}x{SMALL[1]}",
        "rounds": ROUNDS,
        "operations": figures,
        "plain_bicubic_4x_ms": round(bicubic * 1000, 1),
        "ratio_fast_upscale_to_bicubic": round(fast_ms / (bicubic * 1000), 2),
        "note": "median of ROUNDS runs after one warm-up; every time includes decoding the PNG and encoding the output",
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
    sys.exit(0)
