"""Social-optimizer time per output, and its ratio to the seed's pure-Pillow approach, in one run.

Both render every platform format (smart crop for ours, centre crop + LANCZOS for the seed's
approach) from the same generated 12 MP JPEG, encoding JPEG q90. Each side runs ROUNDS times;
the median round is reported.

The plan redraw (issue 29): the plan job's own work (``studios.social.run`` of a ``POST /social/plan``
for every catalogue format: the input's header check, decode, smart-crop analysis, the plan) for a
first plan of a photo with a face, and for the same image again with other formats and a focal
point, as the console redraws it (the worker keeps the analysis: ``studios.social.analyses``).
"""

from __future__ import annotations

import io
import json
import os
import statistics
import sys
import time
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageFilter
from skimage import data as skimage_data

from imagestudio.imaging import SourceImage, inspect_image, render_format
from imagestudio.jobs.runner import JobContext
from imagestudio.studios import social
from imagestudio.studios.social import PLATFORMS
from imagestudio.studios.social.analyses import forget_all

ROUNDS = 3
#: First plans of the redraw measure, each followed by its four redraws (40 redraws in all).
REDRAW_ROUNDS = 10
#: The plan job reads the studio's settings (its zoom bound); a bench key when none is set.
os.environ.setdefault("IMAGESTUDIO_SECRET_KEY", "bench-secret-key-0123456789abcdef0123")
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


def portrait_photo() -> bytes:
    """A 12 MP photo with the astronaut (a face) on a textured ground: the case a plan searches longest."""
    data = np.asarray(Image.open(io.BytesIO(photo())))
    person = cv2.resize(skimage_data.astronaut(), (1200, 1200), interpolation=cv2.INTER_CUBIC)
    data = data.copy()
    data[900:2100, 2400:3600] = person
    buffer = io.BytesIO()
    Image.fromarray(data).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


class PlanContext(JobContext):
    """A plan job's context without the database and storage: the input's bytes, the plan kept."""

    def __init__(self, data: bytes, params: dict[str, Any]) -> None:
        super().__init__("job_bench", "tenant_bench", "social", params, {"image": "bench"}, 1)
        self.data = data
        self.plan: dict[str, Any] | None = None

    def read_input(self, name: str) -> bytes:
        inspect_image(
            self.data, max_pixels=50_000_000, max_bytes=len(self.data), field=name
        )  # the header check
        return self.data

    def add_output(self, name: str, data: bytes, **kwargs: Any) -> str:
        self.plan = kwargs["metadata"]
        return name

    def progress(self, fraction: float, message: str) -> None:
        pass


def plan_ms(data: bytes, request: dict[str, Any]) -> tuple[float, float]:
    """One plan job's wall and CPU milliseconds (CPU: this process's, which the machine's load moves less)."""
    params = social.SocialPlanRequest.model_validate(request).to_params().model_dump(mode="json")
    started, cpu_started = time.perf_counter(), time.process_time()
    ctx = PlanContext(data, params)
    social.run(ctx)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    assert ctx.plan is not None and len(ctx.plan["formats"]) == len(params["formats"])
    return wall * 1000, cpu * 1000


def plan_redraw() -> dict[str, object]:
    """A first plan of every catalogue format, then redraws with other formats and focal points."""
    data = portrait_photo()
    every = [f.key for f in FORMATS]
    redraws = [
        {"formats": every[1:]},
        {"formats": every, "focal_x": 0.3, "focal_y": 0.4},
        {"formats": every[::2] + [{"name": "banner", "width": 1200, "height": 400}]},
        {"formats": every},
    ]
    firsts, repeats = [], []
    for _ in range(REDRAW_ROUNDS):
        forget_all()
        firsts.append(plan_ms(data, {"formats": every}))
        repeats.extend(plan_ms(data, request) for request in redraws)
    walls, cpus = [wall for wall, _ in repeats], [cpu for _, cpu in repeats]
    return {
        "plan_source": "4000x3000 JPEG with a face, all catalogue formats",
        "plan_first_ms": round(statistics.median(wall for wall, _ in firsts), 1),
        "plan_repeats": len(repeats),
        "plan_repeat_ms_median": round(statistics.median(walls), 1),
        "plan_repeat_ms_p90": round(statistics.quantiles(walls, n=10)[-1], 1),
        "plan_repeat_ms_max": round(max(walls), 1),
        "plan_repeat_cpu_ms_median": round(statistics.median(cpus), 2),
        "plan_repeat_cpu_ms_max": round(max(cpus), 2),
        "target_plan_repeat_ms": 50,
    }


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
        **plan_redraw(),
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
    sys.exit(0)
