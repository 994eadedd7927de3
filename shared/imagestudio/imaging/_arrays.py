"""Numpy adaptors over :mod:`imagestudio.imaging.codec` for the local studios: decode to arrays, encode back."""

from __future__ import annotations

from typing import Final, TypeAlias, cast

import numpy as np
import numpy.typing as npt
import pyvips  # type: ignore[import-untyped, unused-ignore]

from imagestudio.errors import InvalidImage, ValidationFailed
from imagestudio.imaging import codec
from imagestudio.imaging.formats import OutputFormat
from imagestudio.imaging.source import SourceImage

#: An H x W x 3 (RGB) or H x W x 4 (RGBA) image, or an H x W mask, 8 bits per sample.
Pixels: TypeAlias = npt.NDArray[np.uint8]
#: Float working copy of ``Pixels``, 0..1.
Floats: TypeAlias = npt.NDArray[np.float32]

#: Output formats every local function accepts; "jpg" is a forgiving alias of "jpeg".
OUTPUT_FORMATS: Final = ("png", "jpeg", "webp")
#: JPEG/WebP quality used when a caller does not choose one.
DEFAULT_QUALITY: Final = 92
#: A backstop only: uploads were refused over ``MAX_IMAGE_PIXELS`` and the local limits from their
#: header, and the local paths accept at most 16,777,216 pixels; this limit is never the one that refuses.
_DECODE_MAX_PIXELS: Final = 1 << 28


def decode(data: bytes, *, field: str = "image") -> Pixels:
    """Decode an upload to an upright sRGB uint8 array with 3 (RGB) or 4 (RGBA) channels.

    The same decoder as the social studio's (``SourceImage.load``): every format the gateway
    accepts from the header (BMP through Pillow too), EXIF orientation applied, and a truncated or
    corrupt file an ``InvalidImage`` naming ``field``. The pixel limit was checked from the header
    when the upload was accepted; the local paths' own, lower limits were checked then as well.
    """
    image = SourceImage.load(data, max_pixels=_DECODE_MAX_PIXELS, field=field).image
    try:
        array = image.numpy()
    except (pyvips.Error, ValueError, TypeError) as exc:
        raise InvalidImage(field, "the image could not be decoded") from exc
    if array.ndim == 2:
        array = array[:, :, None]
    if array.shape[2] < 3:  # grey (+ alpha) that colourspace left alone
        grey = np.repeat(array[:, :, :1], 3, axis=2)
        array = np.concatenate([grey, array[:, :, 1:2]], axis=2) if array.shape[2] == 2 else grey
    return np.ascontiguousarray(array[:, :, :4], dtype=np.uint8)


def decode_mask(data: bytes, *, width: int, height: int, field: str = "mask") -> Pixels:
    """Decode a mask upload to H x W uint8 (white = selected); a transparent pixel is unselected."""
    pixels = decode(data, field=field)
    if pixels.shape[:2] != (height, width):
        got_h, got_w = pixels.shape[:2]
        raise ValidationFailed(field, f"mask is {got_w}x{got_h} but the image is {width}x{height}")
    grey = luminance(pixels[:, :, :3])
    if pixels.shape[2] == 4:
        # Editors export masks as white strokes on a transparent layer: only painted pixels count.
        grey = grey * (pixels[:, :, 3].astype(np.float32) / 255.0)
    return to_uint8(grey)


def encode(pixels: Pixels, output_format: str, *, quality: int = DEFAULT_QUALITY) -> bytes:
    """Encode RGB(A) or grey pixels with the one encoder (``codec.encode``): progressive JPEG, tuned WebP."""
    fmt = check_output_format(output_format)
    check_quality(quality)
    bands = 1 if pixels.ndim == 2 else pixels.shape[2]
    interpretation = "b-w" if bands < 3 else "srgb"
    image = pyvips.Image.new_from_array(np.ascontiguousarray(pixels), interpretation=interpretation)
    data, _, _ = codec.encode(image, output_format=cast(OutputFormat, fmt), quality=quality)
    return data


def check_output_format(output_format: str) -> str:
    """Return the canonical output format name or raise ``ValidationFailed``."""
    fmt = output_format.lower()
    fmt = "jpeg" if fmt == "jpg" else fmt
    if fmt not in OUTPUT_FORMATS:
        raise ValidationFailed("output_format", f"must be one of {', '.join(OUTPUT_FORMATS)}")
    return fmt


def check_quality(quality: int) -> None:
    """Raise ``ValidationFailed`` unless ``quality`` is 1..100."""
    if not 1 <= quality <= 100:
        raise ValidationFailed("quality", "must be between 1 and 100")


def flatten_on_white(pixels: Pixels) -> Pixels:
    """Composite RGBA over white (JPEG has no alpha)."""
    rgb = pixels[:, :, :3].astype(np.float32)
    alpha = pixels[:, :, 3:4].astype(np.float32) / 255.0
    return to_uint8(rgb * alpha + 255.0 * (1.0 - alpha))


def luminance(rgb: Pixels) -> Floats:
    """Rec. 601 luma of RGB pixels as float32 0..255."""
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.asarray(rgb.astype(np.float32) @ weights, dtype=np.float32)


def to_uint8(values: npt.NDArray[np.floating]) -> Pixels:
    """Round and clip float pixels in 0..255 to uint8."""
    return np.asarray(np.clip(values + 0.5, 0, 255), dtype=np.uint8)
