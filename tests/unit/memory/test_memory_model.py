"""The memory model's arithmetic: which rows a request's job may run, on how many pixels, and the
threads, per-job memory and pixel budgets that follow from a worker's memory."""

from __future__ import annotations

from imagestudio.config import Settings
from imagestudio.imaging import ImageInfo
from imagestudio.studios import memory
from imagestudio.studios.edit.request import EditRequest
from imagestudio.studios.social import SocialOptimizeRequest
from imagestudio.studios.upscale.modes import UpscaleRequest

GIB = 1024**3
UPLOAD = "upl_3f0c9a6b2e5d4c1a8b7e6f5d4c3b2a19"


def info(width: int, height: int, frames: int = 1) -> ImageInfo:
    return ImageInfo(format="png", width=width, height=height, has_alpha=False, orientation=1, frames=frames)


def distributed(**settings: object) -> Settings:
    return Settings.model_validate({"broker_url": "amqp://guest:guest@127.0.0.1:5672/", **settings})


def test_fast_upscale_counts_its_output_and_outpaint_its_margins() -> None:
    fast = UpscaleRequest(image=UPLOAD, mode="fast")
    work = memory.job_work(fast, {"image": info(2000, 2000)})
    # 4 MP is over the provider's 1 MP: only the local path, on 16 x 4 MP of output.
    assert [(w.row, w.pixels) for w in work] == [("upscale.fast", 64_000_000)]
    outpaint = EditRequest(operation="outpaint", image=UPLOAD, left=500, right=500, path="local")
    [local] = [w for w in memory.job_work(outpaint, {"image": info(1000, 1000)}) if w.row == "edit.outpaint"]
    assert local.pixels == 2000 * 1000


def test_frames_count_and_the_budget_follows_the_memory_and_threads() -> None:
    social = SocialOptimizeRequest(image=UPLOAD, formats=["instagram.story"])
    [work] = memory.job_work(social, {"image": info(400, 300, frames=50)})
    assert work.pixels == 400 * 300 * 50
    small, large = distributed(worker_memory_bytes=3 * GIB // 2), distributed(worker_memory_bytes=16 * GIB)
    # compress at the 50 MP cap needs 1.80 GB: one thread in 1.5 GiB (and a smaller budget), four in 16 GiB.
    assert memory.worker_threads("compress", small) == 1
    assert memory.worker_threads("compress", large) == 4
    assert memory.pixel_budget("compress", small) < 50_000_000 <= memory.pixel_budget("compress", large)
    budget = memory.job_memory_bytes("compress", small)
    assert budget == 3 * GIB // 2 - memory.WORKER_BASELINE_BYTES
    assert memory.MEMORY["compress"].bytes_for(memory.pixel_budget("compress", small)) <= budget
    # The embedded mode's one process shares its memory among WORKER_THREADS jobs of any studio.
    embedded = Settings.model_validate({"broker_url": "memory://", "worker_memory_bytes": 3 * GIB // 2})
    assert memory.job_memory_bytes("compress", embedded) == budget // embedded.worker_threads


def test_every_studio_has_rows_in_the_memory_model_and_no_row_names_another_worker() -> None:
    from imagestudio.messaging import Studio

    assert set(memory.workers()) == set(Studio)
    for studio in Studio:
        assert memory.rows_of(studio), (
            f"{studio}: no memory row; a new studio adds its rows to studios/memory.py"
        )
