"""Background removal without a provider: a learned salient-object mask (U²-Net-p, see
:mod:`imagestudio.imaging.saliency`) where its package is installed, else GrabCut from a
backdrop-colour prior; either way the alpha edge is refined.

The segmentation runs on a small copy and the edge at a bounded size (the filters need about
twenty float planes), then the backdrop's colour spill is taken out of the edge pixels.
"""

from __future__ import annotations

from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

from imagestudio.imaging._arrays import Floats, Pixels, to_uint8
from imagestudio.imaging.saliency import saliency

__all__ = ["cut_out", "cut_out_mask", "shrink"]

#: Longest side segmentation runs at: GrabCut's cost grows with pixels, and the edge is
#: refined afterwards at up to _REFINE_SIDE.
_SEGMENT_SIDE: Final = 400
#: Longest side the alpha edge is refined at before a plain upscale to the full size.
_REFINE_SIDE: Final = 2048
#: GrabCut rounds after the colour prior.
_GRABCUT_ROUNDS: Final = 4
#: Fraction of the subject-backdrop contrast treated as noise at each end of an unmixed alpha.
_MATTE_DEAD_ZONE: Final = 0.05
#: Lightness (L*, 0..100) a pixel may lose against the backdrop and still count as its shadow.
_SHADOW_DEPTH: Final = 12.0
#: Border noise (CIE76 delta E, 95th percentile) up to which the backdrop counts as plain, so
#: its fitted colour may be subtracted from edge pixels.
_PLAIN_NOISE: Final = 12.0


def cut_out(rgb: Pixels) -> tuple[Pixels, Pixels]:
    """Segment an RGB image: its colours with background spill removed, and the alpha."""
    height, width = rgb.shape[:2]
    small = shrink(rgb, _SEGMENT_SIDE)
    subject, backdrop = cut_out_mask(small)
    # The edge is refined at a bounded size: the filters need about twenty float planes.
    medium = shrink(rgb, _REFINE_SIDE)
    if backdrop is not None:
        backdrop = np.asarray(
            cv2.resize(backdrop, medium.shape[1::-1], interpolation=cv2.INTER_LINEAR), dtype=np.uint8
        )
    alpha, colour = _refine_edge(medium, subject, backdrop)
    if alpha.shape != (height, width):
        alpha = np.asarray(cv2.resize(alpha, (width, height), interpolation=cv2.INTER_LINEAR))
    if backdrop is None or colour is None:
        return rgb, alpha
    return _decontaminate(rgb, alpha, backdrop, colour), alpha


def cut_out_mask(small: Pixels) -> tuple[Floats, Pixels | None]:
    """Subject weight (0..1) of a small RGB copy, and its backdrop as RGB when that is plain.

    The learned model's probability where its package is installed, else the classical GrabCut
    mask (0 or 1).
    """
    learned = saliency(small) if min(small.shape[:2]) >= 8 else None
    if learned is None:
        subject, backdrop = _segment(small)
        return subject.astype(np.float32), backdrop
    height, width = small.shape[:2]
    weight = np.asarray(
        cv2.resize(learned, (width, height), interpolation=cv2.INTER_LINEAR), dtype=np.float32
    )
    return weight, _plain_backdrop(small)


def _plain_backdrop(rgb: Pixels) -> Pixels | None:
    """The backdrop as RGB (its fitted colour surface) when the frame's border is plain, else None."""
    height, width = rgb.shape[:2]
    lab = np.asarray(cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab), dtype=np.float32)
    background, noise = _fit_background(lab, _border_band(height, width))
    if noise > _PLAIN_NOISE:
        return None
    return to_uint8(cv2.cvtColor(background, cv2.COLOR_Lab2RGB) * 255.0)


def shrink(rgb: Pixels, side: int) -> Pixels:
    """Area-downscale so the longer side is at most ``side``."""
    height, width = rgb.shape[:2]
    factor = side / max(height, width)
    if factor >= 1.0:
        return rgb
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return np.ascontiguousarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))


def _segment(rgb: Pixels) -> tuple[npt.NDArray[np.bool_], Pixels | None]:
    """Subject mask by GrabCut from a border-colour prior, and the backdrop as RGB if it is plain."""
    height, width = rgb.shape[:2]
    if min(height, width) < 8:
        return np.ones((height, width), dtype=bool), None
    lab = np.asarray(cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab), dtype=np.float32)
    border = _border_band(height, width)
    background, noise = _fit_background(lab, border)
    low = max(3.0 * noise, 8.0)
    high = max(3.0 * low, 25.0)
    distance = _distance(lab - background)
    labels = np.full((height, width), cv2.GC_PR_BGD, dtype=np.uint8)
    labels[distance > low] = cv2.GC_PR_FGD
    # Only clearly different pixels deep inside a candidate are pinned as subject, so GrabCut
    # can still drop a mislabelled fringe.
    sure = cv2.erode((distance > high).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    labels[sure] = cv2.GC_FGD
    # The border is background where it looks like it: a subject cut by the frame (a portrait's
    # shoulders) keeps its border pixels as candidates.
    labels[border & (distance <= low)] = cv2.GC_BGD
    candidates = np.count_nonzero(labels == cv2.GC_PR_FGD) + np.count_nonzero(sure)
    plain = candidates >= 0.002 * height * width and np.count_nonzero(labels == cv2.GC_BGD) > 0
    if not plain:
        # No usable colour prior (busy or subject-coloured border): the classic GrabCut
        # rectangle, background outside a 5% frame, subject probable inside.
        labels[:] = cv2.GC_BGD
        my, mx = max(1, height // 20), max(1, width // 20)
        labels[my : height - my, mx : width - mx] = cv2.GC_PR_FGD
    bgd_model = np.zeros((1, 65), np.float64)
    fgd_model = np.zeros((1, 65), np.float64)
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    # GrabCut seeds its colour models with k-means on OpenCV's thread RNG: a fixed seed makes
    # the same upload give the same cut.
    cv2.setRNGSeed(0)
    try:
        cv2.grabCut(bgr, labels, (0, 0, 1, 1), bgd_model, fgd_model, _GRABCUT_ROUNDS, cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        pass  # degenerate colour statistics (e.g. a flat image): keep the prior as is
    subject = _tidy((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD), distance > low)
    if not plain or noise > _PLAIN_NOISE:
        return subject, None
    return subject, to_uint8(cv2.cvtColor(background, cv2.COLOR_Lab2RGB) * 255.0)


def _distance(difference: Floats) -> Floats:
    """CIE76 distance of each pixel from the backdrop, forgiving the backdrop's soft shadows."""
    # A cast shadow is a mild darkening with the same chroma, so up to _SHADOW_DEPTH of lost
    # lightness is forgiven: the shadow under a product or inside a mug's handle stays
    # backdrop, while a grey or dark subject is still far from it. The price: a subject patch
    # that looks exactly like shaded backdrop (a label in the backdrop's colour) may be lost.
    lightness = difference[:, :, 0]
    forgiven = np.where(lightness < 0, np.minimum(lightness + _SHADOW_DEPTH, 0.0), lightness)
    chroma = difference[:, :, 1] ** 2 + difference[:, :, 2] ** 2
    return np.asarray(cv2.GaussianBlur(np.sqrt(forgiven**2 + chroma), (0, 0), 1.0), dtype=np.float32)


def _border_band(height: int, width: int) -> npt.NDArray[np.bool_]:
    """A frame about 3% of the shorter side wide."""
    band = max(2, round(0.03 * min(height, width)))
    border = np.zeros((height, width), dtype=bool)
    border[:band, :] = border[-band:, :] = True
    border[:, :band] = border[:, -band:] = True
    return border


def _fit_background(lab: Floats, border: npt.NDArray[np.bool_]) -> tuple[Floats, float]:
    """Backdrop colour surface (quadratic, fitted robustly to the border) and the border's noise."""
    # A surface rather than one colour, so a studio gradient or vignette does not look like
    # subject; the noise (95th percentile distance of fitting pixels) sets the thresholds.
    height, width = lab.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    xs = xs / max(width - 1, 1) * 2.0 - 1.0
    ys = ys / max(height - 1, 1) * 2.0 - 1.0
    terms = np.stack([np.ones_like(xs), xs, ys, xs * xs, xs * ys, ys * ys], axis=2)
    design, samples = terms[border], lab[border]
    # Start from the median colour, which ignores a subject covering up to half the frame,
    # then let the surface grow (constant, plane, quadratic) on the pixels that fit so far.
    residual = np.linalg.norm(samples - np.median(samples, axis=0), axis=1)
    coefficients = np.zeros((terms.shape[2], 3), dtype=np.float32)
    inliers = np.ones(len(samples), dtype=bool)
    for used in (0, 3, 6, 6):
        if used:
            coefficients = np.zeros((terms.shape[2], 3), dtype=np.float32)
            coefficients[:used] = np.linalg.lstsq(design[inliers, :used], samples[inliers], rcond=None)[0]
            residual = np.linalg.norm(samples - design @ coefficients, axis=1)
        spread = 1.4826 * float(np.median(residual)) + 0.5
        inliers = residual < max(3.0 * spread, 4.0)
        if np.count_nonzero(inliers) < 24:
            inliers[:] = True  # too few to fit a surface: fall back to all of the border
    surface = np.asarray(terms @ coefficients, dtype=np.float32)
    noise = float(np.percentile(residual[inliers], 95))
    return surface, noise


def _tidy(subject: npt.NDArray[np.bool_], unlike_background: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Drop specks and fill holes that do not look like background."""
    mask = subject.astype(np.uint8)
    mask = np.asarray(cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)), dtype=np.uint8)
    count, components, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count > 1:
        areas = stats[1:, cv2.CC_STAT_AREA]
        keep = np.flatnonzero(areas >= max(0.02 * areas.max(), 16)) + 1
        mask = np.isin(components, keep).astype(np.uint8)
    count, holes, stats, _ = cv2.connectedComponentsWithStats(1 - mask, connectivity=4)
    height, width = mask.shape
    for index in range(1, count):
        x, y, w, h = stats[index, :4]
        if x == 0 or y == 0 or x + w == width or y + h == height:
            continue  # connected to the frame: real background
        hole = holes == index
        # A hole in the subject's texture is filled; a gap showing background (between an arm
        # and the body) stays.
        if np.count_nonzero(unlike_background & hole) > 0.5 * np.count_nonzero(hole):
            mask[hole] = 1
    return mask > 0


def _refine_edge(rgb: Pixels, subject: Floats, backdrop: Pixels | None) -> tuple[Pixels, Pixels | None]:
    """Alpha at ``rgb``'s size with a soft edge, and the local subject colour when matted."""
    # Only a band around the upscaled mask's edge is soft: the inside stays solid, the
    # background fully clear. Over a known plain backdrop each edge pixel is unmixed directly
    # (difference matting); elsewhere a colour guided filter snaps the edge to the image's.
    height, width = rgb.shape[:2]
    coarse = np.asarray(subject, dtype=np.float32)
    scale = width / subject.shape[1]
    if coarse.shape != (height, width):
        coarse = np.asarray(
            cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR), dtype=np.float32
        )
    radius = max(2, round(2 * scale))
    hard = (coarse > 0.5).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    band = (cv2.dilate(hard, kernel) != cv2.erode(hard, kernel)).astype(np.uint8)
    guide = rgb.astype(np.float32) / 255.0
    soft = np.clip(
        _guided_filter(
            guide, coarse, radius, 1e-4, near=np.asarray(cv2.dilate(band, kernel), dtype=np.uint8)
        ),
        0,
        1,
    )
    edge = band > 0
    alpha = np.where(edge, soft, hard.astype(np.float32))
    if backdrop is None:
        return to_uint8(alpha * 255.0), None
    colour, known = _subject_colour(rgb, hard, radius)
    pixel = rgb[edge].astype(np.float32)
    behind = backdrop[edge].astype(np.float32)
    span = colour[edge] - behind
    contrast = np.sum(span * span, axis=1)
    # Pixel = a * subject + (1 - a) * backdrop: a is the pixel's position along that line.
    unmixed = np.sum((pixel - behind) * span, axis=1) / np.maximum(contrast, 1.0)
    # Sensor noise alone moves a pixel a few percent along the line: a small dead zone at
    # both ends keeps the backdrop fully clear and the subject fully solid.
    unmixed = np.clip((unmixed - _MATTE_DEAD_ZONE) / (1.0 - 2.0 * _MATTE_DEAD_ZONE), 0.0, 1.0)
    # Where the subject's colour is unknown or too close to the backdrop's, trust the filter.
    usable = known[edge] & (contrast > 30.0**2)
    alpha[edge] = np.where(usable, unmixed, alpha[edge])
    return to_uint8(alpha * 255.0), to_uint8(colour)


def _subject_colour(rgb: Pixels, hard: Pixels, radius: int) -> tuple[Floats, npt.NDArray[np.bool_]]:
    """Colour of the nearby solid subject at every pixel (a normalised blur of the inside)."""
    inside = cv2.erode(hard, np.ones((2 * radius + 3, 2 * radius + 3), np.uint8))
    weight = inside.astype(np.float32)
    sigma = 2.0 * radius
    weighted = rgb.astype(np.float32) * weight[:, :, None]
    # The colour is as smooth as the blur: a wide one runs on a copy shrunk by up to a quarter
    # of sigma (a 2 MP image's blur costs a tenth), then is scaled back.
    step = max(1, round(sigma / 4.0))
    if step > 1:
        height, width = hard.shape
        size = (max(1, width // step), max(1, height // step))
        total = cv2.GaussianBlur(
            cv2.resize(weighted, size, interpolation=cv2.INTER_AREA), (0, 0), sigma / step
        )
        norm = cv2.GaussianBlur(cv2.resize(weight, size, interpolation=cv2.INTER_AREA), (0, 0), sigma / step)
        total = cv2.resize(total, (width, height), interpolation=cv2.INTER_LINEAR)
        norm = cv2.resize(norm, (width, height), interpolation=cv2.INTER_LINEAR)
    else:
        total = cv2.GaussianBlur(weighted, (0, 0), sigma)
        norm = cv2.GaussianBlur(weight, (0, 0), sigma)
    known = norm > 1e-3
    colour = np.asarray(total / np.maximum(norm, 1e-3)[:, :, None], dtype=np.float32)
    return colour, known


def _guided_filter(guide: Floats, source: Floats, radius: int, eps: float, *, near: Pixels) -> Floats:
    """He et al.'s colour guided filter of ``source`` by ``guide``, valid within ``near``."""
    # A colour guide separates subject and backdrop even where their brightness is equal. The
    # per-pixel 3x3 solve is the costly part, so it runs only where ``near`` is set (the band
    # dilated by the radius, all that the box means of the band need).
    size = (2 * radius + 1, 2 * radius + 1)

    def mean(values: Floats) -> Floats:
        """Box mean over the filter window."""
        return np.asarray(cv2.boxFilter(values, -1, size, borderType=cv2.BORDER_REFLECT))

    where = near > 0
    mean_i = mean(guide)
    mean_p = mean(source)
    cov_ip = mean(guide * source[:, :, None]) - mean_i * mean_p[:, :, None]
    # Per-pixel 3x3 covariance of the guide, regularised.
    var = np.empty((int(np.count_nonzero(where)), 3, 3), dtype=np.float32)
    for i in range(3):
        for j in range(i, 3):
            value = mean(guide[:, :, i] * guide[:, :, j]) - mean_i[:, :, i] * mean_i[:, :, j]
            var[:, i, j] = var[:, j, i] = value[where]
    var += eps * np.eye(3, dtype=np.float32)
    a = np.zeros_like(guide)
    a[where] = np.linalg.solve(var, cov_ip[where][:, :, None])[:, :, 0]
    b = mean_p - np.sum(a * mean_i, axis=2)
    return np.asarray(np.sum(mean(a) * guide, axis=2) + mean(b), dtype=np.float32)


def _decontaminate(rgb: Pixels, alpha: Pixels, backdrop: Pixels, colour: Pixels) -> Pixels:
    """Remove the backdrop's colour from semi-transparent edge pixels (no fringe of the old one)."""
    # An edge pixel is alpha * subject + (1 - alpha) * backdrop; with the backdrop known the
    # subject colour follows. Nearly transparent pixels carry too little subject to solve for
    # and take the nearby subject colour instead.
    height, width = rgb.shape[:2]
    edge = (alpha > 0) & (alpha < 255)
    if not edge.any():
        return rgb
    if backdrop.shape[:2] != (height, width):
        size = (width, height)
        backdrop = np.asarray(cv2.resize(backdrop, size, interpolation=cv2.INTER_LINEAR), dtype=np.uint8)
        colour = np.asarray(cv2.resize(colour, size, interpolation=cv2.INTER_LINEAR), dtype=np.uint8)
    a = alpha[edge].astype(np.float32)[:, None] / 255.0
    observed = rgb[edge].astype(np.float32)
    solved = (observed - (1.0 - a) * backdrop[edge].astype(np.float32)) / np.maximum(a, 0.25)
    out = rgb.copy()
    out[edge] = to_uint8(np.where(a >= 0.25, solved, colour[edge].astype(np.float32)))
    return out
