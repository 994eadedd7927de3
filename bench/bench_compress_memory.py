"""Compress studio: peak resident memory of one job, in a fresh worker-like process, per input.

Each case runs the studio's ``run`` (decode, colour and alpha, the search with an SSIM per step,
the kept-source check) on a synthetic input in a child process that imported only the studio;
the figure is the rise of its peak resident memory (VmHWM, reset to the current RSS just before
the job through ``/proc/self/clear_refs``) over its resident memory then, in MB and in bytes per
source pixel (frames x width x height). The inputs are photo-like (gradients, blurred texture at
several scales, shapes, sensor noise), made by :func:`photo`; nothing is read from disk.

Cases: a 12 MP phone JPEG at the defaults (JPEG, ``target_ssim`` 0.98), a 12 MP RGBA PNG at the
defaults (PNG palette search) and to JPEG at 0.98 (flattened), a 16 MP PNG to WebP at ``target_ssim`` 0.99, and an animated GIF of
250 frames x 200x200 converted to WebP (quality 90).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

Pixels = npt.NDArray[np.uint8]

#: The child: the worker's imports (the studio module) and its ``run`` with the job store replaced
#: by the file named on the command line; prints one JSON line.
_WORKER_JOB = """
import json, sys, time
from imagestudio.jobs.runner import JobContext
from imagestudio.studios import compress

def rss(field):
    return int(open('/proc/self/status').read().split(field + ':')[1].split()[0]) * 1024

class Context(JobContext):
    def read_input(self, name):
        return data
    def add_output(self, name, payload, **fields):
        self.outputs_written.append(name)
        self.out = (len(payload), fields["metadata"])
    def progress(self, fraction, message):
        pass

data = open(sys.argv[1], 'rb').read()
params = json.loads(sys.argv[2])
ctx = Context(job_id="job", tenant_id="t", studio="compress", params=params, inputs={"image": "x"}, attempt=1)
before = rss('VmRSS')
open('/proc/self/clear_refs', 'w').write('5')  # VmHWM back to the current RSS
started = time.perf_counter()
try:
    compress.run(ctx)
except Exception as exc:  # a target out of reach: the memory it took still counts
    print(json.dumps({"growth": rss('VmHWM') - before, "rss_before": before, "error": repr(exc)}))
    raise SystemExit(0)
size, meta = ctx.out
print(json.dumps({"growth": rss('VmHWM') - before, "rss_before": before, "bytes": size,
                  "seconds": round(time.perf_counter() - started, 1),
                  "ssim": meta["ssim"], "quality": meta["quality"], "encodes": meta["encodes"],
                  "frames": meta["frames"], "width": meta["width"], "height": meta["height"]}))
"""


def photo(width: int, height: int, *, seed: int = 7, alpha: bool = False) -> Pixels:
    """A photo-like image: a sky-to-ground gradient, blurred texture at three scales, a few
    shapes with soft edges, fine sensor noise; an alpha channel with a soft-edged hole if asked."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :, None]
    top = np.array([110, 160, 220], np.float32)
    bottom = np.array([90, 110, 60], np.float32)
    image = (top * (1 - y) + bottom * y + 30 * x).astype(np.float32)
    del x, y
    for scale, amplitude in ((64, 40.0), (12, 18.0), (3, 8.0)):
        small = rng.standard_normal((height // scale + 2, width // scale + 2, 3)).astype(np.float32)
        texture = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
        image += amplitude * texture
        del texture
    canvas = np.clip(image, 0, 255).astype(np.uint8)
    del image
    for _ in range(40):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            cv2.circle(canvas, centre, int(rng.integers(width // 60, width // 8)), colour, -1, cv2.LINE_AA)
        else:
            corner = (
                centre[0] + int(rng.integers(20, width // 5)),
                centre[1] + int(rng.integers(20, height // 5)),
            )
            cv2.rectangle(canvas, centre, corner, colour, -1, cv2.LINE_AA)
    canvas = cv2.GaussianBlur(canvas, (3, 3), 0.8)
    noise = rng.normal(0.0, 3.0, canvas.shape).astype(np.int16)
    canvas = np.clip(canvas.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    del noise
    if not alpha:
        return canvas
    mask = np.full((height, width), 255, np.uint8)
    cv2.ellipse(mask, (width // 2, height // 2), (width // 4, height // 4), 0, 0, 360, 0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 8)
    return np.dstack([canvas, mask])


def jpeg(pixels: Pixels, quality: int = 92) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=quality)
    return out.getvalue()


def png(pixels: Pixels) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG", compress_level=1)
    return out.getvalue()


def animated_gif(frames: int = 250, size: int = 200) -> bytes:
    """A looping animation: a photo-like scene panned a few pixels per frame, 256 colours."""
    scene = photo(size + frames * 2, size, seed=3)
    pictures = [Image.fromarray(scene[:, 2 * i : 2 * i + size]).quantize(256) for i in range(frames)]
    out = io.BytesIO()
    pictures[0].save(out, "GIF", save_all=True, append_images=pictures[1:], duration=40, loop=0)
    return out.getvalue()


def cases() -> dict[str, tuple[Callable[[], bytes], dict[str, Any]]]:
    """The inputs and the job params each runs with (as ``POST /compress`` or ``/convert`` store them)."""
    compress_jpeg = {"operation": "compress", "format": "jpeg", "mode": "target_ssim", "target_ssim": 0.98}
    compress_png = {"operation": "compress", "format": "png", "mode": "target_ssim", "target_ssim": 0.98}
    to_webp = {"operation": "compress", "format": "webp", "mode": "target_ssim", "target_ssim": 0.99}
    gif_to_webp = {
        "operation": "convert",
        "format": "webp",
        "mode": "quality",
        "quality": 90,
        "metadata": "keep",
        "colour_space": "srgb",
    }
    return {
        "jpeg_12mp_ssim_0.98": (lambda: jpeg(photo(4000, 3000)), compress_jpeg),
        "rgba_png_12mp_ssim_0.98": (lambda: png(photo(4000, 3000, seed=11, alpha=True)), compress_png),
        "rgba_png_12mp_to_jpeg_ssim_0.98": (
            lambda: png(photo(4000, 3000, seed=11, alpha=True)),
            compress_jpeg,
        ),
        "png_16mp_to_webp_ssim_0.99": (lambda: png(photo(4608, 3456, seed=5)), to_webp),
        "gif_250x200x200_to_webp": (animated_gif, gif_to_webp),
    }


def measure(data: bytes, params: dict[str, Any]) -> dict[str, Any]:
    """One job in a fresh child process: its peak RSS rise, output bytes, SSIM and encodes."""
    with tempfile.NamedTemporaryFile(suffix=".img", delete=False) as handle:
        handle.write(data)
    try:
        out = subprocess.run(
            [sys.executable, "-c", _WORKER_JOB, handle.name, json.dumps(params)],
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
    finally:
        Path(handle.name).unlink()
    figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    with Image.open(io.BytesIO(data)) as image:
        pixels = getattr(image, "n_frames", 1) * image.width * image.height
    figures["growth_mb"] = round(figures["growth"] / 2**20, 1)
    figures["bytes_per_pixel"] = round(figures["growth"] / pixels, 1)
    figures["input_bytes"] = len(data)
    return figures


def main(only: list[str] | None = None) -> dict[str, Any]:
    results = {}
    for label, (make, params) in cases().items():
        if only and label not in only:
            continue
        results[label] = measure(make(), params)
        print(label, json.dumps(results[label]), flush=True)
    return results


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:] or None), indent=2))
