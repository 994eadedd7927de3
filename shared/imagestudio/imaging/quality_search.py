"""Where a quality search starts and how it narrows: scores rising with quality, the lowest that meets a target.

Pure arithmetic over a ``score_at(quality)`` callback, so the encoders in
:mod:`imagestudio.imaging.compress` (whole qualities, or JPEG's finer steps) share one search.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

import numpy as np

__all__ = ["START_QUALITY", "lowest_quality", "start_quality"]

#: Where an SSIM search starts: the quality each format typically needs for an SSIM (RGB, Gaussian),
#: read off the benchmark photos. Only a first guess: the search corrects it.
START_QUALITY: Final[dict[str, tuple[tuple[float, ...], tuple[float, ...]]]] = {
    "jpeg": ((0.85, 0.93, 0.96, 0.98, 0.995), (50, 80, 88, 94, 99)),
    "webp": ((0.85, 0.93, 0.96, 0.98, 0.995), (50, 78, 88, 94, 99)),
    "avif": ((0.85, 0.93, 0.96, 0.98, 0.995), (30, 55, 70, 82, 95)),
    "png": ((0.85, 0.93, 0.96, 0.98, 0.995), (30, 50, 65, 80, 95)),
}


def start_quality(output_format: str, target: float) -> int:
    """The quality ``target`` usually needs in ``output_format`` (the search's first encode)."""
    ssims, qualities = START_QUALITY.get(output_format, START_QUALITY["jpeg"])
    return round(float(np.interp(target, ssims, qualities)))


def lowest_quality(
    score_at: Callable[[int], float],
    target: float,
    low: int,
    high: int,
    *,
    start: int,
    max_jump: int | None = None,
) -> int | None:
    """The lowest quality in ``low..high`` whose score reaches ``target`` (None: not even ``high``).

    Scores grow with quality. From ``start`` it steps out (4, then where the line through the last
    two scores crosses the target, overshot by half, at least twice the last step, at most
    ``max_jump`` beyond that) until one quality misses and one meets; between them, the secant: where the line through the last two
    scores crosses the target (halving instead when two such steps did not halve the bracket).
    Four to six encodes on the benchmark photographs.
    """
    scores: dict[int, float] = {}

    def meets(quality: int) -> bool:
        scores[quality] = score_at(quality)
        return scores[quality] >= target

    def crossing(a: int, b: int) -> float | None:
        """The quality where the line through the scores at ``a`` and ``b`` reaches the target, drawn
        as log(1 - score) over log(high + 1 - quality): a loss that grows as a power of the
        quantiser step (as SSIM's does) is a straight line there."""
        ua, ub = math.log(high + 1 - a), math.log(high + 1 - b)
        va, vb = (math.log(max(1 - scores[q], 1e-9)) for q in (a, b))
        if va == vb:
            return None
        u = ua + (math.log(max(1 - target, 1e-9)) - va) * (ub - ua) / (vb - va)
        return high + 1 - math.exp(min(u, 50.0))

    previous = None
    quality = min(max(start, low), high)
    step = 4
    going_down = meets(quality)
    while True:  # step out until the target lies between a miss and a meet
        if quality == (low if going_down else high):
            return (low if going_down else None) if (scores[quality] >= target) == going_down else None
        line = crossing(previous, quality) if previous is not None else None
        if line is not None and max_jump is not None:  # a plateau's flat line points far off
            line = min(max(line, quality - step - max_jump), quality + step + max_jump)
        if going_down:
            reach = (
                quality - step
                if line is None
                else min(quality - step, math.floor(quality - 1.5 * (quality - line)))
            )
            following = max(low, reach)
        else:
            reach = (
                quality + step
                if line is None
                else max(quality + step, math.ceil(quality + 1.5 * (line - quality)))
            )
            following = min(high, reach)
        previous, quality, step = quality, following, max(step, abs(following - quality)) * 2
        if meets(quality) != going_down:
            break
    missed, met = (quality, previous) if going_down else (previous, quality)
    widths = [met - missed]
    while met - missed > 1:  # secant through the last two scores, kept inside the bracket
        line = crossing(previous, quality)
        guess = math.ceil(line - 1e-9) if line is not None else (missed + met) // 2
        if len(widths) > 2 and widths[-1] > widths[-3] / 2:
            guess = (missed + met) // 2  # two secant steps did not halve the bracket: halve it
        guess = min(max(guess, missed + 1), met - 1)
        previous, quality = quality, guess
        if meets(guess):
            met = guess
        else:
            missed = guess
        widths.append(met - missed)
    return met
