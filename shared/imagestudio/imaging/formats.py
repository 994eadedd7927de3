"""The image formats Image Studio reads and writes: one record a format, every fact the code needs.

Everything that asks "what media type is WebP", "which extension does a JPEG get", "can GIF hold
alpha" or "which formats may a studio output" reads this table (imgproxy's ``imagetype`` habit).
The ``Literal`` types below are spelled out for mypy and pydantic; a test checks each against the
table, so a format added here and not there (or the reverse) fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "FORMATS",
    "QUALITY_RANGE",
    "UPLOAD_MEDIA_TYPES",
    "CompressFormat",
    "Encoding",
    "ImageFormat",
    "OutputFormat",
    "by_media_type",
    "encodings",
    "extension",
    "media_type",
]

#: What a studio renders its outputs as (create, edit, control, upscale, social, and what providers return).
OutputFormat = Literal["png", "jpeg", "webp"]
#: What the compress studio searches a quality for (PNG's is its palette's).
CompressFormat = Literal["jpeg", "png", "webp", "avif"]
#: Every format the convert route writes.
Encoding = Literal["jpeg", "png", "webp", "avif", "gif", "tiff", "bmp"]

#: Encoder qualities a request may name, where a format has one.
QUALITY_RANGE: Final = (1, 100)


@dataclass(frozen=True)
class ImageFormat:
    """One format's facts."""

    #: The name requests, jobs and ``inspect_image`` use.
    name: str
    #: Its media type (stored objects, HTTP responses, provider uploads).
    media_type: str
    #: The file extension outputs and stored uploads get (no dot).
    extension: str
    #: Holds an alpha channel (GIF's is one bit; BMP as Pillow writes it has none).
    alpha: bool
    #: Keeps every frame of an animation.
    animation: bool
    #: Has no quality setting when converting (PNG's quality is compress's palette search).
    lossless: bool
    #: Quality a conversion uses when the request names none (a conversion should not look converted).
    default_quality: int | None = None
    #: A studio may render it (``OutputFormat``); every image provider reads these three too.
    output: bool = False
    #: The compress studio searches a quality for it (``CompressFormat``).
    compressible: bool = False
    #: The convert route writes it (``Encoding``).
    encodable: bool = True
    #: Other media types an upload of it may be declared with.
    aliases: tuple[str, ...] = ()
    #: What the header check reports for it when that is not ``name`` (libvips reads AVIF as HEIF).
    decoded_as: str | None = None


#: Every format, by name.
FORMATS: Final[dict[str, ImageFormat]] = {
    f.name: f
    for f in (
        ImageFormat(
            "jpeg",
            "image/jpeg",
            "jpg",
            alpha=False,
            animation=False,
            lossless=False,
            default_quality=90,
            output=True,
            compressible=True,
        ),
        ImageFormat(
            "png",
            "image/png",
            "png",
            alpha=True,
            animation=False,
            lossless=True,
            output=True,
            compressible=True,
        ),
        ImageFormat(
            "webp",
            "image/webp",
            "webp",
            alpha=True,
            animation=True,
            lossless=False,
            default_quality=90,
            output=True,
            compressible=True,
        ),
        ImageFormat(
            "avif",
            "image/avif",
            "avif",
            alpha=True,
            animation=False,
            lossless=False,
            default_quality=75,
            compressible=True,
            decoded_as="heif",
        ),
        ImageFormat("gif", "image/gif", "gif", alpha=True, animation=True, lossless=True),
        ImageFormat("tiff", "image/tiff", "tiff", alpha=True, animation=False, lossless=True),
        ImageFormat("bmp", "image/bmp", "bmp", alpha=False, animation=False, lossless=True),
        ImageFormat(
            "heif",
            "image/heif",
            "heic",
            alpha=True,
            animation=False,
            lossless=False,
            encodable=False,
            aliases=("image/heic",),
        ),
    )
}


#: Every media type an upload may be declared with.
UPLOAD_MEDIA_TYPES: Final = tuple(t for f in FORMATS.values() for t in (f.media_type, *f.aliases))


def media_type(name: str) -> str:
    """The media type of format ``name``."""
    return FORMATS[name].media_type


def extension(name: str) -> str:
    """The file extension (no dot) of format ``name``."""
    return FORMATS[name].extension


def by_media_type(declared: str) -> ImageFormat | None:
    """The format a media type names (its own or an alias), or None."""
    for fmt in FORMATS.values():
        if declared == fmt.media_type or declared in fmt.aliases:
            return fmt
    return None


def encodings(*, output: bool = False, compressible: bool = False) -> tuple[str, ...]:
    """The names of the formats the convert route writes, or only those a studio outputs or compress searches."""
    return tuple(
        f.name
        for f in FORMATS.values()
        if f.encodable and (f.output or not output) and (f.compressible or not compressible)
    )
