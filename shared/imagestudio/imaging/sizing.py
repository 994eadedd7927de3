"""Output sizes: how much of the source an output of a given size can need, and resampling to exactly that size."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import pyvips  # type: ignore[import-untyped, unused-ignore]

__all__ = ["MIN_ZOOM", "largest_box", "render_scale", "resize_exact"]

#: Smallest box, as a share of the largest box of the aspect, a crop zooms in to so that faces or
#: the subject clear a platform's UI bands: closer in would cut the picture more than the UI hides.
MIN_ZOOM: Final = 0.7


def largest_box(src_w: int, src_h: int, width: int, height: int) -> tuple[int, int]:
    """Size of the largest box with the aspect width:height that fits in the source."""
    if src_w * height > src_h * width:  # source is wider than the target: full height
        return max(1, min(src_w, round(src_h * width / height))), src_h
    return src_w, max(1, min(src_h, round(src_w * height / width)))


def render_scale(src_w: int, src_h: int, sizes: Iterable[tuple[int, int]]) -> float:
    """The largest scale (at most 1) any crop or fit of the source to one of ``sizes`` resamples it by.

    A crop is at least MIN_ZOOM of the largest box of its aspect, or the output's own size when that
    is larger (``crop.plan_crop`` never zooms closer); a fit scales the whole source, less than any
    crop. A copy of the source at this scale therefore renders every one of those outputs without
    being enlarged, so a 24 MP photo posted at 1080 px need not be held at full size.
    """
    scale = 0.0
    for width, height in sizes:
        box_w, box_h = largest_box(src_w, src_h, width, height)
        scale = max(scale, min(1.0, max(width / box_w, height / box_h) / MIN_ZOOM))
    return scale or 1.0


def resize_exact(image: pyvips.Image, width: int, height: int) -> pyvips.Image:
    """Lanczos3 resample to exactly width x height (down or up), alpha premultiplied."""
    if (image.width, image.height) == (width, height):
        return image
    has_alpha = image.hasalpha()
    if has_alpha:
        # Without premultiplying, transparent pixels' hidden colour bleeds into the edges.
        image = image.premultiply()
    image = image.resize(width / image.width, vscale=height / image.height, kernel="lanczos3")
    if has_alpha:
        image = image.unpremultiply()
    image = image.cast("uchar")
    if (image.width, image.height) != (width, height):  # a rounding pixel either way
        image = image.crop(0, 0, min(width, image.width), min(height, image.height))
        image = image.embed(0, 0, width, height, extend="copy")
    return image.copy(interpretation="srgb")
