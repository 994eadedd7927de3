"""Sizes and aspect ratios: mapping what a request asks onto what a provider accepts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

__all__ = ["SIZE_RATIOS", "fit_size", "nearest_aspect_ratio", "request_size", "size_for_aspect_ratio"]

#: The ratios a size-based model is asked for when a request names an aspect but no size.
SIZE_RATIOS: tuple[str, ...] = (
    "1:1",
    "16:9",
    "9:16",
    "4:3",
    "3:4",
    "3:2",
    "2:3",
    "21:9",
    "9:21",
    "4:5",
    "5:4",
)


class _Shaped(Protocol):
    @property
    def aspect_ratio(self) -> str | None: ...
    @property
    def width(self) -> int | None: ...
    @property
    def height(self) -> int | None: ...


def _ratio(aspect_ratio: str) -> float:
    width, _, height = aspect_ratio.partition(":")
    return float(width) / float(height)


def nearest_aspect_ratio(
    supported: Sequence[str],
    *,
    aspect_ratio: str | None = None,
    width: int | None = None,
    height: int | None = None,
    default: str = "1:1",
) -> str:
    """The supported ratio closest (in log space) to the asked ratio or to ``width:height``."""
    if aspect_ratio is not None and aspect_ratio in supported:
        return aspect_ratio
    if aspect_ratio:
        wanted = _ratio(aspect_ratio)
    elif width and height:
        wanted = width / height
    else:
        return default if default in supported else supported[0]
    return min(supported, key=lambda candidate: abs(math.log(_ratio(candidate) / wanted)))


def size_for_aspect_ratio(aspect_ratio: str, *, megapixels: float, multiple: int = 64) -> tuple[int, int]:
    """Width and height of about ``megapixels`` at ``aspect_ratio``, rounded to ``multiple``."""
    ratio = _ratio(aspect_ratio)
    pixels = megapixels * 1024 * 1024
    width = math.sqrt(pixels * ratio)
    height = width / ratio
    return (
        max(multiple, round(width / multiple) * multiple),
        max(multiple, round(height / multiple) * multiple),
    )


def fit_size(
    width: int, height: int, *, max_side: int, min_side: int = 64, multiple: int = 8
) -> tuple[int, int]:
    """Scale ``width`` x ``height`` into ``[min_side, max_side]`` keeping the ratio, on ``multiple``."""
    scale = min(1.0, max_side / max(width, height))
    scale = max(scale, min_side / min(width, height))

    def snap(side: float) -> int:
        snapped = int(side // multiple) * multiple
        return min(max_side, max(min_side, snapped))

    return snap(width * scale), snap(height * scale)


def request_size(request: _Shaped, *, max_side: int) -> tuple[int, int]:
    """The ``width x height`` a size-based model is asked for: the request's size, else about one
    megapixel at its (nearest) aspect, fitted into ``[256, max_side]`` on a multiple of 16."""
    if request.width and request.height:
        width, height = request.width, request.height
    else:
        ratio = nearest_aspect_ratio(
            SIZE_RATIOS, aspect_ratio=request.aspect_ratio, width=request.width, height=request.height
        )
        width, height = size_for_aspect_ratio(ratio, megapixels=1.0, multiple=16)
    return fit_size(width, height, max_side=max_side, min_side=256, multiple=16)
