"""What one job holds in a worker's memory, by studio and operation; the budgets that follow from it.

One table (:data:`MEMORY`): each row is a worker-side function's peak growth per job as a fixed
cost plus bytes per pixel, measured by ``bench/bench_memory.py`` in a child process of its own
(``docs/capacity.md``, "Memory per job"). What a pixel counts is the row's: input pixels × frames
for the decoders, output pixels for upscale's fast 4x.

From ``IMAGESTUDIO_WORKER_MEMORY_BYTES`` (a worker process's memory, the pod's limit) follow:

- a worker's threads: as many jobs at the largest input its studio takes (the row's own cap or
  ``MAX_IMAGE_PIXELS``) as fit beside the idle process, at most ``WORKER_THREADS``, at least one;
- the memory one job may hold: what is left beside the idle process, over those threads;
- each row's pixel budget: the pixels whose job fits that memory. The gateway refuses, from the
  header alone, an image over it (413 ``image-over-memory-budget``), before anything is stored.

``deploy/k8s/base/workers/*.yaml`` are derived from the same figures (``tests/unit/deploy``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from imagestudio.config import Settings
from imagestudio.errors import OverMemoryBudget
from imagestudio.imaging import ImageInfo
from imagestudio.studios.common.limits import ImageLimits
from imagestudio.studios.common.request import StudioRequest
from imagestudio.studios.compress import COMPRESS_BYTES_PER_PIXEL, COMPRESS_FIXED_BYTES, CompressRequest
from imagestudio.studios.compress.convert import ConvertRequest
from imagestudio.studios.control.operations import OPERATIONS as CONTROL_OPERATIONS
from imagestudio.studios.control.operations import ControlRequest
from imagestudio.studios.create.request import CreateRequest
from imagestudio.studios.edit.operations import OPERATIONS as EDIT_OPERATIONS
from imagestudio.studios.edit.request import EditRequest
from imagestudio.studios.social import SocialOptimizeRequest
from imagestudio.studios.upscale.modes import CONSERVATIVE_PIXELS, FAST_SCALE, UpscaleRequest
from imagestudio.studios.upscale.modes import MODES as UPSCALE_MODES

MB = 1_000_000


def _local_pixels(limits: ImageLimits | None) -> int:
    assert limits is not None, "a local path has its limits"
    return limits.max_pixels


#: The local edit paths' input limit (also what control's maps are sized for).
LOCAL_EDIT_PIXELS = _local_pixels(
    EDIT_OPERATIONS["inpaint"].local.limits if EDIT_OPERATIONS["inpaint"].local else None
)
#: The local fast upscale's input limit.
LOCAL_FAST_MAX_PIXELS = _local_pixels(UPSCALE_MODES["fast"].local_limits)

#: An idle worker process after its first job (imports, libvips and OpenCV pools, cascades):
#: the largest ``before_bytes`` bench_memory.py saw (210 MB), plus room for a worker's broker and
#: database connections and telemetry.
WORKER_BASELINE_BYTES = 300 * MB


@dataclass(frozen=True, kw_only=True)
class JobMemory:
    """One row: a job's peak growth of its worker, ``fixed_bytes + bytes_per_pixel × pixels``."""

    #: The worker (queue) that runs it.
    worker: str
    bytes_per_pixel: float
    fixed_bytes: int
    #: The largest input the row's path takes in pixels it counts (None: ``MAX_IMAGE_PIXELS``).
    max_pixels: int | None = None

    def bytes_for(self, pixels: int) -> int:
        return int(self.fixed_bytes + self.bytes_per_pixel * pixels)


def _local(worker: str, bytes_per_pixel: float, *, fixed_mb: int = 20) -> JobMemory:
    """A local edit or control path: its working copy capped at ``LOCAL_EDIT_PIXELS``."""
    return JobMemory(
        worker=worker,
        bytes_per_pixel=bytes_per_pixel,
        fixed_bytes=fixed_mb * MB,
        max_pixels=LOCAL_EDIT_PIXELS,
    )


#: Peak growth per job, measured by bench/bench_memory.py on 2026-12-07 (docs/capacity.md,
#: "Memory per job"): each row's line lies on or above every point measured (1 MP to its cap).
MEMORY: dict[str, JobMemory] = {
    # The compress studio's own figures (SSIM scored in bands, one copy of the source; the code
    # before held 140-200 B/px: a 12 MP photo at target_ssim 0.98 grew its worker ~1.6 GB).
    "compress": JobMemory(
        worker="compress", bytes_per_pixel=COMPRESS_BYTES_PER_PIXEL, fixed_bytes=COMPRESS_FIXED_BYTES
    ),
    "convert": JobMemory(
        worker="compress", bytes_per_pixel=COMPRESS_BYTES_PER_PIXEL, fixed_bytes=COMPRESS_FIXED_BYTES
    ),
    # Decoded once (JPEG shrunk on load to the largest format), then each format in turn.
    "social": JobMemory(worker="social", bytes_per_pixel=6, fixed_bytes=72 * MB),
    # Output pixels (16 per input pixel); the local path takes up to 4 MP in, 67 MP out.
    "upscale.fast": JobMemory(
        worker="upscale",
        bytes_per_pixel=9.5,
        fixed_bytes=20 * MB,
        max_pixels=FAST_SCALE**2 * LOCAL_FAST_MAX_PIXELS,
    ),
    # Input pixels; the output is always 4 MP.
    "upscale.conservative": JobMemory(
        worker="upscale", bytes_per_pixel=5, fixed_bytes=40 * MB, max_pixels=CONSERVATIVE_PIXELS
    ),
    # Segments a working copy of at most a few megapixels: mostly fixed.
    "edit.remove_background": _local("edit", 5, fixed_mb=320),
    "edit.inpaint": _local("edit", 24),
    # A point's selection adds the saliency model's run: 323 MB against 263 MB with a mask at 12 MP.
    "edit.erase": _local("edit", 24, fixed_mb=100),
    "edit.search_recolor": _local("edit", 36),
    # Output pixels (the image with its margins); threads are sized for a 16 MP output, a larger
    # one is refused when over the job's budget.
    "edit.outpaint": _local("edit", 110, fixed_mb=100),
    # Sketch's line art and structure's edge map.
    "control.map": _local("control", 22, fixed_mb=30),
    # A provider path of edit, upscale or control: inputs made provider-ready, the answer stored.
    **{
        f"{worker}.provider": JobMemory(worker=worker, bytes_per_pixel=14, fixed_bytes=20 * MB)
        for worker in ("edit", "upscale", "control")
    },
    # The larger of the init image and an output (outputs are finished one at a time).
    "create": JobMemory(worker="create", bytes_per_pixel=14, fixed_bytes=30 * MB, max_pixels=9_437_184),
}


def rows_of(worker: str) -> list[JobMemory]:
    return [row for row in MEMORY.values() if row.worker == worker]


def _cap(row: JobMemory, settings: Settings) -> int:
    return row.max_pixels if row.max_pixels is not None else settings.max_image_pixels


def worker_threads(worker: str, settings: Settings) -> int:
    """Threads of ``worker``: jobs at its largest input that fit its memory, 1 to ``WORKER_THREADS``."""
    largest = max((row.bytes_for(_cap(row, settings)) for row in rows_of(worker)), default=1)
    fit = (settings.worker_memory_bytes - WORKER_BASELINE_BYTES) // largest
    return max(1, min(settings.worker_threads, fit))


def job_memory_bytes(worker: str, settings: Settings) -> int:
    """The memory one job of ``worker`` may hold: what the idle process leaves, over its threads.

    The embedded mode runs every studio in one process of ``WORKER_THREADS`` threads.
    """
    threads = settings.worker_threads if settings.embedded_broker else worker_threads(worker, settings)
    return max(0, settings.worker_memory_bytes - WORKER_BASELINE_BYTES) // threads


#: Pixel budgets already worked out, by row and the settings they follow from: the gateway asks
#: for one per image of every submission, and working it out walks the table (5 % of the
#: gateway's CPU per JSON submission, bench/README.md, issue 31 fifth pass).
_BUDGETS: dict[tuple[str, int, int, int, bool], int] = {}


def pixel_budget(row: str, settings: Settings) -> int:
    """The most pixels (as the row counts them) one job of ``row`` may be given."""
    key = (
        row,
        settings.worker_memory_bytes,
        settings.worker_threads,
        settings.max_image_pixels,
        settings.embedded_broker,
    )
    budget = _BUDGETS.get(key)
    if budget is None:
        memory = MEMORY[row]
        room = job_memory_bytes(memory.worker, settings) - memory.fixed_bytes
        budget = _BUDGETS[key] = max(0, int(room / memory.bytes_per_pixel))
    return budget


#: The input a worker's memory request is sized for: a phone photo (at most a row's own cap).
TYPICAL_PIXELS = 12_000_000
_MI = 1024**2


def pod_memory(worker: str, settings: Settings) -> tuple[int, int]:
    """A worker pod's memory (request, limit) in bytes, whole Mi.

    The limit is the budget the threads and pixel budgets are derived from; the request holds
    the idle process and each thread at a typical input (:data:`TYPICAL_PIXELS`), rounded up to
    64 Mi, so a scheduler packs pods by what they usually hold and the limit stops the rest.
    """
    typical = max(
        (row.bytes_for(min(TYPICAL_PIXELS, _cap(row, settings))) for row in rows_of(worker)), default=0
    )
    request = WORKER_BASELINE_BYTES + worker_threads(worker, settings) * typical
    request = -(-request // (64 * _MI)) * 64 * _MI
    limit = settings.worker_memory_bytes // _MI * _MI
    return min(request, limit), limit


@dataclass(frozen=True)
class Work:
    """What a job will hold: its row, the pixels the row counts, and the image field they come from."""

    row: str
    pixels: int
    field: str


def _pixels(info: ImageInfo) -> int:
    return info.width * info.height * info.frames


def job_work(request: StudioRequest, images: Mapping[str, ImageInfo]) -> list[Work]:
    """The rows a request's job may run, from its fields and its images' headers (no pixel decoded)."""
    image = images.get("image")
    if isinstance(request, CompressRequest | ConvertRequest):
        row = "compress" if isinstance(request, CompressRequest) else "convert"
        return [Work(row, _pixels(image), "image")] if image else []
    if isinstance(request, SocialOptimizeRequest):
        return [Work("social", _pixels(image), "image")] if image else []
    if isinstance(request, UpscaleRequest):
        if image is None:
            return []
        pixels = image.width * image.height
        mode = UPSCALE_MODES[request.mode]
        out = pixels * FAST_SCALE**2 if request.mode == "fast" else max(pixels, CONSERVATIVE_PIXELS)
        work = []
        # A provider is planned only for an image within its limits; the local path for the rest.
        if request.path != "local" and pixels <= mode.limits.max_pixels:
            work.append(Work("upscale.provider", out, "image"))
        if request.path != "provider" and mode.local_limits is not None:
            local = "upscale.fast" if request.mode == "fast" else "upscale.conservative"
            work.append(Work(local, out if request.mode == "fast" else pixels, "image"))
        return work
    if isinstance(request, EditRequest):
        work = [Work("edit.provider", _pixels(info), name) for name, info in images.items()]
        operation = EDIT_OPERATIONS.get(request.operation)
        if image and operation is not None and operation.local is not None and request.path != "provider":
            row = f"edit.{request.operation}"
            pixels = image.width * image.height
            if request.operation == "outpaint":
                margins = (request.left or 0) + (request.right or 0), (request.up or 0) + (request.down or 0)
                pixels = (image.width + margins[0]) * (image.height + margins[1])
            if row in MEMORY:
                work.append(Work(row, pixels, "image"))
        return work
    if isinstance(request, ControlRequest):
        work = [Work("control.provider", _pixels(info), name) for name, info in images.items()]
        control = CONTROL_OPERATIONS.get(request.operation)
        if image and control is not None and control.control_map is not None:
            work.append(Work("control.map", image.width * image.height, "image"))
        return work
    if isinstance(request, CreateRequest):
        return [Work("create", _pixels(info), name) for name, info in images.items()]
    return []


def admit(request: StudioRequest, images: Mapping[str, ImageInfo], settings: Settings) -> None:
    """413 naming the image, its pixels and the limit when a job of it could not fit any worker."""
    for work in job_work(request, images):
        limit = pixel_budget(work.row, settings)
        if work.pixels > limit:
            memory = MEMORY[work.row]
            raise OverMemoryBudget(
                work.field,
                pixels=work.pixels,
                limit=limit,
                detail=(
                    f"this job ({work.row}) would work on {work.pixels:,} pixels; a {memory.worker} worker "
                    f"has memory for {limit:,} per job ({job_memory_bytes(memory.worker, settings):,} bytes "
                    f"at {memory.bytes_per_pixel:g} bytes a pixel + {memory.fixed_bytes:,})"
                ),
            )


def workers() -> Iterable[str]:
    """Every worker the table has rows for, in table order."""
    return dict.fromkeys(row.worker for row in MEMORY.values())
