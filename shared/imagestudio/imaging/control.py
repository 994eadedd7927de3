"""Control maps: what the control studio hands a provider, made locally so the user can see it.

- :func:`edge_map`: the structure operation's Canny edge map (white edges on black, the form
  ControlNet-style edge conditioning takes), thresholds from the image's own median brightness.
- :func:`line_art`: the sketch operation's cleaned line art (dark lines on white): adaptive
  threshold against paper shading, specks and scanner noise removed.

Both decode with the local studios' one decoder and encode PNG with the one encoder.
"""

from __future__ import annotations

import cv2
import numpy as np

from imagestudio.imaging._arrays import Pixels, decode, encode, flatten_on_white, luminance, to_uint8

__all__ = ["edge_map", "line_art"]

#: Canny's thresholds sit this far either side of the median grey (the usual "auto Canny" choice).
_CANNY_SIGMA = 0.33
#: Connected ink blobs smaller than this share of the image are noise (scanner dust, paper grain).
_SPECK_SHARE = 0.00002


def _grey(image: bytes) -> Pixels:
    pixels = decode(image)
    rgb = flatten_on_white(pixels) if pixels.shape[2] == 4 else pixels[:, :, :3]
    return to_uint8(luminance(rgb))


def edge_map(image: bytes, *, low: int | None = None, high: int | None = None) -> bytes:
    """Canny edges of ``image`` as a greyscale PNG of the same size (255 = edge).

    ``low``/``high`` default to ``(1 -/+ 0.33) x`` the median grey, after a light blur so paper
    and JPEG noise do not become edges.
    """
    grey = cv2.GaussianBlur(_grey(image), (5, 5), 0)
    median = float(np.median(grey))
    low = int(max(0.0, (1.0 - _CANNY_SIGMA) * median)) if low is None else low
    high = int(min(255.0, (1.0 + _CANNY_SIGMA) * median)) if high is None else high
    edges = np.asarray(cv2.Canny(grey, low, max(high, low + 1)), dtype=np.uint8)
    return encode(edges, "png")


def line_art(image: bytes) -> bytes:
    """The sketch's lines as clean black on white (a greyscale PNG of the same size).

    An adaptive threshold keeps lines under uneven light (a phone photo of paper), then ink
    components smaller than a tiny share of the image are dropped.
    """
    grey = _grey(image)
    height, width = grey.shape
    block = max(3, (min(height, width) // 24) | 1)  # odd, scaled to the image
    smoothed = cv2.medianBlur(grey, 3)
    binary = cv2.adaptiveThreshold(
        smoothed, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY, block, 10
    )
    ink = np.asarray(binary == 0, dtype=np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    smallest = max(2, int(_SPECK_SHARE * height * width))
    keep = np.zeros(count, dtype=bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= smallest
    lines = np.where(keep[labels], 0, 255).astype(np.uint8)
    return encode(lines, "png")
