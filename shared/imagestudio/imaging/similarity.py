"""SSIM (Wang et al. 2004) between a source and its encodings, on OpenCV's Gaussian filter.

OpenCV is already a dependency (face detection) but its ``quality`` module ships only in the
contrib build; scikit-image's ``structural_similarity`` would add SciPy to every worker and runs
in float64. This is the same measure with the same constants (11x11 Gaussian window,
sigma 1.5, K1 0.01, K2 0.03, population covariance), checked against scikit-image in the tests.
The source's statistics are computed once: a quality search scores many encodings of one source.
"""

from __future__ import annotations

from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

__all__ = ["SsimReference", "ssim"]

#: Dynamic range of 8-bit samples.
_L: Final = 255.0
_C1: Final = (0.01 * _L) ** 2
_C2: Final = (0.03 * _L) ** 2
#: Gaussian window: 11x11 taps (scikit-image's truncate=3.5 at sigma 1.5), sigma 1.5.
_WINDOW: Final = (11, 11)
_SIGMA: Final = 1.5
#: Half the window: the border scikit-image crops before averaging (its values see padding).
_CROP: Final = 5

Floats = npt.NDArray[np.float32]


def _blur(values: Floats) -> Floats:
    return np.asarray(cv2.GaussianBlur(values, _WINDOW, _SIGMA, borderType=cv2.BORDER_REFLECT), np.float32)


def _planes(pixels: npt.NDArray[np.uint8]) -> Floats:
    """H x W x C float32 (a grey H x W image becomes one channel)."""
    array = pixels[:, :, None] if pixels.ndim == 2 else pixels
    return np.ascontiguousarray(array, dtype=np.float32)


class SsimReference:
    """A source's local means and variances, kept to score any number of candidates against it.

    The terms that depend only on the source are folded once, and a candidate's are computed in
    place: a search scores up to ten candidates, and temporaries of a 12 MP image cost more than
    the blurs.
    """

    def __init__(self, source: npt.NDArray[np.uint8]) -> None:
        self._x = _planes(source)
        self.shape = self._x.shape
        mu_x = _blur(self._x)
        var_x = _blur(self._x * self._x) - mu_x * mu_x
        self._mu_x = mu_x
        self._mu_x2_c1 = mu_x * mu_x + _C1
        self._var_x_c2 = var_x + _C2

    def score(self, candidate: npt.NDArray[np.uint8]) -> float:
        """Mean SSIM over every channel; 1.0 for identical pixels."""
        y = _planes(candidate)
        if y.shape != self.shape:
            raise ValueError(f"candidate is {y.shape}, source is {self.shape}")
        mu_y = _blur(y)
        yy = _blur(np.multiply(y, y, out=np.empty_like(y)))
        xy = _blur(np.multiply(self._x, y, out=y))  # y is not needed after this
        mu_xy = np.multiply(self._mu_x, mu_y, out=mu_y.copy())
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
        yy += self._var_x_c2
        mu_y += self._mu_x2_c1
        yy *= mu_y
        index = np.divide(xy, yy, out=xy)
        height, width = index.shape[:2]
        if height > 2 * _CROP and width > 2 * _CROP:
            index = index[_CROP:-_CROP, _CROP:-_CROP]
        return float(index.mean(dtype=np.float64))


def ssim(source: npt.NDArray[np.uint8], candidate: npt.NDArray[np.uint8]) -> float:
    """SSIM of two 8-bit images of one shape (grey, RGB or RGBA), averaged over channels."""
    return SsimReference(source).score(candidate)
