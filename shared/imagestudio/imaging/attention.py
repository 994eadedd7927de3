"""libvips' attention model (``smartcrop(interesting="attention")``) for every crop size of a photo at the cost of one.

Why: libvips builds its score map (edges, skin, saturation on a 32x32 copy) again for each call,
and each call is some twenty small operations: 6-9 ms of CPU per crop size though the pixels are
a 32x32 image. Only the final blur depends on the crop's size, so the map is made once per photo
with the same operations, and each size blurs it and takes the peak in numpy (about 0.1 ms).
The answers are libvips' own: compared call for call with ``smartcrop`` on the ordinary photos
and the hard scenes at every catalogue size, 558 of 558 equal (bench/README.md, issue 29).

The steps follow libvips 8.18's ``vips_smartcrop_attention`` (libvips/conversion/smartcrop.c).
"""

from __future__ import annotations

import math
from typing import Any, Final

import cv2
import numpy as np
import numpy.typing as npt
import pyvips  # type: ignore[import-untyped, unused-ignore]

__all__ = ["AttentionMap"]

#: Side of the grid libvips scores on: it sets the precision with which a crop can be placed.
GRID: Final = 32.0
#: Where libvips' skin colour sits, as a unit XYZ vector (from smartcrop.js), negated.
_SKIN: Final = [-0.78, -0.57, -0.44]
#: The edge detector libvips runs on Y.
_EDGES: Final = [[0.0, -1.0, 0.0], [-1.0, 4.0, -1.0], [0.0, -1.0, 0.0]]
#: libvips' Gaussian mask is cut where it falls under this fraction of its peak.
_MIN_AMPLITUDE: Final = 0.2


class AttentionMap:
    """libvips' attention scores of one small sRGB copy (no alpha), made once; ``centre`` per crop size."""

    def __init__(self, small: pyvips.Image) -> None:
        self._hscale = GRID / small.width
        self._vscale = GRID / small.height
        grid = small.resize(self._hscale, vscale=self._vscale)
        xyz = grid.colourspace("xyz")[0:3]
        luminance = xyz[1]
        edges = (
            luminance.conv(pyvips.Image.new_from_array(_EDGES), precision="integer")
            .linear([5.0], [0.0])
            .abs()
        )
        distance = _length((xyz / _length(xyz)).linear([1.0, 1.0, 1.0], _SKIN))
        lit = luminance > 5.0  # dark areas score neither skin nor saturation
        zero = lit.new_from_image(0.0)
        skin = lit.ifthenelse(distance.linear([-100.0], [100.0]), zero)
        saturation = lit.ifthenelse(xyz.colourspace("lab")[1], zero)
        scores = pyvips.Image.sum([edges, skin, saturation])
        self._scores: npt.NDArray[np.float64] = np.asarray(scores.numpy(), dtype=np.float64)

    def centre(self, width: int, height: int) -> tuple[int, int]:
        """Where ``smartcrop(width, height, interesting="attention")`` answers ``attention_x``/``attention_y``.

        The blur grows with the crop: libvips weighs a region the size of the crop around each point.
        """
        sigma = max(math.hypot(width * self._hscale, height * self._vscale) / 10, 1.0)
        mask = pyvips.Image.gaussmat(sigma, _MIN_AMPLITUDE, separable=True, precision="integer")
        kernel: npt.NDArray[Any] = np.asarray(mask.numpy(), dtype=np.float64).ravel() / mask.get("scale")
        blurred = cv2.sepFilter2D(self._scores, cv2.CV_64F, kernel, kernel, borderType=cv2.BORDER_REPLICATE)
        y, x = np.unravel_index(int(np.argmax(blurred)), blurred.shape)
        return int(x / self._hscale), int(y / self._vscale)


def _length(image: pyvips.Image) -> pyvips.Image:
    """The length of each pixel's vector of bands (libvips' ``pythagoras`` in smartcrop.c)."""
    return pyvips.Image.sum([image[band] * image[band] for band in range(image.bands)]) ** 0.5
