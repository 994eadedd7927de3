"""Each studio's worker-side function, on a large input in a child process of its own, grows the
process by no more than the memory model says (``imagestudio.studios.memory.MEMORY``).

The child is ``bench/bench_memory.py``'s: warmed up on a tiny image, its high-water mark reset,
then one job; the growth is ``VmHWM`` after the job minus ``VmRSS`` before it (no timing).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from imagestudio.studios.memory import MEMORY

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
import bench_memory  # noqa: E402

#: (case, input pixels): a 12 MP photo, or the largest input the path takes when that is smaller.
LARGE = [
    ("social.png", 12_000_000),
    ("upscale.fast", 1_048_576),
    ("upscale.conservative", 4_194_303),
    ("edit.remove_background", 12_000_000),
    ("edit.inpaint", 12_000_000),
    ("edit.outpaint", 4_000_000),
    ("control.map", 12_000_000),
    ("provider", 12_000_000),
    ("create", 9_437_184),
]


@pytest.mark.parametrize(("case", "pixels"), LARGE, ids=[case for case, _ in LARGE])
def test_a_large_job_stays_within_the_model(case: str, pixels: int) -> None:
    measured = bench_memory.measure(case, pixels)
    spec = bench_memory.CASES[case]
    budget = MEMORY[spec.row].bytes_for(spec.model_pixels(measured["width"], measured["height"]))
    assert measured["growth_bytes"] <= budget, (
        f"{case} at {measured['megapixels']} MP grew its worker by {measured['growth_mb']} MB; "
        f"the model allows {budget / 1e6:.0f} MB"
    )


# Compress at 12 MP (and an animation) is measured by tests/unit/imaging/test_compress_memory.py
# against the same row; convert here (a PNG to WebP: another encoder's buffers).
@pytest.mark.parametrize("case", ["convert"])
def test_a_12_mp_compress_or_convert_stays_within_the_model(case: str) -> None:
    measured = bench_memory.measure(case, 12_000_000)
    budget = MEMORY[case].bytes_for(measured["width"] * measured["height"])
    assert measured["growth_bytes"] <= budget, (
        f"{case} at {measured['megapixels']} MP grew its worker by {measured['growth_mb']} MB; "
        f"the model allows {budget / 1e6:.0f} MB"
    )
