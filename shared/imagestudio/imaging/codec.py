"""Validating uploads (from the header), decoding them (in the worker) and encoding outputs."""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass
from typing import Final, Literal, get_args

import numpy as np
import pyvips  # type: ignore[import-untyped, unused-ignore]
from PIL import Image as PILImage

from imagestudio.errors import ImageTooLarge, InvalidImage, ValidationFailed

from .formats import QUALITY_RANGE, OutputFormat

__all__ = [
    "ImageInfo",
    "Rendered",
    "SubjectPlacement",
    "ZoomLimit",
    "encode",
    "has_transparency",
    "inspect_image",
    "to_srgb",
    "verify_pixels",
]

#: libvips loaders we accept, by the format name we report. Anything else libvips can read
#: (its own .v format, matrices, FITS, ...) is not an upload a client should be sending.
_VIPS_FORMATS: Final[dict[str, str]] = {
    "jpegload": "jpeg",
    "pngload": "png",
    "webpload": "webp",
    "gifload": "gif",
    "tiffload": "tiff",
    "heifload": "heif",
}
#: Formats the bundled libvips cannot read but Pillow can, decoded through Pillow.
_PILLOW_FORMATS: Final[dict[str, str]] = {"BMP": "bmp"}
#: The lowest JPEG/WebP quality ``encode`` steps down to when chasing a byte limit; below it
#: blocking artefacts make a social post look broken, so we report the miss instead.
QUALITY_FLOOR: Final = 40
#: What a client is told it may upload.
_SUPPORTED: Final = "JPEG, PNG, WebP, GIF, TIFF, HEIF/AVIF or BMP"
#: Frames (animation frames, TIFF pages/IFDs, HEIF images) an upload may have, however small:
#: each costs a decoder its per-frame work, and a TIFF of 100,000 one-pixel pages passes any
#: pixel limit while libtiff walks its IFD chain for seconds.
MAX_FRAMES: Final = 1000


@dataclass(frozen=True)
class ImageInfo:
    """What an upload is, read from its header: format, upright size, alpha and EXIF orientation."""

    format: str
    width: int
    height: int
    has_alpha: bool
    orientation: int
    #: Frames of an animation or pages of a multi-page file, each ``width`` x ``height``.
    frames: int = 1


def inspect_image(data: bytes, *, max_pixels: int, max_bytes: int, field: str = "image") -> ImageInfo:
    """Validate an upload from its header alone and describe it; no pixel is decoded.

    Checked: the byte limit; the format, sniffed from the bytes (never the client's content type);
    the pixel limit per frame and, for animations and multi-page files, over every frame (a
    decompression-bomb guard that needs only the header). EXIF orientation and alpha are read from
    the header too. A file whose header is sound but whose data is truncated or corrupt passes: the
    worker's one full decode (``SourceImage.load``, ``verify_pixels``, the local studios' decoders)
    finds it and fails the job with ``InvalidImage``.
    """
    if len(data) > max_bytes:
        raise ImageTooLarge(field, f"the file is {len(data):,} bytes; the limit is {max_bytes:,} bytes")
    # Sequential access: opening reads the header only; nothing is decoded until pixels are asked for.
    opened = _open(data, max_pixels=max_pixels, field=field, access="sequential")
    width, height = opened.width, opened.height
    if opened.orientation >= 5:  # 5..8 turn the image a quarter: the viewer swaps the sides
        width, height = height, width
    return ImageInfo(
        format=opened.format,
        width=width,
        height=height,
        has_alpha=opened.has_alpha,
        orientation=opened.orientation,
        frames=opened.frames,
    )


def verify_pixels(data: bytes, *, max_pixels: int, field: str = "image") -> None:
    """Decode every pixel once, streaming, and raise ``InvalidImage`` naming ``field`` if any is unreadable.

    The worker's check of an upload it passes on as bytes (to a provider): the gateway only read
    the header, so truncation and corrupt data surface here, before anything is sent.
    """
    opened = _open(data, max_pixels=max_pixels, field=field, access="sequential")
    if opened.vips is None:
        _pillow_decode(opened.pillow_data, field, opened.format)
        return
    try:
        # A streaming reduction makes libvips decode every pixel without holding the image in memory.
        opened.vips.avg()
    except pyvips.Error as exc:
        raise _decode_error(field, opened.format) from exc


def has_transparency(data: bytes, *, max_pixels: int, field: str = "image") -> bool:
    """Whether any pixel is less than fully opaque, read streaming (the image is never held whole).

    The worker's decision for an edit that fills transparent pixels: the gateway only knows from
    the header that there is an alpha channel.
    """
    opened = _open(data, max_pixels=max_pixels, field=field, access="sequential")
    if not opened.has_alpha:
        return False
    image = (
        opened.vips if opened.vips is not None else _pillow_decode(opened.pillow_data, field, opened.format)
    )
    try:
        alpha = image.extract_band(int(image.bands) - 1)
        return bool(alpha.min() < _OPAQUE.get(str(image.format), 255))
    except pyvips.Error as exc:
        raise _decode_error(field, opened.format) from exc


#: The opaque alpha value of each libvips sample format an upload decodes to (8-bit when absent).
_OPAQUE: Final[dict[str, float]] = {
    "ushort": 65535,
    "short": 32767,
    "uint": 4294967295,
    "float": 1.0,
    "double": 1.0,
}


@dataclass(frozen=True)
class Rendered:
    """One encoded output and how it was made."""

    data: bytes
    width: int
    height: int
    format: OutputFormat
    content_type: str
    #: Quality actually used (lower than asked when chasing a byte limit); None for PNG.
    quality: int | None
    #: (left, top, width, height) cut from the upright source; None when the whole image was fitted.
    crop_box: tuple[int, int, int, int] | None
    #: False when even the lowest quality could not get under the byte limit.
    fits_size_limit: bool
    #: Where the faces or subject landed in a smart crop; None for fit, centre and focal-point renders.
    subject: SubjectPlacement | None = None


#: Why a crop's zoom is what it is, so a subject left outside the safe zone at zoom 1.0 says why:
#: "none" (placed inside the safe zone at the least zoom that does it, 1.0 when none is needed),
#: "bound" (inside needs more zoom than the zoom bound, ``max_zoom``), "source_resolution" (inside
#: needs more zoom than the source has pixels for: the crop would be smaller than the output),
#: "no_zoom_fits" (no zoom places it: larger than the safe area, or too near the source's edge),
#: "no_safe_zone" (the format has no bands to clear) and "not_placed" (the crop was not placed on
#: faces or a subject: centre, focal point, fit, a crop set by hand, the salient peak).
ZoomLimit = Literal["none", "bound", "source_resolution", "no_zoom_fits", "no_safe_zone", "not_placed"]


@dataclass(frozen=True)
class SubjectPlacement:
    """Where a crop put what it was placed on, in output pixels, and whether that is clear of platform UI."""

    #: "faces", "subject" or "attention" (see ``imaging.crop.CropPlan``).
    placed_on: str
    #: (left, top, width, height) in output pixels, clipped to the output; None for "attention".
    box: tuple[int, int, int, int] | None
    #: Whether ``box`` lies inside the safe zone; None when there is no box or no safe zone.
    inside_safe_zone: bool | None
    #: Faces found in the source.
    faces: int
    #: The largest box's side over the crop's: above 1.0 when zoomed in to clear the safe zone.
    zoom: float = 1.0
    #: What held the zoom there, so a subject outside the safe zone at 1.0 says why
    #: (``imaging.crop.ZoomLimit``: "none" when it is inside).
    zoom_limit: ZoomLimit = "not_placed"


def encode(
    image: pyvips.Image,
    *,
    output_format: OutputFormat,
    quality: int,
    max_bytes: int | None = None,
) -> tuple[bytes, int | None, bool]:
    """Encode sRGB without metadata, stepping quality down to fit ``max_bytes``: (data, quality, fits)."""
    if output_format not in get_args(OutputFormat):
        raise ValidationFailed("output_format", f"must be one of {', '.join(get_args(OutputFormat))}")
    if not QUALITY_RANGE[0] <= quality <= QUALITY_RANGE[1]:
        raise ValidationFailed(
            "quality", f"must be between {QUALITY_RANGE[0]} and {QUALITY_RANGE[1]}, got {quality}"
        )
    if not (image.bands == 1 and image.format == "uchar"):  # 8-bit grey (a mask) stays grey
        image = to_srgb(image)
    if output_format == "jpeg" and image.hasalpha():
        image = image.flatten(background=[255, 255, 255])

    if output_format == "png":
        data = _encode_once(image, "png", 6)
        if max_bytes is not None and len(data) > max_bytes:
            data = _encode_once(image, "png", 9)  # lossless: maximum effort is all we can do
        return data, None, max_bytes is None or len(data) <= max_bytes

    data = _encode_once(image, output_format, quality)
    if max_bytes is None or len(data) <= max_bytes:
        return data, quality, True
    floor = min(QUALITY_FLOOR, quality)
    if floor == quality:
        return data, quality, False
    smallest = _encode_once(image, output_format, floor)
    if len(smallest) > max_bytes:
        return smallest, floor, False
    # Binary search for the best quality that fits: size grows (almost) monotonically with
    # quality, and keeping ``best`` a fitting encode means the answer always fits.
    best, best_quality = smallest, floor
    low, high = floor, quality  # low fits, high does not
    while high - low > 1:
        middle = (low + high) // 2
        attempt = _encode_once(image, output_format, middle)
        if len(attempt) <= max_bytes:
            best, best_quality, low = attempt, middle, middle
        else:
            high = middle
    return best, best_quality, True


@dataclass(frozen=True)
class _Opened:
    """An upload whose header passed the pixel limit, not yet decoded."""

    format: str
    width: int
    height: int
    orientation: int
    #: From the header: the band count and interpretation (libvips), the mode (Pillow).
    has_alpha: bool
    vips: pyvips.Image | None  # None when Pillow must decode it
    pillow_data: bytes = b""
    frames: int = 1


def _open(data: bytes, *, max_pixels: int, field: str, access: Literal["sequential", "random"]) -> _Opened:
    """Read only the header, identify the format and refuse it when over ``max_pixels`` or ``MAX_FRAMES``."""
    if not data:
        raise InvalidImage(field, f"the file is empty; expected {_SUPPORTED}")
    if data.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        # Counted here, bounded, before libtiff walks the whole IFD chain to count the pages.
        _check_frames(_tiff_pages(data, limit=MAX_FRAMES), field)
    try:
        # fail_on="error" turns libjpeg/libpng complaints (truncation, corrupt data) into
        # errors instead of the grey fill libvips would otherwise substitute.
        image = pyvips.Image.new_from_buffer(data, "", fail_on="error", access=access)
    except pyvips.Error as exc:
        sniffed = _sniff(data)
        if sniffed is not None:
            # libvips knows this format, so its refusal means a damaged file, not an unknown one.
            raise _decode_error(field, sniffed) from exc
        return _open_with_pillow(data, max_pixels=max_pixels, field=field)
    loader = str(image.get("vips-loader")).removesuffix("_buffer").removesuffix("_source")
    fmt = _VIPS_FORMATS.get(loader)
    if fmt is None:
        raise InvalidImage(field, f"unsupported image format; expected {_SUPPORTED}")
    # Animated GIF/WebP and multi-page TIFF/HEIF: the header counts the frames, each this size.
    frames = int(image.get("n-pages")) if image.get_typeof("n-pages") else 1
    _check_frames(frames, field)
    _check_pixels(int(image.width), int(image.height), max_pixels, field, frames=frames)
    orientation = int(image.get("orientation")) if image.get_typeof("orientation") else 1
    return _Opened(
        format=fmt,
        width=int(image.width),
        height=int(image.height),
        orientation=orientation if 1 <= orientation <= 8 else 1,
        has_alpha=bool(image.hasalpha()),
        vips=image,
        frames=frames,
    )


def _open_with_pillow(data: bytes, *, max_pixels: int, field: str) -> _Opened:
    """Identify a format libvips cannot read (BMP) from its header via Pillow."""
    try:
        with warnings.catch_warnings():
            # We apply our own pixel limit below; Pillow's bomb warning would only be noise.
            warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
            with PILImage.open(io.BytesIO(data)) as probe:
                pil_format, (width, height) = probe.format or "", probe.size
                has_alpha = "A" in probe.getbands() or "transparency" in probe.info
                frames = int(getattr(probe, "n_frames", 1))
    except PILImage.DecompressionBombError as exc:
        raise ImageTooLarge(field, f"the image has more than {max_pixels:,} pixels") from exc
    except (OSError, ValueError, SyntaxError) as exc:  # Pillow's "not an image" family
        raise InvalidImage(field, f"not a recognised image; expected {_SUPPORTED}") from exc
    fmt = _PILLOW_FORMATS.get(pil_format)
    if fmt is None:
        raise InvalidImage(field, f"unsupported image format; expected {_SUPPORTED}")
    _check_frames(frames, field)
    _check_pixels(width, height, max_pixels, field, frames=frames)
    return _Opened(
        format=fmt,
        width=width,
        height=height,
        orientation=1,
        has_alpha=has_alpha,
        vips=None,
        pillow_data=data,
        frames=frames,
    )


def _sniff(data: bytes) -> str | None:
    """The libvips-readable format the leading bytes announce, if any."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if data.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    if data[4:8] == b"ftyp" and data[8:12] in {b"heic", b"heix", b"mif1", b"msf1", b"avif", b"avis"}:
        return "heif"
    return None


def _pillow_decode(data: bytes, field: str, fmt: str) -> pyvips.Image:
    """Fully decode a Pillow-only format into a libvips image, keeping its ICC profile."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
            with PILImage.open(io.BytesIO(data)) as opened:
                opened.load()
                icc = opened.info.get("icc_profile")
                has_alpha = "A" in opened.getbands() or "transparency" in opened.info
                pixels = np.asarray(opened.convert("RGBA" if has_alpha else "RGB"))
    except (OSError, ValueError, SyntaxError, PILImage.DecompressionBombError) as exc:
        raise _decode_error(field, fmt) from exc
    image = pyvips.Image.new_from_array(np.ascontiguousarray(pixels), interpretation="srgb")
    if icc:
        image = image.copy()
        image.set_type(pyvips.GValue.blob_type, "icc-profile-data", icc)
    return image


def _check_pixels(width: int, height: int, max_pixels: int, field: str, *, frames: int = 1) -> None:
    """Refuse an image whose header promises more pixels than we will decode (a bomb guard).

    Every frame of an animation or multi-page file counts: a small GIF of ten thousand frames is
    as much work for a decoder as one huge still.
    """
    if width * height > max_pixels:
        raise ImageTooLarge(
            field,
            f"the image is {width}x{height} ({width * height:,} pixels); the limit is {max_pixels:,} pixels",
        )
    if frames > 1 and frames * width * height > max_pixels:
        raise ImageTooLarge(
            field,
            f"the image has {frames:,} frames of {width}x{height} ({frames * width * height:,} pixels in all); "
            f"the limit is {max_pixels:,} pixels",
        )


def _check_frames(frames: int, field: str) -> None:
    """Refuse a file with more frames or pages than ``MAX_FRAMES``, whatever their size."""
    if frames > MAX_FRAMES:
        raise ImageTooLarge(
            field, f"the image has more than {MAX_FRAMES:,} frames or pages; the limit is {MAX_FRAMES:,}"
        )


def _tiff_pages(data: bytes, *, limit: int) -> int:
    """The IFDs (pages) a TIFF chains, counted up to ``limit + 1``; a loop or a bad offset ends the count.

    Classic TIFF: a 2-byte entry count, 12-byte entries, a 4-byte next offset; BigTIFF: 8, 20, 8.
    """
    order: Literal["<", ">"] = "<" if data[:2] == b"II" else ">"
    big = data[2:4] in (b"+\x00", b"\x00+")
    count_size, entry_size, offset_size = (8, 20, 8) if big else (2, 12, 4)
    offset_format = "Q" if big else "I"
    count_format = "Q" if big else "H"
    first = 8 if big else 4
    if len(data) < first + offset_size:
        return 0
    (offset,) = struct.unpack_from(order + offset_format, data, first)
    seen: set[int] = set()
    pages = 0
    while offset and pages <= limit and offset not in seen and offset + count_size <= len(data):
        seen.add(offset)
        pages += 1
        (entries,) = struct.unpack_from(order + count_format, data, offset)
        after = offset + count_size + entries * entry_size
        if after + offset_size > len(data):
            break
        (offset,) = struct.unpack_from(order + offset_format, data, after)
    return pages


def _decode_error(field: str, fmt: str) -> InvalidImage:
    """The error for a file whose header was fine but whose pixels are not."""
    return InvalidImage(field, f"the {fmt.upper()} file is truncated or corrupt")


def to_srgb(image: pyvips.Image) -> pyvips.Image:
    """Convert any decoded image (ICC tagged, CMYK, grey, 16-bit) to 8-bit sRGB, keeping alpha."""
    if image.get_typeof("icc-profile-data"):
        try:
            image = image.icc_transform("srgb", embedded=True, intent="relative")
        except pyvips.Error:
            pass  # a broken profile should not make an otherwise readable image unusable
    if image.interpretation != "srgb" or image.format != "uchar":
        image = image.colourspace("srgb")
    if image.format != "uchar":
        image = image.cast("uchar")
    # Extra channels (TIFF/PSD spot colours) have no meaning in a social post.
    bands = 4 if image.hasalpha() else 3
    if image.bands > bands:
        image = image.extract_band(0, n=bands)
    return image


def _without_metadata(image: pyvips.Image) -> pyvips.Image:
    """Drop EXIF/XMP/IPTC/ICC so no camera, GPS or editor data can leak into any output."""
    image = image.copy()
    for name in image.get_fields():
        if name in {"exif-data", "xmp-data", "iptc-data", "icc-profile-data"} or name.startswith(
            ("exif-", "xmp-", "iptc-", "png-comment", "gif-comment", "orientation")
        ):
            image.remove(name)
    return image


def _encode_once(image: pyvips.Image, output_format: str, quality: int) -> bytes:
    """One encode with every metadata block stripped (keep='none')."""
    if output_format == "png":
        return bytes(image.write_to_buffer(".png", compression=quality, keep="none"))
    if output_format == "jpeg":
        return bytes(
            image.write_to_buffer(".jpg", Q=quality, optimize_coding=True, interlace=True, keep="none")
        )
    return bytes(image.write_to_buffer(".webp", Q=quality, effort=4, keep="none"))
