"""Peak memory of one job per studio and operation, each measured in a child process of its own.

The child reads the input file, runs the studio's worker-side function once on a tiny image (the
process's one-time costs: imports, libvips and OpenCV pools, cascades), resets its high-water
mark (``/proc/self/clear_refs``), runs the job, and reports ``VmHWM`` minus the ``VmRSS`` it had
before: the memory the job itself grew the process by. Figures are per input pixel; the memory
model (:mod:`imagestudio.studios.memory`) holds the fitted bytes per pixel and fixed cost, and
the table in ``docs/capacity.md`` ("Memory per job") holds these measurements.

Run alone: ``.venv/bin/python bench/bench_memory.py [case ...]``. ``make bench`` runs every case
at 1, 12 MP and the case's pixel cap.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

MB = 1_000_000
#: Where the job's pixel work meets its input: 1 MP (the fixed cost shows), a 12 MP phone photo.
SIZES_MP = (1, 12)
#: Outpaint's margin on each side.
OUTPAINT_MARGIN = 64


@dataclass(frozen=True)
class Case:
    """One worker-side function: the memory model's row it measures and the largest input it takes."""

    row: str
    cap_pixels: int
    #: The input's encoding: a phone photo (JPEG) or a lossless file (PNG).
    fmt: str = "JPEG"
    #: Model pixels per input pixel (upscale fast's model counts output pixels: 16 per input pixel).
    model_pixels_per_input: float = 1.0
    #: Pixels added on each side (outpaint's margins: its model counts the output's pixels).
    pad: int = 0

    def model_pixels(self, width: int, height: int) -> int:
        """The pixels the case's model row counts for an input of ``width`` x ``height``."""
        return int((width + 2 * self.pad) * (height + 2 * self.pad) * self.model_pixels_per_input)


def _cap() -> int:
    from imagestudio.config import get_settings

    return get_settings().max_image_pixels


#: The cases, by name: the model row each measures and the pixel cap of its input (the provider
#: path is the same code for edit, upscale and control: their three rows are one figure).
CASES: dict[str, Case] = {
    "compress": Case("compress", cap_pixels=50_000_000),
    "convert": Case("convert", cap_pixels=50_000_000, fmt="PNG"),
    "social": Case("social", cap_pixels=50_000_000),
    "social.png": Case("social", cap_pixels=50_000_000, fmt="PNG"),
    "upscale.fast": Case("upscale.fast", cap_pixels=4_194_304, fmt="PNG", model_pixels_per_input=16),
    "upscale.conservative": Case("upscale.conservative", cap_pixels=4_194_303, fmt="PNG"),
    "edit.remove_background": Case("edit.remove_background", cap_pixels=16_777_216),
    "edit.inpaint": Case("edit.inpaint", cap_pixels=16_777_216),
    "edit.erase": Case("edit.erase", cap_pixels=16_777_216),
    "edit.outpaint": Case("edit.outpaint", cap_pixels=16_777_216, pad=OUTPAINT_MARGIN),
    "edit.search_recolor": Case("edit.search_recolor", cap_pixels=16_777_216),
    "control.map": Case("control.map", cap_pixels=16_777_216),
    "provider": Case("edit.provider", cap_pixels=50_000_000),
    "create": Case("create", cap_pixels=9_437_184),
}


def photo(width: int, height: int, fmt: str = "JPEG") -> bytes:
    """A photo-like image: smooth gradients, an object and sensor noise (what an encoder works at)."""
    rng = np.random.default_rng(7)
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    base = np.empty((height, width, 3), dtype=np.uint8)
    for channel, (a, b) in enumerate(((90, 120), (140, -60), (60, 150))):
        plane = a + b * x * y + 40 * np.sin(9 * x + 4 * channel) * np.cos(7 * y)
        plane += rng.normal(0, 6, size=(height, width)).astype(np.float32)
        base[:, :, channel] = np.clip(plane, 0, 255).astype(np.uint8)
        del plane
    image = Image.fromarray(base, "RGB")
    buffer = io.BytesIO()
    image.save(buffer, fmt, **({"quality": 90} if fmt == "JPEG" else {"compress_level": 1}))
    return buffer.getvalue()


def side(pixels: int) -> tuple[int, int]:
    """A 4:3 size of about ``pixels``."""
    width = int((pixels * 4 / 3) ** 0.5)
    return width, max(1, pixels // width)


# --- the child: one worker-side function per case ----------------------------------------------


class _Ctx:
    """What a studio's ``run`` uses of a JobContext: params, one input, progress and outputs kept in memory."""

    #: Social keeps what smart crop found per tenant (``studios.social.analyses``).
    tenant_id = "bench"

    def __init__(self, params: dict[str, Any], data: bytes) -> None:
        self.params, self._data, self.outputs = params, data, 0

    def read_input(self, name: str) -> bytes:
        return self._data

    def progress(self, fraction: float, message: str = "") -> None:
        pass

    def add_output(self, name: str, data: bytes, **_: Any) -> None:
        self.outputs += len(data)


def _mask(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[height // 3 : height // 2, width // 3 : width // 2] = 255
    buffer = io.BytesIO()
    Image.fromarray(mask, "L").save(buffer, "PNG")
    return buffer.getvalue()


def _job(name: str) -> Callable[[bytes], object]:
    """The worker-side function a case runs, given the input's bytes."""
    if name in ("compress", "convert"):
        from imagestudio.studios import compress

        params = (
            {"operation": "compress", "format": "jpeg", "mode": "target_ssim", "target_ssim": 0.98}
            if name == "compress"
            else {"operation": "convert", "format": "webp", "mode": "quality", "quality": 80}
        )
        return lambda data: compress.run(_Ctx(params, data))  # type: ignore[arg-type]
    if name.startswith("social"):
        from imagestudio.studios import social

        formats = ["instagram.feed_square", "instagram.story", "facebook.feed"]
        return lambda data: social.run(_Ctx({"formats": formats}, data))  # type: ignore[arg-type]
    if name.startswith("upscale."):
        from imagestudio.studios.upscale.modes import UpscaleParams
        from imagestudio.studios.upscale.run import _local

        mode = name.partition(".")[2]
        params = UpscaleParams.model_construct(mode=mode, output_format="png", quality=92)
        return lambda data: _local(params, {"image": data})
    if name.startswith("edit."):
        from imagestudio.studios.edit.paths import local_edit
        from imagestudio.studios.edit.request import EditParams

        operation = name.partition(".")[2]
        pad = OUTPAINT_MARGIN if operation == "outpaint" else 0
        margins = {"left": pad, "right": pad, "up": pad, "down": pad}
        params = EditParams.model_construct(
            operation=operation,
            output_format="png",
            grow_mask=None,
            color="#c04020",
            **margins,
        )
        return lambda data: local_edit(params, {"image": data, "mask": _mask(data)})
    if name == "control.map":
        from imagestudio.studios.control.run import control_map

        return lambda data: (control_map("sketch", data), control_map("structure", data))
    if name == "provider":
        from imagestudio.studios.common.produced import Produced, in_format
        from imagestudio.studios.common.serving import verify_inputs

        def provider_path(data: bytes) -> object:
            ready = verify_inputs({"image": data})["image"]  # what is sent
            with Image.open(io.BytesIO(ready)) as image:
                width, height = image.size
            answer = Produced(data=ready, content_type="image/png", width=width, height=height, route=None)  # type: ignore[arg-type]
            return in_format(answer, "webp")  # the answer, as big as the input, re-encoded

        return provider_path
    if name == "create":
        from imagestudio.providers.schemas import GeneratedImage
        from imagestudio.studios.create import CreateParams
        from imagestudio.studios.create.run import _finish

        def finish(data: bytes) -> object:
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
            params = CreateParams.model_construct(width=None, height=None, ratio=1.0, output_format="webp")
            generated = GeneratedImage(
                data=data, width=width, height=height, content_type="image/jpeg", provider="sim", model="sim"
            )
            return _finish(generated, params)

        return finish
    raise SystemExit(f"unknown case {name!r}")


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


def child(name: str, path: str) -> dict[str, int]:
    """Run case ``name`` on the file at ``path`` in this process; the bytes the job grew it by."""
    data = Path(path).read_bytes()
    job = _job(name)
    job(photo(96, 72, CASES[name].fmt))  # warm-up: the process's one-time costs are not the job's
    Path("/proc/self/clear_refs").write_text("5")  # the high-water mark starts again from here
    before = _status_kb("VmRSS") * 1024
    job(data)
    peak = _status_kb("VmHWM") * 1024
    return {"before_bytes": before, "peak_bytes": peak, "growth_bytes": peak - before}


# --- the parent ---------------------------------------------------------------------------------


def measure(name: str, pixels: int, *, timeout: float = 600) -> dict[str, Any]:
    """Run case ``name`` on a photo of about ``pixels`` in a child process; its growth in bytes."""
    case = CASES[name]
    width, height = side(pixels)
    with tempfile.NamedTemporaryFile(suffix="." + case.fmt.lower()) as file:
        file.write(photo(width, height, case.fmt))
        file.flush()
        done = subprocess.run(
            [sys.executable, __file__, "--child", name, file.name],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"{name} at {width}x{height} failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    model_pixels = case.model_pixels(width, height)
    return {
        "case": name,
        "row": case.row,
        "width": width,
        "height": height,
        "megapixels": round(width * height / 1e6, 2),
        "growth_mb": round(result["growth_bytes"] / MB, 1),
        "bytes_per_pixel": round(result["growth_bytes"] / model_pixels, 1),
        **result,
    }


def fit(points: list[dict[str, Any]]) -> dict[str, float]:
    """Bytes per model pixel and fixed bytes, a least-squares line through (pixels, growth)."""
    pixels = np.array([CASES[p["case"]].model_pixels(p["width"], p["height"]) for p in points])
    growth = np.array([p["growth_bytes"] for p in points], dtype=np.float64)
    if len(points) < 2:
        return {"bytes_per_pixel": float(growth[0] / pixels[0]), "fixed_mb": 0.0}
    slope, intercept = np.polyfit(pixels, growth, 1)
    return {"bytes_per_pixel": round(float(slope), 1), "fixed_mb": round(float(intercept) / MB, 1)}


def _available_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def main(names: list[str] | None = None) -> dict[str, Any]:
    """Every case at 1 MP, 12 MP and its cap: growth, bytes per pixel, the fitted line, the model's budget.

    A point whose growth, extrapolated from the last one measured, would take more than half the
    machine's available memory is skipped and said so (compress at 50 MP before issue 24: ~8 GB).
    """
    from imagestudio.studios.memory import MEMORY

    results: dict[str, Any] = {}
    for name in names or list(CASES):
        case = CASES[name]
        sizes = sorted({min(mp * 1_000_000, case.cap_pixels) for mp in SIZES_MP} | {case.cap_pixels})
        points: list[dict[str, Any]] = []
        skipped: list[dict[str, Any]] = []
        for pixels in sizes:
            if points:
                last = points[-1]
                expected = last["growth_bytes"] * pixels / (last["width"] * last["height"])
                if expected > _available_bytes() / 2:
                    skipped.append(
                        {"megapixels": round(pixels / 1e6, 1), "expected_mb": round(expected / MB)}
                    )
                    continue
            points.append(measure(name, pixels))
        for point in points:
            model_pixels = case.model_pixels(point["width"], point["height"])
            point["model_mb"] = round(MEMORY[case.row].bytes_for(model_pixels) / MB, 1)
        results[name] = {"points": points, "fit": fit(points), "skipped": skipped}
        summary = [(p["megapixels"], p["growth_mb"], p["model_mb"]) for p in points]
        sys.stderr.write(
            json.dumps({name: results[name]["fit"], "points": summary, "skipped": skipped}) + "\n"
        )
    return results


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        sys.stdout.write(json.dumps(child(sys.argv[2], sys.argv[3])) + "\n")
    else:
        sys.stdout.write(json.dumps(main(sys.argv[1:] or None), indent=2) + "\n")
