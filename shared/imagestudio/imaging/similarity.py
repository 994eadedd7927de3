"""SSIM (Wang et al. 2004) between a source and its encodings, on OpenCV's Gaussian filter.

OpenCV is already a dependency (face detection) but its ``quality`` module ships only in the
contrib build; scikit-image's ``structural_similarity`` would add SciPy to every worker and runs
in float64. This is the same measure with the same constants (11x11 Gaussian window,
sigma 1.5, K1 0.01, K2 0.03, population covariance), checked against scikit-image in the tests.

Memory is bounded by the band, not the image: the SSIM map is computed a band of rows at a
time, each band read with the ``_CROP`` rows the window needs above and below it, so every value
averaged is the one the whole image gives (inside the image the window never reaches a band's
padding; at the image's top and bottom the band's border is the image's). A score holds the two
8-bit images it is given and about ten float32 planes of ``BAND_ELEMENTS`` samples each, whatever
the image's size (at 12 MP the whole-image planes were 1.4 GB).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

__all__ = ["BAND_ELEMENTS", "SsimReference", "ssim"]

#: Dynamic range of 8-bit samples.
_L: Final = 255.0
_C1: Final = (0.01 * _L) ** 2
_C2: Final = (0.03 * _L) ** 2
#: Gaussian window: 11x11 taps (scikit-image's truncate=3.5 at sigma 1.5), sigma 1.5.
_WINDOW: Final = (11, 11)
_SIGMA: Final = 1.5
#: Half the window: the border scikit-image crops before averaging (its values see padding), and
#: the rows a band reads beyond those it scores.
_CROP: Final = 5
#: Samples (rows x width x channels) in one band's float32 plane: 4 MB, so a score's scratch is
#: about 40 MB at any image size.
BAND_ELEMENTS: Final = 1 << 20
#: Fewest rows a band scores, however wide the image (the window's margins are then a fifth of it).
_MIN_BAND_ROWS: Final = 40

Pixels = npt.NDArray[np.uint8]
Floats = npt.NDArray[np.float32]
#: Rows ``start`` to ``stop`` of an image, H x W x C (how a reference reads a source it does not hold).
Rows = Callable[[int, int], Pixels]


def _blur(values: Floats) -> Floats:
    return np.asarray(cv2.GaussianBlur(values, _WINDOW, _SIGMA, borderType=cv2.BORDER_REFLECT), np.float32)


def _planes(pixels: Pixels) -> Pixels:
    """H x W x C (a grey H x W image becomes one channel), without copying."""
    return pixels[:, :, None] if pixels.ndim == 2 else pixels


def _ssim_map(source: Pixels, candidate: Pixels) -> Floats:
    """The SSIM index of every sample of two 8-bit H x W x C bands (float32, computed in place)."""
    x = np.ascontiguousarray(source, dtype=np.float32)
    y = np.ascontiguousarray(candidate, dtype=np.float32)
    mu_x = _blur(x)
    var_x_c2 = _blur(np.multiply(x, x, out=np.empty_like(x)))
    var_x_c2 -= mu_x * mu_x
    var_x_c2 += _C2
    mu_y = _blur(y)
    yy = _blur(np.multiply(y, y, out=np.empty_like(y)))
    xy = _blur(np.multiply(x, y, out=y))  # y is not needed after this
    del x, y
    mu_xy = np.multiply(mu_x, mu_y, out=np.empty_like(mu_y))
    mu_x *= mu_x  # mu_x squared from here on
    mu_y *= mu_y  # mu_y squared from here on
    # numerator (2 mu_x mu_y + C1)(2 cov + C2), cov = E[xy] - mu_x mu_y
    xy -= mu_xy
    xy *= 2
    xy += _C2
    mu_xy *= 2
    mu_xy += _C1
    xy *= mu_xy
    # denominator (mu_x^2 + mu_y^2 + C1)(var_x + var_y + C2), var_y = E[y^2] - mu_y^2
    yy -= mu_y
    yy += var_x_c2
    mu_x += _C1
    mu_y += mu_x
    yy *= mu_y
    return np.divide(xy, yy, out=xy)


class SsimReference:
    """A source kept to score any number of candidates against it, a band of rows at a time.

    It keeps the source's 8-bit pixels (not a copy), or reads them band by band from ``rows``
    (:meth:`reading`); each score recomputes the source's local statistics band by band with the
    candidate's: two blurs more per candidate than keeping them, but no float plane the size of
    the image (four of those cost 48 bytes a pixel in RGB).
    """

    def __init__(self, source: Pixels) -> None:
        pixels = _planes(source)
        self._read(
            lambda start, stop: pixels[start:stop], (pixels.shape[0], pixels.shape[1], pixels.shape[2])
        )

    @classmethod
    def reading(cls, rows: Rows, shape: tuple[int, int, int]) -> SsimReference:
        """A reference to an H x W x C source read through ``rows`` when scoring (it holds no copy)."""
        reference = cls.__new__(cls)
        reference._read(rows, shape)
        return reference

    def _read(self, rows: Rows, shape: tuple[int, int, int]) -> None:
        self._rows = rows
        self.shape = shape

    def score(self, candidate: Pixels) -> float:
        """Mean SSIM over every channel; 1.0 for identical pixels."""
        y = _planes(candidate)
        if y.shape != self.shape:
            raise ValueError(f"candidate is {y.shape}, source is {self.shape}")
        height, width, channels = self.shape
        crop = _CROP if height > 2 * _CROP and width > 2 * _CROP else 0
        rows = max(_MIN_BAND_ROWS, BAND_ELEMENTS // (width * channels))
        total = 0.0
        for top in range(crop, height - crop, rows):
            bottom = min(top + rows, height - crop)
            # The band and the rows its windows reach; at the image's edges its border is the image's.
            start, stop = max(top - _CROP, 0), min(bottom + _CROP, height)
            index = _ssim_map(_planes(self._rows(start, stop)), y[start:stop])
            total += float(index[top - start : bottom - start, crop : width - crop].sum(dtype=np.float64))
        return total / ((height - 2 * crop) * (width - 2 * crop) * channels)


def ssim(source: Pixels, candidate: Pixels) -> float:
    """SSIM of two 8-bit images of one shape (grey, RGB or RGBA), averaged over channels."""
    return SsimReference(source).score(candidate)
