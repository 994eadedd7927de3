"""The compress worker's peak memory per job, measured in a child process against the studio's model.

Each case runs the studio's ``run`` as the worker does (decode, the search with an SSIM per step,
the kept-source check) in a fresh process through ``bench/bench_compress_memory.py``, and checks the
rise of its peak resident memory against the worker's memory model (``MEMORY['compress']``: ``COMPRESS_FIXED_BYTES`` plus ``COMPRESS_BYTES_PER_PIXEL`` a source pixel,
frames x width x height). Before the SSIM was scored in bands a 12 MP photo grew the process by
about 1.6 GB.
"""

from __future__ import annotations

import sys
from pathlib import Path

from imagestudio.studios.compress import CompressRequest
from imagestudio.studios.compress.convert import ConvertRequest
from imagestudio.studios.memory import MEMORY

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))  # the memory probe
from bench_compress_memory import animated_gif, jpeg, measure, photo  # noqa: E402

UPLOAD = "upl_3f0c9a6b2e5d4c1a8b7e6f5d4c3b2a19"


def test_a_12_mp_photo_at_the_defaults_stays_within_the_compress_memory_budget() -> None:
    params = CompressRequest(image=UPLOAD).to_params(source_format="jpeg")
    assert (params.format, params.target_ssim) == ("jpeg", 0.98)  # the defaults a phone photo gets
    figures = measure(jpeg(photo(4000, 3000)), params.model_dump())
    assert "error" not in figures
    assert figures["ssim"] >= 0.98
    assert figures["growth"] <= MEMORY["compress"].bytes_for(4000 * 3000), figures
    assert figures["growth"] <= 400 * 2**20, figures  # the ceiling at 12 MP


def test_an_animation_counts_every_frame_and_stays_within_the_budget() -> None:
    params = ConvertRequest(image=UPLOAD, format="webp").to_params()
    figures = measure(animated_gif(frames=250, size=200), params.model_dump())
    assert "error" not in figures and figures["frames"] == 250
    assert figures["growth"] <= MEMORY["convert"].bytes_for(250 * 200 * 200), figures
