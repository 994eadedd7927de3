"""Local (no-provider) edit studio: background removal, inpainting, outpainting and recolouring.

Every function takes encoded image bytes and returns encoded bytes in ``output_format``
("png", "jpeg" or "webp") with metadata stripped. Masks are images of the same size as the
image, white = selected; grey values are partial selections. Everything is classical image
processing (OpenCV), so results are plausible rather than generative.
"""

from __future__ import annotations

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
from imagestudio.imaging.colour import parse_hex
from imagestudio.imaging.cutout import cut_out, cut_out_mask, shrink

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
    "select_object",
]

#: Largest ``grow_mask`` (pixels) inpaint and erase accept.
MAX_GROW_MASK: Final = 100
#: Largest outpaint margin (pixels) on any side.
MAX_MARGIN: Final = 2000
#: Largest outpainted canvas (8192 x 8192).
MAX_CANVAS_PIXELS: Final = 8192 * 8192

#: Longest side of the copy the erase selection segments (the cut-out's own segmentation side).
_SELECT_SIDE: Final = 400
#: A click this far (fraction of the copy's longer side) from the object still selects it.
_POINT_SLACK: Final = 0.01

#: Holes deeper than this (pixels from the hole edge) are filled with Navier-Stokes, which
#: carries smooth shading further into large holes than Telea's fast marching.
_THICK_HOLE: Final = 10.0
#: Outpaint blur grows by this many pixels of sigma per pixel of distance from the image.
_OUTPAINT_BLUR_RATE: Final = 0.5
#: ... up to this sigma, so far regions are a soft wash of the image's colours.
_OUTPAINT_MAX_SIGMA: Final = 256.0


def remove_background(image: bytes, *, output_format: str = "png") -> bytes:
    """Cut the subject out: RGBA for png/webp, the subject flattened on white for jpeg."""
    check_output_format(output_format)
    pixels = decode(image)
    rgb = flatten_on_white(pixels) if pixels.shape[2] == 4 else pixels
    rgb, alpha = cut_out(rgb)
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


def erase(
    image: bytes,
    mask: bytes | None,
    *,
    point: tuple[int, int] | None = None,
    grow_mask: int = 5,
    output_format: str = "png",
) -> bytes:
    """Remove the masked object and fill its place; the same operation as ``inpaint``.

    Without a mask, ``point`` (x, y in source pixels) selects the object under it: the connected
    part of the cut-out's subject mask (:func:`~imagestudio.imaging.cutout.cut_out_mask`, the
    learned model where installed) that holds the point.
    """
    if mask is None and point is not None:
        check_output_format(output_format)
        mask = encode(select_object(decode(image), point), "png")
    return inpaint(image, mask, grow_mask=grow_mask, output_format=output_format)


def select_object(pixels: Pixels, point: tuple[int, int]) -> Pixels:
    """The object under ``point`` as a full-size mask (uint8, 255 = selected).

    The subject weight of a small copy is cut at one half; the connected region holding the point
    (or the nearest subject pixel within ``_POINT_SLACK`` of the small copy's side, so a click on
    a soft edge still counts) is the object. Its weight is scaled to full size and cut again, so
    the edge is smooth rather than blocky.
    """
    height, width = pixels.shape[:2]
    x, y = point
    if not 0 <= x < width:
        raise ValidationFailed("point_x", f"must be within the image's width (0 to {width - 1})")
    if not 0 <= y < height:
        raise ValidationFailed("point_y", f"must be within the image's height (0 to {height - 1})")
    rgb = flatten_on_white(pixels) if pixels.shape[2] == 4 else pixels
    small = shrink(rgb, _SELECT_SIDE)
    small_h, small_w = small.shape[:2]
    weight, _ = cut_out_mask(small)
    count, labels = cv2.connectedComponents((weight > 0.5).astype(np.uint8), connectivity=8)
    sx = min(small_w - 1, int((x + 0.5) * small_w / width))
    sy = min(small_h - 1, int((y + 0.5) * small_h / height))
    label = _label_near(
        np.asarray(labels, dtype=np.int32), sx, sy, max(1, round(_POINT_SLACK * max(small_w, small_h)))
    )
    if count <= 1 or label == 0:
        raise ValidationFailed(
            "point_x", f"the point ({x}, {y}) is on the background: no object was found under it to erase"
        )
    region = np.where(labels == label, weight, 0.0).astype(np.float32)
    full = np.asarray(cv2.resize(region, (width, height), interpolation=cv2.INTER_LINEAR), dtype=np.float32)
    return ((full > 0.5) * 255).astype(np.uint8)


def _label_near(labels: npt.NDArray[np.int32], x: int, y: int, slack: int) -> int:
    """The label at (x, y), else the nearest non-zero label within ``slack`` pixels, else 0."""
    if labels[y, x]:
        return int(labels[y, x])
    top, left = max(0, y - slack), max(0, x - slack)
    window = labels[top : y + slack + 1, left : x + slack + 1]
    ys, xs = np.nonzero(window)
    if ys.size == 0:
        return 0
    distance = (ys + top - y) ** 2 + (xs + left - x) ** 2
    nearest = int(np.argmin(distance))
    if distance[nearest] > slack * slack:
        return 0
    return int(window[ys[nearest], xs[nearest]])


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
    target = parse_hex(color, field="color")
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
