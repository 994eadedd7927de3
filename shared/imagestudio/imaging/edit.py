"""Local (no-provider) edit studio: background removal, inpainting, outpainting and recolouring.

Every function takes encoded image bytes and returns encoded bytes in ``output_format``
("png", "jpeg" or "webp") with metadata stripped. Masks are images of the same size as the
image, white = selected; grey values are partial selections. Everything is classical image
processing (OpenCV), so results are plausible rather than generative.
"""

from __future__ import annotations

import re
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

from imagestudio.errors import ImageTooLarge, ValidationFailed
from imagestudio.imaging._arrays import (
    Floats,
    Pixels,
    check_output_format,
    decode,
    decode_mask,
    encode,
    flatten_on_white,
    to_uint8,
)

__all__ = [
    "MAX_CANVAS_PIXELS",
    "MAX_GROW_MASK",
    "MAX_MARGIN",
    "erase",
    "inpaint",
    "mask_from_alpha",
    "outpaint",
    "recolor",
    "remove_background",
]

#: Largest ``grow_mask`` (pixels) inpaint and erase accept.
MAX_GROW_MASK: Final = 100
#: Largest outpaint margin (pixels) on any side.
MAX_MARGIN: Final = 2000
#: Largest outpainted canvas (8192 x 8192).
MAX_CANVAS_PIXELS: Final = 8192 * 8192

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
#: Holes deeper than this (pixels from the hole edge) are filled with Navier-Stokes, which
#: carries smooth shading further into large holes than Telea's fast marching.
_THICK_HOLE: Final = 10.0
#: Outpaint blur grows by this many pixels of sigma per pixel of distance from the image.
_OUTPAINT_BLUR_RATE: Final = 0.5
#: ... up to this sigma, so far regions are a soft wash of the image's colours.
_OUTPAINT_MAX_SIGMA: Final = 256.0
_HEX_COLOR: Final = re.compile(r"#?([0-9a-fA-F]{6})")


def remove_background(image: bytes, *, output_format: str = "png") -> bytes:
    """Cut the subject out: RGBA for png/webp, the subject flattened on white for jpeg."""
    check_output_format(output_format)
    pixels = decode(image)
    rgb = flatten_on_white(pixels) if pixels.shape[2] == 4 else pixels
    rgb, alpha = _cut_out(rgb)
    if pixels.shape[2] == 4:
        # An already transparent area stays transparent whatever the segmentation says.
        alpha = np.minimum(alpha, pixels[:, :, 3])
    return encode(np.dstack([rgb, alpha]), output_format)


def inpaint(image: bytes, mask: bytes | None, *, grow_mask: int = 5, output_format: str = "png") -> bytes:
    """Fill the masked area (white; or the transparent area when ``mask`` is None) from around it."""
    check_output_format(output_format)
    if not 0 <= grow_mask <= MAX_GROW_MASK:
        raise ValidationFailed("grow_mask", f"must be between 0 and {MAX_GROW_MASK}")
    pixels = decode(image)
    height, width = pixels.shape[:2]
    if mask is not None:
        selected = decode_mask(mask, width=width, height=height) > 127
    elif pixels.shape[2] == 4 and int(pixels[:, :, 3].min()) < 255:
        selected = pixels[:, :, 3] < 255
        # The fill makes the image whole: nothing is transparent afterwards.
        pixels = np.ascontiguousarray(pixels[:, :, :3])
    else:
        raise ValidationFailed("mask", "no mask given and the image has no transparent pixels")
    hole = selected.astype(np.uint8) * 255
    if grow_mask:
        # Masks drawn by hand or by a segmenter stop short of the object's halo and shadow.
        size = 2 * grow_mask + 1
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
        hole = np.asarray(cv2.dilate(hole, kernel), dtype=np.uint8)
    if not hole.any():
        return encode(pixels, output_format)
    if hole.all():
        raise ValidationFailed("mask", "the mask covers the whole image; nothing to fill from")
    return encode(_fill(pixels, hole), output_format)


def erase(image: bytes, mask: bytes | None, *, grow_mask: int = 5, output_format: str = "png") -> bytes:
    """Remove the masked object and fill its place; the same operation as ``inpaint``."""
    return inpaint(image, mask, grow_mask=grow_mask, output_format=output_format)


def outpaint(
    image: bytes,
    *,
    left: int = 0,
    right: int = 0,
    up: int = 0,
    down: int = 0,
    output_format: str = "png",
) -> bytes:
    """Extend the canvas by the margins, continuing the image with a mirror that blurs away."""
    check_output_format(output_format)
    margins = {"left": left, "right": right, "up": up, "down": down}
    for name, value in margins.items():
        if not 0 <= value <= MAX_MARGIN:
            raise ValidationFailed(name, f"must be between 0 and {MAX_MARGIN} pixels")
    if not any(margins.values()):
        raise ValidationFailed("margins", "at least one of left, right, up, down must be > 0")
    pixels = decode(image)
    height, width = pixels.shape[:2]
    out_w, out_h = width + left + right, height + up + down
    if out_w * out_h > MAX_CANVAS_PIXELS:
        raise ImageTooLarge("image", f"the canvas would be {out_w}x{out_h} pixels")
    return encode(_extend(pixels, left=left, right=right, up=up, down=down), output_format)


def recolor(image: bytes, mask: bytes | None, *, color: str, output_format: str = "png") -> bytes:
    """Give the masked area (default: the opaque part) the hue of ``color``, keeping its lightness."""
    check_output_format(output_format)
    target = _parse_color(color)
    pixels = decode(image)
    height, width = pixels.shape[:2]
    if mask is not None:
        weight = decode_mask(mask, width=width, height=height)
    elif pixels.shape[2] == 4:
        # A cut-out product: its visible part is what the user means to recolour.
        weight = pixels[:, :, 3].copy()
    else:
        weight = np.full((height, width), 255, dtype=np.uint8)
    return encode(_recolor(pixels, weight, target), output_format)


def mask_from_alpha(image: bytes) -> bytes | None:
    """The transparency as an ``inpaint`` mask PNG (white = transparent), None if fully opaque."""
    pixels = decode(image)
    # No alpha channel and an all-opaque one mean the same: nothing to fill.
    if pixels.shape[2] != 4 or int(pixels[:, :, 3].min()) == 255:
        return None
    return encode(np.ascontiguousarray(255 - pixels[:, :, 3]), "png")


# --- background removal ----------------------------------------------------------------


def _cut_out(rgb: Pixels) -> tuple[Pixels, Pixels]:
    """Segment an RGB image: its colours with background spill removed, and the alpha."""
    height, width = rgb.shape[:2]
    subject, backdrop = _segment(_shrink(rgb, _SEGMENT_SIDE))
    # The edge is refined at a bounded size: the filters need about twenty float planes.
    medium = _shrink(rgb, _REFINE_SIDE)
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


def _shrink(rgb: Pixels, side: int) -> Pixels:
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


def _refine_edge(
    rgb: Pixels, subject: npt.NDArray[np.bool_], backdrop: Pixels | None
) -> tuple[Pixels, Pixels | None]:
    """Alpha at ``rgb``'s size with a soft edge, and the local subject colour when matted."""
    # Only a band around the upscaled mask's edge is soft: the inside stays solid, the
    # background fully clear. Over a known plain backdrop each edge pixel is unmixed directly
    # (difference matting); elsewhere a colour guided filter snaps the edge to the image's.
    height, width = rgb.shape[:2]
    coarse = subject.astype(np.float32)
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
    total = cv2.GaussianBlur(rgb.astype(np.float32) * weight[:, :, None], (0, 0), sigma)
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


# --- inpainting --------------------------------------------------------------------------


def _fill(pixels: Pixels, hole: Pixels) -> Pixels:
    """Inpaint every channel of ``pixels`` under ``hole`` (uint8, 255 = fill)."""
    depth = float(cv2.distanceTransform(hole, cv2.DIST_L2, 3).max())
    method = cv2.INPAINT_NS if depth > _THICK_HOLE else cv2.INPAINT_TELEA
    rgb = cv2.inpaint(np.ascontiguousarray(pixels[:, :, :3]), hole, 3, method)
    if pixels.shape[2] == 3:
        return np.asarray(rgb, dtype=np.uint8)
    alpha = cv2.inpaint(np.ascontiguousarray(pixels[:, :, 3]), hole, 3, method)
    return np.dstack([rgb, alpha])


# --- outpainting -------------------------------------------------------------------------


def _extend(pixels: Pixels, *, left: int, right: int, up: int, down: int) -> Pixels:
    """Mirror the image into the margins, blurring more with distance, plus matching grain."""
    # Each canvas pixel mixes the two blur levels (sigma 0, 1, 2, 4, ...) around its own
    # sigma: a per-pixel variable blur without a per-pixel kernel. Wide levels vary slowly, so
    # they are mixed on a quarter-size canvas; only a thin frame next to the image needs the
    # sharp ones at full size.
    height, width, channels = pixels.shape
    canvas = cv2.copyMakeBorder(pixels, up, down, left, right, cv2.BORDER_REFLECT)
    out_h, out_w = canvas.shape[:2]
    image_box = (left, up, left + width, up + height)
    sharp_levels = 3  # sigma 0, 1 and 2

    small_size = (max(1, -(-out_w // 4)), max(1, -(-out_h // 4)))
    small = cv2.resize(canvas, small_size, interpolation=cv2.INTER_AREA).astype(np.float32)
    xs = (np.arange(small_size[0], dtype=np.float32) + 0.5) * (out_w / small_size[0]) - 0.5
    ys = (np.arange(small_size[1], dtype=np.float32) + 0.5) * (out_h / small_size[1]) - 0.5
    position = _blur_position(xs, ys, image_box)
    wide = np.zeros(small.shape, dtype=np.float32)
    wide_weight = np.zeros(small.shape[:2], dtype=np.float32)
    for level in range(sharp_levels, int(np.ceil(position.max())) + 1):
        weight = np.clip(1.0 - np.abs(position - level), 0.0, 1.0)
        if weight.any():
            # Sigma 2 ** (level - 1) at full size is a quarter of that here.
            blurred = _blur(small, 2.0 ** (level - 1) / 4.0)
            wide += blurred * weight[:, :, None]
            wide_weight += weight
    upscaled = cv2.resize(wide, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
    result = np.asarray(upscaled, dtype=np.float32).reshape(out_h, out_w, channels)
    share = np.asarray(cv2.resize(wide_weight, (out_w, out_h), interpolation=cv2.INTER_LINEAR))

    # The sharp levels, at full size, inside the frame where they have weight (sigma < 4).
    pad = int(np.ceil(4.0 / _OUTPAINT_BLUR_RATE)) + 2
    x0, y0 = max(left - pad, 0), max(up - pad, 0)
    x1, y1 = min(left + width + pad, out_w), min(up + height + pad, out_h)
    frame = canvas[y0:y1, x0:x1].astype(np.float32)
    near_x = np.arange(x0, x1, dtype=np.float32)
    near_y = np.arange(y0, y1, dtype=np.float32)
    near_position = _blur_position(near_x, near_y, image_box)
    near = np.zeros(frame.shape, dtype=np.float32)
    near_weight = np.zeros(frame.shape[:2], dtype=np.float32)
    for level in range(sharp_levels):
        weight = np.clip(1.0 - np.abs(near_position - level), 0.0, 1.0)
        blurred = frame if level == 0 else _blur(frame, 2.0 ** (level - 1))
        near += blurred * weight[:, :, None]
        near_weight += weight
    # The wide mix is renormalised to the weight the sharp levels leave, since its upscaled
    # weights only approximately complete theirs to one.
    result /= np.maximum(share, 1e-3)[:, :, None]
    rest = np.clip(1.0 - near_weight, 0.0, 1.0)[:, :, None]
    result[y0:y1, x0:x1] = near + result[y0:y1, x0:x1] * rest
    grain = _grain(pixels, out_h, out_w)
    if grain is not None:
        # No grain at the seam, full grain once the blur has wiped out the image's own.
        sigma = np.where(near_position < 1.0, near_position, 2.0 ** (near_position - 1.0))
        grain[y0:y1, x0:x1] *= np.clip(sigma / 2.0, 0.0, 1.0)
        for channel in range(3):  # colour only: grain in alpha would speckle the transparency
            result[:, :, channel] += grain
    out = to_uint8(result)
    out[up : up + height, left : left + width] = pixels
    return out


def _blur_position(xs: Floats, ys: Floats, box: tuple[int, int, int, int]) -> Floats:
    """Blur level (0 = sharp, k = sigma 2 ** (k - 1)) of canvas pixels by distance from ``box``."""
    x0, y0, x1, y1 = box
    dx = np.maximum(np.maximum(x0 - xs, xs - (x1 - 1)), 0.0)
    dy = np.maximum(np.maximum(y0 - ys, ys - (y1 - 1)), 0.0)
    distance = np.hypot(dy[:, None], dx[None, :])
    sigma = np.minimum(distance * _OUTPAINT_BLUR_RATE, _OUTPAINT_MAX_SIGMA)
    return np.asarray(np.where(sigma >= 1.0, np.log2(np.maximum(sigma, 1.0)) + 1.0, sigma), dtype=np.float32)


def _blur(values: Floats, sigma: float) -> Floats:
    """Gaussian blur that works at a reduced size for large sigmas (cost independent of sigma)."""
    if sigma <= 4.0:
        return np.asarray(cv2.GaussianBlur(values, (0, 0), sigma), dtype=np.float32)
    height, width = values.shape[:2]
    shrink = sigma / 2.0
    size = (max(1, round(width / shrink)), max(1, round(height / shrink)))
    small = cv2.resize(values, size, interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 2.0)
    return np.asarray(
        cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR), dtype=np.float32
    ).reshape(values.shape)


def _grain(pixels: Pixels, height: int, width: int) -> Floats | None:
    """Noise as strong as the image's own fine grain, so blurred margins do not look plastic."""
    luma = cv2.cvtColor(pixels[:, :, :3], cv2.COLOR_RGB2GRAY).astype(np.float32)
    detail = luma - cv2.GaussianBlur(luma, (0, 0), 1.0)
    strength = 1.4826 * float(np.median(np.abs(detail)))
    if strength < 0.25:
        return None
    # Seeded from the size so the same request gives the same bytes.
    rng = np.random.default_rng(height * 100_003 + width)
    noise = rng.standard_normal((height, width), dtype=np.float32)
    noise *= strength
    return noise


# --- recolouring -------------------------------------------------------------------------


def _parse_color(color: str) -> tuple[int, int, int]:
    """Parse "#rrggbb" into an RGB triple."""
    match = _HEX_COLOR.fullmatch(color.strip())
    if match is None:
        raise ValidationFailed("color", 'must be a hex colour such as "#1e90ff"')
    value = match.group(1)
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def _recolor(pixels: Pixels, weight: Pixels, target: tuple[int, int, int]) -> Pixels:
    """Set hue and chroma to the target's in LAB, keep L; blend by ``weight`` (0..255)."""
    selected = weight > 0
    if not selected.any():
        return pixels
    rgb = pixels[:, :, :3].astype(np.float32) / 255.0
    lab = cv2.cvtColor(rgb[selected][None, :, :], cv2.COLOR_RGB2Lab)[0]
    swatch = np.array([[target]], dtype=np.float32) / 255.0
    target_ab = np.asarray(cv2.cvtColor(swatch, cv2.COLOR_RGB2Lab)[0, 0, 1:], dtype=np.float32)
    new_rgb = _in_gamut(lab[:, 0], target_ab)
    # A binary mask gets a one-pixel feather inward only, so pixels outside stay untouched.
    soft = weight.astype(np.float32) / 255.0
    if np.isin(weight, (0, 255)).all():
        soft = np.minimum(soft, cv2.GaussianBlur(soft, (0, 0), 0.8))
    blend = soft[selected][:, None]
    out = pixels.copy()
    old = rgb[selected]
    out[:, :, :3][selected] = to_uint8((old * (1.0 - blend) + new_rgb * blend) * 255.0)
    return out


def _in_gamut(lightness: Floats, target_ab: Floats) -> Floats:
    """RGB of lightness L in the target's hue, at the target's chroma or the most sRGB holds."""
    # Clipping an out-of-gamut colour per channel would shift its hue; shrinking chroma keeps it.
    full, fits = _rgb(lightness, target_ab, np.ones_like(lightness))
    if fits.all():
        return full
    light = lightness[~fits]
    low, high = np.zeros_like(light), np.ones_like(light)
    for _ in range(10):  # bisection on the chroma factor: 0.1% precision
        middle = (low + high) / 2.0
        inside = _rgb(light, target_ab, middle)[1]
        low = np.where(inside, middle, low)
        high = np.where(inside, high, middle)
    full[~fits] = _rgb(light, target_ab, low)[0]
    return full


def _rgb(lightness: Floats, target_ab: Floats, factor: Floats) -> tuple[Floats, npt.NDArray[np.bool_]]:
    """Convert (L, factor * target a/b) to RGB 0..1 (clipped); also which were inside sRGB."""
    lab = np.empty((len(lightness), 3), dtype=np.float32)
    lab[:, 0] = lightness
    lab[:, 1:] = factor[:, None] * target_ab[None, :]
    rgb = cv2.cvtColor(lab[None, :, :], cv2.COLOR_Lab2RGB)[0]
    # OpenCV clips out-of-gamut results, so a colour fits when it survives the round trip.
    back = cv2.cvtColor(rgb[None, :, :], cv2.COLOR_RGB2Lab)[0]
    fits = np.linalg.norm(back - lab, axis=1) < 1.0
    return rgb, fits
