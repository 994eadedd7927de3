"""Compress studio: one image compressed to a quality, a byte target or an SSIM target, or converted.

Two routes share this studio (its jobs, queue, worker and one stored params model):
``POST /compress`` (:class:`CompressRequest`, this module) and ``POST /convert``
(:class:`ConvertRequest`, served by :mod:`imagestudio.studios.compress.convert`). Both are local pixel
work in :mod:`imagestudio.imaging.compress`, free in credits. Everything decidable without
decoding the image is refused at the gateway; a byte or SSIM target this image cannot reach is
found by the worker's search and fails the job naming the field.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass, replace
from typing import Any, Final, Literal

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from imagestudio.config import get_settings
from imagestudio.errors import OutputTooLarge, ValidationFailed
from imagestudio.imaging.colour import parse_hex
from imagestudio.imaging.compress import (
    ALPHA_FORMATS,
    LOSSLESS_FORMATS,
    MAX_SEARCH_ENCODES,
    Encoded,
    avif_supported,
    encode_quality,
    encode_target_kb,
    encode_target_ssim,
    source_as_output,
)
from imagestudio.imaging.formats import CompressFormat, Encoding
from imagestudio.imaging.source import SourceImage
from imagestudio.jobs.runner import JobContext
from imagestudio.studios.common.base import Images, Prepared
from imagestudio.studios.common.http_routes import SubmitRoute
from imagestudio.studios.common.pricing import Estimate, EstimateItem
from imagestudio.studios.common.request import EXAMPLE_UPLOAD, ImageRequest, examples

__all__ = [
    "ROUTE",
    "FREE_TIER",
    "COMPRESS_BYTES_PER_PIXEL",
    "COMPRESS_FIXED_BYTES",
    "PRESETS",
    "CompressParams",
    "CompressRequest",
    "Request",
    "check",
    "estimate",
    "check_output_size",
    "name",
    "prepare",
    "price",
    "run",
]

#: The studio's name: its jobs, queue and actors.
name = "compress"
#: The free tier may use it (``messaging.FREE_STUDIOS``, written by ``imagestudio deploy render``).
FREE_TIER = True

PresetName = Literal["web", "email", "social", "high_quality", "max_compression"]
Metadata = Literal["strip", "keep"]
Transparency = Literal["preserve", "flatten"]
ColourSpace = Literal["srgb", "keep"]
Mode = Literal["quality", "target_kb", "target_ssim", "lossless"]

#: What "as small as possible without visible loss" means when a compress request names no target.
DEFAULT_TARGET_SSIM: Final = 0.98
#: PNG is quantised to a palette at a given quality only when it keeps at least this SSIM.
PALETTE_MIN_SSIM: Final = 0.99
#: A compress request's quantities, checked at the gateway.
MAX_TARGET_KB: Final = 1_048_576
MIN_TARGET_SSIM: Final = 0.5
#: The compress worker's memory model: one job's peak resident memory grows by at most
#: ``COMPRESS_FIXED_BYTES`` plus ``COMPRESS_BYTES_PER_PIXEL`` a source pixel (frames x width x height),
#: whatever the route, format or target. Measured by bench/bench_compress_memory.py (12 MP JPEG at the
#: defaults 19 bytes a pixel, was 137; the worst case measured, a 12 MP RGBA PNG to JPEG at SSIM 0.98,
#: 37, was 48), checked in a child process by tests/unit/imaging/test_compress_memory.py; figures in
#: docs/benchmarks.md.
COMPRESS_BYTES_PER_PIXEL: Final = 35
#: Libraries' buffers and an SSIM score's bands (``imaging.similarity.BAND_ELEMENTS``), any image size.
COMPRESS_FIXED_BYTES: Final = 48 * 2**20
#: Output names, by operation.
OUTPUT_NAMES: Final = {"compress": "compressed", "convert": "converted"}
#: The format a compress request without one keeps: the source's own, else WebP (alpha and frames kept).
_SAME_FORMAT: Final[dict[str, CompressFormat]] = {
    "jpeg": "jpeg",
    "png": "png",
    "webp": "webp",
    "heif": "avif",
}


@dataclass(frozen=True)
class Preset:
    """A named format and quality (the seed's five, same formats and qualities)."""

    id: str
    name: str
    format: CompressFormat
    quality: int
    description: str

    def describe(self) -> dict[str, Any]:
        return asdict(self)


PRESETS: Final[dict[str, Preset]] = {
    p.id: p
    for p in (
        Preset("web", "Web optimized", "webp", 80, "Pages and apps: WebP, small, sharp enough on screens"),
        Preset("email", "Email friendly", "jpeg", 70, "Attachments and newsletters: JPEG every client opens"),
        Preset("social", "Social media", "jpeg", 85, "Uploads a platform re-encodes: JPEG with headroom"),
        Preset(
            "high_quality",
            "High quality",
            "png",
            95,
            f"PNG, palette-quantised only when SSIM stays at least {PALETTE_MIN_SSIM}, else lossless",
        ),
        Preset(
            "max_compression", "Maximum compression", "webp", 60, "Previews and thumbnails: smallest WebP"
        ),
    )
}


class CompressParams(BaseModel):
    """The validated request of either route, stored on the job: what the worker needs, resolved."""

    operation: Literal["compress", "convert"]
    format: Encoding
    mode: Mode
    quality: int | None = None
    target_kb: int | None = None
    target_ssim: float | None = None
    preset: PresetName | None = None
    metadata: Metadata = "strip"
    progressive: bool = True
    #: None: preserved when the format has alpha, flattened otherwise.
    transparency: Transparency | None = None
    background: str = "#ffffff"
    colour_space: ColourSpace = "keep"


class CompressRequest(ImageRequest):
    """``POST /compress``: one image and one of ``quality``, ``target_kb``, ``target_ssim`` or ``preset``."""

    model_config = examples(
        {"image": EXAMPLE_UPLOAD, "target_ssim": 0.98},
        {"image": EXAMPLE_UPLOAD, "format": "jpeg", "target_kb": 200},
        {"image": EXAMPLE_UPLOAD, "preset": "web"},
    )

    format: CompressFormat | None = Field(
        default=None,
        description="Output format; default the source's own (JPEG, PNG, WebP, AVIF), else WebP",
    )
    quality: int | None = Field(
        default=None, ge=1, le=100, description="Encoder quality (PNG: palette quality)"
    )
    target_kb: int | None = Field(
        default=None,
        ge=1,
        le=MAX_TARGET_KB,
        description="Highest quality whose file fits this many kB (1,024 B)",
    )
    target_ssim: float | None = Field(
        default=None,
        ge=MIN_TARGET_SSIM,
        le=1.0,
        description=f"Smallest file whose SSIM to the source is at least this (default {DEFAULT_TARGET_SSIM})",
    )
    preset: PresetName | None = Field(default=None, description="A named format and quality")
    metadata: Metadata = Field(
        default="strip",
        description="strip: EXIF, XMP and IPTC removed (an ICC profile colours depend on stays)",
    )
    progressive: bool = Field(default=True, description="JPEG: progressive scans")

    def to_params(self, *, source_format: str | None = None) -> CompressParams:
        """The job's params; ``source_format`` (from the upload's header) picks the default format."""
        given = [f for f in ("quality", "target_kb", "target_ssim", "preset") if getattr(self, f) is not None]
        if len(given) > 1:
            raise ValidationFailed(
                given[1], f"give one of quality, target_kb, target_ssim or preset, not {given}"
            )
        if self.preset is not None and self.format is not None:
            raise ValidationFailed("format", f"preset {self.preset!r} sets the format; leave format out")
        preset = PRESETS[self.preset] if self.preset is not None else None
        output: str = (
            preset.format if preset else self.format or _SAME_FORMAT.get(source_format or "jpeg", "webp")
        )
        if output == "avif" and not avif_supported():
            if self.format is None and preset is None:
                output = "webp"  # an AVIF source with no format named: the nearest format we can write
            else:
                raise ValidationFailed("format", "this server's libvips cannot write AVIF; use webp or jpeg")
        if self.target_ssim is not None and self.target_ssim >= 1.0 and output != "png":
            raise ValidationFailed("target_ssim", f"{output} is lossy: SSIM 1 needs png (lossless)")
        mode: Mode
        if preset is not None or self.quality is not None:
            mode = "quality"
        elif self.target_kb is not None:
            mode = "target_kb"
        else:
            mode = "target_ssim"
        return CompressParams(
            operation="compress",
            format=output,
            mode=mode,
            quality=preset.quality if preset else self.quality,
            target_kb=self.target_kb,
            target_ssim=DEFAULT_TARGET_SSIM
            if mode == "target_ssim" and self.target_ssim is None
            else self.target_ssim,
            preset=self.preset,
            metadata=self.metadata,
            progressive=self.progressive,
        )


Request = CompressRequest


def check(request: CompressRequest, *, files: Collection[str]) -> None:
    """Refuse what needs no image: two targets at once, a preset with a format, AVIF unsupported, SSIM 1 lossy."""
    request.to_params()


def prepare(session: Session, *, tenant_id: str, request: CompressRequest, images: Images) -> Prepared:
    """The job's params (the default format from the upload's header) and its one image."""
    (image, info), *_ = images.values()
    params = request.to_params(source_format=info.format)
    return Prepared(params=params, images=[image], cost=price(params))


def price(params: CompressParams) -> int:
    """Credits a compress or convert job costs: none, it is local pixel work (as the seed charged)."""
    return 0


def estimate_compress(operation: str) -> Estimate:
    item = EstimateItem(item=operation, provider="local", unit_credits=0, count=1, credits=0)
    return Estimate(studio=name, total_credits=0, max_credits=0, breakdown=[item])


def estimate(request: dict[str, Any], allowed: Collection[str]) -> Estimate:
    """Price a request given in the route's own terms (its fields checked as the route checks them)."""
    CompressRequest.model_validate({"image": EXAMPLE_UPLOAD, **request}).to_params()
    return estimate_compress("compress")


#: Bytes of a BMP file's headers as Pillow writes a 24-bit one (file header and BITMAPINFOHEADER).
BMP_HEADER_BYTES: Final = 54


def bmp_bytes(width: int, height: int) -> int:
    """The size of the 24-bit BMP of a ``width`` x ``height`` image: it stores every pixel
    uncompressed, each row padded to 4 bytes (a single-band source writes less, never more)."""
    return BMP_HEADER_BYTES + height * ((width * 3 + 3) // 4 * 4)


def check_output_size(fmt: str, width: int, height: int) -> None:
    """Refuse at submission an output whose size the header already tells is over the lossless cap.

    Only BMP is known in advance (uncompressed); PNG, TIFF and GIF are checked once encoded.
    """
    limit = get_settings().max_lossless_output_bytes
    if fmt == "bmp" and (size := max(bmp_bytes(width, height), bmp_bytes(height, width))) > limit:
        raise OutputTooLarge(
            "format",
            f"a {width}x{height} image as BMP is {size} bytes, over the {limit} byte limit of a lossless"
            " output; choose png, webp or jpeg, or a smaller image",
            size_bytes=size,
            limit_bytes=limit,
        )


def _check_encoded_size(encoded: Encoded) -> None:
    """Fail the job (nothing stored) when a lossless output came out over the lossless cap."""
    limit = get_settings().max_lossless_output_bytes
    if encoded.format in LOSSLESS_FORMATS and len(encoded.data) > limit:
        raise OutputTooLarge(
            "format",
            f"the {encoded.format} output is {len(encoded.data)} bytes, over the {limit} byte limit of a"
            " lossless output; choose a lossy format (webp, jpeg) or a smaller image",
            size_bytes=len(encoded.data),
            limit_bytes=limit,
        )


def run(ctx: JobContext) -> None:
    """Decode once, prepare the pixels (colour space, alpha), then encode as the params say."""
    params = CompressParams.model_validate(ctx.params)
    data = ctx.read_input("image")
    ctx.progress(0.0, f"Reading the image to write it as {params.format.upper()}")
    source = SourceImage.load_frames(data, max_pixels=get_settings().max_image_pixels)
    source_format, source_frames = source.format, source.frames
    if params.colour_space == "srgb":
        source = source.to_srgb()
    had_alpha = source.has_alpha
    flatten = params.transparency == "flatten" or params.format not in ALPHA_FORMATS
    if flatten:
        source = source.flattened(parse_hex(params.background, field="background"))
    # Stripping metadata never strips the profile the colours depend on (a Display P3 photo stays P3).
    keep: Literal["none", "icc", "all"] = (
        "all" if params.metadata == "keep" else "icc" if source.icc_matters else "none"
    )

    def on_step(encodes: int, message: str) -> None:
        # In plain words, against the search's bound (it usually stops well before it).
        ctx.progress(
            min(encodes / MAX_SEARCH_ENCODES, 0.95),
            f"Search step {encodes} of at most {MAX_SEARCH_ENCODES}: {message}",
        )

    options: dict[str, Any] = {"keep": keep, "progressive": params.progressive, "on_step": on_step}
    encoded: Encoded
    if params.mode == "target_kb" and params.target_kb is not None:
        encoded = encode_target_kb(source, params.format, target_kb=params.target_kb, **options)
    elif params.mode == "target_ssim" and params.target_ssim is not None:
        encoded = encode_target_ssim(source, params.format, target_ssim=params.target_ssim, **options)
    else:
        encoded = encode_quality(
            source, params.format, quality=params.quality, palette_min_ssim=PALETTE_MIN_SSIM, **options
        )
    kept = _kept_source(
        params,
        data,
        source,
        encoded,
        keep=keep,
        pixels_changed=(flatten and had_alpha) or params.colour_space == "srgb",
    )
    if kept is not None:
        encoded = kept
    _check_encoded_size(encoded)
    ctx.add_output(
        OUTPUT_NAMES[params.operation],
        encoded.data,
        ext=encoded.ext,
        content_type=encoded.content_type,
        format=encoded.format,
        width=encoded.width,
        height=encoded.height,
        metadata={
            "operation": params.operation,
            "source_format": source_format,
            "format": encoded.format,
            "bytes_before": len(data),
            "bytes_after": len(encoded.data),
            "reduction": round(1 - len(encoded.data) / len(data), 4),
            "mode": params.mode,
            "preset": params.preset,
            "target_kb": params.target_kb,
            "target_ssim": params.target_ssim if params.mode == "target_ssim" else None,
            "quality": encoded.quality,
            # A JPEG SSIM answer's real quality, chroma factor and sampling (``quality`` rounds it).
            "jpeg_tables": asdict(encoded.tables) if encoded.tables is not None else None,
            "lossless": encoded.quality is None,
            "palette": encoded.palette,
            "ssim": encoded.ssim,
            "width": encoded.width,
            "height": encoded.height,
            "frames": encoded.frames,
            "frames_dropped": source_frames - encoded.frames,
            "transparency": "flattened" if flatten and had_alpha else "preserved" if had_alpha else "none",
            "metadata": "kept" if params.metadata == "keep" else "stripped",
            "icc_profile": "kept" if keep != "none" and source.icc is not None else "none",
            "colour_space": params.colour_space,
            "progressive": params.progressive if encoded.format == "jpeg" else None,
            "encodes": encoded.encodes,
            "kept_source": kept is not None,
        },
    )


def _kept_source(
    params: CompressParams,
    data: bytes,
    source: SourceImage,
    encoded: Encoded,
    *,
    keep: Literal["none", "icc", "all"],
    pixels_changed: bool,
) -> Encoded | None:
    """The source itself when compressing would only make it larger: same format, same pixels,
    the source meets the target (SSIM 1; within ``target_kb``) and is no larger than the encode.

    Its metadata is stripped as asked without re-encoding (``source_as_output``); None when that
    cannot be done losslessly or the encode is the smaller file.
    """
    same_format = _SAME_FORMAT.get(source.format) == encoded.format and source.format != "heif"
    if params.operation != "compress" or not same_format or pixels_changed or source.frames != encoded.frames:
        return None
    kept = source_as_output(data, source, keep=keep)
    limit = params.target_kb * 1024 if params.target_kb is not None else None
    if kept is None or len(kept) > len(encoded.data) or (limit is not None and len(kept) > limit):
        return None
    return replace(encoded, data=kept, quality=None, ssim=1.0, palette=False)


#: The gateway's route for this studio (``studios/common/http_routes.py``; the catalogues are ``convert``'s).
ROUTE = SubmitRoute(
    "/compress",
    "submit_compress",
    """Accept a compression job (202): one of ``quality``, ``target_kb``, ``target_ssim`` or ``preset``.

    The body is a multipart form with the image file, or JSON naming an upload. Without any of
    the four, the smallest file whose SSIM to the source is at least 0.98. Two of them at once,
    a preset with a format, SSIM 1 in a lossy format or AVIF on a server without it are refused
    here; a target this image cannot reach fails the job, naming the field. Free in credits.
    """,
)
