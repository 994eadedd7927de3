"""What the picture is of when nobody is in it: the bounding box of what stands out from a plain background."""

from __future__ import annotations

from typing import Final

import cv2
import numpy as np
import pyvips  # type: ignore[import-untyped, unused-ignore]

__all__ = ["find_subject"]

#: Longest side of the copy the subject is looked for on: boxes need no finer precision.
SUBJECT_SIDE: Final = 256
#: Fraction of each edge sampled for the background colour.
BORDER: Final = 0.04
#: Lab distance from the background above which a pixel belongs to the subject (about 3x a
#: just-noticeable difference: JPEG noise and soft shadows stay background).
SUBJECT_DISTANCE: Final = 18.0
#: Share of border pixels that must be near the background colour for the background to count as
#: plain; on a busy photo there is no one subject box and the attention peak decides instead.
PLAIN_BORDER: Final = 0.85
#: Specks smaller than this share of the picture are dust, noise or texture, not the subject.
MIN_PART: Final = 0.001
#: A "subject" covering more than this share of the picture is the picture itself.
MAX_SUBJECT: Final = 0.8


def find_subject(image: pyvips.Image) -> tuple[int, int, int, int] | None:
    """Box (left, top, width, height) in source pixels around everything that differs from a plain background.

    None when the background is not plain (a busy photo) or the "subject" is nearly all of it.
    """
    if image.hasalpha():
        image = image.flatten(background=[255, 255, 255])
    scale = min(1.0, SUBJECT_SIDE / max(image.width, image.height))
    small = image.resize(scale, kernel="linear") if scale < 1.0 else image
    rgb = np.asarray(small.numpy()).reshape(small.height, small.width, -1)[:, :, :3]
    lab = cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.uint8), cv2.COLOR_RGB2LAB).astype(np.float32)
    # OpenCV's 8-bit Lab stores L*255/100; bring it back to Lab units so distances mean the same.
    lab[:, :, 0] *= 100 / 255
    height, width = lab.shape[:2]
    strip_h, strip_w = max(1, round(height * BORDER)), max(1, round(width * BORDER))
    border = np.concatenate(
        [
            lab[:strip_h].reshape(-1, 3),
            lab[-strip_h:].reshape(-1, 3),
            lab[:, :strip_w].reshape(-1, 3),
            lab[:, -strip_w:].reshape(-1, 3),
        ]
    )
    background = np.median(border, axis=0)
    if np.mean(np.linalg.norm(border - background, axis=1) < SUBJECT_DISTANCE) < PLAIN_BORDER:
        return None
    distance = np.linalg.norm(lab - background, axis=2)
    mask = (distance > SUBJECT_DISTANCE).astype(np.uint8)
    # Close small gaps so the letters of a word or the parts of a product make one region.
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask)
    parts = [stat for stat in stats[1:count] if stat[cv2.CC_STAT_AREA] >= MIN_PART * width * height]
    if not parts:
        return None
    left = min(int(s[cv2.CC_STAT_LEFT]) for s in parts)
    top = min(int(s[cv2.CC_STAT_TOP]) for s in parts)
    right = max(int(s[cv2.CC_STAT_LEFT] + s[cv2.CC_STAT_WIDTH]) for s in parts)
    bottom = max(int(s[cv2.CC_STAT_TOP] + s[cv2.CC_STAT_HEIGHT]) for s in parts)
    if (right - left) * (bottom - top) > MAX_SUBJECT * width * height:
        return None
    to_source = image.width / width
    # One small-copy pixel of margin each side: the copy's edges are blurred by the resize.
    x0 = max(0, int((left - 1) * to_source))
    y0 = max(0, int((top - 1) * to_source))
    x1 = min(image.width, int(np.ceil((right + 1) * to_source)))
    y1 = min(image.height, int(np.ceil((bottom + 1) * to_source)))
    return x0, y0, x1 - x0, y1 - y0
